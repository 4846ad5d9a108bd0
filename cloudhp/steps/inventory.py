"""What a cluster owns in the cloud, found by its marker alone (no local state).

What marks a resource as the cluster's:

- servers, floating IPs, ports, security groups, images, stacks: the tag
  `cloudhp-cluster=<name>` (Nova, Neutron, Glance and Heat tags);
- volumes: the metadata key `cloudhp-cluster` with the cluster's name (Cinder has no tags);
- the keypair: named `<name>-key` AND its public key's comment is the tag, or it holds
  the cluster's local public key (Nova keypairs have neither tags nor metadata; see
  `cloudhp.steps.keypair`).

Every listing is filtered by the cloud AND checked again here (tag present, project is
ours), because deleting on the word of a filter that a cloud might ignore, or that an
admin token widens to all projects, could delete someone else's resources. What bears
the cluster's name without its marker is returned as `Kept`, with the reason, so that
teardown says what it left alone instead of skipping it silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import openstack.exceptions as os_exc

from cloudhp.cloud.calls import cloud_call
from cloudhp.expiry import cluster_expiries
from cloudhp.keys import KeyPair
from cloudhp.naming import cluster_tag, is_cluster_volume, parse_cluster_tag, tag_list
from cloudhp.steps.golden_plan import ServerImage
from cloudhp.steps.keypair import find_keypair, keypair_name, keypair_ownership

KINDS = ("stack", "server", "floating IP", "volume", "port", "security group", "keypair", "image")
"""Deletion order: each kind may hold on to the ones after it, never to those before."""

GONE_IMAGE_STATUSES = frozenset({"deleted", "pending_delete"})


@dataclass(frozen=True)
class Found:
    """A resource that carries the cluster's marker."""

    kind: str
    id: str
    name: str
    status: str = ""
    attached_to: tuple[str, ...] = ()  # volumes: the servers they are attached to

    def label(self) -> str:
        return f"{self.kind} {self.name or '(unnamed)'} ({self.id})"


@dataclass(frozen=True)
class Kept:
    """A resource teardown left alone, and why (a name that is not a proof of ownership,
    an image other clusters boot from)."""

    item: Found
    reason: str
    handed_to: tuple[str, ...] = ()  # images: the clusters whose tags it now carries

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.item.kind,
            "id": self.item.id,
            "name": self.item.name,
            "reason": self.reason,
            "handed_over_to": list(self.handed_to),
        }


@dataclass(frozen=True)
class Inventory:
    found: list[Found]  # the cluster's, in plan order
    kept: list[Kept]  # named like the cluster's, not provably its own


def plan_teardown(found: Iterable[Found]) -> list[Found]:
    """The order to delete in: by kind (KINDS), then by name, so runs are reproducible.

    Raises:
        ValueError: For a kind this module does not know how to delete.
    """
    items = list(found)
    for item in items:
        if item.kind not in KINDS:
            raise ValueError(f"unknown resource kind {item.kind!r}")
    return sorted(items, key=lambda f: (KINDS.index(f.kind), f.name, f.id))


def has_tag(tags: Iterable[str] | None, tag: str) -> bool:
    return tag in (tags or [])


def _server_tags(conn: Any, server: Any) -> list[str]:
    if server.tags is not None:
        return list(server.tags)
    return list(server.fetch_tags(conn.compute).tags or [])  # microversion < 2.26 views


MISSING_SERVICE = (os_exc.ServiceDisabledException, os_exc.EndpointNotFound)
"""What openstacksdk raises for a service the catalog lacks (a cloud without Cinder)."""


def _if_service(find: Callable[[], list[Found]]) -> list[Found]:
    """A kind whose service the cloud does not have cannot have left anything behind."""
    try:
        return find()
    except MISSING_SERVICE:
        return []


