-- licensing_validate_license over every licence of the fixture: n drawn
-- from all :licences (BENCH_LICENCES, :scale unless set), not the first
-- :scale.  With BENCH_LICENCES=1000000 this is validation among a million
-- licences, against the same among ten thousand (licensing_validate_license,
-- same server, same tables); without it the two are the same workload.
-- compare: licensing_validate_license >= 0.9
\set n random(1, :licences)
\set need (29609 - (556 + :n % 10 * 27 + :n / 10 % 10 * 864 + :n / 100 % 10 * 81 + :n / 1000 % 10 * 550 + :n / 10000 % 10 * 243 + :n / 100000 % 10 * 629 + :n / 1000000 % 10 * 729)) % 1021
\set key 1000000000000000 + :n * 1000000 + :need / 288 * 100000 + :need % 32 / 9 * 10000 + :need % 288 / 96 * 1000 + :need % 32 % 9 / 3 * 100 + :need % 96 / 32 * 10 + :need % 32 % 3
\set fingerprint 1000000000000000000 + :n
SELECT v.code, v.validations_remaining
  FROM jobspy.validate_license(:key, :fingerprint, '1.0') v
 WHERE v.valid
\gset
