-- record_purchase earns in C on its common path (src/loyalty_purchase.c);
-- the SQL implementation (loyalty_record_purchase_sql) holds the same
-- rules.  Two members make the same purchases at the same times, one
-- through each path, over 300 random steps: two businesses (one with a
-- minimum purchase and a short points lifetime), tiers with their own earn
-- rates, category multipliers, replays, refunds that leave a debt, spends,
-- time passing expiries with and without maintain() (whose review
-- downgrades tiers, so that purchases upgrade again).  Every answer, the
-- members, their grants, ledgers and purchases must agree, and the C path
-- must have answered most purchases itself.
BEGIN;
SELECT plan(11);

SET LOCAL jobspy.clock_override = '2031-01-01 00:00:00+00';
SET LOCAL track_functions = 'pl';
INSERT INTO jobspy.users (id, email) VALUES
    ('c6000000-0000-4000-8000-00000000000c', 'purchase.c@example.com'),
    ('c6000000-0000-4000-8000-00000000005a', 'purchase.sql@example.com');
SELECT jobspy.enroll_member('c6000000-0000-4000-8000-00000000000c');
SELECT jobspy.enroll_member('c6000000-0000-4000-8000-00000000005a');
SELECT jobspy.create_business('pp-a', 'Paths Cafe');
SELECT jobspy.create_business('pp-b', 'Paths Books');
SELECT jobspy.set_business_rules('pp-b', earn_bp => 300, min_purchase => 1000, points_lifetime => '20 days');
SELECT jobspy.set_loyalty_programme(tier_window => '20 days', tier_review => '10 days');
SELECT jobspy.set_tier('silver', 'Silver', 1, 20000, 'RUB');
SELECT jobspy.set_tier('gold', 'Gold', 2, 60000, 'RUB');
SELECT jobspy.set_earn_rate('pp-a', 'silver', 700);
SELECT jobspy.set_earn_rate('pp-a', 'gold', 1000);
SELECT jobspy.set_earn_rate('pp-b', 'gold', 1500);
SELECT jobspy.set_category_multiplier('pp-a', 'coffee', 20000);
SELECT jobspy.set_category_multiplier('pp-a', 'tea', 5000);

CREATE TEMP TABLE answers (step integer, path text, purchase text, points bigint, balance bigint, tier text,
                           replayed boolean, in_sql boolean, tier_before text, PRIMARY KEY (step, path));

CREATE FUNCTION pg_temp.sql_calls() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(pg_stat_get_xact_function_calls(
        'jobspy.loyalty_record_purchase_sql(text, text, uuid, bigint, text, text, text)'::regprocedure), 0)
$$;
CREATE FUNCTION pg_temp.tier_of(u uuid) RETURNS text LANGUAGE sql AS $$
    SELECT t.code FROM jobspy.loyalty_members m LEFT JOIN jobspy.loyalty_tiers t ON t.id = m.tier_id
     WHERE m.user_id = u
$$;

SELECT setseed(0.5);
DO $$
DECLARE
    c      uuid := 'c6000000-0000-4000-8000-00000000000c';
    s      uuid := 'c6000000-0000-4000-8000-00000000005a';
    t      timestamptz := '2031-01-01 00:00:00+00';
    biz    text;
    amt    bigint;
    cat    text;
    ext    text;
    calls  bigint;
    before text;
    r      record;
