#!/usr/bin/env python3
"""A receiver of WiizoChat's outbound webhooks built on the `standardwebhooks` package, as
an integrator would write one. Each delivery is verified; the outcome is appended to a file.

    python3 scripts/webhook-receiver.py 127.0.0.1 9127 <secret> <results file>

A delivery that verifies answers 200 and appends `ok <event> <webhook-id>`; one that does not
answers 401 and appends `bad <reason>`.
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

host, port, secret, results = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
verifier = Webhook(secret)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            event = verifier.verify(body, {k.lower(): v for k, v in self.headers.items()})
            line, status = f"ok {event['event']} {self.headers.get('webhook-id')}", 200
        except Exception as e:  # the package raises WebhookVerificationError
            line, status = f"bad {e}", 401
        with open(results, "a") as f:
            f.write(line + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer((host, port), Receiver).serve_forever()
