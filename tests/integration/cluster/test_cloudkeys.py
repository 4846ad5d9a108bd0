"""The Nova keypair on a real localcloud: public key imported, private key kept here."""

from __future__ import annotations

import stat
from collections.abc import Callable

import pytest
from openstack.connection import Connection

from cloudhp.context import ClusterContext
from cloudhp.errors import ConflictError
from cloudhp.keys import DamagedKey, ensure_keypair
from cloudhp.steps.keypair import ensure_cloud_keypair, keypair_name

pytestmark = pytest.mark.docker

MakeCtx = Callable[..., ClusterContext]


def test_imports_the_public_key_once(make_ctx: MakeCtx, conn: Connection) -> None:
    ctx = make_ctx()
    name, changed = ensure_cloud_keypair(ctx)
    assert (name, changed) == (keypair_name(ctx.spec.name), True)
    assert stat.S_IMODE(ctx.key_path.stat().st_mode) == 0o600
    local = ensure_keypair(ctx.key_path, comment=f"cloudhp-{ctx.spec.name}")
    remote = conn.compute.get_keypair(name)
    assert remote.public_key.split()[:2] == local.public_key.split()[:2]
    assert ensure_cloud_keypair(ctx) == (name, False)


def test_keypair_with_another_key_is_a_conflict(
    make_ctx: MakeCtx, conn: Connection, tmp_path
) -> None:
    ctx = make_ctx()
    other = ensure_keypair(tmp_path / "other_key", comment="someone")
    name = keypair_name(ctx.spec.name)
    conn.compute.create_keypair(name=name, public_key=other.public_key)
    with pytest.raises(ConflictError) as err:
        ensure_cloud_keypair(ctx)
    assert f"Nova keypair {name!r} exists with another public key" in err.value.message
    assert f"openstack keypair delete {name}" in (err.value.hint or "")
    assert conn.compute.get_keypair(name).public_key.split()[:2] == other.public_key.split()[:2]


def test_a_damaged_key_no_keypair_used_is_kept_aside_and_made_again(
    make_ctx: MakeCtx, conn: Connection
) -> None:
    ctx = make_ctx()
    ctx.key_path.parent.mkdir(parents=True, exist_ok=True)
    ctx.key_path.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA")
    name, changed = ensure_cloud_keypair(ctx)
    assert changed is True
    (aside,) = ctx.key_path.parent.glob(f"{ctx.key_path.name}.damaged-*")
    assert aside.read_bytes().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl")
    local = ensure_keypair(ctx.key_path)
    assert conn.compute.get_keypair(name).public_key.split()[:2] == local.public_key.split()[:2]


def test_a_damaged_key_a_keypair_holds_is_reported_and_left_alone(
    make_ctx: MakeCtx, conn: Connection
) -> None:
    ctx = make_ctx()
    ensure_cloud_keypair(ctx)  # servers could now hold its public half
    ctx.key_path.write_bytes(ctx.key_path.read_bytes()[:100])
    damaged = ctx.key_path.read_bytes()
    with pytest.raises(DamagedKey) as err:
        ensure_cloud_keypair(ctx)
    assert err.value.message.startswith(f"the SSH key {ctx.key_path} is damaged")
    assert "restore it from a backup" in str(err.value.hint)
    assert err.value.exit_status == 5
    assert ctx.key_path.read_bytes() == damaged
    assert not list(ctx.key_path.parent.glob("*.damaged-*"))
