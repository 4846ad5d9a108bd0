"""Nova's POST /servers: everything a client can get wrong, checked before the boot.

Create validates synchronously (flavor, image, keypair, user data, metadata, tags,
networks, quota) so the 400/403 comes back on the POST as Nova's does, then inserts
the record in BUILD, has the network service allocate its ports
(`prepare_server_ports` raises the right fault for a bad `networks` entry) and
hands the boot to lifecycle.py's worker pool.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from flask import Response, g, jsonify

from cloudhp_localcloud import faults
from cloudhp_localcloud.compute import lifecycle
from cloudhp_localcloud.compute.common import (
    V,
    bp,
    check_metadata_quota,
    check_server_quota,
    find_flavor,
    links,
    mv,
    valid_metadata,
    validate_tags,
)
from cloudhp_localcloud.network.servers import prepare_server_ports
from cloudhp_localcloud.store import Record, Store, current_store, new_id, utcnow

MAX_USER_DATA = 65535


def sanitize_hostname(name: str, fallback: str) -> str:
    """Nova's hostname rule: lower-case, [a-z0-9.-] only, at most 63 characters."""
    host = re.sub(r"[ _]", "-", name.lower())
    host = re.sub(r"[^\w.-]+", "", host, flags=re.ASCII).replace("_", "")
    host = host[:63].strip(".-")
    return host or f"server-{fallback}"


def _decode_user_data(value: Any) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, str) or len(value) > MAX_USER_DATA:
        raise faults.BadRequest("Invalid input for field/attribute user_data.")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise faults.BadRequest("User data needs to be valid base 64.") from None
    try:
        return value, raw.decode()
    except UnicodeDecodeError:  # the node's NoCloud seed is text
        raise faults.BadRequest("User data must be UTF-8 text on localcloud.") from None


def _validate_metadata(store: Store, metadata: Any, project_id: str) -> dict[str, str]:
    if metadata is None:
        return {}
    metadata = valid_metadata(metadata, "metadata")
    check_metadata_quota(store, project_id, metadata)
    return metadata


def _image_for_boot(store: Store, image_ref: Any) -> Record:
    ref = str(image_ref or "").rstrip("/").rsplit("/", 1)[-1]
    image = store.get("image", ref) if ref else None
    visible = image is not None and (
        image.get("visibility") in ("public", "community")
        or image["project_id"] == g.project_id
        or g.is_admin
    )
    if image is None or not visible:
        raise faults.BadRequest("Can not find requested image")
    if image.get("status") != "active":
        raise faults.BadRequest(f"Image {ref} is not active.")
    return image


@bp.post(f"{V}/servers")
def create_server() -> tuple[Response, int, dict[str, str]]:
    body = faults.json_body("server")["server"]
    store = current_store()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise faults.BadRequest("Invalid input for field/attribute name.")
    flavor = find_flavor(store, body.get("flavorRef"))
    if flavor is None:
        raise faults.BadRequest("Invalid flavorRef provided.")
    if not body.get("imageRef"):
        raise faults.BadRequest(
            "Block Device Mapping is Invalid: Boot sequence for the "
            "instance and image/block device mapping combination is "
            "not valid."
        )
    image = _image_for_boot(store, body.get("imageRef"))
    if int(image.get("min_ram") or 0) > flavor["ram"]:
        raise faults.BadRequest("Flavor's memory is too small for requested image.")
    if int(image.get("min_disk") or 0) > flavor["disk"]:
        raise faults.BadRequest("Flavor's disk is too small for requested image.")
    public_key = None
    if body.get("key_name"):
        found = store.list("keypair", g.user_id, name=body["key_name"])
        if not found:
            raise faults.BadRequest("Invalid key_name provided.")
        public_key = found[0]["public_key"]
    user_data_b64, user_data = _decode_user_data(body.get("user_data"))
    metadata = _validate_metadata(store, body.get("metadata"), g.project_id)
    tags: list[str] = []
    if "tags" in body:
        if not mv("2.52"):
            raise faults.BadRequest("Additional properties are not allowed ('tags' was unexpected)")
        tags = validate_tags(body["tags"])
    groups = body.get("security_groups") or [{"name": "default"}]
    if not isinstance(groups, list) or not all(
        isinstance(s, dict) and s.get("name") for s in groups
    ):
        raise faults.BadRequest("Invalid input for field/attribute security_groups.")
    networks = body.get("networks", "auto")
    if networks not in ("auto", "none") and not isinstance(networks, list):
        raise faults.BadRequest("Invalid input for field/attribute networks.")

    flavor_copy = {k: flavor[k] for k in ("id", "name", "vcpus", "ram", "disk")}
    flavor_copy.update(
        ephemeral=flavor.get("ephemeral", 0),
        swap=flavor.get("swap", 0),
        extra_specs=flavor.get("extra_specs") or {},
    )
    server_id = new_id()
    doc = {
        "user_id": g.user_id,
        "image_id": image["id"],
        "flavor": flavor_copy,
        "key_name": body.get("key_name"),
        "public_key": public_key,
        "user_data": user_data_b64,
        "user_data_text": user_data,
        "metadata": metadata,
        "tags": tags,
        "security_groups": list(dict.fromkeys(s["name"] for s in groups)),
        "networks_requested": networks,
        "ports": [],
        "status": "BUILD",
        "vm_state": "building",
        "task_state": "scheduling",
        "power_state": 0,
        "hostname": sanitize_hostname(name, server_id),
        "description": body.get("description") if mv("2.19") else None,
        "access_ipv4": body.get("accessIPv4", ""),
        "access_ipv6": body.get("accessIPv6", ""),
        "reservation_id": "r-" + server_id[:8],
        "volume_attachments": [],
        "updated": utcnow(),
    }
    with store.transaction():
        check_server_quota(store, g.project_id, flavor)
        store.insert("server", doc, id=server_id, project_id=g.project_id, name=name)
    try:
        ports = (
            []
            if networks == "none"
            else prepare_server_ports(
                store, g.project_id, server_id, networks, security_groups=doc["security_groups"]
            )
        )
    except BaseException:
        store.delete("server", server_id)
        raise
    store.update(
        "server",
        server_id,
        {
            "ports": [
                {
                    "docker_network": p.docker_network,
                    "ip": p.ip,
                    "port_id": p.port_id,
                    "mac": getattr(p, "mac", None),
                }
                for p in ports
            ],
            "task_state": "spawning",
        },
    )
    lifecycle.submit_boot(store, server_id)
    self_link = links("servers", server_id)
    reply = {
        "id": server_id,
        "links": self_link,
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": n} for n in doc["security_groups"]],
    }
    return jsonify({"server": reply}), 202, {"Location": self_link[0]["href"]}
