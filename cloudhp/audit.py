"""The volume controller's audit log: what was done to which volume, and when.

One JSON object per line in `<cluster dir>/volumes-audit.jsonl` (0600): an operator
reading it after a night's failover, or a benchmark splitting a failover into its
phases, needs each step's time, not only the volume's last state in Cinder. A step is
written before it is acted on, so a line without a later one says where a killed
controller stopped. Appends of one short line with O_APPEND are atomic on a local
filesystem, so a reader never sees half a line from a live writer.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE = "volumes-audit.jsonl"
STEPS = (
    "detect",
    "fence",
    "fenced",
    "fence_pending",
    "detach",
    "attach",
    "check",
    "mount",
    "placement",
    "done",
)


@dataclass(frozen=True)
class Entry:
    time: str  # UTC, ISO 8601 with microseconds
    volume: str
    step: str
    from_node: str
    to_node: str
    detail: str = ""

    @property
    def when(self) -> datetime.datetime:
        return datetime.datetime.fromisoformat(self.time)


def audit_path(cluster_dir: Path) -> Path:
    return cluster_dir / FILE


def record(
    cluster_dir: Path, volume: str, step: str, from_node: str, to_node: str, detail: str = ""
) -> Entry:
    """Appends one line; `step` must be one of STEPS (a typo would hide a step)."""
    if step not in STEPS:
        raise ValueError(f"audit step {step!r} is not one of {', '.join(STEPS)}")
    entry = Entry(
        datetime.datetime.now(datetime.UTC).isoformat(), volume, step, from_node, to_node, detail
    )
    line = (json.dumps(asdict(entry), sort_keys=True) + "\n").encode()
    fd = os.open(audit_path(cluster_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, line)
    finally:
        os.close(fd)
    return entry


def read(cluster_dir: Path) -> list[Entry]:
    """Every entry, oldest first; [] when nothing was ever moved."""
    path = audit_path(cluster_dir)
    if not path.exists():
        return []
    return [Entry(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
