#!/usr/bin/env bash
# 32 clients open and delete conversations of one user at once, against a
# gauge of 10 live conversations: each client acquires a slot, stores the
# conversation when granted, and deletes some again (the trigger releases
# them).  The counter always equals the conversations that exist, and never
# passed the limit.
set -euo pipefail
db=jobspy_gauges_race

echo "1..4"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d $db <<'SQL'
CREATE EXTENSION jobspy_core;
INSERT INTO jobspy.users (id, email) VALUES ('e2200000-0000-4000-8000-000000000001', 'gauge-race@example.com');
SELECT jobspy.create_plan('gauge_race', 'Gauge race');
SELECT jobspy.set_plan_gauge('gauge_race', 'ai.conversations', 10);
SELECT jobspy.set_user_plan('e2200000-0000-4000-8000-000000000001', 'gauge_race');
CREATE SCHEMA chat;
CREATE TABLE chat.conversations (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL);
CREATE TRIGGER conversations_gauge AFTER DELETE ON chat.conversations
    FOR EACH ROW EXECUTE FUNCTION jobspy.gauge_release_on_delete('ai.conversations');
-- The most conversations that ever existed at once, as each transaction saw them at its commit.
CREATE TABLE chat.peaks (n bigint NOT NULL);
SQL

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/open.sql" <<'SQL'
BEGIN;
WITH c AS (SELECT gen_random_uuid() AS id),
     g AS (SELECT c.id, a.allowed FROM c, jobspy.acquire_gauge('e2200000-0000-4000-8000-000000000001', 'ai.conversations', c.id::text) a)
INSERT INTO chat.conversations (id, user_id) SELECT id, 'e2200000-0000-4000-8000-000000000001' FROM g WHERE allowed;
INSERT INTO chat.peaks SELECT held FROM jobspy.gauge_counters WHERE gauge = 'ai.conversations';
COMMIT;
\set d random(0, 2)
DELETE FROM chat.conversations WHERE id = (SELECT id FROM chat.conversations WHERE :d = 0 LIMIT 1 FOR UPDATE SKIP LOCKED);
SQL

if pgbench -n -c 32 -j 4 -t 40 -f "$tmp/open.sql" $db >"$tmp/pgbench.log" 2>&1; then
    echo "ok 1 - 32 clients opened and deleted conversations without an error"
else
    echo "not ok 1 - pgbench failed"; sed 's/^/# /' "$tmp/pgbench.log" | tail -20
fi
read -r held holds live peak <<<"$(psql -X -A -t -F ' ' -d $db -c "
    SELECT (SELECT held FROM jobspy.gauge_counters WHERE gauge = 'ai.conversations'),
           (SELECT count(*) FROM jobspy.gauge_holds WHERE gauge = 'ai.conversations'),
           (SELECT count(*) FROM chat.conversations),
           (SELECT max(n) FROM chat.peaks)")"
[ -n "$held" ] && [ "$held" = "$live" ] && echo "ok 2 - the counter equals the conversations that exist ($held)" \
                                       || echo "not ok 2 - counter $held, conversations $live"
[ -n "$held" ] && [ "$holds" = "$live" ] && echo "ok 3 - one hold per conversation" \
                                        || echo "not ok 3 - holds $holds, conversations $live"
[ -n "$peak" ] && [ "$peak" -le 10 ] && echo "ok 4 - never more than the limit held (peak $peak)" \
                                     || echo "not ok 4 - peak $peak over 10"

psql -X -q -d postgres -c "DROP DATABASE $db"
