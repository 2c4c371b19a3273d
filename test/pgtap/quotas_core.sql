-- Plans, consumption, idempotency, reservations, the ledger, errors.
BEGIN;
SELECT plan(107);

SET LOCAL jobspy.clock_override = '2031-05-14 12:00:00+00';
INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'q1@example.com', 'UTC'),
    ('a0000000-0000-4000-8000-000000000002', 'q2@example.com', 'UTC'),
    ('a0000000-0000-4000-8000-000000000003', 'q3@example.com', 'UTC'),
    ('a0000000-0000-4000-8000-000000000004', 'q4@example.com', 'UTC');
INSERT INTO jobspy.users (id, email, status) VALUES
    ('a0000000-0000-4000-8000-000000000009', 'q9@example.com', 'suspended');

-- Plans.
SELECT isnt(jobspy.create_plan('t_basic', 'Basic', 'Casual use', 0, NULL, 'USD', '["posting"]'), NULL, 'create_plan returns an id');
SELECT isnt(jobspy.create_plan('t_pro', 'Pro', price_monthly => 499, price_yearly => 4990,
                               features => '{"analytics": true, "relays": false}'), NULL, 'create_plan takes named options');
SELECT isnt(jobspy.create_plan('t_old', 'Old', is_active => false), NULL, 'an inactive plan can be made');
SELECT is((SELECT price_monthly FROM jobspy.plans WHERE code = 't_pro'), 499::bigint, 'prices are kept in minor units');
SELECT throws_ok($$SELECT jobspy.create_plan('t_basic', 'Again')$$, '23505', NULL, 'a plan code is unique');
SELECT throws_ok($$SELECT jobspy.create_plan('bad code!', 'X')$$, '22023', NULL, 'a malformed code is refused');
SELECT throws_ok($$SELECT jobspy.create_plan('t_x', NULL)$$, '22023', NULL, 'a plan needs a name');
SELECT throws_ok($$SELECT jobspy.create_plan('t_x', 'X', price_monthly => -1)$$, '22023', NULL, 'a negative price is refused');
SELECT throws_ok($$SELECT jobspy.create_plan('t_x', 'X', currency => 'usd')$$, '22023', NULL, 'a currency is three capitals');
SELECT throws_ok($$SELECT jobspy.create_plan('t_x', 'X', features => '"all"')$$, '22023', NULL, 'features are an array or an object');
SELECT is((SELECT count(*) FROM jobspy.plans WHERE code = 't_x'), 0::bigint, 'refused plans wrote nothing');

SELECT lives_ok($$SELECT jobspy.set_plan_quota('t_basic', 'posts', 'day', 3)$$, 'set_plan_quota sets a limit');
SELECT lives_ok($$SELECT jobspy.set_plan_quota('t_pro', 'posts', 'day', -1)$$, '-1 is unlimited');
SELECT lives_ok($$SELECT jobspy.set_plan_quota('t_basic', 'tokens', 'month', 1000)$$, 'a monthly quota');
SELECT lives_ok($$SELECT jobspy.set_plan_quota('t_basic', 'exports', 'lifetime', 2)$$, 'a lifetime quota');
SELECT lives_ok($$SELECT jobspy.set_plan_quota('t_pro', 'tokens', 'month', 100000)$$, 'another plan''s quota');
SELECT throws_ok($$SELECT jobspy.set_plan_quota('t_nope', 'posts', 'day', 3)$$, '22023', NULL, 'unknown plan');
SELECT throws_ok($$SELECT jobspy.set_plan_quota('t_basic', 'posts', 'fortnight', 3)$$, '22023', NULL, 'unknown period');
SELECT throws_ok($$SELECT jobspy.set_plan_quota('t_basic', 'posts', 'day', -2)$$, '22023', NULL, 'limit below -1');
SELECT throws_ok($$SELECT jobspy.set_plan_quota('t_basic', 'Bad Metric', 'day', 1)$$, '22023', NULL, 'malformed metric');
SELECT throws_ok($$SELECT jobspy.set_plan_quota('t_basic', 'posts', 'day', NULL)$$, '22023', NULL, 'NULL limit');

-- Plan changes are audited and stamped.
SELECT ok(EXISTS (SELECT FROM jobspy.audit_logs WHERE resource_type = 'plans' AND action = 'INSERT'
                     AND new_values ->> 'code' = 't_pro'), 'plan creation is audited');
