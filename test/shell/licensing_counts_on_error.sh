#!/usr/bin/env bash
# Counts stay exact when a statement fails: a validation that errors after
# its count was taken (here a lock timeout while binding a new machine)
# counts nothing, and a transaction that flushed counters may not be
# prepared (ROLLBACK PREPARED could not give the counts back).
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_err

echo "1..5"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE TABLE public.k AS
SELECT * FROM jobspy.issue_license(jobspy.create_user('err@licensing.test'), 'pro', max_machines => 5,
                                   max_validations_per_day => 3);
SQL

# Another session holds the licence row while it sleeps.
psql -X -q -d $db -c "BEGIN" -c "SELECT 1 FROM jobspy.licenses FOR UPDATE" -c "SELECT pg_sleep(4) AS holding" \
     -c "ROLLBACK" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 100); do
    [ "$(psql -X -Atq -d $db -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(4) AS holding%'
                                   AND state = 'active' AND pid <> pg_backend_pid()")" = 1 ] && break
    sleep 0.1
done
errors=0
for i in 1 2 3; do
    out=$(psql -X -Atq -d $db -c "SET lock_timeout = '200ms'" \
               -c "SELECT v.code FROM public.k, jobspy.validate_license(k.license_key, 'new-$i') v" 2>&1)
    case "$out" in *"lock timeout"*) errors=$((errors + 1));; esac
done
check "$errors" 3 "three validations of new machines fail on the lock"
wait $holder
check "$(q "SELECT jobspy.check_license_rate_limit(license_id, 3) FROM public.k")" t \
    "they used none of the day's three validations"
check "$(q "SELECT code || '/' || validations_remaining FROM public.k, jobspy.validate_license(license_key, 'new-1')")" \
    VALID/2 "the next validation is the day's first"
q "SELECT jobspy.flush_license_validations()" >/dev/null
check "$(q "SELECT validation_count || '/' || validations_on_day FROM jobspy.licenses")" 1/1 \
    "and the flushed counts say one"

q "SELECT code FROM public.k, jobspy.validate_license(license_key, 'new-1')" >/dev/null
got=$(psql -X -Atq -d $db -c "BEGIN" -c "SELECT jobspy.flush_license_validations()" \
           -c "PREPARE TRANSACTION 'lic_flush'" 2>&1)
case "$got" in *"cannot PREPARE a transaction that flushed licence validation counters"*)
    got="cannot PREPARE a transaction that flushed licence validation counters";; esac
check "$got" "cannot PREPARE a transaction that flushed licence validation counters" \
    "a transaction that flushed counters cannot be prepared"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1
