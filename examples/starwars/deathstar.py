#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The deathstar of the Star Wars demo: a small HTTP/1.1 API server, one per replica.

Usage: deathstar.py ADDRESS REPLICA [PORT]
Listens on ADDRESS:PORT (default 80), prints "listening" on stdout once it accepts
connections (the demo waits for that line), then serves until SIGTERM or SIGINT.

API (every response carries the header X-Deathstar-Replica: REPLICA):
  GET  /v1/                  200, a JSON description of the deathstar and of this API
  GET  /v1/healthz           200 "ok"
  POST /v1/request-landing   200 "Ship landed"
  PUT  /v1/exhaust-port      503 "Panic: deathstar exploded" (the station is gone: the API
                             answers, but nothing is available any more)
  anything else              404 (unknown path) or 405 (known path, other method)
"""
import json
import signal
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class DeathstarAPI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the L7 proxy must handle it
    replica = "deathstar"

    def describe(self):
        return {
            "name": "Death Star",
            "model": "DS-1 Orbital Battle Station",
            "manufacturer": "Imperial Department of Military Research, Sienar Fleet Systems",
            "crew": 342953,
            "replica": self.replica,
            "api": [
                "GET /v1/",
                "GET /v1/healthz",
                "POST /v1/request-landing",
                "PUT /v1/exhaust-port",
            ],
        }

    def routes(self):
        return {
            "/v1/": {"GET": lambda: (200, "application/json",
                                     json.dumps(self.describe(), indent=2))},
            "/v1/healthz": {"GET": lambda: (200, "text/plain", "ok")},
            "/v1/request-landing": {"POST": lambda: (200, "text/plain", "Ship landed")},
            "/v1/exhaust-port": {"PUT": lambda: (503, "text/plain", "Panic: deathstar exploded")},
        }

    def answer(self):
        # Read a request body, if any, so that the next request on the connection starts clean.
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        methods = self.routes().get(self.path.split("?", 1)[0])
        if methods is None:
            status, ctype, body = 404, "text/plain", "Not found"
        elif self.command not in methods:
            status, ctype, body = 405, "text/plain", "Method not allowed"
        else:
            status, ctype, body = methods[self.command]()
        data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Deathstar-Replica", self.replica)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, fmt, *args):
        pass  # the demo narrates; a request log would interleave with it


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        # HTTPServer's own server_bind looks the address up in DNS (getfqdn), which a pod's
        # namespace without a resolver answers only after timeouts: skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def main():
    if len(sys.argv) not in (3, 4):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    address, replica = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) == 4 else 80
    DeathstarAPI.replica = replica
    server = Server((address, port), DeathstarAPI)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("listening", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
