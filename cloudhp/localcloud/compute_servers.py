"""Nova servers: create, list (with Nova's filters), show, update, delete, metadata, tags.

Create validates everything a client can get wrong synchronously (flavor, image,
keypair, networks, quota) so the 400/403 comes back on the POST as Nova's does, then
inserts the record in BUILD and hands the boot to servers_backend's worker pool.

Networking is the network service's (network.py): `prepare_server_ports` allocates
the ports (and raises the right fault for a bad `networks` entry),
`server_addresses` renders `addresses`, `release_server_ports` frees them on delete.
Volumes are volumes.py's: attachments recorded on the server are detached on delete.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import platform
import re
from hashlib import sha224
from typing import Any

from flask import Flask, Response, g, jsonify, request

from cloudhp.localcloud import faults, servers_backend
from cloudhp.localcloud.compute_common import (
    base_url,
    bp,
    check_server_quota,
    find_flavor,
    get_server,
    links,
    mv,
    quotas,
    seed_flavors,
)
from cloudhp.localcloud.store import Record, Store, current_store, new_id, utcnow

V = "/v2.1"
HOST = platform.node() or "localcloud"
MAX_USER_DATA = 65535


def _network_module() -> Any:
    from cloudhp.localcloud import network

    return network


def _volumes_module() -> Any:
    from cloudhp.localcloud import volumes

    return volumes


# --- startup -------------------------------------------------------------------------


def on_startup(app: Flask) -> None:
    """Seed flavors; reconcile records with the engine after a restart (in background)."""
    store: Store = app.extensions["cloudhp.localcloud.store"]
    seed_flavors(store)
    if not store.list("server") and not store.list("image", status="saving"):
        return
    servers_backend.submit(servers_backend.reconcile, store)
    for record in store.list("server", task_state="deleting"):
        servers_backend.submit(servers_backend.delete, store, record["id"], _cleanup(store))


# --- views ---------------------------------------------------------------------------


def _addresses(store: Store, server_id: str) -> dict[str, Any]:
    try:
        return _network_module().server_addresses(store, server_id)
    except ImportError:
        return {}


def server_view(store: Store, s: Record) -> dict[str, Any]:
    """A server as GET /servers/<id> renders it at this request's microversion."""
    flavor = s["flavor"]
    if mv("2.47"):
        flavor_view: dict[str, Any] = {
            "vcpus": flavor["vcpus"],
            "ram": flavor["ram"],
            "disk": flavor["disk"],
            "ephemeral": flavor.get("ephemeral", 0),
            "swap": flavor.get("swap", 0),
            "original_name": flavor["name"],
            "extra_specs": flavor.get("extra_specs") or {},
        }
    else:
        flavor_view = {"id": flavor["id"], "links": links("flavors", flavor["id"])[1:]}
    view: dict[str, Any] = {
        "id": s["id"],
        "name": s["name"],
        "status": s["status"],
        "tenant_id": s["project_id"],
        "user_id": s["user_id"],
        "metadata": s.get("metadata") or {},
        "hostId": sha224((s["project_id"] + HOST).encode()).hexdigest(),
        "image": {"id": s["image_id"], "links": links("images", s["image_id"])[1:]},
        "flavor": flavor_view,
        "created": s["created_at"],
        "updated": s.get("updated") or s["created_at"],
        "addresses": _addresses(store, s["id"]),
        "accessIPv4": s.get("access_ipv4", ""),
        "accessIPv6": s.get("access_ipv6", ""),
        "links": links("servers", s["id"]),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 100 if s["status"] == "ACTIVE" else 0,
        "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": "True",
        "key_name": s.get("key_name"),
        "OS-SRV-USG:launched_at": _micro(s.get("launched_at")),
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-STS:task_state": s.get("task_state"),
        "OS-EXT-STS:vm_state": s["vm_state"],
        "OS-EXT-STS:power_state": s.get("power_state", 0),
        "os-extended-volumes:volumes_attached": [
            {"id": a["volume_id"], "delete_on_termination": False}
            if mv("2.3")
            else {"id": a["volume_id"]}
            for a in s.get("volume_attachments") or []
        ],
        "security_groups": [{"name": n} for n in s.get("security_groups") or []],
    }
    if g.get("is_admin"):
        view.update(
            {
                "OS-EXT-SRV-ATTR:host": HOST,
                "OS-EXT-SRV-ATTR:hypervisor_hostname": HOST,
                "OS-EXT-SRV-ATTR:instance_name": servers_backend.container_name(s["id"]),
            }
        )
        if mv("2.3"):
            view.update(
                {
                    "OS-EXT-SRV-ATTR:reservation_id": s.get("reservation_id"),
                    "OS-EXT-SRV-ATTR:launch_index": 0,
                    "OS-EXT-SRV-ATTR:hostname": s["hostname"],
                    "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                    "OS-EXT-SRV-ATTR:user_data": s.get("user_data"),
                }
            )
        if mv("2.16"):
            view["host_status"] = "UP"
    if mv("2.9"):
        view["locked"] = False
    if mv("2.73"):
        view["locked_reason"] = None
    if mv("2.19"):
        view["description"] = s.get("description")
    if mv("2.26"):
        view["tags"] = list(s.get("tags") or [])
    if mv("2.63"):
        view["trusted_image_certificates"] = None
    if s.get("fault") and s["status"] in ("ERROR", "DELETED"):
        view["fault"] = dict(s["fault"])
    return view


