-- Money, customers, addresses, providers, provider customers and payment
-- methods: every function, and bad input with its SQLSTATE and no row left.
BEGIN;
SELECT plan(53);

SET LOCAL jobspy.clock_override = '2031-05-14 12:00:00+00';
INSERT INTO jobspy.users (id, email) VALUES
    ('b1000000-0000-4000-8000-000000000001', 'c1@example.com'),
    ('b1000000-0000-4000-8000-000000000002', 'c2@example.com');
INSERT INTO jobspy.organizations (id, name, slug) VALUES ('b1000000-0000-4000-8000-0000000000aa', 'Acme', 'acme');

-- Money.
SELECT is(jobspy.format_money(1999, 'USD'), '19.99 USD', 'USD has two decimals');
SELECT is(jobspy.format_money(1999, 'JPY'), '1999 JPY', 'JPY has none');
SELECT is(jobspy.format_money(1999, 'KWD'), '1.999 KWD', 'KWD has three');
SELECT is(jobspy.format_money(-5, 'EUR'), '-0.05 EUR', 'a credit keeps its sign');
SELECT throws_ok($$SELECT jobspy.format_money(1, 'XXQ')$$, '22023', NULL, 'an unknown currency is refused');
SELECT is((SELECT jobspy.money_sum(a, c)::text FROM (VALUES (100::bigint, 'USD'), (250, 'USD'), (NULL, 'USD')) v(a, c)),
          '(350,USD)', 'money_sum adds one currency');
SELECT throws_ok($$SELECT jobspy.money_sum(a, c) FROM (VALUES (100::bigint, 'USD'), (250, 'EUR')) v(a, c)$$,
                 'JS501', 'cannot combine amounts in USD and EUR', 'money_sum refuses mixed currencies');
SELECT throws_ok($$SELECT jobspy.money_same_currency('USD', 'JPY')$$, 'JS501', NULL,
                 'two currencies never meet');
SELECT is(jobspy.money_same_currency('USD', 'USD'), 'USD', 'one currency meets itself');

-- Customers.
SELECT isnt(jobspy.create_customer(user_id => 'b1000000-0000-4000-8000-000000000001', currency => 'EUR'), NULL,
            'a user''s customer');
SELECT is((SELECT email FROM jobspy.customers WHERE user_id = 'b1000000-0000-4000-8000-000000000001'),
          'c1@example.com', 'its email defaults to the user''s');
SELECT isnt(jobspy.create_customer(organization_id => 'b1000000-0000-4000-8000-0000000000aa', email => 'bills@acme.example'),
            NULL, 'an organization''s customer');
SELECT is((SELECT name FROM jobspy.customers WHERE organization_id = 'b1000000-0000-4000-8000-0000000000aa'),
          'Acme', 'its name defaults to the organization''s');
SELECT throws_ok($$SELECT jobspy.create_customer()$$, '22023', NULL, 'neither user nor organization');
SELECT throws_ok($$SELECT jobspy.create_customer('b1000000-0000-4000-8000-000000000002', 'b1000000-0000-4000-8000-0000000000aa')$$,
                 '22023', NULL, 'both user and organization');
SELECT throws_ok($$SELECT jobspy.create_customer('b1000000-0000-4000-8000-000000000001')$$, '23505', NULL,
                 'one customer per user');
SELECT throws_ok($$SELECT jobspy.create_customer(gen_random_uuid())$$, '22023', NULL, 'an unknown user');
SELECT throws_ok($$SELECT jobspy.create_customer('b1000000-0000-4000-8000-000000000002', currency => 'usd')$$,
                 '22023', NULL, 'an unknown currency');
SELECT throws_ok($$SELECT jobspy.create_customer('b1000000-0000-4000-8000-000000000002', tax_id => '4111 1111 1111 1111')$$,
                 'JS502', NULL, 'a card number in any field is refused');
SELECT is((SELECT count(*) FROM jobspy.customers WHERE user_id = 'b1000000-0000-4000-8000-000000000002'), 0::bigint,
          'no customer row was left by the refused calls');
SELECT jobspy.create_customer('b1000000-0000-4000-8000-000000000002') AS c2 \gset
SELECT id AS c1 FROM jobspy.customers WHERE user_id = 'b1000000-0000-4000-8000-000000000001' \gset

-- Addresses.
SELECT jobspy.add_customer_address(:'c1', 'billing', '1 Main St', 'Berlin', 'DE') AS a1 \gset
SELECT jobspy.add_customer_address(:'c1', 'billing', '2 Side St', 'Paris', 'FR', postal_code => '75001') AS a2 \gset
SELECT jobspy.add_customer_address(:'c1', 'shipping', '3 Dock Rd', 'Hamburg', 'DE') IS NOT NULL AS shipping;
SELECT is((SELECT array_agg(is_default ORDER BY line1) FROM jobspy.customer_addresses WHERE kind = 'billing'),
          ARRAY[false, true], 'a new default billing address replaces the old default');
SELECT is((SELECT count(*) FROM jobspy.customer_addresses WHERE is_default), 2::bigint,
          'one default of each kind');
SELECT throws_ok(format($$SELECT jobspy.add_customer_address(%L, 'billing', 'x', 'y', 'DEU')$$, :'c1'), '22023', NULL,
                 'country is ISO 3166-1 alpha-2');
SELECT throws_ok(format($$SELECT jobspy.add_customer_address(%L, 'home', 'x', 'y', 'DE')$$, :'c1'), '22023', NULL,
                 'kind is billing or shipping');
