-- Baseline: the original design's session check, a plaintext token looked
-- up directly.
\set n random(1, :scale)
SELECT ss.user_id FROM bench.sessions s JOIN bench.seed_sessions ss ON ss.session_token = s.session_token
 WHERE s.n = :n AND ss.is_active AND ss.expires_at > now();
