"""What the compute (Nova v2.1) route modules share: the blueprint, flavors, quotas.

api.py declares the Service and imports the route modules (misc, create, servers,
meta, actions), which all add their views to `bp` defined here; keeping the
blueprint and helpers here avoids import cycles between them.

Store types: "flavor" (seeded, public), "keypair" (project_id column = the owning
*user* id, as Nova scopes keypairs per user), "server", "compute_quota". Store ids are
one namespace for every service, so flavors are kept as "flavor-<id>" and quotas as
"compute-quota-<project>"; `flavors()` and `find_flavor()` give records with the API id.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.catalog import microversion_at_least
from cloudhp_localcloud.store import Record, Store

bp = Blueprint("compute", __name__)
V = "/v2.1"

MIN_VERSION = "2.1"
MAX_VERSION = "2.79"

# DevStack's flavor ids and disks; vCPUs and RAM become container limits.
FLAVORS: list[dict[str, Any]] = [
    {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1},
    {"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20},
    {"id": "3", "name": "m1.medium", "vcpus": 2, "ram": 4096, "disk": 40},
    {"id": "4", "name": "m1.large", "vcpus": 4, "ram": 8192, "disk": 80},
]

DEFAULT_QUOTAS: dict[str, int] = {
    "instances": 10,
    "cores": 20,
    "ram": 51200,
    "key_pairs": 100,
    "metadata_items": 128,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "server_groups": 10,
    "server_group_members": 10,
}
# Shown before 2.36 (proxied network quotas), always unlimited here.
LEGACY_NETWORK_QUOTAS = ("fixed_ips", "floating_ips", "security_group_rules", "security_groups")


def mv(version: str) -> bool:
    """Does this request's microversion reach `version`?"""
    return microversion_at_least(g.get("microversion", MIN_VERSION), version)


def base_url() -> str:
    return request.host_url.rstrip("/") + "/compute/v2.1"


def links(kind: str, rid: str) -> list[dict[str, str]]:
    """Nova's self/bookmark links (without the legacy project id in the path)."""
    root = request.host_url.rstrip("/") + "/compute"
    return [
        {"rel": "self", "href": f"{root}/v2.1/{kind}/{rid}"},
        {"rel": "bookmark", "href": f"{root}/{kind}/{rid}"},
    ]


def seed_flavors(store: Store) -> None:
    with store.transaction():
        for flavor in FLAVORS:
            if store.get("flavor", f"flavor-{flavor['id']}") is None:
                doc = {k: v for k, v in flavor.items() if k not in ("id", "name")}
                doc.update(ephemeral=0, swap=0, rxtx_factor=1.0, is_public=True, extra_specs={})
                doc["flavor_id"] = flavor["id"]
                store.insert("flavor", doc, id=f"flavor-{flavor['id']}", name=flavor["name"])


def _api_flavor(record: Record) -> Record:
    return {**record, "id": record["flavor_id"]}


def flavors(store: Store) -> list[Record]:
    return [_api_flavor(f) for f in store.list("flavor")]


def find_flavor(store: Store, flavor_ref: Any) -> Record | None:
    """A flavor by id (or URL ending in the id), with its API id in "id"."""
    ref = str(flavor_ref).rstrip("/").rsplit("/", 1)[-1]
    record = store.get("flavor", f"flavor-{ref}")
    return _api_flavor(record) if record else None


def quota_key(project_id: str) -> str:
    return f"compute-quota-{project_id}"


# --- quotas ---------------------------------------------------------------------------


def quotas(store: Store, project_id: str) -> dict[str, int]:
    record = store.get("compute_quota", quota_key(project_id)) or {}
    return {key: int(record.get(key, default)) for key, default in DEFAULT_QUOTAS.items()}


def usage(store: Store, project_id: str) -> dict[str, int]:
    servers = store.list("server", project_id)
    return {
        "instances": len(servers),
        "cores": sum(int(s["flavor"]["vcpus"]) for s in servers),
        "ram": sum(int(s["flavor"]["ram"]) for s in servers),
    }


def check_server_quota(store: Store, project_id: str, flavor: Record, count: int = 1) -> None:
    """Nova's over-quota answer for a server create: 403 naming every exceeded resource.

    Call inside `store.transaction()` together with the insert, so two parallel
    creates cannot both take the last slot.
    """
    limits = quotas(store, project_id)
    used = usage(store, project_id)
    wanted = {"instances": count, "cores": count * flavor["vcpus"], "ram": count * flavor["ram"]}
    overs = [r for r in ("instances", "cores", "ram") if 0 <= limits[r] < used[r] + wanted[r]]
    if overs:
        names = ", ".join(overs)
        req = ", ".join(str(wanted[r]) for r in overs)
        have = ", ".join(str(used[r]) for r in overs)
        allowed = ", ".join(str(limits[r]) for r in overs)
        raise faults.OverLimit(
            f"Quota exceeded for {names}: Requested {req}, but already used {have} of "
            f"{allowed} {names}",
            code=403,
        )


def get_server(store: Store, server_id: str) -> Record:
    """The caller's server (admins see all projects'), or Nova's 404."""
    record = store.get("server", server_id)
    if record is None or (record["project_id"] != g.project_id and not g.get("is_admin")):
        raise faults.NotFound(f"Instance {server_id} could not be found.")
    return record


# --- metadata and tags -----------------------------------------------------------------


def valid_metadata(value: Any, field: str) -> dict[str, str]:
    """Nova's check of a metadata map: string keys of 1-255 and values of at most 255."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255 and len(v) <= 255
        for k, v in value.items()
    ):
        raise faults.BadRequest(f"Invalid input for field/attribute {field}.")
    return value


def check_metadata_quota(store: Store, project_id: str, metadata: dict[str, str]) -> None:
    """Nova's 403 when a server would hold more items than metadata_items allows."""
    limit = quotas(store, project_id)["metadata_items"]
    if 0 <= limit < len(metadata):
        raise faults.OverLimit(
            "Quota exceeded for metadata_items: Requested "
            f"{len(metadata)}, but already used 0 of {limit} metadata_items",
            code=403,
        )


def validate_tags(tags: Any) -> list[str]:
    if (
        not isinstance(tags, list)
        or len(tags) > 50
        or not all(
            isinstance(t, str) and 0 < len(t) <= 60 and "/" not in t and "," not in t for t in tags
        )
    ):
        raise faults.BadRequest("Invalid input for field/attribute tags.")
    return list(dict.fromkeys(tags))
