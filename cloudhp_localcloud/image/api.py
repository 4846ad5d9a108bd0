"""Glance (image v2): list, show, create (record only), PATCH, delete, tags, schemas.

Every image is a container image on the local engine. The base image `debian-12` is
registered at startup (public, owned by the admin project) and stands for cloudhp's
node image, which is built on first boot if missing. Snapshots made by Nova's
createImage (compute/actions.py, compute/snapshots.py) are a committed container
image plus a copy of the server's /var/lib/docker volume; their docker references are
kept in private fields ("_docker_image", "_docker_volume") that the API never shows;
the image view exposes the tag as the read-only property `cloudhp_docker_image`.

Not supported, on purpose: uploading or downloading image data (PUT/GET .../file,
image import) answers 501: a disk image cannot become a container, so the only way
to make an image is a server snapshot. Members/sharing are not implemented either.

    api.py      the service, version discovery, the schemas, the base image (startup)
    images.py   the images API (the blueprint)
    schema.py   which attributes exist and may change, PATCH semantics, JSON schemas
"""

from __future__ import annotations

import uuid

from flask import Response, jsonify, request

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.catalog import Service, versions_response
from cloudhp_localcloud.config import LocalCloudConfig
from cloudhp_localcloud.image import schema as schemas
from cloudhp_localcloud.image.images import V, bp
from cloudhp_localcloud.store import Store, utcnow

BASE_IMAGE = "debian-12"
_BASE_ID = str(uuid.uuid5(uuid.UUID("6f1c43a2-3a7e-4f59-9a0e-4b8c7a6f0c11"), "image/debian-12"))

# --- startup -------------------------------------------------------------------------


def register_base_images(store: Store) -> None:
    """Register `debian-12` once (a deleted base image is not brought back)."""
    with store.transaction():
        if store.get("image", _BASE_ID) is not None or store.get(
            "image_tombstone", f"deleted-{_BASE_ID}"
        ):
            return
        admins = store.list("project", name="admin")
        now = utcnow()
        store.insert(
            "image",
            {
                "status": "active",
                "visibility": "public",
                "protected": False,
                "os_hidden": False,
                "disk_format": "raw",
                "container_format": "bare",
                "min_disk": 1,
                "min_ram": 256,
                "size": None,
                "virtual_size": None,
                "checksum": None,
                "tags": [],
                "updated_at": now,
                "properties": {
                    "os_distro": "debian",
                    "os_version": "12",
                    "os_admin_user": "debian",
                    "os_type": "linux",
                    "architecture": "x86_64",
                    "hw_qemu_guest_agent": "no",
                    "description": "Debian 12 (bookworm) with sshd, Docker and cloud-init; "
                    "cloudhp's node image",
                },
                "_recipe": "node",
            },
            id=_BASE_ID,
            name=BASE_IMAGE,
            project_id=admins[0]["id"] if admins else None,
        )


def _startup(store: Store, config: LocalCloudConfig) -> None:
    register_base_images(store)


SERVICE = Service(
    name="glance",
    types=("image",),
    prefix="/image",
    endpoint="/image",
    blueprint=bp,
    fault_style=faults.GLANCE,
    startup=_startup,  # after identity's: the base image belongs to the admin project
)


# --- versions ------------------------------------------------------------------------


def _versions() -> Response:
    href = request.host_url.rstrip("/") + "/image/v2/"
    entries = [
        {
            "id": f"v2.{minor}",
            "status": "CURRENT" if minor == 16 else "SUPPORTED",
            "links": [{"rel": "self", "href": href}],
        }
        for minor in range(16, -1, -1)
        if minor not in (10, 11, 14)  # never released
    ]
    return versions_response(entries, status=300)


@bp.get("")
@bp.get("/")
@bp.get("/versions")
@auth.public
def versions() -> Response:
    return _versions()


@bp.get(V)
@bp.get(f"{V}/")
@auth.public
def version_v2() -> Response:
    return _versions()


# --- schemas ---------------------------------------------------------------------------


@bp.get(f"{V}/schemas/image")
def image_schema() -> Response:
    return jsonify(schemas.image_schema())


@bp.get(f"{V}/schemas/images")
def images_schema() -> Response:
    return jsonify(schemas.images_schema())
