"""Preflight's decisions, without a cloud: choosing, quota arithmetic, messages."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloudhp.errors import NotFoundError, UsageError
from cloudhp.preflight import (
    Quota,
    QuotaTooSmall,
    Shortage,
    _find_external_network,
    _find_private_network,
    choose,
    compute_needs,
    format_choices,
    only_one,
    probe_target,
    quota_error,
    shortages,
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


# ---------------------------------------------------------------- quotas


def test_quota_available() -> None:
    assert Quota(10, 4).available == 6
    assert Quota(-1, 400).available is None
    assert Quota(2, 5).available == 0  # over quota already (an admin lowered it)


def test_compute_needs() -> None:
    assert compute_needs(4, 2, 2048) == {"instances": 4, "cores": 8, "RAM": 8192}
    assert compute_needs(-2, 2, 2048) == {"instances": 0, "cores": 0, "RAM": 0}


def test_shortages_lists_every_short_quota_in_order() -> None:
    needs = {"instances": 4, "cores": 8, "RAM": 8192, "floating IPs": 1}
    quotas = {
        "instances": Quota(10, 8),
        "cores": Quota(20, 14),
        "RAM": Quota(51200, 0),
        "floating IPs": Quota(-1, 99),
    }
    assert shortages(needs, quotas) == [
        Shortage("instances", 4, 2),
        Shortage("cores", 8, 6),
    ]


def test_nothing_needed_is_never_short() -> None:
    assert shortages({"instances": 0}, {"instances": Quota(1, 5)}) == []


def test_unreported_quota_is_not_checked() -> None:
    assert shortages({"volumes": 3}, {}) == []


def test_quota_error_names_all_shortages_in_one_message() -> None:
    err = quota_error(
        [
            Shortage("instances", 4, 2),
            Shortage("RAM", 8192, 4096, "MiB"),
            Shortage("floating IPs", 1, 0),
        ]
    )
    assert isinstance(err, QuotaTooSmall)
    assert err.message == (
        "quota too small: instances need 4, 2 available; RAM need 8192 MiB, 4096 MiB "
        "available; floating IPs need 1, 0 available"
    )
    assert "administrator" in (err.hint or "") and "nothing was created" in (err.hint or "")


def test_quota_units_come_from_the_name() -> None:
    (short,) = shortages({"RAM": 4096}, {"RAM": Quota(2048, 0)})
    assert short.describe() == "RAM need 4096 MiB, 2048 MiB available"


# ---------------------------------------------------------------- bastion address


def test_probe_target_prefers_the_gateway() -> None:
    assert probe_target("10.0.0.0/24", "10.0.0.254") == "10.0.0.254"
    assert probe_target("10.0.0.0/24", None) == "10.0.0.1"
    assert probe_target("192.168.7.0/24", "") == "192.168.7.1"


def test_source_address_toward_loopback_sends_nothing() -> None:
    assert source_address_toward("127.0.0.1") == "127.0.0.1"
