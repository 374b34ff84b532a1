#!/usr/bin/env bash
# The README's walkthrough, for real: `make dev` on a spare port and a fresh SQLite file,
# then curl as a new user would. Fails on the first answer that is not what the README says.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/tools.sh

DEV_UP_NAME=e2e DEV_UP_PORT="${E2E_PORT:-9123}" DEV_UP_MOTO_PORT="${E2E_MOTO_PORT:-9124}" \
  DEV_UP_GRAPH_PORT="${E2E_GRAPH_PORT:-9125}" DEV_UP_OPENAI_PORT="${E2E_OPENAI_PORT:-9126}" \
  DEV_UP_PG_PORT="${E2E_PG_PORT:-9129}"
source scripts/dev-up.sh

passed=0

check() { # name expected-status actual-status body
  [ "$2" = "$3" ] || fail "$1: expected $2, got $3: $4"
  passed=$((passed + 1))
  echo "e2e: ok   $1 ($3)"
}

token="$(make -s token COMPANY=acme)"
[ "$(grep -o '\.' <<< "$token" | wc -l)" -eq 2 ] || fail "make token printed more than a JWT: $token"

for f in leads-management whatsapp-api webhooks openai-proxy analytics accounts; do
  out="$(curl -s -w '\n%{http_code}' "$base/$f/health")"
  check "health of $f" 200 "$(tail -n1 <<< "$out")" "$out"
done

out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads" -H "Authorization: Bearer $token")"
check "list an empty company" 200 "$(tail -n1 <<< "$out")" "$out"
grep -q '"success":true' <<< "$out" && grep -q '"data":\[\]' <<< "$out" && grep -q '"pagination":{' <<< "$out" \
  || fail "list answered $out"

out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"name":"João da Conceição","phone":"+55 11 9 8765-4321"}')"
check "create a lead" 201 "$(tail -n1 <<< "$out")" "$out"
grep -q '"status":"novo"' <<< "$out" || fail "create answered $out"
id="$(sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' <<< "$(head -n1 <<< "$out")")"

out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"name":"Outro","phone":"+551187654321"}')"
check "a duplicate phone (ninth digit) is refused" 409 "$(tail -n1 <<< "$out")" "$out"

out="$(curl -s -w '\n%{http_code}' -X PATCH "$base/leads-management/api/leads/$id" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"status":"qualificado"}')"
check "move the lead" 200 "$(tail -n1 <<< "$out")" "$out"

out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads/$id/history" -H "Authorization: Bearer $token")"
check "its history" 200 "$(tail -n1 <<< "$out")" "$out"
grep -q '"status_changed"' <<< "$out" || fail "history answered $out"

out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads?search=joao" -H "Authorization: Bearer $token")"
check "search" 200 "$(tail -n1 <<< "$out")" "$out"
grep -q '"total":1' <<< "$out" || fail "search for joao answered $out"

out="$(curl -s -w '\n%{http_code}' "$base/accounts/api/api-keys" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"name":"e2e","scopes":["read"]}')"
check "an admin creates an API key" 201 "$(tail -n1 <<< "$out")" "$out"
key="$(sed -n 's/.*"key":"\(wzk_[A-Za-z0-9_-]*\)".*/\1/p' <<< "$(head -n1 <<< "$out")")"
key_id="$(sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' <<< "$(head -n1 <<< "$out")")"
out="$(curl -s -D "$work/headers" -w '\n%{http_code}' "$base/leads-management/api/leads" -H "X-API-Key: $key")"
check "the key alone lists the leads" 200 "$(tail -n1 <<< "$out")" "$out"
grep -qi '^x-ratelimit-remaining: ' "$work/headers" || fail "no rate-limit headers: $(cat "$work/headers")"
out="$(curl -s -w '\n%{http_code}' -X DELETE "$base/accounts/api/api-keys/$key_id" -H "Authorization: Bearer $token")"
check "revoke the key" 200 "$(tail -n1 <<< "$out")" "$out"
out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads" -H "X-API-Key: $key")"
check "a revoked key is refused" 401 "$(tail -n1 <<< "$out")" "$out"

other="$(make -s token COMPANY=globex)"
out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads/$id" -H "Authorization: Bearer $other")"
check "another company gets 404" 404 "$(tail -n1 <<< "$out")" "$out"

out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads")"
check "no token" 401 "$(tail -n1 <<< "$out")" "$out"

