-- Metered AI usage (seed 004): model prices by effective date, the exact
-- cost of a completion, the token quota it consumes (a denial is still
-- recorded, consuming nothing), idempotent replays, per-provider limits
-- taken both or neither, the lines billing reads, and row-level security.
BEGIN;
SELECT plan(41);
SET LOCAL jobspy.clock_override = '2030-06-30 23:59:59+00';

SELECT jobspy.create_plan('mt_free', 'Metering free');
SELECT jobspy.set_plan_quota('mt_free', 'ai.tokens', 'month', 50000);
INSERT INTO jobspy.users (id, email) VALUES ('a1000000-0000-4000-8000-000000000001', 'meter.a@example.com'),
                                            ('a1000000-0000-4000-8000-000000000002', 'meter.b@example.com');
SELECT jobspy.set_user_plan(u, 'mt_free') FROM (VALUES ('a1000000-0000-4000-8000-000000000001'::uuid),
                                                       ('a1000000-0000-4000-8000-000000000002'::uuid)) v(u);
SELECT jobspy.set_ai_provider('mt-openai', 'OpenAI', 2, 100);
SELECT jobspy.set_ai_provider('mt-anthropic', 'Anthropic');

-- prices by effective date
SELECT lives_ok($$SELECT jobspy.set_model_price('mt-openai', 'gpt-x', 15, 60, 'USD', '2030-01-01')$$, 'set_model_price: an open price');
SELECT lives_ok($$SELECT jobspy.set_model_price('mt-openai', 'gpt-x', 7.5, 30, 'USD', '2030-07-01')$$, 'set_model_price: a cheaper price from July');
SELECT is((SELECT effective_to FROM jobspy.model_prices WHERE model = 'gpt-x' AND effective_from = '2030-01-01'),
          '2030-07-01 00:00:00+00'::timestamptz, 'the open price ends where the new one starts');
SELECT throws_ok($$SELECT jobspy.set_model_price('mt-openai', 'gpt-x', 1, 1, 'USD', '2030-03-01', '2030-04-01')$$,
                 '23P01', NULL, 'set_model_price: a price inside another is refused');
SELECT is((jobspy.model_price_at('mt-openai', 'gpt-x', '2030-06-30 23:59:59.999999+00')).input_price_per_million, 15::numeric,
          'model_price_at: the last microsecond of June is June''s price');
SELECT is((jobspy.model_price_at('mt-openai', 'gpt-x', '2030-07-01 00:00:00+00')).input_price_per_million, 7.5::numeric,
          'model_price_at: July starts July''s price');
SELECT is((jobspy.model_price_at('mt-openai', 'gpt-x', '2029-12-31')).provider, NULL, 'model_price_at: none before the first price');
SELECT lives_ok($$SELECT jobspy.set_model_price('mt-anthropic', 'claude-y', 0.0000003, 1234.56789, 'EUR', '2030-01-01', '2031-01-01')$$,
                'set_model_price: fractional prices, a closed range, another currency');
SELECT throws_ok($$SELECT jobspy.set_model_price('mt-nope', 'm', 1, 1, 'USD')$$, '22023', 'AI provider "mt-nope" does not exist', 'set_model_price: unknown provider');
SELECT throws_ok($$SELECT jobspy.set_model_price('mt-openai', 'm', -1, 1, 'USD')$$, '22023', NULL, 'set_model_price: a negative price');
SELECT throws_ok($$SELECT jobspy.set_model_price('mt-openai', 'm', 'NaN', 1, 'USD')$$, '22023', NULL, 'set_model_price: NaN');
SELECT throws_ok($$SELECT jobspy.set_model_price('mt-openai', 'm', 1, 1, 'usd')$$, '22023', NULL, 'set_model_price: a lower-case currency');
SELECT throws_ok($$SELECT jobspy.set_model_price('mt-openai', 'm', 1, 1, 'USD', '2030-02-01', '2030-01-01')$$, '22023', NULL, 'set_model_price: ends before it starts');

-- recording usage at June's price, then July's
CREATE TEMP TABLE r1 AS SELECT * FROM jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-x', 1200, 1920,
    'c0000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'msg-1');
SELECT is((SELECT cost::text || ' ' || currency || ' ' || allowed || ' ' || used || ' ' || remaining FROM r1),
          '0.133200 USD true 3120 46880', 'record_token_usage: 1200 x 15 + 1920 x 60 per million = 0.1332 cents, consumed from the quota');
SELECT is((SELECT total_tokens || ' ' || input_price_per_million || ' ' || quota_allowed || ' ' || conversation_id FROM jobspy.token_usage WHERE id = (SELECT usage_id FROM r1)),
          '3120 15 true c0000000-0000-4000-8000-000000000001', 'the row keeps the tokens, the price applied and the conversation');
