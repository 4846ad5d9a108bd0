"""A stand-in database: counts visits in memory, answers on :7000."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

visits = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        global visits
        with lock:
            visits += 1
            body = json.dumps({"visits": visits}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


print("db listening on :7000", flush=True)
ThreadingHTTPServer(("", 7000), Handler).serve_forever()
