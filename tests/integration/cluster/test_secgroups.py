"""Security groups on a real localcloud: exact rules, idempotent, never someone else's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from openstack.connection import Connection

from cloudhp.context import ClusterContext
from cloudhp.errors import ConflictError
from cloudhp.steps.preflight import preflight
from cloudhp.steps.secgroups import ensure_security_groups, group_name

pytestmark = pytest.mark.docker

MakeCtx = Callable[..., ClusterContext]
BASTION = "10.9.8.7"


def ready(make_ctx: MakeCtx, **values: Any) -> ClusterContext:
    ctx = make_ctx(**values)
    ctx.facts["bastion_address"] = BASTION
    ctx.resolved = preflight(ctx)
    return ctx


def rules_of(conn: Connection, group_id: str) -> set[tuple[Any, ...]]:
    """The ingress rules of a group as comparable tuples (remote group as 'self')."""
    return {
        (
            r.protocol,
            r.port_range_min,
            r.port_range_max,
            r.remote_ip_prefix,
            "self" if r.remote_group_id == group_id else r.remote_group_id,
        )
        for r in conn.network.security_group_rules(security_group_id=group_id)
        if r.direction == "ingress"
    }


def test_creates_three_tagged_groups_with_exact_rules(make_ctx: MakeCtx, conn: Connection) -> None:
    ctx = ready(make_ctx)
    ids, changed = ensure_security_groups(ctx)
    assert changed and set(ids) == {"swarm", "ssh", "ingress"}
    for role, group_id in ids.items():
        group = conn.network.get_security_group(group_id)
        assert group.name == group_name(ctx.spec.name, role)
        assert group.tags == [ctx.tag]
    assert rules_of(conn, ids["swarm"]) == {
        ("tcp", 2377, 2377, None, "self"),
        ("tcp", 7946, 7946, None, "self"),
        ("udp", 7946, 7946, None, "self"),
        ("udp", 4789, 4789, None, "self"),
        ("tcp", 5000, 5000, None, "self"),  # the cluster registry
    }
    assert rules_of(conn, ids["ssh"]) == {
        ("tcp", 22, 22, f"{BASTION}/32", None),
        ("tcp", 5000, 5000, f"{BASTION}/32", None),
    }
    assert rules_of(conn, ids["ingress"]) == {
        ("tcp", 80, 80, "0.0.0.0/0", None),
        ("tcp", 443, 443, "0.0.0.0/0", None),
    }
    tagged = {g.id for g in conn.network.security_groups(tags=ctx.tag)}
    assert tagged == set(ids.values())


def test_second_run_changes_nothing(make_ctx: MakeCtx, conn: Connection) -> None:
    ctx = ready(make_ctx)
    ids, _ = ensure_security_groups(ctx)
    counts = {
        g: len(list(conn.network.security_group_rules(security_group_id=g))) for g in ids.values()
    }
    again, changed = ensure_security_groups(ctx)
    assert (again, changed) == (ids, False)
    assert {
        g: len(list(conn.network.security_group_rules(security_group_id=g))) for g in ids.values()
    } == counts


def test_a_deleted_rule_comes_back(make_ctx: MakeCtx, conn: Connection) -> None:
    ctx = ready(make_ctx)
    ids, _ = ensure_security_groups(ctx)
    (vxlan,) = [
        r
        for r in conn.network.security_group_rules(security_group_id=ids["swarm"])
        if r.port_range_min == 4789
    ]
    conn.network.delete_security_group_rule(vxlan)
    again, changed = ensure_security_groups(ctx)
    assert changed and again == ids
    assert ("udp", 4789, 4789, None, "self") in rules_of(conn, ids["swarm"])


def test_encrypted_overlay_allows_esp(make_ctx: MakeCtx, conn: Connection) -> None:
    ctx = ready(make_ctx, overlay_networks=[{"name": "apps", "encrypted": True}])
    ids, _ = ensure_security_groups(ctx)
    assert ("50", None, None, None, "self") in rules_of(conn, ids["swarm"])
    assert ensure_security_groups(ctx) == (ids, False)


def test_untagged_group_with_our_name_is_a_conflict(make_ctx: MakeCtx, conn: Connection) -> None:
    ctx = ready(make_ctx)
    name = group_name(ctx.spec.name, "ssh")
    foreign = conn.network.create_security_group(name=name, description="someone else's")
    before = rules_of(conn, foreign.id)
    try:
        with pytest.raises(ConflictError) as err:
            ensure_security_groups(ctx)
        assert f"security group {name!r} exists but does not carry the tag" in err.value.message
        assert foreign.id in err.value.message
        after = conn.network.get_security_group(foreign.id)
        assert after.tags == [] and after.description == "someone else's"
        assert rules_of(conn, foreign.id) == before
        # The conflict is found before anything is created.
        assert list(conn.network.security_groups(tags=ctx.tag)) == []
    finally:
        conn.network.delete_security_group(foreign)
