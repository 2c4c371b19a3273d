-- Several windows per metric (seed 003: posts per day and per month):
-- every window is checked, a denial takes from none and is answered with
-- the refusing window, quota_windows shows them all; reservations hold in
-- each; both the C path (no key) and the SQL path (a key) are exercised.
BEGIN;
SELECT plan(37);

SET LOCAL jobspy.clock_override = '2031-05-14 12:00:00+00';
INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('f2100000-0000-4000-8000-000000000001', 'w1@example.com', 'UTC'),
    ('f2100000-0000-4000-8000-000000000002', 'w2@example.com', 'UTC'),
    ('f2100000-0000-4000-8000-000000000003', 'w3@example.com', 'UTC');
SELECT jobspy.create_plan('w_social', 'Social');
SELECT jobspy.set_plan_quota('w_social', 'posts', 'day', 3);
SELECT jobspy.set_plan_quota('w_social', 'posts', 'month', 5);
SELECT jobspy.set_plan_quota('w_social', 'tokens', 'day', -1);
SELECT jobspy.set_plan_quota('w_social', 'tokens', 'month', 100);
SELECT jobspy.set_user_plan(u, 'w_social')
  FROM unnest('{f2100000-0000-4000-8000-000000000001,f2100000-0000-4000-8000-000000000002,f2100000-0000-4000-8000-000000000003}'::uuid[]) u;

-- The windows.
SELECT is((SELECT count(*) FROM jobspy.plan_quotas q JOIN jobspy.plans p ON p.id = q.plan_id
            WHERE p.code = 'w_social' AND q.metric = 'posts'), 2::bigint,
          'a second period adds a window beside the first');
SELECT jobspy.set_plan_quota('w_social', 'posts', 'month', 5);
SELECT is((SELECT count(*) FROM jobspy.plan_quotas q JOIN jobspy.plans p ON p.id = q.plan_id
            WHERE p.code = 'w_social' AND q.metric = 'posts'), 2::bigint,
          'setting a period again changes that window only');