SELECT ok(EXISTS (SELECT FROM jobspy.audit_logs WHERE resource_type = 'plan_quotas' AND action = 'INSERT'
                     AND new_values ->> 'metric' = 'posts'), 'plan quota creation is audited');
SET LOCAL jobspy.clock_override = '2031-05-14 12:00:01+00';
SELECT jobspy.set_plan_quota('t_basic', 'posts', 'day', 3);  -- no change: no audit row
SELECT jobspy.set_plan_quota('t_basic', 'exports', 'lifetime', 3);
SELECT jobspy.set_plan_quota('t_basic', 'exports', 'lifetime', 2);
SELECT is((SELECT count(*) FROM jobspy.audit_logs WHERE resource_type = 'plan_quotas' AND action = 'UPDATE'),
          2::bigint, 'each real quota change is audited, a no-op is not');
SELECT is((SELECT q.updated_at FROM jobspy.plan_quotas q JOIN jobspy.plans p ON p.id = q.plan_id
            WHERE p.code = 't_basic' AND q.metric = 'exports'), '2031-05-14 12:00:01+00'::timestamptz,
          'updated_at follows changes');
SET LOCAL jobspy.clock_override = '2031-05-14 12:00:00+00';

-- set_user_plan.
SELECT lives_ok($$SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-000000000001', 't_basic')$$, 'set_user_plan');
SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-000000000002', 't_pro');
SELECT throws_ok($$SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-00000000ffff', 't_basic')$$, '22023', NULL, 'unknown user');
SELECT throws_ok($$SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-000000000001', 't_nope')$$, '22023', NULL, 'unknown plan');
SELECT throws_ok($$SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-000000000001', 't_old')$$, '55000', NULL, 'inactive plans take no new users');
SELECT ok(EXISTS (SELECT FROM jobspy.audit_logs WHERE resource_type = 'user_plans'), 'user plan changes are audited');

-- consume_quota: 3 posts a day.
SELECT is((SELECT row(allowed, used, quota_limit, remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts')),
          '(t,1,3,2)', 'first post allowed');
SELECT is((SELECT row(allowed, used, quota_limit, remaining, period_start, resets_at)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 2)),
          row(true, 3, 3, 0, '2031-05-14 00:00:00+00'::timestamptz, '2031-05-15 00:00:00+00'::timestamptz)::text,
          'two more fill the day; the period and its reset are given');
SELECT is((SELECT row(allowed, used, quota_limit, remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts')),
          '(f,3,3,0)', 'the fourth is denied');
SELECT is((SELECT used::bigint FROM jobspy.quota_counters WHERE user_id = 'a0000000-0000-4000-8000-000000000001' AND metric = 'posts'),
          3::bigint, 'a denial consumes nothing');
-- The counter's own checks (domains and a constraint trigger, not CHECK constraints).
SELECT throws_ok($$UPDATE jobspy.quota_counters SET used = -1 WHERE metric = 'posts'$$, '23514', NULL,
                 'a counter never goes below zero');
SELECT throws_ok($$UPDATE jobspy.quota_counters SET reserved = -1 WHERE metric = 'posts'$$, '23514', NULL,
                 'nor does what it holds in reserve');
SELECT throws_ok($$UPDATE jobspy.quota_counters SET period = 'hour' WHERE metric = 'posts'$$, '23514', NULL,
                 'a period is day, week, month, year or lifetime');
SELECT throws_ok($$UPDATE jobspy.quota_counters SET period_end = period_start WHERE metric = 'posts'$$, '23514', NULL,
                 'a period ends after it starts');
SELECT throws_ok($$INSERT INTO jobspy.quota_counters (user_id, metric, period, period_start, period_end)
                   VALUES ('a0000000-0000-4000-8000-000000000001', 'other', 'day', '2031-05-14', '2031-05-13')$$,
                 '23514', NULL, 'also for a new counter');
SELECT is((SELECT row(allowed, used, remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'exports', 3)),
          '(f,0,2)', 'an amount above what remains is denied whole');
SELECT is((SELECT row(allowed, used, remaining, period_start, resets_at)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'exports', 2)),
          '(t,2,0,,)', 'what remains can be taken; a lifetime quota has no period and never resets');

-- It joins the caller's transaction.
SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-000000000003', 't_basic');
SAVEPOINT s2;
SELECT count(*) FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000003', 'posts', 3);
ROLLBACK TO SAVEPOINT s2;
SELECT is((SELECT row(used, remaining)::text FROM jobspy.quota_status('a0000000-0000-4000-8000-000000000003', 'posts')),
          '(0,3)', 'a consumption rolled back with its transaction is not counted');

-- Unlimited: counted, no limit, nothing remaining to report.
SELECT is((SELECT row(allowed, used, quota_limit, remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000002', 'posts', 1000000)),
          '(t,1000000,,)', 'unlimited: allowed, counted, limit and remaining NULL');

-- quota_status does not consume.
SELECT is((SELECT row(allowed, used, quota_limit, remaining)::text
             FROM jobspy.quota_status('a0000000-0000-4000-8000-000000000001', 'posts')),
          '(f,3,3,0)', 'quota_status: full');
SELECT is((SELECT row(allowed, used, quota_limit, remaining)::text
             FROM jobspy.quota_status('a0000000-0000-4000-8000-000000000001', 'tokens')),
          '(t,0,1000,1000)', 'quota_status of an unused quota');
SELECT is((SELECT used FROM jobspy.quota_status('a0000000-0000-4000-8000-000000000001', 'posts')), 3::bigint,
          'quota_status twice changes nothing');

-- Bad input and unknowns.
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 0)$$, '22023', NULL, 'amount 0');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', -5)$$, '22023', NULL, 'negative amount');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', NULL)$$, '22023', NULL, 'NULL amount');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota(NULL, 'posts')$$, '22023', NULL, 'NULL user');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', NULL)$$, '22023', NULL, 'NULL metric');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-00000000ffff', 'posts')$$, '22023', NULL, 'unknown user');
SELECT throws_ok($$SELECT * FROM jobspy.quota_status('a0000000-0000-4000-8000-00000000ffff', 'posts')$$, '22023', NULL, 'quota_status: unknown user');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000009', 'posts')$$, 'JS403', NULL, 'a suspended user');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000004', 'posts')$$, 'JS401', NULL, 'no plan in force');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'no.such.metric')$$, 'JS402', NULL, 'a metric no plan defines');
SELECT is((SELECT row(allowed, used, quota_limit, remaining, period_start, resets_at)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000002', 'exports')),
          '(f,0,0,0,,)', 'a metric the plan in force does not define: denied, limit 0');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 1, '')$$, '22023', NULL, 'empty idempotency key');

