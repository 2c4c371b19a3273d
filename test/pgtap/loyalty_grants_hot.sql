-- A spend that leaves points in a grant changes no indexed value of
-- loyalty_grants (its live indexes are partial on the generated live, not on
-- remaining): a HOT update that adds no index entries.  The spend that
-- empties the grant takes it out of the live indexes.  The same for
-- credit_grants.
BEGIN;
SELECT plan(8);

SET LOCAL jobspy.clock_override = '2031-01-01 00:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES ('c6000000-0000-4000-8000-000000000001', 'hot.grant@example.com');
SELECT jobspy.enroll_member('c6000000-0000-4000-8000-000000000001');
SELECT jobspy.loyalty_grant('c6000000-0000-4000-8000-000000000001', 10, 'bonus', '2031-06-01 00:00:00+00');

CREATE TEMP TABLE before AS
    SELECT pg_stat_get_xact_tuples_updated('jobspy.loyalty_grants'::regclass) AS updated,
           pg_stat_get_xact_tuples_hot_updated('jobspy.loyalty_grants'::regclass) AS hot;
SELECT jobspy.spend_points('c6000000-0000-4000-8000-000000000001', 1, 'hot-' || n) FROM generate_series(1, 9) n;

SELECT is(pg_stat_get_xact_tuples_updated('jobspy.loyalty_grants'::regclass) - (SELECT updated FROM before), 9::bigint,
          'nine spends update the grant nine times');
SELECT is(pg_stat_get_xact_tuples_hot_updated('jobspy.loyalty_grants'::regclass) - (SELECT hot FROM before), 9::bigint,
          'each as a HOT update: no new index entries');
SELECT is((SELECT remaining FROM jobspy.loyalty_grants WHERE user_id = 'c6000000-0000-4000-8000-000000000001'), 1::bigint,
          'one point is left');
SELECT ok((SELECT live FROM jobspy.loyalty_grants WHERE user_id = 'c6000000-0000-4000-8000-000000000001'),
          'and the grant is live');
SELECT jobspy.spend_points('c6000000-0000-4000-8000-000000000001', 1, 'hot-last');
SELECT is((SELECT live FROM jobspy.loyalty_grants WHERE user_id = 'c6000000-0000-4000-8000-000000000001'), false,
          'the spend that empties it makes it not live');
SELECT throws_ok($$UPDATE jobspy.loyalty_grants SET live = true WHERE user_id = 'c6000000-0000-4000-8000-000000000001'$$,
                 '428C9', NULL, 'live is derived from remaining and cannot be written');

-- Prepaid credits follow the same rule.
SELECT jobspy.grant_credits('c6000000-0000-4000-8000-000000000001', 1000, 'USD');
CREATE TEMP TABLE credits_before AS
    SELECT pg_stat_get_xact_tuples_updated('jobspy.credit_grants'::regclass) AS updated,
           pg_stat_get_xact_tuples_hot_updated('jobspy.credit_grants'::regclass) AS hot;
SELECT count(*) FROM generate_series(1, 5) n,
       jobspy.spend_credits('c6000000-0000-4000-8000-000000000001', 10, 'USD', 'hot-credit-' || n);
SELECT is(pg_stat_get_xact_tuples_updated('jobspy.credit_grants'::regclass) - (SELECT updated FROM credits_before),
          5::bigint, 'five credit spends update the grant five times');
SELECT is(pg_stat_get_xact_tuples_hot_updated('jobspy.credit_grants'::regclass) - (SELECT hot FROM credits_before),
          5::bigint, 'each as a HOT update');

SELECT * FROM finish();
ROLLBACK;
