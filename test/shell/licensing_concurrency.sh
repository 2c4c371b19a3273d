#!/usr/bin/env bash
# Licence validation across backends: seats and the daily limit stay exact
# under many concurrent clients, a suspension is seen by the very next
# validation of an open connection, and the day's count survives restarts
# (a clean one keeps everything, a crash resumes from the last flush).
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_race
clock='2030-08-01 12:00:00+00'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "1..24"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
ALTER DATABASE $db SET jobspy.clock_override = '$clock';
SET jobspy.clock_override = '$clock';
CREATE SCHEMA race;
CREATE TABLE race.keys (name text PRIMARY KEY, id uuid, key text);
CREATE TABLE race.answers (name text, client int, code text, remaining int);
INSERT INTO jobspy.users (id, email) VALUES ('1ace0000-0000-4000-8000-000000000001', 'race@licensing.test');
CREATE FUNCTION race.issue(name text, machines int, per_day int) RETURNS void LANGUAGE sql AS \$\$
    INSERT INTO race.keys
    SELECT name, l.* FROM jobspy.issue_license('1ace0000-0000-4000-8000-000000000001', 'pro',
                                               max_machines => machines, max_validations_per_day => per_day) l
\$\$;
SQL

# (a) 48 clients, each its own machine, race for 5 seats; three rounds.
for r in 1 2 3; do
    q "SELECT race.issue('seats$r', 5, 1000)" >/dev/null
    cat >"$tmp/seats.sql" <<SQL
INSERT INTO race.answers SELECT 'seats$r', :client_id, v.code, v.validations_remaining
  FROM race.keys k, jobspy.validate_license(k.key, 'machine-' || :client_id) v WHERE k.name = 'seats$r';
