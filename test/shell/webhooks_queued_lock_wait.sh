#!/usr/bin/env bash
# Queued webhooks behind a lock: while another transaction holds the table an
# attempt needs, process_webhooks, run under a statement_timeout, still
# returns.  The stuck attempt fails with 55P03, kept in the event's errors,
# and is retried later; the event is processed once the lock is gone.  Without
# the attempt's own lock wait the statement_timeout would cancel the whole
# batch, keeping no error and counting no attempt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tools/lib.sh"
. "$here/tap.bash"
db=${DB:-jobspy_webhooks_lock_wait}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "1..5"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE EXTENSION pgcrypto;
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.set_provider_secret('stripe', 'lw_secret');
SELECT jobspy.config_set('webhooks.mode', '"queued"');
SELECT jobspy.config_set('webhooks.attempt_lock_timeout_ms', '300');
SELECT jobspy.receive_webhook('stripe', format('t=%s,v1=%s', t, encode(hmac(t || '.' || p, 'lw_secret', 'sha256'), 'hex')), p)
  FROM (SELECT extract(epoch FROM now())::bigint::text AS t,
               jsonb_build_object('id', 'evt_lw1', 'type', 'customer.updated', 'created', 1893456000,
                                  'data', jsonb_build_object('object', jsonb_build_object('id', 'cus_lw', 'object', 'customer', 'email', 'lw@example.com')))::text AS p) x;
SQL

# A long transaction holds the watermarks every applied event writes.
psql -X -q -d $db -c "BEGIN; LOCK TABLE jobspy.provider_watermarks IN SHARE ROW EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;" \
    >/dev/null 2>&1 &
holder=$!
sleep 1
rc=0
out=$(psql -X -Atq -v ON_ERROR_STOP=1 -d $db -c "SET statement_timeout = '2s'" -c "SELECT jobspy.process_webhooks(10)" 2>&1) || rc=$?
check "$rc:$out" "0:1" "process_webhooks returns within the caller's statement_timeout while a lock is held"
check "$(q "SELECT status || ' ' || attempts || ' ' || (errors -> 0 ->> 'sqlstate') FROM jobspy.payment_webhooks WHERE event_id = 'evt_lw1'")" \
      "pending 1 55P03" "the stuck attempt failed on its lock wait, its error kept, the event still pending"
check "$(q "SELECT next_attempt_at > received_at FROM jobspy.payment_webhooks WHERE event_id = 'evt_lw1'")" t \
      "and it is retried later"
wait $holder
q "UPDATE jobspy.webhook_queue SET due_at = now()" >/dev/null
check "$(q "SELECT jobspy.process_webhooks(10)")" 1 "once the lock is gone the retry runs"
check "$(q "SELECT processed || ' ' || attempts FROM jobspy.payment_webhooks WHERE event_id = 'evt_lw1'")" "true 2" \
      "and processes the event"
[ -n "${KEEP:-}" ] || psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 || true
