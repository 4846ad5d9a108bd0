"""No cluster server is deleted with a volume attached: what the guard reads and says."""

from types import SimpleNamespace

from cloudhp.errors import ExitStatus
from cloudhp.steps.attached_volumes import (
    Attached,
    attached_to,
    left_to_the_controller,
    read_attached,
    still_attached,
)


def volume(vid, name, servers=(), **meta):
    return SimpleNamespace(
        id=vid,
        name=name,
        metadata=meta,
        attachments=[{"server_id": s, "device": "/dev/vdb"} for s in servers],
    )


class Storage:
    def __init__(self, volumes):
        self._volumes = volumes

    def volumes(self, details):
        assert details is True
        return iter(self._volumes)


def test_read_keeps_the_clusters_volumes_and_any_attached_one():
    ours = {"cloudhp-cluster": "c", "cloudhp-volume": "app_data", "cloudhp-node": "c-worker-1"}
    conn = SimpleNamespace(
        block_storage=Storage(
            [
                volume("v1", "c-vol-app-data", ["s1"], **ours, **{"cloudhp-move": ""}),
                volume("v2", "scratch", ["s2"]),
                volume("v3", "loose"),  # neither attached nor the cluster's
                volume("v4", "d-vol", **{"cloudhp-cluster": "d", "cloudhp-volume": "x_y"}),
                volume("v5", "c-vol-app-old", **ours | {"cloudhp-volume": "app_old"}),
            ]
        )
    )
    assert read_attached(conn, "c") == [
        Attached("v1", "c-vol-app-data", "s1", "app_data", "c-worker-1", ""),
        Attached("v2", "scratch", "s2"),
        Attached("v5", "c-vol-app-old", None, "app_old", "c-worker-1", ""),
    ]


VOLUMES = [
    Attached("v1", "c-vol-app-data", "s1", "app_data", "c-worker-1"),
    Attached("v2", "scratch", "s2"),
    Attached("v3", "c-vol-app-pg", "s2", "app_pg", "c-worker-2", "FENCE_PENDING"),
    Attached("v4", "c-vol-app-old", None, "app_old", "c-worker-2"),
]


def test_attached_to_names_the_node_of_each_volume_on_the_servers():
    assert attached_to(VOLUMES, {"c-worker-2": "s2", "c-worker-3": "s3"}) == [
        ("c-worker-2", VOLUMES[2]),
        ("c-worker-2", VOLUMES[1]),
    ]
    assert attached_to(VOLUMES, {"c-worker-3": "s3"}) == []


def test_still_attached_names_each_volume_and_how_to_move_it():
    error = still_attached(attached_to(VOLUMES, {"c-worker-2": "s2"}), "scale-in")
    assert error.exit_status == ExitStatus.CONFLICT
    assert error.message == (
        "scale-in stopped before deleting a server with a volume attached (volume app_pg on "
        "c-worker-2; volume scratch (v2) on c-worker-2): Nova would detach it on delete with "
        "nothing recorded, so nothing was deleted"
    )
    assert "cloudhp volume move NAME --to NODE" in (error.hint or "")


def test_repair_replaces_a_lost_node_without_volumes():
    assert left_to_the_controller([]) is None


def test_repair_leaves_a_lost_nodes_volume_to_the_controller():
    error = left_to_the_controller(attached_to(VOLUMES, {"c-worker-1": "s1"}))
    assert error is not None and error.exit_status == ExitStatus.CONFLICT
    assert error.message.startswith(
        "lost node(s) still hold a volume (volume app_data on c-worker-1)"
    )
    assert error.hint == (
        "`cloudhp watch --once` fences the lost node and moves its volumes to a healthy node "
        "(an installed `cloudhp watch` does it within its --down-after); then `cloudhp repair`"
    )


def test_a_pending_fence_or_a_foreign_volume_gets_its_own_hint():
    error = left_to_the_controller(attached_to(VOLUMES, {"c-worker-2": "s2"}))
    assert error is not None
    assert error.hint == (
        "app_pg wait(s) for a fence: once the node is off for certain, `cloudhp volume "
        "confirm-fence app_pg` lets the move go on; detach a volume that is not the "
        "cluster's by hand (`openstack server remove volume SERVER VOLUME`); then "
        "`cloudhp repair`"
    )
