"""Nodes as Nova servers: a server that ends in ERROR, or stays in BUILD past its
deadline, is replaced once, then reported."""

from __future__ import annotations

from typing import Any

import pytest
from cluster_support import unique_name

from cloudhp.errors import CloudhpError
from cloudhp.naming import resource_name
from cloudhp.steps.keypair import ensure_cloud_keypair
from cloudhp.steps.preflight import preflight
from cloudhp.steps.secgroups import ensure_security_groups
from cloudhp.steps.servers import ensure_servers
from cloudhp_localcloud.compute import lifecycle

pytestmark = pytest.mark.docker


def test_a_server_in_error_is_replaced_once_then_novas_fault_is_reported(
    make_ctx: Any, conn: Any, localcloud: Any
) -> None:
    # An active Glance image whose data is gone: Nova accepts the boot, the hypervisor
    # (here the Docker engine) cannot start it, and the server ends in ERROR with a fault.
    image = conn.image.create_image(
        name=unique_name("broken"), disk_format="raw", container_format="bare"
    )
    localcloud.store().update(
        "image", image.id, {"status": "active", "_docker_image": "cloudhp/missing:gone"}
    )
    try:
        ctx = make_ctx(workers=0)
        ctx.resolved = preflight(ctx)
        ensure_security_groups(ctx)
        key_name, _ = ensure_cloud_keypair(ctx)
        groups = {k: resource_name(ctx.spec.name, f"sg-{k}") for k in ("swarm", "ssh", "ingress")}
        with pytest.raises(CloudhpError, match=r"failed twice: .*cloudhp/missing"):
            ensure_servers(ctx, image.id, key_name, groups, timeout=180)
        assert any("replacing" in step for step in ctx.reporter.steps)
    finally:
        conn.image.delete_image(image)


def test_a_server_stuck_in_build_is_replaced_once_then_reported(
    make_ctx: Any, conn: Any, localcloud: Any
) -> None:
    # The local cloud's latency model holds every new server in BUILD (a hypervisor
    # that lost the boot looks the same from the API): longer than the deadline here.
    lifecycle.set_build_latency(120)
    try:
        ctx = make_ctx(workers=0)
        ctx.resolved = preflight(ctx)
        ensure_security_groups(ctx)
        key_name, _ = ensure_cloud_keypair(ctx)
        image = conn.image.find_image("debian-12", ignore_missing=False)
        groups = {k: resource_name(ctx.spec.name, f"sg-{k}") for k in ("swarm", "ssh", "ingress")}
        with pytest.raises(CloudhpError, match=r"failed twice: still in BUILD after 6s"):
            ensure_servers(ctx, image.id, key_name, groups, timeout=120, build_deadline=6)
        assert any("still in BUILD after 6s); replacing" in step for step in ctx.reporter.steps)
    finally:
        lifecycle.set_build_latency(0)
