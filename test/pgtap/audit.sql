-- The updated_at and audit triggers.
BEGIN;
SELECT plan(23);

SET LOCAL jobspy.clock_override = '2030-05-06 07:08:09+00';
INSERT INTO jobspy.users (id, email, first_name) VALUES ('11111111-1111-4111-8111-111111111111', 'audit@example.com', 'Ann');

SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'INSERT'
             AND resource_id = '11111111-1111-4111-8111-111111111111'), 1::bigint, 'an insert writes one audit row');
SELECT is((SELECT new_values ->> 'email' FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'INSERT'),
          'audit@example.com', 'the insert''s new values hold the row');
SELECT is((SELECT old_values FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'INSERT'),
          NULL, 'an insert has no old values');
SELECT is((SELECT created_at FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'INSERT'),
          '2030-05-06 07:08:09+00'::timestamptz, 'audit time comes from jobspy.now()');
SELECT is((SELECT actor_id FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'INSERT'),
          NULL, 'no actor when jobspy.actor_id is unset');

SET LOCAL jobspy.clock_override = '2030-05-07 00:00:00+00';
SET LOCAL jobspy.actor_id = '22222222-2222-4222-8222-222222222222';
UPDATE jobspy.users SET first_name = 'Anne', password_hash = '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g'
 WHERE id = '11111111-1111-4111-8111-111111111111';
SELECT is((SELECT updated_at FROM jobspy.users WHERE id = '11111111-1111-4111-8111-111111111111'),
          '2030-05-07 00:00:00+00'::timestamptz, 'updated_at follows jobspy.now() on update');
SELECT is((SELECT old_values FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'UPDATE'),
          '{"first_name": "Ann"}'::jsonb, 'an update logs only the changed columns (old)');
SELECT is((SELECT new_values FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'UPDATE'),
          '{"first_name": "Anne"}'::jsonb, 'an update logs only the changed columns (new), secrets left out');
SELECT is((SELECT actor_id FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'UPDATE'),
          '22222222-2222-4222-8222-222222222222'::uuid, 'the actor comes from jobspy.actor_id');

UPDATE jobspy.users SET password_hash = '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$b3RoZXJoYXNo'
 WHERE id = '11111111-1111-4111-8111-111111111111';
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'UPDATE'
             AND old_values = '{}' AND new_values = '{}'), 1::bigint,
          'a change of a secret column alone is logged without its values');
UPDATE jobspy.users SET first_name = first_name WHERE id = '11111111-1111-4111-8111-111111111111';
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'UPDATE'), 2::bigint,
          'an update that changes nothing is not logged');
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE (old_values::text || new_values::text) LIKE '%argon2id%'),
          0::bigint, 'no password hash reaches the audit log');

DELETE FROM jobspy.users WHERE id = '11111111-1111-4111-8111-111111111111';
SELECT is((SELECT old_values ->> 'first_name' FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'DELETE'),
          'Anne', 'a delete logs the old row');
SELECT ok((SELECT NOT (old_values ? 'password_hash') FROM jobspy.audit_logs WHERE resource_type = 'users' AND action = 'DELETE'),
          'a delete leaves the password hash out');

-- Config changes are audited with their key as the row id.
SELECT jobspy.config_set('retention.api_usage', '"6 months"');
SELECT is((SELECT resource_id FROM jobspy.audit_logs WHERE resource_type = 'system_config'), 'retention.api_usage',
          'a configuration change is audited under its key');

-- Misuse of the trigger functions is refused.
CREATE TEMP TABLE t (id int, updated_at timestamptz);
CREATE TRIGGER t_bad BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
SELECT throws_ok($$INSERT INTO t VALUES (1, now())$$, '39P01', NULL, 'set_updated_at() refuses to fire on insert');
CREATE TEMP TABLE t2 (id int);
CREATE TRIGGER t2_bad BEFORE UPDATE ON t2 FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
INSERT INTO t2 VALUES (1);
SELECT throws_ok($$UPDATE t2 SET id = 2$$, '42703', NULL, 'set_updated_at() needs an updated_at column');

-- A restore is recognised explicitly: a superuser session of pg_restore, or
-- one with jobspy.restoring on.  check_function_bodies says nothing: a
-- superuser who turns it off is audited, and so is any other role that
-- calls itself pg_restore.
CREATE ROLE jobspy_audit_probe NOLOGIN;
GRANT USAGE ON SCHEMA jobspy TO jobspy_audit_probe;
GRANT INSERT, UPDATE ON jobspy.system_config TO jobspy_audit_probe;
GRANT EXECUTE ON FUNCTION jobspy.now() TO jobspy_audit_probe;
SET LOCAL check_function_bodies = off;
INSERT INTO jobspy.system_config (key, value) VALUES ('probe.no_bodies', '1');
SET LOCAL check_function_bodies = on;
SET LOCAL application_name = 'pg_restore';
SET LOCAL ROLE jobspy_audit_probe;
INSERT INTO jobspy.system_config (key, value) VALUES ('probe.by_role', '1');
RESET ROLE;
INSERT INTO jobspy.system_config (key, value) VALUES ('probe.by_restore', '1');
SET LOCAL application_name = 'probe';
SET LOCAL jobspy.restoring = on;
INSERT INTO jobspy.system_config (key, value) VALUES ('probe.by_setting', '1');
SET LOCAL jobspy.restoring = off;
INSERT INTO jobspy.system_config (key, value) VALUES ('probe.after', '1');
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_id = 'probe.no_bodies'), 1::bigint,
          'a superuser session with check_function_bodies off is audited');
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_id = 'probe.by_role'), 1::bigint,
          'a non-superuser calling itself pg_restore is still audited');
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_id = 'probe.by_restore'), 0::bigint,
          'a superuser pg_restore session is not audited');
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_id = 'probe.by_setting'), 0::bigint,
          'a session with jobspy.restoring on is not audited');
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_id = 'probe.after'), 1::bigint,
          'with jobspy.restoring off again the session is audited');
SET LOCAL ROLE jobspy_audit_probe;
SELECT throws_ok($$SET jobspy.restoring = on$$, '42501', NULL,
                 'only a superuser may declare a restore');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
