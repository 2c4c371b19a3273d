\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- analytics: API usage and the views over it.

-- Partitioned by month on created_at; the default partition takes rows no
-- monthly partition covers yet, so an insert never fails for lack of one.
CREATE TABLE jobspy.api_usage (
    user_id             uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id                  uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    license_id          uuid,
    endpoint            text NOT NULL CHECK (length(endpoint) BETWEEN 1 AND 255),
    method              text NOT NULL CHECK (method ~ '^[A-Z]{3,7}$'),
    status_code         integer CHECK (status_code BETWEEN 100 AND 599),
    response_time_ms    integer CHECK (response_time_ms >= 0),
    request_size_bytes  integer CHECK (request_size_bytes >= 0),
    response_size_bytes integer CHECK (response_size_bytes >= 0),
    user_agent          text CHECK (length(user_agent) <= 1000),
    ip_address          inet,
    country_code        text CHECK (country_code ~ '^[A-Z]{2}$'),
    error_message       text CHECK (length(error_message) <= 2000),
    metadata            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at          timestamptz NOT NULL DEFAULT jobspy.now(),
    FOREIGN KEY (user_id, license_id) REFERENCES jobspy.licenses (user_id, id) ON DELETE CASCADE,
    -- The writing transaction: refresh_rollups() counts each row once by it
    -- (see the rollups below).  A column, so that rows keep it when
    -- maintain() moves them into their month's partition.
    xact                xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE jobspy.api_usage IS 'one row per API call, partitioned by month';
-- Keys and indexes live on the partitions (maintain() copies the default
-- partition's onto each month): indexes on an extension-owned parent make
-- dumps that cannot be restored.  The key holds the partition column, so it
-- is unique across the whole table.
CREATE TABLE jobspy.api_usage_default PARTITION OF jobspy.api_usage
    (PRIMARY KEY (user_id, created_at, id)) DEFAULT;
CREATE INDEX api_usage_default_license_idx ON jobspy.api_usage_default (license_id, created_at) WHERE license_id IS NOT NULL;
CREATE INDEX api_usage_default_endpoint_idx ON jobspy.api_usage_default (endpoint, created_at);
CREATE INDEX api_usage_default_xact_idx ON jobspy.api_usage_default (xact);
SELECT pg_catalog.pg_extension_config_dump('jobspy.api_usage_default', '');

-- Seed 000's views, without the row multiplication of its joins: each
-- licence or user appears once, its subscription taken as the newest active one.
CREATE VIEW jobspy.active_licenses AS
SELECT l.user_id, l.id, l.license_key_hint, l.license_type, l.status, l.issued_at, l.expires_at,
       l.last_validated_at, l.validation_count, l.max_validations_per_day, l.max_machines,
       l.features, l.metadata, l.created_at, l.updated_at,
       u.email, u.first_name, u.last_name,
       s.plan_type AS subscription_plan, s.status AS subscription_status
  FROM jobspy.licenses l
  JOIN jobspy.users u ON u.id = l.user_id
  LEFT JOIN LATERAL (
        SELECT sub.plan_type, sub.status
          FROM jobspy.subscriptions sub
         WHERE sub.user_id = l.user_id AND sub.status = 'active'
         ORDER BY sub.created_at DESC
         LIMIT 1) s ON true
 WHERE l.status = 'active'
   AND (l.expires_at IS NULL OR l.expires_at > jobspy.now());
COMMENT ON VIEW jobspy.active_licenses IS 'active, unexpired licences with their owner and newest active subscription, one row each';

CREATE VIEW jobspy.user_analytics AS
SELECT u.id, u.email, u.created_at AS user_created_at,
       l.license_type, l.created_at AS license_created_at,
       s.plan_type AS subscription_plan, s.status AS subscription_status,
       usage.calls AS api_calls_last_30_days, usage.last_call AS last_api_call
  FROM jobspy.users u
  LEFT JOIN LATERAL (
        SELECT lic.license_type, lic.created_at
          FROM jobspy.licenses lic
         WHERE lic.user_id = u.id AND lic.status = 'active'
         ORDER BY lic.created_at DESC
         LIMIT 1) l ON true
  LEFT JOIN LATERAL (
        SELECT sub.plan_type, sub.status
          FROM jobspy.subscriptions sub
         WHERE sub.user_id = u.id AND sub.status = 'active'
         ORDER BY sub.created_at DESC
         LIMIT 1) s ON true
  CROSS JOIN LATERAL (
        SELECT count(*) AS calls, max(a.created_at) AS last_call
          FROM jobspy.api_usage a
         WHERE a.user_id = u.id AND a.created_at > jobspy.now() - interval '30 days') usage
 WHERE u.status = 'active';
COMMENT ON VIEW jobspy.user_analytics IS 'one row per active user: newest active licence, newest active subscription, API calls in the last 30 days';

CREATE VIEW jobspy.revenue_analytics AS
SELECT date_trunc('month', p.created_at, 'UTC') AS month,
       coalesce(s.plan_type, 'none') AS plan_type,
       count(DISTINCT p.user_id) AS paying_customers,
       count(*) AS total_payments,
       sum(p.amount_cents) AS total_revenue_cents,
       sum(p.refunded_amount_cents) AS refunded_cents,
       sum(p.amount_cents - p.refunded_amount_cents) AS net_revenue_cents,
       round(avg(p.amount_cents)) AS avg_payment_cents,
       p.currency
  FROM jobspy.payments p
  LEFT JOIN jobspy.subscriptions s ON s.user_id = p.user_id AND s.id = p.subscription_id
 WHERE p.collected
 GROUP BY 1, 2, p.currency;
COMMENT ON VIEW jobspy.revenue_analytics IS
    'revenue per UTC month, plan and currency (amounts in that currency''s minor units): collected payments, refunds and net; payments without a subscription under plan none';

