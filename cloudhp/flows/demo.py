"""The Swarm demo: three node containers become a Swarm serving the sample app.

It proves the platform cloudhp stands on (SSH into "VMs", Docker engines inside, an
overlay network across them, HAProxy in front) on this machine alone, and it is the
integration test's subject. Everything it creates carries one label and is removed by
`down`, also after a failure.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import docker

from cloudhp.commands.haproxy import SERVICE as INGRESS_SERVICE
from cloudhp.commands.haproxy import Route, ingress_config
from cloudhp.images import ensure_images, nodecontainers
from cloudhp.images.transfer import load_into_node
from cloudhp.keys import ensure_keypair
from cloudhp.polling import poll
from cloudhp.progress import Reporter
from cloudhp.remote.hostkeys import KnownHosts, console_host_keys
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.ssh import SSHRunner, wait_for_ssh
from cloudhp.steps.ingress import apply_routes, ensure_ingress_service
from cloudhp.steps.swarm import (
    ensure_joined,
    ensure_labels,
    ensure_overlay,
    ensure_swarm,
    join_tokens,
    list_nodes,
    swarm_members,
)

LABEL = "cloudhp.demo"
SSH_USER = "debian"

ROUTE = Route("demo-web", "tasks.web", 8080)
"""The demo's one route, the same kind of route `cloudhp deploy` gives a service."""


@dataclass
class DemoNode:
    name: str
    ip: str
    runner: SSHRunner


@dataclass
class DemoReport:
    run_id: str
    nodes: list[dict[str, object]] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    url: str = ""
    phases: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "url": self.url,
            "nodes": self.nodes,
            "answers_by_node": self.answers,
            "phases": self.phases,
        }


class SwarmDemo:
    def __init__(
        self,
        client: docker.DockerClient,
        workdir: Path,
        reporter: Reporter,
        node_count: int = 3,
        run_id: str | None = None,
    ) -> None:
        self.client = client
        self.workdir = workdir
        self.reporter = reporter
        self.node_count = node_count
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.prefix = f"cloudhp-demo-{self.run_id}"
        self.labels = {LABEL: self.run_id}
        self.known_hosts = KnownHosts(workdir / "known_hosts")
        self.nodes: list[DemoNode] = []

    def up(self) -> DemoReport:
        report = DemoReport(self.run_id)
        r = self.reporter
        with r.phase("images") as ph:
            images = {
                b.name: b for b in ensure_images(self.client, ["node", "sampleapp", "haproxy"], r)
            }
            ph.changed = any(b.built for b in images.values())
        key = ensure_keypair(self.workdir / "id_ed25519", comment=self.prefix)
        with r.phase("nodes") as ph:
            network, cidr = nodecontainers.create_network(self.client, self.prefix, self.labels)
            base = cidr.rsplit(".", 1)[0]
            specs = [
                nodecontainers.NodeSpec(
                    name=f"{self.prefix}-node{i}",
                    hostname=f"node{i}",
                    image=images["node"].tag,
                    network=network,
                    ip=f"{base}.{10 + i}",
                    public_keys=[key.public_key],
                    labels=self.labels,
                )
                for i in range(1, self.node_count + 1)
            ]
            containers = in_parallel(lambda s: nodecontainers.create_node(self.client, s), specs)
            consoles = in_parallel(nodecontainers.wait_for_boot, containers)
            ph.changed = True
        with r.phase("ssh"):
            for spec, container, console in zip(specs, containers, consoles, strict=True):
                keys = console_host_keys(console)
                self.known_hosts.pin(spec.ip or "", 22, keys, server_id=container.id)
            self.nodes = [
                DemoNode(
                    s.hostname or s.name,
                    s.ip or "",
                    SSHRunner(s.ip or "", SSH_USER, key.private_path, self.known_hosts),
                )
                for s in specs
            ]
            in_parallel(lambda n: wait_for_ssh(n.runner), self.nodes)
        with r.phase("swarm") as ph:
            first, rest = self.nodes[0], self.nodes[1:]
            ph.changed = ensure_swarm(first.runner, first.ip)
            tokens = join_tokens(first.runner)
            members = swarm_members(first.runner)
            joined = in_parallel(
                lambda n: ensure_joined(n.runner, tokens.worker, first.ip, n.ip, members), rest
            )
            ph.changed = ph.changed or any(joined)
        with r.phase("load images"):
            in_parallel(
                lambda n: [
                    load_into_node(self.client, n.runner, images[i].tag)
                    for i in ("sampleapp", "haproxy")
                ],
                self.nodes,
            )
        with r.phase("services"):
            self._deploy(first.runner, first.name, images["sampleapp"].tag, images["haproxy"].tag)
        with r.phase("verify"):
            report.url = f"http://{first.ip}/"
            report.answers = self._sample(report.url, requests=3 * self.node_count)
        report.nodes = [
            {"hostname": n["Hostname"], "status": n["Status"], "availability": n["Availability"],
             "manager": n["ManagerStatus"] or "worker"}
            for n in list_nodes(first.runner)
        ]  # fmt: skip
        report.phases = r.summary() if hasattr(r, "summary") else []
        return report

    def _deploy(self, manager: SSHRunner, ingress_host: str, app: str, haproxy: str) -> None:
        """The sample app behind cloudhp's own ingress, with the very steps init uses."""
        ensure_labels(manager, {ingress_host: {"cloudhp.ingress": "true"}})
        ensure_overlay(manager, "apps")
        manager.run([
            "docker", "service", "create", "--detach", "--name", "web",
            "--replicas", str(self.node_count), "--replicas-max-per-node", "1",
            "--network", "apps", "--endpoint-mode", "dnsrr",
            "--hostname", "{{.Node.Hostname}}",
            "--env", "PORT=8080", "--env", f"CONTEXT_ROOT=/{ROUTE.name}", app,
        ])  # fmt: skip
        ensure_ingress_service(manager, haproxy, "demo", "apps")
        wait_converged(manager, {"web": self.node_count, INGRESS_SERVICE: 1})
        apply_routes([manager], ingress_config("demo", [ROUTE]))

    def _sample(self, url: str, requests: int, timeout: float = 60.0) -> dict[str, int]:
        """Ask the ingress node repeatedly; count which node's task answered."""

        def ask() -> dict[str, int]:
            answers: Counter[str] = Counter()
            try:
                for _ in range(requests):
                    with urllib.request.urlopen(url + f"{ROUTE.name}/", timeout=5) as resp:
                        answers[json.load(resp)["hostname"]] += 1
            except OSError:
                return {}
            return dict(answers)

        return poll(
            ask,
            lambda answers: len(answers) == self.node_count,
            timeout=timeout,
            interval=1.0,
            what=f"answers from all {self.node_count} nodes",
        )

    def down(self) -> int:
        for node in self.nodes:
            node.runner.close()
        return nodecontainers.remove_labelled(self.client, f"{LABEL}={self.run_id}")


def wait_converged(manager: SSHRunner, wanted: dict[str, int], timeout: float = 120.0) -> None:
    """Until each service named runs at least its count of tasks."""

    def running() -> dict[str, int]:
        out = manager.run(["docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"]).stdout
        return {
            line.split()[0]: int(line.split()[1].split("/")[0])
            for line in out.splitlines()
            if len(line.split()) >= 2
        }

    poll(
        running,
        lambda have: all(have.get(n, 0) >= c for n, c in wanted.items()),
        timeout=timeout,
        interval=1.0,
        what=f"services {', '.join(wanted)} converging",
    )
