#!/usr/bin/env bash
# A bulk load in one transaction on a fresh install costs the same per row
# at the end as at the start.  A PL/pgSQL function keeps the plan it made
# for its first call, when the tables were empty and never analyzed; a
# lookup whose plan then scans a growing table made the load quadratic
# (record_purchase's replay lookup filtered every purchase of the business,
# create_customer's duplicate check scanned every customer).  Counted as
# the rows those scans returned in the loading transaction, so the check
# does not depend on the machine's speed: about one a call when each
# lookup probes a unique index, about N^2/2 when it scans.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_bulk_fresh
count=2000

echo "1..4"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
SELECT jobspy.create_business('bulk', 'Bulk shop');
CREATE TABLE public.u AS
SELECT g, jobspy.create_user(format('bulk%s@fresh.test', g)) AS id FROM generate_series(1, $count) g;
SQL

# reads TABLE STATEMENT: runs STATEMENT in a transaction and prints the
# rows (or index entries) that scans of TABLE and of its indexes returned.
reads() {
    psql -X -Atq -v ON_ERROR_STOP=1 -d $db <<SQL
BEGIN;
$2 \g /dev/null
SELECT sum(pg_stat_get_xact_tuples_returned(r))
  FROM (SELECT 'jobspy.$1'::regclass::oid AS r UNION ALL SELECT indexrelid FROM pg_index WHERE indrelid = 'jobspy.$1'::regclass) rels;
COMMIT;
SQL
}
linear() { [ "${1:-999999999}" -le $((4 * count)) ] && echo linear || echo "$1"; }

got=$(reads loyalty_purchases "SELECT count(*) FROM public.u, jobspy.record_purchase('bulk', 'order-' || u.g, u.id, 1000, 'RUB')")
check "$(q "SELECT count(*) FROM jobspy.loyalty_purchases")" $count "$count purchases recorded in one statement"
check "$(linear "$got")" linear \
    "their replay lookups read $got purchase rows in all: at most 4 a call, not a scan of the business's purchases"
got=$(reads customers "SELECT count(*) FROM public.u, jobspy.create_customer(u.id)")
check "$(q "SELECT count(*) FROM jobspy.customers")" $count "$count customers made in one statement"
check "$(linear "$got")" linear \
    "their duplicate checks read $got customer rows in all: at most 4 a call, not a scan of the customers"

psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1
