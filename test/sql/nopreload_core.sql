-- Without shared_preload_libraries the extension still installs and its
-- table logic works; only the shared-memory features refuse.
SELECT jobspy.library_preloaded() AS preloaded;
SELECT jobspy.license_key_is_valid(jobspy.generate_license_key()) AS keys_work;
SELECT count(*) > 0 AS maintain_works FROM jobspy.maintain();
