-- Gauges (seed 004: maxConversations, maxMessagesPerConversation): live
-- objects acquired and released, scoped by a parent, -1 unlimited,
-- released by the application's delete through the helper trigger.
BEGIN;
SELECT plan(33);

SET LOCAL jobspy.clock_override = '2031-05-14 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES
    ('f2200000-0000-4000-8000-000000000001', 'g1@example.com'),
    ('f2200000-0000-4000-8000-000000000002', 'g2@example.com');
INSERT INTO jobspy.users (id, email, status) VALUES ('f2200000-0000-4000-8000-000000000009', 'g9@example.com', 'suspended');
SELECT jobspy.create_plan('g_free', 'Free');
SELECT jobspy.create_plan('g_pro', 'Pro');
SELECT lives_ok($$SELECT jobspy.set_plan_gauge('g_free', 'ai.conversations', 2)$$, 'set_plan_gauge sets a limit');
SELECT jobspy.set_plan_gauge('g_free', 'ai.messages', 3);
SELECT jobspy.set_plan_gauge('g_pro', 'ai.conversations', -1);
SELECT jobspy.set_user_plan('f2200000-0000-4000-8000-000000000001', 'g_free');
SELECT jobspy.set_user_plan('f2200000-0000-4000-8000-000000000002', 'g_pro');
SELECT jobspy.set_user_plan('f2200000-0000-4000-8000-000000000009', 'g_free');

-- The application's own tables, as seed 004 has them.
CREATE SCHEMA chat;
CREATE TABLE chat.conversations (id uuid PRIMARY KEY, user_id uuid NOT NULL);
CREATE TABLE chat.messages (id uuid PRIMARY KEY, conversation_id uuid NOT NULL REFERENCES chat.conversations ON DELETE CASCADE,
                            body text NOT NULL);
CREATE TRIGGER conversations_gauge AFTER DELETE ON chat.conversations
    FOR EACH ROW EXECUTE FUNCTION jobspy.gauge_release_on_delete('ai.conversations');
CREATE TRIGGER messages_gauge AFTER DELETE ON chat.messages
    FOR EACH ROW EXECUTE FUNCTION jobspy.gauge_release_on_delete('ai.messages', 'id');

-- Conversations per user.
SELECT is((SELECT row(allowed, held, gauge_limit, remaining)::text
             FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.conversations', 'c0000000-0000-4000-8000-000000000001')),
          '(t,1,2,1)', 'the first conversation is counted');
INSERT INTO chat.conversations VALUES ('c0000000-0000-4000-8000-000000000001', 'f2200000-0000-4000-8000-000000000001');
SELECT is((SELECT row(allowed, held)::text
             FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.conversations', 'c0000000-0000-4000-8000-000000000001')),
          '(t,1)', 'acquiring the same object again counts it once');
SELECT is((SELECT allowed FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.conversations', 'c0000000-0000-4000-8000-000000000002')),
          true, 'the second conversation fits');
INSERT INTO chat.conversations VALUES ('c0000000-0000-4000-8000-000000000002', 'f2200000-0000-4000-8000-000000000001');
SELECT is((SELECT row(allowed, held, gauge_limit, remaining)::text
             FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.conversations', 'c0000000-0000-4000-8000-000000000003')),
          '(f,2,2,0)', 'a third is refused');
SELECT is((SELECT count(*) FROM jobspy.gauge_holds WHERE object_id = 'c0000000-0000-4000-8000-000000000003'), 0::bigint,
          'a refused object holds nothing');
SELECT is((SELECT detail ->> 'period' FROM jobspy.usage_events
            WHERE user_id = 'f2200000-0000-4000-8000-000000000001' AND metric = 'ai.conversations'),
          'live', 'the denial is a usage event');
SELECT is((SELECT row(allowed, held, remaining)::text FROM jobspy.gauge_status('f2200000-0000-4000-8000-000000000001', 'ai.conversations')),
          '(f,2,0)', 'gauge_status agrees');

-- Messages per conversation: a scope per parent.
SELECT is((SELECT string_agg(a.allowed::text, ',' ORDER BY n)
             FROM generate_series(1, 4) n,
                  jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.messages', 'm1-' || n,
                                       'c0000000-0000-4000-8000-000000000001') a),
          'true,true,true,false', 'three messages fit in a conversation, not four');
SELECT is((SELECT allowed FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.messages', 'm2-1',
                                                    'c0000000-0000-4000-8000-000000000002')),
          true, 'another conversation has its own count');
SELECT is((SELECT held FROM jobspy.gauge_status('f2200000-0000-4000-8000-000000000001', 'ai.messages', 'c0000000-0000-4000-8000-000000000001')),
          3::bigint, 'gauge_status reads a scope');
SELECT throws_ok($$SELECT * FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.messages', 'm1-1',
                                                      'c0000000-0000-4000-8000-000000000002')$$,
                 '22023', NULL, 'an object held under another scope is refused');

-- Release, directly and by the application's delete.
SELECT is(jobspy.release_gauge('ai.messages', 'm1-1'), true, 'release_gauge frees a slot');
SELECT is(jobspy.release_gauge('ai.messages', 'm1-1'), false, 'releasing twice is a no-op');
SELECT is((SELECT held FROM jobspy.gauge_status('f2200000-0000-4000-8000-000000000001', 'ai.messages', 'c0000000-0000-4000-8000-000000000001')),
          2::bigint, 'once');
INSERT INTO chat.messages (id, conversation_id, body) VALUES
    ('a0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001', 'hello');
SELECT is((SELECT allowed FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.messages',
                                                    'a0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001')),
          true, 'a stored message takes the freed slot');
