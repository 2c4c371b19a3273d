-- jobspy.user_id takes a uuid in its usual form or nothing: anything else is
-- refused when set (22023), so that the row-level security policies, which
-- cast it to uuid, never fail on it.
BEGIN;
SELECT plan(8);

SELECT lives_ok($$SET LOCAL jobspy.user_id = 'a0000000-0000-4000-8000-0000000000c1'$$, 'a uuid is taken');
SELECT is(jobspy.current_row_user(), 'a0000000-0000-4000-8000-0000000000c1'::uuid, 'and read back');
SELECT lives_ok($$SET LOCAL jobspy.user_id = 'A0000000-0000-4000-8000-0000000000C1'$$, 'in capitals too');
SELECT lives_ok($$SET LOCAL jobspy.user_id = ''$$, 'empty is taken');
SELECT is(jobspy.current_row_user(), NULL, 'and means nobody');
SELECT throws_ok($$SET LOCAL jobspy.user_id = '0123456789abcdef0123456789abcdef----'$$, '22023', NULL,
                 'thirty-two hex digits with the dashes at the end are refused');
SELECT throws_ok($$SET LOCAL jobspy.user_id = 'a000000-00000-4000-8000-0000000000c1'$$, '22023', NULL,
                 'dashes out of place are refused');
SELECT is(jobspy.current_row_user(), NULL, 'a refused value leaves the setting as it was');

SELECT * FROM finish();
ROLLBACK;
