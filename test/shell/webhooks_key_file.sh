#!/usr/bin/env bash
# The webhook key file: missing (JS601), the wrong size (JS601), or another
# server's (JS602) are errors of a broken setup, raised with their codes and
# no secret in the message; the right file put back makes receive_webhook
# verify again.  Each check runs in a new connection: a backend reads the
# file once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.bash"
db=jobspy_webhooks_key
clock='2030-01-01T00:00:00+00'

echo "1..8"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE EXTENSION pgcrypto;
SELECT jobspy.create_provider('stripe', 'Stripe');
SELECT jobspy.set_provider_secret('stripe', 'whsec_keyfile_secret');
SQL
key="$(q "SELECT current_setting('data_directory')")/jobspy_webhook.key"
keep=$(mktemp); trap 'cp -p "$keep" "$key" 2>/dev/null || true; rm -f "$keep"' EXIT
cp -p "$key" "$keep"

payload='{"id": "evt_key", "object": "event", "type": "customer.created", "created": 1893456000, "data": {"object": {"id": "cus_key", "object": "customer"}}}'
header="t=1893456000,v1=$(q "SELECT encode(hmac('1893456000.' || '$payload', 'whsec_keyfile_secret', 'sha256'), 'hex')")"
# receive: the code, or the SQLSTATE and message of the error.
receive() {
    PGOPTIONS="-c jobspy.clock_override=$clock" psql -X -Atq -d $db -v VERBOSITY=sqlstate -c \
        "SELECT code FROM jobspy.receive_webhook('stripe', '$header', '$payload')" 2>&1 | head -1 || true
}
verbose() {
    PGOPTIONS="-c jobspy.clock_override=$clock" psql -X -Atq -d $db -c \
        "SELECT code FROM jobspy.receive_webhook('stripe', '$header', '$payload')" 2>&1 | head -1 || true
}

rm -f "$key"
check "$(receive)" "ERROR:  JS601" "a missing key file: JS601"
out=$(verbose)
check "$(echo "$out" | grep -c whsec_keyfile_secret)" 0 "the error names no secret ($out)"
check "$(q "SELECT count(*) FROM jobspy.payment_webhooks")" 0 "and stores nothing"

# Written into a copy of the file, so that it keeps the server's owner and mode.
cp -p "$keep" "$key"; head -c 16 /dev/urandom >"$key"
check "$(receive)" "ERROR:  JS601" "a key file of the wrong size: JS601"

head -c 32 /dev/urandom >"$key"   # same file, now 32 other bytes
check "$(receive)" "ERROR:  JS602" "another server's key file: JS602"
check "$(q "SELECT count(*) FROM jobspy.payment_webhooks")" 0 "and stores nothing"

cp -p "$keep" "$key"
check "$(receive)" "ACCEPTED" "the right key file back: the event verifies"
check "$(receive)" "DUPLICATE" "once"
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 || true