out="$(curl -s -w '\n%{http_code}' -X DELETE "$base/leads-management/api/leads/$id" -H "Authorization: Bearer $token")"
check "delete" 200 "$(tail -n1 <<< "$out")" "$out"
grep -q '"message":"Lead deleted successfully"' <<< "$out" || fail "delete answered $out"

# A customer writes on WhatsApp: Meta's signed delivery lands as a lead and a message.
out="$(curl -s -w '\n%{http_code}' "$base/accounts/api/channels" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"channel":"whatsapp","external_id":"106540352242922","name":"Vendas","access_token":"EAAG-e2e-token"}')"
check "connect a WhatsApp number" 201 "$(tail -n1 <<< "$out")" "$out"
channel_id="$(sed -n 's/.*"data":{[^}]*"id":"\([0-9a-f-]*\)".*/\1/p' <<< "$(head -n1 <<< "$out")")"
grep -q '"verified_name":"WiizoChat (local)"' <<< "$out" || fail "connecting did not show Meta's answer: $out"
"$py" - "$work" <<'PY'
import json, sys
event = json.load(open("events/webhooks/whatsapp-messages.json"))
open(sys.argv[1] + "/wa-body.json", "w", encoding="utf-8").write(event["body"])
open(sys.argv[1] + "/wa-signature", "w").write(event["headers"]["x-hub-signature-256"])
PY
out="$(curl -s -w '\n%{http_code}' "$base/webhooks/webhooks/meta" -H 'Content-Type: application/json' \
  -H "X-Hub-Signature-256: $(cat "$work/wa-signature")" --data-binary @"$work/wa-body.json")"
check "a signed WhatsApp delivery" 200 "$(tail -n1 <<< "$out")" "$out"
grep -q '"messages":3' <<< "$out" || fail "the delivery answered $out"
out="$(curl -s -w '\n%{http_code}' "$base/webhooks/webhooks/meta" -H 'Content-Type: application/json' \
  -H "X-Hub-Signature-256: sha256=0000" --data-binary @"$work/wa-body.json")"
check "a forged delivery" 401 "$(tail -n1 <<< "$out")" "$out"
out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads?source=whatsapp" -H "Authorization: Bearer $token")"
grep -q '"name":"João da Conceição"' <<< "$out" || fail "the customer is not a lead: $out"

# openai-proxy runs under the streaming runner in make dev: its plain answers, refusals
# included, still arrive whole (cargo lambda answers OPTIONS itself; the empty body is
# tested in-process, `http::stream`).
out="$(curl -s -w '\n%{http_code}' "$base/openai-proxy/api/agents/0193a1f0-5e1c-7c3a-9b1e-2f4d6a8b0c11" \
  -H "Authorization: Bearer $token")"
check "an unknown agent under the streaming runner" 404 "$(tail -n1 <<< "$out")" "$out"
grep -q '"code":"NOT_FOUND"' <<< "$out" || fail "the refusal answered $out"
out="$(curl -s -w '\n%{http_code}' "$base/openai-proxy/api/agents" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"name":"Atendimento","type":"customer_service"}')"
check "an admin creates an AI agent" 201 "$(tail -n1 <<< "$out")" "$out"
grep -q '"system_prompt":"Você é o assistente de atendimento' <<< "$out" || fail "no ready-made prompt: $out"
agent_id="$(sed -n 's/.*"data":{[^}]*"id":"\([0-9a-f-]*\)".*/\1/p' <<< "$(head -n1 <<< "$out")")"

# The agent at work: assigned to the number, it answers a customer's burst once, after the
# customer's quiet period (the default 4 s), through the Graph stand-in.
"$py" scripts/agent-check.py "$base" "$token" "$channel_id" "$agent_id" "$META_GRAPH_URL" \
  "$OPENAI_BASE_URL" "$(grep '^META_APP_SECRET=' dev.env | cut -d= -f2-)" \
  || fail "the AI agent did not answer as the README says"
passed=$((passed + 1))

# The AI gateway through the official OpenAI SDK, with a key that may write.
out="$(curl -s -w '\n%{http_code}' "$base/accounts/api/api-keys" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"name":"sdk","scopes":["read","write"]}')"
check "an API key for the SDK" 201 "$(tail -n1 <<< "$out")" "$out"
sdk_key="$(sed -n 's/.*"key":"\(wzk_[A-Za-z0-9_-]*\)".*/\1/p' <<< "$(head -n1 <<< "$out")")"
need_module openai 'openai==3.51.0' 'openai.__version__ == "3.51.0"'
"$py" scripts/openai-sdk-check.py "$base/openai-proxy" "$sdk_key" "$OPENAI_BASE_URL" \
  || fail "the OpenAI SDK check failed"
