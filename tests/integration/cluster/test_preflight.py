"""Preflight against a real localcloud: names resolved, mistakes explained, nothing made."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from cluster_support import create_private_network, delete_private_network
from openstack.connection import Connection

from cloudhp.context import ClusterContext
from cloudhp.errors import NotFoundError, QuotaTooSmall, UsageError
from cloudhp.naming import resource_name
from cloudhp.steps.preflight import preflight

pytestmark = pytest.mark.docker

MakeCtx = Callable[..., ClusterContext]
T = TypeVar("T")


def found(item: T | None) -> T:
    assert item is not None
    return item


def assert_nothing_created(conn: Connection, ctx: ClusterContext) -> None:
    """Preflight only reads: no server, security group or keypair of the cluster exists."""
    assert list(conn.compute.servers(tags=ctx.tag)) == []
    prefix = ctx.spec.name + "-"
    assert [g.name for g in conn.network.security_groups() if g.name.startswith(prefix)] == []
    assert list(conn.network.security_groups(tags=ctx.tag)) == []
    assert conn.compute.find_keypair(resource_name(ctx.spec.name, "key")) is None
    assert not ctx.key_path.exists()


def test_resolves_the_defaults(make_ctx: MakeCtx, conn: Connection, private_net: Any) -> None:
    network, subnet = private_net
    ctx = make_ctx()
    resolved = preflight(ctx)
    flavor = found(conn.compute.find_flavor("m1.small"))
    image = found(conn.image.find_image("debian-12"))
    public = found(conn.network.find_network("public"))
    assert resolved.flavor_id == flavor.id
    assert (resolved.flavor_vcpus, resolved.flavor_ram_mb) == (flavor.vcpus, flavor.ram)
    assert resolved.image_id == image.id
    assert (resolved.network_id, resolved.network_name) == (network.id, network.name)
    assert (resolved.subnet_id, resolved.subnet_cidr) == (subnet.id, subnet.cidr)
    assert (resolved.external_network_id, resolved.external_network_name) == (public.id, "public")
    assert ipaddress.IPv4Address(resolved.bastion_address)
    assert any("quotas suffice" in s for s in ctx.reporter.steps)  # type: ignore[attr-defined]
    assert_nothing_created(conn, ctx)


def test_resolves_ids_too(make_ctx: MakeCtx, conn: Connection, private_net: Any) -> None:
    network, _ = private_net
    flavor = found(conn.compute.find_flavor("m1.tiny"))
    image = found(conn.image.find_image("debian-12"))
    public = found(conn.network.find_network("public"))
    ctx = make_ctx(flavor=flavor.id, image=image.id, network=network.id, external_network=public.id)
    resolved = preflight(ctx)
    assert (resolved.flavor_id, resolved.image_id) == (flavor.id, image.id)
    assert (resolved.network_id, resolved.external_network_id) == (network.id, public.id)


def test_bastion_address_override(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    ctx.facts["bastion_address"] = "192.0.2.7"
    assert preflight(ctx).bastion_address == "192.0.2.7"
    ctx.facts["bastion_address"] = "bastion.example.org"
    with pytest.raises(UsageError, match="not an IPv4 address"):
        preflight(ctx)


def test_unknown_flavor_lists_the_flavors(make_ctx: MakeCtx, conn: Connection) -> None:
    ctx = make_ctx(flavor="m9.huge")
    with pytest.raises(NotFoundError) as err:
        preflight(ctx)
    assert err.value.message == "flavor 'm9.huge' not found"
    assert "m1.small (1 vCPU, 2048 MiB)" in (err.value.hint or "")
    assert "m1.large" in (err.value.hint or "")
    assert_nothing_created(conn, ctx)


def test_unknown_image_lists_the_active_images(make_ctx: MakeCtx, conn: Connection) -> None:
    ctx = make_ctx(image="ubuntu-99.04")
    with pytest.raises(NotFoundError) as err:
        preflight(ctx)
    assert err.value.message == "image 'ubuntu-99.04' not found"
    assert "debian-12" in (err.value.hint or "")
    assert_nothing_created(conn, ctx)


def test_image_that_is_not_active(make_ctx: MakeCtx, conn: Connection) -> None:
    queued: Any = conn.image.create_image(
        name="half-uploaded", disk_format="raw", container_format="bare"
    )
    try:
        ctx = make_ctx(image="half-uploaded")
        with pytest.raises(UsageError) as err:
            preflight(ctx)
        assert err.value.message == f"image half-uploaded ({queued.id}) is queued, not active"
        assert "debian-12" in (err.value.hint or "")
    finally:
        conn.image.delete_image(queued)


def test_unknown_network_lists_the_private_ones(
    make_ctx: MakeCtx, conn: Connection, private_net: Any
) -> None:
    network, _ = private_net
    ctx = make_ctx(network="no-such-net")
    with pytest.raises(NotFoundError) as err:
        preflight(ctx)
    assert err.value.message == "network 'no-such-net' not found"
    assert f"{network.name} ({network.id})" in (err.value.hint or "")
    assert "public" not in (err.value.hint or "")
    assert_nothing_created(conn, ctx)


def test_unknown_external_network(make_ctx: MakeCtx) -> None:
    with pytest.raises(NotFoundError) as err:
        preflight(make_ctx(external_network="internet"))
    assert err.value.message == "external network 'internet' not found"
    assert "public (" in (err.value.hint or "")


def test_private_network_as_external_is_refused(make_ctx: MakeCtx, private_net: Any) -> None:
    network, _ = private_net
    with pytest.raises(UsageError, match="router:external is false"):
        preflight(make_ctx(external_network=network.name))


def test_several_private_networks_need_a_choice(
    make_ctx: MakeCtx, conn: Connection, private_net: Any
) -> None:
    network, _ = private_net
    other, _ = create_private_network(conn, "cluster-tests-other")
    try:
        ctx = make_ctx()
        with pytest.raises(UsageError) as err:
            preflight(ctx)
        assert "2 private (non-external) networks are visible" in err.value.message
        hint = err.value.hint or ""
        assert hint.startswith("name one with --network: ")
        assert network.name in hint and "cluster-tests-other" in hint
        assert_nothing_created(conn, ctx)
        assert preflight(make_ctx(network="cluster-tests-other")).network_id == other.id
    finally:
        delete_private_network(conn, other)


def test_network_without_ipv4_subnet(make_ctx: MakeCtx, conn: Connection) -> None:
    bare = conn.network.create_network(name="cluster-tests-bare")
    try:
        with pytest.raises(NotFoundError, match="has no IPv4 subnet"):
            preflight(make_ctx(network="cluster-tests-bare"))
    finally:
        conn.network.delete_network(bare)


def test_quota_too_small_lists_every_shortage(make_ctx: MakeCtx, conn: Connection) -> None:
    limits = conn.compute.get_limits().absolute
    ctx = make_ctx(managers=1, workers=50, flavor="m1.large")
    with pytest.raises(QuotaTooSmall) as err:
        preflight(ctx)
    free = limits.instances - limits.instances_used
    free_cores = limits.total_cores - limits.total_cores_used
    assert err.value.message.startswith(
        f"quota too small: instances need 51, {free} available; cores need 204, "
        f"{free_cores} available; RAM need 417792 MiB"
    )
    assert "nothing was created" in (err.value.hint or "")
    assert_nothing_created(conn, ctx)


def test_builder_server_counts_against_the_quota(
    make_ctx: MakeCtx, conn: Connection, admin_conn: Connection
) -> None:
    project = str(conn.current_project_id)
    before = admin_conn.compute.get_quota_set(project)
    used = conn.compute.get_limits().absolute.instances_used
    admin_conn.compute.update_quota_set(project, instances=used + 2)
    try:
        ctx = make_ctx(managers=1, workers=1)
        preflight(ctx, extra_servers=0)
        with pytest.raises(QuotaTooSmall) as err:
            preflight(ctx, extra_servers=1)
        assert err.value.message == "quota too small: instances need 3, 2 available"
        assert_nothing_created(conn, ctx)
    finally:
        admin_conn.compute.update_quota_set(project, instances=before.instances)


def test_floating_ip_quota(make_ctx: MakeCtx, conn: Connection, admin_conn: Connection) -> None:
    project = str(conn.current_project_id)
    before = admin_conn.network.get_quota(project).floating_ips
    admin_conn.network.update_quota(project, floating_ips=0)
    try:
        ctx = make_ctx()
        with pytest.raises(QuotaTooSmall) as err:
            preflight(ctx)
        assert err.value.message == "quota too small: floating IPs need 1, 0 available"
        assert_nothing_created(conn, ctx)
    finally:
        admin_conn.network.update_quota(project, floating_ips=before)


def test_volume_quota(make_ctx: MakeCtx, conn: Connection) -> None:
    limits = conn.block_storage.get_limits().absolute
    free = limits.max_total_volumes - limits.total_volumes_used
    ctx = make_ctx()
    preflight(ctx, volumes_needed=1)
    with pytest.raises(QuotaTooSmall) as err:
        preflight(ctx, volumes_needed=free + 1)
    assert err.value.message.startswith(f"quota too small: volumes need {free + 1}, {free} avail")


def test_wrong_password_fails_before_anything_else(
    make_ctx: MakeCtx, localcloud: Any, conn: Connection
) -> None:
    bad = localcloud.connect(**{**localcloud.demo, "password": "not-the-password"})
    ctx = make_ctx(connection=bad)
    with pytest.raises(UsageError, match="authentication failed for user demo"):
        preflight(ctx)
    assert_nothing_created(conn, ctx)