BEGIN
    FOR step IN 1..300 LOOP
        CASE floor(random() * 8)::integer
        WHEN 0, 1, 2, 3 THEN   -- the same new purchase by each, through each path
            biz := (ARRAY['pp-a', 'pp-b'])[1 + floor(random() * 2)];
            amt := (ARRAY[0, 400, 999, 1000, 2500, 4000, 6000, 12000])[1 + floor(random() * 8)];
            cat := (ARRAY[NULL, 'coffee', 'tea', 'books'])[1 + floor(random() * 4)];
            before := pg_temp.tier_of(c);
            calls := pg_temp.sql_calls();
            INSERT INTO answers
            SELECT step, 'c', biz || ':' || step, a.points_earned, a.balance, a.tier, a.replayed,
                   pg_temp.sql_calls() > calls, before
              FROM jobspy.record_purchase(biz, 'c-' || step, c, amt, 'RUB', category => cat) a;
            INSERT INTO answers
            SELECT step, 'sql', biz || ':' || step, a.points_earned, a.balance, a.tier, a.replayed, true, NULL
              FROM jobspy.loyalty_record_purchase_sql(biz, 's-' || step, s, amt, 'RUB', NULL, cat) a;
        WHEN 4 THEN            -- a replay of an earlier purchase, same values
            SELECT b.code AS biz, substr(p.external_id, 3) AS n, p.amount, p.category INTO r
              FROM jobspy.loyalty_purchases p JOIN jobspy.loyalty_businesses b ON b.id = p.business_id
             WHERE p.user_id = c ORDER BY random() LIMIT 1;
            IF FOUND THEN
                calls := pg_temp.sql_calls();
                INSERT INTO answers
                SELECT step, 'c', r.biz || ':' || r.n, a.points_earned, a.balance, a.tier, a.replayed,
                       pg_temp.sql_calls() > calls, pg_temp.tier_of(c)
                  FROM jobspy.record_purchase(r.biz, 'c-' || r.n, c, r.amount, 'RUB', category => r.category) a;
                INSERT INTO answers
                SELECT step, 'sql', r.biz || ':' || r.n, a.points_earned, a.balance, a.tier, a.replayed, true, NULL
                  FROM jobspy.loyalty_record_purchase_sql(r.biz, 's-' || r.n, s, r.amount, 'RUB', NULL, r.category) a;
            END IF;
        WHEN 5 THEN            -- points spent (all of them, half the time), then a refund
            amt := CASE WHEN random() < 0.5 THEN jobspy.points_balance(c) ELSE least(jobspy.points_balance(c), 200) END;
            IF amt > 0 THEN
                PERFORM jobspy.spend_points(c, amt, 'k' || step);
                PERFORM jobspy.spend_points(s, amt, 'k' || step);
            END IF;
            SELECT b.code AS biz, substr(p.external_id, 3) AS n, p.amount - p.refunded AS left_ INTO r
              FROM jobspy.loyalty_purchases p JOIN jobspy.loyalty_businesses b ON b.id = p.business_id
             WHERE p.user_id = c AND p.refunded < p.amount ORDER BY random() LIMIT 1;
            IF FOUND THEN
                amt := 1 + floor(random() * r.left_);
                PERFORM jobspy.refund_purchase(r.biz, 'c-' || r.n, amt, 'r' || step);
                PERFORM jobspy.refund_purchase(r.biz, 's-' || r.n, amt, 'r' || step);
            END IF;
        ELSE                   -- time moves; now and then maintain() expires points and reviews tiers
            t := t + floor(random() * 5) * interval '1 day';
            PERFORM set_config('jobspy.clock_override', t::text, true);
            IF random() < 0.3 THEN
                PERFORM jobspy.maintain_loyalty();
            END IF;
        END CASE;
    END LOOP;
END
$$;

SELECT is((SELECT count(*) FROM answers c JOIN answers s USING (step)
            WHERE c.path = 'c' AND s.path = 'sql'
              AND (c.purchase, c.points, c.balance, c.tier, c.replayed)
                  IS DISTINCT FROM (s.purchase, s.points, s.balance, s.tier, s.replayed)),
          0::bigint, 'every purchase answered the same through both paths');
SELECT ok((SELECT count(*) FILTER (WHERE NOT in_sql) > 100 FROM answers WHERE path = 'c'),
          'the C path answered most purchases itself');
