-- spend_points' and record_purchase's errors are their own: the SQLSTATE
-- as documented, and no CONTEXT line naming the internal statements of
-- their C paths or their PL/pgSQL fallbacks (loyalty_spend_points_sql,
-- loyalty_record_purchase_sql); the caller's frames stay.
BEGIN;
SELECT plan(18);

SET LOCAL jobspy.clock_override = '2031-03-01 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES
    ('b7000000-0000-4000-8000-000000000001', 'ctx-l1@example.com'),
    ('b7000000-0000-4000-8000-000000000002', 'ctx-l2@example.com');
SELECT jobspy.create_business('ctx-cafe', 'Context Cafe');
-- A business at the highest earn rate (100%), and a member whose balance is
-- past half of bigint.
SELECT jobspy.create_business('ctx-x10', 'Context Ten');
SELECT jobspy.set_business_rules('ctx-x10', earn_bp => 100000);
SELECT points_earned FROM jobspy.record_purchase('ctx-x10', 'ctx-big-1', 'b7000000-0000-4000-8000-000000000002',
                                                 500000000000000000, 'RUB');
SELECT points_earned FROM jobspy.record_purchase('ctx-cafe', 'ctx-p1', 'b7000000-0000-4000-8000-000000000001', 10000, 'RUB');
SELECT allowed FROM jobspy.spend_points('b7000000-0000-4000-8000-000000000001', 10, 'ctx-s1');

CREATE FUNCTION pg_temp.error_of(statement text, OUT code text, OUT context text)
    LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, context = PG_EXCEPTION_CONTEXT;
END
$$;

CREATE TEMP TABLE ctx_cases (name text, statement text, sqlstate text);
INSERT INTO ctx_cases VALUES
  ('spend_points, no points', $$SELECT * FROM jobspy.spend_points('b7000000-0000-4000-8000-000000000001', 0, 'ctx-s2')$$, '22023'),
  ('spend_points, no key', $$SELECT * FROM jobspy.spend_points('b7000000-0000-4000-8000-000000000001', 1, '')$$, '22023'),
  ('spend_points, NULL user', $$SELECT * FROM jobspy.spend_points(NULL, 1, 'ctx-s3')$$, '22023'),
  ('spend_points, a key replayed with other points',
   $$SELECT * FROM jobspy.spend_points('b7000000-0000-4000-8000-000000000001', 11, 'ctx-s1')$$, 'JS702'),
  ('record_purchase, unknown business',
   $$SELECT * FROM jobspy.record_purchase('ctx-nowhere', 'ctx-p2', 'b7000000-0000-4000-8000-000000000001', 100, 'RUB')$$, '22023'),
  ('record_purchase, a negative amount',
   $$SELECT * FROM jobspy.record_purchase('ctx-cafe', 'ctx-p3', 'b7000000-0000-4000-8000-000000000001', -5, 'RUB')$$, '22023'),
  ('record_purchase, points past bigint',
   $$SELECT * FROM jobspy.record_purchase('ctx-x10', 'ctx-big-2', 'b7000000-0000-4000-8000-000000000001', 1000000000000000000, 'RUB')$$, '22023'),
  ('record_purchase, a balance past bigint',
   $$SELECT * FROM jobspy.record_purchase('ctx-x10', 'ctx-big-3', 'b7000000-0000-4000-8000-000000000002', 500000000000000000, 'RUB')$$, '22023'),
  ('record_purchase, an external id replayed with another amount',
   $$SELECT * FROM jobspy.record_purchase('ctx-cafe', 'ctx-p1', 'b7000000-0000-4000-8000-000000000001', 10001, 'RUB')$$, 'JS701');

SELECT is((SELECT e.code FROM pg_temp.error_of(c.statement) e), c.sqlstate, c.name || ': ' || c.sqlstate)
  FROM ctx_cases c ORDER BY c.name;
SELECT is((SELECT e.context FROM pg_temp.error_of(c.statement) e),
          format(E'SQL statement "%s"\nPL/pgSQL function %s.error_of(text) line 3 at EXECUTE',
                    c.statement, pg_my_temp_schema()::regnamespace),
          c.name || ': no internal context, the caller''s frame kept')
  FROM ctx_cases c ORDER BY c.name;

SELECT * FROM finish();
ROLLBACK;
