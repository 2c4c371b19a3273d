-- Usage events (seed 003): denials, tier changes and reported failures are
-- recorded, granted usage is not repeated; row-level security on quota
-- counters, the usage ledger and usage events for direct queries.
BEGIN;
SELECT plan(16);
SET LOCAL jobspy.clock_override = '2030-06-15 12:00:00+00';

SELECT jobspy.create_plan('ue_basic', 'Basic') IS NOT NULL, jobspy.create_plan('ue_premium', 'Premium') IS NOT NULL;
SELECT jobspy.set_plan_quota('ue_basic', 'ue.posts', 'day', 2), jobspy.set_plan_quota('ue_premium', 'ue.posts', 'day', 25),
       jobspy.set_plan_quota('ue_premium', 'ue.not_in_plan', 'day', 5);
INSERT INTO jobspy.users (id, email) VALUES ('e1000000-0000-4000-8000-000000000001', 'ue.a@example.com'),
                                            ('e1000000-0000-4000-8000-000000000002', 'ue.b@example.com');
SELECT jobspy.set_user_plan('e1000000-0000-4000-8000-000000000001', 'ue_basic'),
       jobspy.set_user_plan('e1000000-0000-4000-8000-000000000002', 'ue_basic');
SELECT results_eq($$SELECT user_id::text, from_plan, to_plan FROM jobspy.usage_events WHERE event_type = 'tier_change' ORDER BY user_id$$,
                  $$VALUES ('e1000000-0000-4000-8000-000000000001', NULL, 'ue_basic'), ('e1000000-0000-4000-8000-000000000002', NULL, 'ue_basic')$$,
                  'a first plan is a tier change from none');

SELECT allowed FROM jobspy.consume_quota('e1000000-0000-4000-8000-000000000001', 'ue.posts', 1, 'p1');
SELECT allowed FROM jobspy.consume_quota('e1000000-0000-4000-8000-000000000001', 'ue.posts');
SELECT is((SELECT count(*) FROM jobspy.usage_events WHERE event_type = 'quota_exceeded'), 0::bigint, 'grants write no usage event');
SELECT is((SELECT allowed FROM jobspy.consume_quota('e1000000-0000-4000-8000-000000000001', 'ue.posts', 1, 'p3')), false, 'the third post is denied');
SELECT results_eq($$SELECT metric, amount, used, quota_limit FROM jobspy.usage_events WHERE event_type = 'quota_exceeded'$$,
                  $$VALUES ('ue.posts', 1::bigint, 2::bigint, 2::bigint)$$, 'the denial is recorded: metric, amount asked, used, limit');
SELECT is((SELECT used FROM jobspy.quota_status('e1000000-0000-4000-8000-000000000001', 'ue.posts')), 2::bigint, 'the denial consumed nothing');
SELECT is((SELECT reservation_id FROM jobspy.reserve_quota('e1000000-0000-4000-8000-000000000001', 'ue.posts', 5)), NULL, 'a reservation too large is denied');
SELECT is((SELECT count(*) FROM jobspy.usage_events WHERE event_type = 'quota_exceeded' AND amount = 5), 1::bigint, 'a denied reservation is recorded too');
SELECT is((SELECT allowed FROM jobspy.consume_quota('e1000000-0000-4000-8000-000000000001', 'ue.not_in_plan')), false, 'a metric the plan lacks');
SELECT is((SELECT quota_limit FROM jobspy.usage_events WHERE metric = 'ue.not_in_plan'), 0::bigint, 'is recorded as a denial with limit 0');

SELECT jobspy.set_user_plan('e1000000-0000-4000-8000-000000000001', 'ue_premium');
SELECT jobspy.set_user_plan('e1000000-0000-4000-8000-000000000001', 'ue_premium');
SELECT results_eq($$SELECT from_plan, to_plan FROM jobspy.usage_events WHERE event_type = 'tier_change' AND user_id = 'e1000000-0000-4000-8000-000000000001' AND from_plan IS NOT NULL$$,
                  $$VALUES ('ue_basic', 'ue_premium')$$, 'an upgrade is one tier change; setting the same plan again is none');

SELECT ok(jobspy.record_usage_event('e1000000-0000-4000-8000-000000000002', 'failure', 'ue.posts', '{"kind": "relay_error", "relay": "wss://relay.example"}') IS NOT NULL,
          'record_usage_event: a failure the application saw');
SELECT throws_ok($$SELECT jobspy.record_usage_event('e1000000-0000-4000-8000-000000000002', 'quota_exceeded')$$, '22023', NULL, 'record_usage_event: only failures');
SELECT throws_ok($$SELECT jobspy.record_usage_event('e1000000-0000-4000-8000-0000000000ff', 'failure')$$, '22023', 'user does not exist', 'record_usage_event: unknown user');
SELECT throws_ok($$SELECT jobspy.record_usage_event('e1000000-0000-4000-8000-000000000002', 'failure', NULL, '[]')$$, '22023', NULL, 'record_usage_event: detail not an object');

-- a role that queries directly sees its own rows only
SELECT allowed FROM jobspy.consume_quota('e1000000-0000-4000-8000-000000000002', 'ue.posts', 1, 'b1');
CREATE ROLE ue_enduser NOLOGIN;
GRANT USAGE ON SCHEMA jobspy TO ue_enduser;
GRANT SELECT ON jobspy.quota_counters, jobspy.usage_records, jobspy.usage_events TO ue_enduser;
GRANT EXECUTE ON FUNCTION jobspy.current_row_user() TO ue_enduser;
SET LOCAL jobspy.user_id = 'e1000000-0000-4000-8000-000000000002';
SET LOCAL ROLE ue_enduser;
SELECT is((SELECT count(DISTINCT user_id)::text || ' ' || min(user_id::text) FROM (
              SELECT user_id FROM jobspy.quota_counters UNION ALL SELECT user_id FROM jobspy.usage_records
              UNION ALL SELECT user_id FROM jobspy.usage_events) x),
          '1 e1000000-0000-4000-8000-000000000002', 'row-level security: counters, ledger and events of user b only');
RESET ROLE;
SET LOCAL ROLE jobspy_admin;
SELECT is((SELECT count(DISTINCT user_id) FROM jobspy.usage_events WHERE user_id::text LIKE 'e1000000%'), 2::bigint, 'the admin reads every user''s events');
RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
