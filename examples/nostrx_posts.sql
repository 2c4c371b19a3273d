-- NostrX (seed 003): a browser extension that posts to Nostr for its users,
-- with posts per day by plan (basic 3, premium 25, advanced unlimited),
-- counted at midnight in the user's time zone.  Users are Nostr public keys
-- (no email needed).  Each post is a signed NIP-01 event: the product
-- checks its signature and counts it against the day's quota in one
-- transaction, with the event id as the idempotency key, so a client that
-- retries a publish never spends a post twice.  Denials and plan changes
-- become usage events.  Runs in a transaction it rolls back.
BEGIN;
SET LOCAL jobspy.clock_override = '2030-06-15 21:30:00+00';
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO';

-- The plans of the original design, prices in cents.
SELECT jobspy.create_plan('basic', 'Basic', 'Perfect for casual users', 0, NULL, 'USD',
                          '{"custom_relays": false, "analytics": false}', sort_order => 10) IS NOT NULL AS basic,
       jobspy.create_plan('premium', 'Premium', 'Great for regular posters', 499, 4990, 'USD',
                          '{"custom_relays": true, "analytics": true}', sort_order => 20) IS NOT NULL AS premium,
       jobspy.create_plan('advanced', 'Advanced', 'For power users and creators', 999, 9990, 'USD',
                          '{"custom_relays": true, "analytics": true, "multiple_identities": true}', sort_order => 30) IS NOT NULL AS advanced;
SELECT jobspy.set_plan_quota(code, 'nostr.posts', 'day', lim)
  FROM (VALUES ('basic', 3), ('premium', 25), ('advanced', -1)) AS p(code, lim);
-- New users get the basic plan unless they pay.
SELECT jobspy.config_set('quotas.default_plan', '"basic"');

