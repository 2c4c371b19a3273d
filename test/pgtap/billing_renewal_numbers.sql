-- Renewal runs number their invoices from one reserved block of the series:
-- the numbers stay gapless and in order when a run needs more invoices than
-- it reserved (a subscription several periods behind), fewer (a dunning
-- retry makes none), or rolls back; a block set by hand never yields a
-- number twice.  add_invoice_line refuses sums beyond bigint before writing.
BEGIN;
SELECT plan(18);
SET LOCAL TimeZone = 'UTC';

\ir include/billing_clock.psql
-- Numbers of the default series given so far, in order, and whether they
-- are exactly 1..last_number.
CREATE FUNCTION pg_temp.gapless() RETURNS boolean LANGUAGE sql AS $$
    SELECT coalesce(array_agg(n ORDER BY n), '{}')
           = ARRAY(SELECT generate_series(1, (SELECT last_number FROM jobspy.invoice_series WHERE series = 'default')))
      FROM (SELECT substring(i.invoice_number FROM '[0-9]+$')::bigint AS n
              FROM jobspy.invoices i WHERE i.series = 'default' AND i.invoice_number IS NOT NULL) x
$$;

SELECT set_config('jobspy.clock_override', '2031-01-31 10:00:00+00', true);
INSERT INTO jobspy.users (id, email)
SELECT ('b7100000-0000-4000-8000-00000000000' || i)::uuid, 'rn' || i || '@example.com' FROM generate_series(1, 4) i;
SELECT jobspy.create_product('rn-basic', 'Basic');
SELECT jobspy.create_price('rn-basic', 'rn-basic-m', 1000, 'USD', 'month');
SELECT jobspy.create_customer(('b7100000-0000-4000-8000-00000000000' || i)::uuid) FROM generate_series(1, 4) i;
SELECT jobspy.add_payment_method(id, 'card', '4242', 'visa', 12, 2040) FROM jobspy.customers
 WHERE user_id::text LIKE 'b7100000%' AND user_id <> 'b7100000-0000-4000-8000-000000000004';
SELECT count(jobspy.subscribe(c.id, 'rn-basic-m')) FROM jobspy.customers c WHERE c.user_id::text LIKE 'b7100000%';
SELECT id AS late FROM jobspy.subscriptions WHERE user_id = 'b7100000-0000-4000-8000-000000000001' \gset
SELECT id AS unpaid FROM jobspy.subscriptions WHERE user_id = 'b7100000-0000-4000-8000-000000000004' \gset
SELECT ok(pg_temp.gapless(), 'four first invoices numbered 1 to 4');

-- One subscription was left behind for three periods (renewed by hand
-- elsewhere, say): the run needs more invoices than it has subscriptions.
SET LOCAL session_replication_role = replica;
UPDATE jobspy.subscriptions SET current_period_start = '2030-10-30 10:00:00+00', current_period_end = '2030-11-30 10:00:00+00',
                                billing_cycle_anchor = '2030-10-30 10:00:00+00'
 WHERE id = :'late';
RESET session_replication_role;
SELECT is(pg_temp.travel('2031-02-28 10:00:00+00'), 4::bigint, 'the run renews four subscriptions');
SELECT is((SELECT count(*) FROM jobspy.invoices WHERE subscription_id = :'late' AND billing_reason = 'subscription_cycle'),
          4::bigint, 'the one behind gets an invoice per period it missed (from Nov 30, Dec 30, Jan 30 and Feb 28)');
SELECT ok(pg_temp.gapless(), 'the numbers past the reserved block follow it without a gap');
SELECT is((SELECT last_number FROM jobspy.invoice_series WHERE series = 'default'), 11::bigint,
          'the series ends at the last number given: 4 + 4 + 3');
SELECT is(current_setting('jobspy_billing.invoice_numbers', true), '', 'the run leaves no block behind');
SELECT is((SELECT status FROM jobspy.subscriptions WHERE id = :'unpaid'), 'past_due',
          'the customer without a card falls into dunning');

