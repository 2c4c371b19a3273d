-- Seed 004's subscription analytics over generated subscriptions: its own
-- queries ("active subscriptions by plan", "monthly recurring revenue",
-- "users by plan"), translated to this schema, against
-- subscriptions_by_plan, mrr_monthly and users_by_plan, row for row.
--
-- The translation: the seed's subscriptions.planId is the plan of the
-- subscription's product here; plans.monthlyPrice is the subscription's
-- monthly price (every price below is monthly, quantity 1, so it is
-- price_amount); users.isActive is status 'active', and users.planTier is
-- the plan the application gave the user: that of a live subscription
-- (active, trialing or past_due), else the plan set with set_user_plan.
-- Seed 004 has one currency; nothing is summed across currencies here, so
-- its money queries are grouped by currency as well.
BEGIN;
SELECT plan(7);

SET LOCAL jobspy.clock_override = '2031-06-01 08:00:00+00';
SELECT jobspy.create_plan(code, initcap(substr(code, 4))) FROM unnest(ARRAY['s4-starter', 's4-pro', 's4-team']) code;
SELECT jobspy.create_product(code, initcap(substr(code, 4)), plan_code => code)
  FROM unnest(ARRAY['s4-starter', 's4-pro', 's4-team']) code;
SELECT jobspy.create_price('s4-starter', 's4-starter-m', 900, 'USD', 'month');
SELECT jobspy.create_price('s4-pro', 's4-pro-m', 2900, 'USD', 'month');
SELECT jobspy.create_price('s4-team', 's4-team-m', 9900, 'USD', 'month');
SELECT jobspy.create_price('s4-pro', 's4-pro-eur', 2700, 'EUR', 'month');

