\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- analytics_billing: the billing and loyalty reports of the seeds for
-- jobspy_analyst: revenue net of refunds, MRR with its movements and churn,
-- lifetime value, users and subscriptions by plan, RFM segments and
-- cross-promotion conversions.  Payments and subscriptions are small next
-- to API calls (one row per payment, per subscription), so these are plain
-- views over them, current to the last commit; the one history they need
-- that no table keeps, a subscription's MRR over time, is kept here.

-- ---- MRR of a subscription

-- The monthly value of a recurring amount, in minor units: a year is 12
-- months, a week 52/12 of a month, a day 365/12 of one; rounded once, at
-- the end, half away from zero.  numeric, never float: this is money.  No
-- SET clause: it is inlined into its callers (a SQL function with one is
-- parsed and planned at every call), and names only pg_catalog and itself.
-- monthly_amount_numeric is the value before it is made a bigint, for a
-- caller that must know whether it fits before it writes a row whose MRR
-- is kept (renew_subscriptions, ending a trial).
CREATE FUNCTION jobspy.monthly_amount_numeric(amount bigint, quantity integer, discount_percentage integer,
                                              "interval" text, interval_count integer)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT round(amount::numeric * quantity * (100 - coalesce(discount_percentage, 0))
                 * CASE "interval" WHEN 'day' THEN 365 WHEN 'week' THEN 52 WHEN 'month' THEN 12 WHEN 'year' THEN 1 END
                 / (100 * 12 * coalesce(interval_count, 1)))
$$;
COMMENT ON FUNCTION jobspy.monthly_amount_numeric(bigint, integer, integer, text, integer) IS
    'monthly_amount before it is made a bigint (so never out of range)';
CREATE FUNCTION jobspy.monthly_amount(amount bigint, quantity integer, discount_percentage integer,
                                      "interval" text, interval_count integer)
    RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT jobspy.monthly_amount_numeric(amount, quantity, discount_percentage, "interval", interval_count)::bigint
$$;
COMMENT ON FUNCTION jobspy.monthly_amount(bigint, integer, integer, text, integer) IS
    'amount x quantity less the discount, per month (year = 12 months, week = 52/12, day = 365/12), in minor units rounded half away from zero; NULL for a one-time amount';

-- A subscription counts for MRR while it is active or past due (Stripe
-- counts a past-due subscription until it is canceled or unpaid); a trial,
-- a pause, an unpaid or an ended one counts 0.  PL/pgSQL, so that the
-- plan of its price lookup is kept: subscriptions_track_mrr runs it at
-- every write of a subscription.
CREATE FUNCTION jobspy.subscription_mrr(s jobspy.subscriptions) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- The status in an IF of its own: a plan that folded it away would be
    -- made again at every call.
    IF s.status IN ('active', 'past_due') THEN
        RETURN coalesce(jobspy.monthly_amount(s.price_amount, s.quantity, s.discount_percentage, s.plan_interval,
                                              (SELECT p.interval_count FROM jobspy.prices p WHERE p.id = s.price_id)), 0);
    END IF;
    RETURN 0;
END
$$;
COMMENT ON FUNCTION jobspy.subscription_mrr(jobspy.subscriptions) IS
    'the monthly recurring revenue of a subscription in its currency''s minor units: its monthly amount while active or past due, else 0';

-- Every change of a subscription's MRR, as it happens: the subscriptions
-- table keeps only the present, and MRR movements need the past.
CREATE TABLE jobspy.subscription_mrr_changes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id uuid NOT NULL,
    customer_id     uuid NOT NULL,
    plan_type       text,
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    mrr             bigint NOT NULL CHECK (mrr >= 0),
    changed_at      timestamptz NOT NULL
);
COMMENT ON TABLE jobspy.subscription_mrr_changes IS
    'each change of a subscription''s MRR (minor units of currency) or plan, from changed_at on; no foreign key, so that the history outlives deleted customers';
CREATE INDEX subscription_mrr_changes_subscription_idx ON jobspy.subscription_mrr_changes (subscription_id, changed_at, id);
SELECT pg_catalog.pg_extension_config_dump('jobspy.subscription_mrr_changes', '');
SELECT pg_catalog.pg_extension_config_dump('jobspy.subscription_mrr_changes_id_seq', '');

