-- Without shared_preload_libraries logins still work; failed logins are not
-- counted, so nothing locks.
SET jobspy.password_memory_kib = 64;
SET jobspy.password_iterations = 1;
SELECT jobspy.library_preloaded() AS preloaded;
SELECT jobspy.create_user('np@example.com', 'np password 1') IS NOT NULL AS created;
SELECT * FROM jobspy.login('np@example.com', 'wrong password');
SELECT * FROM jobspy.login('np@example.com', 'wrong password');
SELECT * FROM jobspy.login('np@example.com', 'wrong password');
SELECT * FROM jobspy.login('np@example.com', 'wrong password');
SELECT * FROM jobspy.login('np@example.com', 'wrong password');
SELECT * FROM jobspy.login('np@example.com', 'wrong password');
CREATE TEMP TABLE s AS SELECT * FROM jobspy.login('np@example.com', 'np password 1');
SELECT jobspy.session_user_id(session_token) = user_id AS session_works FROM s;
SELECT jobspy.login_locked_until(user_id) AS locked_until FROM s;
SELECT count(*) AS locks FROM jobspy.login_locks();
SELECT action FROM jobspy.maintain_identity();
