"""Sample app: tells which task answered, for what path, under which context root."""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the ingress keeps its connections

    def do_GET(self) -> None:
        body = (
            json.dumps(
                {
                    "hostname": socket.gethostname(),
                    "path": self.path,
                    "context_root": os.environ.get("CONTEXT_ROOT", ""),
                }
            ).encode()
            + b"\n"
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections under any real load


Server(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
