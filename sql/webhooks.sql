\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- webhooks: provider events verified (signatures in C, src/webhooks_verify.c),
-- stored once per (provider, event id) forever, and applied inline or from
-- a queue.  Providers are billing's payment_providers; their signing
-- secrets are sealed under a key kept outside the tables
-- (src/webhooks_secrets.c, docs/webhooks.md).

-- Providers are billing's (billing_customers.sql, installed before this file:
-- jobspy.payment_providers and jobspy.create_provider).

-- Configuration keys of the webhooks module (the registry: core.sql).
INSERT INTO jobspy.config_defaults (key, value, description, value_type, nullable, min_value, max_value, choices) VALUES
    ('webhooks.tolerance_seconds', '300', 'how many seconds a Stripe signature''s timestamp may be from jobspy.now()', 'integer', false, 1, 86400, NULL),
    ('webhooks.mode', '"inline"', 'inline: an accepted event is applied in the receiving transaction; queued: by jobspy.process_webhooks', 'text', false, NULL, NULL, '["inline", "queued"]'),
    ('webhooks.max_attempts', '10', 'failed attempts after which a stored event is failed and no longer retried', 'integer', false, 1, 1000, NULL),
    ('webhooks.attempt_lock_timeout_ms', '5000', 'how long one queued attempt waits for a lock before it fails (55P03) and is retried; a shorter lock_timeout of the caller wins', 'integer', false, 1, 3600000, NULL);

-- ------------------------------------------------------------ secrets

CREATE TABLE jobspy.webhook_secrets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES jobspy.payment_providers (id) ON DELETE CASCADE,
    sealed      bytea NOT NULL CHECK (length(sealed) > 40),
    created_at  timestamptz NOT NULL DEFAULT jobspy.now()
);
COMMENT ON TABLE jobspy.webhook_secrets IS
    'providers'' webhook signing secrets, sealed (secretbox) under the server''s key file jobspy_webhook.key; at most two per provider; readable by the extension owner only';
CREATE INDEX webhook_secrets_provider_idx ON jobspy.webhook_secrets (provider_id, id);
SELECT pg_catalog.pg_extension_config_dump('jobspy.webhook_secrets', '');
SELECT pg_catalog.pg_extension_config_dump('jobspy.webhook_secrets_id_seq', '');

CREATE FUNCTION jobspy.webhook_seal(provider_id uuid, secret text) RETURNS bytea
    LANGUAGE c VOLATILE STRICT
    AS 'MODULE_PATHNAME', 'jobspy_webhook_seal';
COMMENT ON FUNCTION jobspy.webhook_seal(uuid, text) IS
    'internal: a provider secret sealed under the key derived from the server''s webhook key file and the provider id';

CREATE FUNCTION jobspy.webhook_verify(scheme text, provider_id uuid, sealed bytea[], signature_header text,
                                      payload text, tolerance_seconds integer) RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jobspy_webhook_verify';
COMMENT ON FUNCTION jobspy.webhook_verify(text, uuid, bytea[], text, text, integer) IS
    'internal: checks a webhook signature against the sealed secrets: VERIFIED, BAD_SIGNATURE, STALE_TIMESTAMP or MALFORMED';

-- internal: a provider row by code, locked, or 22023.
CREATE FUNCTION jobspy.webhook_provider_for_update(code text) RETURNS uuid
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    found_id uuid;
BEGIN
    -- An update, not FOR UPDATE: under REPEATABLE READ a transaction that
    -- only locked the row would let a concurrent one prune the secrets from
    -- a snapshot that does not see its new secret; an updated row makes
    -- that one fail with 40001 instead.
    UPDATE jobspy.payment_providers p SET updated_at = jobspy.now() WHERE p.code = $1 RETURNING p.id INTO found_id;
    IF found_id IS NULL THEN
        RAISE EXCEPTION 'unknown payment provider "%"', coalesce(left($1, 50), 'NULL')
            USING ERRCODE = '22023', HINT = 'Register it with jobspy.create_provider.';
    END IF;
    RETURN found_id;
END
$$;
COMMENT ON FUNCTION jobspy.webhook_provider_for_update(text) IS
    'internal: the id of a payment provider by code, its row updated so that secret changes are serialised at every isolation level; 22023 when unknown';

