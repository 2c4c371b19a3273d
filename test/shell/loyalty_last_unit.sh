#!/usr/bin/env bash
# The exactness target (docs: DESIGN "exactness"): 64 clients race for the
# last units of points and of coupons, and nothing is over-admitted.
#   - one member holds 50 points; 64 clients each try twice to spend one;
#   - a coupon limited to 40 redemptions in total, 64 members at once;
#   - a coupon limited to one redemption per member, 64 calls of one member.
# Every client connects before any starts, so the calls overlap.
set -euo pipefail
. "$(dirname "$0")/tap.bash"
db=jobspy_loyalty_last_unit
clock='2031-06-15T12:00:00+00'
holder=e0000000-0000-4000-8000-000000000001

echo "1..9"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
SET jobspy.clock_override = '$clock';
INSERT INTO jobspy.users (id, email)
SELECT ('e0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'u' || i || '@example.com'
  FROM generate_series(1, 64) i;
SELECT jobspy.create_business('last', 'Last unit');
-- 5% of 1000: exactly 50 points.
SELECT * FROM jobspy.record_purchase('last', 'p-1', '$holder', 1000, 'RUB');
SELECT jobspy.create_coupon('LAST40', amount_off => 100, currency => 'RUB', max_redemptions => 40);
SELECT jobspy.create_coupon('ONCE', amount_off => 100, currency => 'RUB', max_per_user => 1);
CREATE SCHEMA race;
CREATE TABLE race.spent (points bigint NOT NULL);
SQL

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
cat >"$tmp/spend.sql" <<SQL
INSERT INTO race.spent SELECT 1 FROM jobspy.spend_points('$holder', 1, 'k-' || :client_id || '-' || random()) WHERE allowed;
SQL
cat >"$tmp/redeem.sql" <<'SQL'
SELECT * FROM jobspy.redeem_coupon('LAST40', ('e0000000-0000-4000-8000-' || lpad((:client_id + 1)::text, 12, '0'))::uuid,
                                   1000, 'RUB', 'k-' || :client_id);
SQL
cat >"$tmp/once.sql" <<SQL
SELECT * FROM jobspy.redeem_coupon('ONCE', '$holder', 1000, 'RUB', 'once-' || :client_id);
SQL

race() {  # race FILE TRANSACTIONS: 64 clients; prints "ok" or pgbench's tail
    if PGOPTIONS="-c jobspy.clock_override=$clock" \
       pgbench -n -c 64 -j 4 -t "$2" -f "$1" $db >"$tmp/pgbench.log" 2>&1; then
        echo ok
    else
        tail -5 "$tmp/pgbench.log" | tr '\n' ' '
    fi
}

check "$(race "$tmp/spend.sql" 2)" ok "64 clients made 128 calls for the member's 50 points without an error"
check "$(q "SELECT coalesce(sum(points), 0) FROM race.spent")" 50 "exactly the 50 points were granted"
check "$(PGOPTIONS="-c jobspy.clock_override=$clock" q "SELECT jobspy.points_balance('$holder')")" 0 \
      "the balance ended at 0"
check "$(q "SELECT -sum(points) FROM jobspy.loyalty_ledger WHERE kind = 'spend'")" 50 \
      "the ledger holds exactly the 50 granted spends"
check "$(q "SELECT count(*) FROM jobspy.loyalty_check()")" 0 "loyalty_check finds no discrepancy"

check "$(race "$tmp/redeem.sql" 1)" ok "64 members redeemed a coupon limited to 40 at once without an error"
check "$(q "SELECT times_redeemed || '/' || (SELECT count(*) FROM jobspy.loyalty_coupon_redemptions r WHERE r.coupon_id = c.id)
              FROM jobspy.loyalty_coupons c WHERE code = 'LAST40'")" 40/40 \
      "exactly 40 redemptions were granted, counter and rows agreeing"

check "$(race "$tmp/once.sql" 1)" ok "one member redeemed a once-per-member coupon from 64 clients at once"
check "$(q "SELECT times_redeemed || '/' || (SELECT count(*) FROM jobspy.loyalty_coupon_redemptions r WHERE r.coupon_id = c.id)
              FROM jobspy.loyalty_coupons c WHERE code = 'ONCE'")" 1/1 \
      "exactly one redemption was granted"
