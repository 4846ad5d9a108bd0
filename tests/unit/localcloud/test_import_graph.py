"""The local cloud's modules import each other without a cycle, its service packages
depend on each other in one direction, and it takes from the tool only its errors
and images.

The graph is grimp's (what import-linter uses): every import, including those inside
functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import grimp
import pytest
from import_cycles import cycles, strongly_connected

PACKAGE = "cloudhp_localcloud"
SERVICES = ("identity", "compute", "network", "volume", "image", "orchestration")
FROM_THE_TOOL = ("cloudhp.errors", "cloudhp.images")


@pytest.fixture(scope="module")
def imports() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, cache_dir=None)


# --- the check itself finds cycles ---------------------------------------------------


def test_the_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == [{"a", "b", "c"}]


@pytest.fixture
def cyclic_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The old shape on disk: a service registers a reset hook with the daemon on
    import, and the daemon imports the services to collect them, lazily."""
    root = tmp_path / "lc_cycle_sample"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "app.py").write_text("from lc_cycle_sample import compute\n")
    (root / "compute.py").write_text(
        textwrap.dedent(
            """
            from lc_cycle_sample import daemon

            def reset_hook(config):
                pass

            daemon.RESET_HOOKS.append(reset_hook)
            """
        )
    )
    (root / "daemon.py").write_text(
        textwrap.dedent(
            """
            RESET_HOOKS = []

            def reset(config):
                import lc_cycle_sample.app  # inside a function: still an edge
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "lc_cycle_sample"


def test_a_cycle_through_a_lazy_import_is_reported(cyclic_package: str) -> None:
    found = cycles(grimp.build_graph(cyclic_package, cache_dir=None))
    assert found == [{f"{cyclic_package}.{m}" for m in ("app", "compute", "daemon")}]


# --- the local cloud -----------------------------------------------------------------


def test_the_local_cloud_has_no_import_cycle(imports: grimp.ImportGraph) -> None:
    assert cycles(imports) == []


def test_the_service_packages_depend_on_each_other_in_one_direction() -> None:
    """Squashed to one node per service: a package's __init__ imports its api module, so
    two services importing each other's modules would be a cycle at import time."""
    imports = grimp.build_graph(PACKAGE, cache_dir=None)
    for service in SERVICES:
        imports.squash_module(f"{PACKAGE}.{service}")
    assert cycles(imports) == []


def test_no_module_imports_the_daemon_but_the_door(imports: grimp.ImportGraph) -> None:
    """Services declare their reset in registry.py; none registers with the daemon."""
    importers = imports.find_modules_that_directly_import(f"{PACKAGE}.daemon")
    assert importers <= {f"{PACKAGE}.control"}


def test_every_service_is_a_sub_package_listed_by_the_registry(
    imports: grimp.ImportGraph,
) -> None:
    listed = imports.find_modules_directly_imported_by(f"{PACKAGE}.registry")
    assert {f"{PACKAGE}.{s}" for s in SERVICES} <= listed
    flat = {m.rsplit(".", 1)[-1] for m in imports.find_children(PACKAGE)}
    assert not {m for m in flat if m.startswith(SERVICES) and m not in SERVICES}


def test_the_local_cloud_takes_only_errors_and_images_from_the_tool() -> None:
    imports = grimp.build_graph(PACKAGE, "cloudhp", cache_dir=None)
    taken = {
        (module, imported)
        for module in imports.modules
        if module.startswith(f"{PACKAGE}.") or module == PACKAGE
        for imported in imports.find_modules_directly_imported_by(module)
        if imported == "cloudhp" or imported.startswith("cloudhp.")
    }
    assert taken, "the check sees no import of the tool at all"
    assert {
        (module, imported)
        for module, imported in taken
        if not any(imported == t or imported.startswith(t + ".") for t in FROM_THE_TOOL)
    } == set()
