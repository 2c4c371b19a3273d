-- Bad input at every identity function: NULLs, empty and overlong strings,
-- malformed emails and time zones, SQL metacharacters, non-ASCII.  Each
-- gives a clear SQLSTATE (or the documented NULL), and no row is written.
BEGIN;
SELECT plan(67);
SET LOCAL jobspy.password_memory_kib = 64;
SET LOCAL jobspy.password_iterations = 1;
SET LOCAL jobspy.clock_override = '2030-01-01 00:00:00+00';

CREATE TEMP TABLE u AS SELECT jobspy.create_user('zoe@example.com', 'zoe password 1', 'Zoë', 'Łukasiewicz') AS id;
CREATE TEMP TABLE o AS SELECT jobspy.create_organization('Zoë Co', (SELECT id FROM u), 'zoe-co') AS id;
CREATE TEMP VIEW counts AS
SELECT (SELECT count(*) FROM jobspy.users) AS users, (SELECT count(*) FROM jobspy.user_sessions) AS sessions,
       (SELECT count(*) FROM jobspy.email_verification_tokens) AS ev, (SELECT count(*) FROM jobspy.password_reset_tokens) AS pr,
       (SELECT count(*) FROM jobspy.organizations) AS orgs, (SELECT count(*) FROM jobspy.organization_members) AS members;
CREATE TEMP TABLE before AS SELECT * FROM counts;

-- create_user
SELECT throws_ok($$SELECT jobspy.create_user(NULL, 'good password')$$, '22004', 'email must not be null', 'create_user: NULL email');
SELECT throws_ok($$SELECT jobspy.create_user('', 'good password')$$, '22023', 'email address is not valid', 'create_user: empty email');
SELECT throws_ok($$SELECT jobspy.create_user('   ', 'good password')$$, '22023', NULL, 'create_user: blank email');
SELECT throws_ok($$SELECT jobspy.create_user(repeat('a', 250) || '@example.com', 'good password')$$, '22023', NULL, 'create_user: overlong email');
SELECT throws_ok($$SELECT jobspy.create_user('a@' || repeat('b', 70) || '.com', 'good password')$$, '22023', NULL, 'create_user: overlong domain label');
SELECT throws_ok($$SELECT jobspy.create_user('no-at-sign.example.com', 'good password')$$, '22023', NULL, 'create_user: no @');
SELECT throws_ok($$SELECT jobspy.create_user('a@@example.com', 'good password')$$, '22023', NULL, 'create_user: two @');
SELECT throws_ok($$SELECT jobspy.create_user('a@example', 'good password')$$, '22023', NULL, 'create_user: no top-level domain');
SELECT throws_ok($$SELECT jobspy.create_user('a..b@example.com', 'good password')$$, '22023', NULL, 'create_user: double dot');
SELECT throws_ok($$SELECT jobspy.create_user('a b@example.com', 'good password')$$, '22023', NULL, 'create_user: space inside');
SELECT throws_ok($$SELECT jobspy.create_user('x''; DROP TABLE jobspy.users; --@example.com', 'good password')$$, '22023', NULL, 'create_user: SQL metacharacters');
SELECT throws_ok($$SELECT jobspy.create_user('jürgen@exämple.com', 'good password')$$, '22023', NULL, 'create_user: non-ASCII address');
SELECT throws_ok($$SELECT jobspy.create_user(E'a\tb@example.com', 'good password')$$, '22023', NULL, 'create_user: control character inside');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', '')$$, '22023', 'password must be from 8 to 1024 bytes long', 'create_user: empty password');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', repeat('p', 1025))$$, '22023', NULL, 'create_user: overlong password');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', timezone => NULL)$$, '22023', 'time zone is not known', 'create_user: NULL time zone');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', timezone => '')$$, '22023', NULL, 'create_user: empty time zone');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', timezone => 'Europe/Berlin''; --')$$, '22023', NULL, 'create_user: time zone with metacharacters');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', timezone => 'Europe/Zürich')$$, '22023', NULL, 'create_user: non-ASCII time zone');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', timezone => repeat('x', 10000))$$, '22023', NULL, 'create_user: overlong time zone');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', first_name => '')$$, '22023', NULL, 'create_user: empty first name');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', last_name => repeat('x', 101))$$, '22023', NULL, 'create_user: overlong last name');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', phone => 'call me')$$, '22023', NULL, 'create_user: malformed phone');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', country_code => 'de')$$, '22023', NULL, 'create_user: lower-case country');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', language => 'english')$$, '22023', NULL, 'create_user: malformed language');
SELECT throws_ok($$SELECT jobspy.create_user('new@example.com', 'good password', language => NULL)$$, '22023', NULL, 'create_user: NULL language');

-- passwords
SELECT is(jobspy.hash_password(NULL), NULL, 'hash_password: NULL gives NULL');
SELECT throws_ok($$SELECT jobspy.hash_password('')$$, '22023', NULL, 'hash_password: empty');
SELECT ok(jobspy.verify_password('pässwörd ✓✓', jobspy.hash_password('pässwörd ✓✓')), 'hash_password: non-ASCII password round-trips');
SELECT is(jobspy.verify_password(NULL, 'x'), NULL, 'verify_password: NULL gives NULL');
SELECT ok(NOT jobspy.verify_password('good password', repeat('$', 200)), 'verify_password: garbage hash is false');
SELECT ok(NOT jobspy.verify_password(repeat('p', 5000), (SELECT password_hash FROM jobspy.users WHERE id = (SELECT id FROM u))), 'verify_password: overlong password is false');