-- 120 users: one in ten without a subscription (every other of those with a
-- plan set), one in seven paying in euros, one in five on a trial, one in
-- six canceled at once, one in thirteen suspended; subscribed over the
-- first nine days of June.
INSERT INTO jobspy.users (id, email, created_at)
SELECT ('b4000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 's4-' || i || '@example.com',
       '2031-05-01 00:00+00'
  FROM generate_series(1, 120) i;
DO $$
DECLARE
    u uuid;
    c uuid;
    s uuid;
BEGIN
    FOR i IN 1..120 LOOP
        u := ('b4000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid;
        PERFORM set_config('jobspy.clock_override',
                           (timestamptz '2031-06-01 08:00+00' + (i % 9) * interval '1 day')::text, true);
        IF i % 10 = 0 THEN
            IF i % 20 = 0 THEN
                PERFORM jobspy.set_user_plan(u, 's4-team');
            END IF;
            CONTINUE;
        END IF;
        c := jobspy.create_customer(u, currency => CASE WHEN i % 7 = 0 THEN 'EUR' ELSE 'USD' END);
        s := jobspy.subscribe(c, CASE WHEN i % 7 = 0 THEN 's4-pro-eur'
                                      ELSE (ARRAY['s4-starter-m', 's4-pro-m', 's4-team-m'])[1 + i % 3] END,
                              trial_days => CASE WHEN i % 5 = 0 THEN 14 END);
        IF i % 6 = 0 THEN
            PERFORM jobspy.cancel_subscription(s, false);
        END IF;
    END LOOP;
    UPDATE jobspy.users SET status = 'suspended'
     WHERE email ~ '^s4-[0-9]+@' AND substring(email, '^s4-([0-9]+)@')::int % 13 = 0;
END
$$;
SET LOCAL jobspy.clock_override = '2031-06-10 12:00:00+00';

SELECT is((SELECT string_agg(status || ':' || n, ',' ORDER BY status)
             FROM (SELECT s.status, count(*) AS n FROM jobspy.subscriptions s
                     JOIN jobspy.products pr ON pr.id = s.product_id WHERE pr.code LIKE 's4-%' GROUP BY 1) t)
          || ',suspended:' || (SELECT count(*) FROM jobspy.users WHERE status = 'suspended' AND email LIKE 's4-%'),
          'active:80,canceled:16,trialing:12,suspended:9',
          'the generated data: active, trialing and canceled subscriptions, suspended users');

-- "Get active subscriptions by plan"
SELECT results_eq(
    $$SELECT plan_code, sum(subscription_count)::bigint, sum(user_count)::bigint FROM jobspy.subscriptions_by_plan
       WHERE plan_code LIKE 's4-%' GROUP BY plan_code ORDER BY 1$$,
    $$SELECT p.code, count(s.id), count(DISTINCT s.user_id)
        FROM jobspy.subscriptions s
        JOIN jobspy.products pr ON pr.id = s.product_id
        JOIN jobspy.plans p ON p.id = pr.plan_id
       WHERE s.status = 'active' AND p.code LIKE 's4-%'
       GROUP BY p.code ORDER BY 1$$,
    'subscriptions_by_plan answers seed 004''s active subscriptions by plan');

-- "Get monthly recurring revenue", per currency.
SELECT results_eq(
    $$SELECT currency, mrr FROM jobspy.mrr_monthly WHERE month = '2031-06-01 00:00+00' ORDER BY 1$$,
    $$SELECT s.price_currency, sum(s.price_amount)::bigint
        FROM jobspy.subscriptions s
       WHERE s.status = 'active'
         AND s.current_period_start <= jobspy.now() AND s.current_period_end > jobspy.now()
       GROUP BY 1 ORDER BY 1$$,
    'mrr_monthly''s current month answers seed 004''s monthly recurring revenue');
SELECT results_eq(
    $$SELECT currency, sum(mrr)::bigint FROM jobspy.subscriptions_by_plan WHERE plan_code LIKE 's4-%'
       GROUP BY 1 ORDER BY 1$$,
    $$SELECT s.price_currency, sum(s.price_amount)::bigint
        FROM jobspy.subscriptions s
       WHERE s.status = 'active'
         AND s.current_period_start <= jobspy.now() AND s.current_period_end > jobspy.now()
       GROUP BY 1 ORDER BY 1$$,
    'and so do the MRR columns of subscriptions_by_plan');
SELECT is((SELECT sum(mrr) FROM jobspy.customer_mrr_monthly WHERE month = '2031-06-01 00:00+00'),
          (SELECT sum(mrr)::numeric FROM jobspy.mrr_monthly WHERE month = '2031-06-01 00:00+00'),
          'mrr_monthly is the sum of the customers'' MRR');

-- "Get users by plan"
SELECT results_eq(
    $$SELECT plan_code, users FROM jobspy.users_by_plan ORDER BY 1$$,
    $$SELECT coalesce((SELECT p.code FROM jobspy.subscriptions s
                         JOIN jobspy.products pr ON pr.id = s.product_id
                         JOIN jobspy.plans p ON p.id = pr.plan_id
                        WHERE s.user_id = u.id AND s.status IN ('active', 'trialing', 'past_due')),
                      (SELECT p.code FROM jobspy.user_plans up JOIN jobspy.plans p ON p.id = up.plan_id
                        WHERE up.user_id = u.id),
                      'none') AS plan_tier,
             count(*)
        FROM jobspy.users u
       WHERE u.status = 'active'
       GROUP BY 1 ORDER BY 1$$,
    'users_by_plan answers seed 004''s users by plan');
SELECT is((SELECT users FROM jobspy.users_by_plan WHERE plan_code = 's4-team'),
          (SELECT count(*) FROM jobspy.users u
            WHERE u.status = 'active' AND u.email LIKE 's4-%'
              AND (EXISTS (SELECT FROM jobspy.subscriptions s JOIN jobspy.products pr ON pr.id = s.product_id
                            WHERE s.user_id = u.id AND pr.code = 's4-team' AND s.status IN ('active', 'trialing'))
                   OR EXISTS (SELECT FROM jobspy.user_plans up JOIN jobspy.plans p ON p.id = up.plan_id
                               WHERE up.user_id = u.id AND p.code = 's4-team'
                                 AND NOT EXISTS (SELECT FROM jobspy.subscriptions s
                                                  WHERE s.user_id = u.id AND s.status IN ('active', 'trialing'))))),
          'a plan set for a user without a subscription counts for that plan');

SELECT * FROM finish();
ROLLBACK;
