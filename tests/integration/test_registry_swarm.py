"""The cluster registry on a real Swarm of node containers, over SSH.

The registry runs on node1 from the `registry` recipe; node2 and node3 have never seen
the application image and must pull it from there, with the credentials Swarm hands
them (`--with-registry-auth`), through TLS they trust only via the cluster CA, by the
registry's name, which each node's hosts line points at node1. A plain directory on
node1 stands in for the mounted Cinder volume (volumes have their own tests), and
node1 gets the volume's placement label by hand, as deploy would give it.

(Named `test_registry_swarm.py`: `tests/unit/test_registry.py` exists, and neither
directory is a package, so a second `test_registry.py` would not import.)
"""

from __future__ import annotations

import shlex
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import docker
import pytest

from cloudhp.commands.registry import SERVICE, VOLUME, hostname
from cloudhp.commands.volumes import data_dir, label_add_command
from cloudhp.flows.demo import LABEL, SSH_USER, DemoNode, SwarmDemo, wait_converged
from cloudhp.images import BuiltImage, nodecontainers
from cloudhp.images.transfer import load_into_node
from cloudhp.keys import ensure_keypair
from cloudhp.progress import RecordingReporter
from cloudhp.remote.hostkeys import console_host_keys
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.runner import Result, Runner
from cloudhp.remote.ssh import SSHRunner, wait_for_ssh
from cloudhp.steps.registry import (
    FILES,
    ensure_registry,
    ensure_registry_files,
    own_storage,
    point_hosts,
    push_image,
    trust_on_nodes,
)
from cloudhp.steps.swarm import ensure_joined, ensure_swarm, join_tokens, swarm_members

pytestmark = pytest.mark.docker


class Recording:
    """A Runner that keeps every command line and output, to look for the password."""

    def __init__(self, inner: Runner) -> None:
        self.inner = inner
        self.host = inner.host
        self.seen: list[str] = []

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        result = self.inner.run(command, stdin=stdin, check=check, timeout=timeout)
        self.seen += [result.command, result.stdout, result.stderr]
        return result

    def run_with_input(self, command: Sequence[str], chunks: Iterable[bytes]) -> Result:
        result = self.inner.run_with_input(command, chunks)
        self.seen += [result.command, result.stdout, result.stderr]
        return result


def form_swarm(demo: SwarmDemo, node_image: str) -> None:
    """The demo's nodes and Swarm, without its services: the building blocks of `up`."""
    key = ensure_keypair(demo.workdir / "id_ed25519", comment=demo.prefix)
    network, cidr = nodecontainers.create_network(demo.client, demo.prefix, demo.labels)
    base = cidr.rsplit(".", 1)[0]
    specs = [
        nodecontainers.NodeSpec(
            name=f"{demo.prefix}-node{i}",
            hostname=f"node{i}",
            image=node_image,
            network=network,
            ip=f"{base}.{10 + i}",
            public_keys=[key.public_key],
            labels=demo.labels,
        )
        for i in range(1, demo.node_count + 1)
    ]
    containers = in_parallel(lambda s: nodecontainers.create_node(demo.client, s), specs)
    consoles = in_parallel(nodecontainers.wait_for_boot, containers)
    for spec, container, console in zip(specs, containers, consoles, strict=True):
        keys = console_host_keys(console)
        demo.known_hosts.pin(spec.ip or "", 22, keys, server_id=container.id)
    demo.nodes = [
        DemoNode(
            s.hostname or s.name,
            s.ip or "",
            SSHRunner(s.ip or "", SSH_USER, key.private_path, demo.known_hosts),
        )
        for s in specs
    ]
    in_parallel(lambda n: wait_for_ssh(n.runner), demo.nodes)
    first, rest = demo.nodes[0], demo.nodes[1:]
    ensure_swarm(first.runner, first.ip)
    tokens = join_tokens(first.runner)
    members = swarm_members(first.runner)
    in_parallel(lambda n: ensure_joined(n.runner, tokens.worker, first.ip, n.ip, members), rest)


def leftovers(engine: docker.DockerClient, run_id: str) -> list[str]:
    label = f"{LABEL}={run_id}"
    found = [c.name for c in engine.containers.list(all=True, filters={"label": label})]
    found += [v.name for v in engine.volumes.list(filters={"label": label})]
    found += [n.name for n in engine.networks.list(filters={"label": label})]
    return found


@pytest.fixture
def swarm(
    engine: docker.DockerClient, images: dict[str, BuiltImage], tmp_path: Path
) -> Iterator[SwarmDemo]:
    demo = SwarmDemo(engine, tmp_path, RecordingReporter(), node_count=3)
    try:
        started = time.monotonic()
        form_swarm(demo, images["node"].tag)
        print(f"\n[timing] 3-node swarm formed in {time.monotonic() - started:.1f}s")
        yield demo
    finally:
        demo.down()
        assert leftovers(engine, demo.run_id) == []


