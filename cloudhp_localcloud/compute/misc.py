"""Nova's small resources: flavors, keypairs, limits and os-quota-sets.

Keypairs belong to a *user* (as in Nova), so the store's project_id column holds the
user id for type "keypair". A keypair created without a public key gets a freshly
generated ed25519 key whose private half is returned once and never stored (Nova
generates RSA before 2.92 and nothing after; ed25519 is what cloudhp wants).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Response, g, jsonify, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.compute.common import (
    DEFAULT_QUOTAS,
    LEGACY_NETWORK_QUOTAS,
    V,
    bp,
    find_flavor,
    links,
    mv,
    quota_key,
    quotas,
    usage,
)
from cloudhp_localcloud.compute.common import flavors as all_flavors
from cloudhp_localcloud.store import Record, current_store, utcnow

# --- flavors ---------------------------------------------------------------------------


def flavor_view(f: Record, detail: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {"id": f["id"], "name": f["name"], "links": links("flavors", f["id"])}
    if not detail:
        if mv("2.55"):
            view["description"] = f.get("description")
        return view
    view.update(
        {
            "ram": f["ram"],
            "disk": f["disk"],
            "swap": f.get("swap", 0) if mv("2.75") else (f.get("swap") or ""),
            "OS-FLV-EXT-DATA:ephemeral": f.get("ephemeral", 0),
            "OS-FLV-DISABLED:disabled": False,
            "vcpus": f["vcpus"],
            "os-flavor-access:is_public": f.get("is_public", True),
            "rxtx_factor": f.get("rxtx_factor", 1.0),
        }
    )
    if mv("2.55"):
        view["description"] = f.get("description")
    if mv("2.61"):
        view["extra_specs"] = f.get("extra_specs") or {}
    return view


def _flavors() -> list[Record]:
    flavors = all_flavors(current_store())
    args = request.args
    if "minRam" in args:
        flavors = [f for f in flavors if f["ram"] >= _int_arg("minRam")]
    if "minDisk" in args:
        flavors = [f for f in flavors if f["disk"] >= _int_arg("minDisk")]
    flavors.sort(key=lambda f: (f["ram"], f["id"]) if args.get("sort_key") != "name" else f["name"])
    return flavors


def _int_arg(name: str) -> int:
    try:
        return int(request.args[name])
    except ValueError:
        raise faults.BadRequest(f"Invalid {name} value: {request.args[name]}") from None


@bp.get(f"{V}/flavors")
def list_flavors() -> Response:
    return jsonify({"flavors": [flavor_view(f, detail=False) for f in _flavors()]})


@bp.get(f"{V}/flavors/detail")
def list_flavors_detail() -> Response:
    return jsonify({"flavors": [flavor_view(f) for f in _flavors()]})


@bp.get(f"{V}/flavors/<flavor_id>")
def show_flavor(flavor_id: str) -> Response:
    flavor = find_flavor(current_store(), flavor_id)
    if flavor is None:
        raise faults.NotFound(f"Flavor {flavor_id} could not be found.")
    return jsonify({"flavor": flavor_view(flavor)})


@bp.get(f"{V}/flavors/<flavor_id>/os-extra_specs")
def flavor_extra_specs(flavor_id: str) -> Response:
    flavor = find_flavor(current_store(), flavor_id)
    if flavor is None:
        raise faults.NotFound(f"Flavor {flavor_id} could not be found.")
    return jsonify({"extra_specs": flavor.get("extra_specs") or {}})


# --- keypairs --------------------------------------------------------------------------


def fingerprint(public_key: str) -> str:
    """Nova's fingerprint: MD5 of the key blob, colon-separated hex."""
    try:
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (IndexError, ValueError):
        raise faults.BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _keypair_owner() -> str:
    user_id = request.args.get("user_id")
    if user_id and user_id != g.user_id:
        if not g.is_admin:
            raise faults.Forbidden(
                "Policy doesn't allow os_compute_api:os-keypairs to be performed."
            )
        return user_id
    return g.user_id


