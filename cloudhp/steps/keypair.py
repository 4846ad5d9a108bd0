"""The cluster's SSH key: generated on the bastion, only its public half given to Nova.

Nova keypairs carry no tags or metadata, so the exact name `<cluster>-key` is the only
marker that a keypair is the cluster's; teardown deletes that one name and nothing
else. Keypairs belong to the OpenStack *user*, not the project, so another user of the
same project neither sees nor can delete it.
"""

from __future__ import annotations

from typing import Any

import openstack.exceptions as os_exc

from cloudhp.context import ClusterContext
from cloudhp.errors import ConflictError
from cloudhp.keys import ensure_keypair
from cloudhp.naming import resource_name


def keypair_name(cluster: str) -> str:
    """The Nova keypair's name; teardown deletes exactly this name."""
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


def ensure_cloud_keypair(ctx: ClusterContext) -> tuple[str, bool]:
    """Makes the local key and the Nova keypair exist and agree.

    The private key is generated (0600) in the cluster directory if missing and never
    sent anywhere; Nova gets the public key by import (Nova-generated keys would mean
    the private key travelled over the network).

    Returns:
        (keypair name, whether the Nova keypair was created).

    Raises:
        ConflictError: A Nova keypair of that name holds another public key (made by
            hand, or by a cluster of the same name on another bastion).
    """
    name = keypair_name(ctx.spec.name)
    local = ensure_keypair(ctx.key_path, comment=f"cloudhp-{ctx.spec.name}")
    compute = ctx.conn.compute
    existing = find_keypair(ctx.conn, name)
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
