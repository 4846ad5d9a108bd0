"""Request bodies: 413 beyond 1 MiB, 400 for JSON nested too deeply (it was a 500),
image data exempt; client-chosen image ids are UUIDs that collide with nothing."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from cloudhp_localcloud import bodies

from .conftest import Api

LIMIT = bodies.MAX_JSON_BODY


def _json_of_size(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    frame = b'{"pad": ""}'
    return frame[:-2] + b"x" * (size - len(frame)) + frame[-2:]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


ErrorOf = Callable[[dict[str, Any]], dict[str, Any]]

# A URL of each style, and where its error body keeps the message.
SERVICES: list[tuple[str, ErrorOf]] = [
    ("/identity/v3/auth/tokens", lambda b: b["error"]),  # no token needed to send it
    ("/networking/v2.0/networks", lambda b: b["NeutronError"]),
    ("/compute/v2.1/servers", lambda b: b["overLimit"] if "overLimit" in b else b["badRequest"]),
    ("/image/v2/images", lambda b: b),
]


@pytest.mark.parametrize(("path", "error"), SERVICES)
def test_body_over_the_limit_is_413(api: Api, path: str, error: ErrorOf) -> None:
    resp = api.client.post(path, data=_json_of_size(LIMIT + 1), headers=api.headers())
    assert resp.status_code == 413
    message = error(resp.get_json())["message"]
    assert message == f"Request body too large: the limit is {LIMIT} bytes."
    at_limit = api.client.post(path, data=_json_of_size(LIMIT), headers=api.headers())
    assert at_limit.status_code not in (413, 500)


def test_chunked_body_over_the_limit_is_413(api: Api) -> None:
    """No Content-Length to check: werkzeug's server marks such a stream terminated."""
    resp = api.client.post(
        "/identity/v3/auth/tokens",
        input_stream=io.BytesIO(_json_of_size(2 * LIMIT)),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413


@pytest.mark.parametrize(("path", "error"), SERVICES)
@pytest.mark.parametrize("depth", [bodies.MAX_JSON_DEPTH + 1, 100_000])
def test_deep_json_is_400_naming_the_limit(api: Api, path: str, error: ErrorOf, depth: int) -> None:
    resp = api.client.post(path, data=_nested(depth), headers=api.headers())
    assert resp.status_code == 400
    assert "nested too deeply: at most 64 levels" in error(resp.get_json())["message"]


def test_json_at_the_depth_limit_reaches_the_view(api: Api) -> None:
    resp = api.client.post(
        "/networking/v2.0/networks", data=_nested(bodies.MAX_JSON_DEPTH), headers=api.headers()
    )
    assert resp.status_code == 400
    assert resp.get_json()["NeutronError"]["message"] == "Malformed request body"


def test_heat_environment_and_template_text_nested_too_deeply_are_400(api: Api) -> None:
    url = f"/heat-api/v1/{api.project_id()}/stacks"
    for body, expected in (
        ({"stack_name": "s", "template": "{}", "environment": _nested(5000)}, "environment"),
        ({"stack_name": "s", "template": "a: " + _nested(5000)}, "nests objects and lists"),
        ({"stack_name": "s", "template": "a: " + _nested(100)}, "deeper than 64 levels"),
    ):
        resp = api.client.post(url, json=body, headers=api.headers())
        assert resp.status_code == 400, resp.get_json()
        assert expected in resp.get_json()["error"]["message"]


def test_shared_yaml_lists_are_walked_once_per_depth() -> None:
    """A YAML alias bomb shares one list 2**40 ways: walking every path would hang."""
    shallow: list = []
    for _ in range(40):
        shallow = [shallow, shallow]
    assert not bodies.too_deep(shallow)
    deep = shallow
    for _ in range(30):
        deep = [deep, deep]
    assert bodies.too_deep(deep)


def test_image_data_is_not_a_json_body(api: Api) -> None:
    headers = api.headers()
    image = api.client.post("/image/v2/images", json={"name": "big"}, headers=headers)
    resp = api.client.put(
        f"/image/v2/images/{image.get_json()['id']}/file",
        data=b"\0" * (2 * LIMIT),
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    assert resp.status_code == 501  # localcloud's answer to uploads, not a 413


# --- client-chosen ids -------------------------------------------------------------


@pytest.mark.parametrize("bad", ["compute-quota-{project}", "flavor-1", "not-a-uuid", 7, ""])
def test_image_id_must_be_a_uuid(api: Api, bad: object) -> None:
    project = api.project_id()
    image_id = bad.format(project=project) if isinstance(bad, str) else bad
    resp = api.client.post(
        "/image/v2/images", json={"id": image_id, "name": "x"}, headers=api.headers()
    )
    assert resp.status_code == 400
    assert "for 'id': an image id is a UUID" in resp.get_json()["message"]
    quota = api.client.put(
        f"/compute/v2.1/os-quota-sets/{project}",
        json={"quota_set": {"instances": 9}},
        headers=api.headers("admin"),
    )
    assert quota.status_code == 200, quota.get_json()


def test_image_id_taken_by_any_record_is_409(api: Api) -> None:
    headers = api.headers()
    group = api.client.post(
        "/networking/v2.0/security-groups", json={"security_group": {"name": "g"}}, headers=headers
    ).get_json()["security_group"]
    taken = api.client.post(
        "/image/v2/images", json={"id": group["id"], "name": "x"}, headers=headers
    )
    assert taken.status_code == 409
    assert taken.get_json()["message"] == f"The identifier {group['id']} is already in use"
    mine = str(uuid.uuid4())
    made = api.client.post("/image/v2/images", json={"id": mine, "name": "x"}, headers=headers)
    assert made.status_code == 201 and made.get_json()["id"] == mine
    again = api.client.post("/image/v2/images", data=json.dumps({"id": mine}), headers=headers)
    assert again.status_code == 409
