"""The cluster's application credential on a real localcloud: made once by init's step,
kept 0600, enough on its own for a teardown, which deletes it last."""

from __future__ import annotations

import stat
from collections.abc import Callable

import keystoneauth1.exceptions as ks_exc
import pytest
from cluster_support import ready
from openstack.connection import Connection

from cloudhp.cloud.access import open_clouds_file
from cloudhp.context import ClusterContext
from cloudhp.flows.teardown import teardown
from cloudhp.steps.appcred import (
    credential_name,
    credential_path,
    ensure_app_credential,
    saved_credential_id,
)
from cloudhp.steps.secgroups import ensure_security_groups

pytestmark = pytest.mark.docker

MakeCtx = Callable[..., ClusterContext]


def credentials_named(conn: Connection, cluster: str) -> list[str]:
    found = conn.identity.application_credentials(
        user=conn.current_user_id, name=credential_name(cluster)
    )
    return [c.id for c in found]


def test_made_once_kept_0600_and_made_again_when_its_file_is_lost(
    make_ctx: MakeCtx, conn: Connection
) -> None:
    ctx = make_ctx()
    name = ctx.spec.name
    assert ensure_app_credential(conn, name, ctx.files.create().path, ctx.reporter) is True
    path = credential_path(ctx.files.path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = saved_credential_id(path)
    assert credentials_named(conn, name) == [first]
    secret = path.read_text().split("application_credential_secret:")[1].split()[0]
    assert not any(secret in step for step in ctx.reporter.steps)
    assert ensure_app_credential(conn, name, ctx.files.path, ctx.reporter) is False
    path.unlink()  # the secret is gone: the credential is useless, so it is replaced
    assert ensure_app_credential(conn, name, ctx.files.path, ctx.reporter) is True
    assert credentials_named(conn, name) == [saved_credential_id(path)] != [first]


def test_the_credential_alone_tears_the_cluster_down_and_goes_last(
    make_ctx: MakeCtx, conn: Connection
) -> None:
    ctx = ready(make_ctx)
    name = ctx.spec.name
    ensure_security_groups(ctx)  # something tagged for the teardown to delete
    ensure_app_credential(conn, name, ctx.files.create().path, ctx.reporter)
    path = credential_path(ctx.files.path)
    unattended = open_clouds_file(path, credential_name(name))
    report = teardown(unattended, name, ctx.reporter, cluster_dir=ctx.files.path)
    assert report.counts["security group"] == 3
    assert report.deleted["application credential"] == [credential_name(name)]
    assert not path.exists()
    assert credentials_named(conn, name) == []
    with pytest.raises(ks_exc.Unauthorized):
        list(unattended.compute.servers())  # the credential no longer authenticates
