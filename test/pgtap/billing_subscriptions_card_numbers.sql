-- No card number in a subscription's cancellation reason or metadata,
-- whoever writes the row: the trigger's WHEN clause lets only values with
-- four digits in a row reach the check, and those still meet it.
BEGIN;
SELECT plan(7);

INSERT INTO jobspy.users (id, email) VALUES ('b5000000-0000-4000-8000-000000000001', 'card-sub@example.com');
INSERT INTO jobspy.subscriptions (user_id, status)
VALUES ('b5000000-0000-4000-8000-000000000001', 'active') RETURNING id AS sid \gset

SELECT throws_ok($$INSERT INTO jobspy.subscriptions (user_id, status, cancellation_reason)
                   VALUES ('b5000000-0000-4000-8000-000000000001', 'incomplete', 'card 4111 1111 1111 1111')$$,
                 'JS502', NULL, 'an insert with a card number in the cancellation reason is refused');
SELECT throws_ok($$INSERT INTO jobspy.subscriptions (user_id, status, metadata)
                   VALUES ('b5000000-0000-4000-8000-000000000001', 'incomplete', '{"pan": "4111111111111111"}')$$,
                 'JS502', NULL, 'an insert with a card number in the metadata is refused');
SELECT throws_ok(format($$UPDATE jobspy.subscriptions SET cancellation_reason = '4111-1111-1111-1111' WHERE id = %L$$, :'sid'),
                 'JS502', NULL, 'an update writing a card number into the cancellation reason is refused');
SELECT throws_ok(format($$UPDATE jobspy.subscriptions SET metadata = '{"note": "5555 5555 5555 4444"}' WHERE id = %L$$, :'sid'),
                 'JS502', NULL, 'an update writing a card number into the metadata is refused');
SELECT lives_ok(format($$UPDATE jobspy.subscriptions SET cancellation_reason = 'order 1234 of 2031',
                                metadata = '{"ref": "b5000000-0000-4000-8000-000000000001"}' WHERE id = %L$$, :'sid'),
                'digits that are no card number pass');
SELECT lives_ok(format($$UPDATE jobspy.subscriptions SET quantity = 2 WHERE id = %L$$, :'sid'),
                'an update of other columns passes');
SELECT is((SELECT cancellation_reason FROM jobspy.subscriptions WHERE id = :'sid'), 'order 1234 of 2031',
          'and the refused values were not saved');

SELECT * FROM finish();
ROLLBACK;
