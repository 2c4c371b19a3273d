#!/usr/bin/env bash
# The validation cache is one, in shared memory, for every backend
# (src/license_cache.c): what one connection read answers a new connection
# that never validated the key, and it stays exact across connections: a
# committed suspension, a machine's deactivation and a retired hash key
# are seen by the very next validation of any connection, a change to the
# tables' definitions ends every entry read before it (VACUUM and ANALYZE
# do not), entries never cross
# databases, and a licence or fingerprint too big for an entry is
# still validated correctly (from the tables).  Changes made without
# triggers (session_replication_role = replica) show which answers came
# from the cache.  Every q is a new connection; A stays open.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_shared
db2=jobspy_lic_shared_copy

echo "1..27"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS $db2" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<SQL
CREATE EXTENSION jobspy_core;
ALTER DATABASE $db SET jobspy.licensing_cache_seconds = 5;
CREATE TABLE public.k AS
SELECT l.* FROM jobspy.issue_license(jobspy.create_user('shared@licensing.test'), 'pro', max_machines => 1) l;
SQL
# The same rows, hash keys and table oids in another database.
psql -X -q -d postgres -c "CREATE DATABASE $db2 TEMPLATE $db"

# v TABLE FINGERPRINT: the code of one validation on a new connection (db=... to pick the database).
v() { q "SELECT v.code FROM public.$1, jobspy.validate_license($1.license_key, '$2') v"; }
# va TABLE FINGERPRINT: the same on connection A.
va() { a "SELECT v.code FROM public.$1, jobspy.validate_license($1.license_key, '$2') v;"; }
# replica SQL: a write that fires no trigger, so no generation moves.
replica() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$db" -c "SET session_replication_role = replica" -c "$1" >/dev/null; }

session_open $db
check "$(va k fp-a) $(va k fp-a)" "VALID VALID" "A validates twice: it fills the shared entry, machine included"

replica "UPDATE jobspy.licenses SET status = 'suspended' WHERE id = (SELECT license_id FROM public.k);
         UPDATE jobspy.license_machines SET fingerprint = 'fp-z' WHERE license_id = (SELECT license_id FROM public.k)"
check "$(v k fp-a)" VALID \
    "a new connection that never validated the key is answered from A's entry (licence and machine)"
check "$(PGOPTIONS='-c jobspy.licensing_cache_seconds=0' v k fp-a)" SUSPENDED \
    "with the cache off, the same call reads the tables: the licence is suspended"
sleep 5.2
check "$(v k fp-a)" SUSPENDED "once the entry is jobspy.licensing_cache_seconds old, a new connection reads the tables"
q "UPDATE jobspy.licenses SET status = 'active' WHERE id = (SELECT license_id FROM public.k);
   UPDATE jobspy.license_machines SET fingerprint = 'fp-a' WHERE license_id = (SELECT license_id FROM public.k)"
check "$(v k fp-a)" VALID "restored through the triggers: the next new connection sees it at once"

# Entries never cross databases: the copy has the same key hashes and table oids.
psql -X -Atq -d $db2 -c "SET session_replication_role = replica" \
    -c "UPDATE jobspy.licenses SET status = 'suspended' WHERE id = (SELECT license_id FROM public.k)" >/dev/null
check "$(db=$db2 v k fp-a)" SUSPENDED "the copy of the database is not answered from the original's entry"

# A committed suspension, seen by the next validation of a connection that did not fill the entry.
check "$(v k fp-a) $(va k fp-a)" "VALID VALID" "a new connection fills the entry again; A is answered from it"
q "SELECT jobspy.suspend_license(license_id) FROM public.k" >/dev/null
check "$(va k fp-a)" SUSPENDED "another connection suspends the licence: A's very next validation sees it"
check "$(v k fp-a)" SUSPENDED "and so does a new connection's"
q "SELECT jobspy.reinstate_license(license_id) FROM public.k" >/dev/null
check "$(v k fp-a) $(va k fp-a)" "VALID VALID" "reinstated: VALID everywhere"

# VACUUM and ANALYZE of the tables leave the entries (they rewrite no
# definition); an ALTER TABLE of one ends every entry read before it.
replica "UPDATE jobspy.licenses SET status = 'suspended' WHERE id = (SELECT license_id FROM public.k)"
check "$(v k fp-a)" VALID "a change made without triggers: a new connection is answered from the entry"
q "VACUUM ANALYZE jobspy.licenses, jobspy.users, jobspy.license_machines" >/dev/null
check "$(va k fp-a) $(v k fp-a)" "VALID VALID" \
    "after VACUUM ANALYZE of the tables, A (which saw their invalidations) and a new connection are still answered from the entry"
q "ALTER TABLE jobspy.licenses SET (fillfactor = 100)" >/dev/null
check "$(v k fp-a)" SUSPENDED "after an ALTER TABLE of licenses, the entry is gone for every connection"
q "UPDATE jobspy.licenses SET status = 'active' WHERE id = (SELECT license_id FROM public.k)"

