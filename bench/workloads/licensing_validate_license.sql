-- Licence validation as a client's check-in makes it: key, fingerprint and
-- app version of one of :scale pro licences, each activated on that machine
-- and far from its daily limit, so every call is a counted VALID.  The key
-- is computed from n by pgbench (bench/fixtures/40_licensing.sql says how),
-- as the baseline's is, and sent without dashes.  Counts go to shared memory: the transaction writes nothing, and
-- maintain()'s flush, one UPDATE per licence between two runs, is not
-- measured.  A verdict other than VALID returns no row and \gset then
-- stops the client.
-- compare: select1 >= 0.6
-- compare: licensing_seed_validation_path >= 10
\set n random(1, :scale)
\set r (866 + :n % 10 + (:n / 10) % 10 * 32 + (:n / 100) % 10 * 1024 + (:n / 1000) % 10 * 32768 + (:n / 10000) % 10 * 1048576) % 1021
\set c1 (1021 - (:r * 1024) % 1021) % 1021 / 32 + 1
\set c2 (1021 - (:r * 1024) % 1021) % 1021 % 32 + 1
SELECT v.code, v.validations_remaining
  FROM jobspy.validate_license(((10000000000000 + :n) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', :c1, 1) || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', :c2, 1)),
                              lpad(:n::text, 64, 'f'), '1.0') v
 WHERE v.valid
\gset
