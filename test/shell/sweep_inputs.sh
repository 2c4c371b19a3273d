#!/usr/bin/env bash
# Every input tried: each function of schema jobspy, found in pg_proc (so new
# functions are swept without being listed), is called with NULLs, empty and
# 10 MB strings, extreme numbers, nil uuids, jsonb of the wrong shape and
# injection-looking text, one argument at a time, as jobspy_app,
# jobspy_analyst and jobspy_admin.  No call may crash the server, raise an
# internal error (XX000), run past its time, raise an undocumented SQLSTATE
# or put a secret or an echo of a huge input in its message.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
db=jobspy_sweep
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
q "CREATE EXTENSION jobspy_core" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db -f "$here/sweep/sweep.sql" >/dev/null
# Real objects for the ordinary values, chosen by argument name.
q "SET jobspy.password_memory_kib = 64; SET jobspy.password_iterations = 1;
   CREATE TABLE sweep.fixture AS
   SELECT u AS user_id, l.license_id, l.license_key,
          jobspy.create_organization('Sweep Co', u) AS organization_id
     FROM jobspy.create_user('sweep@example.com', 'sweep password 1') u, jobspy.issue_license(u, 'pro') l;
   INSERT INTO sweep.named
   SELECT '^p?_?license_id\$|^p?_?licence', 'uuid'::regtype, license_id::text, 1 FROM sweep.fixture UNION ALL
   SELECT 'organization|^p?_?org', 'uuid'::regtype, organization_id::text, 2 FROM sweep.fixture UNION ALL
   SELECT 'user', 'uuid'::regtype, user_id::text, 3 FROM sweep.fixture UNION ALL
   SELECT 'license_key|^p?_?key\$', 'text'::regtype, license_key, 1 FROM sweep.fixture UNION ALL
   SELECT 'email', 'text'::regtype, 'sweep@example.com', 2 UNION ALL
   SELECT 'password', 'text'::regtype, 'sweep password 1', 3 UNION ALL
   SELECT 'currency', 'text'::regtype, 'USD', 4 UNION ALL
   SELECT 'plan', 'text'::regtype, 'pro', 5" >/dev/null
# Argon2 at its lowest cost: the sweep is about inputs, not hashing time.
q "ALTER DATABASE $db SET jobspy.password_memory_kib = 64" >/dev/null 2>&1 || true
q "ALTER DATABASE $db SET jobspy.password_iterations = 1" >/dev/null 2>&1 || true

echo "1..6"
crashed=() timedout=()
mapfile -t targets < <(q "SELECT fn FROM sweep.targets ORDER BY name")
for fn in "${targets[@]}"; do
    for role in jobspy_app jobspy_analyst jobspy_admin; do
        out=$(psql -X -q -At -d $db -c "SET statement_timeout = '120s'" \
                   -c "SELECT sweep.run($fn, '$role')" 2>&1)
        case $out in
            *"server closed the connection"*|*"terminating connection"*|*"connection to server was lost"*)
                crashed+=("$(q "SELECT $fn::regprocedure")/$role"); wait_ready ;;
            *"statement timeout"*) timedout+=("$(q "SELECT $fn::regprocedure")/$role") ;;
            *ERROR*) timedout+=("$(q "SELECT $fn::regprocedure")/$role: $out") ;;
        esac
    done
done
calls=$(q "SELECT count(*) FROM sweep.results")
fns=$(q "SELECT count(DISTINCT name) FROM sweep.results")
check "${crashed[*]:-}" "" "no call crashed the server ($calls calls of $fns functions)"
check "${timedout[*]:-}" "" "every function's sweep ran to its end within 120 s"
check "$(q "SELECT string_agg(DISTINCT format('%s as %s, argument %s %s', name, role, arg, label), '; ')
              FROM sweep.results WHERE sqlstate = 'XX000'")" "" "no internal error (XX000)"
# Every SQLSTATE a refusal carries is listed in docs/errors.md.
undocumented=""
for s in $(q "SELECT DISTINCT sqlstate FROM sweep.results WHERE sqlstate <> '00000' ORDER BY 1"); do
    grep -q "$s" "$here/../../docs/errors.md" ||
        undocumented="$undocumented $s ($(q "SELECT format('%s: %s', name, left(msg, 120)) FROM sweep.results WHERE sqlstate = '$s' LIMIT 1"))"
done
check "$undocumented" "" "every SQLSTATE raised is documented in docs/errors.md ($(q "SELECT count(DISTINCT sqlstate) FROM sweep.results WHERE sqlstate <> '00000'") codes)"
check "$(q "SELECT string_agg(DISTINCT format('%s %s (%s chars)', name, label, msg_len), '; ')
              FROM sweep.results WHERE msg_len > 1000")" "" "no message echoes a huge input (all under 1000 characters)"
# No message shows a stored secret: 16 hex digits of any key would do.
check "$(q "SELECT string_agg(DISTINCT r.name, '; ') FROM sweep.results r,
              (SELECT substr(encode(secret, 'hex'), 1, 16) AS h FROM jobspy.hash_keys) k
             WHERE r.msg LIKE '%' || k.h || '%'")" "" "no message contains a hash key"
