-- A flood of unknown keys: well-formed keys (checksum right, computed as in
-- licensing_validate_license) of n past every licence of the fixture, drawn
-- from as many as there are licences, so each answers NOT_FOUND.  A
-- failure is counted in shared memory; one in 100
-- (jobspy.licensing_failure_log_every) writes a log row and commits it.  A
-- verdict other than NOT_FOUND returns no row and \gset stops the client.
-- compare: licensing_validate_license >= 0.8
\set n :licences + random(1, :licences)
\set need (29609 - (556 + :n % 10 * 27 + :n / 10 % 10 * 864 + :n / 100 % 10 * 81 + :n / 1000 % 10 * 550 + :n / 10000 % 10 * 243 + :n / 100000 % 10 * 629 + :n / 1000000 % 10 * 729)) % 1021
\set key 1000000000000000 + :n * 1000000 + :need / 288 * 100000 + :need % 32 / 9 * 10000 + :need % 288 / 96 * 1000 + :need % 32 % 9 / 3 * 100 + :need % 96 / 32 * 10 + :need % 32 % 3
SELECT v.code
  FROM jobspy.validate_license(:key, 'unknown-machine', '1.0') v
 WHERE v.code = 'NOT_FOUND'
\gset
