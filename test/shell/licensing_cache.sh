#!/usr/bin/env bash
# The validation cache (src/license_cache.c), seen from one connection that
# keeps validating while others change what it cached; every committed
# change through the tables' triggers is seen by its very next validation,
# its own uncommitted changes are seen at once, and changes made without
# triggers are seen once jobspy.licensing_cache_seconds has passed.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_cache

echo "1..20"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE TABLE public.k AS
SELECT l.* FROM jobspy.issue_license(jobspy.create_user('cache@licensing.test'), 'pro', max_machines => 1) l;
SQL

session_open $db
validate="SELECT v.code FROM public.k, jobspy.validate_license(k.license_key, 'fp-a') v;"
pid1=$(a "SELECT pg_backend_pid();")
say "SET jobspy.licensing_cache_seconds = 5;"
check "$(a "$validate") $(a "$validate")" "VALID VALID" "A validates twice (the second from the cache)"

q "UPDATE jobspy.users SET status = 'suspended'" >/dev/null
check "$(a "$validate")" USER_SUSPENDED "another session suspends the user: A's next validation sees it"
q "UPDATE jobspy.users SET status = 'active'" >/dev/null
check "$(a "$validate")" VALID "the user is active again: VALID"

q "UPDATE jobspy.users SET last_login_at = now()" >/dev/null
check "$(a "$validate")" VALID "a change of a column validation does not read leaves the answer alone"

q "SELECT jobspy.deactivate_machine(license_id, 'fp-a') FROM public.k" >/dev/null
check "$(a "SELECT v.code FROM public.k, jobspy.validate_license(k.license_key, 'fp-b') v;")" VALID \
    "the machine A had cached was deactivated: a new machine takes the free seat"
check "$(a "$validate")" TOO_MANY_MACHINES "and A's old machine no longer has one"

say "BEGIN;"
a "SELECT jobspy.suspend_license(license_id) FROM public.k;" >/dev/null
check "$(a "SELECT v.code FROM public.k, jobspy.validate_license(k.license_key, 'fp-b') v;")" SUSPENDED \
    "A's own uncommitted suspension is seen by A at once"
say "ROLLBACK;"
check "$(a "SELECT v.code FROM public.k, jobspy.validate_license(k.license_key, 'fp-b') v;")" VALID \
    "rolled back: VALID again"

# Without triggers (as logical replication applies changes) the cache may
# answer from what it holds until its entries are 5 seconds old.
psql -X -Atq -d $db -c "SET session_replication_role = replica" \
    -c "UPDATE jobspy.licenses SET status = 'suspended'" >/dev/null
check "$(a "SELECT v.code FROM public.k, jobspy.validate_license(k.license_key, 'fp-b') v;")" VALID \
    "a change made without triggers is not seen at once (documented)"
sleep 5.2
check "$(a "SELECT v.code FROM public.k, jobspy.validate_license(k.license_key, 'fp-b') v;")" SUSPENDED \
    "it is seen once jobspy.licensing_cache_seconds has passed"

# The rate limiter's per-backend copy of a user's licence type follows the
# same generations, and the expiry of the licence it came from.
q "SELECT jobspy.set_rate_limit_rule('cache-free', '/api/*', 'free', 1000, 1000, 100),
          jobspy.set_rate_limit_rule('cache-pro', '/api/*', 'pro', 1000, 1000, 100)" >/dev/null
q "INSERT INTO jobspy.users (id, email) VALUES ('00000000-0000-4000-8000-00000000c0c0', 'rl@licensing.test')"
rule="SELECT split_part(rule, ':', 1) FROM jobspy.check_rate_limit('00000000-0000-4000-8000-00000000c0c0', '/api/x', 0);"
check "$(a "$rule") $(a "$rule")" "cache-free cache-free" "a user without a licence gets the free rules"
q "CREATE TABLE public.k2 AS SELECT * FROM jobspy.issue_license('00000000-0000-4000-8000-00000000c0c0', 'pro',
                                                               now() + interval '8 seconds')" >/dev/null
check "$(a "$rule")" cache-pro "another session issues a pro licence: the next check applies the pro rules"
q "SELECT jobspy.suspend_license(license_id) FROM public.k2" >/dev/null
check "$(a "$rule")" cache-free "the licence is suspended: free rules again"
q "SELECT jobspy.reinstate_license(license_id) FROM public.k2" >/dev/null
check "$(a "$rule")" cache-pro "reinstated: pro rules"
q "SELECT pg_sleep(greatest(0, extract(epoch FROM expires_at - now()) + 0.2)) FROM jobspy.licenses l
   JOIN public.k2 ON k2.license_id = l.id" >/dev/null
check "$(a "$rule")" cache-free "the licence expired (no write at all): free rules"

# A machine deactivated while A was inside a slow statement: the statement's
# snapshot still shows it, but the cache must not keep it afterwards.
q "CREATE TABLE public.k3 AS SELECT * FROM jobspy.issue_license(jobspy.create_user('slow@licensing.test'), 'pro', max_machines => 1)" >/dev/null
v3="SELECT v.code FROM public.k3, jobspy.validate_license(k3.license_key, 'fp-1') v;"
check "$(a "$v3") $(a "$v3")" "VALID VALID" "A validates machine fp-1 (cached)"
say "SELECT v.code FROM (SELECT pg_sleep(4)::text AS z) s, public.k3, LATERAL jobspy.validate_license(k3.license_key, 'fp-1' || s.z) v;"
sleep 0.4
q "SELECT jobspy.deactivate_machine(license_id, 'fp-1'), jobspy.activate_machine(license_id, 'fp-2') IS NOT NULL FROM public.k3" >/dev/null
IFS= read -r -t 30 slow <&"${SA[0]}"
check "$(a "$v3")" TOO_MANY_MACHINES \
    "fp-1, deactivated (and its seat taken) during A's slow statement (which answered $slow): not VALID from the cache afterwards"

# A hash key retired in another session: a licence found through it is gone.
q "CREATE TABLE public.k4 AS SELECT * FROM jobspy.issue_license(jobspy.create_user('rot@licensing.test'), 'pro')" >/dev/null
q "SELECT jobspy.rotate_hash_key()" >/dev/null
v4="SELECT v.code FROM public.k4, jobspy.validate_license(k4.license_key, 'fp-1') v;"
check "$(a "$v4") $(a "$v4")" "VALID VALID" "a licence hashed under the previous hash key validates (cached)"
q "SELECT jobspy.retire_hash_key(key_id) FROM jobspy.hash_keys WHERE state = 'verify'" >/dev/null
check "$(a "$v4")" NOT_FOUND "once that key is retired, A answers NOT_FOUND at once"

check "$(a "SELECT pg_backend_pid();")" "$pid1" "all on one connection"
session_close
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
