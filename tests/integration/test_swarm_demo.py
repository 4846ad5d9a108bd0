"""Three node containers become a real Swarm; HAProxy on one node reaches tasks on all."""

from __future__ import annotations

import docker
import paramiko
import pytest

from cloudhp.errors import HostKeyMismatch
from cloudhp.flows.demo import LABEL, SwarmDemo
from cloudhp.progress import RecordingReporter
from cloudhp.remote.ssh import SSHRunner

pytestmark = pytest.mark.docker


def leftovers(engine: docker.DockerClient, run_id: str) -> list[str]:
    label = f"{LABEL}={run_id}"
    found = [c.name for c in engine.containers.list(all=True, filters={"label": label})]
    found += [v.name for v in engine.volumes.list(filters={"label": label})]
    found += [n.name for n in engine.networks.list(filters={"label": label})]
    return found


@pytest.fixture
def demo(engine, images, tmp_path):
    run = SwarmDemo(engine, tmp_path, RecordingReporter(), node_count=3)
    yield run
    run.down()
    assert leftovers(engine, run.run_id) == []


def test_three_node_swarm_serves_across_nodes(demo, engine):
    report = demo.up()

    assert sorted(n["hostname"] for n in report.nodes) == ["node1", "node2", "node3"]
    assert all(n["status"] == "Ready" for n in report.nodes)
    assert [n["manager"] for n in report.nodes].count("Leader") == 1
    # HAProxy runs on node1 only; the other nodes' tasks answered through the overlay.
    assert set(report.answers) == {"node1", "node2", "node3"}, report.answers

    # Host keys were pinned from the boot log before first contact; another key is refused.
    node = demo.nodes[1]
    pinned = paramiko.HostKeys(str(demo.known_hosts.path))
    assert node.ip in pinned
    pinned.clear()
    pinned.add(node.ip, "ssh-ed25519", paramiko.Ed25519Key.from_private_key_file(
        str(demo.workdir / "id_ed25519")))  # fmt: skip
    pinned.save(str(demo.known_hosts.path))
    fresh = SSHRunner(node.ip, "debian", demo.workdir / "id_ed25519", demo.known_hosts)
    with pytest.raises(HostKeyMismatch):
        fresh.run("true")


class FailingDemo(SwarmDemo):
    def _deploy(self, *args: object) -> None:
        raise RuntimeError("injected failure after the swarm formed")


def test_a_failure_midway_leaves_nothing_behind(engine, images, tmp_path):
    run = FailingDemo(engine, tmp_path, RecordingReporter(), node_count=2)
    with pytest.raises(RuntimeError, match="injected"):
        try:
            run.up()
        finally:
            assert leftovers(engine, run.run_id)  # things did exist at the failure
            run.down()
    assert leftovers(engine, run.run_id) == []
