\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: ops.

-- Checks a value against the registry (config_defaults); raises 22023 when
-- it is wrong and JS003 for a key nobody declared.  A key under "app." is
-- the application's own and holds any JSON; "retention.<table>" is known
-- for every range-partitioned table of schema jobspy (maintain() applies
-- it, docs/development.md).
-- @replace FUNCTION jobspy.config_check(
COMMENT ON FUNCTION jobspy.config_set(text, jsonb) IS
    'sets a configuration value (audited), checked against the registry config_defaults; an application''s own keys start with app.';

-- API calls are facts, kept 24 months (seed 002) instead of 13; a value set
-- with config_set stays as it is.
UPDATE jobspy.config_defaults
   SET value = '"24 months"', description = 'how long api_usage rows are kept (seed 002: facts 24 months); null keeps them forever'
 WHERE key = 'retention.api_usage';

-- A new month's partition locks its parent before the default partition,
-- so a writer that holds the parent cannot deadlock with it.
-- @replace FUNCTION jobspy.create_month_partition(
