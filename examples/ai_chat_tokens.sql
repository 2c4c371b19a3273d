-- AI chat SaaS (seed 004): plan tiers with monthly token quotas (FREE 50k,
-- PLUS 1M, PRO unlimited), providers with request and token limits per
-- minute, model prices that change on a date, and one record per
-- completion with its exact cost, which the month's invoice bills.  The
-- product keeps its own conversations and messages.  Runs in a
-- transaction it rolls back.
BEGIN;
SET LOCAL jobspy.clock_override = '2030-06-20 09:00:00+00';
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO';

SELECT jobspy.create_plan('FREE', 'Free', price_monthly => 0) IS NOT NULL AS free,
       jobspy.create_plan('PLUS', 'Plus', price_monthly => 2000, features => '["gpt-4o", "file_upload"]') IS NOT NULL AS plus,
       jobspy.create_plan('PRO', 'Pro', price_monthly => 5000, features => '["gpt-4o", "file_upload", "api"]') IS NOT NULL AS pro;
SELECT jobspy.set_plan_quota(code, 'ai.tokens', 'month', lim)
  FROM (VALUES ('FREE', 50000), ('PLUS', 1000000), ('PRO', -1)) AS p(code, lim);

-- Providers (seed 004 aiProviders) and prices in cents per million tokens:
-- gpt-4o-mini at $0.15 / $0.60, halved from July; claude at $3 / $15.
SELECT jobspy.set_ai_provider('openai', 'OpenAI', requests_per_minute => 500, tokens_per_minute => 200000),
       jobspy.set_ai_provider('anthropic', 'Anthropic', requests_per_minute => 50, tokens_per_minute => 40000);
-- (the limiter lives in shared memory, outside transactions, and this
-- example's clock is fixed: start the providers' buckets afresh)
SELECT count(jobspy.rate_limit_reset('ai_provider:' || p || ':' || w)) AS buckets_reset
  FROM (VALUES ('openai'), ('anthropic')) a(p), (VALUES ('requests'), ('tokens')) b(w);
SELECT jobspy.set_model_price('openai', 'gpt-4o-mini', 15, 60, 'USD', '2030-01-01'),
       jobspy.set_model_price('openai', 'gpt-4o-mini', 7.5, 30, 'USD', '2030-07-01'),
       jobspy.set_model_price('anthropic', 'claude-sonnet', 300, 1500, 'USD', '2030-01-01');

-- The product's own tables.
CREATE SCHEMA chat;
CREATE TABLE chat.conversations (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL, title text);
CREATE TABLE chat.messages (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                            conversation_id uuid NOT NULL REFERENCES chat.conversations, role text, content text);
-- A chat turn: the user's quota and the provider's limits are checked
-- before the model is called; the reply's usage is then recorded.
CREATE FUNCTION chat.turn(p_user uuid, p_conversation uuid, p_provider text, p_model text,
                          p_prompt_tokens bigint, p_completion_tokens bigint, p_request_id text)
    RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    lim record;
    u   jobspy.token_usage_answer;
    mid uuid;
BEGIN
    IF NOT (jobspy.quota_status(p_user, 'ai.tokens')).allowed THEN
        RETURN 'refused: monthly tokens spent';
    END IF;
    SELECT * INTO lim FROM jobspy.check_provider_limit(p_provider, (p_prompt_tokens + p_completion_tokens)::integer);
    IF NOT lim.allowed THEN
        RETURN format('refused: %s %s, retry in %s ms', p_provider, lim."window", lim.retry_after_ms);
    END IF;
    -- (the model is called here; its reply is stored)
    INSERT INTO chat.messages (conversation_id, role, content) VALUES (p_conversation, 'assistant', '...')
    RETURNING id INTO mid;
    u := jobspy.record_token_usage(p_user, p_provider, p_model, p_prompt_tokens, p_completion_tokens,
                                   p_conversation, mid, p_request_id);
    RETURN format('%s %s: %s cents, %s tokens left this month%s', p_provider, p_model, u.cost,
                  coalesce(u.remaining::text, 'unlimited'), CASE WHEN NOT u.allowed THEN ' (over quota)' ELSE '' END);
