#!/usr/bin/env bash
# Privileges: log in as a role granted each tier (and one granted none) and
# prove what each can and cannot do; then row-level security for a role that
# queries the identity tables directly.
set -uo pipefail
db=jobspy_identity_roles
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -d postgres -c "ALTER DATABASE $db SET jobspy.password_memory_kib = 64" \
     -c "ALTER DATABASE $db SET jobspy.password_iterations = 1"
psql -X -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE EXTENSION jobspy_core;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'idt_app') THEN CREATE ROLE idt_app LOGIN IN ROLE jobspy_app; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'idt_analyst') THEN CREATE ROLE idt_analyst LOGIN IN ROLE jobspy_analyst; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'idt_admin') THEN CREATE ROLE idt_admin LOGIN IN ROLE jobspy_admin; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'idt_nobody') THEN CREATE ROLE idt_nobody LOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'idt_enduser') THEN CREATE ROLE idt_enduser LOGIN; END IF;
END $$;
-- A deployment that lets end users read their own rows directly.
GRANT USAGE ON SCHEMA jobspy TO idt_enduser;
GRANT SELECT (id, email, first_name) ON jobspy.users TO idt_enduser;
GRANT SELECT (user_id, id, expires_at, revoked_at) ON jobspy.user_sessions TO idt_enduser;
GRANT SELECT ON jobspy.organizations, jobspy.organization_members TO idt_enduser;
GRANT EXECUTE ON FUNCTION jobspy.current_row_user() TO idt_enduser;
SET jobspy.password_memory_kib = 64;
SET jobspy.password_iterations = 1;
SELECT jobspy.create_user('ann@example.com', 'ann password 1');
SELECT jobspy.create_user('ben@example.com', 'ben password 1');
SELECT jobspy.create_organization('Ann Co', (SELECT id FROM jobspy.users WHERE email = 'ann@example.com'));
SQL
ann=$(psql -X -At -d $db -c "SELECT id FROM jobspy.users WHERE email = 'ann@example.com'")

echo "1..36"
n=0
# as ROLE SQL WANT: WANT is "ok" (runs) or a SQLSTATE it must fail with.
as() {
    local role=$1 sql=$2 want=$3 desc=$4 out state
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -U "$role" -d $db -c "$sql" 2>&1)
    if [ $? -eq 0 ]; then state=ok; else state=$(sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' <<<"$out" | head -1); fi
    n=$((n + 1))
    if [ "$state" = "$want" ]; then echo "ok $n - $role: $desc"; else echo "not ok $n - $role: $desc (got '$state', want '$want': $out)"; fi
}
# is ROLE SQL VALUE
is() {
    local out
    out=$(psql -X -q -At -U "$1" -d $db -c "$2" 2>&1)
    n=$((n + 1))
    if [ "$out" = "$3" ]; then echo "ok $n - $1: $4"; else echo "not ok $n - $1: $4 (got '$out', want '$3')"; fi
}

as idt_app "SELECT jobspy.create_user('cid@example.com', 'cid password 1')" ok "creates a user"
as idt_app "SELECT user_id FROM jobspy.login('ann@example.com', 'ann password 1')" ok "logs in"
as idt_app "SELECT jobspy.issue_password_reset('ann@example.com')" ok "issues a reset token"
as idt_app "SELECT jobspy.hash_password('some password')" ok "hashes a password"
as idt_app "SELECT password_hash FROM jobspy.users" 42501 "cannot read password hashes"
as idt_app "SELECT count(*) FROM jobspy.users" 42501 "cannot read the users table"
as idt_app "SELECT session_token_hash FROM jobspy.user_sessions" 42501 "cannot read session hashes"
as idt_app "INSERT INTO jobspy.users (email) VALUES ('x@example.com')" 42501 "cannot insert users directly"
as idt_app "UPDATE jobspy.users SET status = 'active'" 42501 "cannot update users directly"
as idt_app "DELETE FROM jobspy.organization_members" 42501 "cannot delete members directly"
as idt_app "SELECT * FROM jobspy.hash_keys" 42501 "cannot read hash keys"
as idt_app "SELECT jobspy.secret_hash('session', 'x')" 42501 "cannot compute keyed hashes"
as idt_app "SELECT jobspy.login_failures_clear('$ann')" 42501 "cannot clear failed logins"
as idt_app "SELECT jobspy.unlock_user('$ann')" 42501 "cannot unlock accounts"
as idt_analyst "SELECT count(*) FROM jobspy.user_analytics" ok "reads the analytics views"
as idt_analyst "SELECT count(*) FROM jobspy.users" 42501 "cannot read the users table"
as idt_analyst "SELECT jobspy.create_user('dan@example.com', 'dan password 1')" 42501 "cannot call the API"
as idt_admin "SELECT count(email) FROM jobspy.users" ok "reads users"
as idt_admin "SELECT password_hash FROM jobspy.users" 42501 "cannot read password hashes"
as idt_admin "SELECT jobspy.unlock_user('$ann')" ok "unlocks accounts"
as idt_nobody "SELECT jobspy.create_user('eve@example.com', 'eve password 1')" 42501 "PUBLIC cannot call the API"
as idt_nobody "SELECT jobspy.hash_password('eve password 1')" 42501 "PUBLIC cannot hash"
is postgres "SELECT count(*) FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
              WHERE p.pronamespace = 'jobspy'::regnamespace AND a.grantee = 0" 0 "no function of schema jobspy is executable by PUBLIC"