CREATE FUNCTION jobspy.subscriptions_track_mrr() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    old_mrr bigint := CASE WHEN TG_OP = 'INSERT' THEN 0 ELSE jobspy.subscription_mrr(OLD) END;
    new_mrr bigint := CASE WHEN TG_OP = 'DELETE' THEN 0 ELSE jobspy.subscription_mrr(NEW) END;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF old_mrr > 0 THEN
            INSERT INTO jobspy.subscription_mrr_changes (subscription_id, customer_id, plan_type, currency, mrr, changed_at)
            VALUES (OLD.id, OLD.customer_id, OLD.plan_type, OLD.price_currency, 0, jobspy.now());
        END IF;
        RETURN NULL;
    END IF;
    IF old_mrr IS DISTINCT FROM new_mrr
       OR (TG_OP = 'UPDATE' AND (OLD.price_currency, OLD.plan_type) IS DISTINCT FROM (NEW.price_currency, NEW.plan_type)) THEN
        INSERT INTO jobspy.subscription_mrr_changes (subscription_id, customer_id, plan_type, currency, mrr, changed_at)
        VALUES (NEW.id, NEW.customer_id, NEW.plan_type, NEW.price_currency, new_mrr, jobspy.now());
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.subscriptions_track_mrr() IS
    'trigger: records a subscription''s MRR and plan in subscription_mrr_changes whenever a change of status, price, quantity or discount changes them';
CREATE TRIGGER subscriptions_track_mrr AFTER INSERT OR UPDATE OR DELETE ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.subscriptions_track_mrr();

-- Subscriptions older than this history (an upgraded install): their MRR
-- from creation, and 0 from cancellation; what changed between is unknown.
WITH earlier AS (
    SELECT s.id, s.customer_id, s.plan_type, s.price_currency, s.status, s.created_at, s.canceled_at,
           coalesce(jobspy.monthly_amount(s.price_amount, s.quantity, s.discount_percentage, s.plan_interval,
                                          (SELECT p.interval_count FROM jobspy.prices p WHERE p.id = s.price_id)), 0) AS mrr
      FROM jobspy.subscriptions s
     WHERE s.status IN ('active', 'past_due', 'canceled'))
INSERT INTO jobspy.subscription_mrr_changes (subscription_id, customer_id, plan_type, currency, mrr, changed_at)
SELECT x.id, x.customer_id, x.plan_type, x.price_currency, x.mrr, x.at
  FROM (SELECT e.id, e.customer_id, e.plan_type, e.price_currency, e.mrr, e.created_at AS at FROM earlier e WHERE e.mrr > 0
        UNION ALL
        SELECT e.id, e.customer_id, e.plan_type, e.price_currency, 0, e.canceled_at FROM earlier e
         WHERE e.mrr > 0 AND e.status = 'canceled' AND e.canceled_at IS NOT NULL) x
 ORDER BY x.at, x.mrr DESC;

-- MRR per customer and currency at the end of each UTC month (the current
-- month: now), for months where it is not 0.
CREATE VIEW jobspy.customer_mrr_monthly AS
WITH spans AS (
    SELECT c.subscription_id, c.customer_id, c.currency, c.mrr,
           date_trunc('month', c.changed_at, 'UTC') AS from_month,
           lead(date_trunc('month', c.changed_at, 'UTC'))
               OVER (PARTITION BY c.subscription_id ORDER BY c.changed_at, c.id) AS next_month,
           row_number() OVER (PARTITION BY c.subscription_id, date_trunc('month', c.changed_at, 'UTC')
                              ORDER BY c.changed_at DESC, c.id DESC) AS last_in_month
      FROM jobspy.subscription_mrr_changes c
     WHERE c.changed_at <= jobspy.now())