CREATE FUNCTION jobspy.set_provider_secret(provider text, secret text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pid uuid := jobspy.webhook_provider_for_update(provider);
BEGIN
    IF secret IS NULL OR octet_length(secret) NOT BETWEEN 1 AND 1024 THEN
        RAISE EXCEPTION 'a provider secret must be 1 to 1024 bytes' USING ERRCODE = '22023';
    END IF;
    INSERT INTO jobspy.webhook_secrets (provider_id, sealed) VALUES (pid, jobspy.webhook_seal(pid, secret));
    -- The new secret and the one before stay live, so that events signed
    -- during the rotation still verify.
    DELETE FROM jobspy.webhook_secrets s
     WHERE s.provider_id = pid
       AND s.id NOT IN (SELECT k.id FROM jobspy.webhook_secrets k WHERE k.provider_id = pid
                         ORDER BY k.id DESC LIMIT 2);
END
$$;
COMMENT ON FUNCTION jobspy.set_provider_secret(text, text) IS
    'adds a provider''s webhook signing secret, sealed; the previous one stays live until the next change or retire_provider_secret (at most two)';

CREATE FUNCTION jobspy.retire_provider_secret(provider text) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pid uuid := jobspy.webhook_provider_for_update(provider);
    n   integer;
BEGIN
    DELETE FROM jobspy.webhook_secrets s
     WHERE s.provider_id = pid
       AND s.id NOT IN (SELECT k.id FROM jobspy.webhook_secrets k WHERE k.provider_id = pid
                         ORDER BY k.id DESC LIMIT 1);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.retire_provider_secret(text) IS
    'ends a rotation: keeps only the newest secret of a provider; returns how many were dropped';

-- ------------------------------------------------------------ received events

CREATE TYPE jobspy.webhook_receipt AS (accepted boolean, code text, event_id text, event_type text);
COMMENT ON TYPE jobspy.webhook_receipt IS 'the answer of receive_webhook';

CREATE TABLE jobspy.payment_webhooks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_id     uuid NOT NULL REFERENCES jobspy.payment_providers (id),
    event_id        text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
    event_type      text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 255),
    payload         jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    event_created   timestamptz,
    received_at     timestamptz NOT NULL DEFAULT jobspy.now(),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'ignored', 'failed')),
    processed       boolean GENERATED ALWAYS AS (status IN ('applied', 'ignored')) STORED,
    processed_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz,
    errors          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
    note            text CHECK (length(note) <= 1000),
    UNIQUE (provider_id, event_id)
) WITH (fillfactor = 90);
COMMENT ON TABLE jobspy.payment_webhooks IS
    'provider events that passed verification, one row per (provider, event id) forever; status pending, applied, ignored (with a note) or failed (errors kept)';
-- No index names the columns processing changes, so marking an event
-- processed is a HOT update; what is due waits in webhook_queue instead.
-- A 2 kB event is compressed to stay in its row: with lz4 where the server
-- was built with it, which costs a fraction of pglz's time for about a
-- tenth more bytes.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_settings s
                WHERE s.name = 'default_toast_compression' AND 'lz4' = ANY (s.enumvals)) THEN
        ALTER TABLE jobspy.payment_webhooks ALTER COLUMN payload SET COMPRESSION lz4;
    END IF;
