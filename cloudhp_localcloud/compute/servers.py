"""Nova servers: the server view, list (with Nova's filters), show, update, delete.

Create is create.py's. Networking is the network service's (network/servers.py):
`server_addresses` renders `addresses`, `release_server_ports` frees them on delete.
Volumes are the volume service's (volume/backend.py): attachments recorded on the
server are detached on delete.
"""

from __future__ import annotations

import logging
import platform
import re
from hashlib import sha224
from typing import Any

from flask import Response, g, jsonify, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.compute import lifecycle, nodes, power
from cloudhp_localcloud.compute.common import (
    V,
    base_url,
    bp,
    get_server,
    links,
    mv,
    seed_flavors,
)
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.network.servers import release_server_ports, server_addresses
from cloudhp_localcloud.store import Record, Store, current_store, utcnow
from cloudhp_localcloud.volume.backend import detach_volume

log = logging.getLogger(__name__)

HOST = platform.node() or "localcloud"


# --- startup -------------------------------------------------------------------------


def on_startup(store: Store, config: LocalCloudConfig) -> None:
    """Seed flavors; reconcile records with the engine after a restart (in background)."""
    seed_flavors(store)
    lifecycle.set_build_latency(config.build_latency)
    if not store.list("server") and not store.list("image", status="saving"):
        return
    lifecycle.submit(_reconcile_then_watch, store)
    for record in store.list("server", task_state="deleting"):
        lifecycle.submit(lifecycle.delete, store, record["id"], _cleanup(store))


def _reconcile_then_watch(store: Store) -> None:
    """The watcher starts once reconcile is done: reconcile makes a record whose
    container runs ACTIVE, where the watcher would kill a running "stopped" one."""
    try:
        lifecycle.reconcile(store)
    finally:
        power.ensure_watching(store)


# --- views ---------------------------------------------------------------------------


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
        "addresses": server_addresses(store, s["id"]),
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
                "OS-EXT-SRV-ATTR:instance_name": nodes.container_name(s["id"]),
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
                detach_volume(store, attachment["volume_id"], record["id"])
            except Exception as exc:  # the volume may be gone already
                log.warning("detach on delete failed: %s", exc)
        release_server_ports(store, record["id"])

    return on_removed


@bp.delete(f"{V}/servers/<server_id>")
def delete_server(server_id: str) -> tuple[str, int]:
    store = current_store()
    record = get_server(store, server_id)
    if record.get("task_state") != "deleting":
        store.update("server", server_id, {"task_state": "deleting", "updated": utcnow()})
        lifecycle.submit(lifecycle.delete, store, server_id, _cleanup(store))
    return "", 204
