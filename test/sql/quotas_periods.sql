-- Quota periods: midnight in the user's time zone for days and weeks, the
-- billing anchor for months when there is a subscription, else the
-- calendar month in the user's zone; resets_at says when.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';
SELECT jobspy.create_plan('p_daily', 'Daily') IS NOT NULL AS made;
SELECT jobspy.set_plan_quota('p_daily', 'posts', 'day', 3);
SELECT jobspy.set_plan_quota('p_daily', 'reports', 'week', 2);
SELECT jobspy.set_plan_quota('p_daily', 'tokens', 'month', 100);
SELECT jobspy.set_plan_quota('p_daily', 'exports', 'year', 10);
SELECT jobspy.set_plan_quota('p_daily', 'signups', 'lifetime', 1);
SELECT jobspy.create_plan('professional', 'Professional') IS NOT NULL AS made;
SELECT jobspy.set_plan_quota('professional', 'tokens', 'month', 1000);
SELECT jobspy.set_plan_quota('professional', 'exports', 'year', 50);

INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('c0000000-0000-4000-8000-000000000001', 'ny@example.com', 'America/New_York'),
    ('c0000000-0000-4000-8000-000000000002', 'tokyo@example.com', 'Asia/Tokyo'),
    ('c0000000-0000-4000-8000-000000000003', 'billed@example.com', 'UTC');
SELECT jobspy.set_user_plan(id, 'p_daily') FROM jobspy.users WHERE id::text LIKE 'c0000000%' ORDER BY id;

-- New York, 2030-03-09 23:30 local (04:30 UTC on the 10th): the day began
-- at local midnight (05:00 UTC, EST) and ends at the next one.
SET jobspy.clock_override = '2030-03-10 04:30:00+00';
SELECT allowed, used, remaining, period_start, resets_at
  FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'posts', 3);
SELECT allowed, used, remaining FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'posts');
-- Half an hour later it is a new day there, of 23 hours: clocks spring
-- forward that night, so it resets at 04:00 UTC.
SET jobspy.clock_override = '2030-03-10 05:00:00+00';
SELECT allowed, used, remaining, period_start, resets_at
  FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000001', 'posts');
-- Weeks start on Monday at local midnight.
SELECT period_start, resets_at FROM jobspy.quota_status('c0000000-0000-4000-8000-000000000001', 'reports');

-- Tokyo: the calendar month and year in the user's zone.
SET jobspy.clock_override = '2030-03-31 16:00:00+00';  -- 2030-04-01 01:00 in Tokyo
SELECT metric, period_start, resets_at
  FROM unnest(ARRAY['tokens', 'exports', 'signups']) AS metric,
       jobspy.quota_status('c0000000-0000-4000-8000-000000000002', metric);

-- A subscription anchors months (and years) on its billing period; an
-- anchor on the 31st gives short months their last day.
INSERT INTO jobspy.subscriptions (user_id, plan_type, plan_interval, status, current_period_start, current_period_end)
VALUES ('c0000000-0000-4000-8000-000000000003', 'professional', 'month', 'active',
        '2030-01-31 10:00:00+00', '2030-02-28 10:00:00+00');
SET jobspy.clock_override = '2030-02-10 00:00:00+00';
SELECT allowed, used, quota_limit, period_start, resets_at
  FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000003', 'tokens', 600);
SET jobspy.clock_override = '2030-02-28 09:59:59+00';
SELECT allowed, used, quota_limit, period_start, resets_at
  FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000003', 'tokens', 600);
SET jobspy.clock_override = '2030-02-28 10:00:00+00';
SELECT allowed, used, quota_limit, period_start, resets_at
  FROM jobspy.consume_quota('c0000000-0000-4000-8000-000000000003', 'tokens', 600);
-- Months go on from the anchor even when the stored period is stale.
SET jobspy.clock_override = '2030-05-01 00:00:00+00';
SELECT period_start, resets_at FROM jobspy.quota_status('c0000000-0000-4000-8000-000000000003', 'tokens');
SELECT period_start, resets_at FROM jobspy.quota_status('c0000000-0000-4000-8000-000000000003', 'exports');

-- The counters behind these answers.
SELECT u.email, c.metric, c.period, c.period_start, c.period_end, c.used, c.reserved
  FROM jobspy.quota_counters c JOIN jobspy.users u ON u.id = c.user_id
 WHERE u.id::text LIKE 'c0000000%'
 ORDER BY u.email, c.metric, c.period_start;

RESET jobspy.clock_override;
DELETE FROM jobspy.users WHERE id::text LIKE 'c0000000%';
DELETE FROM jobspy.plans WHERE code IN ('p_daily', 'professional');
