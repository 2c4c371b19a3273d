\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- outbox: domain events written in the same transaction as the change they
-- describe (seed 001 payment_events, seed 002 notifications), consumed by
-- workers in order, with a NOTIFY on commit when a worker waits, so that it
-- wakes at once (src/outbox_doorbell.c).  Part of the webhooks module (docs/webhooks.md).

-- Configuration keys of the outbox (the registry: core.sql).
INSERT INTO jobspy.config_defaults (key, value, description, value_type, nullable, min_value, max_value, choices) VALUES
    ('retention.outbox_events', '"7 days"', 'how long consumed outbox events are kept; null keeps them forever', 'interval', true, NULL, NULL, NULL),
    ('outbox.notify', 'true', 'whether a transaction that emitted events notifies channel jobspy_outbox at commit while a worker waits (its last claim_events found nothing); false leaves workers to poll', 'boolean', false, NULL, NULL, NULL);

CREATE TABLE jobspy.outbox_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- topic, entity_type, entity_id and payload are checked by emit_event,
    -- the one writer of rows: as CHECK constraints they would cost every
    -- billing change a fifth of its event's price, since PostgreSQL reads
    -- a table's CHECK constraints back from their stored form and prepares
    -- them anew for each INSERT statement.
    topic         text NOT NULL,
    entity_type   text NOT NULL,
    entity_id     text NOT NULL,
    user_id       uuid,
    payload       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT jobspy.now(),
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claimed_until timestamptz,
    -- The token of the claim that holds the event: only its holder may ack
    -- it or give it back, so a worker whose lease ran out cannot cut short
    -- the claim of the worker that took the event over.
    claim         uuid,
    last_error    text CHECK (length(last_error) <= 2000),
    consumed_at   timestamptz
);
COMMENT ON TABLE jobspy.outbox_events IS
    'domain events written in the transaction of the change they describe; claimed in id order, one entity''s events one at a time';
