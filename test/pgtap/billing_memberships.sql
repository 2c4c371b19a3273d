-- Memberships (seed 001): recurring, fixed-term and lifetime types, addons
-- that need their base, renewal by maintain() through time travel.
BEGIN;
SELECT plan(37);
SET LOCAL TimeZone = 'UTC';
CREATE FUNCTION pg_temp.at(t timestamptz) RETURNS void LANGUAGE sql AS
    $$ SELECT set_config('jobspy.clock_override', t::text, true) $$;
SELECT pg_temp.at('2031-01-31 10:00:00+00');
INSERT INTO jobspy.users (id, email) VALUES
    ('b8000000-0000-4000-8000-000000000001', 'm1@example.com'),
    ('b8000000-0000-4000-8000-000000000002', 'm2@example.com');

SELECT isnt(jobspy.create_membership_type('club', 'Club', 'recurring', '1 month'), NULL, 'a recurring type');
SELECT isnt(jobspy.create_membership_type('season', 'Season pass', 'fixed_term', '90 days'), NULL, 'a fixed-term type');
SELECT isnt(jobspy.create_membership_type('founder', 'Founder', 'lifetime'), NULL, 'a lifetime type');
SELECT isnt(jobspy.create_membership_type('club-plus', 'Club plus', 'recurring', '1 month', base_code => 'club'), NULL,
            'an addon of the club');
SELECT throws_ok($$SELECT jobspy.create_membership_type('x', 'X', 'lifetime', '1 day')$$, '22023', NULL,
                 'a lifetime type has no duration');
SELECT throws_ok($$SELECT jobspy.create_membership_type('x', 'X', 'recurring')$$, '22023', NULL,
                 'a recurring one needs one');
SELECT throws_ok($$SELECT jobspy.create_membership_type('club', 'Again', 'lifetime')$$, '23505', NULL, 'codes are unique');

SELECT throws_ok($$SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000001', 'club-plus')$$, '55000', NULL,
                 'an addon needs its base membership');
SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000001', 'club') AS m1 \gset
SELECT ok(jobspy.has_membership('b8000000-0000-4000-8000-000000000001', 'club'), 'a member of the club');
SELECT ok(NOT jobspy.has_membership('b8000000-0000-4000-8000-000000000002', 'club'), 'the other user is not');
SELECT ok(NOT jobspy.has_membership('b8000000-0000-4000-8000-000000000001', 'nope'), 'an unknown type: not a member');
SELECT throws_ok($$SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000001', 'club')$$, '23505', NULL,
                 'one valid membership of a type per user');
SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000001', 'club-plus');
SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000001', 'season');
SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000002', 'founder');
SELECT ok(jobspy.has_membership('b8000000-0000-4000-8000-000000000001', 'club-plus'), 'the addon with its base');

-- A month on, maintain() renews the club from its Jan 31 start: Feb 28.
SELECT pg_temp.at('2031-02-28 10:00:00+00');
SELECT is((SELECT count(*) FROM jobspy.maintain() WHERE object LIKE '% memberships'), 1::bigint,
          'maintain() renews memberships');
SELECT is((SELECT ends_at FROM jobspy.memberships WHERE id = :'m1'), '2031-03-31 10:00:00+00'::timestamptz,
          'renewed to Mar 31, counted from the start');
SELECT pg_temp.at('2031-05-01 10:00:00+00');
SELECT jobspy.renew_memberships();
SELECT is((SELECT ends_at FROM jobspy.memberships WHERE id = :'m1'), '2031-05-31 10:00:00+00'::timestamptz,
          'missed renewals are caught up in one step');
SELECT ok(NOT jobspy.has_membership('b8000000-0000-4000-8000-000000000001', 'season'), 'the fixed term has ended');

-- Cancel the base at period end: the addon lapses with it.
SELECT jobspy.cancel_membership(:'m1');
SELECT pg_temp.at('2031-05-31 10:00:00+00');
SELECT is(jobspy.renew_memberships(), 1::bigint, 'only the addon renews');
SELECT ok(NOT jobspy.has_membership('b8000000-0000-4000-8000-000000000001', 'club'), 'the canceled club ended');
SELECT ok(NOT jobspy.has_membership('b8000000-0000-4000-8000-000000000001', 'club-plus'),
          'and its addon counts no more without it');