-- Idempotency keys.
SELECT jobspy.set_plan_quota('t_basic', 'posts', 'day', 5);
SELECT is((SELECT row(allowed, used, remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 1, 'post-1')),
          '(t,4,1)', 'a keyed consumption');
SELECT is((SELECT row(allowed, used, remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 1, 'post-1')),
          '(t,4,1)', 'its replay returns the first answer');
SELECT is((SELECT used FROM jobspy.quota_status('a0000000-0000-4000-8000-000000000001', 'posts')), 4::bigint,
          'and counts nothing again');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 2, 'post-1')$$,
                 'JS404', NULL, 'the key with another amount');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 1, 'post-1')$$,
                 'JS404', NULL, 'the key with another metric');
SELECT is((SELECT row(allowed, used)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000003', 'posts', 1, 'post-1')),
          '(t,1)', 'keys are per user');
SELECT is((SELECT row(allowed, used)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 3, 'post-big')),
          '(f,4)', 'a keyed denial');
SELECT jobspy.set_plan_quota('t_basic', 'posts', 'day', 50);
SELECT is((SELECT row(allowed, used)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 3, 'post-big')),
          '(t,7)', 'a denial does not bind its key: the retry is granted once there is room');
SELECT is((SELECT row(allowed, used)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 3, 'post-big')),
          '(t,7)', 'and then replays');
SET LOCAL jobspy.clock_override = '2032-05-14 12:00:00+00';
SELECT is((SELECT row(allowed, used, period_start)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'posts', 1, 'post-1')),
          row(true, 4, '2031-05-14 00:00:00+00'::timestamptz)::text, 'a year later the key still replays its first answer');
SET LOCAL jobspy.clock_override = '2031-05-14 12:00:00+00';

-- The ledger: keyed, priced and annotated grants are recorded; plain ones
-- only with jobspy.quota_usage_records = all.
SELECT is((SELECT count(*) FROM jobspy.usage_records WHERE user_id = 'a0000000-0000-4000-8000-000000000001'
              AND idempotency_key = 'post-1'), 1::bigint, 'a keyed grant has one usage record, replays none');
