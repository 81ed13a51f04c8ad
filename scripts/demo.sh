#!/usr/bin/env bash
# The main job, end to end on one machine: start Kafka, produce a demo stream of JSON events (1 in 1000
# deliberately corrupt), run the pipeline into the embedded ClickHouse engine until it has caught up,
# and print what landed. Set CLICKHOUSE_URL to store into a ClickHouse server instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
COUNT="${DEMO_COUNT:-20000}"
CONFIG=examples/demo.yaml
CLI=(node dist/cli/index.js)

bash scripts/ensure-deps.sh
echo "[demo] building" >&2
npm run -s build
if [[ -n "${CLICKHOUSE_URL:-}" ]]; then bash scripts/services.sh up >/dev/null; else bash scripts/services.sh up kafka >/dev/null; fi
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}"
# A fresh stream, store and consumer group each run, so the summary below is this run's alone.
export KAFKA_GROUP_ID="megaservice-demo-$(date +%s)"
[[ -z "${CLICKHOUSE_URL:-}" ]] && rm -rf .data/demo-chdb
"${CLI[@]}" demo-produce --brokers "$KAFKA_BROKERS" --topic demo-events --count "$COUNT" \
  --partitions 3 --corrupt-every 1000 --recreate
[[ -n "${CLICKHOUSE_URL:-}" ]] && "${CLI[@]}" query --config "$CONFIG" \
  "DROP TABLE IF EXISTS demo.events" >/dev/null && "${CLI[@]}" query --config "$CONFIG" \
  "DROP TABLE IF EXISTS demo.events_dead_letters" >/dev/null

mkdir -p .data
echo "[demo] running the pipeline until it has caught up (logs: .data/demo.log)" >&2
start=$SECONDS
HTTP_PORT=0 "${CLI[@]}" run --config "$CONFIG" --exit-when-caught-up >.data/demo.log 2>&1 || {
  echo "[demo] the pipeline failed; last log lines:" >&2
  tail -n 20 .data/demo.log >&2
  exit 1
}
secs=$((SECONDS - start))

q() { "${CLI[@]}" query --config "$CONFIG" "$@"; }
stored=$(q -f TSV "SELECT count() FROM demo.events")
dead=$(q -f TSV "SELECT count() FROM demo.events_dead_letters")
echo
echo "== ${COUNT} produced = ${stored} stored + ${dead} dead-lettered (pipeline ran ${secs} s, store: ${CLICKHOUSE_URL:-embedded chDB at .data/demo-chdb})"
echo
echo "== demo.events by event type"
q "SELECT event_type, count() AS events, uniqExact(user_id) AS users, round(sum(amount), 2) AS revenue
   FROM demo.events GROUP BY event_type ORDER BY events DESC"
echo "== a few stored rows"
q "SELECT _partition, _offset, event_id, user_id, event_type, amount, ts FROM demo.events ORDER BY ts LIMIT 5"
echo "== features: demo.user_1m (per user, 1-minute event-time windows), top 5 by revenue"
q "SELECT entity AS user_id, window_start, events, revenue, event_types, last_event
   FROM demo.user_1m FINAL ORDER BY revenue DESC, user_id LIMIT 5"
echo "   $(q -f TSV "SELECT count() FROM demo.user_1m FINAL") feature rows; windows still open at the end stay in state until later events close them"
echo "== features: demo.user_sessions (per user, sessions ending after 3 minutes without events), the longest 5"
q "SELECT entity AS user_id, window_start, window_end, events, revenue, first_event, last_event
   FROM demo.user_sessions FINAL ORDER BY events DESC, user_id LIMIT 5"
echo "== dead letters (stage, reason, raw value)"
q "SELECT _partition, _offset, stage, reason, value FROM demo.events_dead_letters ORDER BY _offset LIMIT 5"
if [[ "$((stored + dead))" != "$COUNT" ]]; then
  echo "[demo] MISMATCH: produced ${COUNT}, accounted for $((stored + dead))" >&2
  exit 1
fi
echo "Query it yourself: node dist/cli/index.js query --config $CONFIG \"SELECT ...\""
