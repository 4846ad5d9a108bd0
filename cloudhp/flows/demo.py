"""The Swarm demo: three node containers become a Swarm serving the sample app.

It proves the platform cloudhp stands on (SSH into "VMs", Docker engines inside, an
overlay network across them, HAProxy in front) on this machine alone, and it is the
integration test's subject. Everything it creates carries one label and is removed by
`down`, also after a failure.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import docker

from cloudhp.errors import WaitTimeout
from cloudhp.images import ensure_images, nodecontainers
from cloudhp.images.transfer import load_into_node
from cloudhp.keys import ensure_keypair
from cloudhp.progress import Reporter
from cloudhp.remote.hostkeys import KnownHosts
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.ssh import SSHRunner, wait_for_ssh
from cloudhp.steps.swarm import ensure_joined, ensure_swarm, join_tokens, list_nodes

LABEL = "cloudhp.demo"
SSH_USER = "debian"

HAPROXY_CFG = """\
global
    log stdout format raw local0
resolvers swarm
    nameserver dns 127.0.0.11:53
    hold valid 1s
defaults
    mode http
    timeout connect 3s
    timeout client 10s
    timeout server 10s
frontend http
    bind :80
    http-request return status 200 content-type text/plain string "ok\\n" if { path /healthz }
    default_backend web
backend web
    balance roundrobin
    server-template web 6 tasks.web:8080 check resolvers swarm init-addr none
"""


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
            in_parallel(nodecontainers.wait_for_boot, containers)
            ph.changed = True
        with r.phase("ssh"):
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
            joined = in_parallel(
                lambda n: ensure_joined(n.runner, tokens.worker, first.ip, n.ip), rest
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
        manager.run(["docker", "network", "create", "--driver", "overlay", "--attachable", "apps"])
        manager.run_with_input(
            ["docker", "config", "create", "haproxy-demo", "-"], [HAPROXY_CFG.encode()]
        )
        manager.run([
            "docker", "service", "create", "--detach", "--name", "web",
            "--replicas", str(self.node_count), "--replicas-max-per-node", "1",
            "--network", "apps", "--endpoint-mode", "dnsrr",
            "--hostname", "{{.Node.Hostname}}", "--env", "CONTEXT_ROOT=/demo-web", app,
        ])  # fmt: skip
        manager.run([
            "docker", "service", "create", "--detach", "--name", "ingress-haproxy",
            "--network", "apps", "--endpoint-mode", "dnsrr",
            "--constraint", f"node.hostname=={ingress_host}",
            "--publish", "mode=host,target=80,published=80",
            "--config", "source=haproxy-demo,target=/usr/local/etc/haproxy/haproxy.cfg",
            haproxy,
        ])  # fmt: skip
        wait_converged(manager, {"web": self.node_count, "ingress-haproxy": 1})

    def _sample(self, url: str, requests: int, timeout: float = 60.0) -> dict[str, int]:
        """Ask the ingress node repeatedly; count which node's task answered."""
        deadline = time.monotonic() + timeout
        while True:
            answers: Counter[str] = Counter()
            try:
                for _ in range(requests):
                    with urllib.request.urlopen(url + "demo-web/", timeout=5) as resp:
                        answers[json.load(resp)["hostname"]] += 1
            except OSError:
                answers.clear()
            if len(answers) == self.node_count or time.monotonic() > deadline:
                return dict(answers)
            time.sleep(1)

    def down(self) -> int:
        for node in self.nodes:
            node.runner.close()
        return nodecontainers.remove_labelled(self.client, f"{LABEL}={self.run_id}")


def wait_converged(manager: SSHRunner, wanted: dict[str, int], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    running: dict[str, int] = {}
    while time.monotonic() < deadline:
        out = manager.run(["docker", "service", "ls", "--format", "{{.Name}} {{.Replicas}}"]).stdout
        running = {}
        for line in out.splitlines():
            name, replicas = line.split()[:2]
            running[name] = int(replicas.split("/")[0])
        if all(running.get(n, 0) >= c for n, c in wanted.items()):
            return
        time.sleep(1)
    raise WaitTimeout(
        f"services did not converge within {timeout:.0f}s: want {wanted}, have {running}"
    )
