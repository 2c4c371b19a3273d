-- The payment system (seed 001): a catalogue with categories and product
-- variations, an organization billed as a customer with its address, a
-- Stripe customer id and a card on file, a team subscription invoiced and
-- paid, an order of a physical variant paid and partly refunded, a
-- lifetime membership, and the next month's renewal.  Provider ids are
-- what the provider sent; replays of a payment or a refund change nothing.
-- The product's one table is its support tickets.  Runs in a transaction
-- it rolls back.
BEGIN;
SET LOCAL jobspy.clock_override = '2030-03-10 12:00:00+00';
SET LOCAL TimeZone = 'UTC';
SET LOCAL DateStyle = 'ISO';

-- The product's own schema: tickets, and a helper that shows what a call
-- refuses (its SQLSTATE and message) without ending the transaction.
CREATE SCHEMA shop;
CREATE TABLE shop.tickets (id serial PRIMARY KEY, user_id uuid NOT NULL, subject text NOT NULL, priority boolean NOT NULL);
CREATE FUNCTION shop.refused(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- A ticket is a priority one while its author holds the support membership.
CREATE FUNCTION shop.open_ticket(author uuid, subject text) RETURNS boolean LANGUAGE sql AS $$
    INSERT INTO shop.tickets (user_id, subject, priority)
    VALUES (author, subject, jobspy.has_membership(author, 'acme-priority-support'))
    RETURNING priority
$$;

-- The catalogue (admin): a category tree, a subscription with a monthly
-- price, a printed handbook sold in two bindings (variants with their own
-- prices), and the provider.
SELECT jobspy.create_category('software', 'Software') IS NOT NULL AS software,
       jobspy.create_category('books', 'Books', parent_code => 'software') IS NOT NULL AS books;
SELECT jobspy.create_product('acme-team', 'Team plan', 'subscription', category_code => 'software') IS NOT NULL AS team;
SELECT jobspy.create_price('acme-team', 'acme-team-monthly', 4900, 'USD', 'month') IS NOT NULL AS team_monthly;
SELECT jobspy.create_product('acme-handbook', 'Handbook', 'one_time', category_code => 'books') IS NOT NULL AS handbook;
SELECT jobspy.create_product_variant('acme-handbook', 'acme-handbook-hard', 'Handbook, hardcover', '{"binding": "hard"}') IS NOT NULL AS hard,
       jobspy.create_product_variant('acme-handbook', 'acme-handbook-soft', 'Handbook, paperback', '{"binding": "soft"}') IS NOT NULL AS soft;
SELECT jobspy.create_price('acme-handbook-hard', 'acme-handbook-hard-usd', 2500, 'USD') IS NOT NULL AS hard_price,
       jobspy.create_price('acme-handbook-soft', 'acme-handbook-soft-usd', 1500, 'USD') IS NOT NULL AS soft_price;
SELECT jobspy.create_membership_type('acme-priority-support', 'Priority support', 'lifetime') IS NOT NULL AS support;
SELECT jobspy.create_provider('stripe', 'Stripe') IS NOT NULL AS stripe;

-- Ann's organization is the billing customer: its address, its Stripe
-- customer id, a card on file (the last four digits only: a whole card
-- number is refused wherever it appears).
SELECT jobspy.create_user('ann@acme.example') AS ann \gset
SELECT jobspy.create_organization('Acme GmbH', :'ann') AS acme \gset
SELECT jobspy.create_customer(organization_id => :'acme', email => 'billing@acme.example',
                              currency => 'USD', tax_id => 'DE123456789') AS customer \gset
SELECT jobspy.add_customer_address(:'customer', 'billing', 'Hauptstrasse 1', 'Berlin', 'DE') IS NOT NULL AS address;
SELECT jobspy.link_provider_customer(:'customer', 'stripe', 'cus_Acme01') IS NOT NULL AS linked;
SELECT jobspy.add_payment_method(:'customer', 'card', '4242', 'visa', 12, 2032, 'stripe', 'pm_Acme01') IS NOT NULL AS card;
SELECT shop.refused(format($$SELECT jobspy.add_payment_method(%L, 'card', '4242424242424242', 'visa', 12, 2032)$$,
                           :'customer')) AS whole_card_number;

-- Three seats of the team plan: active at once, the first month invoiced
-- with a gapless number.  Stripe reports the charge; the invoice is paid.
SELECT jobspy.subscribe(:'customer', 'acme-team-monthly', quantity => 3) AS team_sub \gset
SELECT i.id AS first_invoice FROM jobspy.invoices i WHERE i.subscription_id = :'team_sub' \gset
SELECT s.status, s.current_period_end FROM jobspy.subscriptions s WHERE s.id = :'team_sub';
SELECT i.invoice_number IS NOT NULL AS numbered, i.status, i.total_cents, i.amount_due_cents
  FROM jobspy.invoices i WHERE i.id = :'first_invoice';
SELECT jobspy.record_payment('stripe', 'pi_Acme01', :'customer', 14700, 'USD', 'succeeded',
                             invoice_id => :'first_invoice', fee => 456) AS team_payment \gset
-- The provider retries its report: the same payment, nothing counted twice;
-- the same id with another amount is refused.
SELECT jobspy.record_payment('stripe', 'pi_Acme01', :'customer', 14700, 'USD', 'succeeded',
                             invoice_id => :'first_invoice', fee => 456) = :'team_payment' AS same_payment;
SELECT shop.refused(format($$SELECT jobspy.record_payment('stripe', 'pi_Acme01', %L, 14800, 'USD', 'succeeded')$$,
                           :'customer')) AS other_amount;
SELECT i.status, i.amount_paid_cents, i.amount_due_cents FROM jobspy.invoices i WHERE i.id = :'first_invoice';

-- Two hardcover handbooks and a paperback: an order whose total is its
-- items', paid, then one hardcover refunded (the refund's retry is the
-- same refund), then shipped.
SELECT jobspy.create_order(:'customer',
                           '[{"price_code": "acme-handbook-hard-usd", "quantity": 2},
                             {"price_code": "acme-handbook-soft-usd"}]', 'USD') AS book_order \gset
