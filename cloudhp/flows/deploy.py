"""`cloudhp deploy` and `cloudhp service create|update`: the user's application on the
cluster, at a public URL, and every later deploy a no-op or a rolling update.

The flow: the Cinder volumes, the registry's own and the application's (made once,
attached and mounted on their node: `cloudhp.flows.volumes`, the only phase that needs
the cloud, so it authenticates once), the cluster registry (made once, on its volume's
node), the images (built here, pushed there), the stack (deployed only when a service's
rendered spec differs from the one running), the
wait for every service to converge healthy (start-first updates roll back on their
own when new tasks fail), the ingress routes (a pure function of what runs, applied
without dropping a connection), and a check that every URL answers.
"""

from __future__ import annotations

import functools
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import docker

from cloudhp.apps.model import Application
from cloudhp.commands.haproxy import ingress_config
from cloudhp.commands.registry import PORT, hostname
from cloudhp.commands.stack import render_stack, service_spec_hashes
from cloudhp.errors import ConflictError
from cloudhp.flows.nodes import ClusterNodes, RecordedNode
from cloudhp.flows.registry import registry_holder, registry_volume
from cloudhp.flows.volumes import ensure_block_volumes
from cloudhp.images import ensure_images
from cloudhp.images.transfer import load_into_node
from cloudhp.polling import poll_until
from cloudhp.progress import Reporter
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.ssh import UNREACHABLE, SSHRunner
from cloudhp.steps import ingress, registry, services
from cloudhp.steps.appimages import publish_images

PROBE_TIMEOUT = 10.0  # seconds a node has to answer `true` before it counts as down


