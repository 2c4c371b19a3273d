-- Identity: passwords, accounts, login and lockout, sessions, one-time tokens, organizations.
BEGIN;
SELECT plan(71);
SET LOCAL jobspy.password_memory_kib = 64;
SET LOCAL jobspy.password_iterations = 1;
SET LOCAL jobspy.clock_override = '2030-01-01 00:00:00+00';

-- Passwords.
SELECT alike(jobspy.hash_password('correct horse'), '$argon2id$v=19$m=64,t=1,p=1$%', 'hash is an Argon2id PHC string with the GUC cost');
SELECT ok(jobspy.hash_password('correct horse') <> jobspy.hash_password('correct horse'), 'each hash has its own salt');
SELECT ok(jobspy.verify_password('correct horse', jobspy.hash_password('correct horse')), 'right password verifies');
SELECT ok(NOT jobspy.verify_password('correct horsf', jobspy.hash_password('correct horse')), 'wrong password does not');
SELECT ok(NOT jobspy.verify_password('correct horse', 'not a hash'), 'a malformed hash verifies nothing');
SELECT ok(NOT jobspy.verify_password('correct horse', ''), 'an empty hash verifies nothing');
SELECT throws_ok($$SELECT jobspy.hash_password('short')$$, '22023', 'password must be from 8 to 1024 bytes long', 'too short a password');
SELECT throws_ok($$SELECT jobspy.hash_password(repeat('x', 1025))$$, '22023', NULL, 'too long a password');
SELECT ok(jobspy.password_needs_rehash('$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI'), 'a hash at other parameters needs re-hashing');
SELECT ok(NOT jobspy.password_needs_rehash(jobspy.hash_password('correct horse')), 'a hash at the current parameters does not');

-- Accounts.
SELECT isnt(jobspy.create_user('  Alice@Example.COM ', 'alice password', 'Alice', 'A', '+49 30 1234', 'DE', 'Europe/Berlin', 'de'), NULL, 'create_user returns an id');
SELECT is((SELECT email FROM jobspy.users WHERE email LIKE 'alice@%'), 'alice@example.com', 'email is trimmed and lower-cased');
SELECT throws_ok($$SELECT jobspy.create_user('ALICE@example.com', 'other password')$$, '23505', 'a user with this email address already exists', 'email unique without regard to case');
SELECT throws_ok($$SELECT jobspy.create_user('bob@example.com', 'bob password', timezone => 'Mars/Olympus')$$, '22023', 'time zone is not known', 'unknown time zone');
SELECT throws_ok($$SELECT jobspy.create_user('not an email', 'bob password')$$, '22023', 'email address is not valid', 'malformed email');
SELECT lives_ok($$SELECT jobspy.create_user('bob@example.com')$$, 'a user without a password');
SELECT is((SELECT password_hash FROM jobspy.users WHERE email = 'bob@example.com'), NULL, 'no password, no hash');

-- Login.
CREATE TEMP TABLE s1 AS SELECT * FROM jobspy.login('ALICE@example.com', 'alice password', '10.0.0.1', 'test agent');
SELECT is((SELECT user_id FROM s1), (SELECT id FROM jobspy.users WHERE email = 'alice@example.com'), 'login returns the user');
SELECT is((SELECT expires_at FROM s1), '2030-01-31 00:00:00+00'::timestamptz, 'session lasts identity.session_absolute_timeout');
SELECT ok((SELECT length(session_token) >= 43 AND session_token <> refresh_token FROM s1), 'two distinct random tokens');
SELECT is((SELECT count(*) FROM jobspy.user_sessions s, s1
            WHERE s.session_token_hash = jobspy.secret_hash('session', s1.session_token)), 1::bigint, 'session stored as a keyed hash');
SELECT is((SELECT count(*) FROM jobspy.user_sessions s, s1
            WHERE position(convert_to(s1.session_token, 'UTF8') IN s.session_token_hash) > 0
               OR s.user_agent LIKE '%' || s1.session_token || '%'), 0::bigint, 'token not stored as such');
SELECT throws_ok($$SELECT * FROM jobspy.login('alice@example.com', 'wrong password')$$, '28P01', 'invalid email or password', 'wrong password');
SELECT throws_ok($$SELECT * FROM jobspy.login('nobody@example.com', 'wrong password')$$, '28P01', 'invalid email or password', 'unknown email, same error');
SELECT throws_ok($$SELECT * FROM jobspy.login('bob@example.com', 'any password')$$, '28P01', 'invalid email or password', 'user without a password cannot log in');
SELECT is(jobspy.session_user_id((SELECT session_token FROM s1)), (SELECT user_id FROM s1), 'session_user_id finds the user');
SELECT is(jobspy.session_user_id('no such token'), NULL, 'unknown token: NULL');
SELECT is(jobspy.session_user_id((SELECT refresh_token FROM s1)), NULL, 'a refresh token is not a session token');

