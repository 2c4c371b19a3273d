\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- core: the clock and the library's state.

COMMENT ON SCHEMA jobspy IS 'jobspy_core: business rules of a subscription software product';

CREATE FUNCTION jobspy.now() RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_now_sql';
COMMENT ON FUNCTION jobspy.now() IS
    'the time jobspy_core''s rules see: transaction time, or jobspy.clock_override when set';

CREATE FUNCTION jobspy.clock_now() RETURNS timestamptz
    LANGUAGE c VOLATILE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_clock_now_sql';
COMMENT ON FUNCTION jobspy.clock_now() IS
    'the current time, as clock_timestamp() gives it, or jobspy.clock_override when set: for leases, which run from the moment they are taken';

-- Whether an interval goes forward in every part (months, days and time),
-- and is positive and at most a bound.  PostgreSQL orders intervals
-- counting a month as 30 days, so '1 mon -29 days' is "positive" yet ends
-- before its start from Feb 1: a duration added to the clock is refused
-- unless every part moves it forward.
CREATE FUNCTION jobspy.interval_forward(i interval, most interval DEFAULT '100 years') RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN i > interval '0' AND i <= most
           AND extract(year FROM i) >= 0 AND extract(month FROM i) >= 0 AND extract(day FROM i) >= 0
           AND i - date_trunc('day', i) >= interval '0';
COMMENT ON FUNCTION jobspy.interval_forward(interval, interval) IS
    'true when an interval is positive, at most the bound (100 years by default), and none of its years, months, days or time is negative';

CREATE FUNCTION jobspy.library_preloaded() RETURNS boolean
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_preloaded_sql';
COMMENT ON FUNCTION jobspy.library_preloaded() IS
    'true when jobspy_core was loaded through shared_preload_libraries';

-- The three privilege tiers.  Roles are cluster-wide and outlive the
-- extension; they are made only when missing, NOLOGIN, for a DBA to grant
-- to login roles.  Every module grants its own objects to them.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['jobspy_app', 'jobspy_analyst', 'jobspy_admin'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

-- Time-ordered ids for the rows that record events and transactions
-- (src/core_uuid_v7.c, docs/schema.md "Ids").
CREATE FUNCTION jobspy.uuid_v7() RETURNS uuid
    LANGUAGE c VOLATILE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_uuid_v7_sql';
COMMENT ON FUNCTION jobspy.uuid_v7() IS
    'a new RFC 9562 version 7 uuid: Unix milliseconds, their fraction, random bits; increasing within a session';
REVOKE ALL ON FUNCTION jobspy.uuid_v7() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.uuid_v7() TO jobspy_app, jobspy_analyst, jobspy_admin;
REVOKE ALL ON FUNCTION jobspy.clock_now() FROM PUBLIC;
REVOKE ALL ON FUNCTION jobspy.interval_forward(interval, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.interval_forward(interval, interval) TO jobspy_app, jobspy_analyst, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.clock_now() TO jobspy_app, jobspy_analyst, jobspy_admin;

-- The CHECK constraints and trigger conditions this backend prepared once
-- (src/core_check_cache.c).
CREATE FUNCTION jobspy.check_cache_entries(
    OUT table_name regclass, OUT constraints integer, OUT constraints_shared boolean,
    OUT when_conditions integer, OUT when_conditions_shared integer, OUT uses bigint)
    RETURNS SETOF record
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_check_cache_entries';
COMMENT ON FUNCTION jobspy.check_cache_entries() IS
    'this backend''s prepared CHECK constraints and trigger WHEN conditions of jobspy''s tables (jobspy.check_cache): per table, how many and how many shared, and the statements handed them';
REVOKE ALL ON FUNCTION jobspy.check_cache_entries() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.check_cache_entries() TO jobspy_admin;

-- The configuration registry: every key a module reads, declared by that
-- module's own SQL file beside the code that reads it (INSERT INTO
-- jobspy.config_defaults), with its built-in value and what a value must
-- be.  jobspy.config_set() checks a value against it; keys an application
-- keeps for itself live under "app." (docs/operations.md).
CREATE TABLE jobspy.config_defaults (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    description text NOT NULL,
    value_type  text NOT NULL CHECK (value_type IN ('integer', 'interval', 'text', 'boolean')),
    nullable    boolean NOT NULL DEFAULT false,
    min_value   numeric,
    max_value   numeric,
    choices     jsonb CHECK (jsonb_typeof(choices) = 'array'),
    pattern     text            -- a regular expression a text value must match
);
COMMENT ON TABLE jobspy.config_defaults IS
    'the configuration registry: each known key, its built-in value and the type, range, choices or pattern a value must have; system_config overrides the value';
