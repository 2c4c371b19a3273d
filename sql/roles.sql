\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- roles: runs last.  The roles themselves are made in core.sql; each module
-- grants its own objects.  This file takes from PUBLIC whatever a module
-- did not revoke, and grants what spans modules.


-- PUBLIC gets nothing; each tier gets what it needs.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA jobspy FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA jobspy FROM PUBLIC;
GRANT USAGE ON SCHEMA jobspy TO jobspy_app, jobspy_analyst, jobspy_admin;

-- Application: the API functions.
GRANT EXECUTE ON FUNCTION
    jobspy.now(),
    jobspy.library_preloaded(),
    jobspy.generate_license_key(),
    jobspy.license_key_is_valid(text),
    jobspy.normalize_license_key(text),
    jobspy.random_token(integer),
    jobspy.config_get(text)
  TO jobspy_app, jobspy_admin;

-- Analyst: the analytics views, read only.
GRANT SELECT ON jobspy.active_licenses, jobspy.user_analytics, jobspy.revenue_analytics
  TO jobspy_analyst, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.now() TO jobspy_analyst;

-- Admin: configuration and maintenance, and reading (not writing) the tables
-- but for the hash keys.
GRANT EXECUTE ON FUNCTION jobspy.config_set(text, jsonb), jobspy.maintain() TO jobspy_admin;
GRANT SELECT ON jobspy.users, jobspy.licenses, jobspy.subscriptions, jobspy.payments,
    jobspy.api_usage, jobspy.user_sessions, jobspy.email_verification_tokens,
    jobspy.password_reset_tokens, jobspy.feature_flags, jobspy.system_config,
    jobspy.config_defaults, jobspy.rate_limit_rules, jobspy.audit_logs
  TO jobspy_admin;

-- Identity tables: the admin reads them but not the secret columns.
GRANT SELECT ON jobspy.organizations, jobspy.organization_members TO jobspy_admin;
REVOKE SELECT ON jobspy.users, jobspy.user_sessions, jobspy.email_verification_tokens,
    jobspy.password_reset_tokens FROM jobspy_admin;
GRANT SELECT (id, email, first_name, last_name, phone, country_code, timezone, language, status,
              email_verified, email_verified_at, two_factor_enabled, last_login_at, metadata,
              created_at, updated_at, locked_until, nostr_public_key)
   ON jobspy.users TO jobspy_admin;
GRANT SELECT (user_id, id, device_fingerprint, user_agent, ip_address, country_code, city, expires_at,
              last_activity_at, created_at, revoked_at, revocation_reason, family_id)
   ON jobspy.user_sessions TO jobspy_admin;
GRANT SELECT (user_id, id, email, expires_at, used_at, created_at)
   ON jobspy.email_verification_tokens TO jobspy_admin;
GRANT SELECT (user_id, id, expires_at, used_at, created_at)
   ON jobspy.password_reset_tokens TO jobspy_admin;