-- Lockout: five failures lock, even the right password is then refused.
CREATE TEMP TABLE carol AS SELECT jobspy.create_user('carol@example.com', 'carol password') AS id;
CREATE FUNCTION pg_temp.fail(e text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM * FROM jobspy.login(e, 'bad password');
    RETURN 'logged in';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
END $$;
SELECT is(pg_temp.fail('carol@example.com'), '28P01', 'failure 1');
SELECT is(pg_temp.fail('carol@example.com'), '28P01', 'failure 2');
SELECT is(pg_temp.fail('carol@example.com'), '28P01', 'failure 3');
SELECT is(pg_temp.fail('carol@example.com'), '28P01', 'failure 4');
SELECT is(jobspy.login_locked_until((SELECT id FROM carol)), NULL, 'not locked after 4 failures');
SELECT is(pg_temp.fail('carol@example.com'), '28P01', 'failure 5');
SELECT isnt(jobspy.login_locked_until((SELECT id FROM carol)), NULL, 'locked after 5 failures, though each raised');
SELECT throws_ok($$SELECT * FROM jobspy.login('carol@example.com', 'carol password')$$, 'JS101', NULL, 'locked: right password refused');
SELECT is((SELECT count(*) FROM jobspy.maintain_identity() WHERE action = 'lock accounts'), 1::bigint, 'maintain_identity records the lock');
SELECT isnt((SELECT locked_until FROM jobspy.users WHERE id = (SELECT id FROM carol)), NULL, 'users.locked_until set');
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_id = (SELECT id::text FROM carol) AND action = 'UPDATE' AND new_values->>'locked_until' IS NOT NULL), 1::bigint, 'lock audited');
SELECT jobspy.unlock_user((SELECT id FROM carol));
SELECT lives_ok($$SELECT * FROM jobspy.login('carol@example.com', 'carol password')$$, 'unlocked: login works');

-- Re-hash on login when the cost changed.
SET LOCAL jobspy.password_iterations = 2;
SELECT lives_ok($$SELECT * FROM jobspy.login('alice@example.com', 'alice password')$$, 'login at new cost');
SELECT alike((SELECT password_hash FROM jobspy.users WHERE email = 'alice@example.com'), '$argon2id$v=19$m=64,t=2,p=1$%', 'login re-hashed the password');
SET LOCAL jobspy.password_iterations = 1;

-- Refresh rotation and reuse.
CREATE TEMP TABLE s2 AS SELECT * FROM jobspy.refresh_session((SELECT refresh_token FROM s1));
SELECT ok((SELECT s2.session_token <> s1.session_token AND s2.expires_at = s1.expires_at FROM s1, s2), 'refresh gives new tokens, same expiry');
SELECT is(jobspy.session_user_id((SELECT session_token FROM s1)), NULL, 'old session ends on rotation');
SELECT is(jobspy.session_user_id((SELECT session_token FROM s2)), (SELECT user_id FROM s1), 'new session works');
SELECT is((SELECT count(*) FROM jobspy.refresh_session((SELECT refresh_token FROM s1))), 0::bigint, 'spent refresh token: no row');
SELECT is(jobspy.session_user_id((SELECT session_token FROM s2)), NULL, 'reuse revoked the whole family');
SELECT throws_ok($$SELECT * FROM jobspy.refresh_session((SELECT refresh_token FROM s2))$$, '28P01', 'refresh token is not valid', 'revoked family cannot refresh');

-- Expiry: idle and absolute.
CREATE TEMP TABLE s3 AS SELECT * FROM jobspy.login('alice@example.com', 'alice password');
SET LOCAL jobspy.clock_override = '2030-01-07 23:00:00+00';
SELECT is(jobspy.session_user_id((SELECT session_token FROM s3)), (SELECT user_id FROM s3), 'used within the idle limit');
SET LOCAL jobspy.clock_override = '2030-01-14 22:00:00+00';
SELECT is(jobspy.session_user_id((SELECT session_token FROM s3)), (SELECT user_id FROM s3), 'activity moved the idle limit');
SET LOCAL jobspy.clock_override = '2030-01-22 00:00:00+00';
SELECT is(jobspy.session_user_id((SELECT session_token FROM s3)), NULL, 'idle too long');
SET LOCAL jobspy.clock_override = '2030-01-01 00:00:00+00';
SELECT jobspy.revoke_session((SELECT session_token FROM s3));