def find_cluster_resources(
    conn: Any, cluster: str, include_images: bool = False, local_key: KeyPair | None = None
) -> Inventory:
    """Everything that carries the cluster's marker in the current project, in plan order.

    Args:
        local_key: The cluster's key on this machine, if any: a keypair holding its
            public half is the cluster's even without the marker comment.
    """
    tag = cluster_tag(cluster)
    kept: list[Kept] = []
    project_id = conn.current_project_id
    net = conn.network

    def servers() -> list[Found]:
        return [
            Found("server", s.id, s.name, s.status or "")
            for s in conn.compute.servers(details=True, tags=tag)
            if has_tag(_server_tags(conn, s), tag)
        ]

    def floating_ips() -> list[Found]:
        return [
            Found("floating IP", f.id, f.floating_ip_address or "", f.status or "")
            for f in net.ips(tags=tag, project_id=project_id)
            if has_tag(f.tags, tag) and f.project_id == project_id
        ]

    def volumes() -> list[Found]:
        # Cinder filters metadata inconsistently across releases: list, then check here.
        return [
            Found(
                "volume",
                v.id,
                v.name or "",
                v.status or "",
                tuple(a.get("server_id", "") for a in v.attachments or []),
            )
            for v in conn.block_storage.volumes(details=True)
            if is_cluster_volume(v.metadata, cluster)
        ]

    def ports() -> list[Found]:
        return [
            Found("port", p.id, p.name or "", p.status or "")
            for p in net.ports(tags=tag, project_id=project_id)
            if has_tag(p.tags, tag) and p.project_id == project_id
        ]

    def security_groups() -> list[Found]:
        return [
            Found("security group", g.id, g.name)
            for g in net.security_groups(tags=tag, project_id=project_id)
            if has_tag(g.tags, tag) and g.project_id == project_id
        ]

    def keypairs() -> list[Found]:
        keypair = find_keypair(conn, keypair_name(cluster))
        if keypair is None:
            return []
        item = Found("keypair", keypair.name, keypair.name)
        why = keypair_ownership(keypair.public_key or "", cluster, local_key)
        if why is not None:
            kept.append(Kept(item, why))
            return []
        return [item]

    def images() -> list[Found]:
        return [
            Found("image", i.id, i.name or "", i.status or "")
            for i in conn.image.images(tag=tag, owner=project_id)
            if has_tag(i.tags, tag)
            and i.owner == project_id
            and i.status not in GONE_IMAGE_STATUSES
        ]

    def stacks() -> list[Found]:
        # A golden-image builder stack left by an interrupted run owns a server.
        return [
            Found("stack", st.id, st.name or "", st.status or "")
            for st in conn.orchestration.stacks()
            if has_tag(tag_list(st.tags), tag)
        ]

    finders = [stacks, servers, floating_ips, volumes, ports, security_groups, keypairs]
    if include_images:
        finders.append(images)
    found = plan_teardown(found for find in finders for found in _if_service(find))
    return Inventory(found, kept)


def find_resources(
    conn: Any, cluster: str, include_images: bool = False, local_key: KeyPair | None = None
) -> Inventory:
    """`find_cluster_resources` with the cloud's errors mapped to a CloudhpError."""
    with cloud_call("listing the cluster's resources"):
        return find_cluster_resources(conn, cluster, include_images, local_key)


def servers_by_image(conn: Any) -> list[ServerImage]:
    """Every server of the project with the image it booted from and its clusters."""
    with cloud_call("listing the project's servers"):
        return [
            ServerImage(
                s.name or s.id,
                getattr(s.image, "id", None) or "",
                tuple(c for c in map(parse_cluster_tag, _server_tags(conn, s)) if c),
            )
            for s in conn.compute.servers(details=True)
        ]


def hand_over_image(conn: Any, image_id: str, cluster: str, to: Iterable[str]) -> None:
    """Gives an image of `cluster` to the clusters `to`: their tags go on before its own
    comes off, so that an interrupted hand-over leaves an image someone still owns (and
    the next teardown finishes it)."""
    images: Any = conn.image  # Glance v2: the only image API with tags
    with cloud_call(f"handing image {image_id} over"):
        for other in to:
            images.add_tag(image_id, cluster_tag(other))
        images.remove_tag(image_id, cluster_tag(cluster))


def project_tag_sets(conn: Any) -> list[list[str]]:
    """The tags of the project's servers, security groups and floating IPs: what shows
    which clusters exist and when they expire (a bastion that lost its files, or a
    cron job on another host, still finds them)."""
    with cloud_call("listing the project's tagged resources"):
        project = conn.current_project_id
        return [
            list(r.tags or [])
            for listing in (
                conn.compute.servers(details=True),
                conn.network.security_groups(project_id=project),
                conn.network.ips(project_id=project),
            )
            for r in listing
        ]


def clusters_in_cloud(conn: Any) -> list[str]:
    """Cluster names that the project's resources carry in their tags."""
    return sorted(cluster_expiries(project_tag_sets(conn)))
