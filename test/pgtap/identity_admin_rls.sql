-- jobspy_admin reads the identity tables (but for their secret columns), as it
-- read users and sessions in 0.1.0: row-level security, meant for end users'
-- own connections, must not hide every row from it.  A role that queries
-- directly still sees only the rows of the user named by jobspy.user_id.
BEGIN;
SELECT plan(9);
SET LOCAL jobspy.password_memory_kib = 64;
SET LOCAL jobspy.password_iterations = 1;

CREATE TEMP TABLE ids AS
SELECT jobspy.create_user('rls.admin.a@example.com', 'password one') AS a,
       jobspy.create_user('rls.admin.b@example.com', 'password two') AS b;
GRANT SELECT ON ids TO PUBLIC;
SELECT count(*) FROM ids, jobspy.login('rls.admin.a@example.com', 'password one') l;
SELECT count(*) FROM ids, jobspy.login('rls.admin.b@example.com', 'password two') l;
SELECT jobspy.issue_email_verification(a) FROM ids;
SELECT jobspy.issue_password_reset('rls.admin.b@example.com');
SELECT jobspy.create_organization('RLS Admin Org', a, 'rls-admin-org') FROM ids;

SET LOCAL ROLE jobspy_admin;
SELECT is((SELECT count(*) FROM jobspy.users WHERE email LIKE 'rls.admin.%'), 2::bigint,
          'the admin sees every user');
SELECT is((SELECT count(*) FROM jobspy.user_sessions s, ids WHERE s.user_id IN (ids.a, ids.b)), 2::bigint,
          'the admin sees every session');
SELECT is((SELECT count(*) FROM jobspy.email_verification_tokens t, ids WHERE t.user_id = ids.a), 1::bigint,
          'the admin sees verification tokens');
SELECT is((SELECT count(*) FROM jobspy.password_reset_tokens t, ids WHERE t.user_id = ids.b), 1::bigint,
          'the admin sees reset tokens');
SELECT is((SELECT count(*) FROM jobspy.organizations WHERE slug = 'rls-admin-org'), 1::bigint,
          'the admin sees organizations');
SELECT is((SELECT count(*) FROM jobspy.organization_members m, ids WHERE m.user_id = ids.a), 1::bigint,
          'the admin sees members');
SELECT throws_ok($$SELECT password_hash FROM jobspy.users$$, '42501', NULL,
                 'the admin still cannot read password hashes');
RESET ROLE;

-- A direct-query role (seed 003's deployment) sees its own user only.
CREATE ROLE rls_admin_enduser NOLOGIN;
GRANT USAGE ON SCHEMA jobspy TO rls_admin_enduser;
GRANT EXECUTE ON FUNCTION jobspy.current_row_user() TO rls_admin_enduser;
GRANT SELECT (id, email) ON jobspy.users TO rls_admin_enduser;
SELECT set_config('jobspy.user_id', a::text, true) FROM ids;
SET LOCAL ROLE rls_admin_enduser;
SELECT is((SELECT count(*) FROM jobspy.users), 1::bigint, 'an end user''s role sees one user');
SELECT is((SELECT email FROM jobspy.users), 'rls.admin.a@example.com', 'its own');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
