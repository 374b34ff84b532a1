#!/usr/bin/env python3
"""A stand-in for OpenAI's API for `make dev` and the end-to-end tests. It speaks the chat
completions wire format, streamed (SSE) and not, with tool calls and exact usage.

    python3 scripts/fake-openai.py 127.0.0.1 8090

POST /v1/chat/completions  the answer "Olá! Você disse: <last user text>"; a last user text
                           with `#slow` streams five chunks 300 ms apart, with `#tool` (and
                           `tools` given, the user's message last) calls the first tool, with
                           `#fail500` answers 500 once for that text, with `#refuse` answers 401.
GET  /v1/models            a list of models
GET  /v1/_usage            every usage reported so far, summed (for the tests)
GET  /v1/_requests         every chat completion request received, in order (for the tests)
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
reported = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
received = []
failed_once = set()


def error(message, kind="invalid_request_error", code=None):
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class OpenAI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.endswith("/_usage"):
            with lock:
                return self.answer(200, dict(reported))
        if self.path.endswith("/_requests"):
            with lock:
                return self.answer(200, list(received))
        if self.path.endswith("/models"):
            return self.answer(200, {"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "openai"}]})
        self.answer(404, error("Unknown path"))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not (self.headers.get("Authorization") or "").startswith("Bearer "):
            return self.answer(401, error("Missing bearer token", "invalid_request_error", "invalid_api_key"))
        try:
            body = json.loads(raw)
        except ValueError:
            return self.answer(400, error("We could not parse the JSON body of your request."))
        with lock:
            received.append(body)
        messages = body.get("messages") or []
        last = next((m.get("content") for m in reversed(messages)
                     if isinstance(m, dict) and m.get("role") == "user"), "") or ""
        last = last if isinstance(last, str) else json.dumps(last)
        if "#refuse" in last:
            return self.answer(401, error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
        if "#fail500" in last:
            with lock:
                first = last not in failed_once
                failed_once.add(last)
            if first:
                return self.answer(500, error("The server had an error processing your request.", "server_error"))
        model = body.get("model") or "gpt-4o-mini"
        text = f"Olá! Você disse: {last}"[:400]
        prompt_tokens = max(1, len(json.dumps(messages)) // 4)
        tools = body.get("tools") or []
        call = None
        answering_user = bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "user"
        if "#tool" in last and tools and answering_user:
            name = (tools[0].get("function") or {}).get("name", "tool")
            call = {"id": "call_local_1", "type": "function",
                    "function": {"name": name, "arguments": json.dumps({"status": "qualificado"})}}
        completion_tokens = 7 if call else max(1, len(text.split()))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens,
                 "prompt_tokens_details": {"cached_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": 0}}
        with lock:
            reported["calls"] += 1
            reported["prompt_tokens"] += prompt_tokens
            reported["completion_tokens"] += completion_tokens
        created = int(time.time())
        if body.get("stream"):
            return self.stream(model, created, text, call, usage,
                               (body.get("stream_options") or {}).get("include_usage"),
                               0.3 if "#slow" in last else 0.0)
        message = {"role": "assistant", "content": None if call else text, "refusal": None}
        if call:
            message["tool_calls"] = [call]
        self.answer(200, {
            "id": "chatcmpl-local", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if call else "stop"}],
            "usage": usage, "system_fingerprint": "fp_local",
        })

    def stream(self, model, created, text, call, usage, include_usage, pause):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(payload):
            data = f"data: {payload}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        base = {"id": "chatcmpl-local", "object": "chat.completion.chunk", "created": created, "model": model}
        pieces = [text[i * len(text) // 5:(i + 1) * len(text) // 5] for i in range(5)]
        try:
            for i, piece in enumerate(pieces):
                if i:
                    time.sleep(pause)
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                if call and i == 0:
                    delta = {"role": "assistant", "content": None, "tool_calls": [dict(call, index=0)]}
                elif call:
                    continue
                send(json.dumps(dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": None}])))
            send(json.dumps(dict(base, choices=[{"index": 0, "delta": {},
                                                 "finish_reason": "tool_calls" if call else "stop"}])))
            if include_usage:
                send(json.dumps(dict(base, choices=[], usage=usage)))
            send("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    ThreadingHTTPServer((host, port), OpenAI).serve_forever()
