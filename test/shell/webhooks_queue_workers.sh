#!/usr/bin/env bash
# Queued mode: 300 stored events, 4 workers calling process_webhooks(5) at
# once.  Every event is attempted exactly once (SKIP LOCKED: no worker takes
# an event another holds) and all end processed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
db=jobspy_webhooks_queue
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
clock='2030-01-01T00:00:00+00'

echo "1..4"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
PGOPTIONS="-c jobspy.clock_override=$clock" psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE EXTENSION pgcrypto;
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.set_provider_secret('stripe', 'whsec_queue');
SELECT jobspy.config_set('webhooks.mode', '"queued"');
SELECT count(*) FROM generate_series(1, 300) g,
  LATERAL (SELECT format('{"id": "evt_%s", "type": "customer.updated", "created": 1893456000, "data": {"object": {"id": "cus_%s", "object": "customer"}}}', g, g % 50) AS p) e,
  LATERAL jobspy.receive_webhook('stripe', format('t=1893456000,v1=%s', encode(hmac('1893456000.' || e.p, 'whsec_queue', 'sha256'), 'hex')), e.p) r
 WHERE r.code = 'ACCEPTED';
SQL
check "$(q "SELECT count(*) FROM jobspy.webhook_queue")" 300 "300 events wait in the queue"
echo 'SELECT jobspy.process_webhooks(5);' >"$tmp/worker.sql"
rc=0; PGOPTIONS="-c jobspy.clock_override=$clock" pgbench -n -c 4 -j 2 -t 40 -f "$tmp/worker.sql" $db >"$tmp/pgbench.log" 2>&1 || rc=$?
check "$rc" 0 "4 workers ran 160 process_webhooks calls without an error"
[ "$rc" = 0 ] || sed 's/^/# /' "$tmp/pgbench.log" | tail -5
check "$(q "SELECT count(*) FILTER (WHERE processed) || '/' || count(*) FILTER (WHERE attempts = 1) FROM jobspy.payment_webhooks")" \
      "300/300" "every event processed, each attempted exactly once"
check "$(q "SELECT count(*) FROM jobspy.webhook_queue")" 0 "the queue is empty"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 || true
