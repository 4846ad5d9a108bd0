"""Node names when a cluster grows again after a scale-in removed a middle node."""

from cloudhp.steps.servers import wanted_nodes


def names(nodes):
    return [(n.name, n.ingress) for n in nodes]


def test_a_fresh_cluster_numbers_from_one_with_ingress_on_the_first_manager():
    assert names(wanted_nodes(1, 2, 1, "c")) == [
        ("c-manager-1", True),
        ("c-worker-1", False),
        ("c-worker-2", False),
    ]


def test_existing_nodes_keep_their_numbers_and_new_ones_fill_the_lowest_gap():
    existing = {"c-manager-1", "c-worker-2", "c-worker-3"}
    assert [n.name for n in wanted_nodes(1, 2, 1, "c", existing)] == [
        "c-manager-1",
        "c-worker-2",
        "c-worker-3",
    ]
    assert [n.name for n in wanted_nodes(1, 4, 1, "c", existing)] == [
        "c-manager-1",
        "c-worker-1",
        "c-worker-2",
        "c-worker-3",
        "c-worker-4",
    ]


def test_more_existing_than_wanted_keeps_the_lowest_numbers():
    existing = {"c-manager-1", "c-manager-2", "c-manager-3", "c-worker-5"}
    assert [n.name for n in wanted_nodes(1, 1, 1, "c", existing)] == ["c-manager-1", "c-worker-5"]


def test_names_of_other_clusters_and_other_servers_are_ignored():
    existing = {"cx-worker-1", "c-worker-x", "c-builder"}
    assert [n.name for n in wanted_nodes(1, 1, 1, "c", existing)] == ["c-manager-1", "c-worker-1"]


def test_ingress_stays_on_the_first_nodes_in_order():
    existing = {"c-manager-1", "c-worker-2"}
    assert names(wanted_nodes(1, 2, 2, "c", existing)) == [
        ("c-manager-1", True),
        ("c-worker-1", True),
        ("c-worker-2", False),
    ]
