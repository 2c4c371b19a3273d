-- Licence validation as a client's check-in makes it: key, fingerprint and
-- app version of one of :scale pro licences, each activated on that machine
-- and far from its daily limit, so every call is a counted VALID.  The key
-- comes from bench.license_keys by primary key in the same statement (keys
-- are random; the baseline reads it the same way).  Counts go to shared
-- memory: the transaction writes nothing, and maintain()'s flush, one
-- UPDATE per licence between two runs, is not measured.  A verdict other
-- than VALID returns no row and \gset then stops the client.
-- compare: select1 >= 0.6
-- compare: licensing_seed_validation_path >= 10
\set n random(1, :scale)
SELECT v.code, v.validations_remaining
  FROM bench.license_keys k, jobspy.validate_license(k.license_key, k.fingerprint, '1.0') v
 WHERE k.n = :n AND v.valid
\gset
