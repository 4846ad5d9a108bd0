"""One SQLite document store for every localcloud service.

Services keep their resources as JSON documents in a single table, so a new service
needs no schema and no SQL: it calls `insert`, `get`, `update`, `delete` and `list`
with a resource *type* of its own ("server", "network", "volume", ...).

Contract for service code (inside a request, use `current_store()`):

    store.insert(type, data, *, project_id=None, name=None, id=None) -> record
                                                   (DuplicateId if the id is taken)
    store.get(type, id, *, project_id=None)                        -> record | None
    store.update(type, id, changes)                                -> record (KeyError if gone)
    store.delete(type, id)                                          -> bool (False if gone)
    store.list(type, project_id=None, **filters)                    -> list[record]
    store.counts()                                                  -> {type: n}
    with store.transaction(): ...    # serialise a read-check-write (quota, uniqueness)

A *record* is the document's data dict plus the column fields "id", "name",
"project_id" and "created_at"; those four always win over keys of the same name in
`data`. `list` filters compare top-level JSON fields for equality (`None` matches a
missing or null field); "name" and "project_id" filter on their columns. IDs are uuid4
strings and timestamps ISO 8601 UTC with a trailing "Z" (`utcnow()`). IDs are unique
across all types, and services give internal records ids that are not UUIDs
("compute-quota-<project>", "flavor-<id>"): an id a client chooses must be a UUID.

Thread safety: the werkzeug server is threaded, so one connection is shared behind a
re-entrant lock; `transaction()` holds that lock across several calls so compound
updates are atomic. WAL mode lets `cloudhp localcloud status` read while the daemon
writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Record = dict[str, Any]

_COLUMNS = ("id", "name", "project_id", "created_at")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    project_id TEXT,
    name TEXT,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_type_project ON resources (type, project_id);
CREATE INDEX IF NOT EXISTS resources_type_name ON resources (type, name);
"""


def utcnow(*, micro: bool = False) -> str:
    """Now as OpenStack writes it: ISO 8601, UTC, "Z"; Keystone adds microseconds."""
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.now(UTC).strftime(fmt)


def new_id() -> str:
    return str(uuid.uuid4())


class DuplicateId(Exception):
    """An insert with an id some record (of any type) already has."""


class Store:
    """A JSON document store in `state.db`; see the module docstring for the contract."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        if not self.path.exists():
            # Hashes and token digests are not for other users; WAL files inherit this.
            self.path.touch(mode=0o600)
        self._db = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Hold the lock and one SQLite transaction, so a check-then-write is atomic.

        Nested use is fine: only the outermost block commits or rolls back.
        """
        with self._lock:
            if self._db.in_transaction:
                yield self
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def insert(
        self,
        type: str,
        data: Record,
        *,
        project_id: str | None = None,
        name: str | None = None,
        id: str | None = None,
    ) -> Record:
        doc = {k: v for k, v in data.items() if k not in _COLUMNS}
        rid = id or data.get("id") or new_id()
        name = name if name is not None else data.get("name")
        project_id = project_id if project_id is not None else data.get("project_id")
        created = data.get("created_at") or utcnow()
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO resources (id, type, project_id, name, data, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (rid, type, project_id, name, json.dumps(doc), created),
                )
            except sqlite3.IntegrityError:
                raise DuplicateId(rid) from None
        return _record(rid, name, project_id, created, doc)

    def get(self, type: str, id: str, *, project_id: str | None = None) -> Record | None:
        """One record, or None; `project_id` hides other projects' resources."""
        sql = "SELECT * FROM resources WHERE type = ? AND id = ?"
        args: list[Any] = [type, id]
        if project_id is not None:
            sql += " AND project_id = ?"
            args.append(project_id)
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return _from_row(row) if row else None

    def update(self, type: str, id: str, changes: Record) -> Record:
        """Merge `changes` into the document (a None value is stored as null).

        Raises:
            KeyError: no such resource, so callers can turn it into their NotFound.
        """
        with self.transaction():
            current = self.get(type, id)
            if current is None:
                raise KeyError(id)
            merged = {**current, **changes}
            doc = {k: v for k, v in merged.items() if k not in _COLUMNS}
            self._db.execute(
                "UPDATE resources SET name = ?, project_id = ?, data = ? WHERE id = ? AND type = ?",
                (merged["name"], merged["project_id"], json.dumps(doc), id, type),
            )
        return _record(id, merged["name"], merged["project_id"], merged["created_at"], doc)

    def delete(self, type: str, id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM resources WHERE type = ? AND id = ?", (type, id))
        return cur.rowcount > 0

    def list(self, type: str, project_id: str | None = None, **filters: Any) -> list[Record]:
        """Records of one type, oldest first, matching every filter exactly."""
        sql = "SELECT * FROM resources WHERE type = ?"
        args: list[Any] = [type]
        if project_id is not None:
            sql += " AND project_id = ?"
            args.append(project_id)
        for key, value in filters.items():
            if key in ("name", "project_id", "id"):
                column = key
            else:
                if not key.replace("_", "").isalnum():
                    raise ValueError(f"bad filter field {key!r}")
                column = f"json_extract(data, '$.{key}')"
            if value is None:
                sql += f" AND {column} IS NULL"
            else:
                sql += f" AND {column} = ?"
                args.append(json.dumps(value) if isinstance(value, dict | list) else value)
        sql += " ORDER BY created_at, rowid"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT type, COUNT(*) AS n FROM resources GROUP BY type ORDER BY type"
            ).fetchall()
        return {r["type"]: r["n"] for r in rows}


def _record(
    rid: str, name: str | None, project_id: str | None, created: str, doc: Record
) -> Record:
    return {**doc, "id": rid, "name": name, "project_id": project_id, "created_at": created}


def _from_row(row: sqlite3.Row) -> Record:
    return _record(
        row["id"], row["name"], row["project_id"], row["created_at"], json.loads(row["data"])
    )


def current_store() -> Store:
    """The store of the app serving this request (service code's way in)."""
    from flask import current_app

    return current_app.extensions["cloudhp_localcloud.store"]
