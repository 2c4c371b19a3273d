#!/usr/bin/env bash
# jobspy_emit_event(), the outbox's C helper, called through a test-only
# module (test/c/webhooks_emit.c) as a module written in C would: it writes
# the row emit_event() writes, in the caller's transaction (a rollback takes
# it back), notifies a waiting worker at commit, keeps one plan across calls, and
# leaves validation to emit_event() (22023) and NULL pointers to an error;
# outbox.notify = false writes the event without the notification.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
db=jobspy_webhooks_emit_c
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

echo "1..11"
cp "$here"/../c/*.c "$here/../c/Makefile" "$tmp/"
rc=0; make -C "$tmp" -s JOBSPY_SRC="$here/../../src" PG_CONFIG="${PG_CONFIG:-pg_config}" >"$tmp/build.log" 2>&1 || rc=$?
check "$rc" 0 "the test module builds against src/webhooks.h"
[ "$rc" = 0 ] || sed 's/^/# /' "$tmp/build.log" | tail -5
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
CREATE FUNCTION public.test_emit(text, text, text, jsonb, uuid) RETURNS bigint
    LANGUAGE c AS '$tmp/webhooks_emit', 'test_emit_event';
SQL

id=$(q "SELECT public.test_emit('billing.invoice.paid', 'invoice', 'inv_1', '{\"amount\": 900}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')")
check "$(q "SELECT row(topic, entity_type, entity_id, payload, user_id)::text FROM jobspy.outbox_events WHERE id = '$id'")" \
      '(billing.invoice.paid,invoice,inv_1,"{""amount"": 900}",a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11)' \
      "the row holds what the C caller passed"
id=$(q "SELECT public.test_emit('billing.invoice.paid', 'invoice', 'inv_2', NULL, NULL)")
check "$(q "SELECT (payload, user_id IS NULL)::text FROM jobspy.outbox_events WHERE id = '$id'")" \
      '({},t)' "a NULL payload is an empty object, a NULL user none"
check "$(q "SELECT a < b FROM (SELECT public.test_emit('loyalty.tier_changed', 'member', 'm1', NULL, NULL) a) x,
                               LATERAL (SELECT public.test_emit('loyalty.tier_changed', 'member', 'm1', NULL, NULL) b) y")" \
      t "two calls in one statement: ids in order (the kept plan runs twice)"
check "$(psql -X -Atq -d $db -c "BEGIN" -c "SELECT public.test_emit('billing.payment.refunded', 'payment', 'p_rb', NULL, NULL)" \
              -c "ROLLBACK" >/dev/null; q "SELECT count(*) FROM jobspy.outbox_events WHERE entity_id = 'p_rb'")" \
      0 "a rolled-back transaction leaves no event"
# The session waits as a worker does (its claim finds nothing) before it emits.
wait_claim="SELECT count(*) FROM jobspy.claim_events(1, ARRAY['no.such_topic'])"
out=$(psql -X -Atq -d $db -c "LISTEN jobspy_outbox" -c "$wait_claim" -c "SELECT public.test_emit('billing.payment.refunded', 'payment', 'p_n', NULL, NULL)" 2>&1)
check "$(echo "$out" | grep -c 'notification "jobspy_outbox" with payload "billing.payment.refunded"')" 1 \
      "a waiting listener is notified at commit, the topic as payload"
q "SELECT jobspy.config_set('outbox.notify', 'false')" >/dev/null
out=$(psql -X -Atq -d $db -c "LISTEN jobspy_outbox" -c "$wait_claim" -c "SELECT public.test_emit('billing.payment.refunded', 'payment', 'p_q', NULL, NULL)" 2>&1)
check "$(echo "$out" | grep -c 'notification')" 0 "with outbox.notify false no notification is sent"
check "$(q "SELECT count(*) FROM jobspy.outbox_events WHERE entity_id = 'p_q'")" 1 "but the event is written"
q "SELECT jobspy.config_set('outbox.notify', 'true')" >/dev/null
check "$(psql -X -Atq -d $db -v VERBOSITY=sqlstate -c "SELECT public.test_emit('Not A Topic', 'x', 'y', NULL, NULL)" 2>&1 | head -1)" \
      "ERROR:  22023" "a malformed topic is refused by emit_event's own rule (22023)"
check "$(psql -X -Atq -d $db -c "SELECT public.test_emit(NULL, 'x', 'y', NULL, NULL)" 2>&1 | head -1)" \
      "ERROR:  jobspy_emit_event: topic, entity type and entity id are required" "a NULL topic pointer is an error, not a crash"
check "$(q "SELECT count(*) FROM jobspy.outbox_events")" 6 "six events in all, none from the refused calls"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 || true
