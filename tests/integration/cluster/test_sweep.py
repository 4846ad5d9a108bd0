"""`cloudhp sweep` on a real localcloud: the expired cluster goes, the unexpired one and
everything untagged stay (a cluster without a TTL never expires: tests/unit/test_expiry.py;
two clusters' security groups are what the project's quota holds)."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from cluster_support import ready, unique_name
from openstack.connection import Connection

from cloudhp.context import ClusterContext
from cloudhp.flows.sweep import sweep
from cloudhp.progress import RecordingReporter
from cloudhp.steps.secgroups import ensure_security_groups

pytestmark = pytest.mark.docker

MakeCtx = Callable[..., ClusterContext]
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def groups_of(conn: Connection, cluster: str) -> list[str]:
    found = conn.network.security_groups(tags=f"cloudhp-cluster={cluster}")
    return sorted(g.name for g in found)


def test_sweep_tears_down_only_what_is_due(make_ctx: MakeCtx, conn: Connection) -> None:
    clusters = {}
    for key, expiry in (
        ("expired", NOW - datetime.timedelta(minutes=1)),
        ("later", NOW + datetime.timedelta(hours=8)),
    ):
        ctx = ready(make_ctx)
        ctx.expires_at = expiry
        ensure_security_groups(ctx)
        clusters[key] = ctx.spec.name
    bystander = conn.network.create_security_group(name=unique_name("bystander"))
    try:
        preview = sweep(conn, RecordingReporter(), NOW, dry_run=True)
        assert clusters["expired"] in preview.torn_down
        assert groups_of(conn, clusters["expired"])  # a dry run deletes nothing

        report = sweep(conn, RecordingReporter(), NOW)
        assert report.torn_down[clusters["expired"]] == {"security group": 3}
        assert groups_of(conn, clusters["expired"]) == []
        assert report.spared[clusters["later"]] == (NOW + datetime.timedelta(hours=8)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        assert len(groups_of(conn, clusters["later"])) == 3
        # Tagged groups and no server: recognised, listed, left alone.
        assert clusters["later"] in report.leftovers
        assert conn.network.find_security_group(bystander.id) is not None
    finally:
        conn.network.delete_security_group(bystander)