SELECT is((SELECT count(*) FROM jobspy.usage_records WHERE idempotency_key = 'post-big'), 1::bigint,
          'the denial left no usage record, the grant one');
SELECT is((SELECT count(*) FROM jobspy.usage_records WHERE user_id = 'a0000000-0000-4000-8000-000000000002'),
          0::bigint, 'plain grants are counted, not recorded, by default');
SET LOCAL jobspy.quota_usage_records = 'all';
SELECT count(*) FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000002', 'posts', 7);
SELECT is((SELECT sum(amount) FROM jobspy.usage_records WHERE user_id = 'a0000000-0000-4000-8000-000000000002'),
          7::numeric, 'with quota_usage_records = all every grant is recorded');
RESET jobspy.quota_usage_records;
SELECT is((SELECT row(allowed, used)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000002', 'tokens', 1200, NULL, 3.6, '{"provider": "openai"}')),
          '(t,1200)', 'consume_quota with a cost and metadata');
SELECT is((SELECT row(amount, cost, metadata ->> 'provider')::text FROM jobspy.usage_records
            WHERE user_id = 'a0000000-0000-4000-8000-000000000002' AND metric = 'tokens'),
          '(1200,3.600000,openai)', 'the cost (minor units) and metadata are recorded');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000002', 'tokens', 1, NULL, -1)$$,
                 '22023', NULL, 'a negative cost');
SELECT ok(to_regclass('jobspy.usage_records_default') IS NOT NULL
          AND (SELECT relkind FROM pg_class WHERE oid = 'jobspy.usage_records'::regclass) = 'p',
          'the ledger is partitioned with a default partition');

-- Reservations: 1000 tokens a month for user 1.
SELECT is((SELECT row(reservation_id IS NOT NULL, allowed, used, remaining)::text
             FROM jobspy.reserve_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 700, interval '5 minutes', 'chat-1')),
          '(t,t,0,300)', 'a reservation holds its amount');
SELECT is((SELECT row(allowed, used, remaining)::text
             FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 400)),
          '(f,0,300)', 'held amounts count against the limit');
SELECT is((SELECT row(reservation_id IS NULL, allowed)::text
             FROM jobspy.reserve_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 400)),
          '(t,f)', 'a reservation without room is denied with no id');
SELECT is((SELECT reservation_id FROM jobspy.reserve_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 700, interval '5 minutes', 'chat-1')),
          (SELECT id FROM jobspy.quota_reservations WHERE idempotency_key = 'chat-1'), 'a replayed reservation returns the same id');
SELECT is((SELECT row(allowed, used, remaining)::text
             FROM jobspy.quota_reservations r, jobspy.settle_reservation(r.id, 650, 1.95, '{"model": "m"}') s
            WHERE r.idempotency_key = 'chat-1'),
          '(t,650,350)', 'settling counts the actual amount and frees the rest');
SELECT is((SELECT row(allowed, used, remaining)::text
             FROM jobspy.quota_reservations r, jobspy.settle_reservation(r.id, 650) s
            WHERE r.idempotency_key = 'chat-1'),
          '(t,650,350)', 'settling again with the same amount changes nothing');
SELECT throws_ok($$SELECT * FROM jobspy.quota_reservations r, jobspy.settle_reservation(r.id, 10) s
                    WHERE r.idempotency_key = 'chat-1'$$, '55000', NULL, 'settling again with another amount');
SELECT is((SELECT row(amount, reservation_id IS NOT NULL, cost)::text FROM jobspy.usage_records
            WHERE user_id = 'a0000000-0000-4000-8000-000000000001' AND metric = 'tokens'),
          '(650,t,1.950000)', 'a settlement writes one usage record');
SELECT reservation_id AS rid FROM jobspy.reserve_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 300) \gset
SELECT is((SELECT allowed FROM jobspy.settle_reservation(:'rid', 900)), false,
          'an actual amount above the estimate is recorded even past the limit');
SELECT is((SELECT row(used, remaining)::text FROM jobspy.quota_status('a0000000-0000-4000-8000-000000000001', 'tokens')),
          '(1550,0)', 'and leaves nothing remaining');
