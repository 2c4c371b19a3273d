# test/shell/tap.bash: helpers the shell tests source (not a test itself).

# check GOT WANT NAME: one TAP line, numbered.
n=0
check() { n=$((n + 1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3 (got '$1', want '$2')"; fi; }

# q SQL: one statement on the test's database $db, output unaligned, without
# headers; an error stops the statement (and shows on stderr).
q() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

# wait_ready: wait (up to 30 s) until the test cluster accepts connections
# again, after a restart or a crash; false when it does not.
wait_ready() {
    for _ in $(seq 1 60); do psql -X -Atq -d postgres -c 'SELECT 1' >/dev/null 2>&1 && return 0; sleep 0.5; done
    return 1
}

# restart_with [NAME=VALUE]: restart the test cluster with a server setting
# (none: as configured) and wait for it.
restart_with() {
    cluster_restart "$JOBSPY_TEST_CLUSTER" ${1:+"-c $1"}
    wait_ready
}

# licences_db N PREFIX: a new database $db with the extension and table
# public.k of N licences (column g numbers them), each of its own user.
licences_db() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
CREATE TABLE public.k AS
SELECT g, l.* FROM generate_series(1, $1) g,
       LATERAL jobspy.issue_license(jobspy.create_user(format('$2%s@licensing.test', g)), 'pro') l;
SQL
}

# A connection held open beside the test's own, to see what one backend
# keeps between statements: session_open DB starts it (errors come as one
# line), say SQL sends a statement that prints nothing, a SQL prints the one
# line of output of a statement, session_close ends it.  A coprocess is not
# reachable from a pipeline's subshell: capture a's output before piping it.
session_open() { coproc SA { psql -X -q -At -v VERBOSITY=terse -d "$1" 2>&1; }; }
say() { echo "$1" >&"${SA[1]}"; }
a() {
    local line=""
    echo "$1" >&"${SA[1]}"
    IFS= read -r -t 30 line <&"${SA[0]}"
    echo "$line"
}
session_close() {
    local pid=$SA_PID
    eval "exec ${SA[1]}>&-"
    wait "$pid" 2>/dev/null
}
