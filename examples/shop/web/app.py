"""The shop's web app: served under CONTEXT_ROOT, counts visits in its Redis database.

`POST <root>/allocate?mb=N` holds N MiB for a moment: a way to watch the service's
memory limit at work (above it the kernel kills the task, Swarm starts another, and the
other replicas keep serving meanwhile). A POST, so that the ingress never replays it on
another task (it retries idempotent requests only).
"""

import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

ROOT = os.environ.get("CONTEXT_ROOT", "")
DB = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3, socket_connect_timeout=3)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path != ROOT and not url.path.startswith(ROOT + "/"):
            self.reply(404, {"error": f"not under {ROOT}"})
        elif url.path == ROOT + "/healthz":
            self.reply(200, {"ok": True})
        else:
            try:
                db: dict = {"visits": DB.incr("visits")}
            except redis.RedisError as exc:
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

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path != ROOT + "/allocate":
            self.reply(404, {"error": f"POST {ROOT}/allocate?mb=N only"})
            return
        megabytes = int(urllib.parse.parse_qs(url.query).get("mb", ["1"])[0])
        held = bytearray(megabytes * 1024 * 1024)
        for offset in range(0, len(held), 4096):  # touch every page: really resident
            held[offset] = 1
        time.sleep(1)
        self.reply(200, {"allocated_mb": megabytes, "hostname": socket.gethostname()})

    def reply(self, status: int, doc: dict) -> None:
        body = json.dumps(doc).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections under any real load


server = Server(("", 8080), Handler)
# Stop accepting, finish what is in flight, exit 0: a clean end for Swarm's rolling
# update (shutdown() must not run in the thread that serve_forever() runs in).
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print(f"web listening on :8080 under {ROOT}", flush=True)
server.serve_forever()
