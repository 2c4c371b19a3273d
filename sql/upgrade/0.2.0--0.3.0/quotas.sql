\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: quotas.  quota_take also records each denial as a usage
-- event (jobspy.usage_event_denied, in quotas_metering, which runs after this).

-- The plan in force for a user at a time: the live subscription's plan
-- (by code = subscriptions.plan_type; a live subscription decides alone,
-- so a plan_type no plan has leaves no plan), else the one set with
-- set_user_plan, else the plan named by the type of the user's licence
-- (jobspy.user_license: highest tier, then latest issued), else the
-- configured default.  anchor is the live subscription's billing anchor
-- (else its current period start), whichever plan is in force: a subscriber's months follow the
-- billing period.  Decided in C (src/quotas.c, plan_in_force), the one
-- place the precedence is written; consume_quota's lookup uses the same.
-- @replace FUNCTION jobspy.quota_plan_of(
-- Months now run from the billing anchor (a weekly price or a trial moves
-- the period start more often), so a change of the anchor ends the cached
-- windows too.
DROP TRIGGER subscriptions_quota_cache ON jobspy.subscriptions;
CREATE TRIGGER subscriptions_quota_cache AFTER INSERT OR DELETE
    OR UPDATE OF user_id, plan_type, status, current_period_start, billing_cycle_anchor ON jobspy.subscriptions
    FOR EACH ROW EXECUTE FUNCTION jobspy.license_cache_touch('user_id');

-- The checks of the user and plan, shared with gauges (quotas_gauges).
-- @create FUNCTION jobspy.quota_require_plan(
REVOKE ALL ON FUNCTION jobspy.quota_require_plan(uuid, text, uuid) FROM PUBLIC;
-- @replace FUNCTION jobspy.quota_resolve(

-- An unlimited plan never locks a user out: one call takes at most 10^12
-- units there, and a call that would carry the counter past the bigint
-- range is refused with 22023 (it raised 22003 on every later call).
-- @replace FUNCTION jobspy.quota_take(

-- A cost is recorded with the currency of the user's plan.
-- @replace FUNCTION jobspy.settle_reservation(
COMMENT ON TABLE jobspy.usage_records IS
    'usage ledger: each granted consumption (amount, cost in minor units in the currency of the user''s plan, metadata), partitioned by month';

-- Several windows per metric (issue 21): a plan may limit a metric per day
-- and per month together; each is checked, a denial takes from none.
ALTER TABLE jobspy.plan_quotas DROP CONSTRAINT plan_quotas_pkey,
    ADD CONSTRAINT plan_quotas_pkey PRIMARY KEY (plan_id, metric, period);
COMMENT ON TABLE jobspy.plan_quotas IS
    'a plan''s limits on a metric, one per period (day, week, month, year, lifetime), all checked together; -1 is unlimited (still counted)';
-- A reservation holds its amount in every window: a row each, one id.
ALTER TABLE jobspy.quota_reservations DROP CONSTRAINT quota_reservations_pkey,
    ADD CONSTRAINT quota_reservations_pkey PRIMARY KEY (user_id, id, period);
DROP INDEX jobspy.quota_reservations_id_idx;
CREATE UNIQUE INDEX quota_reservations_id_idx ON jobspy.quota_reservations (id, period);
COMMENT ON TABLE jobspy.quota_reservations IS
    'amounts held against a quota until settled with the actual amount, cancelled, or released at expiry; a row per window of the metric, one id';
-- @replace FUNCTION jobspy.quota_lookup(
-- @create FUNCTION jobspy.quota_lookup_all(
-- The API functions written in PL/pgSQL keep their bodies in NAME_impl and
-- answer through a C face, so that an error carries no internal context.
-- @create FUNCTION jobspy.quota_windows_impl(
-- @create FUNCTION jobspy.quota_windows(
-- @create FUNCTION jobspy.quota_status_impl(
-- @replace FUNCTION jobspy.quota_status(
-- @create FUNCTION jobspy.consume_quota_impl(
-- @replace FUNCTION jobspy.consume_quota(user_id uuid, metric text, amount bigint, idempotency_key text,
-- @create FUNCTION jobspy.reserve_quota_impl(
-- @replace FUNCTION jobspy.reserve_quota(
REVOKE ALL ON FUNCTION jobspy.quota_windows_impl(uuid, text), jobspy.quota_status_impl(uuid, text),
    jobspy.consume_quota_impl(uuid, text, bigint, text, numeric, jsonb),
    jobspy.reserve_quota_impl(uuid, text, bigint, interval, text) FROM PUBLIC;
-- @replace FUNCTION jobspy.cancel_reservation(
-- @replace FUNCTION jobspy.maintain_quotas(
-- @create FUNCTION jobspy.plan_id_of(
-- @create FUNCTION jobspy.check_limit_name(
REVOKE ALL ON FUNCTION jobspy.plan_id_of(text), jobspy.check_limit_name(text, text) FROM PUBLIC;
-- @replace FUNCTION jobspy.set_plan_quota(
-- @create FUNCTION jobspy.remove_plan_quota_period(
-- @replace FUNCTION jobspy.remove_plan_quota(
REVOKE ALL ON FUNCTION jobspy.quota_lookup_all(uuid, text, timestamptz), jobspy.quota_windows(uuid, text),
    jobspy.remove_plan_quota_period(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.quota_windows(uuid, text) TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.remove_plan_quota_period(text, text, text) TO jobspy_admin;

-- Time-ordered ids (jobspy.uuid_v7, docs/schema.md "Ids").

ALTER TABLE jobspy.usage_records ALTER COLUMN id SET DEFAULT jobspy.uuid_v7();
ALTER TABLE jobspy.quota_reservations ALTER COLUMN id SET DEFAULT jobspy.uuid_v7();
