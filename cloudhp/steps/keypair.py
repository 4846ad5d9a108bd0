"""The cluster's SSH key: generated on the bastion, only its public half given to Nova.

Ownership: Nova keypairs carry no tags or metadata, and a name proves nothing (a
user's own key may well be called `<cluster>-key`). Nova does keep the public key line
as imported, comment included, so cloudhp imports it with the comment
`cloudhp-cluster=<name>`, the cluster's tag. Teardown deletes the keypair `<name>-key`
only when

- its comment is that tag: read from the cloud alone, so a teardown from a host with
  nothing but credentials (a cron job, a lost bastion) works, as for tagged resources;
- or the cluster's private key is on this machine and the keypair holds its public
  half (a keypair imported before the comment was set, or by hand from that file).

Anything else of that name is kept and reported with the reason. Nova's fingerprint is
not consulted: it is a digest of the public key, which is compared whole, and a
fingerprint recorded at init would be local state that a teardown elsewhere lacks. A
keypair marked for the cluster that holds another key (the same cluster name used from
another bastion) is deleted by teardown, like that cluster's tagged servers, and
refused by init, which could not reach nodes made with it.

Keypairs belong to the OpenStack *user*, not the project, so another user of the
same project neither sees nor can delete it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openstack.exceptions as os_exc
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from cloudhp.context import ClusterContext
from cloudhp.errors import ConflictError
from cloudhp.keys import DamagedKey, KeyPair, ensure_keypair
from cloudhp.naming import cluster_tag, resource_name


def keypair_name(cluster: str) -> str:
    """The Nova keypair's name; teardown looks at this name only."""
    return resource_name(cluster, "key")


def find_keypair(conn: Any, name: str) -> Any | None:
    """The keypair called exactly `name`, or None (GET by name: no listing, no matching)."""
    try:
        return conn.compute.get_keypair(name)
    except os_exc.NotFoundException:
        return None


def same_public_key(a: str, b: str) -> bool:
    """Whether two OpenSSH public key lines hold the same key, whatever their comments.

    Nova returns the line as it was imported; comparing type and base64 blob only lets
    a key imported by hand with another comment count as the same key.
    """
    return a.split()[:2] == b.split()[:2]


def key_comment(public_key: str) -> str:
    """The comment of an OpenSSH public key line (what follows type and key), or ''."""
    return " ".join(public_key.split()[2:])


def read_local_key(path: Path) -> KeyPair | None:
    """The cluster's key on this machine, or None; unlike `ensure_keypair` it never
    makes one, since a teardown that generated a key would prove ownership of nothing.

    An unreadable or damaged file is no key either: it cannot vouch for a keypair, and
    teardown must still go on, on the word of the keypair's comment alone.
    """
    try:
        private = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, UnsupportedAlgorithm):
        return None
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return KeyPair(path, public.decode())


def keypair_ownership(public_key: str, cluster: str, local: KeyPair | None) -> str | None:
    """None when the keypair `<cluster>-key` holding `public_key` is the cluster's (see
    the module's docstring), else why it is not, for the message that it was kept."""
    tag = cluster_tag(cluster)
    comment = key_comment(public_key)
    if comment == tag or (local is not None and same_public_key(public_key, local.public_key)):
        return None
    unmarked = (
        f"its public key's comment is {comment!r}" if comment else "its public key has no comment"
    )
    if local is None:
        against = f"this machine holds no key of cluster {cluster} to compare it with"
    else:
        against = f"it is not the public key of {local.private_path}"
    return (
        f"{unmarked}, not {tag}, and {against}; if it is the cluster's after all, "
        f"delete it with `openstack keypair delete {keypair_name(cluster)}`"
    )


def ensure_cloud_keypair(ctx: ClusterContext) -> tuple[str, bool]:
    """Makes the local key and the Nova keypair exist and agree.

    The private key is generated (0600) in the cluster directory if missing and never
    sent anywhere; Nova gets the public key by import (Nova-generated keys would mean
    the private key travelled over the network), its comment the cluster's tag.

    Returns:
        (keypair name, whether the Nova keypair was created).

    Raises:
        ConflictError: A Nova keypair of that name holds another public key (made by
            hand, or by a cluster of the same name on another bastion).
    """
    name = keypair_name(ctx.spec.name)
    existing = find_keypair(ctx.conn, name)
    try:
        local = ensure_keypair(ctx.key_path, comment=cluster_tag(ctx.spec.name))
    except DamagedKey:
        if existing is not None:
            raise  # servers may hold its public half: only the user can restore it
        local = _replace_damaged(ctx)
    compute = ctx.conn.compute
    if existing is not None:
        if not same_public_key(existing.public_key or "", local.public_key):
            raise ConflictError(
                f"Nova keypair {name!r} exists with another public key than {ctx.key_path}",
                hint=f"delete it (`openstack keypair delete {name}`) if it is stale, or use "
                "another cluster name; the private key of that keypair is not on this "
                "machine, so cloudhp could not reach nodes made with it",
            )
        return name, False
    compute.create_keypair(name=name, public_key=local.public_key)
    ctx.reporter.step(f"imported the public key of {ctx.key_path} as keypair {name}")
    return name, True


def _replace_damaged(ctx: ClusterContext) -> KeyPair:
    """A damaged key with no Nova keypair behind it opened no server (servers are made
    with the keypair): it is kept aside, for the record, and a new key is made."""
    aside = ctx.key_path.with_name(f"{ctx.key_path.name}.damaged-{int(time.time())}")
    ctx.key_path.rename(aside)
    ctx.reporter.step(f"{ctx.key_path} was damaged and no keypair used it: kept as {aside}")
    return ensure_keypair(ctx.key_path, comment=cluster_tag(ctx.spec.name))
