-- A thousand licence keys per call, generated in the server.
-- compare: core_seed_generate_license_key >= 20
SELECT count(jobspy.generate_license_key()) FROM generate_series(1, 1000);
