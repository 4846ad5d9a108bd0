"""Power-state sync's rules (compute/power.py): what a server record becomes when its
container is found dead, frozen, running or gone, as Nova's power sync decides."""

from __future__ import annotations

from typing import Any

import pytest

from cloudhp_localcloud.compute import power
from cloudhp_localcloud.compute.serverstate import SHUTOFF


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