SELECT is((SELECT count(*) FROM answers WHERE path = 'c' AND in_sql AND (replayed OR tier IS NOT DISTINCT FROM tier_before)),
          0::bigint, 'it handed over only purchases that raised the member''s tier');
SELECT ok((SELECT count(*) FILTER (WHERE in_sql) >= 3 FROM answers WHERE path = 'c'),
          'and there were some: tiers went down at reviews and up again');
SELECT ok((SELECT count(*) FILTER (WHERE replayed AND NOT in_sql) > 5 FROM answers WHERE path = 'c'),
          'replays were answered in C');
SELECT ok(EXISTS (SELECT FROM jobspy.loyalty_ledger l JOIN answers a ON a.path = 'c' AND NOT a.in_sql
                   AND l.reference = 'c-' || a.step
                   WHERE l.user_id = 'c6000000-0000-4000-8000-00000000000c' AND l.kind = 'debt'),
          'a purchase in C settled a debt');
SELECT is((SELECT (balance, debt, next_expiry, tier_id IS NULL)::text FROM jobspy.loyalty_members
            WHERE user_id = 'c6000000-0000-4000-8000-00000000000c'),
          (SELECT (balance, debt, next_expiry, tier_id IS NULL)::text FROM jobspy.loyalty_members
            WHERE user_id = 'c6000000-0000-4000-8000-00000000005a'),
          'the members'' balance, debt and next expiry agree');
SELECT is(ARRAY(SELECT (expires_at, remaining)::text FROM jobspy.loyalty_grants
                 WHERE user_id = 'c6000000-0000-4000-8000-00000000000c' ORDER BY grant_id),
          ARRAY(SELECT (expires_at, remaining)::text FROM jobspy.loyalty_grants
                 WHERE user_id = 'c6000000-0000-4000-8000-00000000005a' ORDER BY grant_id),
          'every grant has the same expiry and remainder');
-- Ledger rows with each grant named by its rank among the member's grants
-- and each reference without its path's prefix.
CREATE TEMP VIEW ledger_ranked AS
SELECT l.user_id, l.id, l.kind, l.points, l.expires_at, regexp_replace(l.reference, '^[cs]-', '') AS reference,
       g.rank AS grant_rank
  FROM jobspy.loyalty_ledger l
  LEFT JOIN (SELECT user_id, id, row_number() OVER (PARTITION BY user_id ORDER BY id) AS rank
               FROM jobspy.loyalty_ledger WHERE grant_id IS NULL) g
         ON g.user_id = l.user_id AND g.id = l.grant_id;
SELECT is(ARRAY(SELECT (kind, points, expires_at, reference, grant_rank)::text FROM ledger_ranked
                 WHERE user_id = 'c6000000-0000-4000-8000-00000000000c' ORDER BY id),
          ARRAY(SELECT (kind, points, expires_at, reference, grant_rank)::text FROM ledger_ranked
                 WHERE user_id = 'c6000000-0000-4000-8000-00000000005a' ORDER BY id),
          'the ledgers hold the same rows in the same order');
SELECT is(ARRAY(SELECT (business_id, substr(external_id, 3), amount, currency, category, coupon, discount, points_earned,
                        balance_after, tier, grant_id IS NULL, refunded, points_clawed, created_at)::text
                  FROM jobspy.loyalty_purchases WHERE user_id = 'c6000000-0000-4000-8000-00000000000c' ORDER BY id),
          ARRAY(SELECT (business_id, substr(external_id, 3), amount, currency, category, coupon, discount, points_earned,
                        balance_after, tier, grant_id IS NULL, refunded, points_clawed, created_at)::text
                  FROM jobspy.loyalty_purchases WHERE user_id = 'c6000000-0000-4000-8000-00000000005a' ORDER BY id),
          'the purchases are recorded alike');
SELECT is((SELECT count(*) FROM jobspy.loyalty_check()), 0::bigint, 'both reconcile with their ledgers');

SELECT * FROM finish();
ROLLBACK;
