"""Naming rules: every rule, every message, and the derived names."""

from __future__ import annotations

import pytest

from cloudhp.errors import UsageError
from cloudhp.naming import (
    MAX_NAME_LENGTH,
    TAG_KEY,
    cluster_tag,
    default_cluster_name,
    parse_cluster_tag,
    resource_name,
    validate_cluster_name,
    validate_service_name,
)


@pytest.mark.parametrize("name", ["a", "demo", "project-3", "a1", "x" * 32, "a-b-c9"])
def test_valid_cluster_names(name: str) -> None:
    assert validate_cluster_name(name) == name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "it is empty"),
        ("3demo", "must begin with a lower-case letter (a-z), not '3'"),
        ("-demo", "must begin with a lower-case letter (a-z), not '-'"),
        ("Demo", "must begin with a lower-case letter (a-z), not 'D'"),
        ("my_app", "may contain only a-z, 0-9 and '-', not '_'"),
        ("my app.x", "may contain only a-z, 0-9 and '-', not ' ', '.'"),
        ("demo-", "must end with a lower-case letter or a digit, not '-'"),
        ("x" * 33, "it is 33 characters long, at most 32 allowed"),
    ],
)
def test_invalid_cluster_names_say_which_rule(name: str, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        validate_cluster_name(name)
    assert expected in err.value.message
    assert f"invalid cluster name {name!r}" in err.value.message
    assert "for example" in str(err.value.hint)


def test_cluster_name_error_lists_all_broken_rules_and_suggests_a_fix() -> None:
    with pytest.raises(UsageError) as err:
        validate_cluster_name("_My_App_")
    message = err.value.message
    assert "begin with a lower-case letter" in message
    assert "not '_'" in message
    assert "end with a lower-case letter or a digit" in message
    assert "'my-app'" in str(err.value.hint)


def test_cluster_name_hint_falls_back_to_generic_example() -> None:
    with pytest.raises(UsageError) as err:
        validate_cluster_name("123")
    assert "'my-cluster'" in str(err.value.hint)


def test_service_name_returns_prefixed_name() -> None:
    assert validate_service_name("demo", "web-1") == "demo-web-1"


def test_service_name_length_counts_the_prefix() -> None:
    project = "p" * 10
    ok = "s" * (MAX_NAME_LENGTH - 11)
    assert validate_service_name(project, ok) == f"{project}-{ok}"
    with pytest.raises(UsageError) as err:
        validate_service_name(project, ok + "s")
    assert "is 33 characters long, at most 32 allowed including the prefix 'pppppppppp-'" in (
        err.value.message
    )
    assert "at most 21 characters in project 'pppppppppp'" in str(err.value.hint)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Web", "must begin with a lower-case letter (a-z), not 'W'"),
        ("9web", "must begin with a lower-case letter"),
        ("web_app", "may contain only a-z, 0-9 and '-', not '_'"),
        ("web-", "must end with a lower-case letter or a digit, not '-'"),
        ("", "it is empty"),
    ],
)
def test_invalid_service_names(name: str, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        validate_service_name("demo", name)
    assert f"invalid service name {name!r}" in err.value.message
    assert expected in err.value.message
    assert "for example" in str(err.value.hint)


def test_service_name_example_is_derived_from_the_bad_name() -> None:
    with pytest.raises(UsageError) as err:
        validate_service_name("demo", "Web_App")
    assert "for example 'web-app'" in str(err.value.hint)


def test_service_name_checks_the_project_too() -> None:
    with pytest.raises(UsageError, match="invalid cluster name 'Demo'"):
        validate_service_name("Demo", "web")


def test_project_too_long_for_any_service() -> None:
    with pytest.raises(UsageError) as err:
        validate_service_name("p" * 31, "w")
    assert "leaves no room for a service name" in err.value.message
    assert "at most 30 characters" in str(err.value.hint)


@pytest.mark.parametrize(
    ("project", "expected"),
    [
        ("Project 3", "project-3"),
        ("demo", "demo"),
        ("  My__Team.Project!! ", "my-team-project"),
        ("3rd-project", "rd-project"),
        ("ÉTÉ 2024", "ete-2024"),
        ("---", "cloudhp"),
        ("", "cloudhp"),
        ("12345", "cloudhp"),
        ("a" * 40, "a" * 32),
        ("a" * 31 + " b", "a" * 31),
    ],
)
def test_default_cluster_name(project: str, expected: str) -> None:
    name = default_cluster_name(project)
    assert name == expected
    assert validate_cluster_name(name) == name


def test_resource_names() -> None:
    assert resource_name("demo", "manager", 1) == "demo-manager-1"
    assert resource_name("demo", "worker", 3) == "demo-worker-3"
    assert resource_name("demo", "sg-swarm") == "demo-sg-swarm"
    assert resource_name("demo", "key") == "demo-key"


def test_resource_name_rejects_bad_inputs() -> None:
    with pytest.raises(UsageError):
        resource_name("Demo", "key")
    for kind in ("", "Key", "sg_swarm", "-key"):
        with pytest.raises(ValueError, match="resource kind"):
            resource_name("demo", kind)
    for index in (0, -1, True):
        with pytest.raises(ValueError, match="index must be an int >= 1"):
            resource_name("demo", "worker", index)


def test_cluster_tag_round_trip() -> None:
    assert TAG_KEY == "cloudhp-cluster"
    assert cluster_tag("demo") == "cloudhp-cluster=demo"
    assert parse_cluster_tag(cluster_tag("demo")) == "demo"
    for other in ("cloudhp-cluster", "other=demo", "cloudhp-cluster=", "cloudhp-cluster=X"):
        assert parse_cluster_tag(other) is None
    with pytest.raises(UsageError):
        cluster_tag("bad name")