-- Status.
CREATE TEMP TABLE s5 AS SELECT * FROM jobspy.login('carol@example.com', 'carol password');
SELECT jobspy.set_user_status((SELECT id FROM carol), 'suspended');
SELECT is(jobspy.session_user_id((SELECT session_token FROM s5)), NULL, 'suspending ends the sessions');
SELECT throws_ok($$SELECT * FROM jobspy.login('carol@example.com', 'carol password')$$, 'JS102', NULL, 'suspended: right password refused');
SELECT throws_ok($$SELECT jobspy.set_user_status((SELECT id FROM carol), 'banned')$$, '22023', NULL, 'unknown status');
SELECT jobspy.set_user_status((SELECT id FROM carol), 'active');
SELECT lives_ok($$SELECT * FROM jobspy.login('carol@example.com', 'carol password')$$, 'active again: login works');

-- Email verification.
CREATE TEMP TABLE ev AS SELECT jobspy.issue_email_verification((SELECT id FROM carol)) AS t;
SELECT is(jobspy.verify_email((SELECT t FROM ev)), (SELECT id FROM carol), 'verify_email returns the user');
SELECT ok((SELECT email_verified AND email_verified_at = '2030-01-01 00:00:00+00' FROM jobspy.users WHERE id = (SELECT id FROM carol)), 'address marked verified with its time');
SELECT throws_ok($$SELECT jobspy.verify_email((SELECT t FROM ev))$$, 'JS103', NULL, 'verification token is single use');

-- Password reset.
SELECT is(jobspy.issue_password_reset('nobody@example.com'), NULL, 'unknown email: NULL');
CREATE TEMP TABLE pr AS SELECT jobspy.issue_password_reset('Carol@Example.com') AS t;
CREATE TEMP TABLE s4 AS SELECT * FROM jobspy.login('carol@example.com', 'carol password');
SELECT throws_ok($$SELECT jobspy.reset_password((SELECT t FROM pr), 'short')$$, '22023', NULL, 'new password too short');
SELECT is(jobspy.reset_password((SELECT t FROM pr), 'new carol password'), (SELECT id FROM carol), 'reset returns the user');
SELECT is(jobspy.session_user_id((SELECT session_token FROM s4)), NULL, 'a reset ends the sessions');
SELECT lives_ok($$SELECT * FROM jobspy.login('carol@example.com', 'new carol password')$$, 'new password works');
SELECT throws_ok($$SELECT jobspy.reset_password((SELECT t FROM pr), 'another password')$$, 'JS103', NULL, 'reset token is single use');
CREATE TEMP TABLE pr2 AS SELECT jobspy.issue_password_reset('carol@example.com') AS t;
SET LOCAL jobspy.clock_override = '2030-01-01 01:00:01+00';
SELECT throws_ok($$SELECT jobspy.reset_password((SELECT t FROM pr2), 'another password')$$, 'JS103', NULL, 'reset token expires');
SET LOCAL jobspy.clock_override = '2030-01-01 00:00:00+00';

-- Organizations.
CREATE TEMP TABLE org AS SELECT jobspy.create_organization('Acme GmbH', (SELECT id FROM carol)) AS id;
SELECT is((SELECT role FROM jobspy.organization_members WHERE organization_id = (SELECT id FROM org)), 'owner', 'creator becomes owner');
SELECT throws_ok($$SELECT jobspy.remove_organization_member((SELECT id FROM org), (SELECT id FROM carol))$$, 'JS104', NULL, 'last owner cannot be removed');
SELECT throws_ok($$SELECT jobspy.set_organization_member_role((SELECT id FROM org), (SELECT id FROM carol), 'admin')$$, 'JS104', NULL, 'last owner cannot be demoted');
SELECT jobspy.add_organization_member((SELECT id FROM org), (SELECT id FROM jobspy.users WHERE email = 'alice@example.com'), 'owner');
SELECT lives_ok($$SELECT jobspy.set_organization_member_role((SELECT id FROM org), (SELECT id FROM carol), 'billing')$$, 'an owner can step down when another remains');
SELECT throws_ok($$SELECT jobspy.add_organization_member((SELECT id FROM org), (SELECT id FROM carol), 'member')$$, '23505', NULL, 'no member twice');
SELECT lives_ok($$DELETE FROM jobspy.organizations WHERE id = (SELECT id FROM org)$$, 'deleting the organization removes its owners too');

SELECT * FROM finish();
ROLLBACK;
