\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- billing_memberships: seed 001's memberships.  A membership type is
-- recurring (renews by its duration while auto_renew holds), fixed-term (ends
-- after its duration) or lifetime (never ends); an addon type needs a valid
-- base membership, both to be granted and to count.

CREATE TABLE jobspy.membership_types (
    id           uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    code         text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind         text NOT NULL CHECK (kind IN ('recurring', 'fixed_term', 'lifetime')),
    duration     interval CHECK (duration > interval '0'),
    base_type_id uuid REFERENCES jobspy.membership_types (id),
    product_id   uuid REFERENCES jobspy.products (id),
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK ((kind = 'lifetime') = (duration IS NULL)),
    CHECK (base_type_id <> id)
);
COMMENT ON TABLE jobspy.membership_types IS
    'kinds of membership: recurring, fixed_term (both with a duration) or lifetime; an addon names the base type it needs';
CREATE INDEX membership_types_base_idx ON jobspy.membership_types (base_type_id);
CREATE INDEX membership_types_product_idx ON jobspy.membership_types (product_id);
CREATE TRIGGER membership_types_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.membership_types
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.membership_types', '');

CREATE TABLE jobspy.memberships (
    user_id     uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT jobspy.uuid_v7(),
    type_id     uuid NOT NULL REFERENCES jobspy.membership_types (id),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz,
    auto_renew  boolean NOT NULL DEFAULT false,
    canceled_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    updated_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (user_id, id),
    UNIQUE (user_id, type_id),
    CHECK (ends_at > starts_at)
);
COMMENT ON TABLE jobspy.memberships IS
    'a user''s membership of a type: valid from starts_at until ends_at (NULL: lifetime), renewed by maintain() while auto_renew';
CREATE UNIQUE INDEX memberships_id_idx ON jobspy.memberships (id);
CREATE INDEX memberships_type_idx ON jobspy.memberships (type_id);
CREATE INDEX memberships_renewal_idx ON jobspy.memberships (ends_at) WHERE auto_renew;
CREATE TRIGGER memberships_updated_at BEFORE UPDATE ON jobspy.memberships
    FOR EACH ROW EXECUTE FUNCTION jobspy.set_updated_at();
CREATE TRIGGER memberships_audit AFTER INSERT OR UPDATE OR DELETE ON jobspy.memberships
    FOR EACH ROW EXECUTE FUNCTION jobspy.audit_trigger();
SELECT pg_catalog.pg_extension_config_dump('jobspy.memberships', '');

CREATE FUNCTION jobspy.create_membership_type(code text, name text, kind text, duration interval DEFAULT NULL,
                                              base_code text DEFAULT NULL, product_code text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_base uuid;
    v_product uuid;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $1 !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$' THEN
        RAISE EXCEPTION 'a membership type needs a code (1 to 50 letters, digits, "_", "." or "-"), a name and a kind'
            USING ERRCODE = '22023';
    END IF;
    -- Every part of the duration forward (1 mon -29 days ends before its
    -- start from Feb 1), and at most 100 years.
    IF $3 NOT IN ('recurring', 'fixed_term', 'lifetime') OR ($3 = 'lifetime') <> ($4 IS NULL)
       OR NOT jobspy.interval_forward($4) OR $4 < interval '1 hour' THEN
        RAISE EXCEPTION 'kind must be recurring or fixed_term with a duration of 1 hour to 100 years, or lifetime without one'
            USING ERRCODE = '22023', DETAIL = 'Every part of a duration (years, months, days, time) is positive or zero.';
    END IF;
    IF length($2) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'a membership type''s name must have 1 to 100 characters' USING ERRCODE = '22023';
    END IF;
    IF $5 IS NOT NULL THEN
        SELECT t.id INTO v_base FROM jobspy.membership_types t WHERE t.code = $5;
        IF v_base IS NULL THEN
            RAISE EXCEPTION 'unknown base membership type "%"', left($5, 50) USING ERRCODE = '22023';
        END IF;
    END IF;
    IF $6 IS NOT NULL THEN
        SELECT p.id INTO v_product FROM jobspy.products p WHERE p.code = $6;
        IF v_product IS NULL THEN
            RAISE EXCEPTION 'unknown product "%"', left($6, 50) USING ERRCODE = '22023';
        END IF;
    END IF;
    INSERT INTO jobspy.membership_types AS t (code, name, kind, duration, base_type_id, product_id)
    VALUES ($1, $2, $3, $4, v_base, v_product)
    RETURNING t.id INTO v_id;
    RETURN v_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'membership type "%" already exists', $1 USING ERRCODE = '23505';
END
$$;
COMMENT ON FUNCTION jobspy.create_membership_type(text, text, text, interval, text, text) IS
    'adds a membership type: recurring or fixed_term with a duration, or lifetime; base_code makes it an addon of that type';

-- internal: whether a membership renews by itself (auto_renew, of a
-- recurring type), and so stays valid past an end maintain() has not yet
-- moved on.
CREATE FUNCTION jobspy.membership_renews(m jobspy.memberships) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT m.auto_renew AND EXISTS (SELECT FROM jobspy.membership_types t WHERE t.id = m.type_id AND t.kind = 'recurring')
$$;
COMMENT ON FUNCTION jobspy.membership_renews(jobspy.memberships) IS
    'internal: true for an auto-renewing membership of a recurring type';

-- internal: the first end after now of a membership renewed by whole
-- durations from its start (so that month ends stay right).
CREATE FUNCTION jobspy.membership_next_end(starts_at timestamptz, ends_at timestamptz, duration interval,
                                           now timestamptz)
    RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    target timestamptz := greatest(now, ends_at);
    -- A first guess from the durations' length in seconds (a month counts
    -- 30 days there, so the guess may be a little off either way), then
    -- steps to the exact first end after target: a few steps, not one per
    -- period since starts_at.
    k bigint := greatest(1, floor(extract(epoch FROM target - starts_at) / extract(epoch FROM duration))::bigint);
