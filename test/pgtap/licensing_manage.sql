-- Managing licences: issue_license's checks, suspend / reinstate / revoke /
-- renew, machines, the audit trail, flushing the validation counters,
-- check_license_rate_limit, maintain(), and who may call what.
BEGIN;
SELECT plan(117);
SET LOCAL jobspy.clock_override = '2030-04-01 12:00:00+00';
-- Every failure in the log: jobspy_app's failure below is checked there.
SET LOCAL jobspy.licensing_failure_log_every = 1;
SET LOCAL jobspy.licensing_failure_log_per_second = 0;

CREATE TEMP TABLE u AS SELECT jobspy.create_user('lic.manage@example.com') AS id;
CREATE TEMP TABLE lic (name text PRIMARY KEY, id uuid, key text);
GRANT SELECT ON u, lic TO PUBLIC;
CREATE FUNCTION pg_temp.issue(name text, type text, expires timestamptz DEFAULT NULL, machines int DEFAULT 1,
                              per_day int DEFAULT 1000) RETURNS uuid LANGUAGE sql AS $$
    INSERT INTO lic SELECT name, l.* FROM u, jobspy.issue_license(u.id, type, expires, machines, '[]', per_day) l
    RETURNING id
$$;
CREATE FUNCTION pg_temp.lid(name text) RETURNS uuid LANGUAGE sql AS $$ SELECT id FROM lic WHERE lic.name = lid.name $$;
CREATE FUNCTION pg_temp.code(name text, fp text) RETURNS text LANGUAGE sql AS $$
    SELECT r.code FROM lic, jobspy.validate_license(lic.key, fp) r WHERE lic.name = code.name
$$;
CREATE FUNCTION pg_temp.status(name text) RETURNS text LANGUAGE sql AS $$
    SELECT l.status FROM jobspy.licenses l WHERE l.id = pg_temp.lid(name)
