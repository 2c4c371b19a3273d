-- spend_points draws in C (src/loyalty_spend.c); the SQL implementation
-- (loyalty_spend_points_sql, through loyalty_draw) holds the same rule.
-- Two members get the same grants, the same clock and the same spends, one
-- through each path: 300 random steps (grants with their own expiry, time
-- moving past expiries with and without maintain() writing them off,
-- spends of one grant or several, denials; replays are in loyalty_points), then every answer, balance,
-- next expiry, grant remainder and ledger row must agree.
BEGIN;
SELECT plan(8);

SET LOCAL jobspy.clock_override = '2031-01-01 00:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES
    ('c5000000-0000-4000-8000-00000000000c', 'spend.c@example.com'),
    ('c5000000-0000-4000-8000-00000000005a', 'spend.sql@example.com');
SELECT jobspy.enroll_member('c5000000-0000-4000-8000-00000000000c');
SELECT jobspy.enroll_member('c5000000-0000-4000-8000-00000000005a');

CREATE TEMP TABLE answers (step integer, path text, allowed boolean, balance bigint, PRIMARY KEY (step, path));
SELECT setseed(0.25);
DO $$
DECLARE
    c   uuid := 'c5000000-0000-4000-8000-00000000000c';
    s   uuid := 'c5000000-0000-4000-8000-00000000005a';
    t   timestamptz := '2031-01-01 00:00:00+00';
    pts bigint;
    exp timestamptz;
BEGIN
    FOR step IN 1..300 LOOP
        CASE floor(random() * 5)::integer
        WHEN 0, 1 THEN   -- the same grant to both, living 1 to 40 days
            pts := 1 + floor(random() * 50);
            exp := t + (1 + floor(random() * 40)) * interval '1 day';
            PERFORM jobspy.loyalty_lock_member(c);
            PERFORM jobspy.loyalty_grant(c, pts, 'bonus', exp);
            PERFORM jobspy.loyalty_lock_member(s);
            PERFORM jobspy.loyalty_grant(s, pts, 'bonus', exp);
        WHEN 2 THEN      -- time moves; expired grants are written off now and then
            t := t + floor(random() * 6) * interval '1 day';
            PERFORM set_config('jobspy.clock_override', t::text, true);
            IF random() < 0.3 THEN
                PERFORM jobspy.maintain_loyalty();
            END IF;
        ELSE             -- the same spend by each, through each path
            pts := 1 + floor(random() * 80);
            INSERT INTO answers SELECT step, 'c', a.allowed, a.balance FROM jobspy.spend_points(c, pts, 'k' || step) a;
            INSERT INTO answers SELECT step, 'sql', a.allowed, a.balance
              FROM jobspy.loyalty_spend_points_sql(s, pts, 'k' || step) a;
        END CASE;
    END LOOP;
END
$$;

SELECT ok((SELECT count(*) FILTER (WHERE allowed) > 20 AND count(*) FILTER (WHERE NOT allowed) > 5 FROM answers WHERE path = 'c'),
          'the steps made spends both allowed and denied');
SELECT ok((SELECT count(*) > 5 FROM (SELECT reference FROM jobspy.loyalty_ledger
                                      WHERE user_id = 'c5000000-0000-4000-8000-00000000000c' AND kind = 'spend'
                                      GROUP BY reference HAVING count(*) > 2) several),
          'and spends that drew from three grants or more (past the first read of two)');
SELECT is((SELECT count(*) FROM answers c JOIN answers s USING (step)
            WHERE c.path = 'c' AND s.path = 'sql' AND (c.allowed, c.balance) IS DISTINCT FROM (s.allowed, s.balance)),
          0::bigint, 'every spend answered the same through both paths');
SELECT is((SELECT (balance, debt, next_expiry)::text FROM jobspy.loyalty_members WHERE user_id = 'c5000000-0000-4000-8000-00000000000c'),
          (SELECT (balance, debt, next_expiry)::text FROM jobspy.loyalty_members WHERE user_id = 'c5000000-0000-4000-8000-00000000005a'),
          'the members'' balance, debt and next expiry agree');
SELECT is(ARRAY(SELECT (expires_at, remaining)::text FROM jobspy.loyalty_grants
                 WHERE user_id = 'c5000000-0000-4000-8000-00000000000c' ORDER BY grant_id),
          ARRAY(SELECT (expires_at, remaining)::text FROM jobspy.loyalty_grants
                 WHERE user_id = 'c5000000-0000-4000-8000-00000000005a' ORDER BY grant_id),
          'every grant has the same remainder');
-- Ledger rows compared with each grant named by its rank among the
-- member's grants (the ids differ between the two members).
CREATE TEMP VIEW ledger_ranked AS
SELECT l.user_id, l.id, l.kind, l.points, l.expires_at, l.reference, g.rank AS grant_rank
  FROM jobspy.loyalty_ledger l
  LEFT JOIN (SELECT user_id, id, row_number() OVER (PARTITION BY user_id ORDER BY id) AS rank
               FROM jobspy.loyalty_ledger WHERE grant_id IS NULL) g
         ON g.user_id = l.user_id AND g.id = l.grant_id;
SELECT is(ARRAY(SELECT (kind, points, expires_at, reference, grant_rank)::text FROM ledger_ranked
                 WHERE user_id = 'c5000000-0000-4000-8000-00000000000c' ORDER BY id),
          ARRAY(SELECT (kind, points, expires_at, reference, grant_rank)::text FROM ledger_ranked
                 WHERE user_id = 'c5000000-0000-4000-8000-00000000005a' ORDER BY id),
          'the ledgers hold the same rows in the same order, drawn from the same grants');
SELECT is((SELECT count(*) FROM jobspy.loyalty_check()), 0::bigint, 'both reconcile with their ledgers');
SELECT is((SELECT count(*) FROM jobspy.loyalty_spends WHERE user_id = 'c5000000-0000-4000-8000-00000000000c'),
          (SELECT count(*) FROM answers WHERE path = 'c' AND allowed), 'one idempotency record per allowed spend');

SELECT * FROM finish();
ROLLBACK;