SELECT throws_ok($$SELECT jobspy.add_customer_address(gen_random_uuid(), 'billing', 'x', 'y', 'DE')$$, '22023', NULL,
                 'an unknown customer');
SELECT throws_ok(format($$SELECT jobspy.add_customer_address(%L, 'billing', NULL, 'y', 'DE')$$, :'c1'), '22023', NULL,
                 'NULL line1');
SELECT is((SELECT count(*) FROM jobspy.customer_addresses), 3::bigint, 'refused addresses left no row');

-- Providers and provider customers.
SELECT isnt(jobspy.create_provider('stripe', 'Stripe'), NULL, 'a provider');
SELECT isnt(jobspy.create_provider('yookassa', 'YooKassa', 'hmac_sha256'), NULL, 'a provider signing with HMAC');
SELECT throws_ok($$SELECT jobspy.create_provider('stripe', 'Again')$$, '23505', NULL, 'provider codes are unique');
SELECT throws_ok($$SELECT jobspy.create_provider('Bad Code', 'x')$$, '22023', NULL, 'a provider code is lower case');
SELECT throws_ok($$SELECT jobspy.create_provider('p2', 'x', 'rsa')$$, '22023', NULL, 'an unknown signature scheme');
SELECT jobspy.link_provider_customer(:'c1', 'stripe', 'cus_A1') AS pc \gset
SELECT is(jobspy.link_provider_customer(:'c1', 'stripe', 'cus_A1'), :'pc'::uuid, 'the same link again is the same row');
SELECT throws_ok(format($$SELECT jobspy.link_provider_customer(%L, 'stripe', 'cus_A2')$$, :'c1'), '23505', NULL,
                 'one id per customer and provider');
SELECT throws_ok(format($$SELECT jobspy.link_provider_customer(%L, 'stripe', 'cus_A1')$$, :'c2'), '23505', NULL,
                 'a provider''s id belongs to one customer');
SELECT throws_ok(format($$SELECT jobspy.link_provider_customer(%L, 'paypal', 'x')$$, :'c1'), '22023', NULL,
                 'an unknown provider');
SELECT is((SELECT count(*) FROM jobspy.provider_customers), 1::bigint, 'refused links left no row');

-- Payment methods.
SELECT jobspy.add_payment_method(:'c1', 'card', '4242', 'visa', 6, 2031, 'stripe', 'pm_1') AS pm1 \gset
SELECT is(jobspy.default_payment_method(:'c1'), :'pm1'::uuid, 'the first method is the default');
SELECT jobspy.add_payment_method(:'c1', 'card', '0005', 'amex', 1, 2033, 'stripe', 'pm_2', make_default => false) AS pm2 \gset
SELECT is(jobspy.default_payment_method(:'c1'), :'pm1'::uuid, 'a method added as not default changes nothing');
SELECT throws_ok(format($$SELECT jobspy.add_payment_method(%L, 'card', '4242424242424242')$$, :'c1'), 'JS502', NULL,
                 'a 16-digit last4 is refused as a card number');
SELECT throws_ok(format($$SELECT jobspy.add_payment_method(%L, 'card', '42a2')$$, :'c1'), '22023', NULL,
                 'last4 is 4 digits');
SELECT throws_ok(format($$SELECT jobspy.add_payment_method(%L, 'card', '4242', '4000 0566 5566 5556')$$, :'c1'), 'JS502', NULL,
                 'a card number as the brand is refused');
SELECT throws_ok(format($$SELECT jobspy.add_payment_method(%L, 'card', '4242', 'visa', 13, 2031)$$, :'c1'), '22023', NULL,
                 'an expiry month is 1 to 12');
SELECT throws_ok(format($$SELECT jobspy.add_payment_method(%L, 'card', '4242', 'visa', 4, 2031)$$, :'c1'), 'JS503', NULL,
                 'an expired method cannot become the default');
SELECT throws_ok(format($$SELECT jobspy.add_payment_method(%L, NULL)$$, :'c1'), '22023', NULL, 'NULL type');
SELECT throws_ok($$UPDATE jobspy.payment_methods SET metadata = '{"pan": "4111111111111111"}'$$, 'JS502', NULL,
                 'a card number is refused even from a direct UPDATE');
SELECT is((SELECT count(*) FROM jobspy.payment_methods), 2::bigint, 'refused methods left no row');
SELECT is((SELECT is_default FROM jobspy.payment_methods WHERE id = :'pm1'), true,
          'a refused new default did not take the old default away');
SELECT jobspy.set_default_payment_method(:'pm2');
SELECT is(jobspy.default_payment_method(:'c1'), :'pm2'::uuid, 'set_default_payment_method moves the default');
SELECT is((SELECT count(*) FROM jobspy.payment_methods WHERE is_default), 1::bigint, 'one default per customer');
SET LOCAL jobspy.clock_override = '2033-02-01 00:00:00+00';
SELECT is(jobspy.default_payment_method(:'c1'), NULL, 'a default that has since expired is no default');
SELECT throws_ok(format($$SELECT jobspy.set_default_payment_method(%L)$$, :'pm1'), 'JS503', NULL,
                 'an expired method cannot be made the default');
SELECT ok(NOT jobspy.looks_like_card_number('b0000000-0000-4000-8000-000000000001')
          AND NOT jobspy.looks_like_card_number('order 4242424242424241'),
          'UUIDs and Luhn-invalid digit runs are not card numbers');

SELECT * FROM finish();
ROLLBACK;
