\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- licensing_tiers: which of a user's licences is the user's licence.

-- Which of a user's licences is "the user's licence" (the rate limiter
-- applies its type's rules, quotas the plan its type names): the active,
-- unexpired one whose type ranks highest here, then the most recently
-- issued, then the smallest id.  A type missing here ranks below all.  The
-- ranks ship with the extension; upgrades change them.
CREATE TABLE jobspy.license_tiers (
    license_type text PRIMARY KEY,
    tier_rank    integer NOT NULL UNIQUE CHECK (tier_rank > 0)
);
COMMENT ON TABLE jobspy.license_tiers IS
    'the rank of each licence type: a user''s licence is the active one of the highest rank, then the latest issued';
INSERT INTO jobspy.license_tiers (license_type, tier_rank) VALUES ('free', 1), ('pro', 2), ('enterprise', 3);
REVOKE ALL ON jobspy.license_tiers FROM PUBLIC;
GRANT SELECT ON jobspy.license_tiers TO jobspy_admin;
-- A new rank changes whose licence is whose: every cached answer goes.
CREATE TRIGGER license_tiers_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON jobspy.license_tiers
    FOR EACH STATEMENT EXECUTE FUNCTION jobspy.license_cache_touch();

CREATE FUNCTION jobspy.user_license(user_id uuid, at timestamptz,
                                    OUT license_id uuid, OUT license_type text)
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'jobspy_user_license';
COMMENT ON FUNCTION jobspy.user_license(uuid, timestamptz) IS
    'the id and type of the user''s licence at a time (highest tier in license_tiers, then latest issued), NULL when none';
REVOKE ALL ON FUNCTION jobspy.user_license(uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.user_license(uuid, timestamptz) TO jobspy_admin;