SELECT m.month, s.customer_id, s.currency, sum(s.mrr)::bigint AS mrr
  FROM spans s
 -- Months are stepped in UTC: a timestamptz plus a month is taken in the
 -- session's time zone, which west of UTC drifts off the first of the month.
 CROSS JOIN LATERAL (SELECT g AT TIME ZONE 'UTC' AS month
                       FROM generate_series(s.from_month AT TIME ZONE 'UTC',
                                            coalesce(s.next_month AT TIME ZONE 'UTC' - interval '1 month',
                                                     date_trunc('month', jobspy.now(), 'UTC') AT TIME ZONE 'UTC'),
                                            interval '1 month') g) m
 WHERE s.last_in_month = 1 AND s.mrr > 0
 GROUP BY m.month, s.customer_id, s.currency;
COMMENT ON VIEW jobspy.customer_mrr_monthly IS
    'MRR (minor units) per customer and currency at the end of each UTC month, the current month at now; months at 0 are left out';

-- Each customer's month against the one before, in one currency: new (no
-- MRR before, ever), reactivation (none the month before, some earlier),
-- expansion and contraction (more or less than the month before, still
-- some), churn (some the month before, none now).  So that, per currency,
-- mrr = previous mrr + new + reactivation + expansion - contraction - churned.
CREATE VIEW jobspy.mrr_monthly AS
WITH cur AS (
    SELECT c.month, c.customer_id, c.currency, c.mrr,
           min(c.month) OVER (PARTITION BY c.customer_id, c.currency) AS first_month
      FROM jobspy.customer_mrr_monthly c),
