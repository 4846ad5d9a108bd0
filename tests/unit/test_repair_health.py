"""Which nodes repair replaces, and when a manager may go: every case decided exactly."""

from __future__ import annotations

import datetime

import pytest

from cloudhp.steps.health import (
    Quorum,
    QuorumLost,
    Repair,
    Server,
    classify,
    quorum_of,
    removal_order,
)
from cloudhp.steps.swarm_nodes import SwarmNode, parse_node, parse_time

NOW = datetime.datetime(2026, 12, 2, 18, 0, 0, tzinfo=datetime.UTC)
MEMBERS = [("c-manager-1", "manager"), ("c-worker-1", "worker")]
KNOWN = frozenset(name for name, _ in MEMBERS)
ACTIVE = {"c-manager-1": Server("s-m1", "ACTIVE"), "c-worker-1": Server("s-w1", "ACTIVE")}


def node(
    node_id: str,
    hostname: str,
    state: str = "ready",
    ago: float = 600.0,
    manager: bool = False,
    reachable: bool = True,
    labels: dict[str, str] | None = None,
) -> SwarmNode:
    since = NOW - datetime.timedelta(seconds=ago)
    role, raft = (
        ("manager", "reachable" if reachable else "unreachable") if manager else ("worker", "")
    )
    return SwarmNode(
        node_id, hostname, role, "active", state, 0, labels or {}, reachability=raft, since=since
    )


HEALTHY = [node("m1", "c-manager-1", manager=True), node("w1", "c-worker-1")]


def test_a_healthy_cluster_needs_nothing() -> None:
    health = classify(MEMBERS, ACTIVE, HEALTHY, KNOWN, NOW)
    assert health.repairs == [] and health.watching == []


@pytest.mark.parametrize("status", ["ERROR", "SHUTOFF"])
def test_a_server_in_error_or_shutoff_is_replaced_at_once(status: str) -> None:
    servers = ACTIVE | {"c-worker-1": Server("s-w1", status)}
    swarm = [HEALTHY[0], node("w1", "c-worker-1", labels={"cloudhp.role": "worker"})]
    health = classify(MEMBERS, servers, swarm, KNOWN, NOW)
    assert health.repairs == [
        Repair(
            "c-worker-1",
            "worker",
            f"its server is {status}",
            True,
            "s-w1",
            ("w1",),
            {"cloudhp.role": "worker"},
        )
    ]


def test_a_gone_server_is_replaced_with_nothing_to_delete() -> None:
    servers = {"c-manager-1": ACTIVE["c-manager-1"]}
    swarm = [HEALTHY[0], node("w1", "c-worker-1", "down", ago=5)]
    [repair] = classify(MEMBERS, servers, swarm, KNOWN, NOW).repairs
    assert (repair.name, repair.reason, repair.server_id, repair.swarm_ids) == (
        "c-worker-1",
        "its server is gone",
        None,
        ("w1",),
    )


def test_a_node_never_made_is_init_s_to_create_not_a_repair() -> None:
    servers = {"c-manager-1": ACTIVE["c-manager-1"]}
    health = classify(MEMBERS, servers, HEALTHY[:1], frozenset({"c-manager-1"}), NOW)
    assert health.repairs == []


def test_down_past_the_threshold_is_replaced_though_the_server_says_active() -> None:
    swarm = [HEALTHY[0], node("w1", "c-worker-1", "down", ago=61)]
    [repair] = classify(MEMBERS, ACTIVE, swarm, KNOWN, NOW, down_after=60).repairs
    assert repair.reason == "its Swarm node is Down for 61s (> 60s)"
    assert (repair.replace, repair.server_id, repair.swarm_ids) == (True, "s-w1", ("w1",))


def test_down_for_less_than_the_threshold_is_watched_not_replaced() -> None:
    swarm = [HEALTHY[0], node("w1", "c-worker-1", "down", ago=60)]
    health = classify(MEMBERS, ACTIVE, swarm, KNOWN, NOW, down_after=60)
    assert health.repairs == [] and health.watching == ["c-worker-1"]


def test_a_building_server_is_left_to_init() -> None:
    servers = ACTIVE | {"c-worker-1": Server("s-w1", "BUILD")}
    swarm = [HEALTHY[0], node("w1", "c-worker-1", "down", ago=900)]
    assert classify(MEMBERS, servers, swarm, KNOWN, NOW).repairs == []


def test_entries_left_by_an_interrupted_repair_are_removed_without_replacing() -> None:
    old = node("w0", "c-worker-1", "down", ago=900, labels={"cloudhp.volume.db": "true"})
    new = node("w1", "c-worker-1", ago=30, labels={"cloudhp.role": "worker", "other": "x"})
    [repair] = classify(MEMBERS, ACTIVE, [HEALTHY[0], old, new], KNOWN, NOW).repairs
    assert (repair.replace, repair.server_id, repair.swarm_ids) == (False, None, ("w0",))
    assert repair.labels == {"cloudhp.role": "worker"}  # the newest entry's, cloudhp's only


