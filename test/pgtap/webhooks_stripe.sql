-- Stripe events applied to billing: customers linked (or created) by
-- metadata or email, subscriptions and invoices created when missing and
-- moved through their state machines, events that cannot apply kept as
-- failures with their error, payment events recorded as not applied.
-- Payloads follow the shapes of Stripe's published fixtures
-- (stripe/openapi, openapi/fixtures3.json), trimmed to what matters.
BEGIN;
SELECT plan(75);
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA public;
SET LOCAL jobspy.clock_override = '2030-01-01 00:00:00+00';
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.set_provider_secret('stripe', 'whsec_apply');

-- send(event id, type, created (seconds after 2030-01-01), data.object): the receipt code.
CREATE FUNCTION pg_temp.send(evt text, type text, at integer, obj jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT (jobspy.receive_webhook('stripe',
               format('t=1893456000,v1=%s', encode(public.hmac('1893456000.' || p, 'whsec_apply', 'sha256'), 'hex')), p)).code
      FROM (SELECT jsonb_build_object('id', evt, 'object', 'event', 'api_version', '2024-06-20', 'type', type,
                                      'created', 1893456000 + at, 'livemode', false, 'pending_webhooks', 1,
                                      'data', jsonb_build_object('object', obj))::text AS p) x
$$;
CREATE FUNCTION pg_temp.outcome(evt text) RETURNS text LANGUAGE sql AS $$
    SELECT status || coalesce(': ' || (errors -> -1 ->> 'sqlstate'), '') FROM jobspy.payment_webhooks WHERE event_id = evt
$$;
-- A Stripe customer, subscription and invoice, as the fixtures have them.
CREATE FUNCTION pg_temp.customer(id text, email text, name text, meta jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', id, 'object', 'customer', 'address', NULL, 'balance', 0, 'created', 1893456000,
                              'currency', 'usd', 'delinquent', false, 'email', email, 'name', name, 'metadata', meta,
                              'invoice_prefix', '7FE1103', 'livemode', false, 'tax_exempt', 'none')
$$;
CREATE FUNCTION pg_temp.sub(id text, cus text, status text, extra jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', id, 'object', 'subscription', 'customer', cus, 'status', status,
                              'billing_cycle_anchor', 1893456000, 'cancel_at_period_end', false, 'canceled_at', NULL,
                              'ended_at', NULL, 'collection_method', 'charge_automatically', 'created', 1893456000,
                              'currency', 'usd', 'start_date', 1893456000, 'trial_start', NULL, 'trial_end', NULL,
                              'metadata', '{}'::jsonb, 'pause_collection', NULL,
                              'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
                                  'id', 'si_' || id, 'object', 'subscription_item', 'quantity', 1, 'subscription', id,
                                  'current_period_start', 1893456000, 'current_period_end', 1896134400,
                                  'price', jsonb_build_object('id', 'price_1Pgaf', 'object', 'price', 'active', true,
                                      'currency', 'usd', 'lookup_key', 'pro_monthly', 'product', 'prod_QXg1',
                                      'recurring', jsonb_build_object('interval', 'month', 'interval_count', 1,
                                                                      'usage_type', 'licensed'),
                                      'type', 'recurring', 'unit_amount', 2000)))))
           || extra
$$;
CREATE FUNCTION pg_temp.inv(id text, cus text, status text, lines jsonb, total bigint, extra jsonb DEFAULT '{}')
    RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', id, 'object', 'invoice', 'customer', cus, 'status', status, 'currency', 'usd',
                              'amount_due', total, 'amount_paid', CASE WHEN status = 'paid' THEN total ELSE 0 END,
                              'amount_remaining', CASE WHEN status = 'paid' THEN 0 ELSE total END,
                              'billing_reason', 'subscription_create', 'collection_method', 'charge_automatically',
                              'created', 1893456000, 'due_date', NULL, 'number', NULL, 'subtotal', total, 'total', total,
                              'total_discount_amounts', '[]'::jsonb,
                              'status_transitions', jsonb_build_object('finalized_at', NULL, 'paid_at', NULL,
                                                                       'voided_at', NULL, 'marked_uncollectible_at', NULL),
                              'parent', jsonb_build_object('type', 'subscription_details', 'subscription_details',
                                                           jsonb_build_object('subscription', 'sub_a')),
                              'lines', jsonb_build_object('object', 'list', 'data', lines))
           || extra
$$;
CREATE FUNCTION pg_temp.line(amount bigint, qty integer, descr text, tax bigint DEFAULT 0) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', 'il_' || md5(descr), 'object', 'line_item', 'amount', amount, 'currency', 'usd',
                              'description', descr, 'quantity', qty,
                              'taxes', CASE WHEN tax > 0 THEN jsonb_build_array(jsonb_build_object('amount', tax)) ELSE '[]' END,
                              'period', jsonb_build_object('start', 1893456000, 'end', 1896134400))
$$;

SELECT jobspy.create_plan('pro', 'Pro');
SELECT jobspy.create_product('pro', 'Pro', 'subscription', 'pro');
SELECT jobspy.create_price('pro', 'pro_monthly', 2000, 'USD', 'month');
CREATE TEMP TABLE u AS
SELECT jobspy.create_user('ada@example.com') AS ada, jobspy.create_user('bob@example.com') AS bob,
       jobspy.create_user('cy@example.com') AS cy;

