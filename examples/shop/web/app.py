"""The shop's web app: served under CONTEXT_ROOT, asks its database for a visit count."""

import json
import os
import signal
import socket
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.environ.get("CONTEXT_ROOT", "")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path != ROOT and not self.path.startswith(ROOT + "/"):
            self.reply(404, {"error": f"not under {ROOT}"})
        elif self.path == ROOT + "/healthz":
            self.reply(200, {"ok": True})
        else:
            try:
                with urllib.request.urlopen(os.environ["DB_URL"], timeout=3) as resp:
                    db = json.load(resp)
            except OSError as exc:
                db = {"error": str(exc)}
            self.reply(
                200,
                {
                    "hostname": socket.gethostname(),
                    "path": self.path,
                    "context_root": ROOT,
                    "version": os.environ.get("VERSION", ""),
                    "db": db,
                },
            )

    def reply(self, status: int, doc: dict) -> None:
        body = json.dumps(doc).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


server = ThreadingHTTPServer(("", 8080), Handler)
# Stop accepting, finish what is in flight, exit 0: a clean end for Swarm's rolling
# update (shutdown() must not run in the thread that serve_forever() runs in).
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print(f"web listening on :8080 under {ROOT}", flush=True)
server.serve_forever()
