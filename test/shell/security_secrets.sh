#!/usr/bin/env bash
# Secrets never leave in text: with every statement logged
# (log_statement = all), errors logged with their statement
# (log_min_error_statement = error) and pg_stat_statements tracking nested
# statements too, a known provider secret, a password, the licence key, the
# session tokens and the keyed hash's keys appear nowhere in the server's
# log, in pg_stat_statements or in any message a client gets, through
# set_provider_secret, receive_webhook (verified, forged, malformed),
# create_user, login (right and wrong), issue_license, validate_license and
# rotate_hash_key, with their error paths.
#
# What a client sends is its own text: a secret written as a literal into
# a logged statement is in the log by the client's doing.  So the calls
# that carry a secret run in a session that logs no statement text
# (log_statement = none, log_min_error_statement = panic, as
# docs/operations.md advises for such callers); everything the extension
# itself does, and everything else, is logged.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_sec_secrets
log=$JOBSPY_TEST_CLUSTER/server.log
finish() { cluster_restart "$JOBSPY_TEST_CLUSTER" "-c log_statement=none" >/dev/null 2>&1; wait_ready; }
trap finish EXIT
cluster_restart "$JOBSPY_TEST_CLUSTER" "-c shared_preload_libraries=jobspy_core,pg_stat_statements \
    -c pg_stat_statements.track=all -c log_statement=all -c log_min_error_statement=error \
    -c log_min_messages=warning -c log_error_verbosity=verbose" && wait_ready
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
q "CREATE EXTENSION jobspy_core" >/dev/null
q "CREATE EXTENSION pg_stat_statements" >/dev/null
q "SELECT pg_stat_statements_reset()" >/dev/null
start=$(stat -c %s "$log")

echo "1..7"
secret="whsec_Sec$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
password="Pw-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# hidden SQL: statements whose text carries a secret, in a session that
# logs no statement text; stdout and stderr (messages, verbose) both kept.
hidden() {
    psql -X -Atq -v VERBOSITY=verbose -d "$db" \
         -c "SET log_statement = none" -c "SET log_min_error_statement = panic" -c "$1" 2>&1
}
msgs=""
q "SELECT jobspy.create_provider('sec', 'Security test', 'stripe')" >/dev/null
msgs+=$(hidden "SELECT jobspy.set_provider_secret('sec', '$secret')")
msgs+=$(hidden "SELECT jobspy.set_provider_secret('no-such-provider', '$secret')")
msgs+=$(hidden "SELECT jobspy.set_provider_secret('sec', '$secret' || repeat('x', 2000))")
msgs+=$(hidden "SELECT jobspy.create_user('sec.user@example.com', '$password')")
msgs+=$(hidden "SELECT jobspy.create_user('sec.user@example.com', '$password')")       # a duplicate: an error
tokens=$(hidden "SELECT session_token || ' ' || refresh_token FROM jobspy.login('sec.user@example.com', '$password')")
msgs+=$(hidden "SELECT * FROM jobspy.login('sec.user@example.com', '$password' || 'x')")  # wrong: an error
uid=$(q "SELECT id FROM jobspy.users WHERE email = 'sec.user@example.com'")
key=$(q "SELECT license_key FROM jobspy.issue_license('$uid', 'pro')")
msgs+=$(hidden "SELECT valid, code FROM jobspy.validate_license('$key', 'fp-1')")
q "SELECT jobspy.rotate_hash_key()" >/dev/null

# The webhook calls carry no secret: they are logged whole.
payload='{"id":"evt_sec_1","object":"event","type":"customer.created","created":1700000000,"data":{"object":{"id":"cus_1","object":"customer"}}}'
t=$(date +%s)
mac=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), (sys.argv[2]+"."+sys.argv[3]).encode(), hashlib.sha256).hexdigest())' \
      "$secret" "$t" "$payload")
codes=$(q "SELECT (jobspy.receive_webhook('sec', 't=$t,v1=$mac', '$payload')).code")
codes+=" $(q "SELECT (jobspy.receive_webhook('sec', 't=$t,v1=$(printf '0%.0s' $(seq 64))', '$payload')).code")"
codes+=" $(q "SELECT (jobspy.receive_webhook('sec', 'v1=zz,t=', '$payload')).code")"
msgs+=$(psql -X -At -v VERBOSITY=verbose -d "$db" -c "SELECT jobspy.receive_webhook('nope', 't=1,v1=00', '{}')" 2>&1)
msgs+=$(psql -X -At -v VERBOSITY=verbose -d "$db" -c "SELECT jobspy.receive_webhook('sec', 't=$t,v1=$mac', 'not json')" 2>&1)
check "$codes" "ACCEPTED BAD_SIGNATURE MALFORMED" \
      "receive_webhook under the secret: the true signature accepted, a forged and a malformed one refused"

# Everything that must not appear, as hex, base64 and text.
hashkeys=$(q "SELECT string_agg(encode(secret, 'hex') || ' ' || encode(secret, 'base64'), ' ') FROM jobspy.hash_keys")
keyhash=$(q "SELECT encode(license_key_hash, 'hex') FROM jobspy.licenses WHERE license_key_hash IS NOT NULL LIMIT 1")
pwhash=$(q "SELECT password_hash FROM jobspy.users WHERE email = 'sec.user@example.com'")
sealed=$(q "SELECT string_agg(encode(sealed, 'hex'), ' ') FROM jobspy.webhook_secrets")
forbidden=("$secret" "$password" "$key" $tokens $hashkeys "$keyhash" "$pwhash" $sealed)
check "$(( $(wc -w <<<"$hashkeys") >= 4 && ${#forbidden[@]} >= 10 ))" 1 \
      "the secrets to look for are known: ${#forbidden[@]} of them, the hash keys among them ($(wc -w <<<"$hashkeys") forms)"
found() {  # found TEXT: the forbidden strings TEXT holds
    local s hits=""
    for s in "${forbidden[@]}"; do [ -n "$s" ] && [[ $1 == *"$s"* ]] && hits+=" ${s:0:12}..."; done
    echo "${hits:-none}"
}
sleep 1
slice=$(tail -c +"$((start + 1))" "$log")
check "$(grep -c 'statement: SELECT (jobspy.receive_webhook' <<<"$slice") $(grep -c 'ERROR' <<<"$slice" | awk '{print ($1 >= 3)}')" "3 1" \
      "the log holds what it should: the logged statements and the errors (so an absence means something)"
check "$(found "$slice")" none "no secret, password, token, licence key or hash key in the server log"
check "$(found "$msgs")" none "nor in any message, detail or hint a client got"
psst=$(q "SELECT string_agg(query, E'\n') FROM pg_stat_statements")
check "$(grep -c 'set_provider_secret\|jobspy.login' <<<"$psst" | awk '{print ($1 >= 2)}')" 1 \
      "pg_stat_statements saw the calls that carried secrets"
check "$(found "$psst")" none "and holds none of the secrets in its text, nested statements included"
q "DROP EXTENSION pg_stat_statements" >/dev/null
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1
