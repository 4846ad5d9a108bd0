"""Nova server metadata (/servers/<id>/metadata) and tags (/servers/<id>/tags, 2.26+).

Both live on the server record; the metadata item count is limited by the project's
metadata_items quota, tags follow Nova's rules (at most 50, no "/" or ",").
"""

from __future__ import annotations

from flask import Response, jsonify

from cloudhp_localcloud import faults
from cloudhp_localcloud.compute.common import (
    V,
    bp,
    check_metadata_quota,
    get_server,
    links,
    mv,
    valid_metadata,
    validate_tags,
)
from cloudhp_localcloud.store import Record, current_store, utcnow

# --- metadata ------------------------------------------------------------------------


def _meta_body(key: str) -> dict[str, str]:
    return valid_metadata(faults.json_body().get(key), key)


def _set_metadata(server_id: str, metadata: dict[str, str]) -> Response:
    store = current_store()
    record = get_server(store, server_id)
    check_metadata_quota(store, record["project_id"], metadata)
    store.update("server", server_id, {"metadata": metadata, "updated": utcnow()})
    return jsonify({"metadata": metadata})


@bp.get(f"{V}/servers/<server_id>/metadata")
def list_metadata(server_id: str) -> Response:
    return jsonify({"metadata": get_server(current_store(), server_id).get("metadata") or {}})


@bp.post(f"{V}/servers/<server_id>/metadata")
def update_metadata(server_id: str) -> Response:
    current = get_server(current_store(), server_id).get("metadata") or {}
    return _set_metadata(server_id, {**current, **_meta_body("metadata")})


@bp.put(f"{V}/servers/<server_id>/metadata")
def replace_metadata(server_id: str) -> Response:
    return _set_metadata(server_id, _meta_body("metadata"))


@bp.get(f"{V}/servers/<server_id>/metadata/<key>")
def show_metadata_item(server_id: str, key: str) -> Response:
    metadata = get_server(current_store(), server_id).get("metadata") or {}
    if key not in metadata:
        raise faults.NotFound("Metadata item was not found")
    return jsonify({"meta": {key: metadata[key]}})


@bp.put(f"{V}/servers/<server_id>/metadata/<key>")
def set_metadata_item(server_id: str, key: str) -> Response:
    meta = _meta_body("meta")
    if list(meta) != [key]:
        raise faults.BadRequest("Request body and URI mismatch")
    current = get_server(current_store(), server_id).get("metadata") or {}
    _set_metadata(server_id, {**current, **meta})
    return jsonify({"meta": meta})


@bp.delete(f"{V}/servers/<server_id>/metadata/<key>")
def delete_metadata_item(server_id: str, key: str) -> tuple[str, int]:
    metadata = dict(get_server(current_store(), server_id).get("metadata") or {})
    if key not in metadata:
        raise faults.NotFound("Metadata item was not found")
    metadata.pop(key)
    current_store().update("server", server_id, {"metadata": metadata, "updated": utcnow()})
    return "", 204


# --- tags (2.26+) ----------------------------------------------------------------------


def _tagged_server(server_id: str) -> Record:
    if not mv("2.26"):
        raise faults.NotFound("The resource could not be found.")
    return get_server(current_store(), server_id)


@bp.get(f"{V}/servers/<server_id>/tags")
def list_tags(server_id: str) -> Response:
    return jsonify({"tags": _tagged_server(server_id).get("tags") or []})


@bp.put(f"{V}/servers/<server_id>/tags")
def replace_tags(server_id: str) -> Response:
    _tagged_server(server_id)
    tags = validate_tags(faults.json_body().get("tags"))
    current_store().update("server", server_id, {"tags": tags, "updated": utcnow()})
    return jsonify({"tags": tags})


@bp.delete(f"{V}/servers/<server_id>/tags")
def delete_tags(server_id: str) -> tuple[str, int]:
    _tagged_server(server_id)
    current_store().update("server", server_id, {"tags": [], "updated": utcnow()})
    return "", 204


@bp.get(f"{V}/servers/<server_id>/tags/<tag>")
def check_tag(server_id: str, tag: str) -> tuple[str, int]:
    if tag not in (_tagged_server(server_id).get("tags") or []):
        raise faults.NotFound(f"Tag '{tag}' could not be found.")
    return "", 204


@bp.put(f"{V}/servers/<server_id>/tags/<tag>")
def add_tag(server_id: str, tag: str) -> tuple[str, int, dict[str, str]]:
    tags = list(_tagged_server(server_id).get("tags") or [])
    location = {"Location": f"{links('servers', server_id)[0]['href']}/tags/{tag}"}
    if tag in tags:
        return "", 204, location
    tags = validate_tags([*tags, tag])
    current_store().update("server", server_id, {"tags": tags, "updated": utcnow()})
    return "", 201, location


@bp.delete(f"{V}/servers/<server_id>/tags/<tag>")
def delete_tag(server_id: str, tag: str) -> tuple[str, int]:
    tags = list(_tagged_server(server_id).get("tags") or [])
    if tag not in tags:
        raise faults.NotFound(f"Tag '{tag}' could not be found.")
    tags.remove(tag)
    current_store().update("server", server_id, {"tags": tags, "updated": utcnow()})
    return "", 204
