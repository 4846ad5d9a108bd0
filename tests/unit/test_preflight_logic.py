"""Preflight's decisions, without a cloud: choosing, messages, the bastion address."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloudhp.errors import NotFoundError, UsageError
from cloudhp.steps.preflight import (
    _find_external_network,
    _find_private_network,
    choose,
    format_choices,
    only_one,
    probe_target,
    source_address_toward,
)


def item(id: str, name: str, **extra: object) -> SimpleNamespace:
    return SimpleNamespace(id=id, name=name, **extra)


def net(id: str, name: str, external: bool = False) -> SimpleNamespace:
    return item(id, name, is_router_external=external)


# ---------------------------------------------------------------- choose / only_one


def test_choose_by_name_and_by_id() -> None:
    items = [item("1", "small"), item("2", "large")]
    assert choose(items, "large", "flavor") is items[1]
    assert choose(items, "1", "flavor") is items[0]
    assert choose(items, "medium", "flavor") is None


def test_choose_prefers_id_over_a_name_that_looks_like_it() -> None:
    items = [item("abc", "x"), item("def", "abc")]
    assert choose(items, "abc", "image") is items[0]


def test_choose_refuses_an_ambiguous_name_and_lists_the_ids() -> None:
    items = [item("b-id", "debian"), item("a-id", "debian")]
    with pytest.raises(UsageError) as err:
        choose(items, "debian", "image")
    assert err.value.message == "2 images are named 'debian'"
    assert err.value.hint == "give the id of the one to use instead of its name: a-id, b-id"


def test_only_one() -> None:
    one = [net("n1", "private")]
    assert only_one(one, "private network", "--network") is one[0]


def test_only_one_with_none() -> None:
    with pytest.raises(NotFoundError) as err:
        only_one([], "private network", "--network")
    assert err.value.message == "no private network is visible to this project"
    assert "--network" in (err.value.hint or "")


def test_only_one_with_several_lists_them() -> None:
    items = [net("id-b", "beta"), net("id-a", "alpha")]
    with pytest.raises(UsageError) as err:
        only_one(items, "private network", "--network")
    assert err.value.message == (
        "2 private networks are visible to this project, so cloudhp cannot choose"
    )
    assert err.value.hint == "name one with --network: alpha (id-a), beta (id-b)"


def test_format_choices_sorts_dedups_and_cuts() -> None:
    assert format_choices([]) == "(none)"
    assert format_choices(["b", "a", "b"]) == "a, b"
    names = [f"n{i:02}" for i in range(20)]
    assert format_choices(names, limit=3) == "n00, n01, n02 ... and 17 more"


# ---------------------------------------------------------------- networks


def test_default_private_network_ignores_external_ones() -> None:
    networks = [net("e", "public", external=True), net("p", "private")]
    assert _find_private_network(networks, None).id == "p"
    assert _find_external_network(networks, None).id == "e"


def test_two_private_networks_need_a_choice() -> None:
    networks = [net("e", "public", True), net("p1", "one"), net("p2", "two")]
    with pytest.raises(UsageError, match="2 private"):
        _find_private_network(networks, None)
    assert _find_private_network(networks, "two").id == "p2"


def test_no_external_network() -> None:
    with pytest.raises(NotFoundError, match="no external network"):
        _find_external_network([net("p", "private")], None)


def test_unknown_network_lists_the_private_ones() -> None:
    networks = [net("e", "public", True), net("p", "private")]
    with pytest.raises(NotFoundError) as err:
        _find_private_network(networks, "nope")
    assert err.value.message == "network 'nope' not found"
    assert err.value.hint == "private networks of this project: private (p)"


def test_external_network_as_private_is_refused() -> None:
    networks = [net("e", "public", True), net("p", "private")]
    with pytest.raises(UsageError, match="is an external network"):
        _find_private_network(networks, "public")


def test_private_network_as_external_is_refused() -> None:
    networks = [net("e", "public", True), net("p", "private")]
    with pytest.raises(UsageError) as err:
        _find_external_network(networks, "private")
    assert "router:external is false" in err.value.message
    assert err.value.hint == "external networks: public (e)"


# ---------------------------------------------------------------- bastion address


def test_probe_target_prefers_the_gateway() -> None:
    assert probe_target("10.0.0.0/24", "10.0.0.254") == "10.0.0.254"
    assert probe_target("10.0.0.0/24", None) == "10.0.0.1"
    assert probe_target("192.168.7.0/24", "") == "192.168.7.1"


def test_source_address_toward_loopback_sends_nothing() -> None:
    assert source_address_toward("127.0.0.1") == "127.0.0.1"