SELECT is((SELECT string_agg(format('%s:%s:%s:%s', period, quota_limit, remaining, resets_at AT TIME ZONE 'UTC'), ' ')
             FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000001', 'posts')),
          'day:3:3:2031-05-15 00:00:00 month:5:5:2031-06-01 00:00:00', 'quota_windows shows every window');
SELECT is((SELECT string_agg(period, ',') FROM jobspy.quota_lookup_all('f2100000-0000-4000-8000-000000000001', 'posts', jobspy.now())),
          'day,month', 'windows are taken in the order of their period names');

-- Day 1: the day window binds.
SELECT is((SELECT row(allowed, used, quota_limit, remaining)::text
             FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000001', 'posts')),
          '(t,1,3,2)', 'a grant answers with the window with least room (the day)');
SELECT count(*) FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000001', 'posts', 2);
SELECT is((SELECT row(allowed, used, quota_limit, remaining, resets_at AT TIME ZONE 'UTC')::text
             FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000001', 'posts')),
          '(f,3,3,0,"2031-05-15 00:00:00")', 'the day window refuses and is the one named');
SELECT is((SELECT used FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000001', 'posts') WHERE period = 'month'),
          3::bigint, 'the day''s denial took nothing from the month');
SELECT is((SELECT row(allowed, used, quota_limit, remaining)::text
             FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000001', 'posts', 1, 'w-day-1')),
          '(f,3,3,0)', 'the SQL path (a key) refuses by the day too');
SELECT is((SELECT used FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000001', 'posts') WHERE period = 'month'),
          3::bigint, 'and takes nothing from the month either');
SELECT is((SELECT string_agg(detail ->> 'period', ',') FROM jobspy.usage_events
            WHERE user_id = 'f2100000-0000-4000-8000-000000000001' AND event_type = 'quota_exceeded'),
          'day,day', 'each denial is a usage event naming the refusing window');

-- Day 2: the day has room, the month runs out.
SET LOCAL jobspy.clock_override = '2031-05-15 12:00:00+00';
SELECT is((SELECT row(allowed, used, quota_limit, remaining, resets_at AT TIME ZONE 'UTC')::text
             FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000001', 'posts', 2)),
          '(t,5,5,0,"2031-06-01 00:00:00")', 'a new day: the month is now the window with least room');
SELECT is((SELECT row(allowed, used, quota_limit, remaining, resets_at AT TIME ZONE 'UTC')::text
             FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000001', 'posts')),
          '(f,5,5,0,"2031-06-01 00:00:00")', 'the month refuses though the day has room, and is named');
SELECT is((SELECT used FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000001', 'posts') WHERE period = 'day'),
          2::bigint, 'the month''s denial gave back what the day window took first (C path)');
SELECT is((SELECT allowed FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000001', 'posts', 1, 'w-month-1')),
          false, 'the SQL path refuses by the month too');
SELECT is((SELECT used FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000001', 'posts') WHERE period = 'day'),
          2::bigint, 'and gives back the day''s share as well (SQL path)');
SELECT is((SELECT count(*) FROM jobspy.quota_idempotency WHERE user_id = 'f2100000-0000-4000-8000-000000000001'),
          0::bigint, 'denied keys are not bound');
SELECT is((SELECT row(allowed, used, quota_limit, remaining, resets_at AT TIME ZONE 'UTC')::text
             FROM jobspy.quota_status('f2100000-0000-4000-8000-000000000001', 'posts')),
          '(f,5,5,0,"2031-06-01 00:00:00")', 'quota_status answers for the window with least room');
SELECT is((SELECT string_agg(format('%s:%s', period, allowed), ' ')
             FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000001', 'posts')),
          'day:t month:f', 'quota_windows says which window has room');

-- An unlimited window beside a limited one.
SELECT is((SELECT row(allowed, used, quota_limit, remaining)::text
             FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000002', 'tokens', 60)),
          '(t,60,100,40)', 'the limited window speaks when the other is unlimited');
SELECT is((SELECT row(allowed, used, quota_limit, remaining)::text
             FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000002', 'tokens', 50)),
          '(f,60,100,40)', 'the limited window refuses');
SELECT is((SELECT used FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000002', 'tokens') WHERE period = 'day'),
          60::bigint, 'the unlimited window counts grants only');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000002', 'tokens', 1000000000001)$$,
                 '22023', NULL, 'an unlimited window still bounds one call');

-- Reservations hold in every window.
SELECT reservation_id AS rid FROM jobspy.reserve_quota('f2100000-0000-4000-8000-000000000002', 'posts', 2) \gset
SELECT is((SELECT count(*) FROM jobspy.quota_reservations WHERE id = :'rid'), 2::bigint,
          'a reservation holds a row per window under one id');
SELECT is((SELECT string_agg(format('%s:%s', period, remaining), ' ')
             FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000002', 'posts')),
          'day:1 month:3', 'it counts against each window');
SELECT is((SELECT row(allowed, used, remaining)::text
             FROM jobspy.consume_quota('f2100000-0000-4000-8000-000000000002', 'posts', 2)),
          '(f,0,1)', 'held amounts refuse a consumption by the tighter window');
SELECT is((SELECT row(allowed, used, remaining)::text FROM jobspy.settle_reservation(:'rid', 1)),
          '(t,1,2)', 'settling counts the actual amount in every window');
SELECT is((SELECT string_agg(format('%s:%s', period, used), ' ')
             FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000002', 'posts')),
          'day:1 month:1', 'both windows have the actual amount');
SELECT is((SELECT sum(reserved) FROM jobspy.quota_counters WHERE user_id = 'f2100000-0000-4000-8000-000000000002'),
          0::numeric, 'and hold nothing more');
SELECT is((SELECT count(DISTINCT status) || ':' || min(status) FROM jobspy.quota_reservations WHERE id = :'rid'),
          '1:settled', 'every window''s row is settled');
SELECT is((SELECT jobspy.cancel_reservation(reservation_id)
             FROM jobspy.reserve_quota('f2100000-0000-4000-8000-000000000002', 'posts', 2)), true, 'cancel releases');
SELECT is((SELECT sum(reserved) FROM jobspy.quota_counters WHERE user_id = 'f2100000-0000-4000-8000-000000000002'),
          0::numeric, 'from every window');
SELECT count(*) FROM jobspy.reserve_quota('f2100000-0000-4000-8000-000000000003', 'posts', 3, interval '1 minute');
SET LOCAL jobspy.clock_override = '2031-05-15 12:02:00+00';
SELECT is((SELECT object FROM jobspy.maintain() WHERE action = 'released'), '1 expired quota reservations',
          'maintain() counts an expired reservation once');
SELECT is((SELECT sum(reserved) FROM jobspy.quota_counters WHERE user_id = 'f2100000-0000-4000-8000-000000000003'),
          0::numeric, 'and frees it in every window');

-- Removing one window keeps the other.
SELECT is(jobspy.remove_plan_quota_period('w_social', 'posts', 'day'), true, 'remove_plan_quota_period removes one window');
SELECT is((SELECT string_agg(period, ',') FROM jobspy.quota_windows('f2100000-0000-4000-8000-000000000001', 'posts')),
          'month', 'the other stays');
SELECT throws_ok($$SELECT jobspy.remove_plan_quota_period('w_nope', 'posts', 'day')$$, '22023', NULL, 'unknown plan');
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.quota_windows(uuid, text)', 'EXECUTE')
          AND NOT has_function_privilege('jobspy_app', 'jobspy.remove_plan_quota_period(text, text, text)', 'EXECUTE')
          AND NOT has_function_privilege('jobspy_app', 'jobspy.quota_lookup_all(uuid, text, timestamptz)', 'EXECUTE'),
          'the app reads windows; only the admin removes them');

SELECT * FROM finish();
ROLLBACK;
