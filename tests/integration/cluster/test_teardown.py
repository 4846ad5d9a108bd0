"""Teardown on a real localcloud: everything tagged goes, everything else stays.

Each test builds the cluster's resources the way init does (its own functions for
security groups and keypair, openstacksdk with the tag for the rest) next to bystanders
that share the name pattern but not the tag, and checks both sides afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import openstack.exceptions as os_exc
import pytest
from cluster_support import boot, ready, unique_name
from openstack.connection import Connection

from cloudhp.context import ClusterContext
from cloudhp.errors import CloudhpError
from cloudhp.flows.teardown import teardown
from cloudhp.naming import cluster_tag, resource_name
from cloudhp.progress import RecordingReporter
from cloudhp.steps.keypair import ensure_cloud_keypair, find_keypair, keypair_name
from cloudhp.steps.secgroups import ensure_security_groups, group_name

pytestmark = pytest.mark.docker

MakeCtx = Callable[..., ClusterContext]


def tagged_port(conn: Connection, ctx: ClusterContext, name: str, tag: str | None) -> Any:
    port = conn.network.create_port(network_id=ctx.need_resolved().network_id, name=name)
    if tag:
        conn.network.set_tags(port, [tag])
    return port


def tagged_ip(conn: Connection, ctx: ClusterContext, tag: str | None) -> Any:
    fip = conn.network.create_ip(floating_network_id=ctx.need_resolved().external_network_id)
    if tag:
        conn.network.set_tags(fip, [tag])
    return fip


def exists(get: Callable[[str], Any], rid: str) -> bool:
    try:
        get(rid)
    except os_exc.NotFoundException:
        return False
    return True


def delete_server_and_wait(conn: Connection, server_id: str) -> None:
    conn.compute.delete_server(server_id, ignore_missing=True)
    deadline = time.monotonic() + 300
    while exists(conn.compute.get_server, server_id) and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.fixture
def bystanders(conn: Connection) -> Iterator[list[tuple[str, Any]]]:
    """Resources the test makes untagged (or foreign); all deleted afterwards."""
    made: list[tuple[str, Any]] = []
    yield made
    for kind, res in reversed(made):
        if kind == "server":
            delete_server_and_wait(conn, res.id)
        elif kind == "port":
            conn.network.delete_port(res, ignore_missing=True)
        elif kind == "fip":
            conn.network.delete_ip(res, ignore_missing=True)
        elif kind == "sg":
            conn.network.delete_security_group(res, ignore_missing=True)
        elif kind == "image":
            conn.image.update_image(res, is_protected=False)
            conn.image.delete_image(res, ignore_missing=True)
        elif kind == "volume":
            conn.block_storage.delete_volume(res, ignore_missing=True)


def test_deletes_everything_tagged_and_spares_the_rest(
    make_ctx: MakeCtx, conn: Connection, bystanders: list[tuple[str, Any]]
) -> None:
    ctx = ready(make_ctx)
    c, tag = ctx.spec.name, ctx.tag
    groups, _ = ensure_security_groups(ctx)
    ensure_cloud_keypair(ctx)
    ours = {
        "server": boot(conn, ctx, resource_name(c, "manager", 1), tagged=True),
        "fip": tagged_ip(conn, ctx, tag),
        "port": tagged_port(conn, ctx, resource_name(c, "vip"), tag),
        "image": conn.image.create_image(
            name=resource_name(c, "golden"), disk_format="raw", container_format="bare", tags=[tag]
        ),
    }
    theirs = [
        ("server", boot(conn, ctx, resource_name(c, "worker", 1), tagged=False)),
        ("fip", tagged_ip(conn, ctx, None)),
        ("port", tagged_port(conn, ctx, resource_name(c, "vip", 2), None)),
        ("port", tagged_port(conn, ctx, resource_name(c, "vip", 3), cluster_tag(c + "x"))),
        ("sg", conn.network.create_security_group(name=group_name(c, "extra"))),
        ("sg", conn.network.create_security_group(name=group_name(c + "x", "ssh"))),
        (
            "image",
            conn.image.create_image(
                name=resource_name(c, "golden"), disk_format="raw", container_format="bare"
            ),
        ),
    ]
    conn.network.set_tags(theirs[-2][1], [cluster_tag(c + "x")])  # a similar cluster's
    bystanders.extend(theirs)

    reporter = RecordingReporter()
    report = teardown(conn, c, reporter, poll=0.5)
    assert report.counts == {
        "server": 1,
        "floating IP": 1,
        "port": 1,
        "security group": 3,
        "keypair": 1,
    }
    assert report.deleted["server"] == [resource_name(c, "manager", 1)]
    assert sorted(report.deleted["security group"]) == sorted(
        group_name(c, r) for r in ("swarm", "ssh", "ingress")
    )
    assert report.deleted["keypair"] == [keypair_name(c)]
    assert reporter.phases[-1].changed

    assert not exists(conn.compute.get_server, ours["server"].id)
    assert not exists(conn.network.get_ip, ours["fip"].id)
    assert not exists(conn.network.get_port, ours["port"].id)
    for group_id in groups.values():
        assert not exists(conn.network.get_security_group, group_id)
    assert find_keypair(conn, keypair_name(c)) is None
    assert ctx.key_path.exists()  # the local key is the bastion's, not the cloud's
    assert conn.image.get_image(ours["image"].id).status != "deleted"  # images only on request

    getters: dict[str, Callable[[str], Any]] = {
        "server": conn.compute.get_server,
        "fip": conn.network.get_ip,
        "port": conn.network.get_port,
        "sg": conn.network.get_security_group,
        "image": conn.image.get_image,
    }
    for kind, res in theirs:
        assert exists(getters[kind], res.id), f"{kind} {res.name} was deleted"

    again = RecordingReporter()
    second = teardown(conn, c, again, poll=0.5)
    assert second.found_nothing and second.to_dict()["changed"] is False
    assert again.steps == [f"nothing tagged {tag} found: nothing to delete"]
    assert not again.phases[-1].changed

    with_images = teardown(conn, c, RecordingReporter(), include_images=True, poll=0.5)
    assert with_images.counts == {"image": 1}
    assert not exists(conn.image.get_image, ours["image"].id)
    assert exists(conn.image.get_image, theirs[-1][1].id)


def test_a_resource_that_cannot_be_deleted_is_reported(
    conn: Connection, bystanders: list[tuple[str, Any]]
) -> None:
    c = unique_name()
    tag = cluster_tag(c)
    image: Any = conn.image.create_image(
        name=resource_name(c, "golden"),
        disk_format="raw",
        container_format="bare",
        tags=[tag],
        is_protected=True,
    )
    bystanders.append(("image", image))
    with pytest.raises(CloudhpError) as err:
        teardown(conn, c, RecordingReporter(), include_images=True, poll=0.5)
    message = err.value.message
    assert message.startswith(f"teardown left 1 resource(s) tagged {tag}: image {c}-golden")
    assert "errors: image" in message and "protected" in message
    conn.image.update_image(image, is_protected=False)
    assert teardown(conn, c, RecordingReporter(), include_images=True).counts == {"image": 1}


def test_admin_tears_down_only_its_own_project(
    conn: Connection, admin_conn: Connection, bystanders: list[tuple[str, Any]]
) -> None:
    """An admin token lists every project's Neutron resources; the tag alone must not
    make another project's cluster of the same name look like this one's."""
    c = unique_name()
    demo_group = conn.network.create_security_group(name=group_name(c, "ssh"))
    conn.network.set_tags(demo_group, [cluster_tag(c)])
    bystanders.append(("sg", demo_group))
    report = teardown(admin_conn, c, RecordingReporter(), poll=0.5)
    assert report.found_nothing
    assert exists(conn.network.get_security_group, demo_group.id)


def test_nothing_to_do_for_an_unknown_cluster(conn: Connection) -> None:
    reporter = RecordingReporter()
    report = teardown(conn, unique_name(), reporter)
    assert report.found_nothing and report.counts == {}
    assert reporter.phases[-1].name == "teardown"


def test_volumes_are_detached_and_deleted_by_metadata(
    make_ctx: MakeCtx, conn: Connection, bystanders: list[tuple[str, Any]]
) -> None:
    ctx = ready(make_ctx)
    c = ctx.spec.name
    ours = conn.block_storage.create_volume(
        name=resource_name(c, "db"), size=1, metadata={"cloudhp-cluster": c}
    )
    theirs = conn.block_storage.create_volume(
        name=resource_name(c, "db"), size=1, metadata={"cloudhp-cluster": c + "x"}
    )
    bystanders.append(("volume", theirs))
    server = boot(conn, ctx, resource_name(c, "worker", 7), tagged=False)
    bystanders.append(("server", server))
    conn.block_storage.wait_for_status(ours, "available", wait=120)
    conn.block_storage.wait_for_status(theirs, "available", wait=120)
    conn.compute.wait_for_server(server, wait=300)
    conn.compute.create_volume_attachment(server, volume_id=ours.id)
    conn.block_storage.wait_for_status(ours, "in-use", wait=120)

    report = teardown(conn, c, RecordingReporter(), poll=0.5)
    assert report.counts == {"volume": 1}
    assert not exists(conn.block_storage.get_volume, ours.id)
    assert exists(conn.block_storage.get_volume, theirs.id)
    assert conn.compute.get_server(server.id).status == "ACTIVE"
