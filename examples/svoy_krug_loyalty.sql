-- Svoy Krug (seed 002): a loyalty programme shared by partner businesses,
-- here a café and a bakery.  Members are found by phone at the till; each
-- receipt earns points at the business's rate for the member's tier, once
-- however often the till resends it; points are spent earliest-expiring
-- first, refunds claw back what the refunded part earned, and gold status
-- comes with the purchase that takes spend over the window past 1000 RUB.  The product's own table is
-- the till's receipts; its entry point records one.  Runs in a transaction
-- it rolls back.
BEGIN;
SET LOCAL jobspy.clock_override = '2030-03-01 10:00:00+00';
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO';

-- The programme: two partners, two tiers (spend in kopecks over the window).
SELECT jobspy.create_business('krug-cafe', 'Cafe Krug') IS NOT NULL AS cafe,
       jobspy.create_business('krug-bakery', 'Bakery Krug') IS NOT NULL AS bakery;
SELECT jobspy.set_business_rules('krug-bakery', earn_bp => 300, min_purchase => 10000);
SELECT jobspy.set_tier('krug-silver', 'Silver', 1, 0, 'RUB') IS NOT NULL AS silver,
       jobspy.set_tier('krug-gold', 'Gold', 2, 100000, 'RUB') IS NOT NULL AS gold;
SELECT jobspy.set_earn_rate('krug-cafe', 'krug-gold', 1000);
SELECT jobspy.set_category_multiplier('krug-cafe', 'coffee', 20000);

-- The product's own table: what the tills sent, and the one call they make.
CREATE SCHEMA krug;
CREATE TABLE krug.receipts (
    business   text NOT NULL,
    receipt_no text NOT NULL,
    phone      text NOT NULL,
    amount     bigint NOT NULL,
    category   text,
    points     bigint,
    PRIMARY KEY (business, receipt_no)
);
-- The till sends (business, receipt, customer's phone, amount, category);
-- the member is found by phone, the purchase recorded with the receipt
-- number as its external id, and the receipt kept with the points earned.
CREATE FUNCTION krug.till(business text, receipt_no text, phone text, amount bigint, category text DEFAULT NULL)
    RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    member uuid;
    p      record;
BEGIN
    member := jobspy.find_member(phone => till.phone, country_code => '7');
    IF member IS NULL THEN
        RETURN 'not a member';
    END IF;
    SELECT * INTO p FROM jobspy.record_purchase(till.business, till.receipt_no, member, till.amount, 'RUB',
                                                category => till.category);
    INSERT INTO krug.receipts VALUES (till.business, till.receipt_no, till.phone, till.amount, till.category, p.points_earned)
    ON CONFLICT DO NOTHING;
    RETURN format('%s points, balance %s, %s%s', p.points_earned, p.balance, p.tier,
                  CASE WHEN p.replayed THEN ' (resent)' ELSE '' END);
END $$;

-- Masha joins at the café with her phone.
SELECT jobspy.create_user('masha@krug.example', timezone => 'Europe/Moscow') AS masha \gset
SELECT jobspy.enroll_member(:'masha', '+7 912 345-67-89') IS NOT NULL AS enrolled;

-- A coffee (double points, 10%), then a sandwich that takes her spend to
-- 1050 RUB: gold at once, and the café pays gold's 10% on it.  The till
-- resends the coffee: the first answer, nothing counted twice.
SELECT krug.till('krug-cafe', 'c-1001', '+7 (912) 345-67-89', 45000, 'coffee') AS coffee;
SELECT krug.till('krug-cafe', 'c-1002', '+79123456789', 60000) AS sandwich;
SELECT krug.till('krug-cafe', 'c-1001', '+7 912 345 67 89', 45000, 'coffee') AS resent;
SELECT krug.till('krug-cafe', 'c-1003', '+7 900 000-00-00', 10000) AS stranger;
-- A bun below the bakery's minimum earns nothing; a cake earns its 3%.
SELECT krug.till('krug-bakery', 'b-1', '+79123456789', 9000) AS bun;
SELECT krug.till('krug-bakery', 'b-2', '+79123456789', 20000) AS cake;

-- Gold now, so another coffee earns 10% twice over.
SELECT t.code AS tier FROM jobspy.loyalty_members m JOIN jobspy.loyalty_tiers t ON t.id = m.tier_id
 WHERE m.user_id = :'masha';
SELECT krug.till('krug-cafe', 'c-1004', '+79123456789', 15000, 'coffee') AS as_gold;

-- She pays 500 points for a cake, once, though the app retries; more than
-- she has is refused and takes nothing.
SELECT allowed, balance FROM jobspy.spend_points(:'masha', 500, 'order-7');
SELECT allowed, balance FROM jobspy.spend_points(:'masha', 500, 'order-7');
SELECT allowed, balance FROM jobspy.spend_points(:'masha', 100000, 'order-8');

-- The sandwich is refunded: its 6000 points come back out.
SELECT points_clawed, balance, debt FROM jobspy.refund_purchase('krug-cafe', 'c-1002', 60000, 'refund-1');

-- A year later what she did not spend has expired.
SET LOCAL jobspy.clock_override = '2031-03-02 10:00:00+00';
SELECT jobspy.points_balance(:'masha') AS balance_after_a_year;

-- Checks: the till's receipts and the programme's ledger agree.
SELECT count(*) AS receipts, sum(points) AS points_on_receipts FROM krug.receipts;
SELECT count(*) AS ledger_problems FROM jobspy.loyalty_check();
ROLLBACK;
