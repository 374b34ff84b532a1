# Sourced by the scripts that test `make dev` for real (e2e.sh, fuzz.sh): starts it on the
# spare ports given, with a fresh SQLite file and its Graph API stand-in, stops everything
# on exit, and waits until every function answers.
#   DEV_UP_PORT, DEV_UP_MOTO_PORT, DEV_UP_PG_PORT, DEV_UP_GRAPH_PORT, DEV_UP_OPENAI_PORT:
#   the ports;
#   DEV_UP_NAME: the log prefix.
work="$(mktemp -d)"
export DEV_PORT="$DEV_UP_PORT" DEV_MOTO_PORT="$DEV_UP_MOTO_PORT" WIIZO_SQLITE_PATH="$work/dev.sqlite"
export DEV_PG_PORT="${DEV_UP_PG_PORT:-9134}"
# make dev starts its Graph API stand-in on this port.
export META_GRAPH_URL="http://127.0.0.1:$DEV_UP_GRAPH_PORT/v21.0"
export OPENAI_BASE_URL="http://127.0.0.1:$DEV_UP_OPENAI_PORT/v1"
base="http://127.0.0.1:$DEV_UP_PORT/lambda-url"
echo "$DEV_UP_NAME: make dev on ${STORE:-sqlite}, port $DEV_UP_PORT"

scripts/dev.sh > "$work/dev.log" 2>&1 &
dev_pid=$!
dev_down() {
  # DEV_UP_KEEP_LOG: where make dev's output is kept after the run.
  [ -z "${DEV_UP_KEEP_LOG:-}" ] || cp "$work/dev.log" "$DEV_UP_KEEP_LOG" 2>/dev/null || true
  # make dev stops everything it started when told to (Ctrl-C in a terminal; a
  # background job here ignores SIGINT, so TERM): nothing of it may keep a port.
  kill -TERM "$dev_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.1; done
  local left=""
  for port in "$DEV_UP_PORT" "$DEV_UP_MOTO_PORT" "$DEV_PG_PORT" "$DEV_UP_GRAPH_PORT" "$DEV_UP_OPENAI_PORT"; do
    ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && left="$left $port"
  done
  # What would be left is cleaned up all the same, and the run fails.
  pkill -f "cargo-lambda lambda watch -A 127.0.0.1 -P $DEV_UP_PORT" 2>/dev/null || true
  pkill -f "moto-server.py 127.0.0.1 $DEV_UP_MOTO_PORT" 2>/dev/null || true
  pkill -f -- "-p $DEV_PG_PORT -k" 2>/dev/null || true
  pkill -f "fake-graph.py 127.0.0.1 $DEV_UP_GRAPH_PORT" 2>/dev/null || true
  pkill -f "fake-openai.py 127.0.0.1 $DEV_UP_OPENAI_PORT" 2>/dev/null || true
  rm -rf "$work"
  if [ -n "$left" ]; then
    echo "$DEV_UP_NAME: make dev, stopped, left ports$left listening" >&2
    exit 1
  fi
}
trap dev_down EXIT

fail() { echo "$DEV_UP_NAME: $*" >&2; echo "--- make dev's output:" >&2; tail -n 40 "$work/dev.log" >&2; exit 1; }

# The first request to each function compiles and starts it: allow for that.
for _ in $(seq 1 300); do
  curl -sf "$base/leads-management/health" > /dev/null 2>&1 && break
  kill -0 "$dev_pid" 2>/dev/null || fail "make dev exited"
  sleep 1
done
for f in leads-management whatsapp-api webhooks openai-proxy analytics accounts; do
  for _ in $(seq 1 120); do
    curl -sf "$base/$f/health" > /dev/null 2>&1 && break
    sleep 1
  done
done
grep -m1 '^serving' "$work/dev.log" | sed "s/^/$DEV_UP_NAME: /"
