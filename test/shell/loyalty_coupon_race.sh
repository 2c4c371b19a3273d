#!/usr/bin/env bash
# 32 clients race to redeem a coupon limited to 25 redemptions, each with a
# key of its own, then for an event with 10 seats, then to spend prepaid
# credits.  Exactly the limit is granted, the counters agree with the rows,
# and no credit grant goes below zero.
set -euo pipefail
db=jobspy_loyalty_coupon_race
clock='2031-06-15T12:00:00+00'

echo "1..6"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
SET jobspy.clock_override = '$clock';
INSERT INTO jobspy.users (id, email)
SELECT ('e0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'c' || i || '@example.com' FROM generate_series(1, 32) i;
SELECT jobspy.create_coupon('RACE25', amount_off => 100, currency => 'RUB', max_redemptions => 25);
INSERT INTO jobspy.loyalty_events (id, title, starts_at, capacity)
VALUES ('e0000000-0000-4000-8000-0000000000e1', 'Race', '2031-07-01', 10);
SELECT jobspy.grant_credits('e0000000-0000-4000-8000-000000000001', 300, 'USD', priority => p)
  FROM generate_series(1, 3) p;
CREATE SCHEMA race;
CREATE TABLE race.spent (amount bigint NOT NULL);
SQL

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
cat >"$tmp/redeem.sql" <<'SQL'
SELECT * FROM jobspy.redeem_coupon('RACE25', ('e0000000-0000-4000-8000-' || lpad((:client_id + 1)::text, 12, '0'))::uuid,
                                   1000, 'RUB', 'k-' || random());
SQL
cat >"$tmp/seat.sql" <<'SQL'
SELECT jobspy.register_for_event('e0000000-0000-4000-8000-0000000000e1',
                                 ('e0000000-0000-4000-8000-' || lpad((:client_id + 1)::text, 12, '0'))::uuid);
SQL
cat >"$tmp/credits.sql" <<'SQL'
\set a random(1, 9)
INSERT INTO race.spent SELECT :a FROM jobspy.spend_credits('e0000000-0000-4000-8000-000000000001', :a, 'USD', 'k-' || random()) WHERE allowed;
SQL

if PGOPTIONS="-c jobspy.clock_override=$clock" pgbench -n -c 32 -j 4 -t 5 -f "$tmp/redeem.sql" $db >"$tmp/pgbench.log" 2>&1 &&
   PGOPTIONS="-c jobspy.clock_override=$clock" pgbench -n -c 32 -j 4 -t 2 -f "$tmp/seat.sql" $db >>"$tmp/pgbench.log" 2>&1; then
    echo "ok 1 - 32 clients ran 160 redemptions and 64 registrations without an error"
else
    echo "not ok 1 - pgbench failed"; sed 's/^/# /' "$tmp/pgbench.log" | tail -20
fi
read -r times rows seats regs <<<"$(psql -X -A -t -F ' ' -d $db -c "
    SELECT (SELECT times_redeemed FROM jobspy.loyalty_coupons WHERE code = 'RACE25'),
           (SELECT count(*) FROM jobspy.loyalty_coupon_redemptions),
           (SELECT seats_taken FROM jobspy.loyalty_events),
           (SELECT count(*) FROM jobspy.loyalty_event_registrations WHERE status = 'registered')")"
[ "$times" = 25 ] && echo "ok 2 - exactly 25 redemptions were granted" || echo "not ok 2 - times_redeemed $times"
[ "$rows" = 25 ] && echo "ok 3 - and 25 redemption rows exist" || echo "not ok 3 - $rows rows"
[ "$seats" = 10 ] && [ "$regs" = 10 ] && echo "ok 4 - exactly the 10 seats were taken ($regs registrations)" \
    || echo "not ok 4 - seats_taken $seats, registrations $regs"
if PGOPTIONS="-c jobspy.clock_override=$clock" pgbench -n -c 32 -j 4 -t 20 -f "$tmp/credits.sql" $db >"$tmp/pgbench3.log" 2>&1; then
    echo "ok 5 - 32 clients ran 640 credit spends without an error"
else
    echo "not ok 5 - pgbench failed"; sed 's/^/# /' "$tmp/pgbench3.log" | tail -20
fi
read -r spent left negative <<<"$(PGOPTIONS="-c jobspy.clock_override=$clock" psql -X -A -t -F ' ' -d $db -c "
    SELECT (SELECT coalesce(sum(amount), 0) FROM race.spent),
           jobspy.credit_balance('e0000000-0000-4000-8000-000000000001', 'USD'),
           (SELECT count(*) FROM jobspy.credit_grants WHERE remaining < 0)")"
[ $((spent + left)) -eq 900 ] && [ "$negative" = 0 ] && [ "$left" -lt 9 ] \
    && echo "ok 6 - granted spends ($spent) and the balance left ($left) are the 900 granted" \
    || echo "not ok 6 - spent $spent, left $left, negative grants $negative"
