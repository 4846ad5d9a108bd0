"""The cluster's application credential on a real localcloud, which enforces access
rules as keystonemiddleware does: it does what the unattended commands do (a teardown
of every kind, a sweep) through openstacksdk, and is refused everything else (401)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import openstack.exceptions as os_exc
import pytest
from cluster_support import boot, ready, unique_name
from openstack.connection import Connection

from cloudhp.cloud.access import open_clouds_file
from cloudhp.context import ClusterContext
from cloudhp.flows.sweep import sweep
from cloudhp.flows.teardown import teardown
from cloudhp.keys import write_private
from cloudhp.naming import cluster_tag, resource_name
from cloudhp.progress import RecordingReporter
from cloudhp.steps.access_rules import same_rules, wanted_rules
from cloudhp.steps.appcred import (
    clouds_yaml,
    credential_name,
    credential_path,
    ensure_app_credential,
    saved_credential_id,
)
from cloudhp.steps.fence import fence
from cloudhp.steps.keypair import ensure_cloud_keypair
from cloudhp.steps.secgroups import ensure_security_groups

pytestmark = pytest.mark.docker

MakeCtx = Callable[..., ClusterContext]
HANDLE_ONLY = {
    "heat_template_version": "2018-08-31",
    "resources": {"handle": {"type": "OS::Heat::WaitConditionHandle"}},
}


def unattended(conn: Connection, ctx: ClusterContext) -> Connection:
    """The cluster's credential, made by init's step, as a scheduled job opens it."""
    ensure_app_credential(conn, ctx.spec.name, ctx.files.create().path, ctx.reporter)
    return open_clouds_file(credential_path(ctx.files.path), credential_name(ctx.spec.name))


def refused(call: Callable[[], Any]) -> int:
    with pytest.raises(os_exc.HttpException) as err:
        call()
    return int(err.value.status_code or 0)


def test_the_credential_carries_the_rules_and_is_refused_what_they_do_not_name(
    make_ctx: MakeCtx, conn: Connection
) -> None:
    ctx = ready(make_ctx)
    limited = unattended(conn, ctx)
    made = conn.identity.get_application_credential(
        conn.current_user_id, saved_credential_id(credential_path(ctx.files.path))
    )
    rules = wanted_rules(conn)
    assert rules and same_rules(made.access_rules, rules) and made.unrestricted
    assert any(
        s.startswith(f"it is limited by {len(rules)} access rules") for s in ctx.reporter.steps
    )

    assert isinstance(list(limited.compute.servers(details=True)), list)
    assert isinstance(list(limited.network.security_groups()), list)
    assert refused(lambda: list(limited.network.networks())) == 401
    assert refused(lambda: limited.network.create_security_group(name=unique_name())) == 401
    assert refused(lambda: list(limited.compute.flavors())) == 401
    assert (
        refused(
            lambda: limited.identity.create_application_credential(
                user=limited.current_user_id, name=unique_name()
            )
        )
        == 401
    )
    assert ensure_app_credential(conn, ctx.spec.name, ctx.files.path, ctx.reporter) is False


def test_a_credential_without_the_rules_is_replaced(make_ctx: MakeCtx, conn: Connection) -> None:
    """One made before cloudhp set rules (or for other endpoints) is made again."""
    ctx = ready(make_ctx)
    name = ctx.spec.name
    old = conn.identity.create_application_credential(
        user=conn.current_user_id,
        name=credential_name(name),
        description=f"unattended cloudhp commands for {cluster_tag(name)}",
        unrestricted=True,
    )
    path = credential_path(ctx.files.create().path)
    write_private(path, clouds_yaml(conn, name, old.id, old.secret).encode())
    assert ensure_app_credential(conn, name, ctx.files.path, ctx.reporter) is True
    new_id = saved_credential_id(path)
    found = list(
        conn.identity.application_credentials(user=conn.current_user_id, name=credential_name(name))
    )
    assert [c.id for c in found] == [new_id] != [old.id]
    assert same_rules(found[0].access_rules, wanted_rules(conn) or [])


def wait_active(conn: Connection, server: Any) -> None:
    conn.compute.wait_for_server(server, status="ACTIVE", wait=300, interval=1)


def test_the_credential_alone_tears_down_every_kind(make_ctx: MakeCtx, conn: Connection) -> None:
    ctx = ready(make_ctx)
    c, tag = ctx.spec.name, ctx.tag
    limited = unattended(conn, ctx)
    ensure_security_groups(ctx)
    ensure_cloud_keypair(ctx)
    server = boot(conn, ctx, resource_name(c, "manager", 1), tagged=True)
    fip = conn.network.create_ip(floating_network_id=ctx.need_resolved().external_network_id)
    conn.network.set_tags(fip, [tag])
    port = conn.network.create_port(
        network_id=ctx.need_resolved().network_id, name=resource_name(c, "vip")
    )
    conn.network.set_tags(port, [tag])
    conn.block_storage.create_volume(
        size=1, name=resource_name(c, "data"), metadata={"cloudhp-cluster": c}
    )
    conn.image.create_image(
        name=resource_name(c, "golden"), disk_format="raw", container_format="bare", tags=[tag]
    )
    conn.orchestration.create_stack(
        name=resource_name(c, "golden"), template=HANDLE_ONLY, tags=[tag]
    )
    wait_active(conn, server)

    report = teardown(
        limited, c, RecordingReporter(), include_images=True, key_path=ctx.key_path,
        cluster_dir=ctx.files.path, poll=0.5,
    )  # fmt: skip
    assert report.counts == {
        "stack": 1,
        "server": 1,
        "floating IP": 1,
        "volume": 1,
        "port": 1,
        "security group": 3,
        "keypair": 1,
        "image": 1,
        "application credential": 1,
    }
    assert not credential_path(ctx.files.path).exists()
    assert teardown(conn, c, RecordingReporter()).found_nothing


def test_a_sweep_on_the_credential_tears_down_the_expired_cluster(
    make_ctx: MakeCtx, conn: Connection
) -> None:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    expired = ready(make_ctx)
    expired.expires_at = now - datetime.timedelta(minutes=1)
    ensure_security_groups(expired)
    later = ready(make_ctx)
    later.expires_at = now + datetime.timedelta(hours=8)
    ensure_security_groups(later)
    limited = unattended(conn, expired)

    report = sweep(limited, RecordingReporter(), now)
    assert report.torn_down[expired.spec.name] == {
        "security group": 3,
        "application credential": 1,
    }
    assert later.spec.name in report.spared
    tags = [g.tags for g in conn.network.security_groups(project_id=conn.current_project_id)]
    assert not any(cluster_tag(expired.spec.name) in t for t in tags)
    assert sum(cluster_tag(later.spec.name) in t for t in tags) == 3
    assert credential_name(expired.spec.name) not in [
        c.name for c in conn.identity.application_credentials(user=conn.current_user_id)
    ]


def test_the_volume_controllers_moves_pass(make_ctx: MakeCtx, conn: Connection) -> None:
    """Fence the lost node through Nova, record the move on the volume, move the
    attachment: what the volume controller does, on the credential alone."""
    ctx = ready(make_ctx)
    c = ctx.spec.name
    limited = unattended(conn, ctx)
    lost = boot(conn, ctx, resource_name(c, "worker", 1), tagged=True)
    healthy = boot(conn, ctx, resource_name(c, "worker", 2), tagged=True)
    volume = conn.block_storage.create_volume(
        size=1, name=resource_name(c, "data"), metadata={"cloudhp-cluster": c}
    )
    conn.block_storage.wait_for_status(volume, "available", wait=60)
    for server in (lost, healthy):
        wait_active(conn, server)
    conn.compute.create_volume_attachment(lost, volume_id=volume.id)

    assert fence(limited, lost.id, lost.name, timeout=120) == "stopped through Nova"
    limited.block_storage.set_volume_metadata(volume, **{"cloudhp-move": "detach:w1:w2"})
    limited.compute.delete_volume_attachment(lost.id, volume.id)
    limited.block_storage.wait_for_status(volume, "available", wait=60)
    limited.compute.create_volume_attachment(healthy.id, volume_id=volume.id)
    moved = limited.block_storage.get_volume(volume.id)
    assert moved.status == "in-use" and moved.metadata["cloudhp-move"] == "detach:w1:w2"
    assert [a["server_id"] for a in moved.attachments] == [healthy.id]


def test_a_sweep_on_one_due_clusters_credential_tears_that_cluster_down_last(
    make_ctx: MakeCtx, conn: Connection
) -> None:
    """The credential's own teardown deletes it: any cluster after it would be refused."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    due = []
    for _ in range(2):
        ctx = ready(make_ctx)
        ctx.expires_at = now - datetime.timedelta(minutes=1)
        ensure_security_groups(ctx)
        due.append(ctx)
    first = min(due, key=lambda c: c.spec.name)  # swept first by name, without the rule
    limited = unattended(conn, first)

    report = sweep(limited, RecordingReporter(), now)
    assert list(report.torn_down)[-1] == first.spec.name
    assert {c.spec.name for c in due} <= set(report.torn_down)
    tags = [g.tags for g in conn.network.security_groups(project_id=conn.current_project_id)]
    assert not any(cluster_tag(c.spec.name) in t for c in due for t in tags)
