"""Fault bodies per service style, and how openstacksdk reads them back."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

import pytest
import requests
from flask import Blueprint, Flask, g
from flask.testing import FlaskClient
from openstack import exceptions as sdk_exc

from cloudhp_localcloud import auth, faults, identity
from cloudhp_localcloud.app import create_app
from cloudhp_localcloud.catalog import Microversion, Service
from cloudhp_localcloud.config import LocalCloudConfig

RAISES = {
    "badrequest": faults.BadRequest("Bad thing."),
    "forbidden": faults.Forbidden("Policy says no."),
    "notfound": faults.NotFound("Thing x could not be found."),
    "conflict": faults.Conflict("Thing x is busy."),
    "quota403": faults.OverLimit("Quota exceeded for instances: Requested 1", code=403),
    "quota413": faults.OverLimit("Quota exceeded for cores."),
}


def _service(name: str, style: str, mv: Microversion | None = None) -> Service:
    bp = Blueprint(f"test_{name}", __name__)

    @bp.get("/fail/<what>")
    @auth.public
    def fail(what: str) -> str:
        raise RAISES[what]

    @bp.get("/crash")
    @auth.public
    def crash() -> str:
        raise RuntimeError("internal detail that must not leak")

    @bp.get("/private")
    def private() -> dict:
        return {"project_id": g.project_id, "microversion": g.get("microversion")}

    return Service(
        name=name,
        types=(name,),
        prefix=f"/{name}",
        endpoint=f"/{name}/v1",
        blueprint=bp,
        fault_style=style,
        microversion=mv,
    )


COMPUTE_MV = Microversion("compute", "2.1", "2.79", legacy_header="X-OpenStack-Nova-API-Version")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    services = [identity.SERVICE] + [
        _service(style, style, COMPUTE_MV if style == faults.NOVA else None)
        for style in faults.STYLES
        if style != faults.KEYSTONE
    ]
    return create_app(LocalCloudConfig(data_dir=tmp_path_factory.mktemp("lc")), services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _as_requests(resp) -> requests.Response:  # type: ignore[no-untyped-def]
    out = requests.Response()
    out.status_code = resp.status_code
    out._content = resp.data
    out.headers.update(dict(resp.headers))
    out.reason = HTTPStatus(resp.status_code).phrase
    out.url = "http://localcloud/test"
    return out


def test_nova_bodies(client: FlaskClient) -> None:
    assert client.get("/nova/fail/notfound").json == {
        "itemNotFound": {"code": 404, "message": "Thing x could not be found."}
    }
    assert client.get("/nova/fail/conflict").json["conflictingRequest"]["code"] == 409
    assert client.get("/nova/fail/badrequest").json["badRequest"]["code"] == 400
    quota = client.get("/nova/fail/quota403")
    assert quota.status_code == 403 and "forbidden" in quota.json
    assert client.get("/nova/fail/quota413").json["overLimit"]["code"] == 413


def test_neutron_glance_heat_cinder_bodies(client: FlaskClient) -> None:
    assert client.get("/neutron/fail/notfound").json == {
        "NeutronError": {
            "type": "HTTPNotFound",
            "message": "Thing x could not be found.",
            "detail": "",
        }
    }
    assert client.get("/glance/fail/notfound").json == {
        "code": "404 Not Found",
        "title": "Not Found",
        "message": "Thing x could not be found.",
    }
    heat = client.get("/heat/fail/notfound").json
    assert heat["code"] == 404 and heat["error"]["message"] == "Thing x could not be found."
    assert client.get("/cinder/fail/notfound").json["itemNotFound"]["code"] == 404


EXPECTED = {
    "badrequest": sdk_exc.BadRequestException,
    "forbidden": sdk_exc.ForbiddenException,
    "notfound": sdk_exc.NotFoundException,
    "conflict": sdk_exc.ConflictException,
    "quota403": sdk_exc.ForbiddenException,
    "quota413": sdk_exc.HttpException,
}


@pytest.mark.parametrize("style", [s for s in faults.STYLES if s != faults.KEYSTONE])
@pytest.mark.parametrize("what", sorted(EXPECTED))
def test_sdk_raises_its_exception_with_our_message(
    client: FlaskClient, style: str, what: str
) -> None:
    resp = client.get(f"/{style}/fail/{what}")
    with pytest.raises(EXPECTED[what]) as info:
        sdk_exc.raise_from_response(_as_requests(resp))
    assert info.value.details == RAISES[what].message


def test_unknown_route_uses_the_prefix_style(client: FlaskClient) -> None:
    assert client.get("/neutron/nope").json["NeutronError"]["type"] == "HTTPNotFound"
    assert client.get("/nova/nope").json["itemNotFound"]["code"] == 404
    assert client.get("/elsewhere").json["error"]["code"] == 404


def test_crash_is_a_500_without_details(client: FlaskClient) -> None:
    resp = client.get("/nova/crash")
    assert resp.status_code == 500 and "internal detail" not in resp.get_data(as_text=True)
    assert resp.json["computeFault"]["code"] == 500


@pytest.mark.parametrize("token", [None, "lc-bogus"])
def test_missing_or_bad_token_is_keystonemiddleware_401(
    client: FlaskClient, token: str | None
) -> None:
    headers = {"X-Auth-Token": token} if token else {}
    resp = client.get("/neutron/private", headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"]["title"] == "Unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith('Keystone uri="http://')


def _token(client: FlaskClient, tmp_dir: Path) -> str:
    import yaml

    creds = yaml.safe_load((tmp_dir / "clouds.yaml").read_text())["clouds"]["cloudhp-local"]
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "demo",
                        "domain": {"id": "default"},
                        "password": creds["auth"]["password"],
                    }
                },
            }
        }
    }
    return client.post("/identity/v3/auth/tokens", json=body).headers["X-Subject-Token"]


def test_token_exposes_caller_and_microversion(app: Flask, client: FlaskClient) -> None:
    token = _token(client, app.config["LOCALCLOUD"].data_dir)
    resp = client.get(
        "/nova/private", headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.53"}
    )
    assert resp.status_code == 200 and resp.json["microversion"] == "2.53"
    assert resp.json["project_id"]
    assert resp.headers["OpenStack-API-Version"] == "compute 2.53"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.53"
    latest = client.get(
        "/nova/private", headers={"X-Auth-Token": token, "X-OpenStack-Nova-API-Version": "latest"}
    )
    assert latest.json["microversion"] == "2.79"
    assert (
        client.get("/nova/private", headers={"X-Auth-Token": token}).json["microversion"] == "2.1"
    )
    too_new = client.get(
        "/nova/private", headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.99"}
    )
    assert too_new.status_code == 406
