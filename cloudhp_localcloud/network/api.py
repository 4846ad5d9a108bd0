"""Neutron (Network API v2.0) on Docker: the service, its discovery documents, tags.

Mounted at /networking (as DevStack does). The resources live in sibling modules,
all on the one blueprint of common.py:

    networks.py     networks, subnets (Docker bridges "lc-net-<id>")
    ports.py        ports (a server's interface on a bridge)
    security.py     security groups and rules
    firewall.py     a port's groups as iptables rules (pure)
    enforce.py      those rules loaded into each server's container, re-applied on
                    every change that reaches it
    floatingips.py  floating IPs (real: "lc-public" at that address)
    routers.py      routers (bookkeeping)
    quotas.py       quotas (Neutron defaults, floatingip 10), 409 OverQuota
    addresses.py    IP allocation, ports shared with the API, the external network
    bridges.py      Docker bridges, plugging containers in, the reset
    servers.py      the compute contract below

What compute calls (servers.py):

    prepare_server_ports(store, project_id, server_id, requested) -> [PortBinding]
    release_server_ports(store, server_id)
    server_addresses(store, server_id) -> Nova "addresses"
    enforce_security_groups(store, server_id)    after each start of its container
    refresh_security_groups(store, server_ids)   in the background

What the daemon calls: `bridges.ensure_public_network(client) -> "172.24.4.1"`
creates the Docker network "lc-public" (label cloudhp.localcloud=network), whose
gateway the host holds, so a listener bound there is reachable from every server.
The Neutron records of the external network `public` are made on first use
(`addresses.ensure_public`). The reset removes this instance's Docker networks.

Where localcloud's Neutron differs from OpenStack (for the README): security groups
are enforced inside each server's own network namespace (root in the server can
change them), IPv4 only; one IPv4 subnet per network and no IPv6; subnets of different
networks may not overlap (409), since all are bridges of one Docker engine; a
floating IP appears inside the server as a second interface (no NAT), and a server
holds at most one; routers route nothing (Docker bridges are isolated from each
other; the host reaches every bridge); MAC addresses are Neutron's bookkeeping and
may differ from the container's interface.
"""

from __future__ import annotations

from flask import Response, jsonify

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.catalog import Service, version_entry, versions_response
from cloudhp_localcloud.network import floatingips, networks, ports, quotas, routers, security
from cloudhp_localcloud.network.bridges import remove_docker_networks
from cloudhp_localcloud.network.common import (
    TAGGABLE,
    bp,
    empty,
    get_visible,
    owned,
    store,
)

# The route modules register on `bp` when imported; keep them referenced.
_ROUTES = (networks, ports, security, floatingips, routers, quotas)

SERVICE = Service(
    name="neutron",
    types=("network",),
    prefix="/networking",
    endpoint="/networking",
    blueprint=bp,
    fault_style=faults.NEUTRON,
    reset=remove_docker_networks,
)

EXTENSIONS = [
    ("router", "Neutron L3 Router", "Router abstraction for layer 3 forwarding"),
    ("external-net", "Neutron external network", "Adds external network attribute"),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "enable_snat"),
    ("security-group", "security-group", "The security groups extension."),
    ("quotas", "Quota management support", "Expose functions for quotas management"),
    ("quota_details", "Quota details management support", "Quota usage details"),
    ("standard-attr-tag", "Tag support for resources with standard attribute", "Tags"),
    ("standard-attr-description", "standard-attr-description", "Description fields"),
    ("standard-attr-timestamp", "Resource timestamps", "created_at and updated_at"),
    ("standard-attr-revisions", "Resource revision numbers", "revision_number"),
    ("project-id", "project_id field enabled", "project_id alongside tenant_id"),
    ("port-security", "Port Security", "Provides port security"),
    ("allowed-address-pairs", "Allowed Address Pairs", "Allowed address pairs on ports"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port"),
    ("network_availability_zone", "Network Availability Zone", "availability_zones"),
    ("fip-port-details", "Floating IP Port Details Extension", "port_details"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("pagination", "Pagination support", "limit and marker"),
    ("filter-validation", "Filter parameters validation", "Unknown filters are ignored"),
]


@bp.get("")
@bp.get("/")
@auth.public
def versions() -> Response:
    return versions_response([version_entry("v2.0", "/networking/v2.0/")], status=200)


@bp.get("/v2.0")
@bp.get("/v2.0/")
@auth.public
def version_root() -> Response:
    resources = [
        {
            "name": member,
            "collection": collection,
            "links": [{"rel": "self", "href": f"/networking/v2.0/{collection}"}],
        }
        for collection, (_, member, _) in TAGGABLE.items()
    ]
    return jsonify({"resources": resources})


@bp.get("/v2.0/extensions")
def list_extensions() -> Response:
    return jsonify({"extensions": [_extension(*e) for e in EXTENSIONS]})


@bp.get("/v2.0/extensions/<alias>")
def show_extension(alias: str) -> Response:
    for ext in EXTENSIONS:
        if ext[0] == alias:
            return jsonify({"extension": _extension(*ext)})
    raise faults.NotFound(f"Extension with alias {alias} does not exist")


def _extension(alias: str, name: str, description: str) -> dict[str, object]:
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "updated": "2024-01-01T00:00:00-00:00",
        "links": [],
    }


