#!/usr/bin/env bash
# 8 workers consume the outbox at once, each claiming a few events, logging
# them and acking them in a second transaction, as a real worker does.  Every
# event is claimed exactly once, and within one entity an event is never
# claimed before the one before it was acked.  A NOTIFY reaches a waiting
# worker (its last claim found nothing) when an emitting transaction
# commits, and none when it rolls back; a listener that never claimed hears
# nothing.  Without the library preloaded nothing counts waiting workers,
# and every emitting commit notifies (unless outbox.notify is false).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../tools/lib.sh"
. "$here/tap.bash"
db=jobspy_outbox_race
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "1..10"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION jobspy_core;
CREATE SCHEMA race;
CREATE SEQUENCE race.clock;
CREATE TABLE race.log (event_id bigint NOT NULL, entity_id text NOT NULL, claim uuid NOT NULL,
                       pid integer NOT NULL DEFAULT pg_backend_pid(),
                       claim_seq bigint NOT NULL DEFAULT nextval('race.clock'), ack_seq bigint);
-- 40 entities, 25 events each, interleaved.
SELECT count(jobspy.emit_event('race.step', 'thing', 'e' || (g % 40), jsonb_build_object('n', g)))
  FROM generate_series(1, 1000) g;
SQL

cat >"$tmp/worker.sql" <<'SQL'
INSERT INTO race.log (event_id, entity_id, claim) SELECT id, entity_id, claim FROM jobspy.claim_events(5) ORDER BY id;
WITH a AS (UPDATE race.log SET ack_seq = nextval('race.clock') WHERE pid = pg_backend_pid() AND ack_seq IS NULL
           RETURNING event_id, claim)
SELECT jobspy.ack_events(array_agg(event_id), claim) FROM a GROUP BY claim;
SQL
rc=0; pgbench -n -c 8 -j 2 -t 150 -f "$tmp/worker.sql" $db >"$tmp/pgbench.log" 2>&1 || rc=$?
check "$rc" 0 "8 workers ran 1200 claim and ack rounds without an error"
[ "$rc" = 0 ] || sed 's/^/# /' "$tmp/pgbench.log" | tail -20
# Whatever is left (the per-entity order lets only one event of an entity out at a time).
for _ in $(seq 1 40); do
    left=$(q "SELECT count(*) FROM jobspy.outbox_events WHERE consumed_at IS NULL")
    [ "$left" = 0 ] && break
    psql -X -q -d $db -f "$tmp/worker.sql" >/dev/null
done

check "$(q "SELECT count(*) FROM jobspy.outbox_events WHERE consumed_at IS NULL")" 0 "every event was consumed"
check "$(q "SELECT count(*) || '/' || count(DISTINCT event_id) FROM race.log")" "1000/1000" \
      "each of the 1000 events was claimed exactly once"
check "$(q "SELECT count(*) FROM race.log l JOIN race.log nxt ON nxt.entity_id = l.entity_id
             AND nxt.event_id = (SELECT min(event_id) FROM race.log x WHERE x.entity_id = l.entity_id AND x.event_id > l.event_id)
           WHERE nxt.claim_seq < l.ack_seq")" 0 \
      "no event was claimed before the previous event of its entity was acked"
check "$(q "SELECT count(DISTINCT pid) > 1 FROM race.log")" t "the work was shared between workers"

# NOTIFY on commit only, and only to a worker that waits.
heard() {  # heard CLAIM SQL: the payloads a listener (claiming first when CLAIM is "claim") hears while SQL runs
    { echo 'LISTEN jobspy_outbox;'; [ "$1" = claim ] && echo 'SELECT count(*) FROM jobspy.claim_events(10);'
      sleep 1.5; echo 'SELECT 1;'; } | psql -X -q -d $db >"$tmp/listen.out" 2>&1 &
    local lp=$!
    sleep 0.5
    q "$2" >/dev/null
    wait $lp
    grep -o 'payload "[a-z._]*"' "$tmp/listen.out" | tr '\n' ' '
}
check "$(heard claim "BEGIN; SELECT jobspy.emit_event('race.rolled_back', 'thing', 'x'); ROLLBACK;
                      SELECT jobspy.emit_event('race.committed', 'thing', 'x')")" 'payload "race.committed" ' \
      "a waiting worker hears the committed event's topic and nothing of the rolled-back one"
q "SELECT jobspy.ack_events(array_agg(id), claim) FROM jobspy.claim_events(10000) GROUP BY claim" >/dev/null
check "$(heard - "SELECT jobspy.emit_event('race.unheard', 'thing', 'y')")" "" "a listener that never claimed is not notified"

restart_with shared_preload_libraries=
check "$(heard - "SELECT jobspy.emit_event('race.plain', 'thing', 'z')")" 'payload "race.plain" ' \
      "not preloaded: a listener that never claimed is notified"
q "SELECT jobspy.config_set('outbox.notify', 'false')" >/dev/null
check "$(heard - "SELECT jobspy.emit_event('race.off', 'thing', 'z')")" "" "not preloaded, outbox.notify false: no notification"
check "$(q "SELECT count(*) FROM jobspy.outbox_events WHERE topic = 'race.off'")" 1 "but the event is written"
restart_with
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1 || true