$$;
CREATE FUNCTION pg_temp.audits(rtype text, rid uuid, act text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM jobspy.audit_logs WHERE resource_type = rtype AND resource_id = rid::text AND action = act
$$;
-- The answer of a flush, or NULL (with a notice) when it raises: one
-- failing assertion instead of an aborted transaction.
CREATE FUNCTION pg_temp.try_flush() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    RETURN jobspy.flush_license_validations();
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'flush_license_validations raised %: %', SQLSTATE, SQLERRM;
    RETURN NULL;
END
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;

-- ---- flushing the counters (first: the only validations pending) ----------
SELECT pg_temp.issue('flush', 'pro', per_day => 10);
SELECT is(pg_temp.code('flush', 'fp-flush'), 'VALID', 'validation at 12:00 binds the machine');
SET LOCAL jobspy.clock_override = '2030-04-01 12:05:00+00';
SELECT is(pg_temp.code('flush', 'fp-flush'), 'VALID', 'validation at 12:05');
SET LOCAL jobspy.clock_override = '2030-04-01 12:10:00+00';
SELECT is(pg_temp.code('flush', 'fp-flush'), 'VALID', 'validation at 12:10');
SELECT is((SELECT row(validation_count, last_validated_at, validation_day, validations_on_day)::text
             FROM jobspy.licenses WHERE id = pg_temp.lid('flush')), '(0,,,0)',
          'before a flush the table holds no count (they live in shared memory)');
SELECT is((SELECT last_seen_at FROM jobspy.license_machines WHERE license_id = pg_temp.lid('flush')),
          '2030-04-01 12:00:00+00'::timestamptz, 'the machine row says when it was bound');
CREATE TEMP TABLE audit_before AS SELECT count(*) AS n FROM jobspy.audit_logs;
SET LOCAL jobspy.clock_override = '2030-04-01 12:15:00+00';
SELECT is(pg_temp.try_flush(), 2::bigint, 'the flush updates one licence and one machine');
SELECT is((SELECT row(validation_count, last_validated_at, validation_day, validations_on_day)::text
             FROM jobspy.licenses WHERE id = pg_temp.lid('flush')),
          row(3, '2030-04-01 12:10:00+00'::timestamptz, '2030-04-01'::date, 3)::text,
          'validation_count, last_validated_at, validation_day and validations_on_day are exact');
SELECT is((SELECT last_seen_at FROM jobspy.license_machines WHERE license_id = pg_temp.lid('flush')),
          '2030-04-01 12:10:00+00'::timestamptz, 'license_machines.last_seen_at is the last validation');
SELECT is((SELECT count(*) FROM jobspy.audit_logs), (SELECT n FROM audit_before), 'a flush adds no audit row');
SELECT is(pg_temp.try_flush(), 0::bigint, 'a second flush writes nothing');
SELECT is((SELECT validation_count FROM jobspy.licenses WHERE id = pg_temp.lid('flush')), 3::bigint,
          'and the count is still 3');

-- check_license_rate_limit: true while today's count is below the maximum.
SELECT is(jobspy.check_license_rate_limit(pg_temp.lid('flush'), 4), true, 'count 3, maximum 4: true');
SELECT is(jobspy.check_license_rate_limit(pg_temp.lid('flush'), 3), false, 'count 3, maximum 3: false');
SELECT is(pg_temp.code('flush', 'fp-flush'), 'VALID', 'one more validation');
SELECT is(jobspy.check_license_rate_limit(pg_temp.lid('flush'), 4), false, 'count 4, maximum 4: false');
SELECT is(jobspy.check_license_rate_limit(pg_temp.lid('flush'), 5), true, 'count 4, maximum 5: true');
SELECT is(jobspy.check_license_rate_limit(pg_temp.lid('flush')), true, 'the default maximum is 1000');
SELECT pg_temp.issue('fresh', 'free');
SELECT is(jobspy.check_license_rate_limit(pg_temp.lid('fresh'), 1), true, 'a licence never validated: true at maximum 1');
SELECT is((SELECT validations_remaining FROM lic, jobspy.validate_license(lic.key, 'fp-flush') WHERE name = 'flush'),
          5, 'validate_license agrees: 5 of 10 left after the sixth');
SET LOCAL jobspy.clock_override = '2030-04-02 00:00:00+00';
SELECT is(jobspy.check_license_rate_limit(pg_temp.lid('flush'), 1), true, 'a new UTC day: true again');
SET LOCAL jobspy.clock_override = '2030-04-01 12:00:00+00';

-- ---- issue_license ------------------------------------------------------------
CREATE TEMP TABLE count_before AS SELECT count(*) AS n FROM jobspy.licenses;
SELECT throws_ok($$SELECT * FROM jobspy.issue_license(NULL, 'pro')$$, '22004', NULL, 'issue_license: NULL user');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, NULL)$$, '22004', NULL, 'issue_license: NULL type');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'gold')$$, '22023', NULL, 'issue_license: unknown type');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'PRO')$$, '22023', NULL, 'issue_license: type is case sensitive');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'pro', '2030-04-01 11:59:59+00')$$, '22023', NULL,
                 'issue_license: expiry in the past');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'pro', '2030-04-01 12:00:00+00')$$, '22023', NULL,
                 'issue_license: expiry now');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'pro', max_machines => 0)$$, '22023', NULL,
                 'issue_license: max_machines 0');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'pro', max_machines => 10001)$$, '22023', NULL,
                 'issue_license: max_machines 10001');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'pro', max_machines => NULL)$$, '22023', NULL,
                 'issue_license: max_machines NULL');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'pro', max_validations_per_day => 0)$$, '22023', NULL,
                 'issue_license: max_validations_per_day 0');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'pro', features => '{"a": 1}')$$, '22023', NULL,
                 'issue_license: features not an array');
SELECT throws_ok($$SELECT * FROM u, jobspy.issue_license(u.id, 'pro', metadata => '[]')$$, '22023', NULL,
                 'issue_license: metadata not an object');
SELECT throws_ok($$SELECT * FROM jobspy.issue_license(gen_random_uuid(), 'pro')$$, '22023', NULL, 'issue_license: unknown user');
SELECT is((SELECT count(*) FROM jobspy.licenses), (SELECT n FROM count_before), 'refused issues wrote nothing');