is postgres "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'jobspy'::regnamespace AND p.prosecdef
              AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)" 0 "every SECURITY DEFINER function pins search_path"

# consume_quota is not SECURITY DEFINER: it switches to the tables' owner
# in C and pins search_path for the SQL of its slow paths.  A caller whose
# search_path puts its own = (uuid, uuid) first never gets it run there.
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
SELECT jobspy.create_plan('idt_plan', 'Plan');
SELECT jobspy.set_plan_quota('idt_plan', 'calls', 'day', 100);
SELECT jobspy.set_user_plan('$ann', 'idt_plan');
CREATE SCHEMA idt_evil AUTHORIZATION idt_app;
SQL
psql -X -q -v ON_ERROR_STOP=1 -U idt_app -d $db >/dev/null <<'SQL'
CREATE FUNCTION idt_evil.uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql
    AS $$BEGIN RAISE EXCEPTION 'hijacked' USING ERRCODE = 'XX666'; END$$;
CREATE OPERATOR idt_evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = idt_evil.uuid_eq);
SQL
evil="SET search_path = idt_evil, pg_catalog;"
as idt_app "$evil SELECT '$ann'::uuid = '$ann'::uuid" XX666 "its own = (uuid, uuid) is the one its own SQL uses"
as idt_app "$evil SELECT allowed FROM jobspy.consume_quota('$ann', 'calls')" ok "consume_quota, first use of the period (SQL path)"
as idt_app "$evil SELECT allowed FROM jobspy.consume_quota('$ann', 'calls')" ok "consume_quota, the hot path"
as idt_app "$evil BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT allowed FROM jobspy.consume_quota('$ann', 'calls'); COMMIT" ok \
    "consume_quota under REPEATABLE READ (its SQL UPDATE)"
as idt_app "$evil SELECT allowed FROM jobspy.consume_quota('$ann', 'calls', 1, 'idt-key')" ok "consume_quota with a key (SQL path)"
is postgres "SELECT used FROM jobspy.quota_counters WHERE user_id = '$ann' AND metric = 'calls'" 4 "all four consumptions were counted"

# Row-level security.
is idt_enduser "SELECT count(*) FROM jobspy.users" 0 "without jobspy.user_id sees no user"
is idt_enduser "SET jobspy.user_id = '$ann'; SELECT string_agg(email, ',') FROM jobspy.users" ann@example.com "sees only its own user row"
is idt_enduser "SET jobspy.user_id = '$ann'; SELECT count(*) FROM jobspy.user_sessions WHERE user_id <> '$ann'" 0 "sees no one else's sessions"
is idt_enduser "SET jobspy.user_id = '$ann'; SELECT count(*) FROM jobspy.organizations" 1 "sees its own organization"
as idt_enduser "SET jobspy.user_id = 'not-a-uuid'" 22023 "jobspy.user_id must be a uuid"
is idt_app "SET jobspy.user_id = '$ann'; SELECT count(*) FROM jobspy.login('ben@example.com', 'ben password 1')" 1 "the API is unaffected by the policies"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db"
