#!/usr/bin/env bash
# A short libFuzzer run (tools/fuzz, 10 s a target, ASan and UBSan) of every
# parser of outside text that has a target in fuzz/; longer runs are
# documented in docs/development.md.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
root=$(cd "$here/../.." && pwd)
mapfile -t targets < <(ls "$root"/fuzz/fuzz_*.c | sed 's/.*fuzz_//; s/\.c$//')
echo "1..${#targets[@]}"
for t in "${targets[@]}"; do
    if log=$("$root/tools/fuzz" "${JOBSPY_FUZZ_SECONDS:-10}" "$t" 2>&1); then
        check ok ok "fuzz $t: $(echo "$log" | grep -oE 'Done [0-9]+ runs' | tail -1), no crash, sanitizer report or broken property"
    else
        check failed ok "fuzz $t"
        echo "$log" | tail -40 | sed 's/^/# /'
    fi
done
