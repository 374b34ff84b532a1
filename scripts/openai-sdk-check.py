#!/usr/bin/env python3
"""The official `openai` Python package against openai-proxy under `make dev`, with the
local OpenAI stand-in (scripts/fake-openai.py) upstream. Run by scripts/e2e.sh:

    python3 scripts/openai-sdk-check.py <openai-proxy base URL> <API key> <stand-in URL>

A chat, a streamed chat (the first chunk must arrive before the stand-in sends its third,
300 ms apart), a tool call, and a stream abandoned after its first chunk; then the usage
the API reports must equal, token for token, what the stand-in reported, and the cost must
follow the price table. Prints one line per check; exits non-zero on the first failure.
"""
import json
import sys
import time
import urllib.request

from openai import OpenAI

base, key, upstream = sys.argv[1], sys.argv[2], sys.argv[3].rstrip("/")
client = OpenAI(base_url=f"{base}/api/ai/v1", api_key=key, max_retries=0)
passed = 0


def check(name, ok, detail=""):
    global passed
    if not ok:
        print(f"openai-sdk: FAIL {name}: {detail}", file=sys.stderr)
        sys.exit(1)
    passed += 1
    print(f"openai-sdk: ok   {name}")


def get(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
        return json.load(r)


user = [{"role": "user", "content": "Vocês abrem no domingo?"}]
answer = client.chat.completions.create(model="gpt-4o-mini", messages=user)
check("a chat", answer.choices[0].message.content == "Olá! Você disse: Vocês abrem no domingo?",
      answer.model_dump_json())

started = time.monotonic()
arrivals, text = [], ""
for chunk in client.chat.completions.create(
        model="gpt-4o-mini", stream=True,
        messages=[{"role": "user", "content": "Conte devagar #slow"}]):
    if chunk.choices and chunk.choices[0].delta.content:
        arrivals.append(time.monotonic() - started)
        text += chunk.choices[0].delta.content
check("a streamed chat", text == "Olá! Você disse: Conte devagar #slow", text)
# The stand-in sends its pieces at 0, 0.3, 0.6, 0.9 and 1.2 s.
check("the first chunk arrives before the third is sent",
      len(arrivals) == 5 and arrivals[0] < 0.55 and arrivals[-1] > 1.0, arrivals)

tools = [{"type": "function", "function": {
    "name": "update_lead", "description": "Muda o status do lead",
    "parameters": {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}}}]
called = client.chat.completions.create(
    model="gpt-4o-mini", tools=tools,
    messages=[{"role": "user", "content": "Quero fechar o pedido #tool"}])
call = (called.choices[0].message.tool_calls or [None])[0]
check("a tool call", call is not None and call.function.name == "update_lead"
      and json.loads(call.function.arguments) == {"status": "qualificado"}, called.model_dump_json())

stream = client.chat.completions.create(
    model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "Vou desistir #slow"}])
next(iter(stream))
stream.close()
check("a stream abandoned after its first chunk", True)

# The abandoned stream is still read to its end (1.2 s) and metered.
reported = None
for _ in range(50):
    time.sleep(0.2)
    reported = get(f"{upstream}/_usage")
    usage = get(f"{base}/api/ai/usage", {"X-API-Key": key})["data"]["totals"]
    if usage["calls"] == reported["calls"] == 4:
        break
check("usage equals the upstream's reported tokens",
      (usage["calls"], usage["prompt_tokens"], usage["completion_tokens"], usage["estimated_calls"])
      == (reported["calls"], reported["prompt_tokens"], reported["completion_tokens"], 0),
      f"ours {usage}, upstream {reported}")
# gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million completion tokens.
cost = (reported["prompt_tokens"] * 0.15 + reported["completion_tokens"] * 0.60) / 1e6
check("cost follows the price table", abs(usage["cost_usd"] - cost) < 1e-12, f"{usage['cost_usd']} vs {cost}")
print(f"openai-sdk: {passed} passed, 0 failed")
