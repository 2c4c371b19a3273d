-- Time-ordered ids (src/core_uuid_v7.c, docs/schema.md "Ids").
BEGIN;
SELECT plan(8);

CREATE TEMP TABLE ids AS
    SELECT n, jobspy.uuid_v7() AS id, clock_timestamp() AS made FROM generate_series(1, 20000) n;

SELECT is((SELECT count(*) FROM ids WHERE substr(id::text, 15, 1) <> '7'), 0::bigint,
          'every id says version 7');
SELECT is((SELECT count(*) FROM ids WHERE substr(id::text, 20, 1) NOT IN ('8', '9', 'a', 'b')), 0::bigint,
          'and has the RFC 9562 variant');
SELECT is((SELECT count(DISTINCT id) FROM ids), 20000::bigint, '20,000 ids are distinct');
SELECT is((SELECT count(*) FROM (SELECT id, lag(id) OVER (ORDER BY n) AS before FROM ids) s WHERE id <= before),
          0::bigint, 'each is greater than the one before it in the session');
SELECT is((SELECT count(*) FROM ids
            WHERE abs(('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint
                      - (extract(epoch FROM made) * 1000)::bigint) > 1000),
          0::bigint, 'the first 48 bits are the Unix time in milliseconds it was made');
SELECT cmp_ok((SELECT count(DISTINCT substr(id::text, 20, 17)) FROM ids), '>', 19990::bigint,
              'the last 62 bits are random');

-- The tables of events and transactions take them; the others keep random ids.
SELECT is(ARRAY(SELECT c.relname::text FROM pg_attrdef d
                  JOIN pg_class c ON c.oid = d.adrelid
                  JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                 WHERE c.relnamespace = 'jobspy'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                   AND a.attname = 'id' AND pg_get_expr(d.adbin, d.adrelid) = 'jobspy.uuid_v7()'
                 ORDER BY 1),
          ARRAY['api_usage', 'audit_logs', 'credit_grants', 'credit_notes', 'customer_balance_transactions',
                'events', 'invoice_lines', 'invoices', 'license_validations', 'loyalty_purchases', 'memberships',
                'order_items', 'orders', 'payments', 'pending_invoice_items', 'quota_reservations', 'refunds',
                'subscriptions', 'token_usage', 'usage_events', 'usage_records'],
          'the tables of events and transactions default to time-ordered ids (docs/schema.md)');
SELECT is((SELECT count(*) FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
            WHERE c.relispartition AND c.relnamespace = 'jobspy'::regnamespace
              AND pg_get_expr(d.adbin, d.adrelid) = 'gen_random_uuid()'
              AND (SELECT pg_get_expr(pd.adbin, pd.adrelid) FROM pg_inherits i
                     JOIN pg_attrdef pd ON pd.adrelid = i.inhparent AND pd.adnum = d.adnum
                    WHERE i.inhrelid = c.oid) = 'jobspy.uuid_v7()'),
          0::bigint, 'and so do their partitions');

SELECT * FROM finish();
ROLLBACK;
