"""Counts visits in /data/count: GET shows the count, POST .../hit adds one.

Each new count is written to a temporary file, flushed to disk and renamed over the
old one, so a count that was answered is on the volume even if the node dies next.
The RUN line of the Dockerfile is the shop's, so the two images share that layer.
"""

import json
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

DATA = os.environ.get("DATA_DIR", "/data")
ROOT = os.environ.get("CONTEXT_ROOT", "")
LOCK = Lock()


def read() -> int:
    try:
        with open(os.path.join(DATA, "count")) as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


def write(count: int) -> None:
    path = os.path.join(DATA, "count")
    with open(path + ".tmp", "w") as f:
        f.write(str(count))
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
    fd = os.open(DATA, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == ROOT + "/healthz":
            self.answer(200, {"ok": True})
            return
        self.answer(200, {"count": read(), "host": socket.gethostname()})

    def do_POST(self) -> None:
        if self.path != ROOT + "/hit":
            self.answer(404, {"error": "POST " + ROOT + "/hit"})
            return
        with LOCK:
            count = read() + 1
            write(count)
        self.answer(200, {"count": count, "host": socket.gethostname()})

    def log_message(self, format: str, *args: object) -> None:
        """Not logged: a line per request on stderr would cost the node's CPU under load."""


if __name__ == "__main__":
    # PID 1 ignores SIGTERM unless it asks for it: without this, stopping the task
    # (a move, an update) would wait for Swarm's SIGKILL after the grace period.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer.request_queue_size = 128
    ThreadingHTTPServer(("", 8080), Handler).serve_forever()
