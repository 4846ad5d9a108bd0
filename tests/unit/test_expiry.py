"""A cluster's expiry, from `--ttl` to the tags sweep reads back."""

from __future__ import annotations

import datetime
import json

import pytest
from click.testing import CliRunner

from cloudhp.cli import main
from cloudhp.errors import UsageError
from cloudhp.expiry import cluster_expiries, due, expiry_tag, parse_expiry, parse_ttl

UTC = datetime.UTC
NOON = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("8h", 28800), ("2d", 172800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_ttl(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["0h", "8", "h", "1.5h", "-2h", "8 hours", "8H", ""])
def test_a_bad_duration_names_the_forms_that_work(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_ttl(text)
    assert err.value.message == f"--ttl {text!r} is not a duration"
    assert "90s, 30m, 8h or 2d" in str(err.value.hint)


def test_the_tag_round_trips_in_utc() -> None:
    later = datetime.datetime(
        2026, 12, 2, 14, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert expiry_tag(later) == "cloudhp-expires=2026-12-02T12:00:00Z"
    assert parse_expiry(expiry_tag(later)) == NOON
    assert parse_expiry("cloudhp-expires=soon") is None
    assert parse_expiry("cloudhp-cluster=a") is None


def test_a_cluster_expires_at_its_latest_stamp_and_never_without_one() -> None:
    early, late = expiry_tag(NOON), expiry_tag(NOON + datetime.timedelta(hours=1))
    expiries = cluster_expiries([
        ["cloudhp-cluster=a", early],
        ["cloudhp-cluster=a"],  # made before a rerun added the TTL
        ["cloudhp-cluster=a", late],
        ["cloudhp-cluster=b"],
        ["other", late],  # no cluster: not cloudhp's
    ])  # fmt: skip
    assert expiries == {"a": NOON + datetime.timedelta(hours=1), "b": None}
    assert due(expiries, NOON) == []
    assert due(expiries, NOON + datetime.timedelta(hours=1)) == ["a"]


def test_sweep_without_yes_or_dry_run_changes_nothing_and_says_how() -> None:
    result = CliRunner().invoke(main, ["sweep", "--output", "json"])
    assert result.exit_code == 2
    assert "pass --yes (or --dry-run" in json.loads(result.output)["message"]


def test_init_with_a_bad_ttl_is_refused_before_connecting() -> None:
    result = CliRunner().invoke(main, ["init", "--ttl", "8 hours", "--output", "json"])
    assert result.exit_code == 2
    assert json.loads(result.output)["message"] == "--ttl '8 hours' is not a duration"


def test_a_sweep_tears_down_its_own_credentials_cluster_last() -> None:
    from cloudhp.flows.sweep import own_last

    assert own_last(["a", "b", "c"], "a") == ["b", "c", "a"]
    assert own_last(["a", "b"], None) == ["a", "b"]
    assert own_last(["a", "b"], "z") == ["a", "b"]
