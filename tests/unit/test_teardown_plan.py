"""Teardown's pure parts: the deletion order, the marker checks, the leftover message."""

from __future__ import annotations

import pytest

from cloudhp.errors import CloudhpError
from cloudhp.flows.teardown import TeardownReport, leftovers_error
from cloudhp.naming import is_cluster_volume
from cloudhp.steps.inventory import Found, has_tag, plan_teardown


def test_plan_follows_dependencies_then_names() -> None:
    found = [
        Found("image", "i1", "demo-golden-abc"),
        Found("keypair", "demo-key", "demo-key"),
        Found("security group", "g2", "demo-sg-swarm"),
        Found("security group", "g1", "demo-sg-ingress"),
        Found("port", "p1", "demo-vip"),
        Found("volume", "v1", "demo-db"),
        Found("floating IP", "f1", "172.24.4.10"),
        Found("server", "s2", "demo-worker-1"),
        Found("server", "s1", "demo-manager-1"),
    ]
    assert [(f.kind, f.name) for f in plan_teardown(found)] == [
        ("server", "demo-manager-1"),
        ("server", "demo-worker-1"),
        ("floating IP", "172.24.4.10"),
        ("volume", "demo-db"),
        ("port", "demo-vip"),
        ("security group", "demo-sg-ingress"),
        ("security group", "demo-sg-swarm"),
        ("keypair", "demo-key"),
        ("image", "demo-golden-abc"),
    ]


def test_plan_of_nothing_is_empty() -> None:
    assert plan_teardown([]) == []


def test_plan_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="router"):
        plan_teardown([Found("router", "r", "r")])


def test_markers_are_exact() -> None:
    tag = "cloudhp-cluster=demo"
    assert has_tag(["x", tag], tag)
    assert not has_tag(["cloudhp-cluster=demo2"], tag)
    assert not has_tag(None, tag)
    assert is_cluster_volume({"cloudhp-cluster": "demo"}, "demo")
    assert not is_cluster_volume({"cloudhp-cluster": "demo2"}, "demo")
    assert not is_cluster_volume({"other": "demo"}, "demo")
    assert not is_cluster_volume(None, "demo")


def test_leftovers_error_names_each_and_why() -> None:
    err = leftovers_error(
        "cloudhp-cluster=demo",
        [Found("volume", "v1", "demo-db"), Found("server", "s1", "")],
        ["volume demo-db (v1): 400 has snapshots"],
    )
    assert isinstance(err, CloudhpError)
    assert err.message == (
        "teardown left 2 resource(s) tagged cloudhp-cluster=demo: server (unnamed) (s1); "
        "volume demo-db (v1)\nerrors: volume demo-db (v1): 400 has snapshots"
    )


def test_report_counts() -> None:
    report = TeardownReport("demo", {"server": ["a", "b"], "keypair": [], "port": ["p"]})
    assert report.counts == {"server": 2, "port": 1}
    assert not report.found_nothing
    assert report.to_dict() == {
        "cluster": "demo",
        "changed": True,
        "counts": {"server": 2, "port": 1},
        "deleted": {"server": ["a", "b"], "port": ["p"]},
        "kept": [],
        "kept_volumes": [],
    }
    assert TeardownReport("demo", {"server": []}).found_nothing
