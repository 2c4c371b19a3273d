\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- loyalty events: community events with a capacity (seed 002).  docs/loyalty.md.

-- ==== community events (seed 002) ==========================================

CREATE TABLE jobspy.loyalty_events (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    business_id uuid REFERENCES jobspy.loyalty_businesses (id) ON DELETE CASCADE,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    starts_at   timestamptz NOT NULL,
    capacity    integer NOT NULL CHECK (capacity > 0),
    seats_taken integer NOT NULL DEFAULT 0 CHECK (seats_taken >= 0),
    status      text NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'canceled')),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    CHECK (seats_taken <= capacity)
);
COMMENT ON TABLE jobspy.loyalty_events IS 'community events with a capacity and the seats taken';
CREATE INDEX loyalty_events_starts_idx ON jobspy.loyalty_events (starts_at) WHERE status = 'published';
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_events', '');

CREATE TABLE jobspy.loyalty_event_registrations (
    event_id    uuid NOT NULL REFERENCES jobspy.loyalty_events (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES jobspy.users (id) ON DELETE CASCADE,
    status      text NOT NULL CHECK (status IN ('registered', 'canceled')),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now(),
    canceled_at timestamptz,
    PRIMARY KEY (event_id, user_id)
);
COMMENT ON TABLE jobspy.loyalty_event_registrations IS 'registrations for community events; a cancellation frees the seat';
CREATE INDEX loyalty_event_registrations_user_idx ON jobspy.loyalty_event_registrations (user_id);
SELECT pg_catalog.pg_extension_config_dump('jobspy.loyalty_event_registrations', '');

CREATE FUNCTION jobspy.create_event(title text, starts_at timestamptz, capacity integer, business_code text DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
#variable_conflict use_variable
DECLARE
    id uuid;
BEGIN
    IF title IS NULL OR length(title) NOT BETWEEN 1 AND 200 OR starts_at IS NULL OR capacity IS NULL OR capacity <= 0 THEN
        RAISE EXCEPTION 'an event needs a title, a start and a positive capacity' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.loyalty_events (business_id, title, starts_at, capacity)
    VALUES (CASE WHEN business_code IS NOT NULL THEN jobspy.loyalty_business_id(business_code) END, title, starts_at, capacity)
    RETURNING loyalty_events.id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION jobspy.create_event(text, timestamptz, integer, text) IS 'creates a community event with a capacity';

CREATE FUNCTION jobspy.register_for_event(event_id uuid, user_id uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e jobspy.loyalty_events;
    st text;
BEGIN
    SELECT * INTO e FROM jobspy.loyalty_events x WHERE x.id = $1 FOR UPDATE;   -- orders the race for the last seat
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown event' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT FROM jobspy.users u WHERE u.id = $2) THEN
        RAISE EXCEPTION 'unknown user' USING ERRCODE = '22023';
    END IF;
    IF e.status <> 'published' OR e.starts_at <= jobspy.now() THEN
        RAISE EXCEPTION 'the event is canceled or has started' USING ERRCODE = '55000';
    END IF;
    SELECT r.status INTO st FROM jobspy.loyalty_event_registrations r WHERE r.event_id = $1 AND r.user_id = $2;
    IF st = 'registered' THEN
        RETURN true;
    END IF;
    IF e.seats_taken >= e.capacity THEN
        RETURN false;
    END IF;
    INSERT INTO jobspy.loyalty_event_registrations (event_id, user_id, status) VALUES ($1, $2, 'registered')
    ON CONFLICT ON CONSTRAINT loyalty_event_registrations_pkey
    DO UPDATE SET status = 'registered', canceled_at = NULL, created_at = jobspy.now();
    UPDATE jobspy.loyalty_events x SET seats_taken = x.seats_taken + 1 WHERE x.id = $1;
    RETURN true;
END
$$;
COMMENT ON FUNCTION jobspy.register_for_event(uuid, uuid) IS
    'takes a seat at an event for a user: true when registered (or already), false when full; 55000 for a canceled or started event';

CREATE FUNCTION jobspy.cancel_event_registration(event_id uuid, user_id uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    e jobspy.loyalty_events;
BEGIN
    SELECT * INTO e FROM jobspy.loyalty_events x WHERE x.id = $1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown event' USING ERRCODE = '22023';
    END IF;
    IF e.status <> 'published' OR e.starts_at <= jobspy.now() THEN
        RAISE EXCEPTION 'the event is canceled or has started' USING ERRCODE = '55000';
    END IF;
    UPDATE jobspy.loyalty_event_registrations r SET status = 'canceled', canceled_at = jobspy.now()
     WHERE r.event_id = $1 AND r.user_id = $2 AND r.status = 'registered';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE jobspy.loyalty_events x SET seats_taken = x.seats_taken - 1 WHERE x.id = $1;
    RETURN true;
END
$$;
COMMENT ON FUNCTION jobspy.cancel_event_registration(uuid, uuid) IS
    'cancels a registration and frees its seat; false when the user held none; 22023 for an unknown event, 55000 for a canceled or started one';

REVOKE ALL ON jobspy.loyalty_events, jobspy.loyalty_event_registrations FROM PUBLIC;
GRANT SELECT ON jobspy.loyalty_events, jobspy.loyalty_event_registrations TO jobspy_admin;
REVOKE ALL ON FUNCTION
    jobspy.create_event(text, timestamptz, integer, text), jobspy.register_for_event(uuid, uuid),
    jobspy.cancel_event_registration(uuid, uuid)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    jobspy.create_event(text, timestamptz, integer, text), jobspy.register_for_event(uuid, uuid),
    jobspy.cancel_event_registration(uuid, uuid)
  TO jobspy_app, jobspy_admin;
