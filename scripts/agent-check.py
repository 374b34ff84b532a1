#!/usr/bin/env python3
"""The AI agent at work on `make dev`, as the README walks it: the agent is assigned to the
WhatsApp number, a customer sends three messages a second apart in one signed delivery, and
the agent answers once, after the customer's quiet period, through the Graph stand-in.

    python3 scripts/agent-check.py BASE TOKEN CHANNEL_ID AGENT_ID GRAPH_URL OPENAI_URL META_APP_SECRET

Standard library only. Prints one `ok …` line per check; exits 1 on the first failure.
"""
import hashlib
import hmac
import json
import sys
import time
import urllib.request
import uuid

base, token, channel_id, agent_id, graph_url, openai_url, app_secret = sys.argv[1:8]
graph_root = graph_url.rsplit("/", 1)[0]
customer = "5511955550101"
texts = ["oi", "vocês entregam em Campinas?", "é pra amanhã"]


def fail(why):
    print(f"agent-check: {why}", file=sys.stderr)
    sys.exit(1)


def call(method, url, body=None, headers=None):
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def to_customer():
    _, sent = call("GET", f"{graph_root}/_sent")
    return [s for s in sent if (s.get("body") or {}).get("to") == customer]


def with_all_three():
    _, requests = call("GET", f"{openai_url}/_requests")
    return [r for r in requests
            if [m.get("content") for m in r.get("messages", []) if m.get("role") == "user"][-3:] == texts]


status, answer = call("PATCH", f"{base}/accounts/api/channels/{channel_id}",
                      {"agent_id": agent_id, "auto_reply": True})
if status != 200 or answer["data"]["auto_reply"] is not True:
    fail(f"assigning the agent answered {status} {answer}")
print("ok the agent answers the WhatsApp number")

now = int(time.time())
messages = [{"from": customer, "id": f"wamid.e2e-{uuid.uuid4().hex}", "timestamp": str(now - 2 + i),
             "type": "text", "text": {"body": text}} for i, text in enumerate(texts)]
delivery = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
    "field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551130000000", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Marina Campos"}, "wa_id": customer}],
        "messages": messages}}]}]}, ensure_ascii=False).encode()
signature = "sha256=" + hmac.new(app_secret.encode(), delivery, hashlib.sha256).hexdigest()
for attempt in range(2):  # Meta delivers it again: nothing changes
    status, answer = call("POST", f"{base}/webhooks/webhooks/meta", delivery,
                          {"X-Hub-Signature-256": signature})
    if status != 200:
        fail(f"the signed delivery answered {status} {answer}")
print("ok three messages a second apart, delivered twice")

started = time.time()
while not to_customer() and time.time() - started < 30:
    time.sleep(0.25)
waited = time.time() - started
if not to_customer():
    fail("no answer reached Graph within 30 s")
time.sleep(2)  # any second answer would have come by now
if len(to_customer()) != 1:
    fail(f"the customer got {len(to_customer())} answers: {to_customer()}")
if len(with_all_three()) != 1:
    fail("not exactly one model call held all three messages")
reply = to_customer()[0]["body"]["text"]["body"]
print(f"ok one model call with all three messages, one answer sent after {waited:.1f} s: {reply!r}")

status, answer = call("GET", f"{base}/whatsapp-api/api/conversations?channel=whatsapp&limit=100")
conversation = next((c for c in answer["data"] if c["lead_name"] == "Marina Campos"), None)
if conversation is None:
    fail(f"no conversation with the customer: {answer}")
status, answer = call("GET", f"{base}/whatsapp-api/api/conversations/{conversation['id']}/messages")
last = answer["data"][-1]
if (last["role"], last["content"], last["metadata"].get("agent_id")) != ("assistant", reply, agent_id):
    fail(f"the conversation does not show the agent's answer: {last}")
print("ok the answer is in the conversation, as the agent's")

status, answer = call("GET", f"{base}/openai-proxy/api/ai/usage?group_by=agent")
rows = [r for r in answer["data"]["rows"] if r.get("agent") == agent_id] if status == 200 else []
if not rows or rows[0]["calls"] < 1:
    fail(f"the agent's call was not metered: {status} {answer}")
print(f"ok metered: {rows[0]['calls']} call(s), {rows[0]['total_tokens']} tokens")
