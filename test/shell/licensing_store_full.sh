#!/usr/bin/env bash
# A counter table too small for the licences validated in a day: the
# validations that find no room raise JS204 (with a hint) rather than
# answering without counting, and the ones counted stay exact.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_full
echo "1..5"
restart_with jobspy.licensing_max_counters=1024
check "$(psql -X -Atq -d postgres -c 'SHOW jobspy.licensing_max_counters')" 1024 "the store has 1024 entries (64 a partition)"
licences_db 1200 full
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE TABLE public.answers (g int, code text);
-- One validation per licence, each in its own subtransaction so that an
-- error is kept as an answer.
DO $$
DECLARE r record; c text;
BEGIN
    FOR r IN SELECT * FROM public.k ORDER BY g LOOP
        BEGIN
            SELECT v.code INTO c FROM jobspy.validate_license(r.license_key, 'fp') v;
        EXCEPTION WHEN SQLSTATE 'JS204' THEN
            c := 'JS204';
        END;
        INSERT INTO public.answers VALUES (r.g, c);
    END LOOP;
END
$$;
SQL
full=$(q "SELECT count(*) FROM public.answers WHERE code = 'JS204'")
valid=$(q "SELECT count(*) FROM public.answers WHERE code = 'VALID'")
check "$([ "$full" -gt 0 ] && echo yes)" yes "some validations found the store full and raised JS204 ($full)"
check "$((full + valid))" 1200 "every other validation answered VALID ($valid)"
flushed=$(q "SELECT jobspy.flush_license_validations() >= 0")
check "$(q "SELECT sum(validation_count) FROM jobspy.licenses")" "$valid" "the flushed counts equal the VALID answers"
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
    250 "after the database is dropped and a flush runs, its slots serve other databases"
psql -X -q -d postgres -c "DROP DATABASE ${db}2" >/dev/null
restart_with
