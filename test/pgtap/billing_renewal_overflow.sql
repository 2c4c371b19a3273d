-- A subscription whose renewal invoice would hold an amount out of range of
-- bigint (metered usage times the unit amount, the recurring line, the sum
-- of its lines, the credit carried) does not fail the renewal run of every
-- other subscription: it is left as it was, its failure recorded on the row
-- and in the outbox once, and it renews normally once the cause is gone.
BEGIN;
SELECT plan(36);
SET LOCAL TimeZone = 'UTC';

CREATE FUNCTION pg_temp.travel(at timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('jobspy.clock_override', at::text, true);
    RETURN jobspy.renew_subscriptions();
END
$$;
CREATE FUNCTION pg_temp.usage(u uuid, tokens bigint, at timestamptz) RETURNS void LANGUAGE sql AS $$
    INSERT INTO jobspy.token_usage (user_id, provider, model, prompt_tokens, completion_tokens, currency,
                                    input_price_per_million, output_price_per_million, cost, metric, quota_allowed,
                                    created_at)
    VALUES (u, 'p', 'm', tokens, 0, 'USD', 0, 0, 0, 'ai.tokens', true, at)
$$;
-- What a renewal run leaves of a subscription: status, period start,
-- invoices, error.
CREATE FUNCTION pg_temp.state(sid uuid) RETURNS text LANGUAGE sql AS $$
    SELECT row(s.status, s.current_period_start, (SELECT count(*) FROM jobspy.invoices i WHERE i.subscription_id = s.id),
               s.renewal_error IS NOT NULL)::text
      FROM jobspy.subscriptions s WHERE s.id = sid
$$;
CREATE FUNCTION pg_temp.failures(sid uuid) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM jobspy.outbox_events
     WHERE topic = 'billing.subscription.renewal_failed' AND entity_id = sid::text
$$;

SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
INSERT INTO jobspy.users (id, email)
SELECT ('b8100000-0000-4000-8000-00000000000' || i)::uuid, 'ro' || i || '@example.com' FROM generate_series(1, 8) i;
SELECT jobspy.create_product('ro-ai', 'AI');
SELECT jobspy.create_product('ro-big', 'Big');
SELECT jobspy.create_product('ro-free', 'Free');
SELECT jobspy.create_price('ro-ai', 'ro-ai-m', 2000, 'USD', 'month', unit_amount => 1000000000000,
                           included_quantity => 10, metric => 'ai.tokens');
SELECT jobspy.create_price('ro-big', 'ro-big-trial', 10000000000000, 'USD', 'month', trial_days => 7);
SELECT jobspy.create_price('ro-free', 'ro-free-m', 0, 'USD', 'month');
SELECT jobspy.create_customer(id) FROM jobspy.users WHERE email LIKE 'ro_@example.com';
SELECT jobspy.add_payment_method(c.id, 'card', '4242', 'visa', 12, 2040)
  FROM jobspy.customers c JOIN jobspy.users u ON u.id = c.user_id
 WHERE u.email LIKE 'ro_@example.com' AND u.email <> 'ro7@example.com';
SELECT jobspy.subscribe(c.id, 'ro-ai-m') AS s1 FROM jobspy.customers c
 WHERE c.user_id = 'b8100000-0000-4000-8000-000000000001' \gset
SELECT jobspy.subscribe(c.id, 'ro-ai-m') AS s2 FROM jobspy.customers c
 WHERE c.user_id = 'b8100000-0000-4000-8000-000000000002' \gset

-- ---- metered usage times the unit amount beyond bigint ----------------------
-- 10^8 tokens over the included 10 at 10^12 each: about 10^20.
SELECT pg_temp.usage('b8100000-0000-4000-8000-000000000001', 100000000, '2031-02-01');
SELECT pg_temp.usage('b8100000-0000-4000-8000-000000000002', 20, '2031-02-01');
SELECT lives_ok($$SELECT pg_temp.travel('2031-02-28 10:00:00+00')$$,
                'a subscription whose metered line overflows does not fail the renewal run');
SELECT is(pg_temp.state(:'s2'), row('active', '2031-02-28 10:00:00+00'::timestamptz, 2, false)::text,
          'the other subscription is renewed and invoiced');
SELECT is((SELECT amount_cents FROM jobspy.invoices WHERE subscription_id = :'s2' AND period_start = '2031-02-28 10:00:00+00'),
          10000000002000::bigint, 'with its own usage: 10 over at 10^12, and 2000');
SELECT is(pg_temp.state(:'s1'), row('active', '2031-01-31 10:00:00+00'::timestamptz, 1, true)::text,
          'the broken one keeps its period and status, with no new invoice');
SELECT is((SELECT count(*) FROM jobspy.invoices WHERE status = 'draft'), 0::bigint, 'no draft is left behind');
SELECT is((SELECT count(*) FROM jobspy.token_usage WHERE user_id = 'b8100000-0000-4000-8000-000000000001'
              AND invoice_line_id IS NOT NULL), 0::bigint, 'its usage is not marked billed');
SELECT is((SELECT renewal_error FROM jobspy.subscriptions WHERE id = :'s1'),
          'the metered line, 99999990 ai.tokens over the 10 included at 1000000000000 each, is out of range',
          'renewal_error says why');
SELECT is((SELECT renewal_failed_at FROM jobspy.subscriptions WHERE id = :'s1'), '2031-02-28 10:00:00+00'::timestamptz,
          'renewal_failed_at says when');
SELECT is((SELECT row(payload ->> 'customer_id', payload ->> 'status', (payload ->> 'period_start')::timestamptz,
                      payload ->> 'reason')::text
             FROM jobspy.outbox_events WHERE topic = 'billing.subscription.renewal_failed' AND entity_id = :'s1'),
          row((SELECT customer_id::text FROM jobspy.subscriptions WHERE id = :'s1'), 'active',
              '2031-02-28 10:00:00+00'::timestamptz,
              'the metered line, 99999990 ai.tokens over the 10 included at 1000000000000 each, is out of range')::text,
          'billing.subscription.renewal_failed names the customer, the period it could not start and the reason');
SELECT is((SELECT count(*) FROM jobspy.outbox_events WHERE entity_id = :'s1'
              AND topic IN ('billing.subscription.status_changed', 'billing.subscription.period_started')), 0::bigint,
          'and nothing says it moved');

-- ---- repeated runs neither fail nor repeat the record -----------------------
SELECT lives_ok($$SELECT * FROM jobspy.maintain()$$, 'maintain() runs');
SELECT is(pg_temp.travel('2031-03-01 10:00:00+00'), 0::bigint, 'a later run counts nothing renewed');
SELECT is(pg_temp.failures(:'s1'), 1::bigint, 'and records the same failure once');
SELECT is((SELECT renewal_failed_at FROM jobspy.subscriptions WHERE id = :'s1'), '2031-02-28 10:00:00+00'::timestamptz,
          'renewal_failed_at keeps the first failure');

-- ---- the cause corrected, it renews normally -------------------------------
DELETE FROM jobspy.token_usage WHERE user_id = 'b8100000-0000-4000-8000-000000000001';
SELECT pg_temp.usage('b8100000-0000-4000-8000-000000000001', 12, '2031-02-01');
SELECT is(pg_temp.travel('2031-03-01 11:00:00+00'), 1::bigint, 'once the usage is corrected the run renews it');
SELECT is(pg_temp.state(:'s1'), row('active', '2031-02-28 10:00:00+00'::timestamptz, 2, false)::text,
          'into the period it had missed, its error cleared');
SELECT is((SELECT row(amount_cents, renewal_failed_at)::text FROM jobspy.invoices i JOIN jobspy.subscriptions s
            ON s.id = i.subscription_id WHERE s.id = :'s1' AND i.period_start = '2031-02-28 10:00:00+00'),
          row(2000000002000, NULL::timestamptz)::text, 'with its usage: 2 over at 10^12, and 2000');

-- ---- a usage sum beyond bigint ------------------------------------------------
SELECT pg_temp.usage('b8100000-0000-4000-8000-000000000002', 5000000000000000000, '2031-03-01');
SELECT pg_temp.usage('b8100000-0000-4000-8000-000000000002', 5000000000000000000, '2031-03-02');
SELECT lives_ok($$SELECT pg_temp.travel('2031-03-31 10:00:00+00')$$, 'usage summing beyond bigint does not fail the run');
SELECT is(pg_temp.state(:'s2'), row('active', '2031-02-28 10:00:00+00'::timestamptz, 2, true)::text,
          'the subscription is left as it was, with its error');
SELECT matches((SELECT renewal_error FROM jobspy.subscriptions WHERE id = :'s2'), '^the metered line, 9999999999999999990 ai.tokens over',
               'the reason names the metered line');

-- ---- the recurring line at a trial's end -----------------------------------
SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
-- (subscribe refuses more than 10^15 a period; a direct writer of the row
-- can still make one)
SELECT jobspy.subscribe(c.id, 'ro-big-trial') AS s3 FROM jobspy.customers c
 WHERE c.user_id = 'b8100000-0000-4000-8000-000000000003' \gset
UPDATE jobspy.subscriptions SET quantity = 1000000 WHERE id = :'s3';
SELECT lives_ok($$SELECT pg_temp.travel('2031-02-08 10:00:00+00')$$,
                'a recurring line of 10^6 x 10^13 does not fail the run');
SELECT is(pg_temp.state(:'s3'), row('trialing', '2031-01-31 10:00:00+00'::timestamptz, 0, true)::text,
          'the trial stays as it was, uninvoiced');
SELECT is((SELECT renewal_error FROM jobspy.subscriptions WHERE id = :'s3'),
          'the recurring line, 1000000 x 10000000000000, is out of range', 'its reason');

-- A daily price whose line fits but whose monthly amount (MRR, which the
-- trial's end makes it count for) does not.
SELECT jobspy.create_price('ro-big', 'ro-big-daily', 1000000000000000, 'USD', 'day', trial_days => 1);
SELECT jobspy.subscribe(c.id, 'ro-big-daily') AS s8 FROM jobspy.customers c
 WHERE c.user_id = 'b8100000-0000-4000-8000-000000000008' \gset
UPDATE jobspy.subscriptions SET quantity = 1000 WHERE id = :'s8';
SELECT lives_ok($$SELECT pg_temp.travel('2031-02-09 10:00:00+00')$$,
                'a trial ending into an MRR beyond bigint does not fail the run');
SELECT is((SELECT row(status, renewal_error)::text FROM jobspy.subscriptions WHERE id = :'s8'),
          row('trialing', 'the monthly recurring revenue of 1000 x 1000000000000000 a day is out of range')::text,
          'it stays in its trial, with the reason');

-- ---- the lines' sum, and the credit carried --------------------------------
SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
SELECT jobspy.subscribe(c.id, 'ro-free-m') AS s4 FROM jobspy.customers c
 WHERE c.user_id = 'b8100000-0000-4000-8000-000000000004' \gset
SELECT jobspy.subscribe(c.id, 'ro-free-m') AS s5 FROM jobspy.customers c
 WHERE c.user_id = 'b8100000-0000-4000-8000-000000000005' \gset
SELECT jobspy.subscribe(c.id, 'ro-free-m') AS s6 FROM jobspy.customers c
 WHERE c.user_id = 'b8100000-0000-4000-8000-000000000006' \gset
INSERT INTO jobspy.pending_invoice_items (customer_id, subscription_id, description, amount, currency)
SELECT s.customer_id, s.id, 'item ' || n, v, 'USD'
  FROM jobspy.subscriptions s,
       LATERAL (VALUES (1, 9000000000000000000), (2, 9000000000000000000), (3, -9000000000000000000)) x (n, v)
 WHERE s.id = :'s4';
INSERT INTO jobspy.pending_invoice_items (customer_id, subscription_id, description, amount, currency)
SELECT s.customer_id, s.id, 'item ' || n, v, 'USD'
  FROM jobspy.subscriptions s,
       LATERAL (VALUES (1, -9223372036854775807), (2, -1)) x (n, v)
 WHERE s.id = :'s5';
INSERT INTO jobspy.pending_invoice_items (customer_id, subscription_id, description, amount, currency)
SELECT s.customer_id, s.id, 'item ' || n, v, 'USD'
  FROM jobspy.subscriptions s,
       LATERAL (VALUES (1, 9000000000000000000), (2, -9000000000000000000)) x (n, v)
 WHERE s.id = :'s6';
SELECT lives_ok($$SELECT pg_temp.travel('2031-02-28 10:00:00+00')$$,
                'lines whose running sum overflows, or a credit too large to carry, do not fail the run');
SELECT is((SELECT renewal_error FROM jobspy.subscriptions WHERE id = :'s4'),
          'the invoice''s subtotal, 18000000000000000000 with its pending items, is out of range',
          'a running sum out of range, though the last sum fits, is refused as add_invoice_line would');
SELECT is((SELECT renewal_error FROM jobspy.subscriptions WHERE id = :'s5'),
          'the credit to carry to the next invoice, 9223372036854775808, is out of range',
          'a total of the lowest bigint cannot be carried');
SELECT is((SELECT count(*) FROM jobspy.pending_invoice_items WHERE subscription_id IN (:'s4', :'s5')
              AND invoice_id IS NULL), 5::bigint, 'their pending items stay pending');
SELECT is(pg_temp.state(:'s6'), row('active', '2031-02-28 10:00:00+00'::timestamptz, 2, false)::text,
          'in the same run, pending items that sum within range are invoiced');

-- ---- a dunning retry over open invoices due beyond bigint in sum ------------
SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
SELECT jobspy.subscribe(c.id, 'ro-free-m') AS s7 FROM jobspy.customers c
 WHERE c.user_id = 'b8100000-0000-4000-8000-000000000007' \gset
SELECT jobspy.create_invoice(customer_id, 'USD') AS i1, jobspy.create_invoice(customer_id, 'USD') AS i2
  FROM jobspy.subscriptions WHERE id = :'s7' \gset
UPDATE jobspy.invoices SET subscription_id = :'s7' WHERE id IN (:'i1', :'i2');
SELECT jobspy.add_invoice_line(id, 'big', 1, 5000000000000000000) FROM jobspy.invoices WHERE id IN (:'i1', :'i2');
SELECT jobspy.finalize_invoice(id) FROM jobspy.invoices WHERE id IN (:'i1', :'i2');
UPDATE jobspy.subscriptions SET status = 'past_due', payment_failed_at = '2031-01-31 10:00:00+00',
                                next_retry_at = '2031-02-03 10:00:00+00'
 WHERE id = :'s7';
SELECT lives_ok($$SELECT pg_temp.travel('2031-02-03 11:00:00+00')$$,
                'a retry over open invoices owing more than bigint in all does not fail the run');
SELECT is((SELECT row(status, dunning_attempts, next_retry_at)::text FROM jobspy.subscriptions WHERE id = :'s7'),
          row('past_due', 1, '2031-02-05 10:00:00+00'::timestamptz)::text, 'the retry fails and the next is scheduled');

-- ---- the renewal invoice's checks: what subscription_invoice_problem sees ---
SELECT is(jobspy.subscription_invoice_problem(s, p, NULL), NULL::text, 'a plain renewal has no problem')
  FROM jobspy.subscriptions s JOIN jobspy.prices p ON p.id = s.price_id WHERE s.id = :'s6';
SELECT is((SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'billing.subscription.renewal_failed'),
          6::bigint, 'one renewal_failed event for each failure recorded');
SELECT is((SELECT count(*) FROM jobspy.subscriptions WHERE renewal_error IS NOT NULL), 5::bigint,
          'an operator finds the subscriptions whose renewal failed by renewal_error');
SELECT is((SELECT has_function_privilege('jobspy_app', 'jobspy.subscription_invoice_problem(jobspy.subscriptions, jobspy.prices, timestamptz, text)', 'EXECUTE')),
          false, 'the check is internal');

SELECT * FROM finish();
ROLLBACK;
