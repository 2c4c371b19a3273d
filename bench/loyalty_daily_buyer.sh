#!/usr/bin/env bash
# bench/loyalty_daily_buyer.sh: what asking for a tier upgrade costs a
# purchase when members buy every day.  Loads M members (default 200) who
# each bought once a day for a year, then records purchases of random
# members (pgbench, one client, each in a transaction rolled back so that
# every purchase meets the same year of history) with a tier above every
# member, so that each purchase asks whether it reaches it, and without it.
# Prints the rates and the ratio of their medians; judges nothing.
# Separate from bench/run because its fixture takes a minute to load.
#
#   bench/loyalty_daily_buyer.sh [M]
. "$(dirname "$0")/../tools/lib.sh"
M=${1:-200}
[ "${BENCH_NO_BUILD:-0}" != 1 ] && { install_packages $PKGS_BUILD $PKGS_TEST; build_and_install; }
dir=$(mktemp -d /tmp/jobspy-daily.XXXXXX); chmod 755 "$dir"
trap 'cluster_stop "$dir" immediate; rm -rf "$dir"' EXIT
cluster_init "$dir" "$(pick_port)"
printf 'fsync = on\nsynchronous_commit = on\nshared_buffers = 256MB\n' >>"$dir/data/postgresql.conf"
cluster_start "$dir"
createdb daily
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d daily "$@"; }
q -c 'CREATE EXTENSION jobspy_core'
q <<SQL >/dev/null
SET jobspy.clock_override = '2030-01-01 00:00:00+00';
SELECT jobspy.create_business('cafe', 'Cafe');
SELECT jobspy.set_tier('base', 'Base', 0, 0, 'RUB');
INSERT INTO jobspy.users (id, email)
SELECT ('a0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'daily' || i || '@example.com'
  FROM generate_series(1, $M) i;
DO \$\$
BEGIN
    FOR d IN 0..364 LOOP
        PERFORM set_config('jobspy.clock_override', ('2030-01-01 00:00:00+00'::timestamptz + d * interval '1 day')::text, false);
        PERFORM jobspy.record_purchase('cafe', 'day' || d || '-' || u, ('a0000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
                                       10000, 'RUB')
           FROM generate_series(1, $M) u;
    END LOOP;
END
\$\$;
VACUUM ANALYZE jobspy.loyalty_purchases;
SQL
cat >"$dir/purchase.sql" <<SQL
\set u random(1, $M)
BEGIN;
SELECT * FROM jobspy.record_purchase('cafe', 'b-' || :client_id || '-' || random()::text,
                                     ('a0000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid, 10000, 'RUB');
ROLLBACK;
SQL
rate() {
    PGOPTIONS="-c jobspy.clock_override=2030-12-31T12:00:00+00" \
        "$PG_BINDIR/pgbench" -n -M prepared -c 1 -T "${BENCH_SECONDS:-6}" -f "$dir/purchase.sql" daily 2>&1 |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
# One purchase each, committed, as any member's first with a tier to reach:
# it sums the window once and keeps the running spend on the member's row.
q -c "SELECT jobspy.set_tier('gold', 'Gold', 1, 1000000000000, 'RUB')" >/dev/null
PGOPTIONS="-c jobspy.clock_override=2030-12-31T11:00:00+00" q -c "
    SELECT count(*) FROM generate_series(1, $M) u,
           jobspy.record_purchase('cafe', 'first-' || u, ('a0000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
                                  10000, 'RUB')" >/dev/null
# Three rounds each, alternating: the rolled-back purchases leave dead index
# entries behind, so neither side should always run on the fresher indexes.
with=() without=()
for round in 1 2 3; do
    q -c "SELECT jobspy.set_tier('gold', 'Gold', 1, 1000000000000, 'RUB')" >/dev/null
    with+=("$(rate)")
    q -c "DELETE FROM jobspy.loyalty_tiers WHERE code = 'gold'"
    without+=("$(rate)")
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
echo "members: $M, 365 purchases each in the window"
echo "purchases a second with a tier to reach:    ${with[*]} (median $(median "${with[@]}"))"
echo "purchases a second with no tier to reach:   ${without[*]} (median $(median "${without[@]}"))"
awk -v a="$(median "${with[@]}")" -v b="$(median "${without[@]}")" 'BEGIN { printf "ratio of the medians: %.2f\n", a / b }'
