"""Which nodes a scale-in removes."""

import pytest

from cloudhp.errors import ConflictError
from cloudhp.steps.scale_plan import Candidate, Removal, choose, plan_removal


def c(name, role="worker", index=1, tasks=0, ingress=False, fip=False, lead=False):
    return Candidate(name, role, index, tasks, ingress, fip, lead)


CLUSTER = [
    c("m1", "manager", 1, tasks=3, ingress=True, fip=True, lead=True),
    c("m2", "manager", 2, tasks=1),
    c("m3", "manager", 3, tasks=2),
    c("w1", "worker", 1, tasks=4),
    c("w2", "worker", 2, tasks=1),
    c("w3", "worker", 3, tasks=1),
    c("w4", "worker", 4, tasks=0),
]


def test_fewest_tasks_first_and_on_a_tie_the_newest():
    assert choose(CLUSTER, "worker", 1) == ("w4",)
    assert choose(CLUSTER, "worker", 3) == ("w4", "w3", "w2")


def test_managers_go_by_tasks_and_the_lead_stays():
    assert choose(CLUSTER, "manager", 2) == ("m2", "m3")


def test_the_ingress_node_with_the_floating_ip_and_the_lead_never_go():
    with pytest.raises(ConflictError) as caught:
        choose(CLUSTER, "manager", 3)
    assert "only 2 of 3 may go" in caught.value.message
    assert "m1: the lead manager every command talks to" in caught.value.message
    cluster = [c("m1", "manager", lead=True), c("w1", ingress=True, fip=True), c("w2", tasks=9)]
    assert choose(cluster, "worker", 1) == ("w2",)
    with pytest.raises(ConflictError, match="w1: the ingress node holding the floating IP"):
        choose(cluster, "worker", 2)


def test_an_ingress_node_without_the_address_stays_too():
    cluster = [c("w1", ingress=True), c("w2", tasks=5)]
    assert choose(cluster, "worker", 1) == ("w2",)


def test_the_plan_removes_the_surplus_of_each_role():
    assert plan_removal(CLUSTER, 1, 2) == Removal(("m2", "m3"), ("w4", "w3"))
    assert plan_removal(CLUSTER, 1, 2).nodes == ("m2", "m3", "w4", "w3")
    assert plan_removal(CLUSTER, 3, 6) == Removal((), ())
    assert plan_removal(CLUSTER, 5, 9) == Removal((), ())
