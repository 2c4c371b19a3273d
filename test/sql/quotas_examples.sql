-- The runnable examples in examples/, each in a transaction it rolls back.
\getenv abs_srcdir PG_ABS_SRCDIR
\set example :abs_srcdir '/../../examples/nostrx_posts.sql'
\i :example
\set example :abs_srcdir '/../../examples/ai_chat_tokens.sql'
\i :example
-- Nothing is left behind.
SELECT count(*) AS plans_left FROM jobspy.plans WHERE code IN ('basic', 'premium', 'advanced', 'FREE', 'PLUS', 'PRO');
