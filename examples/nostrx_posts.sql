-- NostrX: posts per day by plan (basic 3, premium 25, advanced unlimited),
-- counted at midnight in the user's time zone.  Each post is consumed with
-- its Nostr event id as the idempotency key, so a client that retries a
-- publish never spends a post twice.  Runs in a transaction it rolls back.
BEGIN;
SET LOCAL jobspy.clock_override = '2030-06-15 21:30:00+00';
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO';

-- The plans of the original design, prices in cents.
SELECT jobspy.create_plan('basic', 'Basic', 'Perfect for casual users', 0, NULL, 'USD',
                          '{"custom_relays": false, "analytics": false}', sort_order => 10) IS NOT NULL AS basic,
       jobspy.create_plan('premium', 'Premium', 'Great for regular posters', 499, 4990, 'USD',
                          '{"custom_relays": true, "analytics": true}', sort_order => 20) IS NOT NULL AS premium,
       jobspy.create_plan('advanced', 'Advanced', 'For power users and creators', 999, 9990, 'USD',
                          '{"custom_relays": true, "analytics": true, "multiple_identities": true}', sort_order => 30) IS NOT NULL AS advanced;
SELECT jobspy.set_plan_quota(code, 'nostr.posts', 'day', lim)
  FROM (VALUES ('basic', 3), ('premium', 25), ('advanced', -1)) AS p(code, lim);
-- New users get the basic plan unless they pay.
SELECT jobspy.config_set('quotas.default_plan', '"basic"');

INSERT INTO jobspy.users (id, email, timezone)
VALUES ('f0000000-0000-4000-8000-000000000001', 'alice@nostrx.example', 'Europe/Berlin');

-- 23:30 in Berlin: three posts, then a retry of the third, then a fourth.
SELECT e.event_id, q.allowed, q.used, q.remaining, q.resets_at
  FROM (VALUES (1, 'ev-7f3a'), (2, 'ev-81c2'), (3, 'ev-9d04'), (4, 'ev-9d04'), (5, 'ev-a511')) AS e(n, event_id),
       LATERAL jobspy.consume_quota('f0000000-0000-4000-8000-000000000001', 'nostr.posts', 1, e.event_id) q
 ORDER BY e.n;
SELECT jobspy.has_feature('f0000000-0000-4000-8000-000000000001', 'analytics') AS has_analytics;

-- She upgrades: the same day's count carries on under the new limit, the
-- denied post goes through when the client retries it, and a second retry
-- of it only replays the answer.
SELECT jobspy.set_user_plan('f0000000-0000-4000-8000-000000000001', 'premium');
SELECT jobspy.has_feature('f0000000-0000-4000-8000-000000000001', 'analytics') AS has_analytics;
SELECT allowed, used, quota_limit, remaining
  FROM jobspy.consume_quota('f0000000-0000-4000-8000-000000000001', 'nostr.posts', 1, 'ev-a511');
SELECT allowed, used, quota_limit, remaining
  FROM jobspy.consume_quota('f0000000-0000-4000-8000-000000000001', 'nostr.posts', 1, 'ev-a511');

-- After midnight in Berlin (22:00 UTC) the day starts again.
SET LOCAL jobspy.clock_override = '2030-06-15 22:05:00+00';
SELECT allowed, used, quota_limit, remaining, period_start, resets_at
  FROM jobspy.quota_status('f0000000-0000-4000-8000-000000000001', 'nostr.posts');

-- The usage events behind the count: one per event id.
SELECT idempotency_key AS event_id, amount, created_at
  FROM jobspy.usage_records WHERE user_id = 'f0000000-0000-4000-8000-000000000001'
 ORDER BY created_at, idempotency_key;
ROLLBACK;
