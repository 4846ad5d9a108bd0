"""Quota arithmetic: what is available, what is short, and one message naming it all."""

from __future__ import annotations

from cloudhp.errors import QuotaTooSmall
from cloudhp.steps.quotas import Quota, Shortage, compute_needs, quota_error, shortages


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
