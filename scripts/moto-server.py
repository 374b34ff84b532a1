"""moto's DynamoDB-compatible server, serving one request at a time.

`moto_server` answers on many threads and does not apply a conditional write atomically
against a concurrent one, which DynamoDB does. Served one request at a time, moto keeps
that promise, so the tests can count on it as production does.

usage: python3 scripts/moto-server.py HOST PORT
"""

import os
import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
run_simple(host, port, DomainDispatcherApplication(create_backend_app), threaded=False, use_reloader=False)
