#!/usr/bin/env bash
# A full store: keys whose bucket is full again are evicted first, so an
# active key's answer never changes; with only active keys left,
# jobspy.ratelimit_when_full decides (open, closed, error).  Runs on the
# smallest store (1024 keys, 32 per partition), then restores the default.
. ../../tools/lib.sh
db=jobspy_rl_store
echo "1..10"
cluster_restart "$JOBSPY_TEST_CLUSTER" "-c jobspy.ratelimit_max_keys=1024"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION jobspy_core"
clock='2030-08-01 00:00:00+00'
q() { psql -X -Atq -d $db -c "SET jobspy.clock_override = '$clock'" -c "SET jobspy.ratelimit_when_full = '${mode:-closed}'" -c "$1" 2>&1 || true; }
# burst N of keys named PREFIX<n>, one unit each: "admitted/refused"
burst() { q "SELECT count(*) FILTER (WHERE r.allowed) || '/' || count(*) FILTER (WHERE NOT r.allowed)
              FROM generate_series(1, $2) n, LATERAL jobspy.rate_limit('$1' || n, 0, 1, '$3') r"; }
q "SELECT jobspy.rate_limit_reset(key) FROM jobspy.rate_limit_keys WHERE key IS NOT NULL" >/dev/null

got=$(q "SELECT max_keys || '/' || bytes_per_key FROM jobspy.rate_limit_store()")
bpk=${got#*/}
[ "${got%/*}" = "1024" ] && [ "$bpk" -le 128 ] && echo "ok 1 - the smallest store (1024 keys) takes $bpk bytes per key, at most 128" \
    || echo "not ok 1 - store is $got (max_keys/bytes_per_key)"

# One long-lived active key, refused on its second call.
q "SELECT allowed FROM jobspy.rate_limit('keep', 0, 1, '10 hours')" >/dev/null
# 2000 keys that are full again after one second: the store fills up and,
# closed, refuses the keys it cannot hold.
got=$(mode=closed burst short: 2000 '1 second')
adm=${got%/*}; ref=${got#*/}
[ "$ref" -gt 0 ] && [ "$adm" -le 1023 ] && echo "ok 2 - closed: a full store refuses new keys ($got admitted/refused)" \
    || echo "not ok 2 - closed: admitted/refused = $got"
got=$(mode=closed q "SELECT retry_after_ms FROM generate_series(1, 2000) n, LATERAL jobspy.rate_limit('more:' || n, 0, 1, '1 second') r WHERE NOT r.allowed LIMIT 1")
[ "$got" = "1000" ] && echo "ok 3 - a refusal for want of space says when an entry frees (1000 ms)" || echo "not ok 3 - retry_after_ms = '$got'"
got=$(q "SELECT allowed FROM jobspy.rate_limit('keep', 0, 1, '10 hours')")
[ "$got" = "f" ] && echo "ok 4 - the active key still refuses" || echo "not ok 4 - keep answered '$got'"

# Two seconds later every short key is full again: they are evicted for new
# keys, and the active key is not.  (300 keys over 32 partitions of 32
# entries, hashed with a random seed: one overflows about once in 10^7 runs.)
clock='2030-08-01 00:00:02+00'
got=$(mode=closed burst fresh: 300 '1 hour')
[ "$got" = "300/0" ] && echo "ok 5 - keys that are full again are evicted for new ones (300/0)" || echo "not ok 5 - fresh keys admitted/refused = $got"
got=$(q "SELECT evictions > 0 FROM jobspy.rate_limit_store()")
[ "$got" = "t" ] && echo "ok 6 - evictions are counted" || echo "not ok 6 - evictions > 0 is '$got'"
got=$(q "SELECT allowed || '/' || denied FROM jobspy.rate_limit_keys WHERE key = 'keep'")
ans=$(q "SELECT allowed FROM jobspy.rate_limit('keep', 0, 1, '10 hours')")
[ "$ans" = "f" ] && [ "$got" = "1/1" ] && echo "ok 7 - eviction left the active key's state alone" || echo "not ok 7 - keep answered '$ans', counters $got"

# Only active keys now (after 2000 more hour-long ones): open admits as if fresh.
mode=open burst long: 2000 '1 hour' >/dev/null
got=$(mode=open burst open: 200 '1 hour')
full=$(q "SELECT active_keys || '/' || full_allowed FROM jobspy.rate_limit_store()")
[ "$got" = "200/0" ] && [ "${full#*/}" -gt 0 ] && echo "ok 8 - open: a store of active keys admits new keys untracked ($full active/admitted untracked)" \
    || echo "not ok 8 - open: admitted/refused = $got, store $full"
got=$(psql -X -Atq -d $db -v VERBOSITY=sqlstate -c "SET jobspy.clock_override = '$clock'" -c "SET jobspy.ratelimit_when_full = 'error'" \
      -c "SELECT count(*) FROM generate_series(1, 200) n, LATERAL jobspy.rate_limit('error:' || n, 0, 1, '1 hour') r" 2>&1 || true)
[[ "$got" == *JS301* ]] && echo "ok 9 - error: a full store raises JS301" || echo "not ok 9 - error mode gave '$got'"

# Back to the default size: the saved keys come back in the bigger store.
cluster_restart "$JOBSPY_TEST_CLUSTER" "-c jobspy.ratelimit_max_keys=100000"
got=$(q "SELECT max_keys || '/' || (tracked_keys > 1000) FROM jobspy.rate_limit_store()")
ans=$(q "SELECT allowed FROM jobspy.rate_limit('keep', 0, 1, '10 hours')")
[ "$got" = "100000/true" ] && [ "$ans" = "f" ] && echo "ok 10 - a restart into a bigger store keeps the saved keys" \
    || echo "not ok 10 - after resizing: $got (max_keys/tracked > 1000), keep answered '$ans'"
q "SELECT jobspy.rate_limit_reset(key) FROM jobspy.rate_limit_keys WHERE key IS NOT NULL" >/dev/null
psql -X -q -d postgres -c "DROP DATABASE $db"
