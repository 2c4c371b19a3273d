#!/usr/bin/env bash
# Two databases of one cluster never share rate-limit state: a key is the
# database's own (as pg_stat_statements keys by dbid), the views and resets
# see only their own database's keys, and the state file saved at a clean
# shutdown keeps each key's database.  A state file of the older format
# (version 1, keys without a database) is ignored: every key starts full.
. ../../tools/lib.sh
. ./tap.bash
echo "1..10"
for d in jobspy_rl_db_a jobspy_rl_db_b; do
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d" 2>/dev/null
    psql -X -q -v ON_ERROR_STOP=1 -d $d -c "CREATE EXTENSION jobspy_core" \
         -c "ALTER DATABASE $d SET jobspy.clock_override = '2030-09-01 00:00:00+00'"
done
in_a() { db=jobspy_rl_db_a q "$1"; }
in_b() { db=jobspy_rl_db_b q "$1"; }
take() { echo "SELECT allowed FROM jobspy.rate_limit('$1', 0, 1, '1 hour', 1)"; }

check "$(in_a "$(take shared-key)")" t "database A admits its first call on a key"
check "$(in_b "$(take shared-key)")" t "database B admits the same key: A's call is not B's"
check "$(in_a "$(take shared-key)")" f "A's second call on the key is refused"
in_a "$(take only-a)" >/dev/null
check "$(in_b "SELECT string_agg(key || ':' || allowed || '/' || denied, ',' ORDER BY key)
                 FROM jobspy.rate_limit_keys WHERE key IS NOT NULL")" "shared-key:1/0" \
      "B's rate_limit_keys lists only B's keys, with B's counters"
check "$(in_b "SELECT jobspy.rate_limit_reset('only-a')")" f "B cannot reset a key only A tracks"
in_b "SELECT jobspy.rate_limit_reset('shared-key')" >/dev/null
check "$(in_a "$(take shared-key)")" f "B's reset of its own key leaves A's refusing"
in_b "SET ROLE jobspy_admin; SELECT jobspy.rate_limit_stats_reset()" >/dev/null
check "$(in_a "SELECT allowed || '/' || denied FROM jobspy.rate_limit_keys WHERE key = 'shared-key'")" "1/2" \
      "B's stats reset leaves A's counters alone"

# A clean restart: the saved file keeps every key's database.
in_a "$(take restart-key)" >/dev/null
cluster_restart "$JOBSPY_TEST_CLUSTER"
wait_ready
check "$(in_b "$(take restart-key)") $(in_a "$(take restart-key)")" "t f" \
      "after a clean restart A's saved key is A's only (B admits, A refuses)"
check "$(in_b "SELECT count(*) FROM jobspy.rate_limit_keys WHERE key IN ('only-a', 'shared-key')")" 0 \
      "after a restart B still sees none of A's keys"

# A file of format version 1 (written by 0.2.0) is ignored with a LOG line.
cluster_stop "$JOBSPY_TEST_CLUSTER"
file=$JOBSPY_TEST_CLUSTER/data/pg_stat/jobspy_ratelimit.stat
printf '\001\000\000\000' | dd of="$file" bs=1 seek=4 conv=notrunc status=none
cluster_start "$JOBSPY_TEST_CLUSTER"
wait_ready
logged=$(grep -c 'ignoring rate-limit state file .* of format version 1' "$JOBSPY_TEST_CLUSTER/server.log" || true)
check "$(in_a "$(take restart-key)") $logged" "t 1" "a version 1 state file is ignored (logged once): A's key starts full"
for d in jobspy_rl_db_a jobspy_rl_db_b; do psql -X -q -d postgres -c "DROP DATABASE $d"; done
