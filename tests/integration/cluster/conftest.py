"""Fixtures for the cluster steps (preflight, security groups, keypair, teardown).

They run against the same real localcloud as tests/integration/localcloud (one per
session, from tests/integration/conftest.py), over HTTP with openstacksdk.

Fixtures:
    localcloud, conn, admin_conn   from tests/integration/conftest.py
    private_net    a private network + IPv4 subnet in project demo (session)
    make_ctx       builds a ClusterContext for a fresh cluster name; every cluster
                   made through it is torn down (by tag) after the test
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_support import (
    PRIVATE_NET,
    create_private_network,
    delete_private_network,
    unique_name,
)
from openstack.connection import Connection

from cloudhp.clusterspec import build_spec
from cloudhp.context import ClusterContext
from cloudhp.progress import RecordingReporter


@pytest.fixture(scope="session")
def private_net(conn: Connection) -> Iterator[tuple[Any, Any]]:
    network, subnet = create_private_network(conn, PRIVATE_NET)
    try:
        yield network, subnet
    finally:
        delete_private_network(conn, network)


@pytest.fixture
def make_ctx(
    conn: Connection, private_net: tuple[Any, Any], tmp_path: Path
) -> Iterator[Callable[..., ClusterContext]]:
    from cloudhp.flows.teardown import teardown

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
