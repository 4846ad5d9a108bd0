"""The attach request's `device` never reaches a shell: Nova's pattern at the API,
only /dev/vd[b-z] in the server, and commands built as argument lists."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloudhp_localcloud import faults
from cloudhp_localcloud.compute import actions
from cloudhp_localcloud.volume import backend as vb

from .conftest import Api

HOSTILE = "/dev/vdb;reboot"  # short enough for the old 16-character check


@dataclass
class FakeContainer:
    """Records what would run in a server container."""

    name: str = "lc-server"
    status: str = "running"
    ran: list[list[str]] = field(default_factory=list)

    def exec_run(self, argv: list[str], user: str) -> Any:
        self.ran.append(argv)
        return type("Result", (), {"exit_code": 0, "output": b""})()


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch) -> FakeContainer:
    fake = FakeContainer()
    monkeypatch.setattr(vb, "_container", lambda server_id: fake)
    return fake


def _server(api: Api) -> str:
    record = api.store().insert(
        "server",
        {"vm_state": "active", "task_state": None, "volume_attachments": []},
        project_id=api.project_id(),
        name="s",
    )
    return record["id"]


@pytest.mark.parametrize(
    "device", [HOSTILE, "/dev/vdb\n", "/dev/../etc/shadow", "vdb", "/dev/vdb 1", 7]
)
def test_attach_refuses_a_device_outside_novas_pattern(
    api: Api, monkeypatch: pytest.MonkeyPatch, device: object
) -> None:
    asked: list[object] = []
    monkeypatch.setattr(actions, "attach_volume", lambda *a: asked.append(a[3]) or a[3])
    resp = api.client.post(
        f"/compute/v2.1/servers/{_server(api)}/os-volume_attachments",
        json={"volumeAttachment": {"volumeId": "v", "device": device}},
        headers=api.headers(),
    )
    assert resp.status_code == 400
    message = resp.get_json()["badRequest"]["message"]
    assert message.startswith("Invalid input for field/attribute device.")
    assert asked == []


def test_attach_passes_a_valid_device_on_as_a_hint(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[object] = []
    monkeypatch.setattr(actions, "attach_volume", lambda *a: asked.append(a[3]) or a[3])
    resp = api.client.post(
        f"/compute/v2.1/servers/{_server(api)}/os-volume_attachments",
        json={"volumeAttachment": {"volumeId": "v", "device": "/dev/sdc"}},
        headers=api.headers(),
    )
    assert resp.status_code == 200 and asked == ["/dev/sdc"]


@pytest.mark.parametrize("wanted", [HOSTILE, "/dev/sdc", "/dev/vda", "/dev/vdbb", "/dev/vd"])
def test_backend_gives_only_vd_b_to_z(wanted: str) -> None:
    assert vb._pick_device(set(), wanted) == "/dev/vdb"


def test_device_nodes_are_made_and_removed_without_a_shell_string(
    container: FakeContainer,
) -> None:
    assert vb.make_node("server", HOSTILE, 3)
    vb.remove_node("server", HOSTILE)
    make, remove = container.ran
    assert make[:3] == ["sh", "-c", vb._MAKE_NODE] and HOSTILE not in make[2]
    assert make[3:] == ["sh", HOSTILE, "7", "3"]
    assert remove == ["rm", "-f", "--", HOSTILE]


def test_make_node_script_takes_the_device_as_one_argument(tmp_path: Path) -> None:
    """Run the script for real, with mknod and chgrp replaced by recorders."""
    for tool in ("mknod", "chgrp"):
        recorder = tmp_path / tool
        recorder.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/{tool}.args"\n')
        recorder.chmod(0o755)
    device = f"{tmp_path}/vdb; touch {tmp_path}/pwned"
    subprocess.run(
        ["sh", "-c", vb._MAKE_NODE, "sh", device, "7", "3"],
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        check=True,
    )
    assert not (tmp_path / "pwned").exists()
    assert (tmp_path / "mknod.args").read_text().splitlines() == [
        "-m", "660", device, "b", "7", "3",
    ]  # fmt: skip
    assert (tmp_path / "chgrp.args").read_text().splitlines() == ["disk", device]


def test_a_paused_server_can_neither_get_nor_lose_a_disk_and_a_stopped_one_needs_nothing(
    container: FakeContainer,
) -> None:
    """A node left in a frozen container would reach the next volume on that loop."""
    container.status = "paused"
    with pytest.raises(faults.Conflict, match="paused"):
        vb.make_node("server", "/dev/vdb", 3)
    with pytest.raises(faults.Conflict, match="Stop the server"):
        vb.remove_node("server", "/dev/vdb")
    container.status = "exited"  # its /dev is made anew when it starts
    assert vb.make_node("server", "/dev/vdb", 3) is False
    vb.remove_node("server", "/dev/vdb")
    assert container.ran == []


def test_a_refused_detach_leaves_the_volume_in_use(
    api: Api, container: FakeContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = api.store()
    attachment = {"server_id": "server", "device": "/dev/vdb", "attachment_id": "a"}
    volume = store.insert(
        "volume",
        {"status": "in-use", "attachments": [attachment], "lc_loop": None, "lc_path": "/x"},
        project_id=api.project_id(),
    )
    container.status = "paused"
    with pytest.raises(faults.Conflict):
        vb.detach_volume(store, volume["id"], "server")
    after = store.get("volume", volume["id"])
    assert after["status"] == "in-use" and after["attachments"] == [attachment]
