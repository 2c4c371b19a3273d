-- The quota API's errors are its own: SQLSTATE, message, detail and hint
-- as raised inside, but no CONTEXT line naming the internal functions
-- (quota_take, quota_resolve, quota_check_args, gauge_limit_of, the *_impl bodies) or the
-- text of their statements; the caller's own frames stay.
BEGIN;
SELECT plan(24);

SET LOCAL jobspy.clock_override = '2031-06-10 12:00:00+00';
INSERT INTO jobspy.users (id, email, timezone) VALUES
    ('a0000000-0000-4000-8000-0000000000c1', 'ctx1@example.com', 'UTC');
SELECT jobspy.create_plan('t_ctx', 'Context');
SELECT jobspy.set_plan_quota('t_ctx', 'posts', 'day', 100);
SELECT jobspy.set_user_plan('a0000000-0000-4000-8000-0000000000c1', 't_ctx');
SELECT jobspy.set_plan_gauge('t_ctx', 'ctx.chats', 2);

-- The context and SQLSTATE of the error a statement raises, from inside a
-- caller's function of its own.
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
  ('consume_quota with a cost, unknown user',
   $$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000c9', 'posts', 1, 'k1', 1.5)$$, '22023'),
  ('consume_quota with a cost, unknown metric',
   $$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000c1', 'nope', 1, 'k2', 1.5)$$, 'JS402'),
  ('consume_quota, unknown user (the SQL path of the C function)',
   $$SELECT jobspy.consume_quota('a0000000-0000-4000-8000-0000000000c9', 'posts', 1, 'k3')$$, '22023'),
  ('quota_status, unknown user',
   $$SELECT jobspy.quota_status('a0000000-0000-4000-8000-0000000000c9', 'posts')$$, '22023'),
  ('quota_windows, unknown metric',
   $$SELECT * FROM jobspy.quota_windows('a0000000-0000-4000-8000-0000000000c1', 'nope')$$, 'JS402'),
  ('reserve_quota, unknown user',
   $$SELECT * FROM jobspy.reserve_quota('a0000000-0000-4000-8000-0000000000c9', 'posts', 1)$$, '22023'),
  ('reserve_quota, amount 0',
   $$SELECT * FROM jobspy.reserve_quota('a0000000-0000-4000-8000-0000000000c1', 'posts', 0)$$, '22023'),
  ('acquire_gauge, unknown gauge',
   $$SELECT jobspy.acquire_gauge('a0000000-0000-4000-8000-0000000000c1', 'nope', 'o1')$$, 'JS402'),
  ('acquire_gauge, unknown user',
   $$SELECT jobspy.acquire_gauge('a0000000-0000-4000-8000-0000000000c9', 'ctx.chats', 'o1')$$, '22023'),
  ('gauge_status, empty scope',
   $$SELECT jobspy.gauge_status('a0000000-0000-4000-8000-0000000000c1', 'ctx.chats', '')$$, '22023'),
  ('release_gauge, NULL object',
   $$SELECT jobspy.release_gauge('ctx.chats', NULL)$$, '22023'),
  ('set_plan_gauge, limit below -1',
   $$SELECT jobspy.set_plan_gauge('t_ctx', 'ctx.chats', -2)$$, '22023');

SELECT is((SELECT e.code FROM pg_temp.error_of(c.statement) e), c.sqlstate, c.name || ': ' || c.sqlstate)
  FROM ctx_cases c ORDER BY c.name;
-- Exactly the caller's two frames: its statement and its function.
SELECT ok((SELECT e.context = format(E'SQL statement "%s"\nPL/pgSQL function %s.error_of(text) line 3 at EXECUTE',
                                     c.statement, pg_my_temp_schema()::regnamespace)
             FROM pg_temp.error_of(c.statement) e),
          c.name || ': no internal context, the caller''s frame kept')
  FROM ctx_cases c ORDER BY c.name;

SELECT * FROM finish();
ROLLBACK;
