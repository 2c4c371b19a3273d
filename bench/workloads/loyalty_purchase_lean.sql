-- The plainest writes a recorded purchase stands for: the purchase's row
-- (in the baseline's table), a ledger grant, the grant's remainder and the
-- member's balance, in one statement, in tables with keys and nothing
-- else.  Shown beside record_purchase: how much of a purchase's price is
-- the writing itself, and how much the lookups, checks, indexes and
-- foreign keys around it.
-- against: loyalty_bare_insert
\set n random(1, :scale)
\set e random(1, 1000000000000000)
WITH p AS (
    INSERT INTO bench.purchase_rows (user_id, business_id, external_id, amount, currency)
    VALUES (bench.user_id(:n), '00000000-0000-4000-8000-000000000000', 'pl' || :e, 12345, 'RUB')
    RETURNING id, user_id
), l AS (
    INSERT INTO bench.ledger_rows (user_id, kind, points, expires_at, purchase_id)
    SELECT p.user_id, 'earn', 123, now() + interval '365 days', p.id FROM p
    RETURNING id, user_id
), g AS (
    INSERT INTO bench.grant_rows (user_id, grant_id, expires_at, remaining)
    SELECT l.user_id, l.id, now() + interval '365 days', 123 FROM l
)
UPDATE bench.member_rows m SET balance = m.balance + 123 FROM p WHERE m.user_id = p.user_id;
