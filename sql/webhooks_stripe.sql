\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit
-- webhooks_stripe: accepted Stripe events applied to the billing tables.
-- apply_webhook_event (webhooks.sql) has already checked the object's
-- watermark; what is left is finding the billing row by the provider's id
-- (creating it when missing) and moving it to the state Stripe describes,
-- one legal transition at a time, through billing's functions and its
-- state machine triggers.  An event that cannot be applied raises, and
-- process_webhook keeps it with its error for a retry.

-- Which local invoice a Stripe invoice is (billing has no provider column).
CREATE TABLE jobspy.provider_invoices (
    provider_id         uuid NOT NULL REFERENCES jobspy.payment_providers (id),
    provider_invoice_id text NOT NULL CHECK (length(provider_invoice_id) BETWEEN 1 AND 255),
    invoice_id          uuid NOT NULL UNIQUE REFERENCES jobspy.invoices (id) ON DELETE CASCADE,
    PRIMARY KEY (provider_id, provider_invoice_id)
);
COMMENT ON TABLE jobspy.provider_invoices IS
    'a provider''s invoice id (Stripe''s in_...) and the local invoice that mirrors it';
SELECT pg_catalog.pg_extension_config_dump('jobspy.provider_invoices', '');

-- ------------------------------------------------------------- helpers

