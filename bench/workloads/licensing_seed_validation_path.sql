-- Baseline: seed 000's validation path as its application runs it, one
-- transaction of five statements on the seed-style tables of
-- bench/fixtures/40_licensing.sql: the licence by its plaintext key (status,
-- expiry and the bound fingerprint checked), the seed's rate-limit count of
-- the licence's validations in the last 24 hours, the usage row, the
-- validation counter.  Key and fingerprint are computed from n and sent as
-- in licensing_validate_license (the seed stored keys as sent); the user's
-- status is not checked.  A refused check returns no row and \gset then
-- stops the client.
\set n random(1, :scale)
\set need (29609 - (556 + :n % 10 * 27 + :n / 10 % 10 * 864 + :n / 100 % 10 * 81 + :n / 1000 % 10 * 550 + :n / 10000 % 10 * 243 + :n / 100000 % 10 * 629 + :n / 1000000 % 10 * 729)) % 1021
\set key 1000000000000000 + :n * 1000000 + :need / 288 * 100000 + :need % 32 / 9 * 10000 + :need % 288 / 96 * 1000 + :need % 32 % 9 / 3 * 100 + :need % 96 / 32 * 10 + :need % 32 % 3
\set fingerprint 1000000000000000000 + :n
BEGIN;
SELECT s.id AS license_id, s.user_id, s.license_type, s.features, s.max_validations_per_day AS max_per_day
  FROM bench.seed_licenses s
 WHERE s.license_key = :key
   AND s.status = 'active' AND (s.expires_at IS NULL OR s.expires_at > now())
   AND s.hardware_fingerprint = :fingerprint
\gset
SELECT count(*) AS validations_today
  FROM bench.seed_api_usage
 WHERE license_id = :license_id AND endpoint = '/licenses/validate' AND created_at > now() - interval '24 hours'
HAVING count(*) < :max_per_day
\gset
INSERT INTO bench.seed_api_usage (user_id, license_id, endpoint, method, status_code, response_time_ms)
VALUES (:user_id, :license_id, '/licenses/validate', 'POST', 200, 12);
UPDATE bench.seed_licenses SET validation_count = validation_count + 1, last_validated_at = now()
 WHERE id = :license_id;
COMMIT;
