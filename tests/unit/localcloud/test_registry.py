"""The services, their startup order and their reset order, declared once (registry.py).

Reset must remove the server containers first (they hold device nodes of the loop
devices and sit on the bridges), then the volumes' loop devices, then the networks,
whatever order the modules happened to be imported in.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloudhp_localcloud import daemon, registry
from cloudhp_localcloud.compute.lifecycle import remove_containers
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.network.bridges import remove_docker_networks
from cloudhp_localcloud.volume.api import reset_loop_devices


def test_reset_order_is_servers_then_volumes_then_networks() -> None:
    assert [s.name for s in registry.RESET_ORDER] == ["nova", "cinderv3", "neutron"]
    assert registry.reset_hooks() == [remove_containers, reset_loop_devices, remove_docker_networks]


def test_every_reset_is_ordered_once_and_every_service_listed_once() -> None:
    names = [s.name for s in registry.SERVICES]
    assert len(names) == len(set(names))
    with_reset = {s.name for s in registry.SERVICES if s.reset is not None}
    ordered = [s.name for s in registry.RESET_ORDER]
    assert sorted(ordered) == sorted(with_reset)
    assert all(s in registry.SERVICES for s in registry.RESET_ORDER)


def test_startup_order_starts_with_identity() -> None:
    """Identity's startup seeds the admin project the image service's base image needs."""
    names = [s.name for s in registry.SERVICES]
    assert names == ["keystone", "neutron", "cinderv3", "nova", "glance", "heat"]
    assert names.index("keystone") < names.index("glance")


@pytest.mark.parametrize(
    "first",
    [
        ["network", "volume", "compute"],  # the order a full test collection used to give
        ["cloudhp_localcloud.volume.backend", "cloudhp_localcloud.network.servers"],
        ["daemon"],
    ],
)
def test_the_order_does_not_depend_on_what_was_imported_first(first: list[str]) -> None:
    modules = [m if "." in m else f"cloudhp_localcloud.{m}" for m in first]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from cloudhp_localcloud import registry\n"
        "print(json.dumps([h.__name__ for h in registry.reset_hooks()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == ["remove_containers", "reset_loop_devices", "remove_docker_networks"]


def test_daemon_reset_runs_the_declared_resets_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    def recorder(name: str):  # type: ignore[no-untyped-def]
        return lambda config: ran.append(f"{name}:{config.data_dir.name}")

    order = tuple(dataclasses.replace(s, reset=recorder(s.name)) for s in registry.RESET_ORDER)
    monkeypatch.setattr(registry, "RESET_ORDER", order)
    config = LocalCloudConfig(data_dir=tmp_path / "lc")
    config.data_dir.mkdir()
    config.db_path.write_bytes(b"")
    result = daemon.reset(config)
    assert ran == ["nova:lc", "cinderv3:lc", "neutron:lc"]
    assert str(config.db_path) in result["removed"] and not config.db_path.exists()