SELECT pg_temp.issue('main', 'enterprise', '2031-01-01 00:00:00+00', 3, 50);
SELECT matches((SELECT key FROM lic WHERE name = 'main'), '^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$',
               'the key is four groups of four');
SELECT ok(jobspy.license_key_is_valid((SELECT key FROM lic WHERE name = 'main')), 'and passes its checksum');
SELECT is((SELECT row(l.user_id = u.id, l.license_type, l.status, l.issued_at, l.expires_at, l.max_machines,
                      l.max_validations_per_day, l.features, l.metadata)::text
             FROM jobspy.licenses l, u WHERE l.id = pg_temp.lid('main')),
          row(true, 'enterprise', 'active', '2030-04-01 12:00:00+00'::timestamptz, '2031-01-01 00:00:00+00'::timestamptz,
              3, 50, '[]'::jsonb, '{}'::jsonb)::text, 'the licence row holds what was asked for');
SELECT is((SELECT license_key_hint FROM jobspy.licenses WHERE id = pg_temp.lid('main')),
          (SELECT right(key, 4) FROM lic WHERE name = 'main'), 'license_key_hint is the last four characters');
SELECT is((SELECT octet_length(license_key_hash) FROM jobspy.licenses WHERE id = pg_temp.lid('main')), 32,
          'license_key_hash has 32 bytes');
SELECT is((SELECT license_key_hash FROM jobspy.licenses WHERE id = pg_temp.lid('main')),
          (SELECT jobspy.secret_hash('license', key) FROM lic WHERE name = 'main'), 'it is the keyed hash of the key');
SELECT is(pg_temp.audits('licenses', pg_temp.lid('main'), 'INSERT'), 1::bigint, 'issuing is audited');
SELECT is((SELECT new_values ? 'license_key_hash' FROM jobspy.audit_logs
            WHERE resource_type = 'licenses' AND resource_id = pg_temp.lid('main')::text),
          false, 'the audit row leaves the hash out');
SELECT is((SELECT new_values ->> 'license_key_hint' FROM jobspy.audit_logs
            WHERE resource_type = 'licenses' AND resource_id = pg_temp.lid('main')::text),
          (SELECT right(key, 4) FROM lic WHERE name = 'main'), 'and keeps the hint');

-- ---- suspend, reinstate, revoke -----------------------------------------------
SELECT is(pg_temp.code('main', 'fp-main'), 'VALID', 'active: VALID');
SELECT lives_ok($$SELECT jobspy.suspend_license(pg_temp.lid('main'), 'chargeback')$$, 'suspend_license');
SELECT is((SELECT row(status, metadata ->> 'suspension_reason')::text FROM jobspy.licenses WHERE id = pg_temp.lid('main')),
          '(suspended,chargeback)', 'suspended, the reason kept');
SELECT is(pg_temp.code('main', 'fp-main'), 'SUSPENDED', 'suspended: SUSPENDED');
SELECT lives_ok($$SELECT jobspy.reinstate_license(pg_temp.lid('main'))$$, 'reinstate_license');
SELECT is((SELECT row(status, metadata ? 'suspension_reason')::text FROM jobspy.licenses WHERE id = pg_temp.lid('main')),
          '(active,f)', 'active again, the reason gone');
SELECT is(pg_temp.code('main', 'fp-main'), 'VALID', 'reinstated: VALID');
SELECT throws_ok($$SELECT jobspy.reinstate_license(pg_temp.lid('main'))$$, '55000', NULL,
                 'reinstate of an active licence: 55000');
SELECT lives_ok($$SELECT jobspy.revoke_license(pg_temp.lid('main'), 'fraud')$$, 'revoke_license');
SELECT is((SELECT row(status, metadata ->> 'revocation_reason')::text FROM jobspy.licenses WHERE id = pg_temp.lid('main')),
          '(revoked,fraud)', 'revoked, the reason kept');