def test_other_nodes_pull_from_the_cluster_registry_with_credentials_only(
    swarm: SwarmDemo, engine: docker.DockerClient, images: dict[str, BuiltImage], tmp_path: Path
) -> None:
    timings: dict[str, float] = {}
    mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        timings[name] = now - mark
        mark = now

    node1, workers = swarm.nodes[0], swarm.nodes[1:]
    lead = Recording(node1.runner)
    workdir = tmp_path / "cluster"
    registry_image = images["registry"].tag

    name = hostname("demo")
    runners = [n.runner for n in swarm.nodes]
    assert load_into_node(engine, node1.runner, registry_image) is True
    node1.runner.run(["sudo", "-n", "mkdir", "-p", data_dir(VOLUME)])
    lead.run(label_add_command(node1.name, VOLUME))
    assert own_storage(node1.runner, registry_image) is True
    assert own_storage(node1.runner, registry_image) is False
    assert point_hosts(runners, name, node1.ip) is True
    assert point_hosts(runners, name, node1.ip) is False
    assert ensure_registry_files(workdir, name) is True
    info, changed = ensure_registry(lead, workdir, registry_image, name)
    assert changed is True
    assert (info.address, info.username) == (f"{name}:5000", "cloudhp")
    lap("registry up")

    assert trust_on_nodes(runners, workdir, info.address) is True  # node2, node3 are new
    assert trust_on_nodes(runners, workdir, info.address) is False
    ca = (workdir / "registry" / "ca.crt").read_text()
    for node in swarm.nodes:
        path = f"/etc/docker/certs.d/{info.address}/ca.crt"
        assert node.runner.run(["cat", path]).stdout == ca

    target = f"{info.address}/demo/web:{images['sampleapp'].tag.split(':')[-1]}"
    for worker in workers:
        assert worker.runner.run(["docker", "image", "inspect", target], check=False).exited
    assert push_image(engine, lead, images["sampleapp"].tag, target) is True
    lap("first push")
    assert push_image(engine, lead, images["sampleapp"].tag, target) is False
    assert ensure_registry(lead, workdir, registry_image, name) == (info, False)
    lap("reruns")

    lead.run([
        "docker", "service", "create", "--detach", "--with-registry-auth", "--name", "web",
        "--replicas", "3", "--replicas-max-per-node", "1", "--hostname", "{{.Node.Hostname}}",
        "--env", "PORT=8080", target,
    ])  # fmt: skip
    wait_converged(node1.runner, {"web": 3})
    lap("service converged")
    out = lead.run([
        "docker", "service", "ps", "web", "--filter", "desired-state=running",
        "--format", "{{.Node}} {{.CurrentState}}",
    ]).stdout  # fmt: skip
    states = dict(line.split(" ", 1) for line in out.splitlines())
    assert sorted(states) == ["node1", "node2", "node3"], out
    assert all(s.startswith("Running") for s in states.values()), out
    for worker in workers:
        task = worker.runner.run(
            ["docker", "ps", "-q", "--filter", "label=com.docker.swarm.service.name=web"]
        ).stdout.split()
        assert len(task) == 1, (worker.name, task)
        # Swarm pins the digest, so the worker holds the image by digest (not by tag).
        image_id = worker.runner.run(["docker", "inspect", "--format", "{{.Image}}", task[0]])
        digests = worker.runner.run(
            ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}",
             image_id.stdout.strip()]
        ).stdout  # fmt: skip
        assert f"{info.address}/demo/web@sha256:" in digests, (worker.name, digests)
        answer = worker.runner.run([
            "docker", "exec", task[0], "python3", "-c",
            "import urllib.request; print(urllib.request.urlopen("
            "'http://127.0.0.1:8080/demo-web/', timeout=5).read().decode())",
        ]).stdout  # fmt: skip
        assert f'"hostname": "{worker.name}"' in answer, answer
    lap("tasks checked")

    # Without credentials the registry refuses, though TLS is trusted.
    worker = workers[0].runner
    worker.run(["docker", "logout", info.address])
    refused = worker.run(["docker", "pull", target], check=False)
    assert refused.exited != 0
    said = (refused.stdout + refused.stderr).lower()
    assert "no basic auth credentials" in said or "unauthorized" in said, said
    anonymous = worker.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"https://{info.address}/v2/",
         "--cacert", f"/etc/docker/certs.d/{info.address}/ca.crt"],
    ).stdout  # fmt: skip
    assert anonymous == "401"
    lap("refusals")

    password = (workdir / "registry" / "password").read_text()
    assert all(password not in text for text in lead.seen)
    spec = lead.run(["docker", "service", "inspect", SERVICE]).stdout
    assert password not in spec
    container = node1.runner.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={SERVICE}"]
    ).stdout.split()
    env = node1.runner.run(["docker", "inspect", "--format", "{{json .Config.Env}}", *container])
    assert password not in env.stdout
    user = node1.runner.run(["docker", "exec", *container, "id", "-un"]).stdout.strip()
    assert user == "docker-registry"
    for name in FILES:
        mode = stat.S_IMODE((workdir / "registry" / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    print("[timing] " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    print("[registry] " + shlex.join([info.address, target]))
