#!/usr/bin/env bash
# Baseline: libsecp256k1's BIP-340 verifications per second in one process
# on one core (bench/external/secp256k1_verify.c, built here with -O2).
# Prints the rate, nothing else.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/jobspy-secp.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cc -O2 -o "$dir/verify" "$here/secp256k1_verify.c" -lsecp256k1
"$dir/verify" "${BENCH_SECONDS:-10}"
