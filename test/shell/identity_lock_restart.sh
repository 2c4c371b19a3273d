#!/usr/bin/env bash
# A login lock lives in shared memory; maintenance records it on the users
# row (audited), and from there it outlives a server restart.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tools/lib.sh"
set +e
db=jobspy_identity_restart
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -d postgres -c "ALTER DATABASE $db SET jobspy.password_memory_kib = 64" \
     -c "ALTER DATABASE $db SET jobspy.password_iterations = 1"
psql -X -q -v ON_ERROR_STOP=1 -d $db -c 'CREATE EXTENSION jobspy_core' \
     -c "SELECT jobspy.create_user('lock@example.com', 'lock password 1')" >/dev/null

echo "1..5"
. ./tap.bash
state() {  # SQLSTATE of a login, or ok
    local out
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d $db \
          -c "SELECT count(*) FROM jobspy.login('lock@example.com', '$1')" 2>&1)
    if [ $? -eq 0 ]; then echo ok; else sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' <<<"$out" | head -1; fi
}

for i in 1 2 3 4 5; do s=$(state 'wrong password'); done
check "$s" 28P01 "fifth wrong password raises 28P01"
check "$(state 'lock password 1')" JS101 "then the right password is refused (JS101)"
psql -X -q -d $db -c 'SELECT count(*) FROM jobspy.maintain()' >/dev/null
check "$(psql -X -At -d $db -c "SELECT count(*) FROM jobspy.audit_logs a JOIN jobspy.users u ON a.resource_id = u.id::text
                               WHERE u.email = 'lock@example.com' AND a.new_values->>'locked_until' IS NOT NULL")" 1 "maintenance recorded the lock, audited"
cluster_restart "$JOBSPY_TEST_CLUSTER"
check "$(state 'lock password 1')" JS101 "the lock outlives a restart"
psql -X -q -d $db -c "SELECT jobspy.unlock_user(id) FROM jobspy.users WHERE email = 'lock@example.com'" >/dev/null
check "$(state 'lock password 1')" ok "unlock_user lifts it"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db"