BEGIN
    WHILE k > 1 AND starts_at + duration * (k - 1) > target LOOP
        k := k - 1;
    END LOOP;
    WHILE starts_at + duration * k <= target LOOP
        k := k + 1;
    END LOOP;
    RETURN starts_at + duration * k;
END
$$;
COMMENT ON FUNCTION jobspy.membership_next_end(timestamptz, timestamptz, interval, timestamptz) IS
    'internal: the first end after now (and after ends_at) a whole number of durations from starts_at, counted in UTC';

CREATE FUNCTION jobspy.has_membership(user_id uuid, type text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    -- Valid now, and, for an addon, its base valid too.  A recurring
    -- membership that renews is valid past its end until maintain() renews it.
    SELECT coalesce((
        SELECT bool_and(m.starts_at <= jobspy.now() AND (m.ends_at IS NULL OR m.ends_at > jobspy.now()
                                                        OR jobspy.membership_renews(m)))
               AND count(*) = 1 + (t.base_type_id IS NOT NULL)::integer
          FROM jobspy.membership_types t
          JOIN jobspy.memberships m ON m.user_id = $1 AND (m.type_id = t.id OR m.type_id = t.base_type_id)
         WHERE t.code = $2
         GROUP BY t.base_type_id), false)
$$;
COMMENT ON FUNCTION jobspy.has_membership(uuid, text) IS
    'true when the user''s membership of the type is valid at jobspy.now() (and, for an addon, its base membership too)';

CREATE FUNCTION jobspy.grant_membership(user_id uuid, type text, auto_renew boolean DEFAULT true,
                                        starts_at timestamptz DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
    AS $$
DECLARE
    v_start timestamptz := coalesce($4, jobspy.now());
    v_type jobspy.membership_types;
    v_id uuid;
BEGIN
    IF $1 IS NULL OR NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = $1) THEN
        RAISE EXCEPTION 'unknown user %', coalesce($1::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT t.* INTO v_type FROM jobspy.membership_types t WHERE t.code = $2 AND t.is_active;
    IF v_type.id IS NULL THEN
        RAISE EXCEPTION 'unknown or inactive membership type "%"', coalesce(left($2, 50), 'NULL') USING ERRCODE = '22023';
    END IF;
    IF NOT isfinite(v_start) OR v_start >= '10000-01-01 00:00:00+00' THEN
        RAISE EXCEPTION 'starts_at must be a finite time before the year 10000' USING ERRCODE = '22023';
    END IF;
    -- The user's row orders concurrent grants of one user.
    PERFORM FROM jobspy.users u WHERE u.id = $1 FOR UPDATE;
    -- Not "AND NOT EXISTS": docs/development.md, "Plans that PL/pgSQL keeps".
    IF v_type.base_type_id IS NOT NULL THEN
        IF NOT EXISTS (
            SELECT FROM jobspy.memberships m WHERE m.user_id = $1 AND m.type_id = v_type.base_type_id
               AND m.starts_at <= v_start AND (m.ends_at IS NULL OR m.ends_at > v_start OR jobspy.membership_renews(m))) THEN
            RAISE EXCEPTION 'membership "%" is an addon and needs a valid base membership', $2 USING ERRCODE = '55000';
        END IF;
    END IF;
    -- (valid now, or at the new start: a grant starting later must not
    -- replace the row of a membership that is still running)
    IF EXISTS (SELECT FROM jobspy.memberships m WHERE m.user_id = $1 AND m.type_id = v_type.id
                  AND (m.ends_at IS NULL OR m.ends_at > least(v_start, jobspy.now()) OR jobspy.membership_renews(m))) THEN
        RAISE EXCEPTION 'the user already has a valid "%" membership', $2 USING ERRCODE = '23505';
    END IF;
    -- One row per user and type: a lapsed membership starts again.
    INSERT INTO jobspy.memberships AS m (user_id, type_id, starts_at, ends_at, auto_renew)
    VALUES ($1, v_type.id, v_start, v_start + v_type.duration,
            v_type.kind = 'recurring' AND coalesce($3, true))
    ON CONFLICT ON CONSTRAINT memberships_user_id_type_id_key DO UPDATE
       SET starts_at = excluded.starts_at, ends_at = excluded.ends_at, auto_renew = excluded.auto_renew,
           canceled_at = NULL
    RETURNING m.id INTO v_id;
    RETURN v_id;
END
$$;
COMMENT ON FUNCTION jobspy.grant_membership(uuid, text, boolean, timestamptz) IS
    'gives a user a membership from starts_at (default now): lifetime never ends, fixed-term ends after its duration, recurring renews while auto_renew';

CREATE FUNCTION jobspy.cancel_membership(membership_id uuid, at_period_end boolean DEFAULT true) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
BEGIN
    -- A renewing membership past its end, not yet renewed by maintain(),
    -- is canceled at the end of the period it is in.
    UPDATE jobspy.memberships m
       SET auto_renew = false, canceled_at = coalesce(m.canceled_at, v_now),
           ends_at = CASE WHEN coalesce($2, true) AND m.ends_at > v_now THEN m.ends_at
                          WHEN coalesce($2, true) AND m.ends_at IS NOT NULL
                          THEN jobspy.membership_next_end(m.starts_at, m.ends_at,
                                   (SELECT t.duration FROM jobspy.membership_types t WHERE t.id = m.type_id), v_now)
                          ELSE greatest(v_now, m.starts_at + interval '1 microsecond') END
     -- (one set to end at its period's end may still be ended now)
     WHERE m.id = $1 AND (m.canceled_at IS NULL OR NOT coalesce($2, true))
       AND (m.ends_at IS NULL OR m.ends_at > v_now OR jobspy.membership_renews(m));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no valid membership %', coalesce($1::text, 'NULL') USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.cancel_membership(uuid, boolean) IS
    'stops a membership renewing (it ends at its end), or ends it now; a lifetime membership canceled ends now';

CREATE FUNCTION jobspy.renew_memberships() RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    v_now timestamptz := jobspy.now();
    r record;
    n bigint := 0;
BEGIN
    -- A lapsed auto-renewing membership ends a whole number of durations
    -- after its start (counted from the start, so month ends stay right),
    -- the first such end after now.  SKIP LOCKED: concurrent runs share.
    FOR r IN
        SELECT m.user_id, m.id, m.starts_at, m.ends_at, t.duration
          FROM jobspy.memberships m JOIN jobspy.membership_types t ON t.id = m.type_id
         WHERE m.auto_renew AND m.ends_at <= v_now AND t.kind = 'recurring'
           FOR UPDATE OF m SKIP LOCKED
    LOOP
        UPDATE jobspy.memberships m SET ends_at = jobspy.membership_next_end(r.starts_at, r.ends_at, r.duration, v_now)
         WHERE m.user_id = r.user_id AND m.id = r.id;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.renew_memberships() IS
    'renews every auto-renewing recurring membership that has reached its end, by whole durations; returns how many; run by maintain()';

CREATE FUNCTION jobspy.maintain_billing_memberships() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint := jobspy.renew_memberships();
BEGIN
    IF n > 0 THEN
        action := 'renewed';
        object := format('%s memberships', n);
        RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_billing_memberships() IS 'maintain() step: renew_memberships()';

REVOKE ALL ON FUNCTION
    jobspy.create_membership_type(text, text, text, interval, text, text),
    jobspy.has_membership(uuid, text),
    jobspy.grant_membership(uuid, text, boolean, timestamptz),
    jobspy.cancel_membership(uuid, boolean),
    jobspy.renew_memberships(),
    jobspy.membership_renews(jobspy.memberships),
    jobspy.membership_next_end(timestamptz, timestamptz, interval, timestamptz),
    jobspy.maintain_billing_memberships()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.has_membership(uuid, text),
    jobspy.grant_membership(uuid, text, boolean, timestamptz),
    jobspy.cancel_membership(uuid, boolean)
  TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION
    jobspy.create_membership_type(text, text, text, interval, text, text),
    jobspy.renew_memberships(),
    jobspy.maintain_billing_memberships()
  TO jobspy_admin;
GRANT SELECT ON jobspy.membership_types, jobspy.memberships TO jobspy_app, jobspy_admin;
-- A role that reads these tables directly (jobspy_app) sees the rows of the
-- user in the jobspy.user_id setting only, as identity's tables do; the
-- functions run as the owner, whom the policies do not concern, and the
-- admin reads every row.
ALTER TABLE jobspy.memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY memberships_own ON jobspy.memberships USING (user_id = jobspy.current_row_user());
CREATE POLICY memberships_admin_read ON jobspy.memberships FOR SELECT TO jobspy_admin USING (true);