SELECT is(pg_temp.code('main', 'fp-main'), 'REVOKED', 'revoked: REVOKED');
SELECT throws_ok($$SELECT jobspy.suspend_license(pg_temp.lid('main'))$$, 'JS201', NULL, 'revocation is final: suspend');
SELECT throws_ok($$SELECT jobspy.reinstate_license(pg_temp.lid('main'))$$, 'JS201', NULL, 'reinstate');
SELECT throws_ok($$SELECT jobspy.revoke_license(pg_temp.lid('main'))$$, 'JS201', NULL, 'revoke again');
SELECT throws_ok($$SELECT jobspy.renew_license(pg_temp.lid('main'), '2032-01-01')$$, 'JS201', NULL, 'renew');
SELECT throws_ok($$SELECT jobspy.activate_machine(pg_temp.lid('main'), 'fp-new')$$, 'JS201', NULL, 'activate_machine');
SELECT throws_ok($$SELECT jobspy.deactivate_machine(pg_temp.lid('main'), 'fp-main')$$, 'JS201', NULL, 'deactivate_machine');
SELECT is(pg_temp.status('main'), 'revoked', 'still revoked');
SELECT is((SELECT count(*) FROM jobspy.audit_logs
            WHERE resource_type = 'licenses' AND resource_id = pg_temp.lid('main')::text AND action = 'UPDATE'
              AND new_values ->> 'status' IS NOT NULL),
          3::bigint, 'suspend, reinstate and revoke: three audited status changes');
SELECT is((SELECT count(*) FROM jobspy.audit_logs
            WHERE resource_type = 'licenses' AND resource_id = pg_temp.lid('main')::text AND action = 'UPDATE'
              AND old_values ->> 'status' = 'suspended' AND new_values ->> 'status' = 'active'),
          1::bigint, 'the reinstatement is audited with old and new status');

-- Unknown and NULL licences.
SELECT throws_ok($$SELECT jobspy.suspend_license(gen_random_uuid())$$, '22023', NULL, 'suspend: unknown licence');
SELECT throws_ok($$SELECT jobspy.reinstate_license(gen_random_uuid())$$, '22023', NULL, 'reinstate: unknown licence');
SELECT throws_ok($$SELECT jobspy.revoke_license(gen_random_uuid())$$, '22023', NULL, 'revoke: unknown licence');
SELECT throws_ok($$SELECT jobspy.renew_license(gen_random_uuid(), '2032-01-01')$$, '22023', NULL, 'renew: unknown licence');
SELECT throws_ok($$SELECT jobspy.activate_machine(gen_random_uuid(), 'fp')$$, '22023', NULL, 'activate: unknown licence');
SELECT throws_ok($$SELECT jobspy.deactivate_machine(gen_random_uuid(), 'fp')$$, '22023', NULL, 'deactivate: unknown licence');
SELECT throws_ok($$SELECT jobspy.suspend_license(NULL)$$, '22004', NULL, 'suspend: NULL licence');
SELECT throws_ok($$SELECT jobspy.reinstate_license(NULL)$$, '22004', NULL, 'reinstate: NULL licence');
SELECT throws_ok($$SELECT jobspy.revoke_license(NULL)$$, '22004', NULL, 'revoke: NULL licence');
SELECT throws_ok($$SELECT jobspy.renew_license(NULL, '2032-01-01')$$, '22004', NULL, 'renew: NULL licence');

-- ---- renew ---------------------------------------------------------------------
SELECT pg_temp.issue('renew', 'pro', '2030-04-02 00:00:00+00');
SET LOCAL jobspy.clock_override = '2030-04-03 00:00:00+00';
SELECT is(pg_temp.code('renew', 'fp-renew'), 'EXPIRED', 'past its expiry: EXPIRED');
UPDATE jobspy.licenses SET status = 'expired' WHERE id = pg_temp.lid('renew');
SELECT throws_ok($$SELECT jobspy.renew_license(pg_temp.lid('renew'), '2030-04-02 23:00:00+00')$$, '22023', NULL,
                 'renew: an expiry in the past');
SELECT lives_ok($$SELECT jobspy.renew_license(pg_temp.lid('renew'), '2030-05-01 00:00:00+00')$$, 'renew_license');
SELECT is((SELECT row(status, expires_at)::text FROM jobspy.licenses WHERE id = pg_temp.lid('renew')),
          row('active', '2030-05-01 00:00:00+00'::timestamptz)::text, 'renewing an expired licence makes it active');
