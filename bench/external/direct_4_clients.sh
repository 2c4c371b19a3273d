#!/usr/bin/env bash
# Baseline of pgbouncer_256_clients.sh: the same mix (pooled_mix.sql, the
# same simple protocol) from 4 clients connected straight to the server.
set -euo pipefail
. "$(dirname "$0")/pooled.bash"
pooled_run 4 "$PGHOST" "$PGPORT"