def _micro(stamp: str | None) -> str | None:
    """Nova's launched_at has microseconds and no zone."""
    return stamp.rstrip("Z") + ".000000" if stamp else None


def sanitize_hostname(name: str, fallback: str) -> str:
    """Nova's hostname rule: lower-case, [a-z0-9.-] only, at most 63 characters."""
    host = re.sub(r"[ _]", "-", name.lower())
    host = re.sub(r"[^\w.-]+", "", host, flags=re.ASCII).replace("_", "")
    host = host[:63].strip(".-")
    return host or f"server-{fallback}"


# --- create ----------------------------------------------------------------------------


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
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255 and len(v) <= 255
        for k, v in metadata.items()
    ):
        raise faults.BadRequest("Invalid input for field/attribute metadata.")
    limit = quotas(store, project_id)["metadata_items"]
    if 0 <= limit < len(metadata):
        raise faults.OverLimit(
            "Quota exceeded for metadata_items: Requested "
            f"{len(metadata)}, but already used 0 of {limit} metadata_items",
            code=403,
        )
    return dict(metadata)


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
            else _network_module().prepare_server_ports(
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
    servers_backend.submit(servers_backend.boot, store, server_id)
    self_link = links("servers", server_id)
    reply = {
        "id": server_id,
        "links": self_link,
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": n} for n in doc["security_groups"]],
    }
    return jsonify({"server": reply}), 202, {"Location": self_link[0]["href"]}


# --- list / show / update / delete ------------------------------------------------------


def _matches(s: Record, args: Any) -> bool:
    if "name" in args:
        try:
            if not re.search(args["name"], s["name"] or ""):
                return False
        except re.error:
            raise faults.BadRequest(f"Invalid regular expression: {args['name']}") from None
    if "status" in args and s["status"] != args["status"].upper():
        return False
    tags = set(s.get("tags") or [])
    if "tags" in args and not set(args["tags"].split(",")) <= tags:
        return False
    if "tags-any" in args and not set(args["tags-any"].split(",")) & tags:
        return False
    if "not-tags" in args and set(args["not-tags"].split(",")) <= tags:
        return False
    if "not-tags-any" in args and set(args["not-tags-any"].split(",")) & tags:
        return False
    if "image" in args and args["image"].rsplit("/", 1)[-1] != s["image_id"]:
        return False
    if "flavor" in args and args["flavor"].rsplit("/", 1)[-1] != s["flavor"]["id"]:
        return False
    if "key_name" in args and args["key_name"] != s.get("key_name"):
        return False
    if "changes-since" in args and (s.get("updated") or "") < args["changes-since"]:
        return False
    if "ip" in args:
        ips = [p["ip"] for p in s.get("ports") or []]
        if not any(re.search(args["ip"], ip) for ip in ips):
            return False
    return True


def _visible_servers(store: Store) -> list[Record]:
    args = request.args
    all_tenants = args.get("all_tenants", "").lower() not in ("", "0", "false", "off")
    project = args.get("project_id") or args.get("tenant_id")
    if g.get("is_admin") and all_tenants:
        servers = store.list("server", project) if project else store.list("server")
    else:
        servers = store.list("server", g.project_id)
    servers = [s for s in servers if _matches(s, args)]
    servers.sort(key=lambda s: (s["created_at"], s["id"]), reverse=True)  # Nova: newest first
    marker = args.get("marker")
    if marker:
        ids = [s["id"] for s in servers]
        if marker not in ids:
            raise faults.BadRequest(f"marker [{marker}] not found")
        servers = servers[ids.index(marker) + 1 :]
    return servers


def _page(servers: list[Record]) -> tuple[list[Record], list[dict[str, str]]]:
    limit = request.args.get("limit")
    if limit is None:
        return servers, []
    try:
        n = int(limit)
    except ValueError:
        raise faults.BadRequest("limit param must be an integer") from None
    if n < 0:
        raise faults.BadRequest("limit param must be positive")
    page = servers[:n]
    if len(servers) <= n or not page:
        return page, []
    args = {k: v for k, v in request.args.items() if k != "marker"}
    args["marker"] = page[-1]["id"]
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return page, [
        {"rel": "next", "href": f"{base_url()}{request.path.split('/v2.1', 1)[1]}?{query}"}
    ]


@bp.get(f"{V}/servers")
def list_servers() -> Response:
    page, next_links = _page(_visible_servers(current_store()))
    body: dict[str, Any] = {
        "servers": [
            {"id": s["id"], "name": s["name"], "links": links("servers", s["id"])} for s in page
        ]
    }
    if next_links:
        body["servers_links"] = next_links
    return jsonify(body)


@bp.get(f"{V}/servers/detail")
def list_servers_detail() -> Response:
    store = current_store()
    page, next_links = _page(_visible_servers(store))
    body: dict[str, Any] = {"servers": [server_view(store, s) for s in page]}
    if next_links:
        body["servers_links"] = next_links
    return jsonify(body)


@bp.get(f"{V}/servers/<server_id>")
def show_server(server_id: str) -> Response:
    store = current_store()
    return jsonify({"server": server_view(store, get_server(store, server_id))})


@bp.put(f"{V}/servers/<server_id>")
def update_server(server_id: str) -> Response:
    store = current_store()
    get_server(store, server_id)
    body = faults.json_body("server")["server"]
    changes: dict[str, Any] = {"updated": utcnow()}
    if "name" in body:
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise faults.BadRequest("Invalid input for field/attribute name.")
        changes["name"] = body["name"]
    if "description" in body and mv("2.19"):
        changes["description"] = body["description"]
    for key, field in (("accessIPv4", "access_ipv4"), ("accessIPv6", "access_ipv6")):
        if key in body:
            changes[field] = body[key]
    record = store.update("server", server_id, changes)
    return jsonify({"server": server_view(store, record)})


def _cleanup(store: Store) -> Any:
    """What delete does once the container is gone: free ports, detach volumes."""

    def on_removed(record: Record) -> None:
        for attachment in record.get("volume_attachments") or []:
            try:
                _volumes_module().detach_volume(store, attachment["volume_id"], record["id"])
            except Exception as exc:  # the volume may be gone already
                servers_backend.log.warning("detach on delete failed: %s", exc)
        with contextlib.suppress(ImportError):
            _network_module().release_server_ports(store, record["id"])

    return on_removed


@bp.delete(f"{V}/servers/<server_id>")
def delete_server(server_id: str) -> tuple[str, int]:
    store = current_store()
    record = get_server(store, server_id)
    if record.get("task_state") != "deleting":
        store.update("server", server_id, {"task_state": "deleting", "updated": utcnow()})
        servers_backend.submit(servers_backend.delete, store, server_id, _cleanup(store))
    return "", 204
