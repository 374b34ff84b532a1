#!/usr/bin/env bash
# make fuzz: schemathesis against `make dev` on SQLite, every function with routes, all
# phases (examples, coverage, fuzzing, stateful) and all checks, as a seeded company with a
# second company as the peer of the object-level authorization check. A fixed seed unless
# FUZZ_SEED is given; FUZZ_EXAMPLES cases per operation and phase (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each function's report, and make dev's output, stay in $logs for reading after the run.

. scripts/tools.sh
ST_VERSION=4.32.5
need_module schemathesis "schemathesis==$ST_VERSION" "schemathesis.__version__ == '$ST_VERSION'"

logs="${TMPDIR:-/tmp}/wiizo-fuzz"
rm -rf "$logs" && mkdir -p "$logs"
DEV_UP_KEEP_LOG="$logs/dev.log" DEV_UP_NAME=fuzz DEV_UP_PORT="${FUZZ_PORT:-9130}" DEV_UP_MOTO_PORT="${FUZZ_MOTO_PORT:-9131}" \
  DEV_UP_GRAPH_PORT="${FUZZ_GRAPH_PORT:-9132}" DEV_UP_OPENAI_PORT="${FUZZ_OPENAI_PORT:-9133}"
STORE=sqlite
source scripts/dev-up.sh

# Two companies; the fuzzer's request rate is far above a company's default limits.
limit='{"per_minute":1000000,"burst":100000,"company":{"per_minute":1000000,"burst":100000}}'
limits="{\"settings\":{\"rate_limits\":{\"leads\":$limit,\"conversations\":$limit,\"whatsapp\":$limit,\"webhooks\":$limit,\"api\":$limit,\"ai\":$limit,\"analytics\":$limit}}}"
for company in acme outra; do
  token="$(make -s token COMPANY="fuzz-$company")"
  printf '%s' "$token" > "$work/token-$company"
  code="$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "$base/accounts/api/company" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$limits")"
  [ "$code" = 200 ] || fail "could not raise fuzz-$company's rate limits: $code"
done
# acme sends on WhatsApp through the Graph API stand-in.
code="$(curl -s -o /dev/null -w '%{http_code}' "$base/accounts/api/channels" \
  -H "Authorization: Bearer $(cat "$work/token-acme")" -H 'Content-Type: application/json' \
  -d '{"channel":"whatsapp","external_id":"100200300400500","name":"Fuzz","access_token":"EAAG-fuzz"}')"
[ "$code" = 201 ] || fail "could not connect acme's WhatsApp number: $code"
"$py" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
users = [{"name": c, "fixedHeaders": [{"name": "Authorization",
          "value": "Bearer " + open(f"{work}/token-{c}").read()}]} for c in ("acme", "outra")]
json.dump({"auth": users}, open(f"{work}/auth.json", "w"))
open(f"{work}/schemathesis.toml", "w").write(
    f'[auth.wfc]\npath = "{work}/auth.json"\npeers = ["acme", "outra"]\n')
PY

export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$PWD/scripts/fuzz${PYTHONPATH:+:$PYTHONPATH}"
failed=0
runs=0
cases=0
operations=0
run() { # function [st options]
  local f="$1"; shift
  local url="$base/$f"
  local n
  # accounts serves the whole contract: each run takes its own function's operations (tag).
  n="$(curl -sf "$url/openapi.json" | "$py" -c 'import json,sys; print(sum(sys.argv[1] in o["tags"] for p in json.load(sys.stdin)["paths"].values() for o in p.values()))' "$f")"
  if [ "$n" = 0 ]; then echo "fuzz: $f has no routes beyond /health"; return; fi
  # Only this function's operations (accounts serves the whole contract), or those given.
  local only=(--include-tag "$f")
  if [ "${1:-}" = --include-operation-id ]; then only=("$1" "$2"); shift 2; fi
  runs=$((runs + 1))
  local log="$logs/$runs-$f.log"
  echo "fuzz: $f ${only[*]} $*"
  # Run from $logs: schemathesis keeps a cache in its working directory, and a file written
  # in the repository would make `cargo lambda watch` restart every function mid-run.
  if (cd "$logs" && st --config-file "$work/schemathesis.toml" run "$url/openapi.json" --url "$url" "${only[@]}" -c all \
      --seed "${FUZZ_SEED:-1}" --max-examples "${FUZZ_EXAMPLES:-30}" --no-color --request-timeout 60 "$@") > "$log" 2>&1; then
    grep -E ' generated, ' "$log" | sed 's/^ */fuzz:   /' || true
  else
    cat "$log"
    failed=$((failed + 1))
  fi
  operations=$((operations + $(grep -oP 'Tested: +\K[0-9]+' "$log" || echo 0)))
  cases=$((cases + $(grep -oP '\b[0-9]+(?= generated)' "$log" || echo 0)))
}
run leads-management
run whatsapp-api
run webhooks
run openai-proxy
run analytics
# The company's own settings last: the fuzzer sets its rate limits, at any value.
run accounts --exclude-operation-id accounts_update_company
run accounts --include-operation-id accounts_update_company --phases examples,coverage,fuzzing
echo "fuzz: $operations operations, $cases cases, $failed function(s) with findings"
[ "$failed" = 0 ]
