"""Glance images: the view, list (with Glance's filters and sorting), show, create,
PATCH, delete, tags; image data answers 501.

Store type "image": project_id column = owner; custom properties in "properties";
private fields ("_docker_image", "_docker_volume", "_recipe", "_snapshot_of") are
never shown. Which attributes exist and may change, PATCH semantics and the JSON
schemas are in schema.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from cloudhp_localcloud import bodies, faults
from cloudhp_localcloud.compute import lifecycle, nodes
from cloudhp_localcloud.image.schema import CORE, MUTABLE, READ_ONLY, apply_patch, check_value
from cloudhp_localcloud.store import DuplicateId, Record, current_store, new_id, utcnow

bp = Blueprint("image", __name__)

V = "/v2"
PATCH_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)


# --- views ---------------------------------------------------------------------------


def image_view(i: Record) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": i["id"],
        "name": i["name"],
        "status": i["status"],
        "visibility": i.get("visibility", "private"),
        "protected": bool(i.get("protected")),
        "os_hidden": bool(i.get("os_hidden")),
        "checksum": i.get("checksum"),
        "os_hash_algo": None,
        "os_hash_value": None,
        "owner": i["project_id"],
        "size": i.get("size"),
        "virtual_size": i.get("virtual_size"),
        "min_ram": int(i.get("min_ram") or 0),
        "min_disk": int(i.get("min_disk") or 0),
        "disk_format": i.get("disk_format"),
        "container_format": i.get("container_format"),
        "created_at": i["created_at"],
        "updated_at": i.get("updated_at") or i["created_at"],
        "tags": list(i.get("tags") or []),
        "self": f"/v2/images/{i['id']}",
        "file": f"/v2/images/{i['id']}/file",
        "schema": "/v2/schemas/image",
    }
    for key, value in (i.get("properties") or {}).items():
        if value is not None:
            view[key] = value
    docker_ref = i.get("_docker_image")
    if docker_ref is None and i.get("_recipe") == "node":
        docker_ref = nodes.known_node_image()
    if docker_ref:
        view["cloudhp_docker_image"] = docker_ref
    return view


def _visible(i: Record) -> bool:
    return (
        g.get("is_admin")
        or i.get("visibility") in ("public", "community")
        or i["project_id"] == g.project_id
    )


def _get(image_id: str) -> Record:
    record = current_store().get("image", image_id)
    if record is None or not _visible(record):
        raise faults.NotFound(f"No image found with ID {image_id}")
    return record


def _owned(image_id: str, action: str) -> Record:
    """An image the caller may see and `action` (its project's, or any for admin)."""
    record = _get(image_id)
    if record["project_id"] != g.project_id and not g.get("is_admin"):
        raise faults.Forbidden(f"You are not permitted to {action} this image.")
    return record


def _set_tags(image_id: str, tags: list[str]) -> None:
    current_store().update("image", image_id, {"tags": tags, "updated_at": utcnow()})


# --- list / show ---------------------------------------------------------------------


def _in_filter(value: str) -> set[str] | None:
    return set(value[3:].split(",")) if value.startswith("in:") else None


def _matches(i: Record, args: Any) -> bool:
    for key in ("name", "status", "id", "disk_format", "container_format"):
        if key in args:
            value = args[key]
            actual = i.get(key)
            wanted = _in_filter(value) or {value}
            if actual not in wanted:
                return False
    if "owner" in args and i["project_id"] != args["owner"]:
        return False
    visibility = args.get("visibility")
    if visibility and visibility != "all":
        if i.get("visibility") != visibility:
            return False
    elif i.get("visibility") == "community" and i["project_id"] != g.project_id:
        return False
    hidden = args.get("os_hidden", "false").lower() == "true"
    if bool(i.get("os_hidden")) != hidden:
        return False
    if "protected" in args and bool(i.get("protected")) != (args["protected"] == "true"):
        return False
    tags = set(i.get("tags") or [])
    if not set(args.getlist("tag")) <= tags:
        return False
    props = i.get("properties") or {}
    for key, value in args.items():
        if key not in _LIST_PARAMS and key not in CORE and props.get(key) != value:
            return False
    return True


_LIST_PARAMS = (
    "limit",
    "marker",
    "sort",
    "sort_key",
    "sort_dir",
    "tag",
    "member_status",
    "os_hidden",
    "visibility",
    "owner",
    "protected",
    "size_min",
    "size_max",
)


def _sorted(images: list[Record]) -> list[Record]:
    keys: list[tuple[str, str]] = []
    if "sort" in request.args:
        for part in request.args["sort"].split(","):
            key, _, direction = part.partition(":")
            keys.append((key.strip(), direction.strip() or "desc"))
    else:
        for key in request.args.getlist("sort_key") or ["created_at"]:
            keys.append((key, request.args.get("sort_dir", "desc")))
    keys.append(("id", keys[0][1] if keys else "desc"))
    for key, direction in reversed(keys):
        if direction not in ("asc", "desc"):
            raise faults.BadRequest(f"Invalid sort direction: {direction}")
        images.sort(key=lambda i, k=key: str(i.get(k) or ""), reverse=direction == "desc")  # type: ignore[misc]
    return images


@bp.get(f"{V}/images")
def list_images() -> Response:
    images = [i for i in current_store().list("image") if _visible(i)]
    images = _sorted([i for i in images if _matches(i, request.args)])
    marker = request.args.get("marker")
    if marker:
        ids = [i["id"] for i in images]
        if marker not in ids:
            raise faults.BadRequest(f"Invalid marker. Image {marker} could not be found.")
        images = images[ids.index(marker) + 1 :]
    body: dict[str, Any] = {"first": "/v2/images", "schema": "/v2/schemas/images"}
    limit = request.args.get("limit")
    if limit is not None:
        try:
            n = max(0, int(limit))
        except ValueError:
            raise faults.BadRequest("limit param must be an integer") from None
        if len(images) > n and n:
            args = {k: v for k, v in request.args.items() if k != "marker"}
            args["marker"] = images[n - 1]["id"]
            body["next"] = "/v2/images?" + "&".join(f"{k}={v}" for k, v in args.items())
        images = images[:n]
    body["images"] = [image_view(i) for i in images]
    return jsonify(body)


@bp.get(f"{V}/images/<image_id>")
def show_image(image_id: str) -> Response:
    return jsonify(image_view(_get(image_id)))


# --- create / update / delete ----------------------------------------------------------


@bp.post(f"{V}/images")
def create_image() -> tuple[Response, int, dict[str, str]]:
    body = faults.json_body()
    doc: dict[str, Any] = {
        "status": "queued",
        "visibility": "shared",
        "protected": False,
        "os_hidden": False,
        "size": None,
        "virtual_size": None,
        "checksum": None,
        "tags": [],
        "min_ram": 0,
        "min_disk": 0,
        "disk_format": None,
        "container_format": None,
        "updated_at": utcnow(),
        "properties": {},
    }
    for key, value in body.items():
        if key in READ_ONLY and key != "id":
            raise faults.Forbidden(f"Attribute '{key}' is read-only.")
        if key in MUTABLE or key == "tags":
            doc[key] = check_value(key, value)
        elif key not in ("id", "name", "owner"):
            doc["properties"][key] = value if isinstance(value, str) else str(value)
    image_id = new_id() if body.get("id") is None else check_value("id", body["id"])
    try:
        record = current_store().insert(
            "image",
            doc,
            id=image_id,
            name=check_value("name", body.get("name")),
            project_id=body.get("owner") or g.project_id,
        )
    except DuplicateId:
        raise faults.Conflict(f"The identifier {image_id} is already in use") from None
    return jsonify(image_view(record)), 201, {"Location": f"/v2/images/{image_id}"}


@bp.patch(f"{V}/images/<image_id>")
def update_image(image_id: str) -> Response:
    record = _owned(image_id, "modify")
    content_type = (request.mimetype or "").lower()
    if content_type not in PATCH_TYPES:
        raise faults.Fault(
            f"Unsupported Content-Type {content_type}; use one of {', '.join(PATCH_TYPES)}",
            code=415,
            headers={"Accept-Patch": ", ".join(PATCH_TYPES)},
        )
    ops = request.get_json(force=True, silent=True)
    updated = current_store().update("image", image_id, apply_patch(record, ops))
    return jsonify(image_view(updated))


@bp.delete(f"{V}/images/<image_id>")
def delete_image(image_id: str) -> tuple[str, int]:
    record = _owned(image_id, "delete")
    if record.get("protected"):
        raise faults.Forbidden(f"Image {image_id} is protected and cannot be deleted.")
    store = current_store()
    with store.transaction():
        store.delete("image", image_id)
        if record.get("_recipe"):  # keep a deleted base image deleted across restarts
            store.insert("image_tombstone", {}, id=f"deleted-{image_id}")
    if record.get("_docker_image") or record.get("_docker_volume") or record.get("_snapshot_of"):
        lifecycle.submit(nodes.remove_image_artifacts, image_id)
    return "", 204


@bp.put(f"{V}/images/<image_id>/tags/<tag>")
def add_tag(image_id: str, tag: str) -> tuple[str, int]:
    record = _owned(image_id, "modify")
    tags = list(record.get("tags") or [])
    if tag not in tags:
        tags.append(tag)
        _set_tags(image_id, tags)
    return "", 204


@bp.delete(f"{V}/images/<image_id>/tags/<tag>")
def delete_tag(image_id: str, tag: str) -> tuple[str, int]:
    record = _owned(image_id, "modify")
    tags = list(record.get("tags") or [])
    if tag not in tags:
        raise faults.NotFound(f"Tag {tag} not found.")
    tags.remove(tag)
    _set_tags(image_id, tags)
    return "", 204


@bp.route(f"{V}/images/<image_id>/file", methods=["GET", "PUT"])
@bodies.raw_body  # image data, not JSON: no 1 MiB limit
def image_file(image_id: str) -> Response:
    _get(image_id)
    raise faults.NotImplementedFault(
        "localcloud images are container images: image data cannot be uploaded or "
        "downloaded; make images with a server snapshot (createImage)."
    )


@bp.route(f"{V}/images/<image_id>/import", methods=["POST"])
def image_import(image_id: str) -> Response:
    return image_file(image_id)
