"""`cloudhp init`: the whole flow, each step read-compare-act so a rerun is a no-op.

Every step looks at what exists (by name and by the cluster tag) and creates only what is
missing, so a run interrupted at any point (even by SIGKILL) is completed by the next
one, and `--workers 5` on a 3-worker cluster adds two.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import docker

from cloudhp.cloud.calls import cloud_call
from cloudhp.commands import registry as registry_cmd
from cloudhp.context import ClusterContext
from cloudhp.expiry import format_time
from cloudhp.flows.scale_nodes import scale_in
from cloudhp.images import CLUSTER_IMAGES, ensure_images
from cloudhp.naming import resource_name
from cloudhp.remote.hostkeys import KnownHosts, ServerAddress, pin_from_consoles
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.ssh import SSHRunner, wait_for_ssh
from cloudhp.state import set_current
from cloudhp.steps import golden, ingress, preflight, registry, replace, secgroups, swarm
from cloudhp.steps.appcred import ensure_app_credential
from cloudhp.steps.health import DEFAULT_DOWN_AFTER
from cloudhp.steps.keypair import ensure_cloud_keypair
from cloudhp.steps.servers import Node, ensure_servers
from cloudhp.steps.volumes import labelled_nodes


@dataclass
class InitReport:
    cluster: str
    nodes: list[Node] = field(default_factory=list)
    ingress_url: str = ""
    networks: list[str] = field(default_factory=list)
    golden_image: str = ""
    phases: list[dict[str, object]] = field(default_factory=list)
    repaired: list[dict[str, object]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved_volumes: list[dict[str, object]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(p["changed"] for p in self.phases)

    def to_dict(self) -> dict[str, object]:
        return {
            "cluster": self.cluster,
            "changed": self.changed,
            "ingress_url": self.ingress_url,
            "golden_image": self.golden_image,
            "networks": self.networks,
            "nodes": [n.to_dict() for n in self.nodes],
            "phases": self.phases,
            "repaired": self.repaired,
            "removed": self.removed,
            "moved_volumes": self.moved_volumes,
        }


def runners_for(ctx: ClusterContext, nodes: list[Node]) -> dict[str, SSHRunner]:
    known = KnownHosts(ctx.known_hosts_path)
    return {
        n.name: SSHRunner(n.private_ip or "", ctx.spec.ssh_user, ctx.key_path, known) for n in nodes
    }


def pin_host_keys(ctx: ClusterContext, nodes: list[Node]) -> None:
    """Pin each node's host keys from its server's console before the first SSH contact,
    and again when a new server took over a node's address; waits (bounded) for
    cloud-init to print them, as a server is ACTIVE long before it does."""

    def read_console(server_id: str) -> str:
        with cloud_call(f"reading the console of server {server_id}"):
            return ctx.conn.compute.get_server_console_output(server_id)["output"] or ""

    addresses = [ServerAddress(n.name, n.server_id, n.private_ip) for n in nodes if n.private_ip]
    pin_from_consoles(
        KnownHosts(ctx.known_hosts_path), addresses, read_console, step=ctx.reporter.step
    )


def connect_nodes(ctx: ClusterContext, nodes: list[Node]) -> dict[str, SSHRunner]:
    pin_host_keys(ctx, nodes)
    return runners_for(ctx, nodes)


def run_init(
    ctx: ClusterContext,
    engine: docker.DockerClient,
    down_after: float = DEFAULT_DOWN_AFTER,
    drain_timeout: float = 300.0,
) -> InitReport:
    r = ctx.reporter
    spec = ctx.spec
    report = InitReport(spec.name)
    # Remembered before anything is created, so that every later command (status, ssh,
    # teardown) defaults to this cluster even when this run fails half-way.
    ctx.files.update_record(
        auth=ctx.auth,
        ssh_user=spec.ssh_user,
        expires_at=format_time(ctx.expires_at) if ctx.expires_at else None,
        spec=asdict(spec),  # what `cloudhp repair` rebuilds lost nodes to
    )
    set_current(spec.name)
    with r.phase("images") as ph:
        images = ensure_images(engine, list(CLUSTER_IMAGES), r)
        ph.changed = any(i.built for i in images)
    with r.phase("preflight"):
        needs_builder = golden.find_golden(ctx, images, engine) is None
        ctx.resolved = preflight.preflight(ctx, extra_servers=1 if needs_builder else 0)
    with r.phase("security groups") as ph, cloud_call("ensuring the security groups"):
        _, ph.changed = secgroups.ensure_security_groups(ctx)
    with r.phase("keypair") as ph, cloud_call("ensuring the keypair"):
        key_name, ph.changed = ensure_cloud_keypair(ctx)
    with r.phase("credential") as ph:
        ph.changed = ensure_app_credential(
            ctx.conn, spec.name, ctx.files.path, r, expires_at=ctx.expires_at
        )
    with r.phase("golden image") as ph:
        built = golden.ensure_golden_image(ctx, images, engine)
        ph.changed = built.built
        report.golden_image = built.name
    groups = {k: resource_name(spec.name, f"sg-{k}") for k in ("swarm", "ssh", "ingress")}
    with r.phase("repair") as ph:
        healed = replace.heal(ctx, down_after)
        report.repaired = [fix.to_dict() for fix in healed.health.repairs]
        ph.changed = bool(report.repaired)
    with r.phase("scale in") as ph:  # fewer nodes asked for: drain and remove the rest
        scaled = scale_in(ctx, lambda found: connect_nodes(ctx, found), drain_timeout)
        report.removed, report.moved_volumes = scaled.removed, scaled.moved_volumes
        ph.changed = bool(report.removed or report.moved_volumes)
    nodes, runners, lead = _nodes_and_swarm(ctx, built.image_id, key_name, groups)
    report.nodes = nodes
    if (registry.registry_dir(ctx.workdir) / "ca.crt").exists():
        # A deploy made the cluster's registry: nodes added since must find and trust it.
        with r.phase("registry trust") as ph:
            ph.changed = _registry_trust(ctx, nodes, runners, lead)
    with r.phase("networks") as ph:
        made = [swarm.ensure_overlay(lead, o.name, o.encrypted) for o in spec.overlay_networks]
        ph.changed = any(made)
        report.networks = [o.name for o in spec.overlay_networks]
    with r.phase("ingress") as ph:
        haproxy = next(i for i in images if i.name == "haproxy")
        proxy_net = spec.overlay_networks[0].name
        changed = ingress.ensure_ingress_service(
            lead,
            haproxy.tag,
            spec.name,
            proxy_net,
            [runners[n.name] for n in nodes if n.ingress],
        )
        ingress_node = next(n for n in nodes if n.ingress)
        with cloud_call("attaching the floating IP"):
            address, fip_changed = ingress.ensure_floating_ip(ctx, ingress_node)
        ingress_node.floating_ip = address
        report.ingress_url = f"http://{address}/"
        ingress.wait_for_http(report.ingress_url + "healthz")
        ph.changed = changed or fip_changed
    for runner in runners.values():
        runner.close()
    report.phases = r.summary()
    save_cluster_record(ctx, report)
    return report


def _registry_trust(
    ctx: ClusterContext, nodes: list[Node], runners: dict[str, SSHRunner], lead: SSHRunner
) -> bool:
    """Every node's hosts line names the registry volume's holder (a node that was
    down when the volume moved, or a new one, gets it here) and trusts the CA.

    No holder (a teardown kept the volume, this init brought the nodes back): the next
    deploy places the volume and writes the lines.
    """
    everyone = list(runners.values())
    name = registry_cmd.hostname(ctx.spec.name)
    held = labelled_nodes(lead, registry_cmd.VOLUME)
    holder = next((n for n in nodes if n.name in held and n.private_ip), None)
    changed = False
    if holder is not None:
        changed = registry.point_hosts(everyone, name, holder.private_ip or "")
    address = registry_cmd.address(ctx.spec.name)
    return registry.trust_on_nodes(everyone, ctx.workdir, address) or changed


def _nodes_and_swarm(
    ctx: ClusterContext, image_id: str, key_name: str, groups: dict[str, str]
) -> tuple[list[Node], dict[str, SSHRunner], SSHRunner]:
    r = ctx.reporter
    with r.phase("servers") as ph:
        nodes, ph.changed = ensure_servers(ctx, image_id, key_name, groups)
    ctx.files.update_record(nodes=[n.to_dict() for n in nodes])
    runners = runners_for(ctx, nodes)
    with r.phase("ssh"):
        pin_host_keys(ctx, nodes)
        in_parallel(lambda n: wait_for_ssh(runners[n.name]), nodes)
    managers = [n for n in nodes if n.role == "manager"]
    workers = [n for n in nodes if n.role == "worker"]
    # The lead is a manager already in the Swarm (a replaced manager-1 joins it): only
    # a cluster without one initialises a Swarm, on its first manager.
    first = managers[swarm.lead_index([runners[m.name] for m in managers])]
    lead = runners[first.name]
    lead_ip = first.private_ip or ""
    with r.phase("swarm") as ph:
        changed = swarm.ensure_swarm(lead, lead_ip)
        tokens = swarm.join_tokens(lead)
        members = swarm.swarm_members(lead)
        others = [m for m in managers if m is not first]
        for group, token in ((others, tokens.manager), (workers, tokens.worker)):

            def join(node: Node, token: str = token) -> bool:
                return swarm.ensure_joined(
                    runners[node.name], token, lead_ip, node.private_ip or "", members
                )

            joined = any(in_parallel(join, group))
            if joined:  # a token that has been used (and sent over SSH) is retired
                swarm.rotate_join_token(lead, "manager" if group is not workers else "worker")
            changed = joined or changed
        carried = replace.carried_labels(ctx.files)  # from nodes this run replaced
        labels = {
            n.name: carried.get(n.name, {})
            | {"cloudhp.role": n.role, "cloudhp.ingress": str(n.ingress).lower()}
            for n in nodes
        }
        changed = swarm.ensure_labels(lead, labels) or changed
        replace.forget_carried(ctx.files)
        ph.changed = changed
    return nodes, runners, lead


def save_cluster_record(ctx: ClusterContext, report: InitReport) -> None:
    """What `status` and `ssh` need offline: nodes, addresses, the SSH user. No secrets."""
    ctx.files.update_record(**report.to_dict())
