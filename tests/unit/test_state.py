"""The cluster directory: the current cluster, the record written piece by piece."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cloudhp import state
from cloudhp.errors import EnvironmentProblem, NotFoundError, UsageError


def test_no_current_cluster_names_the_ways_out() -> None:
    with pytest.raises(NotFoundError) as err:
        state.resolve_name(None)
    assert "no current cluster" in err.value.message
    assert "cloudhp use NAME" in (err.value.hint or "")


def test_record_merges_and_is_private(hermetic_home: Path) -> None:
    files = state.cluster_files("demo")
    files.update_record(auth={"cloud": "local"}, ssh_user="debian")
    files.update_record(nodes=[{"name": "demo-manager-1"}])
    record = files.read_record()
    assert record == {
        "cluster": "demo",
        "auth": {"cloud": "local"},
        "ssh_user": "debian",
        "nodes": [{"name": "demo-manager-1"}],
    }
    assert stat.S_IMODE(files.record_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.path.stat().st_mode) == 0o700
    assert files.path == hermetic_home / "cloudhp" / "clusters" / "demo"


def test_current_defaults_and_use_switches() -> None:
    state.cluster_dir("one")
    state.cluster_dir("two")
    state.set_current("one")
    assert state.resolve_name(None) == "one"
    assert state.resolve_name("two") == "two"
    state.use("two")
    assert state.current() == "two"
    assert state.known_clusters() == ["one", "two"]


def test_use_of_an_unknown_cluster_lists_the_known_ones() -> None:
    state.cluster_dir("one")
    with pytest.raises(NotFoundError) as err:
        state.use("nope")
    assert "nope" in err.value.message and "one" in err.value.message
    assert state.current() is None


@pytest.mark.parametrize("name", ["../../x", "a/b", ".", "Upper"])
def test_names_are_checked_before_any_path_is_built(name: str) -> None:
    with pytest.raises(UsageError):
        state.cluster_files(name)
    with pytest.raises(UsageError):
        state.resolve_name(name)


@pytest.mark.parametrize("text", ['{"nodes": [', "[1, 2]", ""])
def test_a_damaged_record_is_reported_and_init_writes_it_again(text: str) -> None:
    files = state.cluster_files("c1").create()
    files.record_path.write_text(text)
    with pytest.raises(EnvironmentProblem) as err:
        files.read_record()
    assert err.value.message.startswith(f"{files.record_path} is damaged")
    assert "cloudhp init --name c1" in str(err.value.hint)
    assert files.update_record(nodes=[]) == {"cluster": "c1", "nodes": []}
    assert files.read_record() == {"cluster": "c1", "nodes": []}