-- login
SELECT throws_ok($$SELECT * FROM jobspy.login(NULL, 'good password')$$, '22004', NULL, 'login: NULL email');
SELECT throws_ok($$SELECT * FROM jobspy.login('zoe@example.com', NULL)$$, '22004', NULL, 'login: NULL password');
SELECT throws_ok($$SELECT * FROM jobspy.login('', 'good password')$$, '22023', NULL, 'login: empty email');
SELECT throws_ok($$SELECT * FROM jobspy.login(''' OR 1=1 --', 'good password')$$, '22023', NULL, 'login: SQL metacharacters');
SELECT throws_ok($$SELECT * FROM jobspy.login('zoe@example.com', '')$$, '28P01', 'invalid email or password', 'login: empty password');
SELECT throws_ok($$SELECT * FROM jobspy.login('zoe@example.com', repeat('p', 100000))$$, '28P01', 'invalid email or password', 'login: overlong password');

-- sessions
SELECT is(jobspy.session_user_id(NULL), NULL, 'session_user_id: NULL');
SELECT is(jobspy.session_user_id(''), NULL, 'session_user_id: empty');
SELECT is(jobspy.session_user_id(repeat('x', 100000)), NULL, 'session_user_id: overlong');
SELECT is(jobspy.session_user_id('ünïcødé'' OR ''1''=''1'), NULL, 'session_user_id: metacharacters, non-ASCII');
SELECT throws_ok($$SELECT * FROM jobspy.refresh_session(NULL)$$, '28P01', NULL, 'refresh_session: NULL');
SELECT throws_ok($$SELECT * FROM jobspy.refresh_session('')$$, '28P01', NULL, 'refresh_session: empty');
SELECT throws_ok($$SELECT * FROM jobspy.refresh_session('ünï'';--')$$, '28P01', NULL, 'refresh_session: garbage');
SELECT lives_ok($$SELECT jobspy.revoke_session(NULL); SELECT jobspy.revoke_session(''); SELECT jobspy.revoke_all_sessions(NULL)$$, 'revoke: NULL and empty do nothing');

-- one-time tokens
SELECT is(jobspy.issue_email_verification(NULL), NULL, 'issue_email_verification: NULL');
SELECT throws_ok($$SELECT jobspy.issue_email_verification('00000000-0000-0000-0000-000000000000')$$, '22023', NULL, 'issue_email_verification: unknown user');
SELECT is(jobspy.verify_email(NULL), NULL, 'verify_email: NULL');
SELECT throws_ok($$SELECT jobspy.verify_email('')$$, 'JS103', NULL, 'verify_email: empty');
SELECT throws_ok($$SELECT jobspy.verify_email(repeat('ü', 10000))$$, 'JS103', NULL, 'verify_email: overlong non-ASCII');
SELECT throws_ok($$SELECT jobspy.issue_password_reset('')$$, '22023', NULL, 'issue_password_reset: empty');
SELECT throws_ok($$SELECT jobspy.issue_password_reset('zöe@example.com')$$, '22023', NULL, 'issue_password_reset: non-ASCII');
SELECT throws_ok($$SELECT jobspy.reset_password(NULL, 'good password')$$, '22004', NULL, 'reset_password: NULL token');
SELECT throws_ok($$SELECT jobspy.reset_password('x', NULL)$$, '22004', NULL, 'reset_password: NULL password');
SELECT throws_ok($$SELECT jobspy.reset_password(''';--', 'good password')$$, 'JS103', NULL, 'reset_password: garbage token');
SELECT throws_ok($$SELECT jobspy.reset_password(jobspy.issue_password_reset('zoe@example.com'), 'short')$$, '22023', NULL, 'reset_password: short password, token not spent');

-- organizations
SELECT throws_ok($$SELECT jobspy.create_organization(NULL, (SELECT id FROM u))$$, '22023', NULL, 'create_organization: NULL name');
SELECT throws_ok($$SELECT jobspy.create_organization('  ', (SELECT id FROM u))$$, '22023', NULL, 'create_organization: blank name');
SELECT throws_ok($$SELECT jobspy.create_organization(repeat('n', 201), (SELECT id FROM u))$$, '22023', NULL, 'create_organization: overlong name');
SELECT throws_ok($$SELECT jobspy.create_organization('Acme', NULL)$$, '22023', NULL, 'create_organization: NULL owner');
SELECT throws_ok($$SELECT jobspy.create_organization('Acme', (SELECT id FROM u), 'Bad Slug!; --')$$, '22023', NULL, 'create_organization: malformed slug');
SELECT throws_ok($$SELECT jobspy.create_organization('Acme', (SELECT id FROM u), 'zoe-co')$$, '23505', NULL, 'create_organization: slug taken');
SELECT throws_ok($$SELECT jobspy.add_organization_member((SELECT id FROM o), (SELECT id FROM u), 'root')$$, '22023', NULL, 'add_organization_member: unknown role');
SELECT throws_ok($$SELECT jobspy.add_organization_member((SELECT id FROM o), '00000000-0000-0000-0000-000000000000', 'member')$$, '22023', NULL, 'add_organization_member: unknown user');
SELECT throws_ok($$SELECT jobspy.remove_organization_member((SELECT id FROM o), '00000000-0000-0000-0000-000000000000')$$, '22023', NULL, 'remove_organization_member: not a member');

SELECT is((SELECT row(c.*)::text FROM counts c), (SELECT row(b.*)::text FROM before b), 'no row was written by any bad call');

SELECT * FROM finish();
ROLLBACK;