-- The product's own table: the posts it published, and its one entry point.
CREATE SCHEMA nostrx;
CREATE TABLE nostrx.posts (
    event_id     text PRIMARY KEY,
    user_id      uuid NOT NULL,
    content      text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT jobspy.now()
);
-- A post is checked (NIP-01 id and BIP-340 signature), its author found by
-- Nostr key, and the day's quota consumed, all in the caller's
-- transaction; only a granted post is stored.
CREATE FUNCTION nostrx.publish(event jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    author uuid;
    q      jobspy.quota_answer;
BEGIN
    IF NOT jobspy.nostr_verify_event(event) THEN
        RETURN 'bad signature';
    END IF;
    author := jobspy.nostr_user_id(event->>'pubkey');
    IF author IS NULL THEN
        RETURN 'unknown author';
    END IF;
    q := jobspy.consume_quota(author, 'nostr.posts', 1, event->>'id');
    IF NOT q.allowed THEN
        RETURN format('daily limit of %s reached, resets at %s', q.quota_limit, q.resets_at);
    END IF;
    INSERT INTO nostrx.posts (event_id, user_id, content) VALUES (event->>'id', author, event->>'content')
    ON CONFLICT DO NOTHING;
    RETURN format('published (%s of %s today)', q.used, q.quota_limit);
END $$;

-- Alice signs up with her npub alone, in Berlin.
SELECT jobspy.nostr_npub(jobspy.nostr_public_key('dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659')) AS alice_npub;
SELECT jobspy.create_user(NULL, timezone => 'Europe/Berlin',
                          nostr_public_key => 'npub1mlcawle2vuw97dscxundkg6phev0atsa5t0vakzrys8hk5pt5evssm7a0a') IS NOT NULL AS alice;
SELECT email IS NULL AS no_email, encode(nostr_public_key, 'hex') AS public_key
  FROM jobspy.users WHERE nostr_public_key IS NOT NULL;

CREATE TEMP TABLE ev (n int, e jsonb) ON COMMIT DROP;
INSERT INTO ev VALUES
  (1, '{"id": "90e6572dbb0ebfcd3fd4cf6253b19c47711540b0da9b68914a7aa9999d3270c6", "pubkey": "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659", "created_at": 1767225600, "kind": 1, "tags": [["client", "nostrx"]], "content": "gm nostr, first post from NostrX", "sig": "58b87e63e82be403f387a8bb3587c8fecdb0258110ebdfc7c27d208a79e6ec5bf6a4abda10b4803c1697d6b8f03c36698dd53bc94c61539cf4244a3e6a61763c"}'),
  (2, '{"id": "6a3173b253184f31e917d47df0cfa44f042f554dc797ca3e00666e800ba30023", "pubkey": "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659", "created_at": 1767225600, "kind": 1, "tags": [["client", "nostrx"]], "content": "second post: 23:35 in Berlin", "sig": "d54c9946bcef0e62140f75c27c53a966e926f2392bcd06105f036397cc547b44fccddc770b0000f41f9e22a497ce7b633e844166d5798f54a985709510f5a7e5"}'),
  (3, '{"id": "0dad43ef51ea0f39412b35e961fc9c8506fe57a86d45099bcea3ca44981522e4", "pubkey": "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659", "created_at": 1767225600, "kind": 1, "tags": [["client", "nostrx"]], "content": "third post \"quoted\" and\nmultiline", "sig": "9b19e2dbfcaf006d078e5f6dd8d216e24052e12c5647e96452ace37b1aebdaf9c8243ab68a3f0e07f51824fd0d82a543084c1223b3949c7d104538e4008f257d"}'),
  (4, '{"id": "46aed36cc0b1ca83a4fcca433ab857341811fa87dc494ebfbd110aa7e6953504", "pubkey": "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659", "created_at": 1767225600, "kind": 1, "tags": [["client", "nostrx"]], "content": "fourth post, over the basic limit", "sig": "fe9b9152a2aa48b38ad5a31d37d6803d9a2c4b48cb9d4a02ad5fd3bb7ed377b792ebee2e6b72b4fa968ce21629abfb666dd49d3f4456a4493202848e29b94614"}');

-- 23:30 in Berlin: three posts, a retry of the third, a fourth post, and a
-- third post whose content was altered after signing.
SELECT s.step, nostrx.publish(s.e) AS result
  FROM (SELECT 1 AS step, e FROM ev WHERE n = 1 UNION ALL SELECT 2, e FROM ev WHERE n = 2
        UNION ALL SELECT 3, e FROM ev WHERE n = 3 UNION ALL SELECT 4, e FROM ev WHERE n = 3
        UNION ALL SELECT 5, e FROM ev WHERE n = 4
        UNION ALL SELECT 6, e || '{"content": "altered"}' FROM ev WHERE n = 3) s
 ORDER BY s.step;
-- A note signed by a key that is not a NostrX user.
SELECT nostrx.publish('{"id": "34e2a79ea149918368392e872c61c30e3b347838949e9d1ffbcfd1b965b58ec3", "pubkey": "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9", "created_at": 1767225600, "kind": 1, "tags": [["t", "a\"b\\\\c\nd"], ["p"], []], "content": "line\nquote\" backslash\\ cr\r tab\t bs\b ff\f ctl\u0001 slash/ \u00e9 \ud83d\ude0e", "sig": "51314b2cab9f2178f66a2d913a186b9a3da7ad528f1714158c536ed40d13828e7292fb104ca172e8ee6dda09bb3c882aea1fbf73c26448105fc140d7aea9f3ac"}') AS stranger;
SELECT count(*) AS posts_stored FROM nostrx.posts;
SELECT jobspy.has_feature(jobspy.nostr_user_id('dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659'), 'analytics') AS has_analytics;

-- She upgrades: the same day's count carries on under the new limit, the
-- denied post goes through when the client retries it, and a second retry
-- of it only replays the answer.
SELECT jobspy.set_user_plan(jobspy.nostr_user_id('dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659'), 'premium');
SELECT nostrx.publish(e) AS retry FROM ev WHERE n = 4;
SELECT nostrx.publish(e) AS second_retry FROM ev WHERE n = 4;
SELECT count(*) AS posts_stored FROM nostrx.posts;

-- After midnight in Berlin (22:00 UTC) the day starts again.
SET LOCAL jobspy.clock_override = '2030-06-15 22:05:00+00';
SELECT allowed, used, quota_limit, remaining, period_start, resets_at
  FROM jobspy.quota_status(jobspy.nostr_user_id('dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659'), 'nostr.posts');

-- What happened, as seed 003's usage events: the granted posts in the
-- ledger (one per event id), the denial and the plan changes beside them.
SELECT left(u.idempotency_key, 12) AS event_id, u.amount, u.created_at
  FROM jobspy.usage_records u JOIN jobspy.users x ON x.id = u.user_id AND x.nostr_public_key IS NOT NULL
 ORDER BY u.created_at, u.idempotency_key;
SELECT event_type, metric, amount, used, quota_limit, from_plan, to_plan
  FROM jobspy.usage_events e JOIN jobspy.users x ON x.id = e.user_id AND x.nostr_public_key IS NOT NULL
 ORDER BY occurred_at, event_type, to_plan NULLS FIRST;
ROLLBACK;
