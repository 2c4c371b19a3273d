#!/usr/bin/env bash
# The benchmark runs end to end on a tiny fixture: every workload completes
# and produces a rate, and the report has its tables, the WAL a write
# transaction puts out among them.  (Rates and ratios are measured by
# bench/run itself, never judged here.)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp); trap 'rm -f "$out"' EXIT
echo "1..5"
if BENCH_NO_BUILD=1 BENCH_EXTERNAL=0 "$here/../../bench/run" --quick >"$out" 2>&1; then
    echo "ok 1 - bench/run --quick exits 0"
else
    echo "not ok 1 - bench/run --quick failed"; tail -20 "$out" | sed 's/^/# /'
fi
n_workloads=$(ls "$here"/../../bench/workloads/*.sql | wc -l)
rows=$(grep -cE '^\| [a-z0-9_]+ +\| +[0-9]+ \| [0-9 ]+\|$' "$out")
[ "$rows" -eq "$n_workloads" ] && echo "ok 2 - a rate for each of the $n_workloads workloads" \
    || echo "not ok 2 - $rows rates for $n_workloads workloads"
zero=$(grep -E '^\| [a-z0-9_]+ +\| +0 \|' "$out" || true)
[ -z "$zero" ] && echo "ok 3 - no workload failed (rate 0)" || { echo "not ok 3 - failed workloads"; echo "$zero" | sed 's/^/# /'; }
grep -qE '^targets met: [0-9]+ of [1-9][0-9]*$' "$out" && echo "ok 4 - the report ends with the targets met" \
    || echo "not ok 4 - no targets line"
# The bare INSERT writes its row, two index entries and a commit: some WAL,
# at most one fsync a transaction.
grep -qE '^\| billing_bare_insert +\| +[1-9][0-9]* \| +[0-9]+\.[0-9] \| +(0\.[0-9]{2}|1\.00) \|$' "$out" &&
    echo "ok 5 - the WAL a bare INSERT writes, per transaction" ||
    { echo "not ok 5 - no WAL row for billing_bare_insert"; grep -A3 'WAL bytes' "$out" | sed 's/^/# /'; }