def keypair_view(k: Record, full: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": k["name"],
        "public_key": k["public_key"],
        "fingerprint": k["fingerprint"],
    }
    if mv("2.2"):
        view["type"] = k.get("type", "ssh")
    if full:
        view.update(
            user_id=k["project_id"],
            created_at=k["created_at"].rstrip("Z"),
            deleted=False,
            deleted_at=None,
            updated_at=None,
            id=k["seq"],
        )
    return view


def _find_keypair(owner: str, name: str) -> Record:
    found = current_store().list("keypair", owner, name=name)
    if not found:
        raise faults.NotFound(f"Keypair {name} not found for user {owner}")
    return found[0]


@bp.get(f"{V}/os-keypairs")
def list_keypairs() -> Response:
    owner = _keypair_owner()
    keys = current_store().list("keypair", owner)
    return jsonify({"keypairs": [{"keypair": keypair_view(k)} for k in keys]})


@bp.post(f"{V}/os-keypairs")
def create_keypair() -> tuple[Response, int]:
    body = faults.json_body("keypair")["keypair"]
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise faults.BadRequest("Invalid input for field/attribute name.")
    key_type = body.get("type", "ssh")
    owner = body.get("user_id") if mv("2.10") and body.get("user_id") else g.user_id
    if owner != g.user_id and not g.is_admin:
        raise faults.Forbidden(
            "Policy doesn't allow os_compute_api:os-keypairs:create to be performed."
        )
    store = current_store()
    private_key = None
    public_key = body.get("public_key")
    if public_key is None:
        key = Ed25519PrivateKey.generate()
        private_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode()
        public_key = (
            key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
            + " Generated-by-Nova"
        )
    public_key = str(public_key).strip()
    doc = {"public_key": public_key, "fingerprint": fingerprint(public_key), "type": key_type}
    with store.transaction():
        if store.list("keypair", owner, name=name):
            raise faults.Conflict(f"Key pair '{name}' already exists.")
        mine = store.list("keypair", owner)
        limit = _quota_of_user(owner)
        if limit >= 0 and len(mine) >= limit:
            raise faults.OverLimit("Quota exceeded, too many key pairs.", code=403)
        doc["seq"] = store.counts().get("keypair", 0) + 1
        record = store.insert("keypair", doc, project_id=owner, name=name)
    view = keypair_view(record)
    view["user_id"] = owner
    if private_key is not None:
        view["private_key"] = private_key
    # Nova answers 200 before 2.2 and 201 from it.
    return jsonify({"keypair": view}), 201 if mv("2.2") else 200


def _quota_of_user(user_id: str) -> int:
    project = g.project_id if user_id == g.user_id else None
    return quotas(current_store(), project)["key_pairs"] if project else DEFAULT_QUOTAS["key_pairs"]


@bp.get(f"{V}/os-keypairs/<name>")
def show_keypair(name: str) -> Response:
    return jsonify({"keypair": keypair_view(_find_keypair(_keypair_owner(), name), full=True)})


@bp.delete(f"{V}/os-keypairs/<name>")
def delete_keypair(name: str) -> tuple[str, int]:
    record = _find_keypair(_keypair_owner(), name)
    current_store().delete("keypair", record["id"])
    return "", 202 if not mv("2.2") else 204


# --- limits and quotas -----------------------------------------------------------------


@bp.get(f"{V}/limits")
def limits() -> Response:
    store = current_store()
    project_id = request.args.get("tenant_id") if g.is_admin else None
    project_id = project_id or g.project_id
    limit = quotas(store, project_id)
    used = usage(store, project_id)
    absolute: dict[str, Any] = {
        "maxServerMeta": limit["metadata_items"],
        "maxTotalInstances": limit["instances"],
        "maxPersonality": limit["injected_files"],
        "maxPersonalitySize": limit["injected_file_content_bytes"],
        "maxTotalCores": limit["cores"],
        "maxTotalKeypairs": limit["key_pairs"],
        "maxTotalRAMSize": limit["ram"],
        "maxServerGroups": limit["server_groups"],
        "maxServerGroupMembers": limit["server_group_members"],
        "totalCoresUsed": used["cores"],
        "totalInstancesUsed": used["instances"],
        "totalRAMUsed": used["ram"],
        "totalServerGroupsUsed": 0,
    }
    if not mv("2.36"):
        absolute.update(
            maxImageMeta=limit["metadata_items"],
            maxSecurityGroupRules=-1,
            maxSecurityGroups=-1,
            maxTotalFloatingIps=-1,
            totalFloatingIpsUsed=0,
            totalSecurityGroupsUsed=0,
        )
    if mv("2.57"):
        for key in ("maxPersonality", "maxPersonalitySize"):
            absolute.pop(key)
    return jsonify({"limits": {"rate": [], "absolute": absolute}})


