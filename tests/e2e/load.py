"""Steady traffic through the ingress while a block runs: what a visitor sees.

Shared by end-to-end modules that change the cluster under load (deploys, scaling
nodes in and out); each answer is the sample app's JSON, each failure a status or an error.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Load:
    """Steady GETs on `url` from a thread while a block runs.

    Bounded: at most `limit` requests, and it stops when the block ends.
    """

    def __init__(self, url: str, limit: int = 3000, pause: float = 0.02) -> None:
        self.url = url
        self.limit = limit
        self.pause = pause
        self.failures: list[str] = []
        self.answers: list[dict] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        for _ in range(self.limit):
            if self._done.is_set():
                return
            try:
                status, body = get(self.url)
                if status != 200:
                    self.failures.append(f"{status} {body[:80]!r}")
                else:
                    self.answers.append(json.loads(body))
            except OSError as exc:
                self.failures.append(repr(exc))
            time.sleep(self.pause)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(2)
        self._done.set()
        self._thread.join()

    @property
    def versions(self) -> set[str]:
        """The app versions that answered (the sample and shop apps report theirs)."""
        return {a["version"] for a in self.answers}

    @property
    def hostnames(self) -> set[str]:
        return {a["hostname"] for a in self.answers}
