#!/usr/bin/env bash
# 32 clients spend one member's points at once, random amounts of 1 to 9,
# far more than the balance in total.  The balance never goes below zero,
# exactly what was granted was taken, and the ledger reconciles.
set -euo pipefail
db=jobspy_loyalty_race
clock='2031-06-15T12:00:00+00'
user=e0000000-0000-4000-8000-000000000071

echo "1..5"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
SET jobspy.clock_override = '$clock';
CREATE SCHEMA race;
CREATE TABLE race.spent (points bigint NOT NULL);
INSERT INTO jobspy.users (id, email) VALUES ('$user', 'race@example.com');
SELECT jobspy.create_business('race', 'Race');
-- Ten grants of 100 points: 1000 points to spend.
SELECT count(*) FROM generate_series(1, 10) i, jobspy.record_purchase('race', 'p' || i, '$user', 2000, 'RUB');
SQL

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
cat >"$tmp/spend.sql" <<SQL
\set a random(1, 9)
INSERT INTO race.spent (points) SELECT :a FROM jobspy.spend_points('$user', :a, 'k' || :client_id || '-' || random()) WHERE allowed;
SQL

# 32 clients x 40 transactions: about 6400 points asked for, 1000 there.
if PGOPTIONS="-c jobspy.clock_override=$clock" \
   pgbench -n -c 32 -j 4 -t 40 -f "$tmp/spend.sql" $db >"$tmp/pgbench.log" 2>&1; then
    echo "ok 1 - 32 clients ran 1280 spend_points calls without an error"
else
    echo "not ok 1 - pgbench failed"; sed 's/^/# /' "$tmp/pgbench.log" | tail -20
fi

read -r balance spent ledger problems <<<"$(PGOPTIONS="-c jobspy.clock_override=$clock" psql -X -A -t -F ' ' -d $db -c "
    SELECT jobspy.points_balance('$user'),
           (SELECT coalesce(sum(points), 0) FROM race.spent),
           (SELECT coalesce(-sum(points), 0) FROM jobspy.loyalty_ledger WHERE kind = 'spend'),
           (SELECT count(*) FROM jobspy.loyalty_check())")"
[ "$balance" -ge 0 ] && [ "$balance" -le 8 ] \
    && echo "ok 2 - the balance ended at $balance, never below zero, less than the smallest denied spend could leave" \
    || echo "not ok 2 - balance $balance"
[ $((spent + balance)) -eq 1000 ] && echo "ok 3 - granted spends ($spent) plus the balance are the 1000 points earned" \
                                 || echo "not ok 3 - spent $spent, balance $balance"
[ "$ledger" = "$spent" ] && echo "ok 4 - the ledger holds exactly the granted spends" \
                         || echo "not ok 4 - ledger $ledger, granted $spent"
[ "$problems" = 0 ] && echo "ok 5 - loyalty_check finds no discrepancy" || echo "not ok 5 - $problems discrepancies"
