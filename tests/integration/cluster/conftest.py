"""Fixtures for the cluster steps (preflight, security groups, keypair, teardown).

They run against the same real localcloud as tests/integration/localcloud, over HTTP
with openstacksdk. pytest only honours `pytest_plugins` in the root conftest, so the
localcloud fixtures are re-exported from that directory's conftest (loaded under a
unique module name so pytest's own "conftest" module is not shadowed).

Fixtures:
    localcloud, conn, admin_conn   from tests/integration/localcloud/conftest.py
    private_net    a private network + IPv4 subnet in project demo (session)
    make_ctx       builds a ClusterContext for a fresh cluster name; every cluster
                   made through it is torn down (by tag) after the test
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cluster_support import (
    PRIVATE_NET,
    create_private_network,
    delete_private_network,
    has_service,
    unique_name,
)
from openstack.connection import Connection

from cloudhp.clusterspec import build_spec
from cloudhp.context import ClusterContext
from cloudhp.progress import RecordingReporter


def _load_localcloud_fixtures() -> ModuleType:
    name = "cloudhp_tests_localcloud_fixtures"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[1] / "localcloud" / "conftest.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_lc = _load_localcloud_fixtures()
localcloud = _lc.localcloud
conn = _lc.conn
admin_conn = _lc.admin_conn
LocalCloud = _lc.LocalCloud


@pytest.fixture(scope="session")
def private_net(conn: Connection) -> Iterator[tuple[Any, Any]]:
    if not has_service("network"):
        pytest.skip("localcloud has no network service yet")
    network, subnet = create_private_network(conn, PRIVATE_NET)
    try:
        yield network, subnet
    finally:
        delete_private_network(conn, network)


@pytest.fixture
def make_ctx(
    conn: Connection, private_net: tuple[Any, Any], tmp_path: Path
) -> Iterator[Callable[..., ClusterContext]]:
    from cloudhp.teardown import teardown

    made: list[str] = []

    def make(name: str | None = None, connection: Connection | None = None, **values: Any):
        spec = build_spec({}, {"name": name or unique_name(), **values})
        made.append(spec.name)
        return ClusterContext(
            conn=connection or conn,
            spec=spec,
            workdir=tmp_path / spec.name,
            reporter=RecordingReporter(),
        )

    yield make
    for name in made:
        teardown(conn, name, RecordingReporter(), include_images=True, poll=0.5)
