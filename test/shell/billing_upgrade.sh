#!/usr/bin/env bash
# Seed 000's subscriptions survive the 0.2.0 -> 0.3.0 update: each row gets
# its user's customer, keeps its stripe_* and plan_type columns, still puts
# its plan in force, and from then on obeys the status transitions; its
# payments get the same customer and are refunded through refund_payment.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_billing_upgrade

echo "1..9"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core VERSION '0.2.0';
SELECT jobspy.create_plan('professional', 'Professional');
INSERT INTO jobspy.users (id, email) VALUES ('77777777-7777-4777-8777-777777777777', 'seed@example.com');
INSERT INTO jobspy.subscriptions (user_id, id, stripe_subscription_id, stripe_customer_id, plan_type, plan_interval,
                                  status, current_period_start, current_period_end, price_amount)
VALUES ('77777777-7777-4777-8777-777777777777', '77777777-0000-4000-8000-000000000001', 'sub_seed', 'cus_seed',
        'professional', 'month', 'active', now() - interval '3 days', now() + interval '27 days', 2900);
INSERT INTO jobspy.payments (user_id, subscription_id, amount_cents, status)
VALUES ('77777777-7777-4777-8777-777777777777', '77777777-0000-4000-8000-000000000001', 2900, 'succeeded');
ALTER EXTENSION jobspy_core UPDATE TO '0.3.0';
SQL
check "$?" 0 "0.2.0 with a seed subscription and payment updates to 0.3.0"
check "$(q "SELECT c.user_id FROM jobspy.subscriptions s JOIN jobspy.customers c ON c.id = s.customer_id")" \
      77777777-7777-4777-8777-777777777777 "the subscription belongs to its user's new customer"
check "$(q "SELECT c.email FROM jobspy.customers c")" seed@example.com "the customer has the user's email"
check "$(q "SELECT stripe_subscription_id || ' ' || plan_type || ' ' || status FROM jobspy.subscriptions")" \
      "sub_seed professional active" "seed columns are kept"
check "$(q "SELECT plan_code || ' ' || source FROM jobspy.plan_in_force('77777777-7777-4777-8777-777777777777')")" \
      "professional subscription" "its plan is still in force"
check "$(psql -X -Atq -d $db -c "UPDATE jobspy.subscriptions SET status = 'unpaid'" 2>&1 | grep -o 'illegal subscription transition from active to unpaid')" \
      "illegal subscription transition from active to unpaid" "an old row obeys the transitions"
check "$(q "SELECT p.customer_id = s.customer_id AND p.status = 'succeeded' AND p.net_cents = 2900
             FROM jobspy.payments p JOIN jobspy.subscriptions s ON s.id = p.subscription_id")" t \
      "the seed payment belongs to the same customer, keeps its status, and nets its amount"
check "$(q "SELECT jobspy.refund_payment(id, 900) IS NOT NULL FROM jobspy.payments;
            SELECT status || ' ' || refunded_amount_cents || ' ' || (SELECT net_cents FROM jobspy.payments_net) FROM jobspy.payments" | tail -1)" \
      "partially_refunded 900 2000" "the seed payment is refunded through the function and revenue is net of it"
q "SELECT jobspy.cancel_subscription('77777777-0000-4000-8000-000000000001', false, 'upgrade test')" >/dev/null
check "$(q "SELECT status || ' ' || cancellation_reason FROM jobspy.subscriptions")" "canceled upgrade test" \
      "an old row is canceled through the function"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
