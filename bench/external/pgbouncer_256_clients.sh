#!/usr/bin/env bash
# 256 clients through pgbouncer (Debian's package) in transaction pooling,
# started here on loopback with 8 server connections, against 4 clients
# connected directly (direct_4_clients.sh).  The simple protocol: PgBouncer
# 1.18 does not carry prepared statements across pooled connections.  Any
# failed transaction fails the run, so it also shows that the mix needs no
# session state (docs/operations.md, "Connection poolers").
: <<'TARGETS'
-- compare: direct_4_clients >= 0.8
TARGETS
set -euo pipefail
. "$(dirname "$0")/../../tools/lib.sh"
. "$(dirname "$0")/pooled.bash"
command -v pgbouncer >/dev/null || install_packages pgbouncer
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
dir=$(mktemp -d /tmp/jobspy-pgbouncer.XXXXXX); chmod 755 "$dir"
port=$(( 56000 + $$ % 900 ))
cat >"$dir/pgbouncer.ini" <<INI
[databases]
bench = host=$PGHOST port=$PGPORT dbname=bench user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = 8
max_client_conn = 400
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
echo '"postgres" ""' >"$dir/users.txt"
[ "$(id -u)" -eq 0 ] && chown -R "$(server_user)" "$dir"
as_server "$PGBOUNCER" -d -q "$dir/pgbouncer.ini"
trap 'kill "$(cat "$dir/pgbouncer.pid" 2>/dev/null)" 2>/dev/null; sleep 0.5; rm -rf "$dir"' EXIT
for _ in $(seq 20); do psql -X -Atq -h 127.0.0.1 -p "$port" -d bench -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
pooled_run 256 127.0.0.1 "$port"
