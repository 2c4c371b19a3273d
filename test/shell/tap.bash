# test/shell/tap.bash: helpers the shell tests source (not a test itself).

# check GOT WANT NAME: one TAP line, numbered.
n=0
check() { n=$((n + 1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3 (got '$1', want '$2')"; fi; }

# q SQL: one statement on the test's database $db, output unaligned, without
# headers; an error stops the statement (and shows on stderr).
q() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$db" -c "$1"; }

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
