#!/usr/bin/env bash
# bench/billing_renewals.sh: renew_subscriptions() over N due subscriptions
# (default 100,000) against one set-based transaction that makes the same
# writes: every subscription rolled to its next period, and per subscription
# one invoice with its line, numbered from the series counter (row_number()
# over one counter update), finalized (billing.invoice.finalized) and paid
# at once (nothing is due), so that the same triggers fire (transition
# checks, audit, outbox events, updated_at, draft-only lines).  Each is
# committed on a throwaway durable server.  Prints both rates in
# subscriptions per second and the ratio; exits non-zero below the target
# (0.25).  Separate from bench/run because one renewal run takes minutes.
#
#   bench/billing_renewals.sh [N]
. "$(dirname "$0")/../tools/lib.sh"
N=${1:-100000}
[ "${BENCH_NO_BUILD:-0}" != 1 ] && { install_packages $PKGS_BUILD; build_and_install; }
dir=$(mktemp -d /tmp/jobspy-renew.XXXXXX); chmod 755 "$dir"
trap 'cluster_stop "$dir" immediate; rm -rf "$dir"' EXIT
cluster_init "$dir" "$(pick_port)"
printf 'fsync = on\nsynchronous_commit = on\nshared_buffers = 512MB\nmax_wal_size = 4GB\n' >>"$dir/data/postgresql.conf"
cluster_start "$dir"
createdb renew
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d renew "$@"; }
q -c 'CREATE EXTENSION jobspy_core'

# invoice_billed REASON: SQL that invoices, set-based, the current period of
# every subscription in the temporary table billed, as subscription_invoice()
# does for one (a free price: recurring line only, no pending items, usage
# or coupon), then finalizes them as finalize_invoice() does: the next
# numbers of the default series (format INV-{YYYY}-{NNNNNN}), open, the
# finalized event, and paid at once since nothing is due.
invoice_billed() {
    cat <<SQL
ANALYZE billed;
INSERT INTO jobspy.invoice_series (series) VALUES ('default') ON CONFLICT DO NOTHING;
INSERT INTO jobspy.invoices (customer_id, subscription_id, series, currency, due_at, billing_reason,
                             period_start, period_end, amount_cents, total_cents)
SELECT b.customer_id, b.id, 'default', p.currency, b.current_period_start, '$1',
       b.current_period_start, b.current_period_end, b.quantity * p.amount, b.quantity * p.amount
  FROM billed b JOIN jobspy.prices p ON p.id = b.price_id;
-- (planned for the rows just made, not for a table the plan thinks empty)
ANALYZE jobspy.invoices;
INSERT INTO jobspy.invoice_lines (invoice_id, description, quantity, unit_amount, price_id, amount, tax,
                                  period_start, period_end)
SELECT i.id, format('%s (%s)', pr.name, p.code), b.quantity, p.amount, p.id, b.quantity * p.amount, 0,
       b.current_period_start, b.current_period_end
  FROM billed b JOIN jobspy.prices p ON p.id = b.price_id JOIN jobspy.products pr ON pr.id = p.product_id
  JOIN jobspy.invoices i ON i.subscription_id = b.id AND i.period_start = b.current_period_start
                        AND i.billing_reason = '$1';
WITH counter AS (
    UPDATE jobspy.invoice_series x SET last_number = x.last_number + (SELECT count(*) FROM billed),
                                       year = extract(year FROM jobspy.now() AT TIME ZONE 'UTC')
     WHERE x.series = 'default'
    RETURNING x.last_number - (SELECT count(*) FROM billed) AS before, x.year),
numbered AS (
    SELECT i.id, row_number() OVER (ORDER BY i.id) AS n
      FROM billed b JOIN jobspy.invoices i ON i.subscription_id = b.id AND i.period_start = b.current_period_start
                                           AND i.billing_reason = '$1')
UPDATE jobspy.invoices i
   SET status = 'open', invoice_number = 'INV-' || c.year || '-' || lpad((c.before + n.n)::text, 6, '0'),
       finalized_at = jobspy.now(), due_at = coalesce(i.due_at, jobspy.now())
  FROM numbered n, counter c WHERE i.id = n.id;
SELECT count(jobspy.invoice_emit_event('finalized', i))
  FROM billed b JOIN jobspy.invoices i ON i.subscription_id = b.id AND i.period_start = b.current_period_start
                                       AND i.billing_reason = '$1';
UPDATE jobspy.invoices i SET status = 'paid', paid_at = jobspy.now()
  FROM billed b WHERE i.subscription_id = b.id AND i.period_start = b.current_period_start
   AND i.billing_reason = '$1' AND i.amount_due_cents = 0;
SQL
}

# N subscriptions of N/10 users to 10 free monthly products, made as
# subscribe() makes them (its rows, with the triggers on, and the first
# period's invoice), all anchored on 2031-01-31 and due at 2031-02-28.
q <<SQL >/dev/null
SET jobspy.clock_override = '2031-01-31 10:00:00+00';
SELECT jobspy.create_product('r' || i, 'R' || i), jobspy.create_price('r' || i, 'r' || i || '-m', 0, 'USD', 'month')
  FROM generate_series(0, 9) i;
INSERT INTO jobspy.users (id, email)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'r' || g || '@renew.test'
  FROM generate_series(1, ceil($N / 10.0)::integer) g;
