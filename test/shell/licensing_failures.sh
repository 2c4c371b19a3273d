#!/usr/bin/env bash
# Failed validations are counted in shared memory and flushed in batches:
# exact per licence, key hint and code across flushes that race the flood,
# across a store too small for the flood (a full partition is then written
# to the table by the validation that finds it full, with a warning), and
# across a clean restart; an immediate stop
# loses what was not flushed.  The validation log takes every
# jobspy.licensing_failure_log_every-th failure, no more, no fewer, and no
# more than jobspy.licensing_failure_log_per_second of them a second.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_failures
echo "1..23"
# No cap on the log's rate, so that its one in 100 can be counted exactly.
restart_with jobspy.licensing_failure_log_per_second=0
licences_db 40 failures
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
SELECT jobspy.revoke_license(license_id) FROM public.k WHERE g <= 20;
-- Well-formed keys that match no licence.
CREATE TABLE public.unknown AS
SELECT g, k AS license_key FROM generate_series(1, 500) g, jobspy.generate_license_key() k
 WHERE NOT EXISTS (SELECT FROM public.k WHERE public.k.license_key = k);
SELECT jobspy.flush_license_validations();
TRUNCATE jobspy.license_validation_failures, jobspy.license_validations;
SQL
nunknown=$(q "SELECT count(*) FROM public.unknown")

# flood ROUNDS: four clients, each ROUNDS times over every unknown key, every
# revoked licence and one malformed key, while a fifth client flushes.
flood() {
    for c in 1 2 3 4; do
        psql -X -Atq -d $db >/dev/null 2>>"$WORK_ERR" <<SQL &
SELECT count(*) FROM generate_series(1, $1) r, public.unknown u, jobspy.validate_license(u.license_key, 'fp-' || r) v;
SELECT count(*) FROM generate_series(1, $1) r, public.k, jobspy.validate_license(license_key, 'fp-' || r) v WHERE g <= 20;
SELECT count(*) FROM generate_series(1, $1) r, jobspy.validate_license('not a key', 'fp-' || r) v;
SQL
    done
    local clients; clients=$(jobs -p)
    ( while kill -0 $clients 2>/dev/null; do
          q "SELECT jobspy.flush_license_validations()" >/dev/null
      done ) &
    local flusher=$!
    wait $clients
    wait $flusher
    q "SELECT jobspy.flush_license_validations()" >/dev/null
}
WORK_ERR=$(mktemp)
trap 'rm -f "$WORK_ERR"' EXIT

flood 10
check "$(q "SELECT sum(failures) FROM jobspy.license_validation_failures WHERE result = 'NOT_FOUND'")" \
    $((4 * 10 * nunknown)) "every NOT_FOUND answer of four racing clients is counted once, across racing flushes"
check "$(q "SELECT count(*) FROM (SELECT right(license_key, 4) AS hint, 40 * count(*) AS n FROM public.unknown GROUP BY 1) e
            FULL JOIN (SELECT key_hint, sum(failures) AS failures FROM jobspy.license_validation_failures
                        WHERE result = 'NOT_FOUND' AND license_id IS NULL GROUP BY 1) f ON f.key_hint = e.hint
            WHERE f.failures IS DISTINCT FROM e.n")" 0 "and per key hint: 40 for each unknown key with that hint"
check "$(q "SELECT count(*) FROM public.k LEFT JOIN
                   (SELECT license_id, key_hint, sum(failures) AS failures FROM jobspy.license_validation_failures
                     WHERE result = 'REVOKED' GROUP BY 1, 2) f
                ON f.license_id = k.license_id AND f.key_hint = right(k.license_key, 4)
            WHERE g <= 20 AND f.failures IS DISTINCT FROM 40")" 0 \
    "each revoked licence: exactly 40 REVOKED, under its licence and hint"
check "$(q "SELECT sum(failures) || '/' || bool_and(license_id IS NULL AND key_hint IS NULL)
              FROM jobspy.license_validation_failures WHERE result = 'MALFORMED'")" "40/true" \
    "MALFORMED: 40, with neither licence nor hint"
check "$(q "SELECT count(*) FROM jobspy.license_validation_failures WHERE day <> current_date AT TIME ZONE 'UTC'
               OR last_failed_at > now()")" 0 "counted under today's UTC day, with the time of the last failure"