def _quota_keys() -> list[str]:
    keys = list(DEFAULT_QUOTAS)
    if mv("2.57"):
        keys = [k for k in keys if not k.startswith("injected_")]
    if not mv("2.36"):
        keys += list(LEGACY_NETWORK_QUOTAS)
    return keys


def _quota_set(project_id: str, detail: bool = False, defaults: bool = False) -> dict:
    store = current_store()
    limit = dict(DEFAULT_QUOTAS) if defaults else quotas(store, project_id)
    used = usage(store, project_id)
    used["key_pairs"] = len(store.list("keypair", g.user_id))
    out: dict[str, Any] = {"id": project_id}
    for key in _quota_keys():
        value = limit.get(key, -1)
        out[key] = {"limit": value, "in_use": used.get(key, 0), "reserved": 0} if detail else value
    return out


def _check_project_access(project_id: str) -> None:
    if project_id != g.project_id and not g.is_admin:
        raise faults.Forbidden(
            "Policy doesn't allow os_compute_api:os-quota-sets:show to be performed."
        )


@bp.get(f"{V}/os-quota-sets/<project_id>")
def show_quotas(project_id: str) -> Response:
    _check_project_access(project_id)
    return jsonify({"quota_set": _quota_set(project_id)})


@bp.get(f"{V}/os-quota-sets/<project_id>/detail")
def show_quotas_detail(project_id: str) -> Response:
    _check_project_access(project_id)
    return jsonify({"quota_set": _quota_set(project_id, detail=True)})


@bp.get(f"{V}/os-quota-sets/<project_id>/defaults")
def show_quota_defaults(project_id: str) -> Response:
    return jsonify({"quota_set": _quota_set(project_id, defaults=True)})


@bp.put(f"{V}/os-quota-sets/<project_id>")
def update_quotas(project_id: str) -> Response:
    if not g.is_admin:
        raise faults.Forbidden(
            "Policy doesn't allow os_compute_api:os-quota-sets:update to be performed."
        )
    body = faults.json_body("quota_set")["quota_set"]
    changes: dict[str, int] = {}
    for key, value in body.items():
        if key in ("force", "id"):
            continue
        if key not in DEFAULT_QUOTAS:
            if key in LEGACY_NETWORK_QUOTAS:
                continue  # network quotas live in Neutron
            raise faults.BadRequest(
                f"Invalid input for field/attribute quota_set. Additional properties are "
                f"not allowed ('{key}' was unexpected)"
            )
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise faults.BadRequest(f"Invalid input for field/attribute {key}.") from None
        if number < -1:
            raise faults.BadRequest(f"Invalid input for field/attribute {key}.")
        changes[key] = number
    store = current_store()
    with store.transaction():
        if store.get("compute_quota", quota_key(project_id)) is None:
            store.insert(
                "compute_quota",
                {**changes, "updated_at": utcnow()},
                id=quota_key(project_id),
                project_id=project_id,
            )
        else:
            store.update("compute_quota", quota_key(project_id), changes)
    view = _quota_set(project_id)
    view.pop("id")
    return jsonify({"quota_set": view})


@bp.delete(f"{V}/os-quota-sets/<project_id>")
def reset_quotas(project_id: str) -> tuple[str, int]:
    if not g.is_admin:
        raise faults.Forbidden(
            "Policy doesn't allow os_compute_api:os-quota-sets:delete to be performed."
        )
    current_store().delete("compute_quota", quota_key(project_id))
    return "", 202