-- ---------------------------------------------------------------- customers
SELECT is(pg_temp.send('evt_c1', 'customer.created', 0,
                       pg_temp.customer('cus_ada', 'someone@else.com', 'Ada L', jsonb_build_object('user_id', (SELECT ada FROM u)))),
          'ACCEPTED', 'customer.created is accepted');
SELECT is((SELECT (c.user_id, c.email, c.name) FROM jobspy.provider_customers pc JOIN jobspy.customers c ON c.id = pc.customer_id
            WHERE pc.provider_customer_id = 'cus_ada'),
          ROW((SELECT ada FROM u), 'someone@else.com'::text, 'Ada L'::text),
          'a customer named by metadata user_id is created and linked, with Stripe''s email and name');
SELECT is(pg_temp.outcome('evt_c1'), 'applied', 'and the event is applied');
SELECT is(pg_temp.send('evt_c2', 'customer.updated', 10, pg_temp.customer('cus_ada', 'ada@example.com', 'Ada Lovelace')),
          'ACCEPTED', 'customer.updated is accepted');
SELECT is((SELECT (c.email, c.name) FROM jobspy.customers c WHERE c.user_id = (SELECT ada FROM u)),
          ROW('ada@example.com'::text, 'Ada Lovelace'::text), 'customer.updated changes the linked customer');
SELECT jobspy.create_customer((SELECT bob FROM u));
SELECT pg_temp.send('evt_c3', 'customer.created', 0, pg_temp.customer('cus_bob', 'BOB@example.com', NULL));
SELECT is((SELECT pc.customer_id FROM jobspy.provider_customers pc WHERE pc.provider_customer_id = 'cus_bob'),
          (SELECT c.id FROM jobspy.customers c WHERE c.user_id = (SELECT bob FROM u)),
          'a customer is matched by email (any case) to the user''s existing customer');
SELECT pg_temp.send('evt_c4', 'customer.created', 0, pg_temp.customer('cus_nobody', 'nobody@example.com', 'N'));
SELECT is((SELECT (status, note LIKE 'customer cus_nobody matches no user%') FROM jobspy.payment_webhooks WHERE event_id = 'evt_c4'),
          ROW('ignored'::text, true), 'a customer matching nobody is recorded as ignored, with the reason');
SELECT is((SELECT count(*) FROM jobspy.provider_customers WHERE provider_customer_id = 'cus_nobody'), 0::bigint,
          'and links nothing');

-- ------------------------------------------------------------ subscriptions
SELECT is(pg_temp.send('evt_s1', 'customer.subscription.created', 20, pg_temp.sub('sub_a', 'cus_ada', 'active')),
          'ACCEPTED', 'customer.subscription.created is accepted');
SELECT is((SELECT (s.status, s.user_id, p.code, s.plan_type, s.quantity, s.current_period_start, s.current_period_end)
             FROM jobspy.subscriptions s JOIN jobspy.prices p ON p.id = s.price_id WHERE s.stripe_subscription_id = 'sub_a'),
          ROW('active'::text, (SELECT ada FROM u), 'pro_monthly'::text, 'pro'::text, 1,
              '2030-01-01 00:00:00+00'::timestamptz, '2030-02-01 00:00:00+00'::timestamptz),
          'the subscription is created active, on the price whose code is Stripe''s lookup key, with the items'' period');
