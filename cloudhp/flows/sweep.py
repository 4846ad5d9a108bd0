"""`cloudhp sweep`: tear down every cluster of the project whose expiry has passed.

Meant for cron on any host with the project's credentials: what is due is read from the
cloud alone (the `cloudhp-expires=` tag that `init --ttl` puts on every resource, see
`cloudhp.expiry`), each due cluster goes through the one teardown, and nothing
untagged is ever touched. Clusters without an expiry, or not yet due, are listed as
spared. What cloudhp recognises as left over (a cluster whose servers are all gone but
whose tagged resources remain: a killed build's stack, a floating IP or security groups
of a deleted cluster) is listed, never deleted: that is `teardown`'s call, by name.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from cloudhp.expiry import cluster_expiries, due, format_time
from cloudhp.flows.teardown import teardown
from cloudhp.progress import Reporter
from cloudhp.steps.appcred import own_cluster
from cloudhp.steps.inventory import project_tag_sets, servers_by_image


@dataclass
class SweepReport:
    torn_down: dict[str, dict[str, int]] = field(default_factory=dict)  # cluster: counts
    spared: dict[str, str | None] = field(default_factory=dict)  # cluster: expiry
    leftovers: list[str] = field(default_factory=list)  # clusters without servers
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "changed": bool(self.torn_down) and not self.dry_run,
            "dry_run": self.dry_run,
            "torn_down": self.torn_down,
            "spared": self.spared,
            "leftovers": self.leftovers,
        }


def own_last(clusters: list[str], own: str | None) -> list[str]:
    """`clusters` with `own` (the cluster whose credential runs the sweep) moved last."""
    return [c for c in clusters if c != own] + [c for c in clusters if c == own]


def sweep(
    conn: Any,
    reporter: Reporter,
    now: datetime.datetime | None = None,
    *,
    dry_run: bool = False,
) -> SweepReport:
    """Tear down the due clusters (only list them with `dry_run`)."""
    moment = now or datetime.datetime.now(datetime.UTC)
    report = SweepReport(dry_run=dry_run)
    with reporter.phase("sweep") as ph:
        expiries = cluster_expiries(project_tag_sets(conn))
        with_servers = {c for s in servers_by_image(conn) for c in s.clusters}
        for cluster in own_last(due(expiries, moment), own_cluster(conn)):
            expired = expiries[cluster]
            assert expired is not None  # `due` lists only clusters with an expiry
            reporter.step(f"cluster {cluster} expired at {format_time(expired)}")
            if dry_run:
                report.torn_down[cluster] = {}
                continue
            report.torn_down[cluster] = teardown(conn, cluster, reporter).counts
        for cluster, when in sorted(expiries.items()):
            if cluster in report.torn_down:
                continue
            report.spared[cluster] = format_time(when) if when else None
            if cluster not in with_servers:
                report.leftovers.append(cluster)
        ph.changed = bool(report.torn_down) and not dry_run
    return report
