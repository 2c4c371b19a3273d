-- AI chat: tokens per month by plan tier (FREE 50k, PLUS 1M, PRO
-- unlimited), the month following the subscription's billing period.
-- Before calling a model the app reserves an estimate; when the reply is
-- in, it settles with the real count and its cost (in cents, fractions
-- allowed), which the usage ledger keeps per provider and model.  Runs in
-- a transaction it rolls back.
BEGIN;
SET LOCAL jobspy.clock_override = '2030-06-20 09:00:00+00';
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO';

SELECT jobspy.create_plan('FREE', 'Free', price_monthly => 0) IS NOT NULL AS free,
       jobspy.create_plan('PLUS', 'Plus', price_monthly => 2000, features => '["gpt-4o", "file_upload"]') IS NOT NULL AS plus,
       jobspy.create_plan('PRO', 'Pro', price_monthly => 5000, features => '["gpt-4o", "file_upload", "api"]') IS NOT NULL AS pro;
SELECT jobspy.set_plan_quota(code, 'ai.tokens', 'month', lim)
  FROM (VALUES ('FREE', 50000), ('PLUS', 1000000), ('PRO', -1)) AS p(code, lim);

INSERT INTO jobspy.users (id, email)
VALUES ('f0000000-0000-4000-8000-000000000002', 'bob@chat.example');
SELECT jobspy.set_user_plan('f0000000-0000-4000-8000-000000000002', 'FREE');

-- A chat turn: reserve 4000 tokens for the reply, then settle with what
-- the model used (3120 tokens, at $2.50 per million = 0.78 cents).
CREATE TEMP TABLE turn ON COMMIT DROP AS
SELECT * FROM jobspy.reserve_quota('f0000000-0000-4000-8000-000000000002', 'ai.tokens', 4000,
                                   interval '2 minutes', 'msg-0001');
SELECT allowed, used, remaining FROM turn;
SELECT s.allowed, s.used, s.remaining, s.period_start, s.resets_at
  FROM turn, jobspy.settle_reservation(turn.reservation_id, 3120, 0.78,
                                       '{"provider": "openai", "model": "gpt-4o-mini"}') s;

-- A turn that fails upstream: the reservation is cancelled, nothing spent.
SELECT jobspy.cancel_reservation(reservation_id) AS cancelled
  FROM jobspy.reserve_quota('f0000000-0000-4000-8000-000000000002', 'ai.tokens', 4000);

-- Known sizes (an embedding) are consumed directly, with their cost.
SELECT allowed, used, remaining
  FROM jobspy.consume_quota('f0000000-0000-4000-8000-000000000002', 'ai.tokens', 45000, 'emb-0001', 0.09,
                            '{"provider": "anthropic", "model": "embed"}');
-- The free month is nearly spent: a large request is denied whole.
SELECT reservation_id IS NULL AS denied, allowed, used, remaining
  FROM jobspy.reserve_quota('f0000000-0000-4000-8000-000000000002', 'ai.tokens', 4000);

-- Bob subscribes to PLUS, billed monthly from the 20th at 09:00: his
-- token month now follows the billing period, with a fresh count.  A live
-- subscription names its plan by code (plan_type, which accepts basic,
-- professional and enterprise), so PLUS is sold as "professional".
SELECT jobspy.create_plan('professional', 'Plus (subscription)', price_monthly => 2000) IS NOT NULL AS plus_sold;
SELECT jobspy.set_plan_quota('professional', 'ai.tokens', 'month', 1000000);
INSERT INTO jobspy.subscriptions (user_id, plan_type, plan_interval, status, current_period_start, current_period_end)
VALUES ('f0000000-0000-4000-8000-000000000002', 'professional', 'month', 'active',
        '2030-06-20 09:00:00+00', '2030-07-20 09:00:00+00');
SELECT quota_limit, used, remaining, period_start, resets_at
  FROM jobspy.quota_status('f0000000-0000-4000-8000-000000000002', 'ai.tokens');

-- What the month cost, per provider, from the ledger.
SELECT metadata ->> 'provider' AS provider, sum(amount) AS tokens, sum(cost) AS cost_cents
  FROM jobspy.usage_records
 WHERE user_id = 'f0000000-0000-4000-8000-000000000002' AND metric = 'ai.tokens'
 GROUP BY 1 ORDER BY 1;
ROLLBACK;