SET LOCAL jobspy.clock_override = '2030-07-01 00:00:00+00';
SELECT is((SELECT cost FROM jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-x', 1200, 1920)),
          0.066600, 'record_token_usage: the same completion at July''s price');
SELECT is((SELECT cost FROM jobspy.record_token_usage('a1000000-0000-4000-8000-000000000002', 'mt-anthropic', 'claude-y', 987654321, 123456789)),
          987654321 * 0.0000003 * 0.000001 + 123456789 * 1234.56789 * 0.000001,
          'record_token_usage: exact to the last digit with fractional prices (no float)');
SELECT is((SELECT scale(cost) FROM jobspy.token_usage WHERE provider = 'mt-anthropic'), 13, 'the cost keeps every digit (scale 13)');

-- replays
SET LOCAL jobspy.clock_override = '2030-06-30 23:59:59+00';
CREATE TEMP TABLE r1b AS SELECT * FROM jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-x', 1200, 1920,
    'c0000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'msg-1');
SELECT is((SELECT usage_id = (SELECT usage_id FROM r1) AND replayed AND cost = 0.1332 FROM r1b), true, 'a replay returns the first row, marked replayed');
SELECT is((SELECT count(*) FROM jobspy.token_usage WHERE idempotency_key = 'msg-1'), 1::bigint, 'a replay writes no row');
SELECT is((SELECT used FROM jobspy.quota_status('a1000000-0000-4000-8000-000000000001', 'ai.tokens')), 3120::bigint, 'a replay consumes nothing');
SELECT throws_ok($$SELECT jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-x', 1200, 1921, 'c0000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-000000000001', 'msg-1')$$,
                 'JS404', 'idempotency key was already used for another completion', 'a key reused for other counts');

-- a denial is recorded, consumes nothing
CREATE TEMP TABLE r2 AS SELECT * FROM jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-x', 40000, 10000, idempotency_key => 'msg-2');
SELECT is((SELECT allowed || ' ' || used || ' ' || cost FROM r2), 'false 3120 1.200000', 'over the quota: allowed false, nothing consumed, the cost still known');
SELECT is((SELECT quota_allowed FROM jobspy.token_usage WHERE idempotency_key = 'msg-2'), false, 'the denied completion is recorded as such');

-- bad input writes nothing
CREATE TEMP TABLE n0 AS SELECT count(*) AS n FROM jobspy.token_usage;
SELECT throws_ok($$SELECT jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-unknown', 1, 1)$$,
                 'JS410', NULL, 'no price for the model');
SELECT throws_ok($$SELECT jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-x', -1, 1)$$, '22023', NULL, 'negative tokens');
SELECT throws_ok($$SELECT jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-x', 0, 0)$$, '22023', NULL, 'no tokens at all');
SELECT throws_ok($$SELECT jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-x', 1, 1, metric => 'ai.nothing')$$, 'JS402', NULL, 'a metric no plan has');
SELECT throws_ok($$SELECT jobspy.record_token_usage('a1000000-0000-4000-8000-000000000001', 'mt-openai', 'gpt-x', 1, 1, idempotency_key => '')$$, '22023', NULL, 'an empty key');
SELECT is((SELECT count(*) FROM jobspy.token_usage), (SELECT n FROM n0), 'the refused calls wrote no row');

-- per-provider limits: 2 requests and 100 tokens a minute, both or neither
-- (the limiter lives in shared memory, outside transactions: start afresh)
SELECT jobspy.rate_limit_reset('ai_provider:mt-openai:' || w) FROM (VALUES ('requests'), ('tokens')) v(w);
SELECT is((SELECT allowed::text || coalesce("window", '-') FROM jobspy.check_provider_limit('mt-openai', 60)), 'true-', 'provider limit: 60 tokens fit');
SELECT is((SELECT allowed::text || ' ' || "window" || ' ' || retry_after_ms FROM jobspy.check_provider_limit('mt-openai', 60)),
          'false tokens_per_minute 12000', 'provider limit: 60 more do not; the tokens window refuses, 20 tokens take 12 s to come back');
SELECT is((SELECT allowed FROM jobspy.check_provider_limit('mt-openai', 40)), true, 'provider limit: the refusal took no request: a second one of 40 tokens fits');
SELECT is((SELECT allowed::text || ' ' || "window" FROM jobspy.check_provider_limit('mt-openai', 0)), 'false requests_per_minute', 'provider limit: a third request is refused by the requests window');
SET LOCAL jobspy.clock_override = '2030-07-01 00:00:59+00';
SELECT is((SELECT allowed FROM jobspy.check_provider_limit('mt-openai', 100)), true, 'provider limit: a minute later the whole 100 tokens fit');
SELECT is((SELECT allowed FROM jobspy.check_provider_limit('mt-anthropic', 1000000)), true, 'provider limit: none set, none applied');
SELECT throws_ok($$SELECT jobspy.check_provider_limit('mt-openai', 101)$$, '22023', NULL, 'provider limit: more tokens than a minute holds');

-- metered invoice lines
SELECT results_eq($$SELECT provider, model, currency, completions, prompt_tokens, completion_tokens, cost, amount
                      FROM jobspy.metered_token_lines('a1000000-0000-4000-8000-000000000001', '2030-06-01', '2030-07-01')$$,
                  $$VALUES ('mt-openai', 'gpt-x', 'USD', 2::bigint, 41200::bigint, 11920::bigint, 1.333200, 1::bigint)$$,
                  'metered_token_lines: June per model, exact cost, one rounding to whole cents');
UPDATE jobspy.token_usage SET invoice_line_id = gen_random_uuid() WHERE idempotency_key = 'msg-2';
SELECT is((SELECT amount FROM jobspy.metered_token_lines('a1000000-0000-4000-8000-000000000001', '2030-06-01', '2030-07-01')), 0::bigint,
          'metered_token_lines: billed rows are left out');

-- row-level security: a role that queries directly sees its own rows
CREATE ROLE mt_enduser NOLOGIN;
GRANT USAGE ON SCHEMA jobspy TO mt_enduser;
GRANT SELECT ON jobspy.token_usage TO mt_enduser;
GRANT EXECUTE ON FUNCTION jobspy.current_row_user() TO mt_enduser;
SET LOCAL jobspy.user_id = 'a1000000-0000-4000-8000-000000000002';
SET LOCAL ROLE mt_enduser;
SELECT is((SELECT count(*) FROM jobspy.token_usage), 1::bigint, 'row-level security: user b sees only b''s completion');
RESET ROLE;
SET LOCAL ROLE jobspy_admin;
SELECT cmp_ok((SELECT count(*) FROM jobspy.token_usage), '>=', 4::bigint, 'the admin reads every row');
RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
