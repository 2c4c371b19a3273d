-- The worked examples in examples/ (docs/examples.md), one per seed
-- product, each in a transaction it rolls back; what they print is the
-- expected output.
\getenv abs_srcdir PG_ABS_SRCDIR
\set example :abs_srcdir '/../../examples/jobspy_licensing.sql'
\i :example
\set example :abs_srcdir '/../../examples/nostrx_posts.sql'
\i :example
\set example :abs_srcdir '/../../examples/ai_chat_tokens.sql'
\i :example
\set example :abs_srcdir '/../../examples/svoy_krug_loyalty.sql'
\i :example
\set example :abs_srcdir '/../../examples/payment_system.sql'
\i :example
-- Nothing is left behind.
SELECT count(*) AS plans_left FROM jobspy.plans WHERE code IN ('basic', 'premium', 'advanced', 'FREE', 'PLUS', 'PRO');
SELECT count(*) AS product_schemas_left FROM pg_namespace WHERE nspname IN ('desktop', 'nostrx', 'chat', 'krug', 'shop');
SELECT count(*) AS users_left FROM jobspy.users
 WHERE email IN ('carol@jobspy.example', 'bob@chat.example', 'masha@krug.example', 'ann@acme.example') OR nostr_public_key IS NOT NULL;
SELECT count(*) AS businesses_left FROM jobspy.loyalty_businesses WHERE code LIKE 'krug-%';
SELECT count(*) AS products_left FROM jobspy.products WHERE code LIKE 'acme-%';
