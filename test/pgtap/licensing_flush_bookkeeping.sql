-- A flush of the validation counters is bookkeeping: it moves the counters
-- but not updated_at, and writes no audit row; a real change moves both.
BEGIN;
SELECT plan(7);

SET jobspy.clock_override = '2031-03-01 10:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('00000000-0000-4000-8000-00000000f0f0', 'flush@licensing.test');
CREATE TEMP TABLE fb AS
SELECT * FROM jobspy.issue_license('00000000-0000-4000-8000-00000000f0f0', 'pro');
SELECT code FROM fb, jobspy.validate_license(license_key, 'fp');
SELECT code FROM fb, jobspy.validate_license(license_key, 'fp');

SET jobspy.clock_override = '2031-03-01 11:00:00+00';
CREATE TEMP TABLE audit_before AS SELECT count(*) AS n FROM jobspy.audit_logs WHERE resource_type = 'licenses';
SELECT cmp_ok(jobspy.flush_license_validations(), '>=', 1::bigint, 'the flush wrote the licence');
SELECT is((SELECT validation_count FROM jobspy.licenses l JOIN fb ON fb.license_id = l.id), 2::bigint,
          'the counters moved');
SELECT is((SELECT updated_at FROM jobspy.licenses l JOIN fb ON fb.license_id = l.id),
          '2031-03-01 10:00:00+00'::timestamptz, 'updated_at did not');
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_type = 'licenses'),
          (SELECT n FROM audit_before), 'no audit row for the flush');

SELECT jobspy.suspend_license(license_id) FROM fb;
SELECT is((SELECT updated_at FROM jobspy.licenses l JOIN fb ON fb.license_id = l.id),
          '2031-03-01 11:00:00+00'::timestamptz, 'a suspension moves updated_at');

-- A day's flushed count never goes down: a flush that took its counts
-- before another flush wrote a larger count for the same day (it waited on
-- the row) keeps the larger one.
SELECT jobspy.reinstate_license(license_id) FROM fb;
SELECT code FROM fb, jobspy.validate_license(license_key, 'fp');
UPDATE jobspy.licenses l SET validation_day = '2031-03-01', validations_on_day = 7
  FROM fb WHERE l.id = fb.license_id;
SELECT cmp_ok(jobspy.flush_license_validations(), '>=', 1::bigint, 'a flush with a smaller count of the day');
SELECT is((SELECT validations_on_day FROM jobspy.licenses l JOIN fb ON fb.license_id = l.id), 7,
          'the larger count of the day stays');

SELECT * FROM finish();
ROLLBACK;
