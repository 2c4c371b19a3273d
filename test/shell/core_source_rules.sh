#!/usr/bin/env bash
# Rules of the C sources that a reader relies on (docs/development.md):
# no function body is longer than 120 lines, so that each one does one
# step a reader can hold at once.  Functions are found in PostgreSQL's own
# layout (pgindent): the name at the start of a line, the body from a "{"
# in the first column to the next "}" there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
max=120

echo "1..1"
long=$(for f in "$root"/src/*.c "$root"/fuzz/*.c "$root"/bench/floor/*.c; do
    [ -e "$f" ] || continue
    awk -v max=$max -v file="${f#"$root"/}" '
        /^[A-Za-z_][A-Za-z0-9_]*\(/ { name = $0; sub(/\(.*/, "", name) }
        /^\{/ { start = FNR; inbody = 1 }
        /^\}/ && inbody { lines = FNR - start - 1; if (lines > max) print file ": " name " (" lines " lines)"; inbody = 0 }
    ' "$f"
done)
if [ -z "$long" ]; then
    echo "ok 1 - no C function body is longer than $max lines"
else
    echo "not ok 1 - C functions longer than $max lines:"
    sed 's/^/# /' <<<"$long"
fi
