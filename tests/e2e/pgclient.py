"""A PostgreSQL client that follows the database from node to node, for failover runs.

The example database accepts local (peer) logins only, so each statement is `psql` in
the running task, through `docker exec` on its node, over the cluster's SSH (the
system `ssh` with the cluster's key and pinned host keys, as `cloudhp ssh` runs it).
A statement that fails forgets the node; the next one looks for the task on every
node again. A row counts as acknowledged only when psql said `INSERT 0 1`: the server
commits synchronously (fsync and synchronous_commit on), so those are the rows that
must survive the node's death. Shared by the failover tests and its benchmark.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cloudhp.flows.ssh import ssh_argv
from cloudhp.state import ClusterFiles

TABLE = "acked"


def task_container(service: str) -> str:
    """The shell expression naming the service's healthy container on this node."""
    return (
        f"$(docker ps -q --filter label=com.docker.swarm.service.name={service} "
        "--filter health=healthy | head -n 1)"
    )


def psql_script(service: str, sql: str) -> str:
    return (
        f'c={task_container(service)}; [ -n "$c" ] || exit 3; '
        'docker exec -u postgres "$c" psql -X -q -A -t -v ON_ERROR_STOP=1 '
        f"-h /var/run/postgresql -c {shlex.quote(sql)}"
    )


@dataclass
class Pg:
    files: ClusterFiles
    service: str = "pg_db"
    node: str | None = None  # where the task answered last
    acknowledged: list[int] = field(default_factory=list)

    def nodes(self) -> list[str]:
        return [str(n["name"]) for n in self.files.read_record()["nodes"]]

    def _ssh(self, node: str, script: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        argv = ssh_argv(self.files, node, ["sh", "-c", shlex.quote(script)])
        argv[1:1] = ["-o", "ConnectTimeout=3", "-o", "ServerAliveInterval=2",
                     "-o", "ServerAliveCountMax=2"]  # fmt: skip
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", "timed out")

    def find(self) -> str | None:
        """The node whose healthy task answers a query, or None."""
        for node in self.nodes():
            if self._ssh(node, psql_script(self.service, "SELECT 1"), 10).returncode == 0:
                self.node = node
                return node
        return None

    def sql(self, statement: str) -> str | None:
        """The statement's output, or None when no task answered it."""
        node = self.node or self.find()
        if node is None:
            return None
        done = self._ssh(node, psql_script(self.service, statement))
        if done.returncode != 0:
            self.node = None
            return None
        return done.stdout

    def create_table(self) -> None:
        out = self.sql(f"CREATE TABLE IF NOT EXISTS {TABLE} (id integer PRIMARY KEY)")
        assert out is not None, "the database does not answer"

    def insert(self, row: int) -> bool:
        out = self.sql(f"INSERT INTO {TABLE} (id) VALUES ({row}) ON CONFLICT DO NOTHING")
        if out is None:
            return False
        self.acknowledged.append(row)
        return True

    def rows(self) -> set[int] | None:
        out = self.sql(f"SELECT id FROM {TABLE}")
        return None if out is None else {int(line) for line in out.split()}


class Writer:
    """Inserts numbered rows from a thread until stopped (at most `limit` attempts)."""

    def __init__(self, pg: Pg, limit: int = 2000, pause: float = 0.2) -> None:
        self.pg = pg
        self.limit = limit
        self.pause = pause
        self.failed = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        start = max(pg.acknowledged, default=0)
        self._rows = iter(range(start + 1, start + 1 + limit))

    def _run(self) -> None:
        for row in self._rows:
            if self._done.is_set():
                return
            if not self.pg.insert(row):
                self.failed += 1
            time.sleep(self.pause)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=60)


def wait_for_answer(pg: Pg, other_than: str, deadline: float) -> tuple[str, set[int]] | None:
    """The node and rows of the first answer from a node other than `other_than`."""
    while time.monotonic() < deadline:
        rows = pg.rows()
        if rows is not None and pg.node is not None and pg.node != other_than:
            return pg.node, rows
        time.sleep(0.5)
    return None


def cluster_files(home: Path, cluster: str) -> ClusterFiles:
    return ClusterFiles(cluster, home / "clusters" / cluster)