total=$((4 * 10 * (nunknown + 20 + 1)))
check "$(q "SELECT count(*) FROM jobspy.license_validations")" $((total / 100)) \
    "the log sampled one failure in 100 of $total (jobspy.licensing_failure_log_every's default)"
# Without a row per failure, failures write no WAL until the flush: 20
# rounds over every unknown key, none sampled, against the 100 or more
# bytes a row of the log took.
wal_before=$(q "SELECT pg_current_wal_insert_lsn()")
psql -X -Atq -d $db -c "SET jobspy.licensing_failure_log_every = 0" \
     -c "SELECT count(*) FROM generate_series(1, 20) r, public.unknown u, jobspy.validate_license(u.license_key, 'fp-' || r) v" >/dev/null
wal=$(q "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$wal_before')::bigint")
check "$([ "$wal" -lt $((20 * nunknown * 4)) ] && echo small)" small \
    "$((20 * nunknown)) failures wrote $wal bytes of WAL: under 4 a failure"
q "SELECT jobspy.flush_license_validations()" >/dev/null

# The sampling rate is a setting: every failure, or none.
q "TRUNCATE jobspy.license_validations"
psql -X -Atq -d $db >/dev/null <<'SQL'
SET jobspy.licensing_failure_log_every = 1;
SELECT count(*) FROM public.unknown u, jobspy.validate_license(u.license_key, 'fp-all') v;
SET jobspy.licensing_failure_log_every = 0;
SELECT count(*) FROM public.unknown u, jobspy.validate_license(u.license_key, 'fp-none') v;
SQL
check "$(q "SELECT count(*) FILTER (WHERE fingerprint = 'fp-all') || '/' || count(*) FILTER (WHERE fingerprint = 'fp-none')
              FROM jobspy.license_validations")" "$nunknown/0" "log_every 1 logs every failure, 0 none"
check "$(psql -X -Atq -d $db -c "SET ROLE jobspy_app" -c "SET jobspy.licensing_failure_log_every = 1" 2>&1 |
         grep -c 'permission denied')" 1 "only a superuser may change the sampling rate"

# A flood is logged at a bounded rate: every failure sampled, at most 5 a
# second, over the seconds the statement spanned on the server's clock.
q "TRUNCATE jobspy.license_validations"
got=$(psql -X -Atq -d $db <<'SQL'
SET jobspy.licensing_failure_log_every = 1;
SET jobspy.licensing_failure_log_per_second = 5;
SELECT floor(extract(epoch FROM clock_timestamp())) AS first_second \gset
SELECT count(*) FROM generate_series(1, 4) r, public.unknown u, jobspy.validate_license(u.license_key, 'fp-capped') v \g /dev/null
SELECT count(*) || '/' || (5 * (floor(extract(epoch FROM clock_timestamp())) - :first_second + 1))::bigint
  FROM jobspy.license_validations WHERE fingerprint = 'fp-capped';
SQL
)
check "$(echo "$got" | awk -F/ '{ print ($1 >= 5 && $1 <= $2) ? "bounded" : $0 }')" bounded \
    "$((4 * nunknown)) failures with a cap of 5 a second: at least 5 and at most 5 a second logged ($got)"
check "$(psql -X -Atq -d $db -c "SET ROLE jobspy_app" -c "SET jobspy.licensing_failure_log_per_second = 0" 2>&1 |
         grep -c 'permission denied')" 1 "only a superuser may change the cap"

# A store too small for the flood: a validation that finds its partition
# full writes that partition's counts to the table in its own transaction
# (a warning names the setting), so every count stays exact per licence,
# key hint and code.
restart_with jobspy.licensing_failure_counters=1024
q "SELECT jobspy.flush_license_validations()" >/dev/null
q "TRUNCATE jobspy.license_validation_failures"
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
INSERT INTO public.unknown SELECT 500 + g, jobspy.generate_license_key() FROM generate_series(1, 1500) g;
DELETE FROM public.unknown u USING public.k WHERE k.license_key = u.license_key;
SQL
nunknown=$(q "SELECT count(*) FROM public.unknown")
out=$(q "SELECT count(*) FROM public.unknown u, jobspy.validate_license(u.license_key, 'fp') v" 2>&1)
check "$(echo "$out" | grep -c 'HINT:  Raise jobspy.licensing_failure_counters')" 1 \
    "$nunknown distinct unknown keys on 1024 entries: one warning, naming the setting"
