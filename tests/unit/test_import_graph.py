"""The tool's modules import each other without a cycle (the direction between packages
is import-linter's job, in pyproject.toml)."""

from __future__ import annotations

import grimp
from import_cycles import cycles, strongly_connected


def test_the_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == [{"a", "b", "c"}]


def test_the_tool_has_no_import_cycle() -> None:
    assert cycles(grimp.build_graph("cloudhp", cache_dir=None)) == []