SELECT is((SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'billing.subscription.created'
              AND entity_id = (SELECT id::text FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_a')),
          1::bigint, 'billing''s outbox event is written in the same transaction');
SELECT pg_temp.send('evt_s2', 'customer.subscription.updated', 30,
                    pg_temp.sub('sub_a', 'cus_ada', 'past_due', '{"cancel_at_period_end": true}'));
SELECT is((SELECT (status, cancel_at_period_end) FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_a'),
          ROW('past_due'::text, true), 'customer.subscription.updated moves it to past_due');
SELECT pg_temp.send('evt_s3', 'customer.subscription.deleted', 40,
                    pg_temp.sub('sub_a', 'cus_ada', 'canceled', '{"canceled_at": 1893456040, "ended_at": 1893456040}'));
SELECT is((SELECT (status, canceled_at, ended_at) FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_a'),
          ROW('canceled'::text, '2030-01-01 00:00:40+00'::timestamptz, '2030-01-01 00:00:40+00'::timestamptz),
          'customer.subscription.deleted cancels it with Stripe''s times');
SELECT is(pg_temp.send('evt_s4', 'customer.subscription.updated', 50, pg_temp.sub('sub_a', 'cus_ada', 'active')),
          'ACCEPTED', 'a newer event reviving a canceled subscription is accepted (stored)');
SELECT is(pg_temp.outcome('evt_s4'), 'failed: JS505', 'but cannot apply: failed at once with the state machine''s JS505 (no retry would cure it)');
SELECT is((SELECT errors -> 0 ->> 'error' FROM jobspy.payment_webhooks WHERE event_id = 'evt_s4'),
          'illegal subscription transition from canceled to active', 'with its error');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_a'), 'canceled',
          'and the subscription stays canceled');
SELECT is((SELECT event_id FROM jobspy.provider_objects WHERE object_id = 'sub_a'), 'evt_s3',
          'nor does its watermark move');

-- Paused and resumed (Stripe pauses a trial that ends without a payment method).
SELECT pg_temp.send('evt_p1', 'customer.subscription.created', 0,
                    pg_temp.sub('sub_b', 'cus_bob', 'trialing', '{"trial_start": 1893456000, "trial_end": 1894665600}'));
SELECT is((SELECT (status, trial_end) FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_b'),
          ROW('trialing'::text, '2030-01-15 00:00:00+00'::timestamptz), 'a trialing subscription keeps its trial');
SELECT pg_temp.send('evt_p2', 'customer.subscription.paused', 100, pg_temp.sub('sub_b', 'cus_bob', 'paused'));
SELECT is((SELECT (status, paused_at) FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_b'),
          ROW('paused'::text, '2030-01-01 00:01:40+00'::timestamptz), 'customer.subscription.paused pauses it');
SELECT pg_temp.send('evt_p3', 'customer.subscription.resumed', 200, pg_temp.sub('sub_b', 'cus_bob', 'active'));
SELECT is((SELECT (status, paused_at) FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_b'),
          ROW('active'::text, NULL::timestamptz), 'customer.subscription.resumed makes it active again');
SELECT is((SELECT array_agg(payload ->> 'previous_status' || '>' || (payload ->> 'status') ORDER BY id) FROM jobspy.outbox_events
            WHERE topic = 'billing.subscription.status_changed'
              AND entity_id = (SELECT id::text FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_b')),
          ARRAY['trialing>paused', 'paused>active'], 'each change is one outbox event');

-- First seen ended: created, then walked to canceled through legal steps.
SELECT pg_temp.send('evt_d1', 'customer.subscription.deleted', 0,
                    pg_temp.sub('sub_c', 'cus_bob', 'canceled', '{"canceled_at": 1893455000}') || '{"items": {"data": []}}');
SELECT is((SELECT (status, canceled_at, price_id IS NULL) FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_c'),
          ROW('canceled'::text, '2029-12-31 23:43:20+00'::timestamptz, true),
          'a subscription first seen deleted is created canceled (no items: no price)');

-- Unknown customer: fails (JS603) until the customer event arrives, then a retry applies it.
SELECT is(pg_temp.send('evt_u1', 'customer.subscription.created', 0, pg_temp.sub('sub_cy', 'cus_cy', 'active')), 'ACCEPTED',
          'a subscription of a customer not seen yet is accepted');
SELECT is(pg_temp.outcome('evt_u1'), 'pending: JS603', 'and waits, its error JS603');
SELECT is((SELECT count(*) FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_cy'), 0::bigint,
          'nothing of the attempt remains');
SELECT pg_temp.send('evt_u2', 'customer.created', 0, pg_temp.customer('cus_cy', 'cy@example.com', 'Cy'));
SET LOCAL jobspy.clock_override = '2030-01-01 00:00:30+00';
SELECT is(jobspy.process_webhooks(10) >= 1, true, 'process_webhooks retries it once due');
SELECT is((SELECT (s.status, s.user_id) FROM jobspy.subscriptions s WHERE s.stripe_subscription_id = 'sub_cy'),
          ROW('active'::text, (SELECT cy FROM u)), 'the retry applies it to the customer the later event linked');
SELECT is(pg_temp.outcome('evt_u1'), 'applied: JS603', 'the event is applied, its first error kept');

-- ----------------------------------------------------------------- invoices
SELECT pg_temp.send('evt_i1', 'invoice.created', 0,
                    pg_temp.inv('in_1', 'cus_ada', 'draft',
                                jsonb_build_array(pg_temp.line(2000, 1, 'Pro x 1', 200), pg_temp.line(1500, 3, 'Seats x 3')), 3700));
SELECT is((SELECT (i.status, i.amount_cents, i.tax_cents, i.total_cents, i.invoice_number, s.stripe_subscription_id)
             FROM jobspy.provider_invoices pi JOIN jobspy.invoices i ON i.id = pi.invoice_id
             LEFT JOIN jobspy.subscriptions s ON s.id = i.subscription_id WHERE pi.provider_invoice_id = 'in_1'),
          ROW('draft'::text, 3500::bigint, 200::bigint, 3700::bigint, NULL::text, 'sub_a'::text),
          'invoice.created makes a draft with Stripe''s lines, tax and subscription');
SELECT is((SELECT array_agg((quantity, unit_amount, tax_rate_bp)::text ORDER BY description) FROM jobspy.invoice_lines l
            JOIN jobspy.provider_invoices pi ON pi.invoice_id = l.invoice_id WHERE pi.provider_invoice_id = 'in_1'),
          ARRAY['(1,2000,1000)', '(3,500,0)'], 'each line with its quantity, unit amount and tax rate');
SELECT pg_temp.send('evt_i2', 'invoice.finalized', 10,
                    pg_temp.inv('in_1', 'cus_ada', 'open',
                                jsonb_build_array(pg_temp.line(2000, 1, 'Pro x 1', 200), pg_temp.line(1500, 3, 'Seats x 3')), 3700));
SELECT is((SELECT (i.status, i.invoice_number IS NOT NULL) FROM jobspy.provider_invoices pi JOIN jobspy.invoices i ON i.id = pi.invoice_id
            WHERE pi.provider_invoice_id = 'in_1'), ROW('open'::text, true),
          'invoice.finalized finalizes it: open, numbered by its series');
SELECT pg_temp.send('evt_i3', 'invoice.payment_failed', 20,
                    pg_temp.inv('in_1', 'cus_ada', 'open', jsonb_build_array(pg_temp.line(2000, 1, 'Pro x 1', 200), pg_temp.line(1500, 3, 'Seats x 3')), 3700,
                                '{"attempt_count": 1}'));
SELECT is(pg_temp.outcome('evt_i3'), 'applied', 'invoice.payment_failed leaves it open');
SELECT pg_temp.send('evt_i4', 'invoice.paid', 30,
                    pg_temp.inv('in_1', 'cus_ada', 'paid', jsonb_build_array(pg_temp.line(2000, 1, 'Pro x 1', 200), pg_temp.line(1500, 3, 'Seats x 3')), 3700,
                                '{"status_transitions": {"paid_at": 1893456030}}'));
SELECT is((SELECT (i.status, i.amount_paid_cents, i.amount_due_cents, i.paid_at) FROM jobspy.provider_invoices pi
             JOIN jobspy.invoices i ON i.id = pi.invoice_id WHERE pi.provider_invoice_id = 'in_1'),
          ROW('paid'::text, 3700::bigint, 0::bigint, '2030-01-01 00:00:30+00'::timestamptz), 'invoice.paid marks it paid');

-- First seen paid: created, finalized and paid in one application.
SELECT pg_temp.send('evt_i5', 'invoice.paid', 0, pg_temp.inv('in_2', 'cus_bob', 'paid', jsonb_build_array(pg_temp.line(900, 1, 'Once')), 900));
SELECT is((SELECT (i.status, i.total_cents, i.amount_paid_cents, i.invoice_number IS NOT NULL) FROM jobspy.provider_invoices pi
             JOIN jobspy.invoices i ON i.id = pi.invoice_id WHERE pi.provider_invoice_id = 'in_2'),
          ROW('paid'::text, 900::bigint, 900::bigint, true), 'an invoice first seen paid is created, finalized and paid');
SELECT pg_temp.send('evt_i6', 'invoice.voided', 0, pg_temp.inv('in_3', 'cus_bob', 'void', jsonb_build_array(pg_temp.line(500, 1, 'Void me')), 500));
SELECT is((SELECT i.status FROM jobspy.provider_invoices pi JOIN jobspy.invoices i ON i.id = pi.invoice_id
            WHERE pi.provider_invoice_id = 'in_3'), 'void', 'invoice.voided: finalized, then voided');
SELECT pg_temp.send('evt_i7', 'invoice.marked_uncollectible', 0,
                    pg_temp.inv('in_4', 'cus_bob', 'uncollectible', jsonb_build_array(pg_temp.line(700, 1, 'Bad debt')), 700));
SELECT is((SELECT i.status FROM jobspy.provider_invoices pi JOIN jobspy.invoices i ON i.id = pi.invoice_id
            WHERE pi.provider_invoice_id = 'in_4'), 'uncollectible', 'invoice.marked_uncollectible marks it uncollectible');
SELECT pg_temp.send('evt_i8', 'invoice.paid', 10,
                    pg_temp.inv('in_4', 'cus_bob', 'paid', jsonb_build_array(pg_temp.line(700, 1, 'Bad debt')), 700));
SELECT is((SELECT i.status FROM jobspy.provider_invoices pi JOIN jobspy.invoices i ON i.id = pi.invoice_id
            WHERE pi.provider_invoice_id = 'in_4'), 'paid', 'an uncollectible invoice paid later is paid');
SELECT pg_temp.send('evt_i9', 'invoice.created', 20,
                    pg_temp.inv('in_4', 'cus_bob', 'draft', jsonb_build_array(pg_temp.line(700, 1, 'Bad debt')), 700));
SELECT is((SELECT note FROM jobspy.payment_webhooks WHERE event_id = 'evt_i9'), NULL,
          'a newer event saying draft about a paid invoice is not taken for an older one');
SELECT is(pg_temp.outcome('evt_i9'), 'failed: JS506', 'it cannot apply: failed with JS506 from the invoice state machine');
SELECT pg_temp.send('evt_i10', 'invoice.created', 0,
                    pg_temp.inv('in_5', 'cus_bob', 'draft', jsonb_build_array(pg_temp.line(100000, 1, 'Taxed', 1)), 100001));
SELECT is(pg_temp.outcome('evt_i10'), 'failed: JS604', 'a tax that no per-line rate reproduces fails with JS604');
SELECT is((SELECT count(*) FROM jobspy.webhook_queue q JOIN jobspy.payment_webhooks w ON w.id = q.webhook_id
            WHERE w.event_id IN ('evt_s4', 'evt_i9', 'evt_i10')), 0::bigint, 'and none of the three is queued for a retry');
SELECT is((SELECT count(*) FROM jobspy.provider_invoices WHERE provider_invoice_id = 'in_5'), 0::bigint,
          'and leaves no invoice behind');

-- ----------------------------------------------------------------- payments
-- A charge (ch_, with its payment intent pi_), as the fixtures have it.
CREATE FUNCTION pg_temp.charge(id text, pi text, cus text, amount bigint, inv text DEFAULT NULL, extra jsonb DEFAULT '{}')
    RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', id, 'object', 'charge', 'amount', amount, 'amount_captured', amount,
                              'amount_refunded', 0, 'currency', 'usd', 'customer', cus, 'invoice', inv,
                              'payment_intent', pi, 'paid', true, 'captured', true, 'status', 'succeeded',
                              'balance_transaction', 'txn_' || id, 'created', 1893456000,
                              'refunds', jsonb_build_object('object', 'list', 'data', '[]'::jsonb))
           || extra
$$;
CREATE FUNCTION pg_temp.refund(id text, ch text, pi text, amount bigint, status text DEFAULT 'succeeded') RETURNS jsonb
    LANGUAGE sql AS $$
    SELECT jsonb_build_object('id', id, 'object', 'refund', 'amount', amount, 'currency', 'usd', 'charge', ch,
                              'payment_intent', pi, 'reason', 'requested_by_customer', 'status', status,
                              'created', 1893456000)
$$;
CREATE FUNCTION pg_temp.payment(pi text) RETURNS text LANGUAGE sql AS $$
    SELECT row(p.status, p.amount_cents, p.fee_cents, p.refunded_amount_cents, i.invoice_number IS NOT NULL)::text
      FROM jobspy.payments p LEFT JOIN jobspy.invoices i ON i.id = p.invoice_id WHERE p.provider_payment_id = pi
$$;
CREATE FUNCTION pg_temp.invoice_of(inv text) RETURNS text LANGUAGE sql AS $$
    SELECT row(i.status, i.amount_paid_cents)::text FROM jobspy.provider_invoices pi JOIN jobspy.invoices i ON i.id = pi.invoice_id
     WHERE pi.provider_invoice_id = inv
$$;
SELECT pg_temp.send('evt_pay_p0', 'invoice.finalized', 100,
                    pg_temp.inv('in_p', 'cus_ada', 'open', jsonb_build_array(pg_temp.line(2500, 1, 'Seats')), 2500,
                                '{"parent": null}'));
-- A failed attempt, then the charge that succeeds, with its fee expanded.
SELECT pg_temp.send('evt_pay_c0', 'charge.failed', 101,
                    pg_temp.charge('ch_p0', 'pi_p1', 'cus_ada', 2500, 'in_p', '{"status": "failed", "paid": false}'));
SELECT is(pg_temp.payment('pi_p1'), '(pending,2500,0,0,t)',
          'charge.failed of a payment intent leaves its payment pending: the customer may try again');
SELECT pg_temp.send('evt_pay_c1', 'charge.succeeded', 102,
                    pg_temp.charge('ch_p1', 'pi_p2', 'cus_ada', 2500, 'in_p',
                                   '{"balance_transaction": {"id": "txn_1", "object": "balance_transaction", "fee": 103}}'));
SELECT is(pg_temp.payment('pi_p2'), '(succeeded,2500,103,0,t)',
          'charge.succeeded records the payment under its payment intent, with the fee of its balance transaction');
SELECT is((pg_temp.invoice_of('in_p'), pg_temp.payment('pi_p2')), ('(open,0)'::text, '(succeeded,2500,103,0,t)'::text),
          'and is linked to the invoice it names, which its own invoice.paid pays (a mirror of Stripe''s)');
SELECT pg_temp.send('evt_pay_c2', 'payment_intent.succeeded', 103,
                    jsonb_build_object('id', 'pi_p2', 'object', 'payment_intent', 'amount', 2500, 'amount_received', 2500,
                                       'currency', 'usd', 'customer', 'cus_ada', 'status', 'succeeded', 'latest_charge', 'ch_p1'));
SELECT is((SELECT count(*) FROM jobspy.payments WHERE provider_payment_id IN ('pi_p2', 'ch_p1')), 1::bigint,
          'payment_intent.succeeded of the same payment is the same row');
SELECT is(pg_temp.invoice_of('in_p'), '(open,0)', 'and the invoice is still left to its own events');
SELECT pg_temp.send('evt_pay_c3', 'invoice.paid', 104,
                    pg_temp.inv('in_p', 'cus_ada', 'paid', jsonb_build_array(pg_temp.line(2500, 1, 'Seats')), 2500,
                                '{"parent": null}'));
SELECT is(pg_temp.invoice_of('in_p'), '(paid,2500)', 'its invoice.paid pays it, once');
SELECT pg_temp.send('evt_pay_c4', 'charge.failed', 105,
                    pg_temp.charge('ch_p9', 'pi_p2', 'cus_ada', 2500, 'in_p', '{"status": "failed", "paid": false}'));
SELECT is((SELECT (status, note LIKE '%failed attempt changes nothing') FROM jobspy.payment_webhooks WHERE event_id = 'evt_pay_c4'),
          ROW('ignored'::text, true), 'a failed attempt reported after the success changes nothing, and says why');
-- Refunds: listed in charge.refunded, and as refund objects; each once.
SELECT pg_temp.send('evt_pay_r1', 'charge.refunded', 106,
                    pg_temp.charge('ch_p1', 'pi_p2', 'cus_ada', 2500, 'in_p',
                                   jsonb_build_object('amount_refunded', 500, 'refunds', jsonb_build_object('object', 'list',
                                       'data', jsonb_build_array(pg_temp.refund('re_1', 'ch_p1', 'pi_p2', 500))))));
SELECT is(pg_temp.payment('pi_p2'), '(partially_refunded,2500,103,500,t)', 'charge.refunded records its listed refund');
SELECT pg_temp.send('evt_pay_r2', 'charge.refund.updated', 107, pg_temp.refund('re_1', 'ch_p1', 'pi_p2', 500));
SELECT pg_temp.send('evt_pay_r3', 'refund.created', 108, pg_temp.refund('re_2', 'ch_p1', 'pi_p2', 300));
SELECT pg_temp.send('evt_pay_r4', 'refund.updated', 109, pg_temp.refund('re_3', 'ch_p1', 'pi_p2', 100, 'pending'));
SELECT is(pg_temp.payment('pi_p2') || ' ' || (SELECT count(*) FROM jobspy.refunds r JOIN jobspy.payments p ON p.id = r.payment_id
                                               WHERE p.provider_payment_id = 'pi_p2'),
          '(partially_refunded,2500,103,800,t) 2',
          'a refund reported again counts once, a new one adds, a pending one waits');
SELECT pg_temp.send('evt_pay_r5', 'charge.refund.updated', 110, pg_temp.refund('re_9', 'ch_x', 'pi_x', 100));
SELECT is(pg_temp.outcome('evt_pay_r5'), 'pending: JS605', 'a refund of a payment not recorded yet waits for it (JS605)');
-- An invoice paid by its invoice.paid before the charge arrives: the
-- charge is recorded, not added to the invoice a second time.
SELECT pg_temp.send('evt_pay_q1', 'invoice.paid', 120,
                    pg_temp.inv('in_q', 'cus_ada', 'paid', jsonb_build_array(pg_temp.line(1200, 1, 'Extra')), 1200,
                                '{"parent": null}'));
SELECT pg_temp.send('evt_pay_q2', 'charge.succeeded', 121, pg_temp.charge('ch_q', 'pi_q', 'cus_ada', 1200, 'in_q'));
SELECT is(pg_temp.invoice_of('in_q') || ' ' || pg_temp.payment('pi_q'), '(paid,1200) (succeeded,1200,0,0,t)',
          'a charge of an invoice already paid is linked to it without paying it again');
SELECT pg_temp.send('evt_pay_u9', 'payment_intent.payment_failed', 130,
                    jsonb_build_object('id', 'pi_u', 'object', 'payment_intent', 'amount', 900, 'currency', 'usd',
                                       'customer', 'cus_nobody', 'status', 'requires_payment_method'));
SELECT is(pg_temp.outcome('evt_pay_u9'), 'pending: JS603', 'a payment of an unknown customer waits for it (JS603)');
SELECT is((SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'billing.payment.refunded'
             AND payload ->> 'provider_payment_id' = 'pi_p2'), 2::bigint,
          'billing''s own events follow: one billing.payment.refunded per refund');

-- ------------------------------------------------------ stored objects
-- provider_objects shows an object as its newest applied event holds it,
-- read from that stored event; a customer seen before its user existed is
-- linked from that stored object when a later event of it arrives.
SELECT pg_temp.send('evt_l1', 'customer.created', 200, pg_temp.customer('cus_late', 'late@example.com', 'Late'));
SELECT pg_temp.send('evt_l2', 'customer.updated', 210, pg_temp.customer('cus_late', 'Late@Example.com', 'Late Two'));
SELECT is(pg_temp.send('evt_l0', 'customer.updated', 205, pg_temp.customer('cus_late', 'old@example.com', 'Old')),
          'ACCEPTED', 'an older update of a customer of no user, delivered last, is accepted');
SELECT is((SELECT (event_id, object ->> 'email', object ->> 'name', event_stage) FROM jobspy.provider_objects
            WHERE object_type = 'customer' AND object_id = 'cus_late'),
          ROW('evt_l2'::text, 'Late@Example.com'::text, 'Late Two'::text, 2::smallint),
          'provider_objects shows the object of the newest applied event');
SELECT is((SELECT o.object FROM jobspy.provider_objects o WHERE o.object_type = 'customer' AND o.object_id = 'cus_late'),
          (SELECT w.payload #> '{data,object}' FROM jobspy.payment_webhooks w WHERE w.event_id = 'evt_l2'),
          'exactly its data.object');
SELECT is((SELECT count(*) FROM jobspy.provider_customers WHERE provider_customer_id = 'cus_late'), 0::bigint,
          'nothing is linked while no user matches');
SELECT jobspy.create_user('late@example.com') AS late \gset
SELECT is(pg_temp.send('evt_l3', 'customer.subscription.created', 220, pg_temp.sub('sub_late', 'cus_late', 'active')),
          'ACCEPTED', 'a subscription of that customer arrives once the user exists');
SELECT is(pg_temp.outcome('evt_l3'), 'applied', 'and is applied');
SELECT is((SELECT s.user_id FROM jobspy.subscriptions s WHERE s.stripe_subscription_id = 'sub_late'), :'late'::uuid,
          'to the user the stored customer object names by email');
SELECT is((SELECT c.user_id FROM jobspy.provider_customers pc JOIN jobspy.customers c ON c.id = pc.customer_id
            WHERE pc.provider_customer_id = 'cus_late'), :'late'::uuid, 'who is now linked');

-- ---------------------------------------------- order within billing's rules
-- A payment intent's failed attempt is not its end: the success after it is
-- recorded.
SELECT pg_temp.send('evt_rt1', 'payment_intent.payment_failed', 300,
                    jsonb_build_object('id', 'pi_rt', 'object', 'payment_intent', 'amount', 1500, 'currency', 'usd',
                                       'customer', 'cus_ada', 'status', 'requires_payment_method'));
SELECT pg_temp.send('evt_rt2', 'payment_intent.succeeded', 301,
                    jsonb_build_object('id', 'pi_rt', 'object', 'payment_intent', 'amount', 1500, 'amount_received', 1500,
                                       'currency', 'usd', 'customer', 'cus_ada', 'status', 'succeeded'));
SELECT is((pg_temp.outcome('evt_rt2'), (SELECT status FROM jobspy.payments WHERE provider_payment_id = 'pi_rt')),
          ('applied'::text, 'succeeded'::text), 'a payment intent that failed once and then succeeded is succeeded');
-- A charge of its own (no payment intent) that fails has failed for good.
SELECT pg_temp.send('evt_rt3', 'charge.failed', 302,
                    pg_temp.charge('ch_alone', NULL, 'cus_ada', 700, NULL, '{"status": "failed", "paid": false}'));
SELECT is((SELECT status FROM jobspy.payments WHERE provider_payment_id = 'ch_alone'), 'failed',
          'a failed charge without a payment intent is failed');

-- An event type billing does not apply leaves the watermark alone: the
-- older invoice.paid delivered after it still pays the invoice.
SELECT pg_temp.send('evt_w1', 'invoice.finalized', 310,
                    pg_temp.inv('in_w', 'cus_ada', 'open', jsonb_build_array(pg_temp.line(900, 1, 'Watermark')), 900,
                                '{"parent": null}'));
SELECT pg_temp.send('evt_w2', 'invoice.upcoming', 320,
                    pg_temp.inv('in_w', 'cus_ada', 'paid', jsonb_build_array(pg_temp.line(900, 1, 'Watermark')), 900,
                                '{"parent": null}'));
SELECT pg_temp.send('evt_w3', 'invoice.paid', 315,
                    pg_temp.inv('in_w', 'cus_ada', 'paid', jsonb_build_array(pg_temp.line(900, 1, 'Watermark')), 900,
                                '{"parent": null}'));
SELECT is((pg_temp.outcome('evt_w2'), pg_temp.outcome('evt_w3'), pg_temp.invoice_of('in_w')),
          ('ignored'::text, 'applied'::text, '(paid,900)'::text),
          'an event not applied to billing does not hide an older one that is');
SELECT is((SELECT event_id FROM jobspy.provider_watermarks WHERE object_id = 'in_w'), 'evt_w3',
          'and the watermark is the applied event''s');

-- finalized and paid in the same second, the paid one's id sorting first
-- and delivered last: paid wins, whatever the ids.
SELECT pg_temp.send('evt_same_9', 'invoice.finalized', 330,
                    pg_temp.inv('in_s', 'cus_ada', 'open', jsonb_build_array(pg_temp.line(400, 1, 'Same second')), 400,
                                '{"parent": null}'));
SELECT pg_temp.send('evt_same_1', 'invoice.paid', 330,
                    pg_temp.inv('in_s', 'cus_ada', 'paid', jsonb_build_array(pg_temp.line(400, 1, 'Same second')), 400,
                                '{"parent": null}'));
SELECT is((pg_temp.outcome('evt_same_1'), pg_temp.invoice_of('in_s')), ('applied'::text, '(paid,400)'::text),
          'invoice.paid of the same second as invoice.finalized is applied after it');

-- A trial added to a running subscription is one change, not a pause.
SELECT pg_temp.send('evt_tr1', 'customer.subscription.created', 340, pg_temp.sub('sub_tr', 'cus_ada', 'active'));
SELECT count(*) AS tr_events FROM jobspy.outbox_events WHERE topic = 'billing.subscription.status_changed' \gset
SELECT pg_temp.send('evt_tr2', 'customer.subscription.updated', 341,
                    pg_temp.sub('sub_tr', 'cus_ada', 'trialing', '{"trial_end": 1896134400}'));
SELECT is(((SELECT status FROM jobspy.subscriptions WHERE stripe_subscription_id = 'sub_tr'),
           (SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'billing.subscription.status_changed') - :tr_events),
          ('trialing'::text, 1::bigint), 'active to trialing is one status change, with one event');

-- Stripe keeps ISK and UGX in hundredths (500 is 5 ISK); billing's minor
-- units of those are whole units.
SELECT pg_temp.send('evt_isk1', 'payment_intent.succeeded', 350,
                    jsonb_build_object('id', 'pi_isk', 'object', 'payment_intent', 'amount', 50000, 'amount_received', 50000,
                                       'currency', 'isk', 'customer', 'cus_ada', 'status', 'succeeded'));
SELECT is((SELECT (amount_cents, currency) FROM jobspy.payments WHERE provider_payment_id = 'pi_isk'), ROW(500::bigint, 'ISK'::text),
          'a Stripe ISK amount of 50000 is 500 kronur');
SELECT pg_temp.send('evt_isk2', 'payment_intent.succeeded', 351,
                    jsonb_build_object('id', 'pi_isk2', 'object', 'payment_intent', 'amount', 50050, 'amount_received', 50050,
                                       'currency', 'isk', 'customer', 'cus_ada', 'status', 'succeeded'));
SELECT is(pg_temp.outcome('evt_isk2'), 'failed: 22023', 'an ISK amount that is not whole kronur fails for good');
-- A fee in another (settlement) currency than the charge's is not taken.
SELECT pg_temp.send('evt_fx1', 'charge.succeeded', 352,
                    pg_temp.charge('ch_fx', 'pi_fx', 'cus_ada', 1000, NULL,
                                   '{"balance_transaction": {"id": "txn_fx", "object": "balance_transaction", "currency": "eur", "fee": 61}}'));
SELECT is(pg_temp.payment('pi_fx'), '(succeeded,1000,0,0,f)', 'a fee in the settlement currency is not taken as the charge''s');

-- A failed attempt (its payment pending, linked), then invoice.paid, then
-- the success: the invoice is paid once, by its own event.
SELECT pg_temp.send('evt_pf1', 'invoice.finalized', 360,
                    pg_temp.inv('in_pf', 'cus_ada', 'open', jsonb_build_array(pg_temp.line(1000, 1, 'Retry')), 1000,
                                '{"parent": null}'));
SELECT pg_temp.send('evt_pf2', 'payment_intent.payment_failed', 361,
                    jsonb_build_object('id', 'pi_pf', 'object', 'payment_intent', 'amount', 1000, 'currency', 'usd',
                                       'customer', 'cus_ada', 'invoice', 'in_pf', 'status', 'requires_payment_method'));
SELECT pg_temp.send('evt_pf3', 'invoice.paid', 362,
                    pg_temp.inv('in_pf', 'cus_ada', 'paid', jsonb_build_array(pg_temp.line(1000, 1, 'Retry')), 1000,
                                '{"parent": null}'));
SELECT pg_temp.send('evt_pf4', 'payment_intent.succeeded', 362,
                    jsonb_build_object('id', 'pi_pf', 'object', 'payment_intent', 'amount', 1000, 'amount_received', 1000,
                                       'currency', 'usd', 'customer', 'cus_ada', 'invoice', 'in_pf', 'status', 'succeeded'));
SELECT is((pg_temp.invoice_of('in_pf'), pg_temp.payment('pi_pf')), ('(paid,1000)'::text, '(succeeded,1000,0,0,t)'::text),
          'a payment that failed once and succeeded after its invoice.paid does not pay the invoice twice');

-- A credit note credited the whole of a paid invoice, then Stripe reports
-- a refund of its charge: the refund happened, so it is recorded, and the
-- money returned twice is reported.
SELECT pg_temp.send('evt_cn1', 'invoice.paid', 370,
                    pg_temp.inv('in_cn', 'cus_ada', 'paid', jsonb_build_array(pg_temp.line(800, 1, 'Noted')), 800,
                                '{"parent": null}'));
SELECT pg_temp.send('evt_cn2', 'charge.succeeded', 371, pg_temp.charge('ch_cn', 'pi_cn', 'cus_ada', 800, 'in_cn'));
SELECT jobspy.create_credit_note((SELECT invoice_id FROM jobspy.provider_invoices WHERE provider_invoice_id = 'in_cn'), 800);
SELECT pg_temp.send('evt_cn3', 'charge.refunded', 372,
                    pg_temp.charge('ch_cn', 'pi_cn', 'cus_ada', 800, 'in_cn',
                                   jsonb_build_object('amount_refunded', 800, 'refunded', true, 'refunds',
                                       jsonb_build_object('object', 'list', 'data',
                                           jsonb_build_array(pg_temp.refund('re_cn', 'ch_cn', 'pi_cn', 800))))));
SELECT is((pg_temp.outcome('evt_cn3'), pg_temp.payment('pi_cn'),
           (SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'billing.invoice.returned_twice'
               AND payload ->> 'provider_refund_id' = 're_cn')),
          ('applied'::text, '(refunded,800,0,800,t)'::text, 1::bigint),
          'a provider''s refund of money a credit note returned is recorded and reported as returned twice');

SELECT * FROM finish();
ROLLBACK;
