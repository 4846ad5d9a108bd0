"""Power-state sync's rules (compute/power.py): what a server record becomes when its
container is found dead, frozen, running or gone, as Nova's power sync decides; and
how a container is powered off (nodes.power_off, lifecycle.stop)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from cloudhp_localcloud.compute import lifecycle, nodes, power
from cloudhp_localcloud.compute.serverstate import SHUTOFF
from cloudhp_localcloud.store import Store


def _server(vm_state: str, power_state: int = 1, task_state: str | None = None) -> dict[str, Any]:
    status = {"active": "ACTIVE", "stopped": "SHUTOFF", "error": "ERROR"}.get(vm_state, "BUILD")
    return {"status": status, "vm_state": vm_state, "power_state": power_state,
            "task_state": task_state}  # fmt: skip


@pytest.mark.parametrize("container", ["exited", "dead", "created"])
def test_an_active_server_whose_container_died_is_shutoff(container: str) -> None:
    assert power.decide(_server("active"), container) == power.Sync(dict(SHUTOFF))
    assert SHUTOFF["power_state"] == power.SHUTDOWN and SHUTOFF["status"] == "SHUTOFF"


def test_a_frozen_server_stays_active_with_power_state_paused_and_back() -> None:
    assert power.decide(_server("active"), "paused") == power.Sync({"power_state": power.PAUSED})
    assert power.decide(_server("active", power.PAUSED), "paused") == power.Sync()
    thawed = power.decide(_server("active", power.PAUSED), "running")
    assert thawed == power.Sync({"power_state": power.RUNNING})


def test_a_stopped_server_whose_container_runs_again_is_killed() -> None:
    for container in ("running", "paused"):
        sync = power.decide(_server("stopped", power.SHUTDOWN), container)
        assert sync == power.Sync({"power_state": power.SHUTDOWN}, kill=True)
    assert power.decide(_server("stopped", power.SHUTDOWN), "exited") == power.Sync()


@pytest.mark.parametrize("task", ["powering-off", "powering-on", "rebooting", "spawning",
                                  "image_snapshot", "deleting"])  # fmt: skip
def test_a_task_in_progress_owns_the_state(task: str) -> None:
    for container in ("exited", "paused", "running", None):
        assert power.decide(_server("active", task_state=task), container) == power.Sync()
        assert power.decide(_server("stopped", 4, task_state=task), container) == power.Sync()


def test_a_vanished_container_is_nostate_and_an_error_server_only_records_power() -> None:
    assert power.decide(_server("active"), None) == power.Sync({"power_state": power.NOSTATE})
    error = _server("error", power_state=0)
    assert power.decide(error, "exited") == power.Sync({"power_state": power.SHUTDOWN})
    assert power.decide(error, "running") == power.Sync({"power_state": power.RUNNING})
    assert power.decide(_server("active"), "restarting") == power.Sync()
    assert power.decide(_server("building", 0), "exited") == power.Sync()


# --- powering off: os-stop and the watcher's kill, on a recorded container ------------


@dataclass
class FakeContainer:
    status: str
    fail: bool = False  # the engine refuses, and the container keeps running
    calls: list[str] = field(default_factory=list)
    name: str = "lc-server-x"

    def reload(self) -> None:
        """The fake's state is what the test set: nothing to read again."""

    def stop(self, timeout: int) -> None:
        self._act(f"stop {timeout}")

    def kill(self) -> None:
        self._act("kill")

    def _act(self, call: str) -> None:
        self.calls.append(call)
        if self.fail:
            raise docker.errors.APIError("engine said no")
        self.status = "exited"


@pytest.mark.parametrize(
    ("status", "graceful", "calls"),
    [
        ("running", True, ["stop 10"]),
        ("running", False, ["kill"]),
        ("paused", True, ["kill"]),  # frozen: a shutdown would thaw it for 10 s first
        ("exited", True, []),
        ("dead", False, []),
    ],
)
def test_power_off_kills_what_cannot_shut_down_and_leaves_the_dead(
    status: str, graceful: bool, calls: list[str]
) -> None:
    container = FakeContainer(status)
    nodes.power_off(container, graceful=graceful)  # type: ignore[arg-type]
    assert container.calls == calls


def test_a_stop_the_engine_refuses_leaves_the_server_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nova reverts the task state of a failed stop: a fence that did not happen."""
    store = Store(tmp_path / "state.db")
    doc = {"status": "ACTIVE", "vm_state": "active", "power_state": 1,
           "task_state": "powering-off"}  # fmt: skip
    server_id = store.insert("server", doc)["id"]
    container = FakeContainer("running", fail=True)
    monkeypatch.setattr(lifecycle, "get_container", lambda sid: container)
    lifecycle.stop(store, server_id)
    record = store.get("server", server_id)
    state = (record["status"], record["vm_state"], record["task_state"])
    assert state == ("ACTIVE", "active", None)
    container.fail = False
    store.update("server", server_id, {"task_state": "powering-off"})
    lifecycle.stop(store, server_id)
    assert store.get("server", server_id)["status"] == "SHUTOFF"
    assert container.calls == ["stop 10", "stop 10"]
    store.close()
