-- Licence keys: shape, normalisation, checksum, bad input.
SELECT jobspy.generate_license_key() ~ '^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$' AS canonical_shape;
SELECT jobspy.license_key_is_valid(jobspy.generate_license_key()) AS generated_is_valid;

-- A fixed valid key in its accepted spellings.
SELECT k, jobspy.license_key_is_valid(k) AS valid, jobspy.normalize_license_key(k) AS canonical
  FROM (VALUES ('NSQC-1VQ5-9GCC-TG2S'),
               ('nsqc-1vq5-9gcc-tg2s'),
               ('NSQC1VQ59GCCTG2S'),
               ('  NSQC 1VQ5 9GCC TG2S  '),
               ('NSQC-IVQ5-9GCC-TG2S'),      -- I read as 1
               ('NSQC-lVQ5-9GCC-TG2S'),      -- l read as 1
               ('NSQC-1VQ5-9GCC-TG2S-'),
               ('NSQC-1VQ5-9GCC-TG2T'),      -- substitution
               ('NSQC-1VQ5-9GCC-T2GS'),      -- adjacent swap
               ('NSQC-1VQ5-9GCC-TG2'),       -- too short
               ('NSQC-1VQ5-9GCC-TG2SS'),     -- too long
               ('NSQC-1VQ5-9GCC-TG2U'),      -- U is not in the alphabet
               ('NSQC_1VQ5_9GCC_TG2S'),      -- wrong separator
               (''),
               ('ÄSQC-1VQ5-9GCC-TG2S')) AS t(k);

SELECT jobspy.license_key_is_valid(NULL) AS null_is_null, jobspy.normalize_license_key(NULL) AS null_norm;
SELECT jobspy.license_key_is_valid(repeat('A', 10000)) AS overlong;

-- Random tokens: length and alphabet, bad sizes refused.
SELECT length(jobspy.random_token()) AS len32, jobspy.random_token(16) ~ '^[A-Za-z0-9_-]{22}$' AS url_safe;
SELECT jobspy.random_token(8);
SELECT jobspy.random_token(65);