passed=$((passed + 1))
key_value="$(grep '^OPENAI_API_KEY=' dev.env | cut -d= -f2-)"
! grep -qF "$key_value" "$work/dev.log" || fail "the OpenAI key appears in make dev's output"

# Outbound webhooks, verified by a receiver on the `standardwebhooks` package and by one
# written from the seed's Node.js example.
need_module standardwebhooks 'standardwebhooks==1.1.0'
secret="whsec_$("$py" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
receivers="$work/receivers.txt"
"$py" scripts/webhook-receiver.py 127.0.0.1 "${E2E_RECEIVER_PORT:-9127}" "$secret" "$receivers" &
py_receiver=$!
node scripts/webhook-receiver.js "${E2E_NODE_RECEIVER_PORT:-9128}" "$secret" "$receivers" &
node_receiver=$!
trap 'kill $py_receiver $node_receiver 2>/dev/null || true; dev_down' EXIT
sleep 1
for port in "${E2E_RECEIVER_PORT:-9127}" "${E2E_NODE_RECEIVER_PORT:-9128}"; do
  out="$(curl -s -w '\n%{http_code}' "$base/webhooks/api/webhooks/register" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' \
    -d "{\"url\":\"http://127.0.0.1:$port/wiizo\",\"events\":[\"lead.created\"],\"secret\":\"$secret\"}")"
  check "register an outbound webhook (port $port)" 201 "$(tail -n1 <<< "$out")" "$out"
  hook="$(sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' <<< "$(head -n1 <<< "$out")")"
  out="$(curl -s -w '\n%{http_code}' -X POST "$base/webhooks/api/webhooks/$hook/test" -H "Authorization: Bearer $token")"
  check "a test delivery (port $port)" 200 "$(tail -n1 <<< "$out")" "$out"
  grep -q '"status":"succeeded"' <<< "$out" || fail "the receiver refused the delivery: $out"
done
[ "$(grep -c '^ok webhook.test' "$receivers")" = 2 ] || fail "receivers said: $(cat "$receivers")"
# A lead created through the API reaches both receivers by itself, through the outbox.
out="$(curl -s -w '\n%{http_code}' "$base/leads-management/api/leads" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"name":"Evento de Teste","phone":"+55 21 99876-5432"}')"
check "a lead to tell the subscribers about" 201 "$(tail -n1 <<< "$out")" "$out"
for _ in $(seq 1 40); do
  [ "$(grep -c '^ok lead.created' "$receivers")" = 2 ] && break
  sleep 0.1
done
[ "$(grep -c '^ok lead.created' "$receivers")" = 2 ] || fail "lead.created did not arrive within 4 s: $(cat "$receivers")"
passed=$((passed + 1))

# The dashboard: the events worker has counted this walkthrough's leads and messages (it
# may still be counting the last ones: asked again for up to 10 s).
counted() {
  "$py" - "$(head -n1 <<< "$1")" <<'PY'
import json, sys
d = json.loads(sys.argv[1])["data"]
# Leads made here: by the API (one deleted, one kept), by Meta's deliveries; messages both ways.
assert d["leads"]["new"] >= 4 and d["leads"]["total"] == d["leads"]["new"] - 1, d["leads"]
assert d["messages"]["received"] >= 6 and d["messages"]["sent"] >= 1, d["messages"]
assert d["ai"]["requests"] >= 1, d["ai"]
PY
}
# The signed delivery's messages carry the fixture's own times (2026-11-27 UTC, the 26th
# in São Paulo): the range starts there.
for _ in $(seq 1 40); do
  out="$(curl -s -w '\n%{http_code}' "$base/analytics/api/analytics/overview?from=2026-11-26" -H "Authorization: Bearer $token")"
  counted "$out" 2>/dev/null && break
  sleep 0.25
done
check "the overview since the first message" 200 "$(tail -n1 <<< "$out")" "$out"
counted "$out" || fail "the overview does not count the walkthrough: $out"
out="$(curl -s -w '\n%{http_code}' "$base/analytics/api/analytics/leads?from=2026-13-01" -H "Authorization: Bearer $token")"
check "a month that does not exist" 422 "$(tail -n1 <<< "$out")" "$out"

grep -q '"message":"request".*"service":"leads-management"' "$work/dev.log" || fail "no JSON request log line"
echo "e2e: $passed passed, 0 failed"
