\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- billing: subscriptions and payments.  Amounts are integers in minor units.

CREATE TABLE jobspy.subscriptions (
    user_id                uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id                     uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    stripe_subscription_id text UNIQUE CHECK (length(stripe_subscription_id) BETWEEN 1 AND 255),
    stripe_customer_id     text CHECK (length(stripe_customer_id) BETWEEN 1 AND 255),
    plan_type              text NOT NULL CHECK (plan_type IN ('basic', 'professional', 'enterprise')),
    plan_interval          text CHECK (plan_interval IN ('month', 'year')),
    status                 text NOT NULL CHECK (status IN ('active', 'past_due', 'canceled', 'unpaid', 'trialing')),
    current_period_start   timestamptz,
    current_period_end     timestamptz,
    trial_start            timestamptz,
    trial_end              timestamptz,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    canceled_at            timestamptz,
    billing_cycle_anchor   timestamptz,
    price_amount           bigint CHECK (price_amount >= 0),
    price_currency         text NOT NULL DEFAULT 'USD' CHECK (price_currency ~ '^[A-Z]{3}$'),
    discount_percentage    integer NOT NULL DEFAULT 0 CHECK (discount_percentage BETWEEN 0 AND 100),
    metadata               jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at             timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at             timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    CHECK (current_period_end > current_period_start),
    CHECK (trial_end >= trial_start),
    CHECK (status <> 'canceled' OR canceled_at IS NOT NULL)
);
COMMENT ON TABLE jobspy.subscriptions IS 'recurring subscriptions; at most one live (active, trialing or past_due) per user';
CREATE UNIQUE INDEX subscriptions_id_idx ON jobspy.subscriptions (id);
CREATE UNIQUE INDEX subscriptions_one_live_idx ON jobspy.subscriptions (user_id)
    WHERE status IN ('active', 'trialing', 'past_due');
CREATE INDEX subscriptions_stripe_customer_idx ON jobspy.subscriptions (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;
CREATE INDEX subscriptions_period_end_idx ON jobspy.subscriptions (current_period_end) WHERE status IN ('active', 'trialing', 'past_due');
CREATE TRIGGER subscriptions_updated_at BEFORE UPDATE ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER subscriptions_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.subscriptions', '');

CREATE TABLE jobspy.payments (
    user_id                  uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id                       uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    subscription_id          uuid,
    stripe_payment_intent_id text UNIQUE CHECK (length(stripe_payment_intent_id) BETWEEN 1 AND 255),
    stripe_charge_id         text CHECK (length(stripe_charge_id) BETWEEN 1 AND 255),
    amount_cents             bigint NOT NULL CHECK (amount_cents >= 0),
    currency                 text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    status                   text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled', 'refunded')),
    payment_method_type      text CHECK (length(payment_method_type) <= 50),
    payment_method_last4     text CHECK (payment_method_last4 ~ '^[0-9]{4}$'),
    payment_method_brand     text CHECK (length(payment_method_brand) <= 20),
    failure_code             text CHECK (length(failure_code) <= 50),
    failure_message          text CHECK (length(failure_message) <= 1000),
    description              text CHECK (length(description) <= 1000),
    receipt_email            text CHECK (length(receipt_email) <= 254),
    receipt_url              text CHECK (length(receipt_url) <= 2000),
    refunded_amount_cents    bigint NOT NULL DEFAULT 0 CHECK (refunded_amount_cents >= 0),
    metadata                 jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at               timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at               timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    FOREIGN KEY (user_id, subscription_id) REFERENCES jobspy.subscriptions (user_id, id),
    CHECK (refunded_amount_cents <= amount_cents),
    CHECK (status <> 'refunded' OR refunded_amount_cents > 0)
);
COMMENT ON TABLE jobspy.payments IS 'payment attempts and their outcome; amounts in minor units';
CREATE UNIQUE INDEX payments_id_idx ON jobspy.payments (id);
CREATE INDEX payments_subscription_idx ON jobspy.payments (user_id, subscription_id) WHERE subscription_id IS NOT NULL;
CREATE INDEX payments_created_at_idx ON jobspy.payments (created_at) WHERE status = 'succeeded';
CREATE TRIGGER payments_updated_at BEFORE UPDATE ON jobspy.payments
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER payments_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.payments
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.payments', '');
