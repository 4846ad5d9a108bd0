"""What a newcomer does with `cloudhp localcloud up` and the `openstack` CLI alone."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

WAIT_TEMPLATE = """\
heat_template_version: 2018-08-31
parameters:
  key_name: {type: string}
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      count: 1
      timeout: 300
  server:
    type: OS::Nova::Server
    properties:
      image: debian-12
      flavor: m1.tiny
      key_name: {get_param: key_name}
      networks: [{network: private}]
      user_data_format: RAW
      user_data:
        str_replace:
          template: |
            #!/bin/sh
            wc_notify --data-binary '{"status": "SUCCESS", "data": "booted"}'
          params:
            wc_notify: {get_attr: [handle, curl_cli]}
outputs:
  signal_data:
    value: {get_attr: [wait, data]}
"""


@pytest.fixture(scope="module")
def openstack_cli(cli):
    assert cli.run("localcloud", "up").returncode == 0
    env = dict(cli.env, OS_CLOUD="cloudhp-local")

    def run(*args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            ["openstack", *args], capture_output=True, text=True, env=env, timeout=timeout
        )
        assert result.returncode == 0, f"openstack {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    return run


def ssh(key: Path, address: str, command: str, attempts: int = 30) -> str:
    argv = [
        "ssh", "-i", str(key),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", f"debian@{address}", command,
    ]  # fmt: skip
    for _ in range(attempts):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if result.returncode == 0:
            return result.stdout
        time.sleep(1)
    raise AssertionError(f"ssh {command!r} failed: {result.stderr}")


def test_boot_ssh_volume_snapshot_and_stack(openstack_cli, cli, tmp_path):
    os_ = openstack_cli
    key = tmp_path / "k1"
    key.write_text(os_("keypair", "create", "newcomer-key"))
    key.chmod(0o600)
    server = json.loads(
        os_("server", "create", "--image", "debian-12", "--flavor", "m1.small",
            "--network", "private", "--key-name", "newcomer-key", "--wait", "-f", "json", "vm1")
    )  # fmt: skip
    assert server["status"] == "ACTIVE"
    fip = json.loads(os_("floating", "ip", "create", "public", "-f", "json"))["floating_ip_address"]
    os_("server", "add", "floating", "ip", "vm1", fip)
    # Security groups are enforced: the default group admits only its members (DevStack's too).
    os_("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "default")
    assert ssh(key, fip, "hostname").strip() == "vm1"

    os_("volume", "create", "--size", "1", "disk1")
    os_("server", "add", "volume", "vm1", "disk1")
    volume = json.loads(os_("volume", "show", "disk1", "-f", "json"))
    assert volume["status"] == "in-use"
    device = volume["attachments"][0]["device"]
    script = (
        f"sudo mkfs.ext4 -q {device} && sudo mount {device} /mnt && "
        "echo kept | sudo tee /mnt/proof && sudo umount /mnt && echo done"
    )
    out = ssh(key, fip, script)
    assert out.strip().endswith("done")

    image = json.loads(
        os_("server", "image", "create", "--name", "snap1", "--wait", "-f", "json", "vm1")
    )
    assert json.loads(os_("image", "show", image["id"], "-f", "json"))["status"] == "active"

    template = tmp_path / "wait.yaml"
    template.write_text(WAIT_TEMPLATE)
    os_(
        "stack",
        "create",
        "-t",
        str(template),
        "--parameter",
        "key_name=newcomer-key",
        "--wait",
        "st1",
    )
    stack = json.loads(os_("stack", "show", "st1", "-f", "json"))
    assert stack["stack_status"] == "CREATE_COMPLETE"
    outputs = {o["output_key"]: o["output_value"] for o in stack["outputs"]}
    assert "booted" in json.dumps(outputs["signal_data"])

    # A restart of localcloud keeps every resource and finds the servers as they are.
    assert cli.run("localcloud", "down").returncode == 0
    assert cli.run("localcloud", "up").returncode == 0
    assert json.loads(os_("server", "show", "vm1", "-f", "json"))["status"] == "ACTIVE"
    assert json.loads(os_("volume", "show", "disk1", "-f", "json"))["status"] == "in-use"
    assert ssh(key, fip, "hostname").strip() == "vm1"

    os_("stack", "delete", "--yes", "--wait", "st1")
    os_("server", "remove", "volume", "vm1", "disk1")
    os_("volume", "delete", "disk1")
    os_("server", "delete", "--wait", "vm1")
    os_("floating", "ip", "delete", fip)
    os_("image", "delete", "snap1")
    os_("keypair", "delete", "newcomer-key")
    assert "vm1" not in [s["Name"] for s in json.loads(os_("server", "list", "-f", "json"))]
