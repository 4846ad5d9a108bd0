"""Glance's image attributes: which are core, read-only or mutable, their checks,
JSON-patch updates, and the JSON schemas clients fetch.

An attribute that is not core is a custom property, kept as text in the record's
"properties"; `apply_patch` turns a Glance PATCH body into the record's changes with
Glance's status codes (403 for read-only, 409 for a missing property).
"""

from __future__ import annotations

import re
from typing import Any

from flask import g

from cloudhp_localcloud import faults
from cloudhp_localcloud.store import Record, utcnow

CORE = (
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
    "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "min_ram",
    "min_disk", "disk_format", "container_format", "created_at", "updated_at", "tags",
    "self", "file", "schema", "direct_url", "locations",
)  # fmt: skip


READ_ONLY = (
    "id", "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size",
    "created_at", "updated_at", "self", "file", "schema", "direct_url", "locations",
    "cloudhp_docker_image",
)  # fmt: skip


MUTABLE = (
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "min_ram",
    "min_disk",
    "disk_format",
    "container_format",
    "owner",
)


# Glance's schema for "id"; it also keeps a client's id clear of internal records.
IMAGE_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")

CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")


def check_value(key: str, value: Any) -> Any:
    if key == "id":
        if not isinstance(value, str) or not IMAGE_ID.fullmatch(value):
            raise faults.BadRequest(
                f"Invalid value {value!r} for 'id': an image id is a UUID "
                "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hexadecimal digits)"
            )
    elif key in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            raise faults.BadRequest(f"Invalid value for '{key}': must be a boolean")
    elif key in ("min_ram", "min_disk"):
        if not isinstance(value, int) or value < 0:
            raise faults.BadRequest(f"Invalid value for '{key}': must be a positive integer")
    elif key == "visibility":
        if value not in ("public", "private", "shared", "community"):
            raise faults.BadRequest(f"Invalid visibility value: {value}")
        if value == "public" and not g.get("is_admin"):
            raise faults.Forbidden("You are not authorized to complete publicize_image action.")
    elif key == "disk_format" and value is not None and value not in DISK_FORMATS:
        raise faults.BadRequest(f"Invalid value '{value}' for parameter 'disk_format'")
    elif key == "container_format" and value is not None and value not in CONTAINER_FORMATS:
        raise faults.BadRequest(f"Invalid value '{value}' for parameter 'container_format'")
    elif key == "name" and value is not None and (not isinstance(value, str) or len(value) > 255):
        raise faults.BadRequest("Invalid value for 'name'")
    elif key == "tags":
        if not isinstance(value, list) or not all(
            isinstance(t, str) and len(t) <= 255 for t in value
        ):
            raise faults.BadRequest("Invalid value for 'tags'")
        return list(dict.fromkeys(value))
    elif key == "owner" and not g.get("is_admin"):
        raise faults.Forbidden("Attribute 'owner' is reserved.")
    return value


def apply_patch(record: Record, ops: Any) -> dict[str, Any]:
    if not isinstance(ops, list):
        raise faults.BadRequest("Request body must be a JSON array of operation objects.")
    changes: dict[str, Any] = {
        "properties": dict(record.get("properties") or {}),
        "tags": list(record.get("tags") or []),
    }
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise faults.BadRequest(
                "Operation objects must contain exactly one member named "
                '"add", "remove", or "replace".'
            )
        path = str(op.get("path", ""))
        parts = path.strip("/").split("/")
        key = parts[0]
        if not path.startswith("/") or not key or len(parts) > 1:
            raise faults.BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
        if key in READ_ONLY:
            raise faults.Forbidden(f"Attribute '{key}' is read-only.")
        if key in ("disk_format", "container_format") and record["status"] != "queued":
            raise faults.Forbidden(f"Attribute {key} can be only replaced for a queued image.")
        kind = op["op"]
        if kind == "remove":
            if key in MUTABLE or key == "tags":
                raise faults.Forbidden(
                    f"Attribute '{key}' is required and cannot be removed."
                    if key != "tags"
                    else "Cannot remove tags this way."
                )
            if key not in changes["properties"]:
                raise faults.Conflict(f"Property {key} does not exist.")
            changes["properties"].pop(key)
            continue
        if "value" not in op:
            raise faults.BadRequest(f'Operation "{kind}" requires a member named "value".')
        value = op["value"]
        if key in MUTABLE or key == "tags":
            changes[key] = check_value(key, value)
        else:
            if kind == "replace" and key not in changes["properties"]:
                raise faults.Conflict(f"Property {key} does not exist.")
            if not isinstance(value, str):
                raise faults.BadRequest(f"Invalid value for property '{key}': must be a string")
            changes["properties"][key] = value
    changes["updated_at"] = utcnow()
    if "owner" in changes:
        changes["project_id"] = changes.pop("owner")
    return changes


def image_schema() -> dict[str, Any]:
    """GET /v2/schemas/image: the attributes above, as JSON schema."""

    def prop(kind: Any, **extra: Any) -> dict[str, Any]:
        return {"type": kind, **extra}

    return {
        "name": "image",
        "properties": {
            "id": prop("string", readOnly=True),
            "name": prop(["null", "string"], maxLength=255),
            "status": prop(
                "string",
                readOnly=True,
                enum=[
                    "queued",
                    "saving",
                    "active",
                    "killed",
                    "deleted",
                    "uploading",
                    "importing",
                    "pending_delete",
                    "deactivated",
                ],
            ),
            "visibility": prop("string", enum=["community", "public", "private", "shared"]),
            "protected": prop("boolean"),
            "os_hidden": prop("boolean"),
            "checksum": prop(["null", "string"], readOnly=True),
            "os_hash_algo": prop(["null", "string"], readOnly=True),
            "os_hash_value": prop(["null", "string"], readOnly=True),
            "owner": prop(["null", "string"]),
            "size": prop(["null", "integer"], readOnly=True),
            "virtual_size": prop(["null", "integer"], readOnly=True),
            "min_ram": prop("integer"),
            "min_disk": prop("integer"),
            "container_format": prop(["null", "string"], enum=[None, *CONTAINER_FORMATS]),
            "disk_format": prop(["null", "string"], enum=[None, *DISK_FORMATS]),
            "created_at": prop("string", readOnly=True),
            "updated_at": prop("string", readOnly=True),
            "tags": prop("array", items={"type": "string", "maxLength": 255}),
            "self": prop("string", readOnly=True),
            "file": prop("string", readOnly=True),
            "schema": prop("string", readOnly=True),
            "cloudhp_docker_image": prop("string", readOnly=True),
        },
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    """GET /v2/schemas/images: a page of images."""
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
