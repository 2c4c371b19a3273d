#!/usr/bin/env bash
# A validation cache smaller than the licences validated: the server runs
# with jobspy.licensing_cache_entries = 16, one set of 16 ways, and 40
# licences are validated in turn, each in its own transaction.  A full set
# gives up the entry loaded longest ago, so the 16 loaded last stay and are
# answered from the cache, and the others are read from the tables: the
# answers stay right either way.  Changes made without triggers
# (session_replication_role = replica) show which answers came from the
# cache.
. ../../tools/lib.sh
. ./tap.bash
set +e
db=jobspy_lic_cache_full
# pass FIRST LAST STEP: validate licences FIRST..LAST, one transaction each; prints "g code" lines.
pass() {
    for g in $(seq "$1" "$3" "$2"); do
        echo "SELECT $g, v.code FROM public.k, jobspy.validate_license(k.license_key, 'fp-' || k.g) v WHERE k.g = $g;"
    done | psql -X -Atq -F ' ' -v ON_ERROR_STOP=1 -d $db
}

echo "1..6"
restart_with jobspy.licensing_cache_entries=16
check "$(psql -X -Atq -d postgres -c 'SHOW jobspy.licensing_cache_entries')" 16 "the cache has 16 entries: one set"
licences_db 40 cachefull

answers=$( { pass 1 40 1; pass 1 40 1; } | awk '{print $2}' | sort | uniq -c | awk '{print $2 "=" $1}')
check "$answers" "VALID=80" "two passes over 40 licences through 16 entries: every answer VALID (machines bound on the first)"

psql -X -Atq -v ON_ERROR_STOP=1 -d $db -c "SET session_replication_role = replica" \
    -c "UPDATE jobspy.licenses SET status = 'suspended'" >/dev/null
# Backwards: the 16 entries loaded last (licences 25 to 40) are used before any miss replaces one.
back=$(pass 40 1 -1)
check "$(echo "$back" | awk '$2 == "VALID" {print $1}' | sort -n | tr '\n' ' ')" \
    "25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 " \
    "after a change made without triggers, the 16 licences loaded last are answered from the cache"
check "$(echo "$back" | awk '$2 == "SUSPENDED"' | wc -l)" 24 \
    "the 24 loaded before them were given up and are read from the tables: SUSPENDED"

psql -X -Atq -v ON_ERROR_STOP=1 -d $db -c "UPDATE jobspy.licenses SET status = 'active'" >/dev/null
check "$(pass 1 40 1 | awk '$2 == "VALID"' | wc -l)" 40 \
    "reinstated through the triggers: every licence answers VALID again, cached or not"
check "$(pass 1 40 1 | awk '$2 == "VALID"' | wc -l)" 40 "and again, with entries replaced on the way"

psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
restart_with
