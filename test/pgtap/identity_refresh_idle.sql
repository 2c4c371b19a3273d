-- A session unused for longer than identity.session_idle_timeout has ended:
-- its refresh token cannot revive it (28P01), as its session token no longer
-- names a user.  Within the limit, refresh works.
BEGIN;
SELECT plan(5);
SET LOCAL jobspy.password_memory_kib = 64;
SET LOCAL jobspy.password_iterations = 1;
SET LOCAL jobspy.clock_override = '2030-03-01 00:00:00+00';
SELECT jobspy.create_user('idle.refresh@example.com', 'idle password');

CREATE TEMP TABLE s1 AS SELECT * FROM jobspy.login('idle.refresh@example.com', 'idle password');
CREATE TEMP TABLE s2 AS SELECT * FROM jobspy.login('idle.refresh@example.com', 'idle password');

-- Six days later (the default idle limit is seven): s1 refreshes.
SET LOCAL jobspy.clock_override = '2030-03-07 00:00:00+00';
CREATE TEMP TABLE s1b AS SELECT * FROM jobspy.refresh_session((SELECT refresh_token FROM s1));
SELECT is((SELECT count(*) FROM s1b), 1::bigint, 'within the idle limit a session refreshes');
SELECT is(jobspy.session_user_id((SELECT session_token FROM s1b)), (SELECT user_id FROM s1),
          'and its new token names the user');

-- Eight days after login, s2 was never used: it has ended.
SET LOCAL jobspy.clock_override = '2030-03-09 00:00:00+00';
SELECT is(jobspy.session_user_id((SELECT session_token FROM s2)), NULL, 'the idle session no longer names a user');
SELECT throws_ok($$SELECT * FROM jobspy.refresh_session((SELECT refresh_token FROM s2))$$, '28P01', NULL,
                 'and its refresh token cannot revive it');
SELECT is((SELECT count(*) FROM jobspy.user_sessions s
            WHERE s.user_id = (SELECT user_id FROM s2) AND s.revoked_at IS NULL
              AND s.last_activity_at >= '2030-03-09 00:00:00+00'), 0::bigint,
          'no new session was opened');

SELECT * FROM finish();
ROLLBACK;