SELECT pg_temp.at('2131-01-01 00:00:00+00');
SELECT ok(jobspy.has_membership('b8000000-0000-4000-8000-000000000002', 'founder'), 'lifetime never expires');
SELECT throws_ok($$SELECT jobspy.grant_membership(gen_random_uuid(), 'club')$$, '22023', NULL, 'an unknown user');
SELECT throws_ok($$SELECT jobspy.create_membership_type('weird', 'W', 'recurring', '1 mon -29 days')$$, '22023', NULL,
                 'a duration with a part going back (it ends before its start from Feb 1)');
SELECT throws_ok($$SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000001', 'season', true, '294276-12-01')$$,
                 '22023', NULL, 'a start whose end passes the range of time');

-- Dates in UTC whatever the session's time zone: granted at 23:30 UTC on
-- Jan 30 from Berlin (already Jan 31 there), the month still ends Feb 28.
INSERT INTO jobspy.users (id, email) VALUES ('b8000000-0000-4000-8000-000000000003', 'm3@example.com');
SELECT pg_temp.at('2031-01-30 23:30:00+00');
SET LOCAL TimeZone = 'Europe/Berlin';
SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000003', 'club') AS m3 \gset
SET LOCAL TimeZone = 'UTC';
SELECT is((SELECT ends_at FROM jobspy.memberships WHERE id = :'m3'), '2031-02-28 23:30:00+00'::timestamptz,
          'a membership''s end is computed in UTC, not in the caller''s time zone');
-- Past its end, before maintain() renews it, a renewing membership is
-- still valid, is not granted again, and is canceled at its period's end.
SELECT pg_temp.at('2031-03-01 00:00:01+00');
SELECT ok(jobspy.has_membership('b8000000-0000-4000-8000-000000000003', 'club'),
          'a renewing membership is valid between its end and its renewal');
SELECT throws_ok($$SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000003', 'club')$$, '23505', NULL,
                 'and is not granted again over its start');
SELECT lives_ok(format('SELECT jobspy.cancel_membership(%L)', :'m3'), 'it can be canceled');
SELECT is((SELECT (auto_renew, ends_at) FROM jobspy.memberships WHERE id = :'m3'),
          ROW(false, '2031-03-30 23:30:00+00'::timestamptz), 'at the end of the period it is in');

-- Ended now after being set to end at its period's end.
SELECT lives_ok(format('SELECT jobspy.cancel_membership(%L, false)', :'m3'),
                'one set to end at its period''s end can still be ended now');
SELECT ok(NOT jobspy.has_membership('b8000000-0000-4000-8000-000000000003', 'club'), 'and it is no longer valid');
SELECT is((SELECT canceled_at FROM jobspy.memberships WHERE id = :'m3'), '2031-03-01 00:00:01+00'::timestamptz,
          'keeping when it was first canceled');

-- A grant that starts later does not replace a membership still valid now.
INSERT INTO jobspy.users (id, email) VALUES ('b8000000-0000-4000-8000-000000000004', 'm4@example.com');
SELECT jobspy.create_membership_type('m4-term', 'Term', 'fixed_term', '30 days');
SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000004', 'm4-term', false) AS m4 \gset
SELECT throws_ok($$SELECT jobspy.grant_membership('b8000000-0000-4000-8000-000000000004', 'm4-term', false,
                                                  jobspy.now() + interval '60 days')$$, '23505', NULL,
                 'a grant starting after a valid membership''s end is refused while it runs');
SELECT ok(jobspy.has_membership('b8000000-0000-4000-8000-000000000004', 'm4-term'), 'and the running one stays valid');

-- Types: at least an hour, a name of 1 to 100 characters.
SELECT throws_ok($$SELECT jobspy.create_membership_type('m-min', 'Minute', 'recurring', '1 minute')$$, '22023', NULL,
                 'a duration under an hour is refused');
SELECT throws_ok($$SELECT jobspy.create_membership_type('m-noname', '', 'lifetime')$$, '22023', NULL,
                 'an empty name is refused with 22023, not 23514');

-- The next end is found in a few steps however many periods have passed.
SELECT is(jobspy.membership_next_end('2000-01-31 00:00:00+00', '2000-02-29 00:00:00+00', '1 month', '2031-03-01 00:00:00+00'),
          '2031-03-31 00:00:00+00'::timestamptz, 'a month end 374 periods on');

SELECT * FROM finish();
ROLLBACK;
