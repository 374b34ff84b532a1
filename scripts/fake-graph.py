#!/usr/bin/env python3
"""A stand-in for Meta's Graph API for `make dev` and the end-to-end test: it shows any
phone number, page or Instagram account to any token, and accepts every message sent.

    python3 scripts/fake-graph.py 127.0.0.1 8089

GET  /<version>/<id>?fields=…      -> {"id": id, "display_phone_number", "verified_name", "name", "username"}
POST /<version>/<id>/messages      -> {"messaging_product": "whatsapp", "messages": [{"id": "wamid.…"}]}
GET  /_sent                        -> every message sent so far: [{"path", "body"}] (for the tests)
"""
import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

counter = itertools.count(1)
lock = threading.Lock()
sent = []


class Graph(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if urlparse(self.path).path.endswith("/_sent"):
            with lock:
                return self.answer(200, list(sent))
        parts = [p for p in urlparse(self.path).path.split("/") if p]
        account = parts[-1] if parts else ""
        self.answer(200, {
            "id": account,
            "display_phone_number": "+55 11 4000-0000",
            "verified_name": "WiizoChat (local)",
            "name": "WiizoChat (local)",
            "username": "wiizochat.local",
        })

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with lock:
            sent.append({"path": urlparse(self.path).path, "body": body})
        n = next(counter)
        self.answer(200, {
            "messaging_product": "whatsapp",
            "messages": [{"id": f"wamid.local-{n}"}],
            "message_id": f"m_local-{n}",
        })

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    ThreadingHTTPServer((host, port), Graph).serve_forever()
