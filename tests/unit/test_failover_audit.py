"""The volume audit log: one 0600 JSON line per step, read back in order."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cloudhp import audit


def test_steps_are_appended_in_order_and_read_back(tmp_path: Path) -> None:
    audit.record(tmp_path, "shop_db", "detect", "c-worker-1", "c-worker-2", "Swarm Down for 31s")
    audit.record(tmp_path, "shop_db", "fence", "c-worker-1", "c-worker-2")
    entries = audit.read(tmp_path)
    assert [(e.volume, e.step, e.from_node, e.to_node) for e in entries] == [
        ("shop_db", "detect", "c-worker-1", "c-worker-2"),
        ("shop_db", "fence", "c-worker-1", "c-worker-2"),
    ]
    assert entries[0].detail == "Swarm Down for 31s"
    assert entries[0].when <= entries[1].when
    lines = (tmp_path / "volumes-audit.jsonl").read_text().splitlines()
    assert sorted(json.loads(lines[0])) == [
        "detail", "from_node", "step", "time", "to_node", "volume",
    ]  # fmt: skip


def test_the_log_is_private(tmp_path: Path) -> None:
    (tmp_path / "volumes-audit.jsonl").write_text("")
    (tmp_path / "volumes-audit.jsonl").chmod(0o644)
    audit.record(tmp_path, "shop_db", "done", "a", "b")
    assert stat.S_IMODE((tmp_path / "volumes-audit.jsonl").stat().st_mode) == 0o600


def test_an_unknown_step_is_refused_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'fencing' is not one of"):
        audit.record(tmp_path, "shop_db", "fencing", "a", "b")
    assert audit.read(tmp_path) == []
