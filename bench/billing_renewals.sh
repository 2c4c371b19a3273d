#!/usr/bin/env bash
# bench/billing_renewals.sh: renew_subscriptions() over N due subscriptions
# (default 100,000) against one set-based UPDATE that makes the same writes
# to the same rows (so the same triggers fire: audit, outbox events,
# updated_at, the quota-cache touch, the transition check), each committed
# on a throwaway durable server.  Prints both rates in subscriptions per
# second and the ratio; exits non-zero below the target (0.25).  Separate
# from bench/run because one renewal run takes tens of seconds.
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
# N subscriptions of N/10 users to 10 free monthly products, all anchored on
# 2031-01-31 and due at 2031-02-28.
q <<SQL >/dev/null
SET jobspy.clock_override = '2031-01-31 10:00:00+00';
SELECT jobspy.create_product('r' || i, 'R' || i), jobspy.create_price('r' || i, 'r' || i || '-m', 0, 'USD', 'month')
  FROM generate_series(0, 9) i;
INSERT INTO jobspy.users (id, email)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'r' || g || '@renew.test'
  FROM generate_series(1, ceil($N / 10.0)::integer) g;
INSERT INTO jobspy.customers (user_id, email) SELECT id, email FROM jobspy.users;
SELECT count(jobspy.subscribe(c.id, 'r' || i || '-m'))
  FROM jobspy.customers c, generate_series(0, 9) i LIMIT $N;
VACUUM ANALYZE;
CREATE TABLE public.snap AS SELECT * FROM jobspy.subscriptions;
SQL
reset_rows() {  # every subscription due again, outbox and audit emptied
    q <<'SQL' >/dev/null
SET session_replication_role = replica;
UPDATE jobspy.subscriptions s SET current_period_start = p.current_period_start,
       current_period_end = p.current_period_end, updated_at = p.updated_at
  FROM public.snap p WHERE p.id = s.id;
RESET session_replication_role;
TRUNCATE jobspy.outbox_events;
DELETE FROM jobspy.audit_logs;
VACUUM ANALYZE jobspy.subscriptions;
CHECKPOINT;
SQL
}
secs() {  # secs SQL: seconds one committed statement takes, at the renewal time
    q -c "SET jobspy.clock_override = '2031-02-28 10:00:00+00'" -c '\timing on' -c "$1" |
        sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1 | awk '{printf "%.3f", $1 / 1000}'
}
reset_rows
t_set=$(secs "UPDATE jobspy.subscriptions s
                 SET status = 'active', current_period_start = s.current_period_end,
                     current_period_end = jobspy.subscription_next_boundary(s.billing_cycle_anchor, 'month', 1, s.current_period_end),
                     dunning_attempts = 0, payment_failed_at = NULL, next_retry_at = NULL
               WHERE s.price_id IS NOT NULL AND s.status IN ('trialing', 'active', 'past_due')
                 AND s.current_period_end <= jobspy.now()")
check_set=$(q -c "SELECT count(*) FROM jobspy.subscriptions WHERE current_period_end = '2031-03-31 10:00:00+00'")
reset_rows
t_fn=$(secs "SELECT jobspy.renew_subscriptions()")
check_fn=$(q -c "SELECT count(*) FROM jobspy.subscriptions WHERE current_period_end = '2031-03-31 10:00:00+00'")
[ "$check_set" = "$N" ] && [ "$check_fn" = "$N" ] || die "renewed $check_set by the UPDATE, $check_fn by the function, not $N"
awk -v n="$N" -v a="$t_fn" -v b="$t_set" 'BEGIN {
    printf "renew_subscriptions: %d subscriptions in %.1f s = %.0f/s\n", n, a, n / a;
    printf "set-based UPDATE:    %d subscriptions in %.1f s = %.0f/s\n", n, b, n / b;
    printf "ratio %.2f (target >= 0.25)\n", b / a; exit (b / a >= 0.25) ? 0 : 1 }'
