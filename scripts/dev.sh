#!/usr/bin/env bash
# `make dev`: every function under `cargo lambda watch`, on the local SQLite store, or with
# STORE=dynamodb on a local DynamoDB server (moto) started and stopped with it, or with
# STORE=postgres on DATABASE_URL or a throw-away PostgreSQL cluster started and stopped
# with it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
if [ -n "${WIIZO_DEV_CLUSTER:-}" ] && [ -z "${WIIZO_DEV_CLUSTER_UP:-}" ]; then
  # Again, inside a cluster of its own on PG_PORT (scripts/with-postgres.sh).
  export WIIZO_DEV_CLUSTER_UP=1
  DATABASE_URL='' exec scripts/with-postgres.sh "$0" "$@"
fi
if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "installing cargo-lambda (pip install cargo-lambda)…" >&2
  python3 -m pip install --quiet cargo-lambda
  hash -r
fi
if [ "$WIIZO_STORE" = dynamodb ]; then
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "installing moto (pip install 'moto[server]')…" >&2
    python3 -m pip install --quiet 'moto[server]'
    hash -r
  fi
  port="${AWS_ENDPOINT_URL_DYNAMODB##*:}"
  python3 "$(dirname "$0")/moto-server.py" 127.0.0.1 "$port" > /dev/null 2>&1 &
  moto_pid=$!
  trap 'kill $moto_pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    curl -sf -X POST "$AWS_ENDPOINT_URL_DYNAMODB/moto-api/reset" > /dev/null 2>&1 && break
    kill -0 $moto_pid 2>/dev/null || { echo "moto_server did not start on port $port" >&2; exit 1; }
    sleep 0.2
  done
  where="DynamoDB table $WIIZO_TABLE at $AWS_ENDPOINT_URL_DYNAMODB"
elif [ "$WIIZO_STORE" = postgres ]; then
  where="PostgreSQL $DATABASE_URL"
  [ -z "${WIIZO_DEV_CLUSTER_UP:-}" ] || where="$where (a throw-away cluster: its data goes when make dev stops; set DATABASE_URL to keep yours)"
else
  where="SQLite $WIIZO_SQLITE_PATH"
fi
# Local stand-ins for Meta's Graph API and for OpenAI when their URLs point at this machine
# (dev.env's defaults), so that connecting a channel, sending and AI calls work offline.
stand_ins=()
stand_in() { # url script what
  case "$1" in
    http://127.0.0.1:*)
      local port="${1#http://127.0.0.1:}"
      port="${port%%/*}"
      if ! curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
        python3 "$(dirname "$0")/$2" 127.0.0.1 "$port" > /dev/null 2>&1 &
        stand_ins+=($!)
        echo "a stand-in $3 (scripts/$2) answers at $1" >&2
      fi
      ;;
  esac
}
stand_in "$META_GRAPH_URL" fake-graph.py "Graph API"
stand_in "$OPENAI_BASE_URL" fake-openai.py "OpenAI API"
trap 'kill ${moto_pid:-} ${stand_ins[*]:-} 2>/dev/null || true' EXIT
# openai-proxy streams as its Function URL does in production (cargo lambda relays it).
export WIIZO_STREAMING=1
cargo run --quiet -p shared --bin wiizo -- migrate >&2
# The outbox worker, against the same store: events reach the outbound webhooks within a
# quarter of a second.
cargo run --quiet -p events-worker -- --loop &
worker_pid=$!
stand_ins+=("$worker_pid")
echo "serving every function at http://${DEV_HOST:-127.0.0.1}:${DEV_PORT:-9000}/lambda-url/<function>/… on $where" >&2
cargo lambda watch -A "${DEV_HOST:-127.0.0.1}" -P "${DEV_PORT:-9000}" &
watch_pid=$!
trap 'kill $watch_pid 2>/dev/null || true; kill ${moto_pid:-} ${stand_ins[*]:-} 2>/dev/null || true' EXIT INT TERM
wait $watch_pid