SQL
    pgbench -n -c 48 -j 2 -t 1 -f "$tmp/seats.sql" $db >"$tmp/pgbench.log" 2>&1 || sed 's/^/# /' "$tmp/pgbench.log" | tail -5
    got=$(q "SELECT count(*) FILTER (WHERE code = 'VALID') || '/' || count(*) FILTER (WHERE code = 'TOO_MANY_MACHINES')
                    || '/' || count(*) FROM race.answers WHERE name = 'seats$r'")
    check "$got" "5/43/48" "round $r: 48 machines at once, 5 seats: exactly 5 VALID, 43 TOO_MANY_MACHINES"
    got=$(q "SELECT count(*) FROM jobspy.license_machines m JOIN race.keys k ON k.id = m.license_id WHERE k.name = 'seats$r'")
    check "$got" 5 "round $r: exactly 5 license_machines rows"
done
got=$(q "SELECT count(*) FROM race.answers a JOIN race.keys k ON k.name = a.name
           JOIN jobspy.license_machines m ON m.license_id = k.id AND m.fingerprint = 'machine-' || a.client
          WHERE a.code = 'VALID'")
check "$got" 15 "the machines bound are exactly the clients told VALID"

# (b) The daily limit across backends: 100 a day, 8 clients x 50 tries,
# one key and one machine.
q "SELECT race.issue('daily', 1, 100)" >/dev/null
cat >"$tmp/daily.sql" <<'SQL'
INSERT INTO race.answers SELECT 'daily', :client_id, v.code, v.validations_remaining
  FROM race.keys k, jobspy.validate_license(k.key, 'the-machine') v WHERE k.name = 'daily';
SQL
pgbench -n -c 8 -j 2 -t 50 -f "$tmp/daily.sql" $db >"$tmp/pgbench.log" 2>&1 || sed 's/^/# /' "$tmp/pgbench.log" | tail -5
got=$(q "SELECT count(*) FILTER (WHERE code = 'VALID') || '/' || count(*) FILTER (WHERE code = 'RATE_LIMITED')
                || '/' || count(*) FROM race.answers WHERE name = 'daily'")
check "$got" "100/300/400" "400 validations against a limit of 100: exactly 100 VALID, 300 RATE_LIMITED"
got=$(q "SELECT count(DISTINCT remaining) || '/' || min(remaining) || '/' || max(remaining)
           FROM race.answers WHERE name = 'daily' AND code = 'VALID'")
check "$got" "100/0/99" "the VALID answers counted 99 down to 0, each value once"
got=$(q "SELECT count(*) FROM race.answers WHERE name = 'daily' AND code = 'RATE_LIMITED' AND remaining = 0")
check "$got" 300 "every RATE_LIMITED answer says 0 remaining"
q "SELECT jobspy.flush_license_validations()" >/dev/null
got=$(q "SELECT validation_count || '/' || validations_on_day || '/' || validation_day
           FROM jobspy.licenses l JOIN race.keys k ON k.id = l.id WHERE k.name = 'daily'")
check "$got" "100/100/2030-08-01" "after a flush: validation_count 100, validations_on_day 100"

# (c) Freshness: connection A stays open; B suspends and commits; A's next
# validation answers SUSPENDED.
q "SELECT race.issue('fresh', 1, 1000)" >/dev/null
coproc SA { psql -X -q -At -d $db 2>&1; }
a() {  # a SQL: one line of output from connection A
    local line=""
    echo "$1" >&"${SA[1]}"
    IFS= read -r -t 30 line <&"${SA[0]}"
    echo "$line"
}
validate_a="SELECT code FROM race.keys k, jobspy.validate_license(k.key, 'fp-fresh') v WHERE k.name = 'fresh';"
pid1=$(a "SELECT pg_backend_pid();")
got=$(a "$validate_a")
check "$got" VALID "connection A: VALID"
q "SELECT jobspy.suspend_license(id) FROM race.keys WHERE name = 'fresh'" >/dev/null
got=$(a "$validate_a")
check "$got" SUSPENDED "B suspended and committed: A's very next validation answers SUSPENDED"
q "SELECT jobspy.reinstate_license(id) FROM race.keys WHERE name = 'fresh'" >/dev/null
got=$(a "$validate_a")
check "$got" VALID "B reinstated: A's next validation answers VALID"
echo "BEGIN;" >&"${SA[1]}"
got=$(a "$validate_a")
q "SELECT jobspy.revoke_license(id) FROM race.keys WHERE name = 'fresh'" >/dev/null
got="$got/$(a "$validate_a")"
echo "COMMIT;" >&"${SA[1]}"
check "$got" "VALID/REVOKED" "inside A's open transaction too (read committed): VALID, then REVOKED once B commits"
pid2=$(a "SELECT pg_backend_pid();")
check "$pid2" "$pid1" "all on one connection"
sa_pid=$SA_PID
eval "exec ${SA[1]}>&-"
wait "$sa_pid" 2>/dev/null

# (d) Restarts: max 10 a day.
q "SELECT race.issue('restart', 1, 10)" >/dev/null
vr() { q "SELECT coalesce(validations_remaining::text, code) FROM race.keys k, jobspy.validate_license(k.key, 'fp-r') v
          WHERE k.name = 'restart'"; }
count_r() { q "SELECT validation_count || '/' || validations_on_day FROM jobspy.licenses l JOIN race.keys k ON k.id = l.id
               WHERE k.name = 'restart'"; }
got="$(vr) $(vr) $(vr) $(vr)"
check "$got" "9 8 7 6" "four validations: 9 8 7 6 left"
q "SELECT jobspy.flush_license_validations()" >/dev/null
check "$(count_r)" "4/4" "flushed: 4 counted"
cluster_restart "$JOBSPY_TEST_CLUSTER"
wait_ready
check "$(vr)" 5 "after a flush and a clean restart the count resumes: 5 left"
q "SELECT jobspy.flush_license_validations()" >/dev/null
check "$(count_r)" "5/5" "the next flush adds only the new validation (5), nothing counted twice"
got="$(vr) $(vr)"
cluster_restart "$JOBSPY_TEST_CLUSTER"
wait_ready
got="$got $(vr)"
check "$got" "4 3 2" "validations not yet flushed survive a clean restart too"
q "SELECT jobspy.flush_license_validations()" >/dev/null
check "$(count_r)" "8/8" "and are flushed exactly once (8)"
vr >/dev/null
cluster_stop "$JOBSPY_TEST_CLUSTER" immediate
cluster_start "$JOBSPY_TEST_CLUSTER"
wait_ready
got="$(vr) $(count_r)"
check "$got" "1 8/8" "after a crash the day resumes from the last flush (8 counted, so 1 left)"

# (e) A flush rolled back to a savepoint gives its counts back.
q "SELECT race.issue('savepoint', 1, 1000)" >/dev/null
for _ in 1 2 3; do
    q "SELECT code FROM race.keys k, jobspy.validate_license(k.key, 'fp-s') v WHERE k.name = 'savepoint'" >/dev/null
done
psql -X -q -d $db >/dev/null 2>&1 <<'SQL'
BEGIN;
SAVEPOINT s;
SELECT jobspy.flush_license_validations();
ROLLBACK TO SAVEPOINT s;
COMMIT;
SQL
q "SELECT jobspy.flush_license_validations()" >/dev/null
got=$(q "SELECT validation_count FROM jobspy.licenses l JOIN race.keys k ON k.id = l.id WHERE k.name = 'savepoint'")
check "$got" 3 "a flush rolled back to a savepoint loses nothing: the next flush writes all 3"

psql -X -q -d postgres -c "DROP DATABASE $db"
