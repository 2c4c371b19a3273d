-- 0.2.0 -> 0.3.0: what core changes (new modules are symlinks beside this file).

-- The configuration registry: config_defaults (made by ops in 0.2.0) says
-- for every key what a value must be; each module declares its own keys.
ALTER TABLE jobspy.config_defaults
    ADD COLUMN value_type text CHECK (value_type IN ('integer', 'interval', 'text', 'boolean')),
    ADD COLUMN nullable   boolean NOT NULL DEFAULT false,
    ADD COLUMN min_value  numeric,
    ADD COLUMN max_value  numeric,
    ADD COLUMN choices    jsonb CHECK (jsonb_typeof(choices) = 'array'),
    ADD COLUMN pattern    text;
UPDATE jobspy.config_defaults SET value_type = 'interval', nullable = key LIKE 'retention.%'
 WHERE key LIKE 'retention.%' OR key LIKE 'identity.%';
UPDATE jobspy.config_defaults SET value_type = 'integer', min_value = 0, max_value = 120
 WHERE key = 'partitions.premake_months';
UPDATE jobspy.config_defaults SET value_type = 'integer', min_value = 1, max_value = 1000
 WHERE key = 'identity.login_max_failures';
UPDATE jobspy.config_defaults SET value_type = 'text', nullable = false, choices = '["drop", "detach"]'
 WHERE key = 'retention.mode';
UPDATE jobspy.config_defaults SET value_type = 'text', nullable = true
 WHERE key = 'quotas.default_plan';
ALTER TABLE jobspy.config_defaults ALTER COLUMN value_type SET NOT NULL;
COMMENT ON TABLE jobspy.config_defaults IS
    'the configuration registry: each known key, its built-in value and the type, range, choices or pattern a value must have; system_config overrides the value';

-- CHECK constraints and trigger conditions prepared once per backend
-- (src/core_check_cache.c).
-- @create FUNCTION jobspy.check_cache_entries(
REVOKE ALL ON FUNCTION jobspy.check_cache_entries() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.check_cache_entries() TO jobspy_admin;

-- Time-ordered ids (src/core_uuid_v7.c); each module switches its tables' defaults.
-- @create FUNCTION jobspy.uuid_v7(
REVOKE ALL ON FUNCTION jobspy.uuid_v7() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.uuid_v7() TO jobspy_app, jobspy_analyst, jobspy_admin;

-- The wall clock beside jobspy.now() (the outbox's leases).
-- @create FUNCTION jobspy.clock_now(
REVOKE ALL ON FUNCTION jobspy.clock_now() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.clock_now() TO jobspy_app, jobspy_analyst, jobspy_admin;

-- Intervals that go forward in every part (durations added to the clock).
-- @create FUNCTION jobspy.interval_forward(
REVOKE ALL ON FUNCTION jobspy.interval_forward(interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.interval_forward(interval, interval) TO jobspy_app, jobspy_analyst, jobspy_admin;