SELECT is((SELECT row(valid, code, expires_at)::text FROM lic, jobspy.validate_license(lic.key, 'fp-renew') WHERE name = 'renew'),
          row(true, 'VALID', '2030-05-01 00:00:00+00'::timestamptz)::text, 'and VALID again, with the new expiry');
SELECT is(pg_temp.audits('licenses', pg_temp.lid('renew'), 'UPDATE'), 2::bigint,
          'the expiry by hand and the renewal are both audited');
SELECT jobspy.suspend_license(pg_temp.lid('renew'));
SELECT jobspy.renew_license(pg_temp.lid('renew'), NULL);
SELECT is((SELECT row(status, expires_at)::text FROM jobspy.licenses WHERE id = pg_temp.lid('renew')), '(suspended,)',
          'renewing a suspended licence keeps the suspension; NULL: never expires');
SET LOCAL jobspy.clock_override = '2030-04-01 12:00:00+00';

-- ---- machines --------------------------------------------------------------------
SELECT pg_temp.issue('seats', 'pro', machines => 2);
CREATE TEMP TABLE m1 AS SELECT jobspy.activate_machine(pg_temp.lid('seats'), 'fp-1', 'Laptop', 'Linux', '1.0') AS id;
SELECT isnt((SELECT id FROM m1), NULL, 'activate_machine returns the machine id');
SELECT is(jobspy.activate_machine(pg_temp.lid('seats'), 'fp-1'), (SELECT id FROM m1), 'activating again: the same id');
SELECT is(jobspy.activate_machine(pg_temp.lid('seats'), 'fp-1', 'Desk'), (SELECT id FROM m1), 'and with new details');
SELECT is((SELECT row(count(*), min(device_name), min(os), min(app_version))::text FROM jobspy.license_machines
            WHERE license_id = pg_temp.lid('seats')), '(1,Desk,Linux,1.0)',
          'one row; the new device name kept, the unspecified details left as they were');
SELECT is(pg_temp.audits('license_machines', (SELECT id FROM m1), 'INSERT'), 1::bigint, 'the activation is audited');
SELECT is(pg_temp.audits('license_machines', (SELECT id FROM m1), 'UPDATE'), 1::bigint,
          'the change of details is audited; the repeat without changes is not');
SELECT lives_ok($$SELECT jobspy.activate_machine(pg_temp.lid('seats'), 'fp-2')$$, 'the second seat');
SELECT throws_ok($$SELECT jobspy.activate_machine(pg_temp.lid('seats'), 'fp-3')$$, 'JS202', NULL, 'no seat left: JS202');
SELECT throws_ok($$SELECT jobspy.activate_machine(pg_temp.lid('seats'), '')$$, '22023', NULL, 'an empty fingerprint: 22023');
SELECT throws_ok($$SELECT jobspy.activate_machine(pg_temp.lid('seats'), 'fp-4', repeat('d', 256))$$, '22023', NULL,
                 'an overlong device name: 22023');
SELECT is(pg_temp.code('seats', 'fp-3'), 'TOO_MANY_MACHINES', 'validation agrees: TOO_MANY_MACHINES');
SELECT is(jobspy.deactivate_machine(pg_temp.lid('seats'), 'fp-1'), true, 'deactivate_machine frees a seat');
SELECT is(jobspy.deactivate_machine(pg_temp.lid('seats'), 'fp-1'), false, 'again: false');
SELECT is(pg_temp.audits('license_machines', (SELECT id FROM m1), 'DELETE'), 1::bigint, 'the deactivation is audited');
SELECT is(pg_temp.code('seats', 'fp-3'), 'VALID', 'the freed seat is taken by a new machine on validation');
SELECT is((SELECT count(*) FROM jobspy.audit_logs a JOIN jobspy.license_machines m ON a.resource_id = m.id::text
            WHERE a.resource_type = 'license_machines' AND a.action = 'INSERT' AND m.fingerprint = 'fp-3'
              AND m.license_id = pg_temp.lid('seats')), 1::bigint, 'a machine bound by validation is audited too');
