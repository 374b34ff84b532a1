#!/usr/bin/env bash
# `make dev`: every function under `cargo lambda watch`, on the local SQLite store, or with
# STORE=dynamodb on a local DynamoDB server (moto) started and stopped with it, or with
# STORE=postgres on DATABASE_URL or a throw-away PostgreSQL cluster started and stopped
# with it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
. scripts/tools.sh
if [ -n "${WIIZO_DEV_CLUSTER:-}" ] && [ -z "${WIIZO_DEV_CLUSTER_UP:-}" ]; then
  # Again, inside a cluster of its own on PG_PORT (scripts/with-postgres.sh).
  export WIIZO_DEV_CLUSTER_UP=1
  DATABASE_URL='' exec scripts/with-postgres.sh "$0" "$@"
fi
# Ctrl-C (or any exit) stops everything started here, children included: cargo lambda
# watch's functions, the worker under cargo run, the stand-ins, the DynamoDB server.
descendants() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do descendants "$c"; echo "$c"; done; }
stop_all() {
  trap - EXIT INT TERM
  local pids
  pids="$(descendants $$)"
  [ -z "$pids" ] && return 0
  kill $pids 2>/dev/null || true
  local p left
  for _ in $(seq 1 50); do
    left=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
    [ -z "$left" ] && break
    sleep 0.1
  done
  [ -z "$left" ] || kill -9 $left 2>/dev/null || true
  echo "make dev: stopped" >&2
}
trap stop_all EXIT
trap 'exit 130' INT TERM
need_command cargo-lambda cargo-lambda
if [ "$WIIZO_STORE" = dynamodb ]; then
  need_module 'moto.server, werkzeug, flask_cors' 'moto[server]'
  port="${AWS_ENDPOINT_URL_DYNAMODB##*:}"
  "$py" "$(dirname "$0")/moto-server.py" 127.0.0.1 "$port" > /dev/null 2>&1 &
  moto_pid=$!
  for _ in $(seq 1 100); do
    curl -sf -X POST "$AWS_ENDPOINT_URL_DYNAMODB/moto-api/reset" > /dev/null 2>&1 && break
    kill -0 $moto_pid 2>/dev/null || { echo "moto_server did not start on port $port" >&2; exit 1; }
    sleep 0.2
  done
  where="DynamoDB table $WIIZO_TABLE at $AWS_ENDPOINT_URL_DYNAMODB (moto, in memory: its data goes when make dev stops)"
elif [ "$WIIZO_STORE" = postgres ]; then
  where="PostgreSQL $DATABASE_URL"
  [ -z "${WIIZO_DEV_CLUSTER_UP:-}" ] || where="$where (a throw-away cluster: its data goes when make dev stops; set DATABASE_URL to keep yours)"
else
  where="SQLite $WIIZO_SQLITE_PATH"
fi
# Local stand-ins for Meta's Graph API and for OpenAI when their URLs point at this machine
# (dev.env's defaults), so that connecting a channel, sending and AI calls work offline.
stand_in() { # url script what
  case "$1" in
    http://127.0.0.1:*)
      local port="${1#http://127.0.0.1:}"
      port="${port%%/*}"
      if ! curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
        "$py" "$(dirname "$0")/$2" 127.0.0.1 "$port" > /dev/null 2>&1 &
        echo "a stand-in $3 (scripts/$2) answers at $1" >&2
      fi
      ;;
  esac
}
stand_in "$META_GRAPH_URL" fake-graph.py "Graph API"
stand_in "$OPENAI_BASE_URL" fake-openai.py "OpenAI API"
# openai-proxy streams as its Function URL does in production (cargo lambda relays it).
export WIIZO_STREAMING=1
cargo run --quiet -p shared --bin wiizo -- migrate >&2
# The outbox worker, against the same store: events reach the outbound webhooks within a
# quarter of a second.
cargo run --quiet -p events-worker -- --loop &
base="http://${DEV_HOST:-127.0.0.1}:${DEV_PORT:-9000}/lambda-url"
echo "serving every function at $base/<function>/… on $where" >&2
echo "make dev: starting (a first run builds every function: a few minutes)…" >&2
cargo lambda watch -A "${DEV_HOST:-127.0.0.1}" -P "${DEV_PORT:-9000}" &
watch_pid=$!
# Once every function answers its health route, what a user needs to start.
(
  functions=(leads-management whatsapp-api webhooks openai-proxy analytics accounts)
  for f in "${functions[@]}"; do
    until curl -sf -o /dev/null "$base/$f/health"; do sleep 1; done
  done
  token="make token"
  [ "$WIIZO_STORE" = sqlite ] || token="make token STORE=$WIIZO_STORE"
  {
    echo
    echo "WiizoChat is up. Store: $where"
    for f in "${functions[@]}"; do printf '  %-17s %s/%s/\n' "$f" "$base" "$f"; done
    printf '  %-17s %s\n' "API docs" "$base/accounts/docs"
    printf '  %-17s %s\n' "a token" "$token   (COMPANY=<id> ROLE=owner|admin|agent|viewer)"
    printf '  %-17s %s\n' "stop" "Ctrl-C: stops the functions, the worker, the stand-ins and the store's server"
    echo
  } >&2
) &
wait $watch_pid
