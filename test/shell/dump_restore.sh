#!/usr/bin/env bash
# Backup and restore with pg_dump: user data, configuration, partitions and
# the hash key and pending outbox events all come back, so stored secrets
# still match after a restore and no event is lost.
set -euo pipefail
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 -Atd "$@"; }
echo "1..12"
psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS jobspy_dump_src' -c 'DROP DATABASE IF EXISTS jobspy_dump_dst' \
     -c 'CREATE DATABASE jobspy_dump_src' -c 'CREATE DATABASE jobspy_dump_dst' 2>/dev/null
q jobspy_dump_src >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
SELECT count(*) FROM jobspy.maintain();
INSERT INTO jobspy.users (id, email) VALUES ('77777777-7777-4777-8777-777777777777', 'dump@example.com');
INSERT INTO jobspy.licenses (user_id, license_key_hash, license_key_hint, license_type)
VALUES ('77777777-7777-4777-8777-777777777777', jobspy.secret_hash('license', 'NSQC-1VQ5-9GCC-TG2S'), 'TG2S', 'pro');
INSERT INTO jobspy.api_usage (user_id, endpoint, method, created_at)
SELECT '77777777-7777-4777-8777-777777777777', '/d', 'GET', jobspy.now() - g * interval '1 hour'
  FROM generate_series(0, 99) g;
INSERT INTO jobspy.api_usage (user_id, endpoint, method, created_at)
VALUES ('77777777-7777-4777-8777-777777777777', '/future', 'GET', jobspy.now() + interval '3 years');
SELECT jobspy.config_set('retention.api_usage', '"2 years"');
SELECT jobspy.emit_event('dump.pending', 'thing', '1'), jobspy.emit_event('dump.pending', 'thing', '2');
-- Billing and loyalty rows whose triggers check or derive data: a
-- subscription (its outbox event, its MRR change), a finalized and paid
-- invoice, an order with its items, a purchase with its ledger rows.
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.create_product('dump-pro', 'Pro');
SELECT jobspy.create_price('dump-pro', 'dump-pro-m', 1000, 'USD', 'month');
SELECT jobspy.create_customer('77777777-7777-4777-8777-777777777777');
SELECT jobspy.subscribe(c.id, 'dump-pro-m') FROM jobspy.customers c;
SELECT jobspy.record_payment('stripe', 'ch_dump', i.customer_id, i.amount_due_cents, 'USD', 'succeeded', invoice_id => i.id)
  FROM jobspy.invoices i;
SELECT jobspy.create_order(c.id, '[{"description": "Dump item", "unit_amount": 700}]', 'USD') FROM jobspy.customers c;
SELECT jobspy.create_business('dump-cafe', 'Dump Cafe');
SELECT points_earned FROM jobspy.record_purchase('dump-cafe', 'dump-1', '77777777-7777-4777-8777-777777777777', 10000, 'RUB');
SQL
snapshot() {
    q "$1" -c "SELECT (SELECT count(*) FROM jobspy.users), (SELECT count(*) FROM jobspy.licenses),
                      (SELECT count(*) FROM jobspy.api_usage), (SELECT count(*) FROM jobspy.audit_logs),
                      (SELECT count(*) FROM jobspy.system_config),
                      (SELECT count(*) FROM pg_inherits WHERE inhparent = 'jobspy.api_usage'::regclass),
                      (SELECT string_agg(id || ':' || topic, ',' ORDER BY id) FROM jobspy.outbox_events WHERE consumed_at IS NULL),
                      (SELECT count(*) FROM jobspy.invoices WHERE status = 'paid'), (SELECT count(*) FROM jobspy.order_items),
                      (SELECT count(*) FROM jobspy.subscription_mrr_changes), (SELECT count(*) FROM jobspy.loyalty_ledger),
                      (SELECT count(*) FROM jobspy.events), (SELECT count(*) FROM jobspy.payments)"
}
before=$(snapshot jobspy_dump_src)

if pg_dump -Fc -d jobspy_dump_src -f "$tmp/dump" 2>"$tmp/err"; then echo "ok 1 - pg_dump succeeded"
else echo "not ok 1 - pg_dump failed"; sed 's/^/# /' "$tmp/err"; fi
# As docs/operations.md says: the extension's triggers stay out of the
# restore (they would check, renumber or copy rows that are restored as
# they were).
if PGOPTIONS='-c session_replication_role=replica' pg_restore -d jobspy_dump_dst --exit-on-error "$tmp/dump" 2>"$tmp/err"; then echo "ok 2 - pg_restore succeeded without errors"
else echo "not ok 2 - pg_restore failed"; sed 's/^/# /' "$tmp/err" | head -20; fi