-- A Stripe timestamp (unix seconds, or null) as timestamptz.  This helper
-- and the next are inlined into their callers (no SET clause, which would
-- stop that); they name nothing outside pg_catalog.
CREATE FUNCTION jobspy.stripe_time(value jsonb) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'number' AND (value #>> '{}')::numeric BETWEEN 0 AND 32503680000
                THEN to_timestamp((value #>> '{}')::numeric) END
$$;
COMMENT ON FUNCTION jobspy.stripe_time(jsonb) IS
    'internal: a Stripe timestamp (unix seconds) as timestamptz; NULL for null or anything else';

-- A reference to another object: Stripe sends an id, or the object itself
-- when the request expanded it.
CREATE FUNCTION jobspy.stripe_ref(value jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE jsonb_typeof(value) WHEN 'string' THEN value #>> '{}' WHEN 'object' THEN value ->> 'id' END
$$;
COMMENT ON FUNCTION jobspy.stripe_ref(jsonb) IS
    'internal: the id a Stripe field refers to, whether it holds the id or the expanded object';

-- The shortest chain of legal status changes from one status to another:
-- edges are {from, to} pairs; from '' stands for a row not yet inserted.
-- '{}' when already there, NULL when no chain exists.  Ties go to the
-- chain that sorts first, so every caller picks the same one.
CREATE FUNCTION jobspy.webhook_status_path(edges text[], from_status text, to_status text) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH RECURSIVE e(a, b) AS (
        SELECT edges[i][1], edges[i][2] FROM generate_subscripts(edges, 1) i
    ), walk(at, path) AS (
        SELECT from_status, ARRAY[]::text[]
        UNION ALL
        SELECT e.b, w.path || e.b FROM walk w JOIN e ON e.a = w.at
         WHERE e.b <> ALL (w.path) AND cardinality(w.path) < 8
    )
    SELECT w.path FROM walk w WHERE w.at = to_status ORDER BY cardinality(w.path), w.path LIMIT 1
$$;
COMMENT ON FUNCTION jobspy.webhook_status_path(text[], text, text) IS
    'internal: the shortest chain of legal status changes between two statuses ('''' = not yet inserted); NULL when there is none';

-- The local customer of a Stripe customer id: by its link, else by the
-- customer object the provider last sent (provider_objects), whose
-- metadata user_id or organization_id, else email, names the user or
-- organization; the customer is created and linked when missing.  NULL
-- when nothing matches.
CREATE FUNCTION jobspy.stripe_customer(provider_id uuid, provider_customer_id text, object jsonb DEFAULT NULL)
    RETURNS uuid
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cid  uuid;
    uid  uuid;
    org  uuid;
    meta jsonb;
    uuid_re constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
BEGIN
    IF provider_customer_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT pc.customer_id INTO cid FROM jobspy.provider_customers pc
     WHERE pc.provider_id = stripe_customer.provider_id AND pc.provider_customer_id = stripe_customer.provider_customer_id;
    IF cid IS NOT NULL THEN
        RETURN cid;
    END IF;
    IF object IS NULL THEN
        SELECT o.object INTO object FROM jobspy.provider_objects o
         WHERE o.provider_id = stripe_customer.provider_id AND o.object_type = 'customer'
           AND o.object_id = stripe_customer.provider_customer_id;
    END IF;
    IF object IS NULL THEN
        RETURN NULL;
    END IF;
    meta := CASE WHEN jsonb_typeof(object -> 'metadata') = 'object' THEN object -> 'metadata' ELSE '{}' END;
    IF meta ->> 'user_id' ~ uuid_re THEN
        SELECT u.id INTO uid FROM jobspy.users u WHERE u.id = (meta ->> 'user_id')::uuid;
    ELSIF meta ->> 'organization_id' ~ uuid_re THEN
        SELECT o.id INTO org FROM jobspy.organizations o WHERE o.id = (meta ->> 'organization_id')::uuid;
    ELSIF jsonb_typeof(object -> 'email') = 'string' THEN
        SELECT u.id INTO uid FROM jobspy.users u WHERE lower(u.email) = lower(object ->> 'email');
    END IF;
    IF uid IS NULL AND org IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT c.id INTO cid FROM jobspy.customers c WHERE c.user_id = uid OR c.organization_id = org;
    IF cid IS NULL THEN
        cid := jobspy.create_customer(uid, org, object ->> 'email', left(object ->> 'name', 200),
                                      (SELECT cu.code FROM jobspy.currencies cu WHERE cu.code = upper(object ->> 'currency')));
    END IF;
    PERFORM jobspy.link_provider_customer(cid, (SELECT p.code FROM jobspy.payment_providers p
                                                 WHERE p.id = stripe_customer.provider_id),
                                          provider_customer_id);
    RETURN cid;
END
$$;
COMMENT ON FUNCTION jobspy.stripe_customer(uuid, text, jsonb) IS
    'internal: the customer linked to a provider customer id, linked (and created) from the provider''s customer object when missing; NULL when no user or organization matches';

-- The customer of an object that refers to one, or JS603.
CREATE FUNCTION jobspy.stripe_customer_of(provider_id uuid, object jsonb) RETURNS uuid
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cus text := jobspy.stripe_ref(object -> 'customer');
    cid uuid := jobspy.stripe_customer(provider_id, cus);
BEGIN
    IF cid IS NULL THEN
        RAISE EXCEPTION 'provider customer % of % % matches no customer', coalesce(left(cus, 255), 'NULL'),
                        object ->> 'object', object ->> 'id'
            USING ERRCODE = 'JS603',
                  DETAIL = 'No link in provider_customers, and no customer event of it names a user or organization (metadata user_id, organization_id, or a user''s email).',
                  HINT = 'The event is retried: it applies once the customer event arrives or the customer is linked with jobspy.link_provider_customer.';
    END IF;
    RETURN cid;
END
$$;
COMMENT ON FUNCTION jobspy.stripe_customer_of(uuid, jsonb) IS
    'internal: the local customer of a Stripe object''s customer field; raises JS603 when none matches';

-- ----------------------------------------------------------- customers

CREATE FUNCTION jobspy.stripe_apply_customer(provider_id uuid, obj jsonb) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cid uuid := jobspy.stripe_customer(provider_id, obj ->> 'id', obj);
BEGIN
    IF cid IS NULL THEN
        RETURN format('customer %s matches no user or organization (metadata user_id, organization_id, or email); kept for later events',
                      obj ->> 'id');
    END IF;
    UPDATE jobspy.customers c
       SET email = coalesce(obj ->> 'email', c.email), name = coalesce(left(obj ->> 'name', 200), c.name)
     WHERE c.id = cid
       AND (c.email, c.name) IS DISTINCT FROM (coalesce(obj ->> 'email', c.email), coalesce(left(obj ->> 'name', 200), c.name));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.stripe_apply_customer(uuid, jsonb) IS
    'internal: customer.created and .updated: links (creating when missing) the local customer and takes its email and name; a reason when nothing matches';

-- ------------------------------------------------------- subscriptions

CREATE FUNCTION jobspy.stripe_apply_subscription(provider_id uuid, obj jsonb, event_created timestamptz) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    target  text := obj ->> 'status';
    item    jsonb := obj #> '{items,data,0}';
    sprice  jsonb := coalesce(item -> 'price', item -> 'plan');
    s       jobspy.subscriptions;
    v       jobspy.subscriptions;   -- the row as Stripe describes it
    path    text[];
    ivl     text := sprice #>> '{recurring,interval}';
BEGIN
    IF target IS NULL OR target NOT IN ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due',
                                        'unpaid', 'paused', 'canceled') THEN
        RAISE EXCEPTION 'subscription % has an unknown status "%"', obj ->> 'id', left(target, 50)
            USING ERRCODE = '22023';
    END IF;
    -- Only the columns read below: a whole row of subscriptions is some
    -- thirty columns to project and copy.
    SELECT x.id, x.status, x.price_id, x.paused_at, x.cancellation_reason
      INTO s.id, s.status, s.price_id, s.paused_at, s.cancellation_reason
      FROM jobspy.subscriptions x WHERE x.stripe_subscription_id = obj ->> 'id' FOR UPDATE;

    v.status := target;
    v.current_period_start := jobspy.stripe_time(coalesce(obj -> 'current_period_start', item -> 'current_period_start'));
    v.current_period_end := jobspy.stripe_time(coalesce(obj -> 'current_period_end', item -> 'current_period_end'));
    IF v.current_period_end <= v.current_period_start THEN
        v.current_period_start := NULL; v.current_period_end := NULL;
    END IF;
    v.trial_start := jobspy.stripe_time(obj -> 'trial_start');
    v.trial_end := jobspy.stripe_time(obj -> 'trial_end');
    v.cancel_at_period_end := coalesce((obj ->> 'cancel_at_period_end')::boolean, false);
    v.ended_at := jobspy.stripe_time(obj -> 'ended_at');
    v.canceled_at := jobspy.stripe_time(obj -> 'canceled_at');
    IF target = 'canceled' THEN
        v.canceled_at := coalesce(v.canceled_at, v.ended_at, event_created);
    END IF;
    v.ended_at := CASE WHEN target IN ('canceled', 'incomplete_expired') THEN coalesce(v.ended_at, v.canceled_at, event_created) END;
    v.paused_at := CASE WHEN target = 'paused' THEN coalesce(s.paused_at, event_created) END;
    v.cancellation_reason := coalesce(left(obj #>> '{cancellation_details,reason}', 1000), s.cancellation_reason);
    v.quantity := CASE WHEN item ->> 'quantity' ~ '^[0-9]{1,7}$' THEN greatest((item ->> 'quantity')::integer, 1) ELSE 1 END;
    -- A price of the catalogue whose code is the Stripe price's lookup key or id.
    SELECT p.id INTO v.price_id FROM jobspy.prices p
     WHERE p.code IN (sprice ->> 'lookup_key', sprice ->> 'id') ORDER BY p.code = sprice ->> 'lookup_key' DESC LIMIT 1;
    v.price_id := coalesce(v.price_id, s.price_id);

    IF s.id IS NULL THEN
        v.customer_id := jobspy.stripe_customer_of(provider_id, obj);
        SELECT coalesce(c.user_id, o.created_by) INTO v.user_id
          FROM jobspy.customers c LEFT JOIN jobspy.organizations o ON o.id = c.organization_id WHERE c.id = v.customer_id;
        IF v.user_id IS NULL THEN
            RAISE EXCEPTION 'the organization has no creating user to hold subscription %', obj ->> 'id'
                USING ERRCODE = '55000';
        END IF;
        -- A subscription starts incomplete, trialing or active; one that
        -- Stripe already shows further along starts on the way there.
        path := CASE WHEN target IN ('incomplete', 'trialing', 'active') THEN ARRAY[target]
                     ELSE jobspy.webhook_status_path(ARRAY(SELECT ARRAY[t.from_status, t.to_status]
                                                            FROM jobspy.subscription_transitions t
                                                           UNION ALL SELECT ARRAY['', x]
                                                            FROM unnest(ARRAY['incomplete', 'trialing', 'active']) x),
                                                     '', target) END;
        INSERT INTO jobspy.subscriptions AS x (user_id, customer_id, stripe_subscription_id, stripe_customer_id, status,
                                               price_id, plan_interval, price_amount, price_currency, quantity,
                                               billing_cycle_anchor, current_period_start, current_period_end,
                                               trial_start, trial_end, cancel_at_period_end, canceled_at, ended_at,
                                               paused_at, cancellation_reason)
        VALUES (v.user_id, v.customer_id, obj ->> 'id', jobspy.stripe_ref(obj -> 'customer'), path[1], v.price_id,
                CASE WHEN v.price_id IS NULL AND ivl IN ('day', 'week', 'month', 'year') THEN ivl END,
                CASE WHEN v.price_id IS NULL AND sprice ->> 'unit_amount' ~ '^[0-9]{1,18}$' THEN jobspy.stripe_minor(sprice ->> 'currency', sprice ->> 'unit_amount') END,
                CASE WHEN v.price_id IS NULL THEN coalesce((SELECT cu.code FROM jobspy.currencies cu
                                                             WHERE cu.code = upper(sprice ->> 'currency')), 'USD') END,
                v.quantity, jobspy.stripe_time(obj -> 'billing_cycle_anchor'), v.current_period_start, v.current_period_end,
                v.trial_start, v.trial_end, v.cancel_at_period_end,
                CASE WHEN path[1] = target THEN v.canceled_at END, CASE WHEN path[1] = target THEN v.ended_at END,
                NULL, v.cancellation_reason)
        RETURNING x.id INTO s.id;
        IF cardinality(path) = 1 THEN
            RETURN NULL;
        END IF;
        path := path[2:];
    ELSIF s.status = target THEN
        path := '{}';
    ELSIF EXISTS (SELECT FROM jobspy.subscription_transitions t WHERE t.from_status = s.status AND t.to_status = target) THEN
        path := ARRAY[target];
    ELSE
        -- With no legal chain the final UPDATE asks for the change itself,
        -- and the state machine refuses it (JS505).
        path := coalesce(jobspy.webhook_status_path(ARRAY(SELECT ARRAY[t.from_status, t.to_status]
                                                           FROM jobspy.subscription_transitions t), s.status, target),
                         ARRAY[target]);
    END IF;
    -- Intermediate statuses first, each a legal change, then Stripe's state.
    FOR i IN 1 .. cardinality(path) - 1 LOOP
        UPDATE jobspy.subscriptions x SET status = path[i],
               paused_at = CASE WHEN path[i] = 'paused' THEN event_created END
         WHERE x.id = s.id;
    END LOOP;
    UPDATE jobspy.subscriptions x
       SET status = target, price_id = v.price_id, quantity = v.quantity,
           current_period_start = coalesce(v.current_period_start, x.current_period_start),
           current_period_end = coalesce(v.current_period_end, x.current_period_end),
           trial_start = v.trial_start, trial_end = v.trial_end, cancel_at_period_end = v.cancel_at_period_end,
           canceled_at = v.canceled_at, ended_at = v.ended_at, paused_at = v.paused_at,
           cancellation_reason = v.cancellation_reason
     WHERE x.id = s.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.stripe_apply_subscription(uuid, jsonb, timestamptz) IS
    'internal: customer.subscription.*: the subscription with this Stripe id, created when missing, moved to Stripe''s status one legal transition at a time, with its period, trial and cancellation';

-- ------------------------------------------------------------ invoices

-- A draft mirrors Stripe's lines: they are replaced by Stripe's, each with
-- the tax rate that gives its tax, and the totals must then agree (JS604).
CREATE FUNCTION jobspy.stripe_sync_invoice_lines(invoice_id uuid, obj jsonb) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    line   jsonb;
    amount bigint;
    qty    bigint;
    tax    bigint;
    inv    jobspy.invoices;
    cur    text := obj ->> 'currency';
    disc   bigint := coalesce((SELECT sum(jobspy.stripe_minor(cur, d ->> 'amount')) FROM jsonb_array_elements(
                               CASE WHEN jsonb_typeof(obj -> 'total_discount_amounts') = 'array'
                                    THEN obj -> 'total_discount_amounts' ELSE '[]' END) d), 0);
BEGIN
    DELETE FROM jobspy.invoice_lines l WHERE l.invoice_id = stripe_sync_invoice_lines.invoice_id;
    UPDATE jobspy.invoices i SET amount_cents = 0, tax_cents = 0, discount_cents = 0, total_cents = 0
     WHERE i.id = stripe_sync_invoice_lines.invoice_id;
    FOR line IN SELECT l FROM jsonb_array_elements(CASE WHEN jsonb_typeof(obj #> '{lines,data}') = 'array'
                                                        THEN obj #> '{lines,data}' ELSE '[]' END) l LOOP
        amount := jobspy.stripe_minor(cur, line ->> 'amount');
        qty := CASE WHEN line ->> 'quantity' ~ '^[0-9]{1,9}$' THEN (line ->> 'quantity')::bigint END;
        IF qty IS NULL OR qty = 0 OR amount % qty <> 0 THEN
            qty := 1;
        END IF;
        tax := coalesce((SELECT sum(jobspy.stripe_minor(cur, t ->> 'amount')) FROM jsonb_array_elements(
                            CASE WHEN jsonb_typeof(line -> 'taxes') = 'array' THEN line -> 'taxes'
                                 WHEN jsonb_typeof(line -> 'tax_amounts') = 'array' THEN line -> 'tax_amounts'
                                 ELSE '[]' END) t), 0);
        PERFORM jobspy.add_invoice_line(invoice_id,
                    coalesce(left(nullif(line ->> 'description', ''), 500), format('line %s', left(line ->> 'id', 100))),
                    qty, amount / qty, NULL,
                    CASE WHEN amount > 0 THEN round(tax::numeric * 10000 / amount)::integer ELSE 0 END);
    END LOOP;
    IF disc > 0 THEN
        UPDATE jobspy.invoices i SET discount_cents = disc, total_cents = i.amount_cents - disc + i.tax_cents
         WHERE i.id = stripe_sync_invoice_lines.invoice_id;
    END IF;
    SELECT i.* INTO inv FROM jobspy.invoices i WHERE i.id = stripe_sync_invoice_lines.invoice_id;
    IF jsonb_typeof(obj -> 'total') = 'number' AND inv.total_cents <> jobspy.stripe_minor(cur, obj ->> 'total') THEN
        RAISE EXCEPTION 'invoice % totals % here but % at the provider', obj ->> 'id', inv.total_cents, obj ->> 'total'
            USING ERRCODE = 'JS604',
                  DETAIL = format('Subtotal %s, discount %s, tax %s from %s lines.', inv.amount_cents, inv.discount_cents,
                                  inv.tax_cents, jsonb_array_length(coalesce(obj #> '{lines,data}', '[]'))),
                  HINT = 'The provider''s taxes or discounts do not map onto per-line rates; the invoice is left as it was.';
    END IF;
END
$$;
COMMENT ON FUNCTION jobspy.stripe_sync_invoice_lines(uuid, jsonb) IS
    'internal: replaces a draft invoice''s lines with a Stripe invoice''s; raises JS604 when the totals then disagree';

CREATE FUNCTION jobspy.stripe_apply_invoice(provider_id uuid, obj jsonb, event_created timestamptz) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    target text := obj ->> 'status';
    edges  text[] := ARRAY(SELECT ARRAY[t.from_status, t.to_status] FROM jobspy.invoice_transitions t);
    inv    jobspy.invoices;
    sub    uuid;
    path   text[];
BEGIN
    IF target IS NULL OR target NOT IN ('draft', 'open', 'paid', 'void', 'uncollectible') THEN
        RAISE EXCEPTION 'invoice % has an unknown status "%"', obj ->> 'id', left(target, 50) USING ERRCODE = '22023';
    END IF;
    SELECT i.* INTO inv FROM jobspy.provider_invoices pi JOIN jobspy.invoices i ON i.id = pi.invoice_id
     WHERE pi.provider_id = stripe_apply_invoice.provider_id AND pi.provider_invoice_id = obj ->> 'id'
       FOR UPDATE OF i;
    IF inv.id IS NULL THEN
        inv.id := jobspy.create_invoice(jobspy.stripe_customer_of(provider_id, obj), upper(obj ->> 'currency'),
                                        jobspy.stripe_time(obj -> 'due_date'));
        INSERT INTO jobspy.provider_invoices (provider_id, provider_invoice_id, invoice_id)
        VALUES (provider_id, obj ->> 'id', inv.id);
        inv.status := 'draft';
    END IF;
    sub := (SELECT s.id FROM jobspy.subscriptions s
             WHERE s.stripe_subscription_id = coalesce(jobspy.stripe_ref(obj -> 'subscription'),
                                                       obj #>> '{parent,subscription_details,subscription}'));
    UPDATE jobspy.invoices i SET subscription_id = sub
     WHERE i.id = inv.id AND sub IS NOT NULL AND i.subscription_id IS DISTINCT FROM sub;
    IF inv.status = 'draft' THEN
        PERFORM jobspy.stripe_sync_invoice_lines(inv.id, obj);
    END IF;
    -- One legal change at a time, through billing's functions; finalizing
    -- an invoice of zero pays it, so the status is read again each step.
    FOR step IN 1 .. 4 LOOP
        SELECT i.status INTO inv.status FROM jobspy.invoices i WHERE i.id = inv.id;
        EXIT WHEN inv.status = target;
        path := coalesce(jobspy.webhook_status_path(edges, inv.status, target), ARRAY[target]);
        CASE path[1]
            WHEN 'open' THEN PERFORM jobspy.finalize_invoice(inv.id);
            WHEN 'void' THEN PERFORM jobspy.void_invoice(inv.id);
            WHEN 'uncollectible' THEN PERFORM jobspy.mark_invoice_uncollectible(inv.id);
            WHEN 'paid' THEN
                UPDATE jobspy.invoices i
                   SET status = 'paid',
                       paid_at = coalesce(jobspy.stripe_time(obj #> '{status_transitions,paid_at}'), event_created),
                       amount_paid_cents = CASE WHEN obj ->> 'amount_paid' ~ '^[0-9]{1,18}$'
                                                THEN jobspy.stripe_minor(obj ->> 'currency', obj ->> 'amount_paid')
                                                ELSE i.total_cents END
                 WHERE i.id = inv.id;
            ELSE
                -- No legal way there: the state machine says why.
                UPDATE jobspy.invoices i SET status = target WHERE i.id = inv.id;
        END CASE;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.stripe_apply_invoice(uuid, jsonb, timestamptz) IS
    'internal: invoice.*: the invoice mirroring this Stripe id, created when missing with Stripe''s lines, moved to Stripe''s status through finalize, void and mark uncollectible';

-- ------------------------------------------------------------ payments

-- A charge and its payment intent are one payment: it is recorded under
-- the payment intent's id when there is one (a charge names it), else the
-- charge's, so that the events of both land on the same row.
CREATE FUNCTION jobspy.stripe_payment_id(obj jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE obj ->> 'object'
               WHEN 'charge' THEN coalesce(jobspy.stripe_ref(obj -> 'payment_intent'), obj ->> 'id')
               WHEN 'refund' THEN coalesce(jobspy.stripe_ref(obj -> 'payment_intent'), jobspy.stripe_ref(obj -> 'charge'))
               ELSE obj ->> 'id' END
$$;
COMMENT ON FUNCTION jobspy.stripe_payment_id(jsonb) IS
    'internal: the provider payment id of a Stripe charge, payment intent or refund: the payment intent''s id when there is one, else the charge''s';

-- Stripe's amounts are in their currency's minor units, except ISK and
-- UGX: they have none, but Stripe keeps their amounts in hundredths for
-- backward compatibility (500 is 5 ISK), always whole units.  A Stripe
-- amount as billing's minor units; 22023 for one that is not a whole
-- number (of units, for those two).
CREATE FUNCTION jobspy.stripe_minor(currency text, amount text) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF amount !~ '^-?[0-9]{1,18}$' THEN
        RAISE EXCEPTION 'a Stripe amount must be a whole number, not "%"', left(amount, 30) USING ERRCODE = '22023';
    END IF;
    IF upper(currency) IN ('ISK', 'UGX') THEN
        IF amount::bigint % 100 <> 0 THEN
            RAISE EXCEPTION 'a Stripe % amount is whole units in hundredths, not %', upper(currency), amount
                USING ERRCODE = '22023';
        END IF;
        RETURN amount::bigint / 100;
    END IF;
    RETURN amount::bigint;
END
$$;
COMMENT ON FUNCTION jobspy.stripe_minor(text, text) IS
    'internal: a Stripe amount in billing''s minor units (ISK and UGX, which Stripe keeps in hundredths, divided by 100); 22023 when not a whole number';

-- A Stripe amount field in minor units, or 22023.
CREATE FUNCTION jobspy.stripe_amount(obj jsonb, field text) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF obj ->> field !~ '^[0-9]{1,18}$' THEN
        RAISE EXCEPTION '% % has no valid %', obj ->> 'object', left(obj ->> 'id', 255), field USING ERRCODE = '22023';
    END IF;
    RETURN jobspy.stripe_minor(obj ->> 'currency', obj ->> field);
END
$$;
COMMENT ON FUNCTION jobspy.stripe_amount(jsonb, text) IS
    'internal: a Stripe amount (minor units) from an object''s field; raises 22023 when it is missing or not a whole number';

-- charge.succeeded, .failed, .refunded, payment_intent.succeeded and
-- .payment_failed: the payment through record_payment (its customer by the
-- provider customer, its invoice by the provider invoice while that is
-- still to be paid, the fee from an expanded balance transaction), and a
-- charge's listed refunds through refund_payment.
CREATE FUNCTION jobspy.stripe_apply_payment(provider_id uuid, event_type text, obj jsonb) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    code   text := (SELECT p.code FROM jobspy.payment_providers p WHERE p.id = stripe_apply_payment.provider_id);
    pay_id text := jobspy.stripe_payment_id(obj);
    failed boolean := event_type IN ('charge.failed', 'payment_intent.payment_failed');
    -- A failed attempt of a payment intent is not the end of it (the
    -- customer may try another card): the payment stays pending; a charge
    -- of its own, without an intent, fails for good.
    status text := CASE WHEN NOT failed THEN 'succeeded'
                        WHEN obj ->> 'object' = 'charge' AND pay_id = obj ->> 'id' THEN 'failed'
                        ELSE 'pending' END;
    amount bigint;
    fee    bigint := 0;
    known  jobspy.payments;
    cid    uuid;
    inv    uuid;
    pid    uuid;
    r      jsonb;
BEGIN
    IF obj ->> 'object' = 'charge' THEN
        amount := CASE WHEN obj ->> 'amount_captured' ~ '^[1-9][0-9]{0,17}$' THEN jobspy.stripe_amount(obj, 'amount_captured')
                       ELSE jobspy.stripe_amount(obj, 'amount') END;
        -- The fee is in the balance transaction's (settlement) currency:
        -- taken only when that is the charge's.
        IF obj #>> '{balance_transaction,fee}' ~ '^[0-9]{1,18}$'
           AND lower(coalesce(obj #>> '{balance_transaction,currency}', obj ->> 'currency')) = lower(obj ->> 'currency') THEN
            fee := jobspy.stripe_minor(obj ->> 'currency', obj #>> '{balance_transaction,fee}');
        END IF;
    ELSE
        amount := CASE WHEN obj ->> 'amount_received' ~ '^[1-9][0-9]{0,17}$' THEN jobspy.stripe_amount(obj, 'amount_received')
                       ELSE jobspy.stripe_amount(obj, 'amount') END;
    END IF;
    SELECT p.* INTO known FROM jobspy.payments p
     WHERE p.provider_id = stripe_apply_payment.provider_id AND p.provider_payment_id = pay_id;
    IF failed AND known.status IS DISTINCT FROM 'pending' AND known.id IS NOT NULL THEN
        -- A failed attempt of a payment intent that later succeeded.
        RETURN format('payment %s is %s already: a failed attempt changes nothing', pay_id, known.status);
    END IF;
    IF known.id IS NULL THEN
        cid := jobspy.stripe_customer_of(provider_id, obj);
        -- Linked to the invoice it pays, which its own events keep paid
        -- (payment_apply leaves a mirrored invoice's amounts alone): the
        -- link says where the money went, for refunds and credit notes.
        SELECT i.id INTO inv FROM jobspy.provider_invoices pi JOIN jobspy.invoices i ON i.id = pi.invoice_id
         WHERE pi.provider_id = stripe_apply_payment.provider_id
           AND pi.provider_invoice_id = jobspy.stripe_ref(obj -> 'invoice')
           AND i.status IN ('open', 'uncollectible', 'paid');
    ELSE
        cid := known.customer_id;
    END IF;
    pid := jobspy.record_payment(code, pay_id, cid, amount, upper(obj ->> 'currency'), status, inv, NULL, fee);
    IF event_type = 'charge.refunded' AND jsonb_typeof(obj #> '{refunds,data}') = 'array' THEN
        FOR r IN SELECT x FROM jsonb_array_elements(obj #> '{refunds,data}') x LOOP
            IF r ->> 'status' = 'succeeded' THEN
                PERFORM jobspy.refund_payment(pid, jobspy.stripe_amount(r, 'amount'), left(r ->> 'reason', 500), r ->> 'id');
            END IF;
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.stripe_apply_payment(uuid, text, jsonb) IS
    'internal: charge.* and payment_intent.* events: the payment through record_payment, under the payment intent''s id when there is one; a charge''s listed refunds through refund_payment';

-- charge.refund.updated, refund.created and refund.updated: a succeeded
-- refund through refund_payment, once per refund id.
CREATE FUNCTION jobspy.stripe_apply_refund(provider_id uuid, obj jsonb) RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pay_id text := jobspy.stripe_payment_id(obj);
    pid    uuid;
BEGIN
    IF obj ->> 'status' IS DISTINCT FROM 'succeeded' THEN
        RETURN format('refund %s is %s: only a succeeded refund is recorded', left(obj ->> 'id', 255),
                      coalesce(left(obj ->> 'status', 30), 'without a status'));
    END IF;
    SELECT p.id INTO pid FROM jobspy.payments p
     WHERE p.provider_id = stripe_apply_refund.provider_id AND p.provider_payment_id = pay_id;
    IF pid IS NULL THEN
        RAISE EXCEPTION 'refund % is of payment %, which is not recorded yet', left(obj ->> 'id', 255), coalesce(left(pay_id, 255), 'NULL')
            USING ERRCODE = 'JS605',
                  HINT = 'The event is retried: it applies once the charge or payment intent event has been applied.';
    END IF;
    PERFORM jobspy.refund_payment(pid, jobspy.stripe_amount(obj, 'amount'), left(obj ->> 'reason', 500), obj ->> 'id');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION jobspy.stripe_apply_refund(uuid, jsonb) IS
    'internal: a Stripe refund object that succeeded, recorded once through refund_payment; raises JS605 while its payment is not recorded';

-- ------------------------------------------------------------ dispatch

-- Which of the functions above applies a Stripe event, by its type and
-- its object's type; NULL for an event billing does not apply (it is
-- stored, recorded ignored, and leaves the object's watermark alone).
CREATE FUNCTION jobspy.stripe_event_handler(event_type text, obj jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN event_type IN ('customer.created', 'customer.updated') AND obj ->> 'object' = 'customer' THEN 'customer'
        WHEN event_type IN ('customer.subscription.created', 'customer.subscription.updated',
                            'customer.subscription.deleted', 'customer.subscription.paused',
                            'customer.subscription.resumed') AND obj ->> 'object' = 'subscription' THEN 'subscription'
        WHEN event_type IN ('invoice.created', 'invoice.finalized', 'invoice.paid', 'invoice.payment_succeeded',
                            'invoice.payment_failed', 'invoice.voided', 'invoice.marked_uncollectible')
             AND obj ->> 'object' = 'invoice' THEN 'invoice'
        WHEN event_type IN ('charge.succeeded', 'charge.failed', 'charge.refunded') AND obj ->> 'object' = 'charge'
          OR event_type IN ('payment_intent.succeeded', 'payment_intent.payment_failed')
             AND obj ->> 'object' = 'payment_intent' THEN 'payment'
        WHEN event_type IN ('charge.refund.updated', 'refund.created', 'refund.updated') AND obj ->> 'object' = 'refund'
        THEN 'refund'
    END
$$;
COMMENT ON FUNCTION jobspy.stripe_event_handler(text, jsonb) IS
    'internal: customer, subscription, invoice, payment or refund: what a Stripe event (its type and object) is applied to; NULL when billing does not apply it';

CREATE FUNCTION jobspy.apply_stripe_event(provider_id uuid, event_type text, obj jsonb, event_created timestamptz)
    RETURNS text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    CASE jobspy.stripe_event_handler(event_type, obj)
        WHEN 'customer' THEN RETURN jobspy.stripe_apply_customer(provider_id, obj);
        WHEN 'subscription' THEN RETURN jobspy.stripe_apply_subscription(provider_id, obj, event_created);
        WHEN 'invoice' THEN RETURN jobspy.stripe_apply_invoice(provider_id, obj, event_created);
        WHEN 'payment' THEN RETURN jobspy.stripe_apply_payment(provider_id, event_type, obj);
        WHEN 'refund' THEN RETURN jobspy.stripe_apply_refund(provider_id, obj);
        ELSE RETURN format('%s is not applied to billing', left(event_type, 255));
    END CASE;
END
$$;
COMMENT ON FUNCTION jobspy.apply_stripe_event(uuid, text, jsonb, timestamptz) IS
    'internal: applies a Stripe event''s object to billing (customers, subscriptions, invoices, payments, refunds); NULL when applied, else why nothing changed';

REVOKE ALL ON FUNCTION jobspy.stripe_time(jsonb), jobspy.stripe_ref(jsonb),
    jobspy.webhook_status_path(text[], text, text), jobspy.stripe_customer(uuid, text, jsonb),
    jobspy.stripe_customer_of(uuid, jsonb), jobspy.stripe_apply_customer(uuid, jsonb),
    jobspy.stripe_apply_subscription(uuid, jsonb, timestamptz), jobspy.stripe_sync_invoice_lines(uuid, jsonb),
    jobspy.stripe_apply_invoice(uuid, jsonb, timestamptz), jobspy.apply_stripe_event(uuid, text, jsonb, timestamptz),
    jobspy.stripe_payment_id(jsonb), jobspy.stripe_amount(jsonb, text), jobspy.stripe_minor(text, text), jobspy.stripe_apply_payment(uuid, text, jsonb),
    jobspy.stripe_apply_refund(uuid, jsonb), jobspy.stripe_event_handler(text, jsonb)
  FROM PUBLIC;
REVOKE ALL ON jobspy.provider_invoices FROM PUBLIC;
GRANT SELECT ON jobspy.provider_invoices TO jobspy_admin;