SELECT o.status, o.total_cents FROM jobspy.orders o WHERE o.id = :'book_order';
SELECT jobspy.record_payment('stripe', 'pi_Acme02', :'customer', 6500, 'USD', 'succeeded',
                             order_id => :'book_order', fee => 219) AS book_payment \gset
SELECT jobspy.refund_payment(:'book_payment', 2500, 'damaged in transit', 're_Acme01') AS refund \gset
SELECT jobspy.refund_payment(:'book_payment', 2500, 'damaged in transit', 're_Acme01') = :'refund' AS same_refund;
SELECT shop.refused(format($$SELECT jobspy.refund_payment(%L, 5000)$$, :'book_payment')) AS more_than_is_left;
SELECT p.status, p.amount_cents, p.refunded_amount_cents FROM jobspy.payments p WHERE p.id = :'book_payment';
SELECT jobspy.fulfill_order(:'book_order');
SELECT o.status FROM jobspy.orders o WHERE o.id = :'book_order';

-- Ann bought lifetime priority support: her tickets are priority ones.
SELECT jobspy.grant_membership(:'ann', 'acme-priority-support') IS NOT NULL AS granted;
SELECT shop.open_ticket(:'ann', 'SSO setup') AS priority_ticket;

-- A month on, maintenance renews the subscription: a new period and its
-- invoice, numbered next in the series; the card is charged and Stripe's
-- report pays it.
SET LOCAL jobspy.clock_override = '2030-04-10 12:00:01+00';
SELECT jobspy.renew_subscriptions() AS renewed;
SELECT s.status, s.current_period_start, s.current_period_end FROM jobspy.subscriptions s WHERE s.id = :'team_sub';
SELECT i.id AS second_invoice FROM jobspy.invoices i
 WHERE i.subscription_id = :'team_sub' AND i.id <> :'first_invoice' \gset
SELECT i.status, i.total_cents,
       substring(i.invoice_number FROM '[0-9]+$')::int - substring(f.invoice_number FROM '[0-9]+$')::int AS after_the_first
  FROM jobspy.invoices i, jobspy.invoices f WHERE i.id = :'second_invoice' AND f.id = :'first_invoice';
SELECT jobspy.record_payment('stripe', 'pi_Acme03', :'customer', 14700, 'USD', 'succeeded',
                             invoice_id => :'second_invoice', fee => 456) IS NOT NULL AS paid;
SELECT i.status FROM jobspy.invoices i WHERE i.id = :'second_invoice';

-- Revenue of the customer's payments: gross, refunded, net, fees.
SELECT p.currency, count(*) AS payments, sum(p.amount_cents) AS gross, sum(p.refunded_amount_cents) AS refunded,
       sum(p.amount_cents - p.refunded_amount_cents) AS net, sum(p.fee_cents) AS fees
  FROM jobspy.payments p WHERE p.customer_id = :'customer' GROUP BY p.currency;
-- The state changes went to the outbox for the product's workers, in
-- the transactions that made them.
SELECT e.topic, count(*) AS events
  FROM jobspy.outbox_events e
 WHERE e.user_id = :'ann' OR e.payload ->> 'customer_id' = :'customer'
 GROUP BY e.topic ORDER BY e.topic;
ROLLBACK;
