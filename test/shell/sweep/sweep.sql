-- The input sweep's machinery (test/shell/sweep_inputs.sh): calls every
-- function of schema jobspy with hostile arguments, one argument at a time,
-- as a given role, and reports each call's SQLSTATE.  Every call runs in a
-- subtransaction that is rolled back, so calls cannot feed each other.
CREATE SCHEMA sweep;

-- Values to try for each argument type; the first is the "ordinary" value the
-- other arguments hold while one argument is varied.
CREATE TABLE sweep.vals (typ regtype, label text, val text, ord int);
INSERT INTO sweep.vals VALUES
  ('text', 'ordinary', 'abc', 0), ('text', 'null', NULL, 1), ('text', 'empty', '', 2),
  ('text', '10MB', repeat('x', 10 * 1024 * 1024), 3),
  ('text', 'injection', $$x'); DROP TABLE jobspy.users; --$$, 4),
  ('text', 'unicode', 'ÿ€ 𝄞 ñ', 5), ('text', 'json-ish', '{"a": [1, {"b": null}]}', 6),
  ('integer', 'ordinary', '1', 0), ('integer', 'null', NULL, 1), ('integer', 'zero', '0', 2),
  ('integer', 'negative', '-1', 3), ('integer', 'max', '2147483647', 4), ('integer', 'min', '-2147483648', 5),
  ('smallint', 'ordinary', '1', 0), ('smallint', 'null', NULL, 1), ('smallint', 'min', '-32768', 2),
  ('bigint', 'ordinary', '1', 0), ('bigint', 'null', NULL, 1), ('bigint', 'zero', '0', 2),
  ('bigint', 'negative', '-1', 3), ('bigint', 'max', '9223372036854775807', 4),
  ('bigint', 'min', '-9223372036854775808', 5),
  ('numeric', 'ordinary', '1.5', 0), ('numeric', 'null', NULL, 1), ('numeric', 'negative', '-1', 2),
  ('numeric', 'NaN', 'NaN', 3), ('numeric', 'huge', '1e300', 4),
  ('double precision', 'ordinary', '1.5', 0), ('double precision', 'null', NULL, 1),
  ('double precision', 'NaN', 'NaN', 2), ('double precision', 'infinity', 'Infinity', 3),
  ('boolean', 'ordinary', 'true', 0), ('boolean', 'null', NULL, 1), ('boolean', 'false', 'false', 2),
  ('uuid', 'ordinary', 'a1b2c3d4-0000-4000-8000-000000000001', 0), ('uuid', 'null', NULL, 1),
  ('uuid', 'nil', '00000000-0000-0000-0000-000000000000', 2),
  ('jsonb', 'ordinary', '{}', 0), ('jsonb', 'null', NULL, 1), ('jsonb', 'json null', 'null', 2),
  ('jsonb', 'array', '[1, "x", {}]', 3), ('jsonb', 'string', '"x"', 4),
  ('jsonb', 'deep', repeat('[', 5000) || repeat(']', 5000), 5),
  ('jsonb', 'wrong shape', '{"id": [], "amount": "x", "items": 5, "type": {"a": 1}}', 6),
  ('json', 'ordinary', '{}', 0), ('json', 'null', NULL, 1), ('json', 'array', '[1]', 2),
  ('timestamp with time zone', 'ordinary', '2026-06-01 00:00:00+00', 0),
  ('timestamp with time zone', 'null', NULL, 1),
  ('timestamp with time zone', '-infinity', '-infinity', 2),
  ('timestamp with time zone', 'infinity', 'infinity', 3),
  ('timestamp with time zone', 'ancient', '0001-01-01 00:00:00+00 BC', 4),
  ('date', 'ordinary', '2026-06-01', 0), ('date', 'null', NULL, 1), ('date', 'infinity', 'infinity', 2),
  ('interval', 'ordinary', '1 hour', 0), ('interval', 'null', NULL, 1), ('interval', 'zero', '0', 2),
  ('interval', 'negative', '-1 day', 3), ('interval', 'huge', '178000000 years', 4),
  ('interval', 'month', '1 mon', 5),
  ('inet', 'ordinary', '203.0.113.7', 0), ('inet', 'null', NULL, 1), ('inet', 'v6', '::1', 2),
  ('bytea', 'ordinary', '\x0102', 0), ('bytea', 'null', NULL, 1), ('bytea', 'empty', '', 2),
  ('bytea', '10MB', repeat('a', 10 * 1024 * 1024), 3), ('bytea', '32 zero bytes', '\x' || repeat('00', 32), 4),
  ('text[]', 'ordinary', '{a}', 0), ('text[]', 'null', NULL, 1), ('text[]', 'empty', '{}', 2),
  ('text[]', 'null element', '{NULL}', 3),
  ('uuid[]', 'ordinary', '{a1b2c3d4-0000-4000-8000-000000000001}', 0), ('uuid[]', 'null', NULL, 1),
  ('uuid[]', 'empty', '{}', 2);

-- The functions the sweep can call: every function of schema jobspy whose
-- arguments are all of types above (others get NULL only) and that is not a
-- trigger or a pseudo-typed internal.
CREATE VIEW sweep.targets AS
SELECT p.oid AS fn, p.oid::regprocedure::text AS name,
       ARRAY(SELECT unnest(p.proargtypes::regtype[])) AS args,  -- from 1, not 0
       ARRAY(SELECT coalesce(x.nm, '')
               FROM unnest(coalesce(p.proargnames, array_fill(''::text, ARRAY[n.all_args])),
                           coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[n.all_args]))) x(nm, md)
              WHERE x.md IN ('i', 'b', 'v')) AS argnames
  FROM pg_proc p,
       LATERAL (SELECT coalesce(array_length(p.proallargtypes, 1), p.pronargs) AS all_args) n
 WHERE p.pronamespace = 'jobspy'::regnamespace AND p.prokind = 'f'
   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype)
   AND NOT EXISTS (SELECT FROM unnest(p.proargtypes::regtype[]) t
                    WHERE t IN ('internal'::regtype, 'anyelement'::regtype, 'anyarray'::regtype,
                                'anycompatible'::regtype, 'cstring'::regtype));

