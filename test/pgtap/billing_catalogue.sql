-- The catalogue: categories, products, prices, and a used price frozen.
BEGIN;
SELECT plan(38);

SELECT jobspy.create_plan('cat-pro', 'Pro');
SELECT isnt(jobspy.create_category('software', 'Software'), NULL, 'a category');
SELECT isnt(jobspy.create_category('desktop', 'Desktop apps', 'software'), NULL, 'a subcategory');
SELECT throws_ok($$SELECT jobspy.create_category('x', 'X', 'nope')$$, '22023', NULL, 'an unknown parent');
SELECT throws_ok($$SELECT jobspy.create_category('desktop', 'Again')$$, '23505', NULL, 'category codes are unique');
SELECT throws_ok($$UPDATE jobspy.product_categories SET parent_id = (SELECT id FROM jobspy.product_categories WHERE code = 'desktop')
                    WHERE code = 'software'$$, '23514', NULL, 'the category tree has no cycle');

SELECT isnt(jobspy.create_product('pro', 'Pro', plan_code => 'cat-pro', category_code => 'desktop'), NULL,
            'a subscription product granting a plan');
SELECT isnt(jobspy.create_product('book', 'Book', 'one_time'), NULL, 'a one-time product');
SELECT isnt(jobspy.create_product('seats', 'Extra seats', 'addon'), NULL, 'an addon');
SELECT is((SELECT pl.code FROM jobspy.products p JOIN jobspy.plans pl ON pl.id = p.plan_id WHERE p.code = 'pro'),
          'cat-pro', 'the product names its plan');
SELECT throws_ok($$SELECT jobspy.create_product('x', 'X', 'rental')$$, '22023', NULL, 'an unknown kind');
SELECT throws_ok($$SELECT jobspy.create_product('x', 'X', plan_code => 'nope')$$, '22023', NULL, 'an unknown plan');
SELECT throws_ok($$SELECT jobspy.create_product('x', 'X', 'one_time', 'cat-pro')$$, '22023', NULL,
                 'a one-time product grants no plan');
SELECT throws_ok($$SELECT jobspy.create_product('pro', 'Again')$$, '23505', NULL, 'product codes are unique');
SELECT throws_ok($$SELECT jobspy.create_product(NULL, 'X')$$, '22023', NULL, 'NULL code');

SELECT isnt(jobspy.create_price('pro', 'pro-m', 1500, 'USD', 'month'), NULL, 'a monthly price');
SELECT isnt(jobspy.create_price('pro', 'pro-tokens', 0, 'USD', 'month', unit_amount => 2, included_quantity => 1000,
                                metric => 'tokens'), NULL, 'a metered price');
SELECT isnt(jobspy.create_price('book', 'book-1', 999, 'JPY'), NULL, 'a one-time price');
SELECT throws_ok($$SELECT jobspy.create_price('pro', 'p2', -1, 'USD', 'month')$$, '22023', NULL, 'a negative amount');
SELECT throws_ok($$SELECT jobspy.create_price('pro', 'p2', 1, 'usd', 'month')$$, '22023', NULL, 'an unknown currency');
SELECT throws_ok($$SELECT jobspy.create_price('pro', 'p2', 1, 'USD', 'fortnight')$$, '22023', NULL, 'an unknown interval');
SELECT throws_ok($$SELECT jobspy.create_price('pro', 'p2', 1, 'USD')$$, '22023', NULL,
                 'a subscription''s price recurs');
SELECT throws_ok($$SELECT jobspy.create_price('book', 'p2', 1, 'USD', 'month')$$, '22023', NULL,
                 'a one-time product''s price does not');
SELECT throws_ok($$SELECT jobspy.create_price('pro', 'p2', 1, 'USD', 'month', unit_amount => 1)$$, '22023', NULL,
                 'a metered price names its metric');
SELECT throws_ok($$SELECT jobspy.create_price('nope', 'p2', 1, 'USD', 'month')$$, '22023', NULL, 'an unknown product');
SELECT is((SELECT count(*) FROM jobspy.prices WHERE code = 'p2'), 0::bigint, 'refused prices left no row');

-- A price nobody uses may still be corrected; a used one never changes.
UPDATE jobspy.prices SET amount = 1600 WHERE code = 'pro-m';
INSERT INTO jobspy.users (id, email) VALUES ('b2000000-0000-4000-8000-000000000001', 'cat@example.com');
SELECT jobspy.subscribe(jobspy.create_customer('b2000000-0000-4000-8000-000000000001'), 'pro-m');
SELECT throws_ok($$UPDATE jobspy.prices SET amount = 1700 WHERE code = 'pro-m'$$, 'JS504', NULL,
                 'a used price''s amount never changes');
UPDATE jobspy.prices SET is_active = false WHERE code = 'pro-m';
SELECT is((SELECT (amount, is_active)::text FROM jobspy.prices WHERE code = 'pro-m'), '(1600,f)',
          'a used price may be retired');

-- Variants (seed 001): a product of its own under a parent, with its own prices.
SELECT jobspy.create_product('cat-shirt', 'Shirt', 'one_time', description => 'Cotton');
SELECT ok(jobspy.create_product_variant('cat-shirt', 'cat-shirt-l-red', 'Shirt L red', '{"size": "L", "colour": "red"}')
          IS NOT NULL, 'a variant is made');
SELECT is((SELECT row(v.kind, v.description, v.options, p.code)::text FROM jobspy.products v
             JOIN jobspy.products p ON p.id = v.parent_id WHERE v.code = 'cat-shirt-l-red'),
          row('one_time', 'Cotton', '{"size": "L", "colour": "red"}'::jsonb, 'cat-shirt')::text,
          'it takes its parent''s kind and description, and keeps its options');
SELECT ok(jobspy.create_price('cat-shirt-l-red', 'cat-shirt-l-red-usd', 2500, 'USD') IS NOT NULL,
          'and has a price of its own');
SELECT throws_ok($$SELECT jobspy.create_product_variant('cat-shirt', 'cat-shirt-2', 'Again', '{"colour": "red", "size": "L"}')$$,
                 '23505', NULL, 'one variant per set of options, in any order');
SELECT throws_ok($$SELECT jobspy.create_product_variant('cat-shirt-l-red', 'cat-x', 'Deeper', '{"fit": "slim"}')$$,
                 '22023', NULL, 'no variant of a variant');
SELECT throws_ok($$UPDATE jobspy.products SET parent_id = (SELECT id FROM jobspy.products WHERE code = 'cat-shirt-l-red'),
                          options = '{"a": 1}' WHERE code = 'pro'$$,
                 '23514', NULL, 'nor by a direct UPDATE');
SELECT throws_ok($$SELECT jobspy.create_product_variant('nope', 'cat-y', 'Y', '{"size": "S"}')$$, '22023', NULL,
                 'an unknown parent');
SELECT throws_ok($$SELECT jobspy.create_product_variant('cat-shirt', 'cat-z', 'Z', '{}')$$, '22023', NULL, 'no options');
SELECT throws_ok($$SELECT jobspy.create_product_variant('cat-shirt', 'cat-z', 'Z', '["L"]')$$, '22023', NULL,
                 'options that are not an object');
SELECT throws_ok($$SELECT jobspy.create_product_variant('cat-shirt', 'cat-z', 'Z', NULL)$$, '22023', NULL, 'NULL options');
SELECT is((SELECT count(*) FROM jobspy.products WHERE code IN ('cat-shirt-2', 'cat-x', 'cat-y', 'cat-z')), 0::bigint,
          'no refused variant was left');

SELECT * FROM finish();
ROLLBACK;
