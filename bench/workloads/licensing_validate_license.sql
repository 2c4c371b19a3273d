-- Licence validation as a client's check-in makes it: key, fingerprint and
-- app version of one of :scale pro licences, each activated on that machine
-- and far from its daily limit, so every call is a counted VALID.  Key and
-- fingerprint are computed from n by pgbench (bench/fixtures/40_licensing.sql
-- says how) and sent as parameters, as a client sends them.  Counts go to
-- shared memory: the transaction writes nothing, and maintain()'s flush,
-- one UPDATE per licence between two runs, is not measured.  A verdict
-- other than VALID returns no row and \gset then stops the client.
-- compare: select1 >= 0.6
-- compare: licensing_seed_validation_path >= 10
-- against: floor_row
\set n random(1, :scale)
\set need (29609 - (556 + :n % 10 * 27 + :n / 10 % 10 * 864 + :n / 100 % 10 * 81 + :n / 1000 % 10 * 550 + :n / 10000 % 10 * 243 + :n / 100000 % 10 * 629 + :n / 1000000 % 10 * 729)) % 1021
\set key 1000000000000000 + :n * 1000000 + :need / 288 * 100000 + :need % 32 / 9 * 10000 + :need % 288 / 96 * 1000 + :need % 32 % 9 / 3 * 100 + :need % 96 / 32 * 10 + :need % 32 % 3
\set fingerprint 1000000000000000000 + :n
SELECT v.code, v.validations_remaining
  FROM jobspy.validate_license(:key, :fingerprint, '1.0') v
 WHERE v.valid
\gset
