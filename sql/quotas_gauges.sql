\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- quotas_gauges: limits on how many live objects a user holds at once
-- (seed 004: conversations per user, messages per conversation).  A quota
-- counts what was made in a period and never goes down; a gauge counts
-- what exists now: acquired when an object is made, released when it is
-- deleted.

CREATE TABLE jobspy.plan_gauges (
    plan_id     uuid NOT NULL REFERENCES jobspy.plans (id) ON DELETE CASCADE,
    gauge       text NOT NULL CHECK (gauge ~ '^[a-z][a-z0-9_.:-]{0,99}$'),
    gauge_limit bigint NOT NULL CHECK (gauge_limit >= -1),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (plan_id, gauge)
);
COMMENT ON TABLE jobspy.plan_gauges IS
    'a plan''s limit on how many live objects of a kind a user holds at once, per scope; -1 is unlimited (still counted)';
CREATE INDEX plan_gauges_gauge_idx ON jobspy.plan_gauges (gauge);
CREATE TRIGGER plan_gauges_updated_at BEFORE UPDATE ON jobspy.plan_gauges
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER plan_gauges_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.plan_gauges
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.plan_gauges', '');

-- One row per user, gauge and scope ('' for the user as a whole, else the
-- parent object's id, such as a conversation's): how many objects are held.
-- The row lock of acquire's UPDATE makes the check-and-count exact.
CREATE TABLE jobspy.gauge_counters (
    user_id uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    gauge   text NOT NULL,
    scope   text NOT NULL DEFAULT '',
    held    jobspy.quota_amount NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, gauge, scope)
) WITH (fillfactor = 70);
COMMENT ON TABLE jobspy.gauge_counters IS
    'per user, gauge and scope ('''' or a parent object''s id): how many live objects are held';
SELECT pg_catalog.pg_extension_config_dump('jobspy.gauge_counters', '');

-- The objects held: an object counts once however often it is acquired,
-- and its release (by id, as a delete knows it) finds its counter.
CREATE TABLE jobspy.gauge_holds (
    gauge       text NOT NULL,
    object_id   text NOT NULL CHECK (length(object_id) BETWEEN 1 AND 255),
    user_id     uuid NOT NULL,
    scope       text NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (gauge, object_id),
    FOREIGN KEY (user_id, gauge, scope) REFERENCES jobspy.gauge_counters (user_id, gauge, scope) ON DELETE CASCADE
);
COMMENT ON TABLE jobspy.gauge_holds IS
    'the live objects counted by gauge_counters, one row per gauge and object id';
CREATE INDEX gauge_holds_counter_idx ON jobspy.gauge_holds (user_id, gauge, scope);
SELECT pg_catalog.pg_extension_config_dump('jobspy.gauge_holds', '');

CREATE TYPE jobspy.gauge_answer AS (allowed boolean, held bigint, gauge_limit bigint, remaining bigint);
COMMENT ON TYPE jobspy.gauge_answer IS 'the answer of acquire_gauge and gauge_status';

-- The limit of the user's plan in force on a gauge: 0 when the plan has
-- none (it grants no such object); raises as the quota functions do.
CREATE FUNCTION jobspy.gauge_limit_of(user_id uuid, gauge text) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r       record;
    v_limit bigint;
BEGIN
    SELECT p.user_status, p.plan_id INTO r FROM jobspy.quota_plan_of($1, jobspy.now()) p;
    PERFORM jobspy.quota_require_plan($1, r.user_status, r.plan_id);
    SELECT g.gauge_limit INTO v_limit FROM jobspy.plan_gauges g WHERE g.plan_id = r.plan_id AND g.gauge = $2;
    IF NOT FOUND AND NOT EXISTS (SELECT FROM jobspy.plan_gauges g WHERE g.gauge = $2) THEN
        RAISE EXCEPTION 'unknown gauge "%"', left($2, 100)
            USING ERRCODE = 'JS402', DETAIL = 'No plan sets a limit on this gauge.',
                  HINT = 'Set one with jobspy.set_plan_gauge().';
    END IF;
    RETURN coalesce(v_limit, 0);
END
$$;
COMMENT ON FUNCTION jobspy.gauge_limit_of(uuid, text) IS
    'internal: the limit of the user''s plan on a gauge (0 when the plan has none); raises 22023, JS401, JS402, JS403';

CREATE FUNCTION jobspy.gauge_check_args(user_id uuid, gauge text, scope text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF user_id IS NULL OR gauge IS NULL THEN
        RAISE EXCEPTION 'user_id and gauge must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF length(scope) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'scope must be 1 to 255 characters, or NULL for the user as a whole' USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.gauge_check_args(uuid, text, text) IS
    'internal: raises 22023 for a NULL user or gauge, or a scope that is empty or longer than 255 characters';

CREATE FUNCTION jobspy.gauge_answer_of(gauge_limit bigint, held bigint, allowed boolean) RETURNS jobspy.gauge_answer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
SELECT ROW($3, $2, CASE WHEN $1 >= 0 THEN $1 END, CASE WHEN $1 >= 0 THEN greatest($1 - $2, 0) END)::jobspy.gauge_answer
$$;
COMMENT ON FUNCTION jobspy.gauge_answer_of(bigint, bigint, boolean) IS
    'internal: a gauge answer; limit and remaining NULL when unlimited';

-- Counts object_id as one more live object of the gauge, for the user as a
-- whole (scope NULL) or under a parent (scope: the parent's id), when the
-- plan's limit leaves room; an object already held is answered as it
-- stands and counted once.
CREATE FUNCTION jobspy.acquire_gauge_impl(user_id uuid, gauge text, object_id text, scope text)
    RETURNS jobspy.gauge_answer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_column
DECLARE
    v_scope text := coalesce(scope, '');
    v_limit bigint;
    v_held  bigint;
    h       record;
BEGIN
    PERFORM jobspy.gauge_check_args($1, $2, $4);
    IF $3 IS NULL OR length($3) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'object_id must be 1 to 255 characters' USING ERRCODE = '22023';
    END IF;
    v_limit := jobspy.gauge_limit_of($1, $2);
    INSERT INTO jobspy.gauge_counters AS c (user_id, gauge, scope) VALUES ($1, $2, v_scope)
    ON CONFLICT DO NOTHING;
    -- The hold first: a concurrent acquire of the same object waits here
    -- for this transaction, then finds the hold (or, after a rollback,
    -- makes it itself).
    INSERT INTO jobspy.gauge_holds AS x (gauge, object_id, user_id, scope) VALUES ($2, $3, $1, v_scope)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT x.user_id, x.scope INTO h FROM jobspy.gauge_holds x WHERE x.gauge = $2 AND x.object_id = $3;
        IF (h.user_id, h.scope) IS DISTINCT FROM ($1, v_scope) THEN
            RAISE EXCEPTION 'object "%" is already held under gauge "%" by another user or scope', left($3, 255), $2
                USING ERRCODE = '22023', HINT = 'Release it first, or use the object''s own id.';
        END IF;
        SELECT c.held INTO v_held FROM jobspy.gauge_counters c
         WHERE c.user_id = $1 AND c.gauge = $2 AND c.scope = v_scope;
        RETURN jobspy.gauge_answer_of(v_limit, v_held, true);
    END IF;
    UPDATE jobspy.gauge_counters c SET held = c.held + 1
     WHERE c.user_id = $1 AND c.gauge = $2 AND c.scope = v_scope AND (v_limit < 0 OR c.held < v_limit)
    RETURNING c.held INTO v_held;
    IF FOUND THEN
        RETURN jobspy.gauge_answer_of(v_limit, v_held, true);
    END IF;
    -- No room: the hold goes again, nothing is counted, the denial is recorded.
    DELETE FROM jobspy.gauge_holds x WHERE x.gauge = $2 AND x.object_id = $3;
    SELECT c.held INTO v_held FROM jobspy.gauge_counters c
     WHERE c.user_id = $1 AND c.gauge = $2 AND c.scope = v_scope;
    PERFORM jobspy.usage_event_denied($1, $2, 1, v_held, v_limit, 'live');
    RETURN jobspy.gauge_answer_of(v_limit, v_held, false);
END
$$;
COMMENT ON FUNCTION jobspy.acquire_gauge_impl(uuid, text, text, text) IS
    'internal: the body of jobspy.acquire_gauge';
CREATE FUNCTION jobspy.acquire_gauge(user_id uuid, gauge text, object_id text, scope text DEFAULT NULL) RETURNS jobspy.gauge_answer
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_public_face';
COMMENT ON FUNCTION jobspy.acquire_gauge(uuid, text, text, text) IS
    'counts object_id as a live object of the gauge (scope: a parent''s id, NULL for the user as a whole) when the plan''s limit leaves room; an object already held counts once; a denial counts nothing';

CREATE FUNCTION jobspy.release_gauge_impl(gauge text, object_id text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    h record;
BEGIN
    IF $1 IS NULL OR $2 IS NULL THEN
        RAISE EXCEPTION 'gauge and object_id must not be NULL' USING ERRCODE = '22023';
    END IF;
    DELETE FROM jobspy.gauge_holds x WHERE x.gauge = $1 AND x.object_id = $2
    RETURNING x.user_id, x.scope INTO h;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE jobspy.gauge_counters c SET held = c.held - 1
     WHERE c.user_id = h.user_id AND c.gauge = $1 AND c.scope = h.scope;
    RETURN true;
END
$$;
COMMENT ON FUNCTION jobspy.release_gauge_impl(text, text) IS
    'internal: the body of jobspy.release_gauge';
CREATE FUNCTION jobspy.release_gauge(gauge text, object_id text) RETURNS boolean
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_public_face';
COMMENT ON FUNCTION jobspy.release_gauge(text, text) IS
    'releases a live object of the gauge (its slot is free at commit); false when it was not held';

CREATE FUNCTION jobspy.gauge_status_impl(user_id uuid, gauge text, scope text)
    RETURNS jobspy.gauge_answer
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_limit bigint;
    v_held  bigint;
BEGIN
    PERFORM jobspy.gauge_check_args($1, $2, $3);
    v_limit := jobspy.gauge_limit_of($1, $2);
    SELECT c.held INTO v_held FROM jobspy.gauge_counters c
     WHERE c.user_id = $1 AND c.gauge = $2 AND c.scope = coalesce($3, '');
    v_held := coalesce(v_held, 0);
    RETURN jobspy.gauge_answer_of(v_limit, v_held, v_limit < 0 OR v_held < v_limit);
END
$$;
COMMENT ON FUNCTION jobspy.gauge_status_impl(uuid, text, text) IS
    'internal: the body of jobspy.gauge_status';
CREATE FUNCTION jobspy.gauge_status(user_id uuid, gauge text, scope text DEFAULT NULL) RETURNS jobspy.gauge_answer
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'jobspy_public_face';
COMMENT ON FUNCTION jobspy.gauge_status(uuid, text, text) IS
    'how many live objects of the gauge the user holds (in the scope) against the plan''s limit; allowed: one more would be granted now';

-- Attached by the application to its own table, so that deleting a row
-- releases its object (directly or through ON DELETE CASCADE):
--   CREATE TRIGGER conversations_gauge AFTER DELETE ON app.conversations
--       FOR EACH ROW EXECUTE FUNCTION jobspy.gauge_release_on_delete('ai.conversations', 'id');
-- Arguments: the gauge, and the column holding the object id (default id).
CREATE FUNCTION jobspy.gauge_release_on_delete() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_column text := coalesce(TG_ARGV[1], 'id');
    v_object text;
BEGIN
    IF TG_OP <> 'DELETE' OR TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR TG_NARGS NOT BETWEEN 1 AND 2 THEN
        RAISE EXCEPTION 'jobspy.gauge_release_on_delete() must be an AFTER DELETE FOR EACH ROW trigger with the gauge (and the id column) as arguments'
            USING ERRCODE = '39P01';
    END IF;
    IF NOT to_jsonb(OLD) ? v_column THEN
        RAISE EXCEPTION 'column "%" of the object id is not in table %', v_column, TG_TABLE_NAME
            USING ERRCODE = '42703';
    END IF;
    v_object := to_jsonb(OLD) ->> v_column;
    IF v_object IS NOT NULL THEN
        PERFORM jobspy.release_gauge(TG_ARGV[0], v_object);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.gauge_release_on_delete() IS
    'trigger for an application table: AFTER DELETE FOR EACH ROW, releases the deleted row''s object from the gauge named by the first argument (id column: second argument, default id)';

CREATE FUNCTION jobspy.set_plan_gauge_impl(plan_code text, gauge text, gauge_limit bigint) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_plan uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL THEN
        RAISE EXCEPTION 'plan_code, gauge and gauge_limit must not be NULL' USING ERRCODE = '22023';
    END IF;
    v_plan := jobspy.plan_id_of($1);
    PERFORM jobspy.check_limit_name($2, 'gauge');
    IF $3 < -1 THEN
        RAISE EXCEPTION 'gauge_limit must be -1 (unlimited) or at least 0' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.plan_gauges AS g (plan_id, gauge, gauge_limit) VALUES (v_plan, $2, $3)
    ON CONFLICT ON CONSTRAINT plan_gauges_pkey DO UPDATE SET gauge_limit = excluded.gauge_limit
     WHERE g.gauge_limit IS DISTINCT FROM excluded.gauge_limit;
END
$$;
COMMENT ON FUNCTION jobspy.set_plan_gauge_impl(text, text, bigint) IS
    'internal: the body of jobspy.set_plan_gauge';
CREATE FUNCTION jobspy.set_plan_gauge(plan_code text, gauge text, gauge_limit bigint) RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_public_face';
COMMENT ON FUNCTION jobspy.set_plan_gauge(text, text, bigint) IS
    'sets a plan''s limit on live objects of a gauge, per scope; -1 is unlimited; a lower limit refuses new objects until enough are released; audited';

CREATE FUNCTION jobspy.remove_plan_gauge_impl(plan_code text, gauge text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM jobspy.plan_gauges g WHERE g.plan_id = jobspy.plan_id_of($1) AND g.gauge = $2;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION jobspy.remove_plan_gauge_impl(text, text) IS
    'internal: the body of jobspy.remove_plan_gauge';
CREATE FUNCTION jobspy.remove_plan_gauge(plan_code text, gauge text) RETURNS boolean
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_public_face';
COMMENT ON FUNCTION jobspy.remove_plan_gauge(text, text) IS
    'removes a plan''s limit on a gauge (the plan then grants none); false when there was none';

REVOKE ALL ON FUNCTION
    jobspy.gauge_limit_of(uuid, text), jobspy.gauge_check_args(uuid, text, text),
    jobspy.gauge_answer_of(bigint, bigint, boolean),
    jobspy.acquire_gauge(uuid, text, text, text), jobspy.release_gauge(text, text),
    jobspy.gauge_status(uuid, text, text), jobspy.gauge_release_on_delete(),
    jobspy.set_plan_gauge(text, text, bigint), jobspy.remove_plan_gauge(text, text),
    jobspy.acquire_gauge_impl(uuid, text, text, text), jobspy.release_gauge_impl(text, text),
    jobspy.gauge_status_impl(uuid, text, text), jobspy.set_plan_gauge_impl(text, text, bigint),
    jobspy.remove_plan_gauge_impl(text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.acquire_gauge(uuid, text, text, text), jobspy.release_gauge(text, text),
    jobspy.gauge_status(uuid, text, text), jobspy.gauge_release_on_delete()
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.set_plan_gauge(text, text, bigint), jobspy.remove_plan_gauge(text, text)
  TO jobspy_admin;
REVOKE ALL ON jobspy.plan_gauges, jobspy.gauge_counters, jobspy.gauge_holds FROM PUBLIC;
GRANT SELECT ON jobspy.plan_gauges, jobspy.gauge_counters, jobspy.gauge_holds TO jobspy_admin;