SELECT jobspy.set_plan_quota('t_basic', 'tokens', 'month', 5000);
SELECT is((SELECT jobspy.cancel_reservation(reservation_id)
             FROM jobspy.reserve_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 1000)), true, 'cancel releases');
SELECT is((SELECT row(used, remaining)::text FROM jobspy.quota_status('a0000000-0000-4000-8000-000000000001', 'tokens')),
          '(1550,3450)', 'a cancelled reservation holds nothing');
SELECT is((SELECT jobspy.cancel_reservation(id) FROM jobspy.quota_reservations WHERE status = 'cancelled'), false,
          'cancelling twice is a no-op');
SELECT throws_ok($$SELECT * FROM jobspy.quota_reservations r, jobspy.settle_reservation(r.id, 1) s WHERE r.status = 'cancelled'$$,
                 '55000', NULL, 'a cancelled reservation cannot be settled');
SELECT throws_ok($$SELECT jobspy.cancel_reservation(id) FROM jobspy.quota_reservations WHERE idempotency_key = 'chat-1'$$,
                 '55000', NULL, 'a settled reservation cannot be cancelled');
SELECT throws_ok($$SELECT * FROM jobspy.settle_reservation('a0000000-0000-4000-8000-00000000ffff', 1)$$, '22023', NULL, 'unknown reservation');
SELECT throws_ok($$SELECT * FROM jobspy.settle_reservation(NULL, 1)$$, '22023', NULL, 'NULL reservation');
SELECT throws_ok($$SELECT * FROM jobspy.reserve_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 1, interval '0')$$,
                 '22023', NULL, 'a reservation needs a positive ttl');
SELECT throws_ok($$SELECT * FROM jobspy.consume_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 1, 'chat-1')$$,
                 'JS404', NULL, 'a reservation''s key cannot be reused to consume');

-- Expiry: maintain() releases what was neither settled nor cancelled.
SELECT count(*) FROM jobspy.reserve_quota('a0000000-0000-4000-8000-000000000001', 'tokens', 2000, interval '1 minute');
SELECT is((SELECT remaining FROM jobspy.quota_status('a0000000-0000-4000-8000-000000000001', 'tokens')), 1450::bigint,
          'held until expiry');
SET LOCAL jobspy.clock_override = '2031-05-14 12:02:00+00';
SELECT is((SELECT count(*) FROM jobspy.maintain() WHERE action = 'released'), 1::bigint, 'maintain() releases expired reservations');
SELECT is((SELECT remaining FROM jobspy.quota_status('a0000000-0000-4000-8000-000000000001', 'tokens')), 3450::bigint,
          'the expired amount is free again');
SELECT throws_ok($$SELECT * FROM jobspy.quota_reservations r, jobspy.settle_reservation(r.id, 1) s WHERE r.status = 'expired'$$,
                 '55000', NULL, 'an expired reservation cannot be settled');
SELECT is((SELECT count(*) FROM jobspy.maintain() WHERE action = 'released'), 0::bigint, 'a second run finds nothing');

-- Old counters go after retention.quota_counters (13 months by default).
SET LOCAL jobspy.clock_override = '2032-07-02 00:00:00+00';
SELECT ok((SELECT count(*) FROM jobspy.maintain() WHERE action = 'deleted' AND object LIKE '%quota counters%') = 1,
          'maintain() deletes counters past retention');
SELECT is((SELECT count(*) FROM jobspy.quota_counters WHERE period IN ('day', 'month')), 0::bigint, 'day and month counters of 2031 are gone');
SELECT is((SELECT count(*) FROM jobspy.quota_counters WHERE period = 'lifetime'), 1::bigint, 'lifetime counters stay');

-- Privileges: the application role calls the API, not the tables.
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.consume_quota(uuid, text, bigint, text)', 'EXECUTE'), 'app may consume');
SELECT ok(NOT has_function_privilege('jobspy_app', 'jobspy.create_plan(text, text, text, bigint, bigint, text, jsonb, boolean, boolean, integer)', 'EXECUTE'),
          'app may not create plans');
SELECT ok(NOT has_table_privilege('jobspy_app', 'jobspy.quota_counters', 'UPDATE'), 'app may not write counters');
SELECT ok(has_function_privilege('jobspy_admin', 'jobspy.set_plan_quota(text, text, text, bigint)', 'EXECUTE'), 'admin may set quotas');

SELECT * FROM finish();
ROLLBACK;
