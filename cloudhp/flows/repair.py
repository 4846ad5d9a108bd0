"""`cloudhp repair`: replace the nodes a cluster lost, then check that the Swarm is whole.

The replacing is init's: the spec init recorded is run again, and init's repair phase
(`cloudhp.steps.replace`) first clears the lost nodes away, so that its servers, ssh and
swarm phases create, pin, join and label them as they would any missing node, and its
ingress phase puts the floating IP on the ingress node's new server; on a healthy
cluster it changes nothing. What repair adds around it: a look first (a dry run stops
there, and a lost quorum is refused before anything changes), the routes put back on a
replaced ingress node, and a wait until every node is Ready and every manager reachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker
from openstack.connection import Connection

from cloudhp.clusterspec import ClusterSpec, build_spec
from cloudhp.context import ClusterContext
from cloudhp.errors import NotFoundError
from cloudhp.expiry import parse_time
from cloudhp.flows.deploy import apply_cluster_routes
from cloudhp.flows.init import InitReport, run_init
from cloudhp.flows.nodes import open_nodes
from cloudhp.polling import poll
from cloudhp.progress import Reporter
from cloudhp.state import ClusterFiles
from cloudhp.steps.health import QuorumLost
from cloudhp.steps.replace import Inspection, heal

POLL_SECONDS = 3.0


@dataclass
class RepairReport:
    cluster: str
    dry_run: bool
    down_after: float
    found: Inspection
    init: InitReport | None = None
    after: Inspection | None = None
    routes_changed: bool = False

    @property
    def repairs(self) -> list[dict[str, object]]:
        """What was done (init's report), or for a dry run what would be."""
        if self.init is None:
            return [fix.to_dict() for fix in self.found.health.repairs] if self.dry_run else []
        return self.init.repaired

    @property
    def changed(self) -> bool:
        return self.init is not None and (self.init.changed or self.routes_changed)

    def to_dict(self) -> dict[str, object]:
        return {
            "cluster": self.cluster,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "down_after": self.down_after,
            "found": self.found.to_dict(),
            "repaired": self.init.repaired if self.init else [],
            "quorum_before": None if self.found.quorum is None else str(self.found.quorum),
            "quorum_after": None if self.after is None else str(self.after.quorum),
            "routes_changed": self.routes_changed,
            "ingress_url": self.init.ingress_url if self.init else None,
            "nodes": [n.to_dict() for n in self.init.nodes] if self.init else [],
            "phases": self.init.phases if self.init else [],
        }


def spec_of(files: ClusterFiles) -> ClusterSpec:
    """The spec the cluster's last init ran with, from its record."""
    recorded = files.read_record().get("spec")
    if not isinstance(recorded, dict):
        raise NotFoundError(
            f"cluster {files.name} has no recorded spec in {files.record_path}",
            hint=f"run `cloudhp init --name {files.name}` with the cluster's options once "
            "from this machine: it records the spec, and replaces lost nodes itself",
        )
    return build_spec(recorded, {})


def repair_context(
    conn: Connection, files: ClusterFiles, spec: ClusterSpec, reporter: Reporter
) -> ClusterContext:
    record = files.read_record()
    return ClusterContext(
        conn,
        spec,
        files.path,
        reporter,
        auth=dict(record.get("auth") or {}),
        expires_at=parse_time(str(record.get("expires_at") or "")),
    )


def run_repair(
    ctx: ClusterContext,
    engine: docker.DockerClient,
    down_after: float,
    *,
    dry_run: bool = False,
    timeout: float = 300.0,
) -> RepairReport:
    """Look, and unless `dry_run`, replace what is lost (init) and verify.

    Raises:
        QuorumLost: no manager answers with a Swarm (or none has a leader); nothing
            was changed.
        WaitTimeout: the Swarm was not whole within `timeout` after the replacement.
    """
    r = ctx.reporter
    with r.phase("health"):
        found = heal(ctx, down_after, dry_run=True)
    if found.lead is None:
        raise _no_swarm(ctx)
    report = RepairReport(ctx.spec.name, dry_run, down_after, found)
    if dry_run:
        return report
    # init even when nothing is lost now: a repair cut off after its replacement (before
    # the floating IP moved, say) is completed by this one, which finds no lost node.
    report.init = run_init(ctx, engine, down_after)
    with r.phase("routes") as ph, open_nodes(ctx.files) as nodes:  # a new ingress node's
        ph.changed = report.routes_changed = apply_cluster_routes(nodes)[0]
    with r.phase("verify"):
        report.after = wait_whole(ctx, down_after, timeout)
    return report


def wait_whole(ctx: ClusterContext, down_after: float, timeout: float) -> Inspection:
    """Until the Swarm lists each node once, Ready, and every manager is reachable."""
    spec = ctx.spec

    def whole(seen: Inspection) -> bool:
        quorum = seen.quorum
        return (
            quorum is not None
            and quorum.managers == quorum.reachable == spec.managers
            and len(seen.swarm) == spec.node_count
            and all(n.state == "ready" for n in seen.swarm)
        )

    def tick(seen: Inspection, elapsed: float) -> None:
        ready = sum(1 for n in seen.swarm if n.state == "ready")
        ctx.reporter.step(f"{ready}/{spec.node_count} nodes Ready, {seen.quorum} ({elapsed:.0f}s)")

    return poll(
        lambda: heal(ctx, down_after, dry_run=True),
        whole,
        timeout=timeout,
        interval=POLL_SECONDS,
        what="every node Ready and every manager reachable",
        on_tick=tick,
        hint="`cloudhp status` shows each node; `cloudhp repair` again replaces one that "
        "was lost meanwhile",
    )


def _no_swarm(ctx: ClusterContext) -> QuorumLost:
    managers = ", ".join(f"{n['name']}" for n in _recorded(ctx.files) if n.get("role") == "manager")
    return QuorumLost(
        f"no manager of cluster {ctx.spec.name} ({managers or 'none recorded'}) answers "
        "with a Swarm: there is no quorum to replace anything with, so nothing was changed",
        hint="if a manager still runs, `docker swarm init --force-new-cluster` on it "
        "(`cloudhp ssh NODE`) makes it the Swarm's only manager, then `cloudhp repair`; "
        "if none does, the Swarm's state is gone: `cloudhp init` makes a new, empty one "
        "and `cloudhp deploy` puts the services back",
    )


def _recorded(files: ClusterFiles) -> list[dict[str, Any]]:
    return [n for n in files.read_record().get("nodes") or [] if isinstance(n, dict)]