-- Ordinary values by argument name, so that calls get past "not found" and
-- reach the code behind it: filled by the test with real objects.
CREATE TABLE sweep.named (pattern text, typ regtype, val text, priority int);

CREATE FUNCTION sweep.ordinary(p_name text, p_typ regtype) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT val FROM sweep.named WHERE typ = p_typ AND p_name ~ pattern ORDER BY priority LIMIT 1),
                    (SELECT val FROM sweep.vals WHERE typ = p_typ AND ord = 0))
$$;

CREATE TABLE sweep.results (name text, role text, arg int, label text, sqlstate text, msg_len int, msg text);

-- sweep.run(fn, role): one call with every argument ordinary, then one call
-- per argument per unusual value of its type.
CREATE FUNCTION sweep.run(p_fn oid, p_role text) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    t record; v record; i int; call text; base text[]; a text[];
    st text; msg text; n int;
BEGIN
    SELECT * INTO t FROM sweep.targets WHERE fn = p_fn;
    n := coalesce(array_length(t.args, 1), 0);
    base := ARRAY(SELECT sweep.ordinary(t.argnames[k], t.args[k]) FROM generate_series(1, n) k);
    call := format('SELECT count(*) FROM %s(%s)', p_fn::regproc::text,
                   (SELECT string_agg(format('($1)[%s]::%s', k, t.args[k]), ', ') FROM generate_series(1, n) k));
    FOR i IN 0 .. n LOOP
        FOR v IN SELECT label, val FROM sweep.vals WHERE i = 0 AND typ = 'text'::regtype AND ord = 0
                 UNION ALL
                 SELECT label, val FROM sweep.vals WHERE i > 0 AND typ = t.args[i] AND ord > 0
                 UNION ALL
                 SELECT 'null', NULL WHERE i > 0 AND NOT EXISTS (SELECT FROM sweep.vals WHERE typ = t.args[i])
        LOOP
            a := base;
            IF i > 0 THEN a[i] := v.val; END IF;
            st := '00000'; msg := NULL;
            BEGIN
                PERFORM set_config('role', p_role, true);
                EXECUTE call USING a;
                RAISE EXCEPTION USING ERRCODE = 'SWP00';   -- undo what the call did
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
                IF st = 'SWP00' THEN st := '00000'; msg := NULL; END IF;
            END;
            INSERT INTO sweep.results VALUES (t.name, p_role, i, CASE WHEN i = 0 THEN 'all ordinary' ELSE v.label END,
                                              st, length(msg), left(msg, 2000));
        END LOOP;
    END LOOP;
END
$fn$;
