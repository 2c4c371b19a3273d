#!/usr/bin/env bash
# A hot standby answers validations of machines already bound, writing
# nothing (counts stay in its own shared memory); a machine's first use,
# which takes a seat, and a flush are refused there with 25006; failures are
# answered without their log row.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_standby
standby=$(mktemp -d /tmp/jobspy-standby.XXXXXX)
chmod 755 "$standby"
[ "$(id -u)" -eq 0 ] && chown "$(server_user)" "$standby"
sport=$((PGPORT + 1))
sq() { psql -X -Atq -h "$standby" -p $sport -d $db -c "$1" 2>&1; }
finish() { as_server "$PG_BINDIR/pg_ctl" -D "$standby/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$standby"; }
trap finish EXIT

echo "1..8"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE TABLE public.k AS
SELECT * FROM jobspy.issue_license(jobspy.create_user('standby@licensing.test'), 'pro', max_machines => 3,
                                   max_validations_per_day => 5);
SELECT code FROM public.k, jobspy.validate_license(license_key, 'fp-bound');
SQL

as_server "$PG_BINDIR/pg_basebackup" -D "$standby/data" -R -X stream -c fast -h "$PGHOST" -p "$PGPORT" -U postgres \
    >/dev/null 2>&1
as_server "$PG_BINDIR/pg_ctl" -D "$standby/data" -l "$standby/server.log" -w \
    -o "-p $sport -k $standby" start >/dev/null 2>&1
check "$(sq "SELECT pg_is_in_recovery()")" t "a hot standby of the cluster is running"

check "$(sq "SELECT code || '/' || validations_remaining FROM public.k, jobspy.validate_license(license_key, 'fp-bound')")" \
    VALID/4 "a bound machine validates on the standby, counted in the standby's own memory (1 of 5 there)"
check "$(sq "SELECT code FROM public.k, jobspy.validate_license(license_key, NULL)")" FINGERPRINT_REQUIRED \
    "a failure is answered (its log row skipped: nothing may be written)"
check "$(sq "SELECT jobspy.check_license_rate_limit(license_id, 5) FROM public.k")" t \
    "check_license_rate_limit answers on the standby"
sqlstate() { printf '%s\n' '\set VERBOSITY sqlstate' "$1" | psql -X -Atq -h "$standby" -p $sport -d $db 2>&1; }
sqlstate "SELECT code FROM public.k, jobspy.validate_license(license_key, 'fp-new');" > "$standby/new.out"
check "$(grep -o '25006' "$standby/new.out")" 25006 "a machine's first use is refused on the standby: 25006"
sqlstate "SELECT jobspy.flush_license_validations();" > "$standby/flush.out"
check "$(grep -o '25006' "$standby/flush.out")" 25006 "a flush is refused on the standby: 25006"
check "$(q "SELECT count(*) FROM jobspy.license_machines")" 1 "the primary still has one machine"
check "$(q "SELECT code FROM public.k, jobspy.validate_license(license_key, 'fp-new')")" VALID \
    "the new machine's first use on the primary takes its seat"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1
