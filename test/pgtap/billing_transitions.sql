-- Every pair of subscription statuses, legal or not, through a direct
-- UPDATE (the rule holds for every writer), against the list below, which
-- is written here independently of jobspy.subscription_transitions.
BEGIN;
SELECT plan(62);

INSERT INTO jobspy.users (id, email) VALUES ('b3000000-0000-4000-8000-000000000001', 't@example.com');
INSERT INTO jobspy.subscriptions (user_id, id, status, current_period_start, current_period_end)
VALUES ('b3000000-0000-4000-8000-000000000001', 'b3000000-0000-4000-8000-0000000000f1', 'active',
        '2031-01-01', '2031-02-01');

CREATE TEMP TABLE legal (f text, t text);
INSERT INTO legal VALUES
    ('incomplete', 'active'), ('incomplete', 'trialing'), ('incomplete', 'incomplete_expired'), ('incomplete', 'canceled'),
    ('trialing', 'active'), ('trialing', 'past_due'), ('trialing', 'paused'), ('trialing', 'canceled'),
    ('active', 'past_due'), ('active', 'paused'), ('active', 'trialing'), ('active', 'canceled'),
    ('past_due', 'active'), ('past_due', 'unpaid'), ('past_due', 'canceled'),
    ('unpaid', 'active'), ('unpaid', 'canceled'),
    ('paused', 'active'), ('paused', 'trialing'), ('paused', 'canceled');

CREATE TEMP TABLE outcome (f text, t text, state text);
DO $$
DECLARE
    st text[] := ARRAY['incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'unpaid', 'paused', 'canceled'];
    f text;
    t text;
    e text;
BEGIN
    FOREACH f IN ARRAY st LOOP
        FOREACH t IN ARRAY st LOOP
            CONTINUE WHEN f = t;
            -- Put the row in status f without the rule (replica mode fires no
            -- ordinary trigger), then try f -> t as any writer would.
            SET LOCAL session_replication_role = replica;
            UPDATE jobspy.subscriptions SET status = f, canceled_at = '2031-01-15' WHERE id = 'b3000000-0000-4000-8000-0000000000f1';
            SET LOCAL session_replication_role = origin;
            BEGIN
                UPDATE jobspy.subscriptions SET status = t WHERE id = 'b3000000-0000-4000-8000-0000000000f1';
                e := 'ok';
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS e = RETURNED_SQLSTATE;
            END;
            INSERT INTO outcome VALUES (f, t, e);
        END LOOP;
    END LOOP;
END
$$;

SELECT is(state, CASE WHEN EXISTS (SELECT FROM legal l WHERE l.f = o.f AND l.t = o.t) THEN 'ok' ELSE 'JS505' END,
          format('%s -> %s is %s', f, t,
                 CASE WHEN EXISTS (SELECT FROM legal l WHERE l.f = o.f AND l.t = o.t) THEN 'legal' ELSE 'refused' END))
  FROM outcome o ORDER BY f, t;

SELECT is((SELECT count(*) FROM outcome), 56::bigint, 'every ordered pair of the eight statuses was tried');
SELECT set_eq('SELECT from_status, to_status FROM jobspy.subscription_transitions', 'SELECT f, t FROM legal',
              'the table of transitions is exactly the legal list');
SELECT throws_ok($$UPDATE jobspy.subscriptions SET status = 'paused' WHERE status = 'canceled'$$, 'JS505',
                 'illegal subscription transition from canceled to paused', 'the message names both statuses');
SELECT throws_ok($$INSERT INTO jobspy.subscriptions (user_id, status, canceled_at)
                   VALUES ('b3000000-0000-4000-8000-000000000001', 'canceled', now())$$, 'JS505', NULL,
                 'a subscription does not start canceled');
SELECT throws_ok($$INSERT INTO jobspy.subscriptions (user_id, status)
                   VALUES ('b3000000-0000-4000-8000-000000000001', 'past_due')$$, 'JS505', NULL,
                 'nor past_due');
SELECT lives_ok($$UPDATE jobspy.subscriptions SET metadata = '{"note": "x"}' WHERE status = 'canceled'$$,
                'an update that keeps the status is not a transition');
SELECT * FROM finish();
ROLLBACK;
