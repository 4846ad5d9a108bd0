"""Cluster spec: file loading, flag precedence, and every validation message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudhp.clusterspec import (
    DEFAULT_OVERLAYS,
    ClusterSpec,
    OverlayNetwork,
    build_spec,
    load_spec,
)
from cloudhp.errors import NotFoundError, UsageError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cluster.yml"
    path.write_text(text)
    return path


def build(**values: Any) -> ClusterSpec:
    return build_spec({}, {"name": "demo", **values})


def usage_error(**values: Any) -> UsageError:
    with pytest.raises(UsageError) as err:
        build(**values)
    return err.value


def test_defaults() -> None:
    spec = build()
    assert spec == ClusterSpec(name="demo")
    assert (spec.managers, spec.workers, spec.ingress_nodes) == (1, 0, 1)
    assert (spec.flavor, spec.image, spec.ssh_user) == ("m1.small", "debian-12", "debian")
    assert spec.network is None and spec.external_network is None
    assert spec.overlay_networks == (OverlayNetwork("proxy"), OverlayNetwork("apps"))
    assert spec.overlay_networks == DEFAULT_OVERLAYS


def test_spec_is_frozen() -> None:
    with pytest.raises(AttributeError):
        build().workers = 3  # type: ignore[misc]


def test_load_and_build_full_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name: demo
managers: 3
workers: 4
flavor: m1.medium
image: debian-12-docker
network: private
external-network: public
ssh_user: ubuntu
overlay_networks:
  - proxy
  - name: db
    encrypted: true
ingress_nodes: 2
""",
    )
    values = load_spec(path)
    assert values["external_network"] == "public"
    spec = build_spec(values, {})
    assert spec == ClusterSpec(
        name="demo",
        managers=3,
        workers=4,
        flavor="m1.medium",
        image="debian-12-docker",
        network="private",
        external_network="public",
        ssh_user="ubuntu",
        overlay_networks=(OverlayNetwork("proxy"), OverlayNetwork("db", encrypted=True)),
        ingress_nodes=2,
    )


def test_flags_override_file_and_none_flags_do_not(tmp_path: Path) -> None:
    values = load_spec(write(tmp_path, "name: demo\nworkers: 2\nflavor: m1.large\n"))
    spec = build_spec(values, {"workers": 5, "flavor": None, "name": None, "managers": None})
    assert (spec.name, spec.workers, spec.flavor, spec.managers) == ("demo", 5, "m1.large", 1)


def test_default_name_is_last_resort() -> None:
    assert build_spec({}, {}, default_name="project-3").name == "project-3"
    assert build_spec({"name": "file"}, {}, default_name="project-3").name == "file"
    assert build_spec({"name": "file"}, {"name": "flag"}, default_name="x").name == "flag"


def test_missing_name() -> None:
    with pytest.raises(UsageError) as err:
        build_spec({}, {"workers": 1})
    assert "the cluster has no name" in err.value.message
    assert "--name" in str(err.value.hint)


def test_invalid_name_says_where_it_came_from(tmp_path: Path) -> None:
    values = load_spec(write(tmp_path, "workers: 1\nname: My_Cluster\n"))
    with pytest.raises(UsageError) as err:
        build_spec(values, {})
    assert "name: invalid cluster name 'My_Cluster'" in err.value.message
    assert "cluster.yml line 2" in err.value.message
    assert "'my-cluster'" in str(err.value.hint)