check "$(q "SELECT sum(failures) > 0 AND sum(failures) < $nunknown FROM jobspy.license_validation_failures")" t \
    "before any flush, the partitions that filled were written to the table by the validations"
flood 2
check "$(q "SELECT sum(failures) FROM jobspy.license_validation_failures WHERE result = 'NOT_FOUND'")" \
    $((9 * nunknown)) "still every NOT_FOUND counted exactly once ($((9 * nunknown)))"
check "$(q "SELECT count(*) FROM (SELECT right(license_key, 4) AS hint, 9 * count(*) AS n FROM public.unknown GROUP BY 1) e
            FULL JOIN (SELECT key_hint, sum(failures) AS failures FROM jobspy.license_validation_failures
                        WHERE result = 'NOT_FOUND' GROUP BY 1) f ON f.key_hint = e.hint
            WHERE f.failures IS DISTINCT FROM e.n")" 0 "and per key hint: 9 for each unknown key with that hint"
check "$(q "SELECT count(*) FROM jobspy.license_validation_failures WHERE result = 'NOT_FOUND' AND key_hint IS NULL")" 0 \
    "no failure was counted without its hint"
check "$(q "SELECT sum(failures) FROM jobspy.license_validation_failures WHERE result = 'REVOKED'")" 160 \
    "and every REVOKED (160)"

# A tiny store (64 entries, four a partition, three to the fill limit): the
# partitions spill again and again; each revoked licence is still counted
# exactly, under its own hint.
restart_with jobspy.licensing_failure_counters=64
q "SELECT jobspy.flush_license_validations()" >/dev/null
q "TRUNCATE jobspy.license_validation_failures"
psql -X -Atq -d $db >/dev/null 2>&1 <<'SQL'
SELECT count(*) FROM public.unknown u, jobspy.validate_license(u.license_key, 'fp') v;
SELECT count(*) FROM generate_series(1, 3) r, public.k, jobspy.validate_license(license_key, 'fp-' || r) v WHERE g <= 20;
SQL
q "SELECT jobspy.flush_license_validations()" >/dev/null
check "$(q "SELECT count(*) FROM public.k LEFT JOIN
                   (SELECT license_id, key_hint, sum(failures) AS n FROM jobspy.license_validation_failures
                     WHERE result = 'REVOKED' GROUP BY 1, 2) f USING (license_id)
             WHERE g <= 20 AND (f.n IS DISTINCT FROM 3 OR f.key_hint IS DISTINCT FROM right(k.license_key, 4))")" 0 \
    "a tiny store: each revoked licence counted exactly 3 times, under its own hint"
check "$(q "SELECT sum(failures) FROM jobspy.license_validation_failures WHERE result = 'NOT_FOUND'")" "$nunknown" \
    "and every unknown key once ($nunknown)"

# Restarts: a clean one keeps the counts not yet flushed, an immediate stop
# loses them (as the validation counters).
restart_with
q "TRUNCATE jobspy.license_validation_failures"
q "SELECT count(*) FROM public.k, jobspy.validate_license(license_key, 'fp') v WHERE g <= 3" >/dev/null
restart_with
check "$(q "SELECT jobspy.flush_license_validations() > 0")" t "after a clean restart the flush finds the counts"
check "$(q "SELECT sum(failures) FROM jobspy.license_validation_failures")" 3 "all three, once"
q "SELECT count(*) FROM public.k, jobspy.validate_license(license_key, 'fp') v WHERE g <= 3" >/dev/null
cluster_stop "$JOBSPY_TEST_CLUSTER" immediate
cluster_start "$JOBSPY_TEST_CLUSTER"
wait_ready
q "SELECT jobspy.flush_license_validations()" >/dev/null
check "$(q "SELECT sum(failures) FROM jobspy.license_validation_failures")" 3 \
    "after an immediate stop the three not flushed are lost, as documented"
check "$(cat "$WORK_ERR" | grep -v WARNING | grep -v DETAIL | grep -v HINT | head -3)" "" "no client saw an error"

psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1
