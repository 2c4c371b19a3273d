\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- 0.2.0 -> 0.3.0: quotas.  quota_take also records each denial as a usage
-- event (jobspy.usage_event_denied, in quotas_metering, which runs after this).

-- The plan in force for a user at a time: the live subscription's plan
-- (by code = subscriptions.plan_type; a live subscription decides alone,
-- so a plan_type no plan has leaves no plan), else the one set with
-- set_user_plan, else the plan named by the type of the user's licence
-- (jobspy.user_license: highest tier, then latest issued), else the
-- configured default.  anchor is the live subscription's current period
-- start, whichever plan is in force: a subscriber's months follow the
-- billing period.  Decided in C (src/quotas.c, plan_in_force), the one
-- place the precedence is written; consume_quota's lookup uses the same.
-- @replace FUNCTION jobspy.quota_plan_of(

-- @replace FUNCTION jobspy.quota_resolve(

-- An unlimited plan never locks a user out: one call takes at most 10^12
-- units there, and a call that would carry the counter past the bigint
-- range is refused with 22023 (it raised 22003 on every later call).
-- @replace FUNCTION jobspy.quota_take(

-- A cost is recorded with the currency of the user's plan.
-- @replace FUNCTION jobspy.settle_reservation(
COMMENT ON TABLE jobspy.usage_records IS
    'usage ledger: each granted consumption (amount, cost in minor units in the currency of the user''s plan, metadata), partitioned by month';