-- A dunning retry makes no invoice: the block's unused numbers go back.
SELECT is(pg_temp.travel('2031-03-03 10:00:00+00'), 1::bigint, 'the retry runs');
SELECT is((SELECT last_number FROM jobspy.invoice_series WHERE series = 'default'), 11::bigint,
          'a run that numbers nothing leaves the series where it was');

-- A run rolled back gives its numbers back with everything else.
SAVEPOINT before_run;
SELECT set_config('jobspy.clock_override', '2031-03-31 10:00:00+00', true);
SELECT is((SELECT object FROM jobspy.maintain() WHERE action = 'renewed' AND object LIKE '% subscriptions'),
          '4 subscriptions', 'maintain() renews the next period, and dunning runs out');
SELECT is((SELECT last_number FROM jobspy.invoice_series WHERE series = 'default'), 14::bigint,
          'three more numbers (the subscription left unpaid is not renewed)');
ROLLBACK TO SAVEPOINT before_run;
SELECT is((SELECT last_number FROM jobspy.invoice_series WHERE series = 'default'), 11::bigint,
          'rolled back, the series is where it was');

-- A block set by hand names numbers already given: ignored, not reused.
SELECT jobspy.create_invoice(c.id, 'USD') AS inv FROM jobspy.customers c
 WHERE c.user_id = 'b7100000-0000-4000-8000-000000000002' \gset
SELECT jobspy.add_invoice_line(:'inv', 'consulting', 1, 500);
SELECT set_config('jobspy_billing.invoice_numbers', 'default:9:11', false);
SELECT is(jobspy.finalize_invoice(:'inv'), 'INV-2031-000012',
          'a forged block the series ends at gives no number twice: the series'' next is taken');
SELECT set_config('jobspy_billing.invoice_numbers', '', false);

-- Overflow is found before anything is written.
SELECT jobspy.create_invoice(c.id, 'USD') AS inv2 FROM jobspy.customers c
 WHERE c.user_id = 'b7100000-0000-4000-8000-000000000003' \gset
SELECT jobspy.add_invoice_line(:'inv2', 'big', 1, 9223372036854775000);
SELECT throws_ok(format($$SELECT jobspy.add_invoice_line(%L, 'more', 1, 1000)$$, :'inv2'), '22003',
                 'invoice line amount out of range', 'a line whose sum overflows the invoice is refused');
SELECT is((SELECT row(count(*), min(i.total_cents))::text FROM jobspy.invoice_lines l JOIN jobspy.invoices i ON i.id = l.invoice_id
            WHERE i.id = :'inv2'), '(1,9223372036854775000)', 'and leaves the invoice as it was');

-- The session setting that walks a renewal run's block is trusted only while
-- the series row has a block out: set by hand (any role can set it), it
-- would hand out numbers already given.
SELECT jobspy.create_invoice(c.id, 'USD') AS forged FROM jobspy.customers c
 WHERE c.user_id = 'b7100000-0000-4000-8000-000000000001' \gset
SELECT jobspy.add_invoice_line(:'forged', 'forged', 1, 100);
SELECT last_number AS last_before FROM jobspy.invoice_series WHERE series = 'default' \gset
SELECT set_config('jobspy_billing.invoice_numbers', format('default:1:%s', :'last_before'), false);
SELECT is(substring(jobspy.finalize_invoice(:'forged') FROM '[0-9]+$')::bigint, :'last_before'::bigint + 1,
          'a block set by hand is ignored: the next number is the series'' next');
SELECT set_config('jobspy_billing.invoice_numbers', '', false);
SELECT ok(pg_temp.gapless(), 'and the series is still gapless');
SELECT is((SELECT block_from FROM jobspy.invoice_series WHERE series = 'default'), NULL,
          'no block is out once the runs are over');

SELECT * FROM finish();
ROLLBACK;
