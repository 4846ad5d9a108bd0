"""Where a volume goes, and the state `cloudhp volumes` shows: pure decisions."""

from __future__ import annotations

from dataclasses import dataclass, field

from cloudhp.flows.volumes import state_of
from cloudhp.steps.volumes import attachment, choose_node


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    ingress: bool
    server_id: str


@dataclass
class Volume:
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[dict[str, str]] = field(default_factory=list)


MANAGER = Node("c-manager-1", "manager", True, "s-m1")
W1 = Node("c-worker-1", "worker", False, "s-w1")
W2 = Node("c-worker-2", "worker", False, "s-w2")
NODES = [MANAGER, W1, W2]


def test_an_attached_volume_stays_on_its_node() -> None:
    volume = Volume({"cloudhp-node": "c-worker-2"}, [{"server_id": "s-m1", "device": "/dev/vdb"}])
    assert attachment(volume) == ("s-m1", "/dev/vdb")
    assert choose_node(NODES, volume) is MANAGER


def test_a_detached_volume_goes_back_to_its_recorded_node() -> None:
    assert attachment(Volume()) is None
    assert choose_node(NODES, Volume({"cloudhp-node": "c-worker-2"})) is W2


def test_otherwise_the_least_loaded_worker_off_the_ingress() -> None:
    gone = Volume({"cloudhp-node": "c-worker-9"})  # a node of an earlier cluster
    assert choose_node(NODES, gone) is W1
    assert choose_node(NODES, gone, {"c-worker-1": 2, "c-worker-2": 1}) is W2
    assert choose_node([MANAGER], gone) is MANAGER  # a one-node cluster has no choice
    ingress_worker = Node("c-worker-3", "worker", True, "s-w3")
    assert choose_node([MANAGER, ingress_worker], gone) is ingress_worker


def test_states_shown_by_cloudhp_volumes() -> None:
    assert state_of("", attached=True, mounted=True) == "mounted"
    assert state_of("", attached=True, mounted=False) == "attached"
    assert state_of("", attached=False, mounted=False) == "detached"
    assert state_of("attach:c-worker-1:c-worker-2", attached=False, mounted=False) == "moving"
    assert state_of("FENCE_PENDING", attached=True, mounted=False) == "FENCE_PENDING"
    assert state_of("", attached=True, mounted=None) == "unreachable"
    assert state_of("fence:c-worker-1:c-worker-2", attached=True, mounted=None) == "moving"