# --- tags: /v2.0/<collection>/<id>/tags ----------------------------------------------

_COLLECTIONS = ",".join(f'"{c}"' for c in TAGGABLE)
_TAGS = f"/v2.0/<any({_COLLECTIONS}):collection>/<rid>/tags"


def _tag_target(collection: str, rid: str, write: bool) -> tuple[str, dict]:
    type_, _, kind = TAGGABLE[collection]
    visible = networks.network_visible if type_ == "network" else None
    record = get_visible(store(), type_, rid, kind, visible)
    if write:
        owned(record, type_, kind)
    return type_, record


def _validate_tag(tag: str) -> str:
    if not tag or len(tag) > 255 or "," in tag or "/" in tag:
        raise faults.BadRequest(
            f"Invalid input for tags. Reason: '{tag}' is not a valid tag.", kind="HTTPBadRequest"
        )
    return tag


@bp.get(_TAGS)
def list_tags(collection: str, rid: str) -> Response:
    _, record = _tag_target(collection, rid, write=False)
    return jsonify({"tags": record.get("tags", [])})


@bp.put(_TAGS)
def replace_tags(collection: str, rid: str) -> Response:
    type_, _record = _tag_target(collection, rid, write=True)
    tags = faults.json_body().get("tags")
    if not isinstance(tags, list):
        raise faults.BadRequest(
            "Invalid input for tags. Reason: tags must be a list.", kind="HTTPBadRequest"
        )
    unique = list(dict.fromkeys(_validate_tag(str(t)) for t in tags))
    store().update(type_, rid, {"tags": unique})
    return jsonify({"tags": unique})


@bp.delete(_TAGS)
def delete_tags(collection: str, rid: str) -> Response:
    type_, _ = _tag_target(collection, rid, write=True)
    store().update(type_, rid, {"tags": []})
    return empty()


@bp.get(_TAGS + "/<tag>")
def check_tag(collection: str, rid: str, tag: str) -> Response:
    _, record = _tag_target(collection, rid, write=False)
    if tag not in record.get("tags", []):
        raise faults.NotFound(f"Tag {tag} could not be found for {rid}.", kind="TagNotFound")
    return empty()


@bp.put(_TAGS + "/<tag>")
def add_tag(collection: str, rid: str, tag: str) -> Response:
    type_, record = _tag_target(collection, rid, write=True)
    tags = list(record.get("tags", []))
    if _validate_tag(tag) not in tags:
        tags.append(tag)
        store().update(type_, rid, {"tags": tags})
    return empty(201)


@bp.delete(_TAGS + "/<tag>")
def remove_tag(collection: str, rid: str, tag: str) -> Response:
    type_, record = _tag_target(collection, rid, write=True)
    tags = list(record.get("tags", []))
    if tag not in tags:
        raise faults.NotFound(f"Tag {tag} could not be found for {rid}.", kind="TagNotFound")
    tags.remove(tag)
    store().update(type_, rid, {"tags": tags})
    return empty()
