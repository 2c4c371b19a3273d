#!/usr/bin/env bash
# bench/licensing_first_validation.sh: the first validation of N fresh
# licences in one statement (default 100,000; each binds its first
# machine) against the same for N/10 other fresh licences, on a throwaway
# durable server, after a statement over 1,000 more that warms the shared
# buffers and caches (the first statement would otherwise pay for that).
# Prints both times, and the ratio of N's time to ten times N/10's; exits
# non-zero above the target (1.5: the cost per licence stays flat with the
# batch).  Separate from bench/run because one run takes minutes.
#
#   bench/licensing_first_validation.sh [N]
. "$(dirname "$0")/../tools/lib.sh"
N=${1:-100000}
SMALL=$((N / 10))
WARM=1000
[ "${BENCH_NO_BUILD:-0}" != 1 ] && { install_packages $PKGS_BUILD; build_and_install; }
dir=$(mktemp -d /tmp/jobspy-firstval.XXXXXX); chmod 755 "$dir"
trap 'cluster_stop "$dir" immediate; rm -rf "$dir"' EXIT
cluster_init "$dir" "$(pick_port)"
# Room in the counter store for every licence and machine of the big batch.
printf 'fsync = on\nsynchronous_commit = on\nshared_buffers = 512MB\nmax_wal_size = 4GB\njobspy.licensing_max_counters = %s\n' \
    $(( 2 * (2 * N + 2 * SMALL + 2 * WARM) )) >>"$dir/data/postgresql.conf"
cluster_start "$dir"
createdb firstval
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d firstval "$@"; }
q -c 'CREATE EXTENSION jobspy_core'
TOTAL=$((N + SMALL + WARM))
log "issuing $TOTAL licences, one a user"
q <<SQL >/dev/null
INSERT INTO jobspy.users (id, email)
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'f' || g || '@firstval.test'
  FROM generate_series(1, $TOTAL) g;
CREATE TABLE public.k AS
SELECT g, l.license_key FROM generate_series(1, $TOTAL) g,
       jobspy.issue_license(('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'pro') l;
VACUUM ANALYZE;
CHECKPOINT;
SQL
secs() {  # secs FROM TO: seconds for the first validation of licences FROM..TO, one statement
    q <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%.3f", $1 / 1000}'
\timing on
SELECT count(*) FILTER (WHERE v.code = 'VALID') FROM public.k, jobspy.validate_license(k.license_key, 'fp-' || k.g) v
 WHERE k.g BETWEEN $1 AND $2;
SQL
}
log "first validation of $WARM fresh licences (warm-up, not counted)"
secs $((SMALL + N + 1)) "$TOTAL" >/dev/null
log "first validation of $SMALL fresh licences"
small=$(secs 1 "$SMALL")
log "first validation of $N fresh licences"
big=$(secs $((SMALL + 1)) $((SMALL + N)))
bound=$(q -c "SELECT count(*) FROM jobspy.license_machines")
ratio=$(awk -v b="$big" -v s="$small" 'BEGIN {printf "%.2f", b / (10 * s)}')
printf '%s licences: %s s (%s ms each); %s licences: %s s (%s ms each); machines bound: %s\n' \
    "$SMALL" "$small" "$(awk -v t="$small" -v n="$SMALL" 'BEGIN {printf "%.3f", 1000 * t / n}')" \
    "$N" "$big" "$(awk -v t="$big" -v n="$N" 'BEGIN {printf "%.3f", 1000 * t / n}')" "$bound"
printf 'ratio (N time / 10 x N/10 time): %s (target <= 1.5)\n' "$ratio"
[ "$bound" -eq "$TOTAL" ] || die "not every licence bound its machine"
awk -v r="$ratio" 'BEGIN {exit !(r <= 1.5)}'
