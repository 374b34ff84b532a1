#!/usr/bin/env bash
# Runs a command with a local DynamoDB-compatible server (moto) started for it on a free
# port, the AWS variables pointing at it, and the server stopped afterwards.
set -euo pipefail
. "$(dirname "$0")/tools.sh"
need_module 'moto.server, werkzeug, flask_cors' 'moto[server]'
port="${MOTO_PORT:-$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
log="$(mktemp)"
"$py" "$(dirname "$0")/moto-server.py" 127.0.0.1 "$port" > "$log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  curl -sf -X POST "http://127.0.0.1:$port/moto-api/reset" > /dev/null 2>&1 && break
  kill -0 $moto_pid 2>/dev/null || { cat "$log" >&2; echo "moto_server did not start" >&2; exit 1; }
  sleep 0.2
done
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_EC2_METADATA_DISABLED=true
"$@"
