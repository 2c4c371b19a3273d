#!/usr/bin/env bash
# BIP-340's published test vectors (test/data/bip340_test_vectors.csv, from
# bitcoin/bips) through jobspy.schnorr_verify: every vector's verification
# result, as published, one TAP line each.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
db=jobspy_identity_bip340
csv="$here/../data/bip340_test_vectors.csv"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
CREATE TABLE v (idx int, secret_key text, public_key text, aux_rand text, message text,
                signature text, verification_result boolean, comment text);
\copy v FROM '$csv' WITH (FORMAT csv, HEADER true)
SQL
total=$(q "SELECT count(*) FROM v")
echo "1..$((total + 2))"
check "$total" 19 "the CSV holds BIP-340's 19 vectors"
check "$(q "SELECT count(*) FILTER (WHERE verification_result) || '/' || count(*) FILTER (WHERE NOT verification_result) FROM v")" \
      "9/10" "9 of them verify and 10 must be refused"
q "SELECT idx, verification_result,
          jobspy.schnorr_verify(decode(public_key, 'hex'), decode(coalesce(message, ''), 'hex'), decode(signature, 'hex')),
          coalesce(nullif(comment, ''), 'message of ' || coalesce(length(message), 0) / 2 || ' bytes')
     FROM v ORDER BY idx" |
while IFS='|' read -r idx want got comment; do
    check "$got" "$want" "vector $idx: $comment"
done
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