INSERT INTO jobspy.customers (user_id, email) SELECT id, email FROM jobspy.users;
BEGIN;
CREATE TEMP TABLE billed ON COMMIT DROP AS SELECT * FROM jobspy.subscriptions WITH NO DATA;
WITH made AS (
    INSERT INTO jobspy.subscriptions AS s (user_id, customer_id, price_id, quantity, status,
                                           current_period_start, current_period_end, billing_cycle_anchor)
    SELECT c.user_id, c.id, p.id, 1, 'active', jobspy.now(),
           jobspy.subscription_next_boundary(jobspy.now(), p."interval", p.interval_count, jobspy.now()), jobspy.now()
      FROM (SELECT c.*, row_number() OVER (ORDER BY c.id) AS k FROM jobspy.customers c) c
      CROSS JOIN generate_series(0, 9) i JOIN jobspy.prices p ON p.code = 'r' || i || '-m'
     WHERE (c.k - 1) * 10 + i < $N
    RETURNING s.*)
INSERT INTO billed SELECT * FROM made;
ANALYZE jobspy.subscriptions;
$(invoice_billed subscription_create)
COMMIT;
VACUUM ANALYZE;
CREATE TABLE public.snap AS SELECT * FROM jobspy.subscriptions;
CREATE TABLE public.snap_series AS SELECT * FROM jobspy.invoice_series;
SQL
made=$(q -c "SELECT count(*) FROM jobspy.subscriptions s JOIN jobspy.invoices i ON i.subscription_id = s.id
               WHERE i.status = 'paid' AND i.billing_reason = 'subscription_create'")
[ "$made" = "$N" ] || die "the fixture made $made subscriptions with a paid first invoice, not $N"

reset_rows() {  # every subscription due again, its renewal invoice gone, outbox and audit emptied
    q <<'SQL' >/dev/null
SET session_replication_role = replica;
UPDATE jobspy.subscriptions s SET current_period_start = p.current_period_start,
       current_period_end = p.current_period_end, updated_at = p.updated_at
  FROM public.snap p WHERE p.id = s.id;
DELETE FROM jobspy.invoice_lines l USING jobspy.invoices i
 WHERE i.id = l.invoice_id AND i.billing_reason = 'subscription_cycle';
DELETE FROM jobspy.invoices WHERE billing_reason = 'subscription_cycle';
UPDATE jobspy.invoice_series x SET last_number = p.last_number, year = p.year
  FROM public.snap_series p WHERE p.series = x.series;
RESET session_replication_role;
TRUNCATE jobspy.outbox_events;
DELETE FROM jobspy.audit_logs;
VACUUM ANALYZE;
CHECKPOINT;
SQL
}
secs() {  # secs: seconds the SQL on stdin takes, run and committed at the renewal time
    local t0 t1
    t0=$(date +%s.%N)
    { echo "SET jobspy.clock_override = '2031-02-28 10:00:00+00';"; cat; } | q >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
# What a renewal leaves: subscriptions in the new period, each with a paid,
# numbered renewal invoice and its line; numbers without gaps or repeats.
renewed() {
    q -c "SELECT count(*) FILTER (WHERE s.current_period_end = '2031-03-31 10:00:00+00'
                                   AND i.status = 'paid' AND i.invoice_number IS NOT NULL
                                   AND EXISTS (SELECT FROM jobspy.invoice_lines l WHERE l.invoice_id = i.id))
                 || ' ' || count(DISTINCT i.invoice_number)
            FROM jobspy.subscriptions s
            LEFT JOIN jobspy.invoices i ON i.subscription_id = s.id AND i.billing_reason = 'subscription_cycle'"
}
reset_rows
t_set=$(secs <<SQL
BEGIN;
CREATE TEMP TABLE billed ON COMMIT DROP AS SELECT * FROM jobspy.subscriptions WITH NO DATA;
WITH rolled AS (
    UPDATE jobspy.subscriptions s
       SET status = 'active', current_period_start = s.current_period_end,
           current_period_end = jobspy.subscription_next_boundary(s.billing_cycle_anchor, p."interval",
                                                                  p.interval_count, s.current_period_end),
           dunning_attempts = 0, payment_failed_at = NULL, next_retry_at = NULL
      FROM jobspy.prices p
     WHERE p.id = s.price_id AND s.stripe_subscription_id IS NULL
       AND s.status IN ('trialing', 'active', 'past_due') AND s.current_period_end <= jobspy.now()
    RETURNING s.*)
INSERT INTO billed SELECT * FROM rolled;
$(invoice_billed subscription_cycle)
COMMIT;
SQL
)
check_set=$(renewed)
reset_rows
t_fn=$(secs <<<"SELECT jobspy.renew_subscriptions();")
check_fn=$(renewed)
[ "$check_set" = "$N $N" ] && [ "$check_fn" = "$N $N" ] ||
    die "renewed and invoiced (count, distinct numbers): $check_set by the statement, $check_fn by the function, not $N"
awk -v n="$N" -v a="$t_fn" -v b="$t_set" 'BEGIN {
    printf "renew_subscriptions: %d subscriptions in %.1f s = %.0f/s\n", n, a, n / a;
    printf "set-based statement: %d subscriptions in %.1f s = %.0f/s\n", n, b, n / b;
    printf "ratio %.2f (target >= 0.25)\n", b / a; exit (b / a >= 0.25) ? 0 : 1 }'
