-- verify_password runs Argon2 at the cost written in the hash it is given, in
-- one call that cannot be interrupted: a hash asking for more passes or
-- memory than jobspy.password_iterations and jobspy.password_memory_kib can
-- ever be set to (t=4294967295 runs for weeks and blocks even a fast
-- shutdown) verifies nothing.  The hashes below were made with argon2-cffi.
BEGIN;
SELECT plan(6);

SELECT ok(jobspy.verify_password('correct horse',
          '$argon2id$v=19$m=8,t=100,p=1$cmV2aWV3c2FsdDEyMzQ1Ng$PxAeINH5apNG2xJuhrrxWtNZzh0xXM4Z1AKx/+R8f/k'),
          'a hash at the largest iteration count the settings allow verifies');
SELECT ok(NOT jobspy.verify_password('correct horse',
          '$argon2id$v=19$m=8,t=101,p=1$cmV2aWV3c2FsdDEyMzQ1Ng$Wr3Zw+igl2UB/pvnf7d8NZ8Yn9Cwfi3OC4jdBra1r+s'),
          'a hash over the largest iteration count verifies nothing, even with the right password');
SELECT ok(NOT jobspy.verify_password('correct horse',
          '$argon2id$v=19$m=4194305,t=1,p=1$cmV2aWV3c2FsdDEyMzQ1Ng$PxAeINH5apNG2xJuhrrxWtNZzh0xXM4Z1AKx/+R8f/k'),
          'a hash over the largest memory verifies nothing');
SELECT ok(NOT jobspy.verify_password('correct horse',
          '$argon2id$v=19$m=8,t=99999999999999999999,p=1$cmV2aWV3c2FsdDEyMzQ1Ng$PxAeINH5apNG2xJuhrrxWtNZzh0xXM4Z1AKx/+R8f/k'),
          'an iteration count past any integer verifies nothing');
SELECT ok(jobspy.password_needs_rehash(
          '$argon2id$v=19$m=8,t=101,p=1$cmV2aWV3c2FsdDEyMzQ1Ng$Wr3Zw+igl2UB/pvnf7d8NZ8Yn9Cwfi3OC4jdBra1r+s'),
          'such a hash needs re-hashing');
SELECT ok(NOT jobspy.verify_password('correct horse',
          '$argon2id$v=19$t=1,m=8,p=1$cmV2aWV3c2FsdDEyMzQ1Ng$PxAeINH5apNG2xJuhrrxWtNZzh0xXM4Z1AKx/+R8f/k'),
          'parameters out of order verify nothing');

SELECT * FROM finish();
ROLLBACK;
