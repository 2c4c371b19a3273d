#!/usr/bin/env bash
# A counter table far too small for the licences validated in a day keeps
# answering: entries whose counts are flushed are evicted, and a licence
# that finds no room is counted in its row, with a warning naming the
# setting.  The daily limit stays exact across both: four clients race
# over every licence while a fifth flushes (which makes entries evictable,
# and makes the next entry of a licence start from its row).
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_full
echo "1..11"
restart_with jobspy.licensing_max_counters=1024
check "$(psql -X -Atq -d postgres -c 'SHOW jobspy.licensing_max_counters')" 1024 "the store has 1024 entries (64 a partition)"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE TABLE public.k AS
SELECT g, l.* FROM generate_series(1, 1500) g,
       LATERAL jobspy.issue_license(jobspy.create_user(format('full%s@licensing.test', g)), 'pro',
                                    max_machines => 1, max_validations_per_day => 3) l;
CREATE TABLE public.answers (client int, g int, code text);
GRANT ALL ON public.answers TO PUBLIC;
SQL

# One statement validates all 1500: no error, every one VALID, and a warning.
out=$(psql -X -Atq -v ON_ERROR_STOP=1 -d $db 2>&1 <<'SQL'
INSERT INTO public.answers SELECT 0, g, v.code FROM public.k, jobspy.validate_license(license_key, 'fp') v;
SELECT count(*) FILTER (WHERE code = 'VALID') FROM public.answers;
SQL
)
check "$(echo "$out" | tail -1)" 1500 "one statement over 1500 licences, 1024 counters: all answered VALID"
check "$(echo "$out" | grep -c 'WARNING:  the shared-memory table of validation counters is full')" 1 \
    "one warning for the statement"
check "$(echo "$out" | grep -c 'HINT:  Raise jobspy.licensing_max_counters')" 1 "the warning names the setting to raise"
check "$(q "SELECT count(*) > 0 FROM jobspy.licenses WHERE validations_on_day = 1 AND validation_count = 1")" t \
    "licences that found no room were counted in their rows"

# Four clients validate every licence in their own order, one transaction per
# validation, while a fifth flushes: 5 tries a licence, 3 allowed.
for c in 1 2 3 4; do
    psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null 2>&1 <<SQL &
SET client_min_messages = error;
DO \$\$
DECLARE r record; c text;
BEGIN
    FOR r IN SELECT k.g, k.license_key FROM public.k ORDER BY md5(g::text || $c) LOOP
        SELECT v.code INTO c FROM jobspy.validate_license(r.license_key, 'fp') v;
        INSERT INTO public.answers VALUES ($c, r.g, c);
        COMMIT;
    END LOOP;
END
\$\$;
SQL
done
clients=$(jobs -p)
( while kill -0 $clients 2>/dev/null; do
      psql -X -Atq -d $db -c "SELECT jobspy.flush_license_validations()" >/dev/null 2>&1; sleep 0.2
  done ) &
flusher=$!
wait $clients
wait $flusher
check "$(q "SELECT count(*) FROM public.answers")" $((1500 * 5)) "every validation answered (no error)"
check "$(q "SELECT count(*) FROM (SELECT g FROM public.answers GROUP BY g
                                   HAVING count(*) FILTER (WHERE code = 'VALID') <> 3
                                       OR count(*) FILTER (WHERE code NOT IN ('VALID', 'RATE_LIMITED')) > 0) x")" 0 \
    "each licence was answered VALID exactly 3 times, RATE_LIMITED after"
q "SELECT jobspy.flush_license_validations()" >/dev/null
check "$(q "SELECT count(*) FROM jobspy.licenses WHERE validation_count <> 3 OR validations_on_day <> 3")" 0 \
    "after a flush every licence row counts exactly its 3 validations"
check "$(q "SELECT count(*) FROM public.k WHERE jobspy.check_license_rate_limit(license_id, 3)")" 0 \
    "check_license_rate_limit sees every licence at its limit"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null

# The dropped database's entries are freed by the next flush anywhere.
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ${db}2" -c "CREATE DATABASE ${db}2" >/dev/null 2>&1
psql -X -Atq -v ON_ERROR_STOP=1 -d ${db}2 >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
SELECT jobspy.flush_license_validations();
CREATE TABLE public.k AS
SELECT g, l.* FROM generate_series(1, 250) g,
       LATERAL jobspy.issue_license(jobspy.create_user(format('again%s@licensing.test', g)), 'pro') l;
SQL
check "$(psql -X -Atq -d ${db}2 -c "SELECT count(*) FROM public.k, jobspy.validate_license(license_key, 'fp') v WHERE v.valid")" \
    250 "after the database is dropped and a flush runs, another database validates"
check "$(psql -X -Atq -d ${db}2 -c "SELECT count(*) FROM jobspy.licenses WHERE validation_count > 0")" 0 \
    "its 250 licences all found room in the store (none counted in a row)"
psql -X -q -d postgres -c "DROP DATABASE ${db}2" >/dev/null
restart_with
