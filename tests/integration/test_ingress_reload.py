"""Route changes reach a real HAProxy ingress on a real Swarm without failing a request.

Two node containers (sshd + dockerd, reached over SSH) form a Swarm as in the Swarm
demo; the sample app runs on both behind an overlay network (dnsrr), and the ingress is
created by the very steps `init` and `deploy` use: `ensure_ingress_service` and
`apply_routes`. A reload under steady load must fail no request, and a configuration
HAProxy refuses must leave the running one serving.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import pytest

from cloudhp.commands.haproxy import HOST_DIR, SERVICE, Route, ingress_config
from cloudhp.flows.demo import SwarmDemo, wait_converged
from cloudhp.progress import RecordingReporter
from cloudhp.remote.ssh import SSHRunner
from cloudhp.steps import swarm
from cloudhp.steps.ingress import (
    CANDIDATE,
    IngressConfigInvalid,
    apply_routes,
    ensure_ingress_service,
    ingress_containers,
    read_config,
)
from tests.integration.test_swarm_demo import leftovers

pytestmark = pytest.mark.docker

CLUSTER = "demo"
WEB = Route("demo-web", "tasks.web", 8080)
API = Route("demo-api", "tasks.web", 8080, health_path="/demo-api/")


class IngressDemo(SwarmDemo):
    """The Swarm demo with cloudhp's own ingress instead of the demo's fixed HAProxy."""

    rerun_changed: bool | None = None

    def _deploy(self, manager: SSHRunner, ingress_host: str, app: str, haproxy: str) -> None:
        swarm.ensure_labels(manager, {ingress_host: {"cloudhp.ingress": "true"}})
        swarm.ensure_overlay(manager, "apps")
        manager.run([
            "docker", "service", "create", "--detach", "--name", "web",
            "--replicas", str(self.node_count), "--replicas-max-per-node", "1",
            "--network", "apps", "--endpoint-mode", "dnsrr",
            "--hostname", "{{.Node.Hostname}}",
            "--env", "PORT=8080", "--env", f"CONTEXT_ROOT=/{WEB.name}", app,
        ])  # fmt: skip
        assert ensure_ingress_service(manager, haproxy, CLUSTER, "apps") is True
        self.rerun_changed = ensure_ingress_service(manager, haproxy, CLUSTER, "apps")
        wait_converged(manager, {"web": self.node_count, SERVICE: 1})
        assert apply_routes([manager], ingress_config(CLUSTER, [WEB])) is True


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class Load:
    """Sequential requests from a few threads, counted; every non-200 is a failure."""

    url: str
    threads: int = 4
    done: int = 0
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _worker(self) -> None:
        while not self.stop.is_set():
            try:
                status, body = get(self.url)
                error = None if status == 200 else f"HTTP {status}: {body[:80]!r}"
            except OSError as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self.lock:
                self.done += 1
                if error:
                    self.failures.append(error)

    def count(self) -> int:
        with self.lock:
            return self.done

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            assert time.monotonic() < deadline, f"load made only {self.count()} requests"
            time.sleep(0.01)

    def start(self) -> list[threading.Thread]:
        workers = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.threads)]
        for w in workers:
            w.start()
        return workers


@pytest.fixture
def demo(engine, images, tmp_path):
    run = IngressDemo(engine, tmp_path, RecordingReporter(), node_count=2)
    yield run
    run.down()
    assert leftovers(engine, run.run_id) == []


def test_route_changes_reload_hitlessly_and_bad_configs_are_refused(demo, capsys):
    report = demo.up()
    node = demo.nodes[0]
    manager = node.runner
    base = f"http://{node.ip}/"
    # The route reaches tasks on both nodes through the overlay.
    assert set(report.answers) == {"node1", "node2"}, report.answers
    assert demo.rerun_changed is False  # a rerun of ensure_ingress_service changes nothing

    # Routing: the exact first path segment, not stripped; the rest is HAProxy's own.
    status, body = get(base + "demo-web/x?y=1")
    assert status == 200
    assert json.loads(body)["path"] == "/demo-web/x?y=1"
    assert json.loads(body)["context_root"] == "/demo-web"
    assert get(base + "demo-web")[0] == 200
    assert get(base + "demo-webx")[0] == 404
    assert get(base + "demo-webx/") == (404, "not found\n")
    assert get(base + "demo-api/")[0] == 404
    assert get(base) == (200, f"cloudhp cluster {CLUSTER}\n")
    assert get(base + "healthz") == (200, "ok\n")

    one_route = ingress_config(CLUSTER, [WEB])
    assert apply_routes([manager], one_route) is False  # same text: no change
    [container] = ingress_containers(manager)

    # A second route added, removed and added again (three reloads) while four threads
    # keep requesting the first one.
    two_routes = ingress_config(CLUSTER, [WEB, API])
    load = Load(base + "demo-web/")
    reloads: list[tuple[float, int]] = []  # (seconds in apply_routes, requests meanwhile)
    started = time.monotonic()
    workers = load.start()
    try:
        load.wait_for(100)
        for text in (two_routes, one_route, two_routes):
            before, t0 = load.count(), time.monotonic()
            assert apply_routes([manager], text) is True
            reloads.append((time.monotonic() - t0, load.count() - before))
            load.wait_for(load.count() + 50)
        load.wait_for(300)
    finally:
        load.stop.set()
        for w in workers:
            w.join(timeout=10)
    elapsed = time.monotonic() - started
    with capsys.disabled():
        shown = ", ".join(f"{n} requests in {s:.2f}s" for s, n in reloads)
        print(
            f"\ningress reloads under load: {load.done} requests from {load.threads} threads "
            f"in {elapsed:.1f}s, {len(load.failures)} failed; during each apply_routes: {shown}"
        )
    assert load.failures == [], load.failures[:10]
    assert all(n > 0 for _, n in reloads), f"a reload did not overlap the load: {reloads}"
    assert load.done >= 300

    # The new route serves; the same container reloaded in place (no task restart),
    # and its master passed the listening sockets to the new worker (-x sockpair@).
    assert read_config(manager) == two_routes
    assert get(base + "demo-api/")[0] == 200
    assert ingress_containers(manager) == [container]
    cmdlines = manager.run(
        ["docker", "exec", container, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]
    ).stdout
    assert "-x sockpair@" in cmdlines, cmdlines

    # A configuration HAProxy refuses: a clear error with HAProxy's message, nothing
    # replaced, no candidate left behind, the running proxy still serving both routes.
    broken = two_routes + "backend broken\n    server s1 tasks.web:8080 chek\n"
    with pytest.raises(IngressConfigInvalid) as refused:
        apply_routes([manager], broken)
    assert "haproxy -c refused" in refused.value.message
    assert "chek" in refused.value.message, refused.value.message
    assert read_config(manager) == two_routes
    leftover = manager.run(["test", "-e", f"{HOST_DIR}/{CANDIDATE}"], check=False)
    assert leftover.exited != 0
    assert get(base + "demo-web/")[0] == 200
    assert get(base + "demo-api/")[0] == 200
    assert ingress_containers(manager) == [container]

    # Removing the route is a reload too; the removed path is then a 404.
    assert apply_routes([manager], one_route) is True
    assert get(base + "demo-api/")[0] == 404
    assert get(base + "demo-web/")[0] == 200
