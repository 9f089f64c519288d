#!/bin/bash
# What SQLite's engine alone costs to keep the bench's rows, with nothing of ruvuma around it:
# for each message of the HTTP → SMPP store bench, an inbound and an outbound message row (600 B
# bodies) and an ack (400 B), 20,000 messages a transaction, 8 transactions, in WAL mode with
# synchronous NORMAL, as the store runs. The rows are made by SQL in the same statement, so the
# figure has no binding and no round trip in it; the cost of making them (the same expressions,
# summed instead of stored) is printed apart.
#
#   bash tests/benches/store_sqlite_floor.sh      (needs the sqlite3 command-line tool)
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

messages="CREATE TABLE messages (message_id TEXT NOT NULL, direction TEXT NOT NULL, endpoint TEXT NOT NULL,
  addr TEXT NOT NULL, batch TEXT, status TEXT NOT NULL, status_rank BIGINT NOT NULL, sent_message_id TEXT,
  stored_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, body TEXT NOT NULL"
events="CREATE TABLE events (event_id TEXT NOT NULL, user_message_id TEXT NOT NULL, event_type TEXT NOT NULL,
  status TEXT NOT NULL, status_rank BIGINT NOT NULL, detail TEXT, endpoint TEXT NOT NULL, stored_at BIGINT NOT NULL,
  body TEXT NOT NULL"
keys_m=", PRIMARY KEY (message_id, direction)"
keys_e=", PRIMARY KEY (user_message_id, event_id)"
declare -A schema
schema[no_index]="$messages); $events);"
schema[keys_and_time]="$messages$keys_m); CREATE INDEX messages_stored ON messages (stored_at); $events$keys_e);"
schema[ruvuma_schema]="$messages$keys_m); CREATE INDEX messages_stored ON messages (stored_at);
  CREATE INDEX messages_addr ON messages (addr, stored_at); CREATE INDEX messages_sent ON messages (sent_message_id, stored_at);
  $events$keys_e); CREATE INDEX events_stored ON events (stored_at);"

rows="WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<20000)
  SELECT lower(hex(randomblob(16))) AS a, d.d AS b, d.e AS c, '2782555' || (abs(random()) % 100000) AS f,
    NULL AS g, 'acked' AS h, 2 AS j, CASE d.d WHEN 'out' THEN lower(hex(randomblob(6))) END AS k, i AS l, i AS n,
    printf('%.*c', 600, 'x') AS o
  FROM s, (SELECT 'in' AS d, 'web' AS e UNION ALL SELECT 'out', 'sms') d"
acks="WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<20000)
  SELECT lower(hex(randomblob(16))) AS a, lower(hex(randomblob(16))) AS b, 'ack' AS c, 'acked' AS f, 2 AS g,
    NULL AS h, 'sms' AS j, i AS k, printf('%.*c', 400, 'y') AS o FROM s"
for _ in 1 2 3 4 5 6 7 8; do
  echo "BEGIN; INSERT INTO messages $rows; INSERT INTO events $acks; COMMIT;"
done > write.sql
for _ in 1 2 3 4 5 6 7 8; do
  echo "SELECT sum(length(a) + length(b) + length(f) + ifnull(length(k), 0) + length(o)) FROM ($rows);
    SELECT sum(length(a) + length(b) + length(o)) FROM ($acks);"
done > make.sql

per_message() { # command...: CPU µs (user + system) per message of the 160,000
  { /usr/bin/time -f "%U %S" "$@" >/dev/null; } 2>&1 | tail -1 | awk '{printf "%.1f", ($1 + $2) * 1e6 / 160000}'
}
echo "making the rows alone: $(per_message sqlite3 :memory: ".read make.sql") µs CPU per message"
for name in no_index keys_and_time ruvuma_schema; do
  rm -f store.db*
  sqlite3 store.db "PRAGMA journal_mode = WAL;" "${schema[$name]}" >/dev/null
  cpu=$(per_message sqlite3 store.db "PRAGMA synchronous = NORMAL;" "PRAGMA cache_size = -32768;" \
    "PRAGMA wal_autocheckpoint = 10000;" ".read write.sql")
  echo "$name: $cpu µs CPU per message (making the rows included)"
done