def test_only_cloudhp_labels_move_to_the_replacement() -> None:
    labels = {"cloudhp.ingress": "true", "cloudhp.volume.shop-db": "true", "team": "a"}
    swarm = [node("m1", "c-manager-1", "down", ago=90, manager=True, labels=labels)]
    [repair] = classify(MEMBERS[:1], ACTIVE, swarm, KNOWN, NOW).repairs
    assert repair.labels == {"cloudhp.ingress": "true", "cloudhp.volume.shop-db": "true"}


@pytest.mark.parametrize(
    ("managers", "reachable", "holds"),
    [(1, 1, True), (1, 0, False), (2, 1, False), (3, 2, True), (3, 1, False), (5, 3, True),
     (5, 2, False), (4, 3, True), (4, 2, False), (7, 4, True)],
)  # fmt: skip
def test_quorum_is_more_than_half(managers: int, reachable: int, holds: bool) -> None:
    assert Quorum(managers, reachable).holds is holds


def three_managers(down: str) -> list[SwarmNode]:
    return [
        node(f"m{i}", f"c-manager-{i}", "down" if f"m{i}" == down else "ready", manager=True,
             reachable=f"m{i}" != down)
        for i in (1, 2, 3)
    ] + [node("w1", "c-worker-1")]  # fmt: skip


def test_one_dead_manager_of_three_may_go_and_leaves_two_of_two() -> None:
    swarm = three_managers(down="m2")
    assert str(quorum_of(swarm)) == "2/3 managers reachable"
    assert [n.id for n in removal_order(swarm, ["w1", "m2"])] == ["m2", "w1"]
    assert quorum_of(swarm).without(swarm[1]) == Quorum(2, 2)


def test_removing_a_reachable_manager_that_would_break_the_majority_is_refused() -> None:
    swarm = [
        node(f"m{i}", f"c-manager-{i}", "down" if i > 3 else "ready", manager=True,
             reachable=i <= 3)
        for i in range(1, 6)
    ]  # fmt: skip
    assert [n.id for n in removal_order(swarm, ["m4", "m5"])] == ["m4", "m5"]
    with pytest.raises(QuorumLost, match="removing manager c-manager-1 would leave 2/4"):
        removal_order(swarm, ["m1"])


def test_a_lost_quorum_is_refused_naming_the_recovery() -> None:
    swarm = [
        node("m1", "c-manager-1", manager=True),
        node("m2", "c-manager-2", "down", manager=True, reachable=False),
        node("m3", "c-manager-3", "down", manager=True, reachable=False),
    ]
    with pytest.raises(QuorumLost) as caught:
        removal_order(swarm, ["m2"])
    assert "1/3 managers reachable" in caught.value.message
    assert caught.value.hint is not None
    assert "docker swarm init --force-new-cluster` on c-manager-1" in caught.value.hint
    assert caught.value.exit_status == 4


def test_docker_times_with_nanoseconds_parse() -> None:
    assert parse_time("2026-12-02T18:00:01.123456789Z") == NOW.replace(second=1, microsecond=123456)
    assert parse_time("2026-12-02T18:00:00Z") == NOW


def test_node_inspect_documents_parse() -> None:
    docs = [
        {
            "ID": "abc",
            "UpdatedAt": "2026-12-02T17:59:00.5Z",
            "Spec": {"Labels": {"cloudhp.role": "manager"}, "Role": "manager"},
            "Description": {"Hostname": "c-manager-1.novalocal"},
            "Status": {"State": "down"},
            "ManagerStatus": {"Reachability": "unreachable", "Addr": "10.0.0.5:2377"},
        },
        {
            "ID": "def",
            "UpdatedAt": "2026-12-02T17:00:00Z",
            "Spec": {},
            "Description": {"Hostname": "c-worker-1"},
            "Status": {"State": "ready"},
        },
    ]
    assert [parse_node(doc) for doc in docs] == [
        SwarmNode(
            "abc",
            "c-manager-1",
            "manager",
            "active",
            "down",
            0,
            {"cloudhp.role": "manager"},
            reachability="unreachable",
            since=NOW - datetime.timedelta(seconds=59.5),
        ),
        SwarmNode(
            "def",
            "c-worker-1",
            "worker",
            "active",
            "ready",
            0,
            {},
            since=NOW - datetime.timedelta(hours=1),
        ),
    ]
    assert quorum_of([parse_node(doc) for doc in docs]) == Quorum(1, 0)
