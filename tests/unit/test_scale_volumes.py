"""Where a scale-in sends the volumes of the nodes it removes, and what it refuses."""

from types import SimpleNamespace

import pytest

from cloudhp.errors import ConflictError, ExitStatus, WaitTimeout
from cloudhp.flows import scale_nodes
from cloudhp.flows.scale_nodes import held_volumes
from cloudhp.steps.attached_volumes import Attached
from cloudhp.steps.scale_plan import Candidate, HeldVolume, VolumeMove, plan_volume_moves
from cloudhp.steps.servers import Node


def c(name, role="worker", tasks=0, ingress=False, fip=False, lead=False):
    return Candidate(name, role, int(name[-1]), tasks, ingress, fip, lead)


LEAD = c("m1", "manager", tasks=1, ingress=True, fip=True, lead=True)


def test_a_volume_on_a_leaving_node_goes_to_the_staying_worker_with_fewest_tasks():
    staying = [LEAD, c("w1", tasks=3), c("w2", tasks=1)]
    held = [HeldVolume("app_data", "w3"), HeldVolume("app_keep", "w1")]
    assert plan_volume_moves(held, {"w3"}, staying) == (VolumeMove("app_data", "w3", "w2"),)


def test_volumes_sent_to_a_node_count_as_its_tasks_so_several_spread():
    staying = [LEAD, c("w1", tasks=1), c("w2", tasks=2)]
    held = [HeldVolume("app_a", "w3"), HeldVolume("app_b", "w3"), HeldVolume("app_c", "m2")]
    assert plan_volume_moves(held, {"w3", "m2"}, staying) == (
        VolumeMove("app_a", "w3", "w1"),
        VolumeMove("app_b", "w3", "w1"),  # w1 now has 2, a tie with w2: by name
        VolumeMove("app_c", "m2", "w2"),
    )


def test_the_ingress_node_and_managers_take_a_volume_only_when_no_worker_stays():
    assert plan_volume_moves(
        [HeldVolume("app_data", "w1")], {"w1"}, [LEAD, c("m2", "manager", 5)]
    ) == (VolumeMove("app_data", "w1", "m2"),)
    assert plan_volume_moves([HeldVolume("app_data", "w1")], {"w1"}, [LEAD]) == (
        VolumeMove("app_data", "w1", "m1"),
    )
    busy_worker_ingress = c("w2", tasks=0, ingress=True)
    assert plan_volume_moves(
        [HeldVolume("app_data", "w1")], {"w1"}, [busy_worker_ingress, c("w3", tasks=9)]
    ) == (VolumeMove("app_data", "w1", "w3"),)


def test_nothing_to_move_when_no_volume_is_on_a_leaving_node():
    assert plan_volume_moves([HeldVolume("app_data", "w1")], {"w2"}, []) == ()


def test_no_node_that_stays_can_take_it_refuses_before_any_change():
    with pytest.raises(ConflictError) as caught:
        plan_volume_moves([HeldVolume("app_data", "w1")], {"w1"}, [])
    assert caught.value.exit_status == ExitStatus.CONFLICT
    assert caught.value.message == (
        "cannot remove w1: it holds volume app_data, and no node that stays is Ready and "
        "Active to take it; nothing was changed"
    )


@pytest.mark.parametrize("move", ["FENCE_PENDING", "attach:w1:w2"])
def test_a_volume_mid_move_on_a_leaving_node_is_refused(move):
    with pytest.raises(ConflictError) as caught:
        plan_volume_moves([HeldVolume("app_data", "w1", move)], {"w1"}, [c("w2")])
    assert f"its volume app_data is being moved ({move})" in caught.value.message
    assert "cloudhp volume confirm-fence app_data" in (caught.value.hint or "")


def node(name, server_id):
    return Node(name, "worker", int(name[-1]), False, server_id, "ACTIVE", "10.0.0.1")


def test_a_volume_is_held_where_it_is_attached_else_where_it_is_recorded():
    nodes = [node("w1", "s1"), node("w2", "s2")]
    volumes = [
        Attached("v1", "c-vol-app-a", "s2", "app_a", recorded_node="w1"),
        Attached("v2", "c-vol-app-b", None, "app_b", recorded_node="w1", move="x"),
        Attached("v3", "c-vol-app-c", None, "app_c"),  # never placed
        Attached("v4", "other", "s1"),  # not the cluster's: the guard's business
    ]
    assert held_volumes(volumes, nodes) == [
        HeldVolume("app_a", "w2"),
        HeldVolume("app_b", "w1", "x"),
    ]


class Reporter:
    def __init__(self):
        self.said = []

    def step(self, text):
        self.said.append(text)


def ctx():
    return SimpleNamespace(
        conn="conn", files="files", spec=SimpleNamespace(ssh_user="debian"), reporter=Reporter()
    )


LEAD_NODE = Node("m1", "manager", 1, True, "s-m1", "ACTIVE", "10.0.0.1", "172.24.4.9")
NODES = [node("w2", "s2"), LEAD_NODE, node("w1", "s1")]
MOVES = (VolumeMove("app_a", "w2", "w1"), VolumeMove("app_b", "w2", "w1"))


def test_each_move_is_volume_moves_own_with_the_lead_first(monkeypatch):
    asked = []

    def move_volume(conn, nodes, logical, to, reporter, timeout):
        asked.append((conn, nodes.lead.name, nodes.ssh_user, logical, to, timeout))
        return SimpleNamespace(to_dict=lambda: {"volume": logical, "to_node": to})

    monkeypatch.setattr(scale_nodes, "move_volume", move_volume)
    done = scale_nodes._move_volumes(ctx(), NODES, LEAD_NODE, MOVES, 60.0)
    assert asked == [
        ("conn", "m1", "debian", "app_a", "w1", 60.0),
        ("conn", "m1", "debian", "app_b", "w1", 60.0),
    ]
    assert done == [{"volume": "app_a", "to_node": "w1"}, {"volume": "app_b", "to_node": "w1"}]


def test_a_failed_move_stops_the_scale_in_naming_how_to_complete_it(monkeypatch):
    def move_volume(conn, nodes, logical, to, reporter, timeout):
        raise WaitTimeout("the tasks of app-a stopping: not within 60s")

    monkeypatch.setattr(scale_nodes, "move_volume", move_volume)
    with pytest.raises(ConflictError) as caught:
        scale_nodes._move_volumes(ctx(), NODES, LEAD_NODE, MOVES, 60.0)
    assert caught.value.message == (
        "scale-in stopped: volume app_a did not move from w2 to w1 (the tasks of app-a "
        "stopping: not within 60s); no node was drained or deleted"
    )
    assert caught.value.hint == (
        "`cloudhp volume move app_a --to w1` completes the move; then run the scale-in again"
    )


def test_no_moves_open_nothing():
    assert scale_nodes._move_volumes(ctx(), NODES, LEAD_NODE, (), 60.0) == []
