"""Glance on localcloud through openstacksdk: the base image, filters, PATCH, tags,
schemas and the limits we state (no upload). Snapshots are tested in test_compute.py,
where there is a server to snapshot.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import openstack.exceptions
import pytest
import requests
from openstack.connection import Connection


@pytest.fixture
def scratch(conn: Connection):
    image = conn.image.create_image(
        name="scratch", disk_format="raw", container_format="bare", tags=["a"], flavor="x"
    )
    yield image
    conn.image.delete_image(image, ignore_missing=True)


def test_base_image_is_registered(conn: Connection) -> None:
    image = conn.image.find_image("debian-12", ignore_missing=False)
    assert image.status == "active" and image.visibility == "public"
    assert (image.disk_format, image.container_format) == ("raw", "bare")
    assert image.min_disk == 1 and image.min_ram == 256
    assert image.os_distro == "debian" and image.os_admin_user == "debian"
    assert conn.image.get_image(image.id).name == "debian-12"
    assert "_recipe" not in image.properties and "_docker_volume" not in image.properties


def test_list_filters(conn: Connection, scratch: object) -> None:
    def names(**query: object) -> set[str]:
        return {i.name for i in conn.image.images(**query)}

    assert {"debian-12", "scratch"} <= names()
    assert names(name="debian-12") == {"debian-12"}
    assert names(status="queued") == {"scratch"}
    assert names(visibility="public") == {"debian-12"}
    assert names(tag="a") == {"scratch"}
    assert names(tag="nope") == set()
    assert len(list(conn.image.images(limit=1))) >= 2  # the sdk follows "next"


def test_patch_name_properties_and_tags(conn: Connection, scratch: object) -> None:
    image = conn.image.update_image(scratch, name="renamed", flavor="y", extra="z")
    assert image.name == "renamed" and image.properties["flavor"] == "y"
    assert image.properties["extra"] == "z"
    conn.image.add_tag(image, "b")
    conn.image.remove_tag(image, "a")
    assert conn.image.get_image(image.id).tags == ["b"]
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.image.remove_tag(image, "a")


def test_read_only_and_foreign_images(conn: Connection, scratch: object) -> None:
    base = conn.image.find_image("debian-12", ignore_missing=False)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.image.update_image(base, name="mine-now")  # owned by admin
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.image.delete_image(base)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.image.get_image("00000000-0000-0000-0000-000000000000")


def test_upload_is_not_supported(conn: Connection, localcloud: object, scratch: object) -> None:
    endpoint = localcloud.url + "/image"  # type: ignore[attr-defined]
    response = requests.put(
        f"{endpoint}/v2/images/{scratch.id}/file",  # type: ignore[attr-defined]
        data=b"x",
        headers={"X-Auth-Token": conn.auth_token, "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert response.status_code == 501
    assert "snapshot" in response.json()["message"]


def test_schemas(conn: Connection, localcloud: object) -> None:
    endpoint = localcloud.url + "/image"  # type: ignore[attr-defined]
    headers = {"X-Auth-Token": conn.auth_token}
    schema = requests.get(f"{endpoint}/v2/schemas/image", headers=headers, timeout=10).json()
    assert schema["name"] == "image" and "visibility" in schema["properties"]
    images = requests.get(f"{endpoint}/v2/schemas/images", headers=headers, timeout=10).json()
    assert images["name"] == "images"


def test_delete(conn: Connection) -> None:
    image = conn.image.create_image(name="short-lived", disk_format="raw",
                                    container_format="bare")  # fmt: skip
    conn.image.delete_image(image)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.image.get_image(image.id)


@pytest.mark.skipif(shutil.which("openstack") is None, reason="no openstack CLI")
def test_openstack_image_list(localcloud: object) -> None:
    proc = subprocess.run(
        ["openstack", "image", "list", "-f", "json"],
        env=localcloud.cli_env,  # type: ignore[attr-defined]
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {"Name": "debian-12", "Status": "active"}.items() <= next(
        r for r in rows if r["Name"] == "debian-12"
    ).items()
