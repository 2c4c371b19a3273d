#!/usr/bin/env bash
# Keys that match no licence are remembered in shared memory (the negative
# cache, src/license_cache.c), and a remembered miss never hides a licence
# that is issued or re-keyed afterwards: not on the connection that missed
# (A stays open), not on a new one.  A write made without triggers
# (session_replication_role = replica) moves no generation, which shows
# that the misses are really answered from the cache.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_negative

echo "1..8"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
ALTER DATABASE $db SET jobspy.licensing_cache_seconds = 30;
CREATE TABLE public.u AS SELECT jobspy.create_user('negative@licensing.test') AS id;
CREATE TABLE public.k AS SELECT jobspy.generate_license_key() AS key, jobspy.generate_license_key() AS key2;
SQL

v() { q "SELECT v.code FROM public.k, jobspy.validate_license(k.$1, 'fp-1') v"; }
va() { a "SELECT v.code FROM public.k, jobspy.validate_license(k.$1, 'fp-1') v;"; }
# issue KEYCOLUMN [replica]: a licence whose key is that column's, as issue_license writes it.
issue() {
    psql -X -Atq -v ON_ERROR_STOP=1 -d $db ${2:+-c "SET session_replication_role = replica"} -c "
        INSERT INTO jobspy.licenses (user_id, license_key_hash, license_key_hint, license_type)
        SELECT u.id, jobspy.secret_hash('license', k.$1), right(k.$1, 4), 'pro' FROM public.u, public.k" >/dev/null
}

session_open $db
check "$(va key) $(va key) $(v key)" "NOT_FOUND NOT_FOUND NOT_FOUND" "an unknown key: NOT_FOUND on A, twice, and on a new connection"
issue key replica
check "$(va key) $(v key)" "NOT_FOUND NOT_FOUND" \
    "a licence written without triggers: A and a new connection are still answered from the remembered miss"
check "$(PGOPTIONS='-c jobspy.licensing_cache_seconds=0' v key)" VALID "with the cache off the key is found"

check "$(va key2) $(va key2)" "NOT_FOUND NOT_FOUND" "A misses a second key twice (remembered)"
issue key2
check "$(va key2)" VALID "a licence issued with that key on another connection: A's very next validation finds it"
check "$(v key2)" VALID "and a new connection's"

# Re-keyed: the licence's hash moves away and back through triggers.
q "UPDATE jobspy.licenses SET license_key_hash = jobspy.secret_hash('license', 'moved') WHERE license_key_hint = right((SELECT key2 FROM public.k), 4)"
check "$(va key2) $(va key2)" "NOT_FOUND NOT_FOUND" "the key re-hashed away: A misses, twice"
q "UPDATE jobspy.licenses SET license_key_hash = jobspy.secret_hash('license', (SELECT key2 FROM public.k)) WHERE license_key_hint = right((SELECT key2 FROM public.k), 4)"
check "$(va key2)" VALID "hashed back on another connection: A finds it at once"
session_close
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
