# bench/external/pooled.bash: what pgbouncer_256_clients.sh and
# direct_4_clients.sh share (sourced, not a workload: bench/run runs *.sh).
# pooled_run CLIENTS HOST PORT: pooled_mix.sql from CLIENTS clients for
# BENCH_SECONDS against HOST:PORT; prints transactions per second, or fails
# when any transaction failed.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pooled_run() {
    local out
    out=$(pgbench -n -M simple -c "$1" -j 2 -T "${BENCH_SECONDS:-10}" -h "$2" -p "$3" -U postgres \
                  -D scale="${BENCH_SCALE:-10000}" -f "$here/pooled_mix.sql" bench 2>&1) || {
        echo "$out" | grep -vE "^(transaction type|scaling|query mode|number of (clients|threads)|maximum|duration)" | head -20 >&2; return 1; }
    # every transaction must have run: pgbench counts the failed ones
    if ! grep -qE '^number of failed transactions: 0 ' <<<"$out" && grep -q 'failed transactions' <<<"$out"; then
        echo "$out" | grep -E 'failed|error' | head -5 >&2; return 1
    fi
    sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out"
}