after=$(snapshot jobspy_dump_dst)
[ "$before" = "$after" ] && echo "ok 3 - users, licences, usage, audit rows, configuration, partitions and pending outbox events all restored ($after)" \
    || echo "not ok 3 - restored counts $after differ from $before"

m=$(q jobspy_dump_dst -c "SELECT count(*) FROM jobspy.licenses
                         WHERE license_key_hash = ANY (jobspy.secret_hash_candidates('license', 'NSQC-1VQ5-9GCC-TG2S'))")
[ "$m" = 1 ] && echo "ok 4 - a licence key stored before the dump still matches after the restore" \
    || echo "not ok 4 - the restored licence key no longer matches ($m)"
src_hash=$(q jobspy_dump_src -c "SELECT encode(jobspy.secret_hash('session', 'x'), 'hex')")
dst_hash=$(q jobspy_dump_dst -c "SELECT encode(jobspy.secret_hash('session', 'x'), 'hex')")
[ "$src_hash" = "$dst_hash" ] && echo "ok 5 - the restored hash key is the active one: new hashes equal the original database's" \
    || echo "not ok 5 - new hashes differ after restore"
v=$(q jobspy_dump_dst -c "SELECT jobspy.config_get('retention.api_usage')")
[ "$v" = '"2 years"' ] && echo "ok 6 - configuration set with config_set survives" || echo "not ok 6 - configuration lost ($v)"
r=$(q jobspy_dump_dst -c "SELECT count(*) FROM jobspy.rotate_hash_key()" && q jobspy_dump_dst -c "SELECT count(*) FROM jobspy.hash_keys WHERE state <> 'retired'")
[ "$(echo "$r" | tail -1)" = 2 ] && echo "ok 7 - rotation after a restore clears the unused key CREATE EXTENSION made (active + verify remain)" \
    || echo "not ok 7 - after rotation $r live keys"
m=$(q jobspy_dump_dst -c "SELECT count(*) FROM jobspy.licenses
                         WHERE license_key_hash = ANY (jobspy.secret_hash_candidates('license', 'NSQC-1VQ5-9GCC-TG2S'))")
[ "$m" = 1 ] && echo "ok 8 - and the old key still verifies after that rotation" || echo "not ok 8 - key lost after rotation"
e=$(q jobspy_dump_dst -c "SELECT jobspy.emit_event('dump.after', 'thing', '3') > (SELECT max(id) FROM jobspy.outbox_events WHERE topic = 'dump.pending')" 2>&1)
[ "$e" = t ] && echo "ok 9 - an event emitted after the restore takes the next id" || echo "not ok 9 - emitting after the restore: $e"
e=$(q jobspy_dump_dst -c "SET jobspy.clock_override = '2040-01-01 00:00:00+00';
                          SELECT points_earned FROM jobspy.record_purchase('dump-cafe', 'dump-2', '77777777-7777-4777-8777-777777777777', 10000, 'RUB')" 2>&1 | tail -1)
[ "$e" = 500 ] && echo "ok 10 - a purchase after the restore writes new ledger rows" || echo "not ok 10 - a purchase after the restore: $e"
e=$(q jobspy_dump_dst -c "SELECT jobspy.cancel_subscription(id, false) FROM jobspy.subscriptions; SELECT count(*) FROM jobspy.subscription_mrr_changes" 2>&1 | tail -1)
[ "$e" = 2 ] && echo "ok 11 - a subscription change after the restore records its MRR" || echo "not ok 11 - a subscription change after the restore: $e"
e=$(q jobspy_dump_dst -c "SELECT string_agg(s.oid::regclass::text, ' ') FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                           JOIN pg_depend o ON o.classid = 'pg_class'::regclass AND o.objid = s.oid AND o.deptype IN ('a', 'i')
                          WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'jobspy_core') AND d.deptype = 'e'
                            AND o.refobjid = ANY ((SELECT extconfig FROM pg_extension WHERE extname = 'jobspy_core')::oid[])
                            AND s.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'jobspy_core')::oid[])")
[ -z "$e" ] && echo "ok 12 - every sequence of a dumped table is dumped too" || echo "not ok 12 - sequences not dumped: $e"
psql -X -q -d postgres -c 'DROP DATABASE jobspy_dump_src' -c 'DROP DATABASE jobspy_dump_dst'
