-- A live subscription decides the plan in force alone: when its plan_type
-- names no plan, the user has no plan (an error saying so), never a silent
-- fallback to the plan set for the user, a licence's or the default plan.
BEGIN;
SELECT plan(7);

SET LOCAL jobspy.clock_override = '2031-09-10 12:00:00+00';
INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('a0000000-0000-4000-8000-0000000000d1', 'qs1@example.com', 'UTC');
SELECT jobspy.create_plan('t_free', 'Free');
SELECT jobspy.set_plan_quota('t_free', 'posts', 'day', 10);
SELECT jobspy.config_set('quotas.default_plan', '"t_free"');
SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-0000000000d1', 't_free');
-- No plan has the code "enterprise" here.
DELETE FROM jobspy.plan_quotas WHERE plan_id IN (SELECT id FROM jobspy.plans WHERE code = 'enterprise');
DELETE FROM jobspy.plans WHERE code = 'enterprise';
INSERT INTO jobspy.subscriptions (user_id, plan_type, plan_interval, status, current_period_start, current_period_end)
VALUES ('a0000000-0000-4000-8000-0000000000d1', 'enterprise', 'month', 'active',
        '2031-09-01 00:00+00', '2031-10-01 00:00+00');

SELECT throws_ok($$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000d1', 'posts', 1)$$, 'JS401',
                 'the plan of user a0000000-0000-4000-8000-0000000000d1''s subscription does not exist',
                 'consume_quota refuses: the subscription''s plan does not exist');
SELECT throws_ok($$SELECT jobspy.quota_status('a0000000-0000-4000-8000-0000000000d1', 'posts')$$, 'JS401', NULL,
                 'quota_status too');
SELECT throws_ok($$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000d1', 'posts', 1, 'sub-k')$$, 'JS401', NULL,
                 'with an idempotency key too');
SELECT is((SELECT row(plan_code, source)::text FROM jobspy.plan_in_force('a0000000-0000-4000-8000-0000000000d1')),
          '(,subscription)', 'plan_in_force: the subscription decides, and names no plan');
SELECT is((jobspy.quota_lookup('a0000000-0000-4000-8000-0000000000d1', 'posts', jobspy.now())).plan_id, NULL,
          'the C lookup agrees: no plan');

-- Once the plan exists, the subscription's plan applies.
SELECT jobspy.create_plan('enterprise', 'Enterprise');
SELECT jobspy.set_plan_quota('enterprise', 'posts', 'day', 1000);
SELECT is((SELECT quota_limit FROM jobspy.consume_quota('a0000000-0000-4000-8000-0000000000d1', 'posts', 1)),
          1000::bigint, 'the subscription''s plan applies once it exists');
-- A cancelled subscription no longer decides: the user's own plan applies.
UPDATE jobspy.subscriptions SET status = 'canceled', canceled_at = jobspy.now()
 WHERE user_id = 'a0000000-0000-4000-8000-0000000000d1';
SELECT is((SELECT row(plan_code, source)::text FROM jobspy.plan_in_force('a0000000-0000-4000-8000-0000000000d1')),
          '(t_free,user)', 'without a live subscription the user''s plan applies again');

SELECT * FROM finish();
ROLLBACK;