-- user_id names whom an event concerns (a notification's recipient); no
-- foreign key, so that deleting a user never loses or blocks an event.
CREATE INDEX outbox_events_pending_idx ON jobspy.outbox_events (id) WHERE consumed_at IS NULL;
CREATE INDEX outbox_events_entity_pending_idx ON jobspy.outbox_events (entity_type, entity_id, id)
    WHERE consumed_at IS NULL;
CREATE INDEX outbox_events_consumed_idx ON jobspy.outbox_events (consumed_at) WHERE consumed_at IS NOT NULL;
-- Pending events are data: a dump and restore must keep them.
SELECT pg_catalog.pg_extension_config_dump('jobspy.outbox_events', '');
SELECT pg_catalog.pg_extension_config_dump('jobspy.outbox_events_id_seq', '');

-- The doorbell (src/outbox_doorbell.c): emit_event rings, claim_events
-- waits; internal, executable by the extension's owner only.
CREATE FUNCTION jobspy.outbox_ring(topic text) RETURNS boolean
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'jobspy_outbox_ring';
COMMENT ON FUNCTION jobspy.outbox_ring(text) IS
    'internal (emit_event): the current transaction emitted an event of this topic; its commit notifies channel jobspy_outbox if a worker waits then; false, or true where there is no shared memory to count waiting workers in and the caller must notify itself';
CREATE FUNCTION jobspy.outbox_wait_state(waiting boolean) RETURNS integer
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'jobspy_outbox_wait_state';
COMMENT ON FUNCTION jobspy.outbox_wait_state(boolean) IS
    'internal (claim_events): this session waits for a notification (true; returns how many emitting transactions are committing, which will not notify) or no longer waits (false)';

CREATE FUNCTION jobspy.emit_event(topic text, entity_type text, entity_id text,
                                  payload jsonb DEFAULT '{}', user_id uuid DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    new_id bigint;
BEGIN
    IF topic IS NULL OR entity_type IS NULL OR entity_id IS NULL OR payload IS NULL THEN
        RAISE EXCEPTION 'emit_event: topic, entity_type, entity_id and payload must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    IF topic !~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' OR length(topic) > 100 THEN
        RAISE EXCEPTION 'emit_event: invalid topic "%"', left(topic, 100)
            USING ERRCODE = '22023',
                  DETAIL = 'A topic is lower-case words of letters, digits and underscores joined by dots, at most 100 characters.',
                  HINT = 'For example ''billing.subscription.status_changed''.';
    END IF;
    IF length(entity_type) NOT BETWEEN 1 AND 50 OR length(entity_id) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'emit_event: entity_type must have 1 to 50 characters and entity_id 1 to 255'
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(payload) <> 'object' THEN
        RAISE EXCEPTION 'emit_event: payload must be a JSON object' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.outbox_events AS e (topic, entity_type, entity_id, payload, user_id)
    VALUES (emit_event.topic, emit_event.entity_type, emit_event.entity_id, emit_event.payload, emit_event.user_id)
    RETURNING e.id INTO new_id;
    -- The commit notifies only while a worker waits (src/outbox_doorbell.c):
    -- PostgreSQL commits notifying transactions one at a time, WAL flush
    -- included.  A worker waits only while outbox.notify is true.  Without
    -- the library preloaded nothing counts waiting workers: notify here.
    IF jobspy.outbox_ring(emit_event.topic) THEN
        IF coalesce(jobspy.config_get('outbox.notify')::boolean, true) THEN
            PERFORM pg_notify('jobspy_outbox', emit_event.topic);
        END IF;
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION jobspy.emit_event(text, text, text, jsonb, uuid) IS
    'writes a domain event to the outbox in the caller''s transaction; its commit notifies channel jobspy_outbox (payload: the topic) if a worker waits and outbox.notify is true; returns the event id';

-- A worker takes the oldest events nobody holds.  An event is held for a
-- lease; an event whose entity has an older event still unconsumed waits,
-- so that one entity's events are handled one at a time, in order.  A
-- claim that finds nothing counts the session as waiting, so that the next
-- emitting commit notifies it, and claims once more: an event committed in
-- between is then either claimed or notified.  Transactions whose commit
-- had begun before the session counted itself do not notify; while any is
-- still committing, the claim is repeated after a millisecond (for at most
-- a second, and in READ COMMITTED only, where a new statement sees them).
CREATE FUNCTION jobspy.claim_events(max integer DEFAULT 100, topics text[] DEFAULT NULL,
                                    lease interval DEFAULT '5 minutes')
    RETURNS SETOF jobspy.outbox_events
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    -- The lease runs from the claim itself, not from the start of the
    -- transaction that makes it.
    t        timestamptz := jobspy.clock_now();
    token    uuid := gen_random_uuid();
    landing  integer;
    deadline timestamptz;
BEGIN
    -- A NULL where a value is required is 22004 in every outbox function,
    -- a value out of range 22023.
    IF array_ndims(topics) > 1 THEN
        RAISE EXCEPTION 'claim_events: topics must be a one-dimensional array' USING ERRCODE = '22023';
    END IF;
    IF max IS NULL OR lease IS NULL OR array_position(topics, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'claim_events: max, lease and each of the topics must not be NULL' USING ERRCODE = '22004',
            HINT = 'topics NULL (the whole array) claims events of every topic.';
    END IF;
    IF max < 1 OR max > 10000 THEN
        RAISE EXCEPTION 'claim_events: max must be from 1 to 10000' USING ERRCODE = '22023';
    END IF;
    IF NOT jobspy.interval_forward(lease, interval '1 day') THEN   -- ('1 mon -29 days' would end before it starts)
        RAISE EXCEPTION 'claim_events: lease must be a positive interval of at most a day' USING ERRCODE = '22023';
    END IF;
    PERFORM jobspy.outbox_wait_state(false);
    LOOP
        RETURN QUERY
        WITH picked AS (
            SELECT e.id
              FROM jobspy.outbox_events e
             WHERE e.consumed_at IS NULL
               AND (e.claimed_until IS NULL OR e.claimed_until <= t)
               AND (topics IS NULL OR e.topic = ANY (topics))
               AND NOT EXISTS (SELECT 1 FROM jobspy.outbox_events o
                                WHERE o.entity_type = e.entity_type AND o.entity_id = e.entity_id
                                  AND o.id < e.id AND o.consumed_at IS NULL)
             ORDER BY e.id
             LIMIT max
               FOR UPDATE SKIP LOCKED
        )
        UPDATE jobspy.outbox_events u
           SET claimed_until = t + lease, attempts = u.attempts + 1, claim = token
          FROM picked
         WHERE u.id = picked.id
        RETURNING u.*;
        IF FOUND THEN
            PERFORM jobspy.outbox_wait_state(false);
            RETURN;
        END IF;
        EXIT WHEN landing = 0;
        IF landing IS NULL THEN
            EXIT WHEN NOT coalesce(jobspy.config_get('outbox.notify')::boolean, true);
            deadline := clock_timestamp() + interval '1 second';
        ELSIF clock_timestamp() > deadline OR current_setting('transaction_isolation') <> 'read committed' THEN
            EXIT;
        ELSE
            PERFORM pg_sleep(0.001);
        END IF;
        landing := jobspy.outbox_wait_state(true);
    END LOOP;
END
$$;
COMMENT ON FUNCTION jobspy.claim_events(integer, text[], interval) IS
    'claims up to max pending outbox events (of the given topics, or all) for a lease, oldest first, skipping events other workers hold and events whose entity has an older pending event';

CREATE FUNCTION jobspy.ack_events(ids bigint[], claim uuid) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
BEGIN
    -- (not STRICT: a NULL answered with NULL would look to a worker like
    -- an acknowledgement)
    IF array_ndims(ids) > 1 THEN
        RAISE EXCEPTION 'ack_events: ids must be a one-dimensional array' USING ERRCODE = '22023';
    END IF;
    IF ids IS NULL OR array_position(ids, NULL) IS NOT NULL OR claim IS NULL THEN
        RAISE EXCEPTION 'ack_events: ids, each id and claim must not be NULL' USING ERRCODE = '22004';
    END IF;
    UPDATE jobspy.outbox_events e
       SET consumed_at = jobspy.now(), claimed_until = NULL
     WHERE e.id = ANY (ids) AND e.consumed_at IS NULL AND e.claim = ack_events.claim;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.ack_events(bigint[], uuid) IS
    'marks outbox events consumed that the claim (from claim_events) still holds; returns how many it marked (0 for events acked already or taken over by a later claim)';

CREATE FUNCTION jobspy.fail_event(id bigint, claim uuid, error text, retry_after interval DEFAULT '1 minute')
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF id IS NULL OR claim IS NULL OR error IS NULL OR retry_after IS NULL THEN
        RAISE EXCEPTION 'fail_event: id, claim, error and retry_after must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF retry_after <> interval '0' AND NOT jobspy.interval_forward(retry_after, interval '30 days') THEN
        RAISE EXCEPTION 'fail_event: retry_after must be from 0 to 30 days' USING ERRCODE = '22023';
    END IF;
    UPDATE jobspy.outbox_events e
       SET claimed_until = jobspy.clock_now() + retry_after, claim = NULL, last_error = left(error, 2000)
     WHERE e.id = fail_event.id AND e.consumed_at IS NULL AND e.claim = fail_event.claim;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION jobspy.fail_event(bigint, uuid, text, interval) IS
    'gives back an outbox event its claim holds that could not be handled, keeping the error; it is claimable again after retry_after; false when the claim no longer holds it';

-- Consumed events are kept for retention.outbox_events (default 7 days);
-- pending events are never deleted.
CREATE FUNCTION jobspy.maintain_outbox() RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    keep interval := coalesce(jobspy.config_get('retention.outbox_events'), '"7 days"') #>> '{}';
    n    bigint;
BEGIN
    IF keep IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM jobspy.outbox_events e
     WHERE e.consumed_at IS NOT NULL AND e.consumed_at < jobspy.now() - keep;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        action := 'deleted'; object := format('%s consumed events of jobspy.outbox_events', n);
        RETURN NEXT;
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.maintain_outbox() IS
    'maintain() step: deletes outbox events consumed longer ago than retention.outbox_events (default 7 days; null keeps them)';

REVOKE ALL ON FUNCTION jobspy.outbox_ring(text), jobspy.outbox_wait_state(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION jobspy.emit_event(text, text, text, jsonb, uuid), jobspy.claim_events(integer, text[], interval),
    jobspy.ack_events(bigint[], uuid), jobspy.fail_event(bigint, uuid, text, interval), jobspy.maintain_outbox() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.claim_events(integer, text[], interval), jobspy.ack_events(bigint[], uuid),
    jobspy.fail_event(bigint, uuid, text, interval) TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.emit_event(text, text, text, jsonb, uuid), jobspy.maintain_outbox() TO jobspy_admin;
REVOKE ALL ON jobspy.outbox_events FROM PUBLIC;
GRANT SELECT ON jobspy.outbox_events TO jobspy_admin;
