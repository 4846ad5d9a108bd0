"""An unscoped token reaches Keystone only: every other service answers it 403.

Before, `g.project_id` was None for such a token and `store.list(type, None)` lists
every project's records, so it listed all servers and security groups.
"""

from __future__ import annotations

import pytest

from cloudhp_localcloud import faults

from .conftest import Api

UNSCOPED = "unscoped"


MESSAGE = {
    faults.NOVA: lambda body: body["forbidden"]["message"],
    faults.CINDER: lambda body: body["forbidden"]["message"],
    faults.NEUTRON: lambda body: body["NeutronError"]["message"],
    faults.GLANCE: lambda body: body["message"],
    faults.HEAT: lambda body: body["error"]["message"],
}


@pytest.mark.parametrize(
    ("path", "style"),
    [
        ("/compute/v2.1/servers/detail", faults.NOVA),
        ("/compute/v2.1/os-keypairs", faults.NOVA),
        ("/networking/v2.0/security-groups", faults.NEUTRON),
        ("/networking/v2.0/networks", faults.NEUTRON),
        ("/networking/v2.0/ports", faults.NEUTRON),
        ("/volume/v3/{project}/volumes/detail", faults.CINDER),
        ("/image/v2/images", faults.GLANCE),
        ("/heat-api/v1/{project}/stacks", faults.HEAT),
    ],
)
def test_unscoped_token_is_refused_by_every_project_service(
    api: Api, path: str, style: str
) -> None:
    url = path.format(project=api.project_id())
    assert api.client.get(url, headers=api.headers()).status_code == 200  # scoped: fine
    resp = api.client.get(url, headers=api.headers(scope=UNSCOPED))
    assert resp.status_code == 403
    assert "project-scoped token" in MESSAGE[style](resp.get_json())


def test_keystone_still_serves_unscoped_tokens(api: Api) -> None:
    """What keystoneauth and the CLI do with one: list projects, rescope, validate."""
    token, body = api.token(scope=UNSCOPED)
    assert "project" not in body
    headers = {"X-Auth-Token": token}
    projects = api.client.get("/identity/v3/auth/projects", headers=headers)
    assert projects.status_code == 200
    assert [p["name"] for p in projects.get_json()["projects"]] == ["demo"]
    mine = api.client.get(f"/identity/v3/users/{body['user']['id']}/projects", headers=headers)
    assert mine.status_code == 200 and len(mine.get_json()["projects"]) == 1
    shown = api.client.get(
        "/identity/v3/auth/tokens", headers={**headers, "X-Subject-Token": token}
    )
    assert shown.status_code == 200
    rescoped = api.client.post(
        "/identity/v3/auth/tokens",
        json={
            "auth": {
                "identity": {"methods": ["token"], "token": {"id": token}},
                "scope": {"project": {"id": projects.get_json()["projects"][0]["id"]}},
            }
        },
    )
    assert rescoped.status_code == 201
    servers = api.client.get(
        "/compute/v2.1/servers", headers={"X-Auth-Token": rescoped.headers["X-Subject-Token"]}
    )
    assert servers.status_code == 200


def test_missing_token_is_still_keystones_401(api: Api) -> None:
    resp = api.client.get("/compute/v2.1/servers")
    assert resp.status_code == 401 and "WWW-Authenticate" in resp.headers