moves AS (
    SELECT coalesce(n.month, ((p.month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC') AS month,
           coalesce(n.currency, p.currency) AS currency,
           coalesce(p.mrr, 0) AS before, coalesce(n.mrr, 0) AS after,
           n.month = n.first_month AS first
      FROM cur n
      FULL JOIN cur p ON p.customer_id = n.customer_id AND p.currency = n.currency
                     AND p.month = ((n.month AT TIME ZONE 'UTC') - interval '1 month') AT TIME ZONE 'UTC')
SELECT m.month, m.currency,
       sum(m.after)::bigint AS mrr,
       (12 * sum(m.after))::bigint AS arr,
       count(*) FILTER (WHERE m.after > 0) AS customers,
       coalesce(sum(m.after) FILTER (WHERE m.before = 0 AND m.first), 0)::bigint AS new_mrr,
       coalesce(sum(m.after - m.before) FILTER (WHERE m.before > 0 AND m.after > m.before), 0)::bigint AS expansion_mrr,
       coalesce(sum(m.before - m.after) FILTER (WHERE m.after > 0 AND m.after < m.before), 0)::bigint AS contraction_mrr,
       coalesce(sum(m.before) FILTER (WHERE m.after = 0), 0)::bigint AS churned_mrr,
       coalesce(sum(m.after) FILTER (WHERE m.before = 0 AND NOT m.first), 0)::bigint AS reactivation_mrr,
       count(*) FILTER (WHERE m.before = 0 AND m.first) AS new_customers,
       count(*) FILTER (WHERE m.after = 0) AS churned_customers,
       count(*) FILTER (WHERE m.before = 0 AND NOT m.first) AS reactivated_customers,
       round(count(*) FILTER (WHERE m.after = 0)::numeric / nullif(count(*) FILTER (WHERE m.before > 0), 0), 4)
           AS customer_churn_rate,
       round(sum(m.before - least(m.after, m.before)) FILTER (WHERE m.before > 0)::numeric
             / nullif(sum(m.before), 0), 4) AS mrr_churn_rate
  FROM moves m
 WHERE m.month <= date_trunc('month', jobspy.now(), 'UTC')
 GROUP BY m.month, m.currency;
COMMENT ON VIEW jobspy.mrr_monthly IS
    'MRR and ARR per UTC month and currency at the month''s end (minor units), with its movements against the month before (new, expansion, contraction, churned, reactivation) and the customer and gross MRR churn rates';

-- ---- Revenue and lifetime value (payments)

-- A payment is one row however often its provider reported it (payments
-- are unique on the provider's id), so a replay is never counted twice.
-- Refunds count against the month of the payment they refund; a payment
-- counts in the month it was collected (reported succeeded).  The plan
-- is the one the subscription had when the payment was made (its history
-- above), else its plan now.
CREATE VIEW jobspy.revenue_monthly AS
SELECT date_trunc('month', coalesce(p.collected_at, p.created_at), 'UTC') AS month,
       coalesce(h.plan_type, s.plan_type, 'none') AS plan_type,
       p.currency,
       count(*) AS transaction_count, count(DISTINCT p.user_id) AS unique_customers,
       sum(p.amount_cents)::bigint AS gross_revenue_cents, sum(p.refunded_amount_cents)::bigint AS refunded_cents,
       sum(p.amount_cents - p.refunded_amount_cents)::bigint AS net_revenue_cents
  FROM jobspy.payments p
  -- the payment's subscription, or its invoice's (linked to one later)
  LEFT JOIN jobspy.invoices pi ON pi.id = p.invoice_id
  LEFT JOIN jobspy.subscriptions s ON s.user_id = p.user_id AND s.id = coalesce(p.subscription_id, pi.subscription_id)
  LEFT JOIN LATERAL (
        SELECT c.plan_type FROM jobspy.subscription_mrr_changes c
         WHERE c.subscription_id = coalesce(p.subscription_id, pi.subscription_id) AND c.changed_at <= p.created_at
         ORDER BY c.changed_at DESC, c.id DESC
         LIMIT 1) h ON true
 WHERE p.collected
 GROUP BY 1, 2, 3;
COMMENT ON VIEW jobspy.revenue_monthly IS
    'collected payments per UTC month, plan at payment (none without a subscription) and currency, in minor units: count, paying customers, gross, refunded and net of refunds';

-- Seed 004's "customer lifetime value" grouped by user and amount, which
-- splits one customer into a row per price paid; here one row per user and
-- currency: what they have paid, net of refunds, so far (realized value,
-- not a forecast).
CREATE VIEW jobspy.customer_lifetime_value AS
SELECT p.user_id, p.currency, u.created_at AS signup_date,
       count(*) AS payment_count, sum(p.amount_cents)::bigint AS total_spent_cents,
       sum(p.refunded_amount_cents)::bigint AS refunded_cents,
       sum(p.amount_cents - p.refunded_amount_cents)::bigint AS lifetime_value_cents,
       min(p.created_at) AS first_payment_at, max(p.created_at) AS last_payment_at
  FROM jobspy.payments p
  JOIN jobspy.users u ON u.id = p.user_id
 WHERE p.collected
 GROUP BY p.user_id, p.currency, u.created_at;
COMMENT ON VIEW jobspy.customer_lifetime_value IS
    'per paying user and currency: payments collected, gross, refunded and net paid to date (the realized lifetime value, minor units), signup date, first and last payment';

-- Refunds by the month they were made (revenue_monthly takes them off the
-- month of their payment), and the money that came in and went out each
-- month: payments collected that month less refunds made that month.
CREATE VIEW jobspy.refunds_monthly AS
SELECT date_trunc('month', f.created_at, 'UTC') AS month, f.currency,
       count(*) AS refunds, count(DISTINCT f.payment_id) AS payments_refunded,
       sum(f.amount_cents)::bigint AS refunded_cents
  FROM jobspy.refunds f
 GROUP BY 1, 2;
COMMENT ON VIEW jobspy.refunds_monthly IS
    'refunds per UTC month they were made and currency: how many, of how many payments, and their amount in minor units';

CREATE VIEW jobspy.cash_flow_monthly AS
SELECT x.month, x.currency, sum(x.collected)::bigint AS collected_cents, sum(x.refunded)::bigint AS refunded_cents,
       sum(x.collected - x.refunded)::bigint AS net_cents
  FROM (SELECT date_trunc('month', coalesce(p.collected_at, p.created_at), 'UTC') AS month, p.currency,
               p.amount_cents AS collected, 0 AS refunded
          FROM jobspy.payments p WHERE p.collected
        UNION ALL
        SELECT date_trunc('month', f.created_at, 'UTC'), f.currency, 0, f.amount_cents
          FROM jobspy.refunds f) x
 GROUP BY 1, 2;
COMMENT ON VIEW jobspy.cash_flow_monthly IS
    'per UTC month and currency: payments collected that month, refunds made that month, and the difference, in minor units';

-- ---- Users and subscriptions by plan (seed 004)

-- The plan in force is decided in one place (quotas, jobspy.quota_plan_of);
-- a function, so that the analyst needs no right on it.
CREATE FUNCTION jobspy.active_users_by_plan() RETURNS TABLE (plan_code text, users bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT coalesce(p.code, 'none'), count(*)
      FROM jobspy.users u
     CROSS JOIN LATERAL jobspy.quota_plan_of(u.id, jobspy.now()) r
      LEFT JOIN jobspy.plans p ON p.id = r.plan_id
     WHERE u.status = 'active'
     GROUP BY 1
$$;
COMMENT ON FUNCTION jobspy.active_users_by_plan() IS
    'active users per code of their plan in force now (none without one)';

CREATE VIEW jobspy.users_by_plan AS
SELECT b.plan_code, b.users FROM jobspy.active_users_by_plan() b;
COMMENT ON VIEW jobspy.users_by_plan IS 'active users per plan in force now (seed 004''s users by plan)';

CREATE VIEW jobspy.subscriptions_by_plan AS
SELECT coalesce(s.plan_type, 'none') AS plan_code, s.price_currency AS currency,
       count(*) AS subscription_count, count(DISTINCT s.user_id) AS user_count,
       sum(jobspy.subscription_mrr(s))::bigint AS mrr
  FROM jobspy.subscriptions s
 WHERE s.status = 'active'
 GROUP BY 1, 2;
COMMENT ON VIEW jobspy.subscriptions_by_plan IS
    'active subscriptions per plan and currency: how many, their users, their MRR in minor units (seed 004''s subscriptions by plan and MRR)';

-- ---- Loyalty (seed 002)

CREATE VIEW jobspy.rfm_segments AS
SELECT r.snapshot_date, b.code AS business_code, r.currency, r.user_id, r.recency_days, r.frequency, r.monetary,
       r.r_score, r.f_score, r.m_score, r.segment
  FROM jobspy.loyalty_rfm_snapshots r
  JOIN jobspy.loyalty_businesses b ON b.id = r.business_id;
COMMENT ON VIEW jobspy.rfm_segments IS
    'seed 002''s RFM snapshots: per day, business, currency and member, recency in days, frequency, monetary (minor units), quintile scores and segment';

CREATE VIEW jobspy.cross_promo_conversions AS
SELECT c.date, sb.code AS source_business, tb.code AS target_business, c.triggers, c.conversions, c.conversion_rate
  FROM jobspy.loyalty_promo_conversions c
  JOIN jobspy.loyalty_businesses sb ON sb.id = c.source_business_id
  JOIN jobspy.loyalty_businesses tb ON tb.id = c.target_business_id;
COMMENT ON VIEW jobspy.cross_promo_conversions IS
    'seed 002''s win-win matrix: per UTC day of issue, source and target business, cross-promotion coupons issued and converted';

-- ---- Privileges: the analyst reads the views; the functions they call
-- are checked against the reader.
REVOKE ALL ON FUNCTION jobspy.monthly_amount(bigint, integer, integer, text, integer),
    jobspy.monthly_amount_numeric(bigint, integer, integer, text, integer),
    jobspy.subscription_mrr(jobspy.subscriptions), jobspy.subscriptions_track_mrr(), jobspy.active_users_by_plan()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.monthly_amount(bigint, integer, integer, text, integer),
    jobspy.monthly_amount_numeric(bigint, integer, integer, text, integer),
    jobspy.subscription_mrr(jobspy.subscriptions), jobspy.active_users_by_plan()
  TO jobspy_analyst, jobspy_admin;
REVOKE ALL ON jobspy.subscription_mrr_changes FROM PUBLIC;
GRANT SELECT ON jobspy.subscription_mrr_changes TO jobspy_admin;
GRANT SELECT ON jobspy.customer_mrr_monthly, jobspy.mrr_monthly, jobspy.revenue_monthly,
    jobspy.customer_lifetime_value, jobspy.users_by_plan, jobspy.subscriptions_by_plan, jobspy.rfm_segments,
    jobspy.cross_promo_conversions, jobspy.refunds_monthly, jobspy.cash_flow_monthly
  TO jobspy_analyst, jobspy_admin;