END
$$;
SELECT pg_catalog.pg_extension_config_dump('jobspy.payment_webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('jobspy.payment_webhooks_id_seq', '');

CREATE TABLE jobspy.webhook_queue (
    webhook_id bigint PRIMARY KEY REFERENCES jobspy.payment_webhooks (id) ON DELETE CASCADE,
    due_at     timestamptz NOT NULL
);
COMMENT ON TABLE jobspy.webhook_queue IS
    'stored events waiting for an attempt (queued mode, or a failed attempt''s retry) and when they are due';
CREATE INDEX webhook_queue_due_idx ON jobspy.webhook_queue (due_at);
SELECT pg_catalog.pg_extension_config_dump('jobspy.webhook_queue', '');

-- The ordering watermark of each provider object, one row per object: the
-- newest event applied to it.  Providers do not deliver in order, so an
-- event is applied only when it is newer than the object's watermark:
-- ordered by the event's created time, then by how far along the object's
-- life the event is (created < updated < deleted, or a terminal status),
-- then by event id so that every delivery order ends in the same state.
-- The object itself is not copied here: the watermark's event is stored in
-- payment_webhooks (in the same transaction, whichever mode applied it),
-- and provider_objects below reads it from there.
CREATE TABLE jobspy.provider_watermarks (
    provider_id   uuid NOT NULL REFERENCES jobspy.payment_providers (id),
    object_type   text NOT NULL CHECK (length(object_type) BETWEEN 1 AND 100),
    object_id     text NOT NULL CHECK (length(object_id) BETWEEN 1 AND 255),
    deleted       boolean NOT NULL DEFAULT false,
    event_created timestamptz NOT NULL,
    event_stage   smallint NOT NULL,
    event_id      text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT jobspy.now(),
    PRIMARY KEY (provider_id, object_type, object_id)
);
COMMENT ON TABLE jobspy.provider_watermarks IS
    'the ordering watermark of each provider object (customer, subscription, invoice, charge, ...): the newest event applied to it, which keeps an older event from overwriting newer state';
SELECT pg_catalog.pg_extension_config_dump('jobspy.provider_watermarks', '');

CREATE VIEW jobspy.provider_objects AS
SELECT o.provider_id, o.object_type, o.object_id, w.payload #> '{data,object}' AS object, o.deleted,
       o.event_created, o.event_stage, o.event_id, o.updated_at
  FROM jobspy.provider_watermarks o
  LEFT JOIN jobspy.payment_webhooks w ON w.provider_id = o.provider_id AND w.event_id = o.event_id;
COMMENT ON VIEW jobspy.provider_objects IS
    'each provider object (customer, subscription, invoice, charge, ...) as the newest applied event describes it (its data.object), with the watermark that keeps an older event from overwriting newer state';

-- How far along its object's life an event is, for events of the same
-- second: 1 created, 2 changed, 3 uncollectible, 4 paid, 5 ended.  A
-- provider sends an invoice's finalized and paid events in one second, and
-- its event ids are not in time order: the stage, not the id, puts paid
-- after open and after uncollectible.
-- No SET clause: it is inlined into its caller, and names only pg_catalog.
CREATE FUNCTION jobspy.webhook_event_stage(event_type text, object jsonb) RETURNS smallint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN event_type LIKE '%.deleted' OR object ->> 'deleted' = 'true'
          OR object ->> 'status' IN ('canceled', 'incomplete_expired', 'void') THEN 5
        WHEN object ->> 'status' = 'paid' THEN 4
        WHEN object ->> 'status' = 'uncollectible' THEN 3
        WHEN event_type LIKE '%.created' THEN 1
        ELSE 2 END::smallint
$$;
COMMENT ON FUNCTION jobspy.webhook_event_stage(text, jsonb) IS
    'internal: how far along its object''s life an event is: 1 created, 2 changed, 3 uncollectible, 4 paid, 5 ended (deleted, canceled, void)';

-- Applying an event: the object's watermark first, then billing.  Returns
-- NULL when applied, or why it was ignored.
CREATE FUNCTION jobspy.apply_webhook_event(webhook jobspy.payment_webhooks) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    obj     jsonb := webhook.payload #> '{data,object}';
    stage   smallint;
    kept    record;
    stripe  boolean;
    handler text;
BEGIN
    IF jsonb_typeof(obj) IS DISTINCT FROM 'object' OR jsonb_typeof(obj -> 'id') IS DISTINCT FROM 'string'
       OR jsonb_typeof(obj -> 'object') IS DISTINCT FROM 'string' THEN
        RETURN format('no data.object with an id in %s', webhook.event_type);
    END IF;
    IF webhook.event_created IS NULL THEN
        RETURN format('no created time in %s', webhook.event_type);
    END IF;
    stage := jobspy.webhook_event_stage(webhook.event_type, obj);
    -- An event billing does not apply must not move the watermark: a state
    -- change older than it would then be thrown away.
    stripe := (SELECT p.signature_scheme FROM jobspy.payment_providers p WHERE p.id = webhook.provider_id) = 'stripe';
    IF stripe THEN
        handler := jobspy.stripe_event_handler(webhook.event_type, obj);
        IF handler IS NULL THEN
            RETURN format('%s is not applied to billing', left(webhook.event_type, 255));
        END IF;
    END IF;

    INSERT INTO jobspy.provider_watermarks AS o
           (provider_id, object_type, object_id, deleted, event_created, event_stage, event_id)
    VALUES (webhook.provider_id, obj ->> 'object', obj ->> 'id', stage = 5,
            webhook.event_created, stage, webhook.event_id)
    ON CONFLICT (provider_id, object_type, object_id) DO UPDATE
       SET deleted = excluded.deleted, event_created = excluded.event_created,
           event_stage = excluded.event_stage, event_id = excluded.event_id, updated_at = jobspy.now()
     WHERE (excluded.event_created, excluded.event_stage, excluded.event_id)
         > (o.event_created, o.event_stage, o.event_id);
    -- Payments and refunds only move forward (record_payment, refund_payment
    -- by refund id): an older event of theirs is applied and changes what
    -- it still can, so a refund is never lost to a newer charge event.
    IF NOT FOUND AND handler IS DISTINCT FROM 'payment' AND handler IS DISTINCT FROM 'refund' THEN
        SELECT o.event_id, o.event_created INTO kept FROM jobspy.provider_watermarks o
         WHERE o.provider_id = webhook.provider_id AND o.object_type = obj ->> 'object' AND o.object_id = obj ->> 'id';
        RETURN format('older than %s (%s), already applied to %s %s', kept.event_id, kept.event_created,
                      obj ->> 'object', obj ->> 'id');
    END IF;
    IF stripe THEN
        RETURN jobspy.apply_stripe_event(webhook.provider_id, webhook.event_type, obj, webhook.event_created);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.apply_webhook_event(jobspy.payment_webhooks) IS
    'internal: applies one stored provider event unless its object already holds a newer one (a Stripe event to billing too: webhooks_stripe.sql); NULL when applied, else why it was ignored';

-- A failed attempt: its error kept, and a retry scheduled with exponential
-- backoff (30 s doubling, at most 6 hours) until webhooks.max_attempts,
-- after which the event is failed.  Returns the event's new status.
-- Errors that no retry can cure: the event's own content breaks billing's
-- rules (a transition the state machine refuses, another currency, a total
-- its lines do not give) or is not valid data.  Anything else (an object
-- not linked yet, a lock or serialization failure, a timeout) may pass
-- on a later attempt.
CREATE FUNCTION jobspy.webhook_error_is_final(error_code text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT error_code IN ('JS501', 'JS505', 'JS506', 'JS604', '23502', '23514') OR left(error_code, 2) = '22'
$$;
COMMENT ON FUNCTION jobspy.webhook_error_is_final(text) IS
    'internal: true for an SQLSTATE that a retry of the same event cannot cure (JS501, JS505, JS506, JS604, 23502, 23514, class 22)';

CREATE FUNCTION jobspy.webhook_failed(webhook_id bigint, error_code text, error text) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    max_try integer := coalesce((jobspy.config_get('webhooks.max_attempts'))::integer, 10);
    w       jobspy.payment_webhooks;
BEGIN
    UPDATE jobspy.payment_webhooks x
       SET attempts = x.attempts + 1,
           errors = x.errors || jsonb_build_object('at', jobspy.now(), 'sqlstate', $2, 'error', left($3, 1000)),
           status = CASE WHEN x.attempts + 1 >= max_try OR jobspy.webhook_error_is_final($2) THEN 'failed'
                         ELSE 'pending' END,
           next_attempt_at = CASE WHEN x.attempts + 1 < max_try AND NOT jobspy.webhook_error_is_final($2)
                             -- the exponent capped first: 30 s * 2^39 is past interval's range
                             THEN jobspy.now() + interval '30 seconds' * least(power(2, least(x.attempts, 10)), 720) END
     WHERE x.id = $1
    RETURNING x.* INTO w;
    IF w.next_attempt_at IS NULL THEN
        DELETE FROM jobspy.webhook_queue q WHERE q.webhook_id = $1;
    ELSE
        INSERT INTO jobspy.webhook_queue AS q (webhook_id, due_at) VALUES ($1, w.next_attempt_at)
        ON CONFLICT ON CONSTRAINT webhook_queue_pkey DO UPDATE SET due_at = excluded.due_at;
    END IF;
    RETURN w.status;
END
$$;
COMMENT ON FUNCTION jobspy.webhook_failed(bigint, text, text) IS
    'internal: records a failed attempt at a stored event (its error, attempts) and schedules the retry with backoff, or fails it: at once for an error no retry cures, else after webhooks.max_attempts';

-- One attempt at a stored event the caller has locked, in a subtransaction:
-- a failure rolls back what the attempt wrote.
CREATE FUNCTION jobspy.webhook_attempt(w jobspy.payment_webhooks) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    why   text;
    msg   text;
    state text;
    caller_wait text := current_setting('lock_timeout');
    wait_ms integer := coalesce((jobspy.config_get('webhooks.attempt_lock_timeout_ms'))::integer, 5000);
BEGIN
    -- An attempt stuck behind a lock fails here, as a retryable 55P03 with
    -- its error kept, instead of holding up the queue until the caller's
    -- statement_timeout cancels the whole batch (which this block cannot
    -- catch, and which would roll back the batch's other attempts).  The
    -- setting dies with the block when it fails and is put back otherwise.
    IF caller_wait::interval = interval '0' OR caller_wait::interval > make_interval(secs => wait_ms / 1000.0) THEN
        PERFORM set_config('lock_timeout', wait_ms || 'ms', true);
    END IF;
    why := jobspy.apply_webhook_event(w);
    UPDATE jobspy.payment_webhooks x
       SET status = CASE WHEN why IS NULL THEN 'applied' ELSE 'ignored' END, note = left(why, 1000),
           processed_at = jobspy.now(), attempts = x.attempts + 1, next_attempt_at = NULL
     WHERE x.id = w.id;
    DELETE FROM jobspy.webhook_queue q WHERE q.webhook_id = w.id;
    PERFORM set_config('lock_timeout', caller_wait, true);
    RETURN CASE WHEN why IS NULL THEN 'applied' ELSE 'ignored' END;
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
    RETURN jobspy.webhook_failed(w.id, state, msg);
END
$$;
COMMENT ON FUNCTION jobspy.webhook_attempt(jobspy.payment_webhooks) IS
    'internal: one attempt at applying a stored event its caller holds; a failure keeps its error and schedules a retry with backoff';

CREATE FUNCTION jobspy.process_webhook(webhook_id bigint) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    w jobspy.payment_webhooks;
BEGIN
    SELECT * INTO w FROM jobspy.payment_webhooks x WHERE x.id = webhook_id FOR UPDATE;
    IF w.status IS DISTINCT FROM 'pending' THEN
        RETURN w.status;
    END IF;
    RETURN jobspy.webhook_attempt(w);
END
$$;
COMMENT ON FUNCTION jobspy.process_webhook(bigint) IS
    'internal: locks a stored event and, when it is pending, makes one attempt at applying it';

-- Stores an accepted event as pending, once per provider and id: its row
-- id, or NULL when the event is stored already.  Under REPEATABLE READ or
-- SERIALIZABLE a copy committed by a concurrent delivery after this
-- transaction's snapshot makes the insert fail with 40001 instead of
-- finding the conflict: that too is a duplicate, never an error.
CREATE FUNCTION jobspy.webhook_store_pending(provider uuid, event text, kind text, body jsonb, created timestamptz)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    new_id bigint;
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        INSERT INTO jobspy.payment_webhooks AS w (provider_id, event_id, event_type, payload, event_created)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (provider_id, event_id) DO NOTHING
        RETURNING w.id INTO new_id;
        RETURN new_id;
    END IF;
    BEGIN
        INSERT INTO jobspy.payment_webhooks AS w (provider_id, event_id, event_type, payload, event_created)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (provider_id, event_id) DO NOTHING
        RETURNING w.id INTO new_id;
    EXCEPTION WHEN serialization_failure THEN
        RETURN NULL;
    END;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION jobspy.webhook_store_pending(uuid, text, text, jsonb, timestamptz) IS
    'internal: stores an accepted event as pending once per provider and id; its id, or NULL for a duplicate (also one a concurrent delivery committed after a REPEATABLE READ snapshot)';

CREATE FUNCTION jobspy.receive_webhook(provider text, signature_header text, payload text)
    RETURNS jobspy.webhook_receipt
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pid      uuid;
    scheme   text;
    verdict  text;
    body     jsonb;
    eid      text;
    etype    text;
    created  timestamptz;
    stored   jobspy.payment_webhooks;
    tolerance integer;
    run_mode text;
    why      text;
    msg      text;
    state    text;
    key_name text;
BEGIN
    -- The provider and the two settings in one query whose plan is kept
    -- (config_get, a SQL function, would be parsed again on every call).
    SELECT p.id, p.signature_scheme, cfg.tolerance, cfg.mode INTO pid, scheme, tolerance, run_mode
      FROM jobspy.payment_providers p,
           LATERAL (SELECT max(v.value #>> '{}') FILTER (WHERE v.key = 'webhooks.tolerance_seconds')::integer AS tolerance,
                           max(v.value #>> '{}') FILTER (WHERE v.key = 'webhooks.mode') AS mode
                      FROM (SELECT d.key, coalesce(c.value, d.value) AS value
                              FROM jobspy.config_defaults d LEFT JOIN jobspy.system_config c ON c.key = d.key
                             WHERE d.key IN ('webhooks.tolerance_seconds', 'webhooks.mode')) v) cfg
     WHERE p.code = provider AND p.is_active;
    IF pid IS NULL THEN
        RETURN ROW(false, 'UNKNOWN_PROVIDER', NULL, NULL)::jobspy.webhook_receipt;
    END IF;
    verdict := jobspy.webhook_verify(scheme, pid,
                   ARRAY(SELECT s.sealed FROM jobspy.webhook_secrets s WHERE s.provider_id = pid
                          ORDER BY s.id DESC LIMIT 2),
                   signature_header, payload,
                   coalesce(tolerance, 300));
    IF verdict <> 'VERIFIED' THEN
        RETURN ROW(false, verdict, NULL, NULL)::jobspy.webhook_receipt;
    END IF;

    BEGIN
        body := payload::jsonb;
    EXCEPTION WHEN data_exception OR program_limit_exceeded THEN
        RETURN ROW(false, 'MALFORMED', NULL, NULL)::jobspy.webhook_receipt;
    END;
    IF jsonb_typeof(body) <> 'object' THEN
        RETURN ROW(false, 'MALFORMED', NULL, NULL)::jobspy.webhook_receipt;
    END IF;
    eid := CASE WHEN jsonb_typeof(body -> 'id') IN ('string', 'number') THEN body ->> 'id'
                WHEN jsonb_typeof(body -> 'event_id') IN ('string', 'number') THEN body ->> 'event_id' END;
    etype := CASE WHEN jsonb_typeof(body -> 'type') = 'string' THEN body ->> 'type'
                  WHEN jsonb_typeof(body -> 'event_type') = 'string' THEN body ->> 'event_type'
                  WHEN jsonb_typeof(body -> 'event') = 'string' THEN body ->> 'event' END;
    IF eid IS NULL OR length(eid) NOT BETWEEN 1 AND 255 OR etype IS NULL OR length(etype) NOT BETWEEN 1 AND 255 THEN
        RETURN ROW(false, 'MALFORMED', left(eid, 255), left(etype, 255))::jobspy.webhook_receipt;
    END IF;
    IF jsonb_typeof(body -> 'created') = 'number' AND (body ->> 'created')::numeric BETWEEN 0 AND 32503680000 THEN
        created := to_timestamp((body ->> 'created')::numeric);
    END IF;

    IF run_mode = 'queued' THEN
        stored.id := jobspy.webhook_store_pending(pid, eid, etype, body, created);
        IF stored.id IS NULL THEN
            RETURN ROW(false, 'DUPLICATE', eid, etype)::jobspy.webhook_receipt;
        END IF;
        INSERT INTO jobspy.webhook_queue (webhook_id, due_at) VALUES (stored.id, jobspy.now());
        RETURN ROW(true, 'ACCEPTED', eid, etype)::jobspy.webhook_receipt;
    END IF;

    -- Inline: the event is applied first and then stored with the outcome,
    -- one write of its row instead of an insert and an update.  A
    -- redelivery is found before any work; one racing the first delivery
    -- waits for it on the object's watermark, finds it taken (so writes
    -- nothing) and meets the unique key, which rolls its attempt back.
    IF EXISTS (SELECT FROM jobspy.payment_webhooks w WHERE w.provider_id = pid AND w.event_id = eid) THEN
        RETURN ROW(false, 'DUPLICATE', eid, etype)::jobspy.webhook_receipt;
    END IF;
    stored.provider_id := pid; stored.event_id := eid; stored.event_type := etype;
    stored.payload := body; stored.event_created := created;
    BEGIN
        why := jobspy.apply_webhook_event(stored);
        INSERT INTO jobspy.payment_webhooks (provider_id, event_id, event_type, payload, event_created, status, note,
                                             processed_at, attempts)
        VALUES (pid, eid, etype, body, created, CASE WHEN why IS NULL THEN 'applied' ELSE 'ignored' END, left(why, 1000),
                jobspy.now(), 1);
    EXCEPTION WHEN others THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE, key_name = CONSTRAINT_NAME;
        IF state = '23505' AND key_name = 'payment_webhooks_provider_id_event_id_key' THEN
            RETURN ROW(false, 'DUPLICATE', eid, etype)::jobspy.webhook_receipt;
        END IF;
        -- The attempt failed: the event is stored pending, with its error, for a retry.
        stored.id := jobspy.webhook_store_pending(pid, eid, etype, body, created);
        IF stored.id IS NULL THEN
            RETURN ROW(false, 'DUPLICATE', eid, etype)::jobspy.webhook_receipt;
        END IF;
        PERFORM jobspy.webhook_failed(stored.id, state, msg);
    END;
    RETURN ROW(true, 'ACCEPTED', eid, etype)::jobspy.webhook_receipt;
END
$$;
COMMENT ON FUNCTION jobspy.receive_webhook(text, text, text) IS
    'verifies a provider webhook (Stripe or plain HMAC-SHA256) and stores it once per event id, applying it inline unless webhooks.mode is queued; answers ACCEPTED, DUPLICATE, BAD_SIGNATURE, STALE_TIMESTAMP, MALFORMED or UNKNOWN_PROVIDER, never an error';

CREATE FUNCTION jobspy.process_webhooks(max integer DEFAULT 100) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    w record;
    n integer := 0;
BEGIN
    IF max IS NULL OR max < 1 OR max > 10000 THEN
        RAISE EXCEPTION 'process_webhooks: max must be from 1 to 10000' USING ERRCODE = '22023';
    END IF;
    FOR w IN
        SELECT q.webhook_id AS id FROM jobspy.webhook_queue q
         WHERE q.due_at <= jobspy.now()
         ORDER BY q.webhook_id
         LIMIT max
           FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM jobspy.process_webhook(w.id);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION jobspy.process_webhooks(integer) IS
    'queued mode: makes one attempt at up to max pending events that are due, oldest first, skipping events another worker holds; returns how many were attempted';

REVOKE ALL ON FUNCTION jobspy.webhook_seal(uuid, text), jobspy.webhook_event_stage(text, jsonb),
    jobspy.webhook_verify(text, uuid, bytea[], text, text, integer),
    jobspy.webhook_provider_for_update(text),
    jobspy.set_provider_secret(text, text), jobspy.retire_provider_secret(text),
    jobspy.apply_webhook_event(jobspy.payment_webhooks), jobspy.webhook_attempt(jobspy.payment_webhooks),
    jobspy.webhook_failed(bigint, text, text), jobspy.webhook_error_is_final(text),
    jobspy.process_webhook(bigint), jobspy.webhook_store_pending(uuid, text, text, jsonb, timestamptz),
    jobspy.receive_webhook(text, text, text), jobspy.process_webhooks(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobspy.receive_webhook(text, text, text), jobspy.process_webhooks(integer)
    TO jobspy_app, jobspy_admin;
GRANT EXECUTE ON FUNCTION jobspy.set_provider_secret(text, text), jobspy.retire_provider_secret(text)
    TO jobspy_admin;
REVOKE ALL ON jobspy.webhook_secrets, jobspy.payment_webhooks, jobspy.provider_watermarks, jobspy.provider_objects,
    jobspy.webhook_queue FROM PUBLIC;
GRANT SELECT ON jobspy.payment_webhooks, jobspy.provider_watermarks, jobspy.provider_objects, jobspy.webhook_queue
    TO jobspy_admin;
