-- The mix of bench/external/pgbouncer_256_clients.sh and its baseline
-- direct_4_clients.sh: a rate-limit decision, a licence validation (its key
-- read from the fixture's bench.license_keys) and a quota consumption, each
-- its own transaction, as an application sends them; nothing in it relies
-- on the session (transaction pooling).  Simple protocol, so the values
-- are cast.
\set n random(1, :scale)
\set fingerprint 1000000000000000000 + :n
SELECT allowed FROM jobspy.rate_limit('bench:' || :n, 999, 100000, '1 hour');
SELECT v.code FROM bench.license_keys k, jobspy.validate_license(k.license_key, :fingerprint::text, '1.0') v
 WHERE k.n = :n AND v.valid;
SELECT allowed FROM jobspy.consume_quota(bench.user_id(:n), 'bench.calls');
