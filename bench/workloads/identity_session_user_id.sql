-- The per-request session check: keyed hash of the token, index lookup,
-- expiry, idle and account checks.
-- compare: select1 >= 0.2
-- compare: identity_seed_session_lookup >= 0.3
\set n random(1, :scale)
SELECT jobspy.session_user_id(s.session_token) FROM bench.sessions s WHERE s.n = :n;
