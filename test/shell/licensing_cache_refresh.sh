#!/usr/bin/env bash
# A cache entry older than jobspy.licensing_cache_seconds (1 s here) whose
# user's generation has not moved is renewed when its rows are still the
# versions it was read from (fetched by TID, no index search), and read
# again from the tables when a write made without triggers changed the
# licence, the machine or the user, or deleted the licence and VACUUM cut
# the table short.  Index searches counted from pg_stat_user_indexes show
# which way each validation went; every q is a new connection, whose
# statistics are in when it exits.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_refresh

echo "1..13"
licences_db 1 refresh
q "ALTER DATABASE $db SET jobspy.licensing_cache_seconds = 1" >/dev/null
q "UPDATE jobspy.licenses SET max_machines = 1" >/dev/null

v() { q "SELECT v.code FROM public.k, jobspy.validate_license(k.license_key, '$1') v"; }
searches() {
    q "SELECT sum(idx_scan) FROM pg_stat_user_indexes
        WHERE schemaname = 'jobspy' AND relname IN ('licenses', 'users', 'license_machines')"
}
replica() { psql -X -Atq -v ON_ERROR_STOP=1 -d "$db" -c "SET session_replication_role = replica" -c "$1" >/dev/null; }
stale() { sleep 1.3; }

check "$(v fp-a) $(v fp-a)" "VALID VALID" "the first validation binds fp-a; the entry holds the licence and its machine"
stale
before=$(searches)
check "$(v fp-a)" VALID "a stale entry whose rows are unchanged answers"
check "$(searches)" "$before" "renewed by fetching its three rows by TID: no index search"
check "$(v fp-a) $(searches)" "VALID $before" "and it is current again: the next validation is a hit"

replica "UPDATE jobspy.licenses SET status = 'suspended'"
stale
check "$(v fp-a)" SUSPENDED "a licence suspended without triggers: the stale entry's row version is gone, the tables are read"
q "UPDATE jobspy.licenses SET status = 'active'" >/dev/null
check "$(v fp-a)" VALID "reinstated through the triggers: VALID at once"

replica "UPDATE jobspy.license_machines SET fingerprint = 'fp-z'"
stale
check "$(v fp-a)" TOO_MANY_MACHINES \
    "its machine renamed without triggers: the machine's version is gone, and fp-a finds no seat"
q "UPDATE jobspy.license_machines SET fingerprint = 'fp-a'" >/dev/null

check "$(v fp-a)" VALID "the machine renamed back through the triggers: VALID"
replica "UPDATE jobspy.users SET status = 'suspended'"
stale
check "$(v fp-a)" USER_SUSPENDED "its user suspended without triggers: the user row's version is gone"
q "UPDATE jobspy.users SET status = 'active'" >/dev/null

# A licence deleted without triggers, VACUUM frees its slot and a new
# licence takes that very TID: the TID alone would renew the entry with
# another licence's row; its xmin tells them apart.
q "CREATE TABLE public.k2 AS SELECT * FROM jobspy.issue_license(jobspy.create_user('reuse@licensing.test'), 'pro')" >/dev/null
q "VACUUM FULL jobspy.licenses" >/dev/null   # two rows, packed: the second one's slot is the last
v2() { q "SELECT v.code FROM public.k2, jobspy.validate_license(k2.license_key, 'fp-b') v"; }
check "$(v2) $(v2)" "VALID VALID" "a second licence fills its entry"
tid=$(q "SELECT ctid FROM jobspy.licenses WHERE id = (SELECT license_id FROM public.k2)")
replica "DELETE FROM jobspy.licenses WHERE id = (SELECT license_id FROM public.k2)"
q "VACUUM jobspy.licenses" >/dev/null
q "CREATE TABLE public.k3 AS SELECT * FROM jobspy.issue_license(jobspy.create_user('taker@licensing.test'), 'pro')" >/dev/null
check "$(q "SELECT ctid FROM jobspy.licenses WHERE id = (SELECT license_id FROM public.k3)")" "$tid" \
    "a new licence's row took the deleted one's TID $tid"
stale
check "$(v2)" NOT_FOUND "the deleted licence's stale entry is not renewed from the row now at its TID"

# The licence deleted without triggers and the table vacuumed empty: the
# stale entry's TID is past the table's end, which is no error.
v fp-a >/dev/null
replica "DELETE FROM jobspy.licenses"   # both that are left
q "VACUUM jobspy.licenses" >/dev/null
stale
check "$(v fp-a 2>&1) $(q "SELECT pg_relation_size('jobspy.licenses')")" "NOT_FOUND 0" \
    "the licence deleted without triggers and its table truncated by VACUUM: NOT_FOUND"

psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