SELECT is(pg_temp.code('seats', 'fp-1'), 'TOO_MANY_MACHINES', 'the deactivated machine has no seat any more');
SELECT is((SELECT array_agg(fingerprint ORDER BY fingerprint) FROM jobspy.license_machines
            WHERE license_id = pg_temp.lid('seats')), '{fp-2,fp-3}', 'the machines are fp-2 and fp-3');

-- ---- maintain() ----------------------------------------------------------------------
SELECT pg_temp.issue('lapse', 'free', '2030-04-10 00:00:00+00');
SET LOCAL jobspy.clock_override = '2030-04-10 00:00:00+00';
SELECT is(pg_temp.status('lapse'), 'active', 'at its expiry the row still says active');
SELECT lives_ok($$SELECT count(*) FROM jobspy.maintain()$$, 'maintain() runs (after a flush in the same transaction)');
SELECT is(pg_temp.status('lapse'), 'expired', 'maintain() marks a licence past its expiry expired');
SELECT is(pg_temp.status('seats'), 'active', 'and leaves a licence without expiry alone');
SET LOCAL jobspy.clock_override = '2030-04-01 12:00:00+00';

-- ---- privileges ---------------------------------------------------------------------
CREATE ROLE lic_manage_nobody NOLOGIN;
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.validate_license(text, text, text)', 'EXECUTE'),
          'jobspy_app may validate');
SELECT ok(NOT has_function_privilege('lic_manage_nobody', 'jobspy.validate_license(text, text, text)', 'EXECUTE'),
          'PUBLIC may not');
SELECT ok(NOT has_function_privilege('jobspy_app', 'jobspy.suspend_license(uuid, text)', 'EXECUTE'),
          'jobspy_app may not suspend');
SELECT ok(NOT has_function_privilege('jobspy_app', 'jobspy.flush_license_validations()', 'EXECUTE'),
          'jobspy_app may not flush');
SELECT ok(has_function_privilege('jobspy_admin', 'jobspy.suspend_license(uuid, text)', 'EXECUTE')
          AND has_function_privilege('jobspy_admin', 'jobspy.flush_license_validations()', 'EXECUTE'),
          'jobspy_admin may suspend and flush');
SELECT ok(NOT has_table_privilege('jobspy_app', 'jobspy.license_signing_keys', 'SELECT'),
          'jobspy_app may not read the signing keys');
SELECT ok(NOT has_column_privilege('jobspy_admin', 'jobspy.license_signing_keys', 'secret_key', 'SELECT'),
          'jobspy_admin may not read the secret keys');
SELECT pg_temp.issue('app', 'pro');
SET LOCAL ROLE jobspy_app;
SELECT is(pg_temp.code('app', 'fp-app'), 'VALID', 'as jobspy_app: validate_license answers VALID (and binds the machine)');
SELECT is(pg_temp.code('app', NULL), 'FINGERPRINT_REQUIRED', 'and logs a failure');
SELECT throws_ok($$SELECT jobspy.suspend_license(pg_temp.lid('app'))$$, '42501', NULL, 'as jobspy_app: suspend_license refused');
SELECT throws_ok($$SELECT jobspy.flush_license_validations()$$, '42501', NULL, 'as jobspy_app: flush refused');
SELECT throws_ok($$SELECT count(*) FROM jobspy.license_signing_keys$$, '42501', NULL,
                 'as jobspy_app: the signing keys cannot be read');
SELECT throws_ok($$SELECT jobspy.rotate_license_signing_key()$$, '42501', NULL, 'as jobspy_app: no key rotation');
RESET ROLE;
SELECT is((SELECT count(*) FROM jobspy.license_machines WHERE license_id = pg_temp.lid('app')), 1::bigint,
          'the machine jobspy_app''s validation bound is there');
SELECT is((SELECT count(*) FROM jobspy.license_validations WHERE license_id = pg_temp.lid('app')
              AND result = 'FINGERPRINT_REQUIRED'), 1::bigint, 'so is the failure it logged');

SELECT * FROM finish();
ROLLBACK;