def test_empty_file_is_empty_spec(tmp_path: Path) -> None:
    assert load_spec(write(tmp_path, "# nothing yet\n")) == {}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_spec(tmp_path / "nope.yml")


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: demo\nworkers: [1, 2\nflavor: x\n")
    with pytest.raises(UsageError) as err:
        load_spec(path)
    assert "malformed YAML" in err.value.message
    assert "line 3" in err.value.message


def test_tab_indentation_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: demo\n\tworkers: 2\n")
    with pytest.raises(UsageError, match=r"line 2, column 1: malformed YAML"):
        load_spec(path)


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        load_spec(write(tmp_path, "- name: demo\n"))
    assert "must be a YAML mapping of settings, not a list" in err.value.message
    assert "managers: 3" in str(err.value.hint)


def test_unknown_key_lists_allowed_and_guesses(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        load_spec(write(tmp_path, "name: demo\nworker: 3\n"))
    assert "line 2: unknown setting 'worker' (did you mean 'workers'?)" in err.value.message
    for key in ("managers", "workers", "flavor", "overlay_networks", "ingress_nodes"):
        assert key in str(err.value.hint)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        load_spec(write(tmp_path, "workers: 2\nname: x\nworkers: 3\n"))
    assert "line 3: 'workers' is set twice (first on line 1)" in err.value.message


def test_hyphen_and_underscore_spellings_collide(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="set twice"):
        load_spec(write(tmp_path, "ssh_user: a\nssh-user: b\n"))


def test_wrong_type_names_field_value_and_line(tmp_path: Path) -> None:
    values = load_spec(write(tmp_path, "name: demo\nworkers: three\n"))
    with pytest.raises(UsageError) as err:
        build_spec(values, {})
    assert "workers: invalid value 'three' (from " in err.value.message
    assert "cluster.yml line 2)" in err.value.message
    assert err.value.hint == "workers must be an integer, not str"


def test_bool_is_not_an_int() -> None:
    err = usage_error(managers=True)
    assert "managers: invalid value True" in err.message
    assert "an integer, not bool" in str(err.hint)


@pytest.mark.parametrize("managers", [1, 3, 5, 7])
def test_valid_manager_counts(managers: int) -> None:
    assert build(managers=managers).managers == managers


@pytest.mark.parametrize("managers", [2, 4, 6, 8])
def test_even_manager_counts_explain_raft(managers: int) -> None:
    err = usage_error(managers=managers)
    assert f"managers: invalid value {managers} (from --managers)" in err.message
    assert "Raft needs a majority" in err.message
    assert "even count adds no fault tolerance" in err.message
    assert err.hint == "managers must be 1, 3, 5 or 7"


def test_four_managers_compared_to_three() -> None:
    assert "4 managers survive 1 failure(s), like 3" in usage_error(managers=4).message


@pytest.mark.parametrize("managers", [9, 11])
def test_large_odd_manager_counts(managers: int) -> None:
    err = usage_error(managers=managers)
    assert "more than 7 managers" in err.message
    assert err.hint == "managers must be 1, 3, 5 or 7"


@pytest.mark.parametrize("managers", [0, -1])
def test_too_few_managers(managers: int) -> None:
    assert "at least one manager" in usage_error(managers=managers).message


@pytest.mark.parametrize("workers", [0, 1, 50])
def test_valid_workers(workers: int) -> None:
    assert build(workers=workers).workers == workers


@pytest.mark.parametrize("workers", [-1, 51])
def test_invalid_workers(workers: int) -> None:
    err = usage_error(workers=workers)
    assert f"workers: invalid value {workers} (from --workers)" in err.message
    assert err.hint == "workers must be between 0 and 50"


def test_ingress_nodes_bounded_by_node_count() -> None:
    assert build(managers=1, workers=2, ingress_nodes=3).ingress_nodes == 3
    err = usage_error(managers=1, workers=2, ingress_nodes=4)
    assert "ingress_nodes: invalid value 4" in err.message
    assert "between 1 and the number of nodes (3 = 1 managers + 2 workers)" in str(err.hint)
    assert "ingress_nodes: invalid value 0" in usage_error(ingress_nodes=0).message


@pytest.mark.parametrize("key", ["flavor", "image", "ssh_user", "network", "external_network"])
def test_strings_must_be_non_empty_strings(key: str) -> None:
    for bad in ("", "  ", 3):
        err = usage_error(**{key: bad})
        assert f"{key}: invalid value {bad!r}" in err.message
        assert err.hint == f"{key} must be a non-empty string"


def test_ssh_user_must_be_a_unix_name() -> None:
    err = usage_error(ssh_user="Debian Admin")
    assert "ssh_user: invalid value 'Debian Admin'" in err.message
    assert "a Unix user name" in str(err.hint)


def test_overlay_networks_forms() -> None:
    spec = build(overlay_networks=["a", {"name": "b", "encrypted": True}, OverlayNetwork("c")])
    assert spec.overlay_networks == (
        OverlayNetwork("a"),
        OverlayNetwork("b", True),
        OverlayNetwork("c"),
    )
    assert build(overlay_networks=[]).overlay_networks == ()


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        ("proxy", "overlay_networks: invalid value 'proxy'", "a list of {name, encrypted}"),
        ([3], "overlay_networks[0]: invalid value 3", "a network name or a mapping"),
        ([{"name": "Bad_Net"}], "overlay_networks[0].name: invalid value 'Bad_Net'", "e.g. 'apps'"),
        ([{"encrypted": True}], "overlay_networks[0].name: invalid value None", "a lower-case"),
        (
            [{"name": "a", "encrypted": "yes"}],
            "[0].encrypted: invalid value 'yes'",
            "true or false",
        ),
        (["a", "a"], "overlay_networks[1]: invalid value 'a'", "not used by another"),
        ([{"name": "a", "secure": True}], "unknown key 'secure'", "allowed keys: name, encrypted"),
    ],
)
def test_overlay_network_errors(value: Any, message: str, hint: str) -> None:
    err = usage_error(overlay_networks=value)
    assert message in err.message
    assert hint in str(err.hint)


def test_unknown_flag_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="unknown ClusterSpec flag 'wokers'"):
        build_spec({}, {"wokers": 3})


def test_plain_dict_file_values_are_accepted() -> None:
    err_spec = build_spec({"name": "demo", "workers": 2}, {})
    assert err_spec.workers == 2
    with pytest.raises(UsageError, match=r"workers: invalid value 'x' \(from spec file\)"):
        build_spec({"name": "demo", "workers": "x"}, {})


def test_non_scalar_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"line 1, column 3: malformed YAML: .*unhashable key"):
        load_spec(write(tmp_path, "? [a, b]\n: 1\n"))


def test_integer_key_is_an_unknown_setting(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown setting '3'"):
        load_spec(write(tmp_path, "3: workers\n"))