# A machine deactivated (and its seat taken) in one connection.
q "CREATE TABLE public.k7 AS SELECT * FROM jobspy.issue_license(jobspy.create_user('machines@licensing.test'), 'pro', max_machines => 1)" >/dev/null
check "$(va k7 fp-1) $(va k7 fp-1)" "VALID VALID" "A validates machine fp-1 (now in the shared entry)"
check "$(v k7 fp-1)" VALID "a new connection: VALID"
q "SELECT jobspy.deactivate_machine(license_id, 'fp-1'), jobspy.activate_machine(license_id, 'fp-2') IS NOT NULL FROM public.k7" >/dev/null
check "$(v k7 fp-1)" TOO_MANY_MACHINES "fp-1 deactivated and its seat taken: a new connection's next validation sees it"
check "$(va k7 fp-1)" TOO_MANY_MACHINES "and A's"

# Too big for an entry: features over 192 bytes, a fingerprint over 64.
q "CREATE TABLE public.k5 AS SELECT * FROM jobspy.issue_license(jobspy.create_user('big@licensing.test'), 'enterprise',
       features => (SELECT jsonb_agg('feature-number-' || n) FROM generate_series(1, 40) n))" >/dev/null
big="SELECT v.code || ' ' || (v.features = l.features) || ' ' || (pg_column_size(l.features) > 192)
       FROM public.k5 JOIN jobspy.licenses l ON l.id = k5.license_id, jobspy.validate_license(k5.license_key, 'fp-1') v"
check "$(a "$big;") $(a "$big;") $(q "$big")" "VALID true true VALID true true VALID true true" \
    "a licence with features over 192 bytes validates, features whole, on A and on a new connection"
replica "UPDATE jobspy.licenses SET status = 'suspended' WHERE id = (SELECT license_id FROM public.k5)"
check "$(v k5 fp-1)" SUSPENDED "it is not cached: even a change made without triggers is seen at once"
long=$(printf 'f%.0s' $(seq 1 100))
q "CREATE TABLE public.k6 AS SELECT * FROM jobspy.issue_license(jobspy.create_user('longfp@licensing.test'), 'pro', max_machines => 1)" >/dev/null
check "$(va k6 "$long") $(va k6 "$long") $(v k6 "$long")" "VALID VALID VALID" "a 100-byte fingerprint validates on A and on a new connection"
replica "UPDATE jobspy.license_machines SET fingerprint = 'renamed' WHERE license_id = (SELECT license_id FROM public.k6)"
check "$(v k6 "$long")" TOO_MANY_MACHINES "it is not cached: its machine, renamed without triggers, is gone at once"

# A retired hash key.  Only A has loaded the licensing tables' oids, and A
# is idle: nothing clears the cache when the key is retired, so the entry
# A filled stays in place; the hash it was found under must still not answer.
q "CREATE TABLE public.k4 AS SELECT * FROM jobspy.issue_license(jobspy.create_user('rot@licensing.test'), 'pro')" >/dev/null
q "SELECT jobspy.rotate_hash_key()" >/dev/null
check "$(va k4 fp-1) $(va k4 fp-1) $(v k4 fp-1)" "VALID VALID VALID" \
    "a licence hashed under the previous hash key validates on A (filling the entry) and on a new connection"
q "SELECT jobspy.retire_hash_key(key_id) FROM jobspy.hash_keys WHERE state = 'verify'" >/dev/null
check "$(v k4 fp-1)" NOT_FOUND "that key retired: a new connection is not answered through it from the shared entry"
check "$(va k4 fp-1)" NOT_FOUND "nor is A"

# What A's open transaction wrote without triggers (nothing marks it as
# having changed the tables) is read by A's own validation, but never
# reaches the cache the other connections read.
q "CREATE TABLE public.k8 AS SELECT * FROM jobspy.issue_license(jobspy.create_user('uncommitted@licensing.test'), 'pro')" >/dev/null
q "SELECT jobspy.activate_machine(license_id, 'fp-1') FROM public.k8" >/dev/null   # no seat to take later
say "BEGIN;"
say "SET LOCAL session_replication_role = replica;"
say "UPDATE jobspy.licenses SET status = 'revoked' WHERE id = (SELECT license_id FROM public.k8);"
check "$(va k8 fp-1)" REVOKED "A revokes a licence without triggers and sees it in its open transaction"
check "$(v k8 fp-1)" VALID "a new connection is not answered with A's uncommitted revocation"
say "ROLLBACK;"
check "$(v k8 fp-1) $(va k8 fp-1)" "VALID VALID" "rolled back: VALID everywhere"

session_close
psql -X -q -d postgres -c "DROP DATABASE $db" -c "DROP DATABASE $db2" >/dev/null