DELETE FROM chat.conversations WHERE id = 'c0000000-0000-4000-8000-000000000001';
SELECT is((SELECT row(allowed, held)::text FROM jobspy.gauge_status('f2200000-0000-4000-8000-000000000001', 'ai.conversations')),
          '(t,1)', 'deleting the conversation released it');
SELECT is((SELECT count(*) FROM jobspy.gauge_holds WHERE object_id = 'a0000000-0000-4000-8000-000000000001'), 0::bigint,
          'and its messages, deleted by the cascade');
SELECT is((SELECT allowed FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.conversations', 'c0000000-0000-4000-8000-000000000003')),
          true, 'a new conversation fits again');

-- Unlimited: counted, never refused.
SELECT is((SELECT row(bool_and(allowed), max(held), max(gauge_limit), max(remaining))::text
             FROM generate_series(1, 5) n,
                  jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000002', 'ai.conversations', 'pro-' || n) a),
          '(t,5,,)', '-1 is unlimited, still counted');
SELECT is((SELECT row(allowed, held, gauge_limit)::text FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000002', 'ai.messages', 'pro-m1', 'pro-1')),
          '(f,0,0)', 'a gauge the plan does not set grants none');

-- A lower limit refuses new objects until enough are released.
SELECT jobspy.set_plan_gauge('g_free', 'ai.conversations', 1);
SELECT is((SELECT row(allowed, held, remaining)::text
             FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.conversations', 'c0000000-0000-4000-8000-000000000004')),
          '(f,2,0)', 'a lowered limit refuses while more are held');

-- Errors.
SELECT throws_ok($$SELECT * FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.nope', 'x')$$,
                 'JS402', NULL, 'a gauge no plan sets');
SELECT throws_ok($$SELECT * FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000009', 'ai.conversations', 'x')$$,
                 'JS403', NULL, 'a suspended user');
SELECT throws_ok($$SELECT * FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-00000000ffff', 'ai.conversations', 'x')$$,
                 '22023', NULL, 'an unknown user');
SELECT throws_ok($$SELECT * FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.conversations', NULL)$$,
                 '22023', NULL, 'a NULL object');
SELECT throws_ok($$SELECT * FROM jobspy.acquire_gauge('f2200000-0000-4000-8000-000000000001', 'ai.conversations', 'x', '')$$,
                 '22023', NULL, 'an empty scope');
SELECT throws_ok($$SELECT jobspy.set_plan_gauge('g_free', 'ai.conversations', -2)$$, '22023', NULL, 'a limit below -1');
SELECT throws_ok($$SELECT jobspy.set_plan_gauge('g_nope', 'ai.conversations', 1)$$, '22023', NULL, 'an unknown plan');
CREATE TABLE chat.bad (other uuid);
CREATE TRIGGER bad_gauge AFTER DELETE ON chat.bad FOR EACH ROW EXECUTE FUNCTION jobspy.gauge_release_on_delete('ai.conversations');
INSERT INTO chat.bad VALUES (gen_random_uuid());
SELECT throws_ok($$DELETE FROM chat.bad$$, '42703', NULL, 'the trigger names a missing id column');
CREATE TABLE chat.bad2 (id uuid);
CREATE TRIGGER bad2_gauge BEFORE DELETE ON chat.bad2 FOR EACH ROW EXECUTE FUNCTION jobspy.gauge_release_on_delete('ai.conversations');
INSERT INTO chat.bad2 VALUES (gen_random_uuid());
SELECT throws_ok($$DELETE FROM chat.bad2$$, '39P01', NULL, 'the trigger must be AFTER DELETE FOR EACH ROW');
SELECT is(jobspy.remove_plan_gauge('g_free', 'ai.messages'), true, 'remove_plan_gauge');
SELECT ok(has_function_privilege('jobspy_app', 'jobspy.acquire_gauge(uuid, text, text, text)', 'EXECUTE')
          AND has_function_privilege('jobspy_app', 'jobspy.release_gauge(text, text)', 'EXECUTE')
          AND NOT has_function_privilege('jobspy_app', 'jobspy.set_plan_gauge(text, text, bigint)', 'EXECUTE')
          AND NOT has_table_privilege('jobspy_app', 'jobspy.gauge_counters', 'UPDATE'),
          'the app acquires and releases; only the admin sets limits; no direct writes');

SELECT * FROM finish();
ROLLBACK;