END $$;

SELECT jobspy.create_user('bob@chat.example') IS NOT NULL AS bob;
SELECT jobspy.set_user_plan(id, 'FREE') FROM jobspy.users WHERE email = 'bob@chat.example';
INSERT INTO chat.conversations (id, user_id, title)
SELECT 'c0000000-0000-4000-8000-000000000001', id, 'Trip to Lisbon' FROM jobspy.users WHERE email = 'bob@chat.example';

-- Four turns on the free plan.  The third is a long reply that would
-- overrun the month: a denial takes nothing from the quota, but the
-- completion happened, so it is recorded with its cost (and billed) and a
-- usage event shows the denial.  A product that must never overrun
-- reserves an estimate first (reserve_quota).
SELECT s.n, chat.turn(u.id, 'c0000000-0000-4000-8000-000000000001', s.provider, s.model, s.p, s.c, s.req) AS result
  FROM jobspy.users u,
       (VALUES (1, 'openai', 'gpt-4o-mini', 1200::bigint, 1920::bigint, 'req-1'),
               (2, 'anthropic', 'claude-sonnet', 5000, 2100, 'req-2'),
               (3, 'openai', 'gpt-4o-mini', 30000, 12000, 'req-3'),
               (4, 'openai', 'gpt-4o-mini', 100, 100, 'req-4')) AS s(n, provider, model, p, c, req)
 WHERE u.email = 'bob@chat.example' ORDER BY s.n;
-- A worker retries request 2: the same answer, nothing counted twice.
SELECT r.replayed, r.cost, r.used FROM jobspy.users u, jobspy.token_usage t,
       jobspy.record_token_usage(u.id, 'anthropic', 'claude-sonnet', 5000, 2100, t.conversation_id, t.message_id, 'req-2') r
 WHERE u.email = 'bob@chat.example' AND t.user_id = u.id AND t.idempotency_key = 'req-2';

-- Bob moves to PLUS: the month's count carries on under the larger quota.
SELECT jobspy.set_user_plan(id, 'PLUS') FROM jobspy.users WHERE email = 'bob@chat.example';
SELECT chat.turn(id, 'c0000000-0000-4000-8000-000000000001', 'openai', 'gpt-4o-mini', 100, 100, 'req-5') AS after_upgrade
  FROM jobspy.users WHERE email = 'bob@chat.example';

-- The same completion in July costs half (the price in force then).
SET LOCAL jobspy.clock_override = '2030-07-02 09:00:00+00';
SELECT chat.turn(id, 'c0000000-0000-4000-8000-000000000001', 'openai', 'gpt-4o-mini', 1200, 1920, 'req-6') AS july
  FROM jobspy.users WHERE email = 'bob@chat.example';

-- June's metered invoice lines: exact cost summed, rounded once.
SELECT l.provider, l.model, l.completions, l.prompt_tokens, l.completion_tokens, l.cost, l.amount AS cents
  FROM jobspy.users u, jobspy.metered_token_lines(u.id, '2030-06-01', '2030-07-01') l
 WHERE u.email = 'bob@chat.example';
-- What the product sees per conversation, and the refusal behind it.
SELECT c.title, count(t.*) AS completions, sum(t.total_tokens) AS tokens, sum(t.cost) AS cost_cents
  FROM chat.conversations c JOIN jobspy.token_usage t ON t.conversation_id = c.id GROUP BY c.title;
SELECT event_type, metric, amount, used, quota_limit, from_plan, to_plan
  FROM jobspy.usage_events e JOIN jobspy.users u ON u.id = e.user_id AND u.email = 'bob@chat.example'
 ORDER BY occurred_at, to_plan NULLS FIRST;
ROLLBACK;
