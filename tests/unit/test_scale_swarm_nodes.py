"""`docker node inspect` as scaling in reads it (shape from Docker Engine 20.10)."""

from cloudhp.steps.swarm_nodes import SwarmNode, count_tasks, parse_node

MANAGER = {
    "ID": "k8d2nnqwyf0nt0ue5uffsn2dz",
    "Version": {"Index": 9},
    "Spec": {
        "Labels": {"cloudhp.ingress": "true", "cloudhp.role": "manager"},
        "Role": "manager",
        "Availability": "active",
    },
    "Description": {
        "Hostname": "scl-manager-1",
        "Platform": {"Architecture": "x86_64", "OS": "linux"},
        "Resources": {"NanoCPUs": 2000000000, "MemoryBytes": 25219465216},
        "Engine": {"EngineVersion": "20.10.24+dfsg1"},
    },
    "Status": {"State": "ready", "Addr": "10.0.0.5"},
    "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": "10.0.0.5:2377"},
}

WORKER = {
    "ID": "x1",
    "Spec": {"Labels": {}, "Role": "worker", "Availability": "drain"},
    "Description": {"Hostname": "scl-worker-2.novalocal", "Resources": {"MemoryBytes": 1024}},
    "Status": {"State": "down"},
}


def test_a_leading_manager():
    assert parse_node(MANAGER) == SwarmNode(
        id="k8d2nnqwyf0nt0ue5uffsn2dz",
        hostname="scl-manager-1",
        role="manager",
        availability="active",
        state="ready",
        memory_bytes=25219465216,
        labels={"cloudhp.ingress": "true", "cloudhp.role": "manager"},
        leader=True,
        reachability="reachable",
    )
    assert parse_node(MANAGER).reachable_manager and parse_node(MANAGER).schedulable


def test_a_drained_worker_that_is_down_offers_no_room():
    node = parse_node(WORKER)
    assert (node.hostname, node.role, node.reachability, node.leader) == (
        "scl-worker-2", "worker", "", False,
    )  # fmt: skip
    assert not node.schedulable and not node.reachable_manager


def test_tasks_the_cli_repeats_for_later_nodes_count_once():
    out = (
        "t1 scl-manager-1\n"
        "t1 scl-manager-1\nt2 scl-worker-1\n"
        "t1 scl-manager-1\nt2 scl-worker-1\nt3 scl-worker-1\nt4 scl-worker-2.novalocal\n"
    )
    assert count_tasks(out) == {"scl-manager-1": 1, "scl-worker-1": 2, "scl-worker-2": 1}
    assert count_tasks("") == {}
