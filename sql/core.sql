\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- core: the clock and the library's state.

COMMENT ON SCHEMA jobspy IS 'jobspy_core: business rules of a subscription software product';

CREATE FUNCTION jobspy.now() RETURNS timestamptz
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_now_sql';
COMMENT ON FUNCTION jobspy.now() IS
    'the time jobspy_core''s rules see: transaction time, or jobspy.clock_override when set';

CREATE FUNCTION jobspy.library_preloaded() RETURNS boolean
    LANGUAGE c STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_preloaded_sql';
COMMENT ON FUNCTION jobspy.library_preloaded() IS
    'true when jobspy_core was loaded through shared_preload_libraries';