@dataclass
class DeployReport:
    cluster: str
    project: str
    services: list[dict[str, object]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    phases: list[dict[str, object]] = field(default_factory=list)
    ingress: dict[str, str | None] = field(default_factory=dict)  # node: config digest

    @property
    def changed(self) -> bool:
        return any(p["changed"] for p in self.phases)

    def to_dict(self) -> dict[str, object]:
        return {
            "cluster": self.cluster,
            "project": self.project,
            "changed": self.changed,
            "services": self.services,
            "warnings": self.warnings,
            "phases": self.phases,
            "ingress": self.ingress,
        }


def ensure_cluster_registry(
    nodes: ClusterNodes, engine: docker.DockerClient, reporter: Reporter
) -> tuple[registry.RegistryInfo, bool]:
    """The registry on the node holding its volume (made ready before), every node
    resolving its name to that node and trusting its CA.

    The registry's image is on every node (in the golden image, else loaded here), as
    any node may hold the volume after a move, and an image cannot come from the
    registry that it runs. A node that does not answer (lost, its failover done or
    under way) is named and left out: the init or repair that brings it back writes
    its hosts line and trust.

    Raises:
        ConflictError: no node carries the registry volume's label (its volume was not
            made ready first).
    """
    lead = nodes.runner(nodes.lead)
    image = ensure_images(engine, ["registry"], reporter)[0]
    runners = answering(nodes, reporter)
    changed = any(in_parallel(lambda r: load_into_node(engine, r, image.tag), runners))
    holder = registry_holder(nodes)
    if holder is None:
        raise ConflictError(
            f"no node of cluster {nodes.files.name} holds the registry's volume",
            hint="`cloudhp deploy` makes it ready before the registry; run it again",
        )
    name = hostname(nodes.files.name)
    changed = registry.own_storage(nodes.runner(holder), image.tag) or changed
    changed = registry.ensure_registry_files(nodes.files.path, name) or changed
    changed = registry.point_hosts(runners, name, holder.private_ip) or changed
    changed = registry.trust_on_nodes(runners, nodes.files.path, f"{name}:{PORT}") or changed
    info, made = registry.ensure_registry(lead, nodes.files.path, image.tag, name)
    return info, changed or made


def answering(nodes: ClusterNodes, reporter: Reporter) -> list[SSHRunner]:
    """Runners on the nodes that answer SSH now; the others are named."""

    def answers(node: RecordedNode) -> SSHRunner | None:
        runner = nodes.runner(node)
        try:
            runner.run(["true"], timeout=PROBE_TIMEOUT)
        except UNREACHABLE:
            return None
        return runner

    found = in_parallel(answers, nodes.nodes)
    missed = [n.name for n, r in zip(nodes.nodes, found, strict=True) if r is None]
    if missed:
        reporter.step(f"not answering, left for init or repair: {', '.join(missed)}")
    return [r for r in found if r is not None]


def apply_cluster_routes(nodes: ClusterNodes) -> tuple[bool, dict[str, str | None]]:
    """Routes for every service cloudhp runs on the cluster, on every ingress node;
    whether any node changed, and the configuration digest each then reports."""
    lead = nodes.runner(nodes.lead)
    routes = [r for r in (s.route() for s in services.running_services(lead)) if r is not None]
    text = ingress_config(nodes.files.name, routes)
    runners = {n.name: nodes.runner(n) for n in nodes.ingress_nodes}
    changed = ingress.apply_routes(list(runners.values()), text)
    return changed, ingress.wait_until_served(runners, text)


def url_of(nodes: ClusterNodes, public_name: str) -> str:
    return f"http://{nodes.ingress_address}/{public_name}"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500 and exc.code != 404
    except OSError:
        return False


def wait_for_urls(urls: list[str], timeout: float = 120.0) -> None:
    for url in urls:
        poll_until(functools.partial(_answers, url + "/"), timeout=timeout, interval=1.0, what=url)


def deploy_application(
    nodes: ClusterNodes,
    app: Application,
    engine: docker.DockerClient,
    reporter: Reporter,
    *,
    prune: bool = True,
    force: bool = False,
    timeout: float = 300.0,
) -> DeployReport:
    """Deploys `app`; with `prune`, services of the project absent from it are removed.

    `force` replaces the tasks even when nothing changed (`service update`). Raises
    DeployFailed when new tasks do not become healthy within `timeout` seconds (an
    update is then rolled back by Swarm, and the previous version keeps serving).
    """
    report = DeployReport(nodes.files.name, app.project, warnings=list(app.warnings))
    for warning in app.warnings:
        reporter.step(f"warning: {warning}")
    lead = nodes.runner(nodes.lead)
    with reporter.phase("volumes") as ph:  # before the registry and the stack use them
        wanted_volumes = (registry_volume(), *app.block_volumes)
        ph.changed = ensure_block_volumes(nodes, wanted_volumes, reporter)
    with reporter.phase("registry") as ph:
        info, ph.changed = ensure_cluster_registry(nodes, engine, reporter)
    with reporter.phase("images") as ph:
        refs, ph.changed = publish_images(engine, lead, info, app, reporter)
    wanted = service_spec_hashes(app, refs, nodes.ingress_network)
    with reporter.phase("stack") as ph:
        running = {s.swarm_name: s for s in services.running_services(lead, app.project)}
        marks = {name: r.update_started for name, r in running.items()}
        stale = {n for n, h in wanted.items() if n not in running or running[n].spec_hash != h}
        extra = set(running) - set(wanted) if prune else set()
        if stale or extra:
            text = render_stack(app, refs, nodes.ingress_network)
            services.deploy_stack(lead, app.project, text, prune=prune)
            ph.changed = True
        elif force:
            for name in wanted:
                lead.run(["docker", "service", "update", "--detach", "--force", name])
            ph.changed = True
        else:
            reporter.step("every service already runs its current spec: no changes")
    with reporter.phase("converge"):
        services.wait_converged(lead, sorted(wanted), timeout, marks)
    with reporter.phase("routes") as ph:
        ph.changed, report.ingress = apply_cluster_routes(nodes)
    routed = [s for s in app.services if s.routed]
    with reporter.phase("verify"):
        wait_for_urls([url_of(nodes, s.public_name) for s in routed])
    for service in app.services:
        report.services.append(
            {
                "name": service.public_name,
                "swarm_name": service.swarm_name,
                "image": refs[service.name],
                "changed": service.swarm_name in stale or force,
                "url": url_of(nodes, service.public_name) + "/" if service.routed else None,
            }
        )
    report.phases = reporter.summary()
    return report


def remove(nodes: ClusterNodes, swarm_names: list[str]) -> bool:
    """Removes services and their routes; every other service keeps answering."""
    if not swarm_names:
        return False
    services.remove_services(nodes.runner(nodes.lead), swarm_names)
    apply_cluster_routes(nodes)
    return True
