"""Catalog entries and version documents that keystoneauth's discovery depends on."""

from __future__ import annotations

from flask import Blueprint, Flask

from cloudhp_localcloud import faults
from cloudhp_localcloud.catalog import (
    Service,
    build_catalog,
    version_entry,
    version_response,
    versions_response,
)


def _svc(name: str, types: tuple[str, ...], endpoint: str) -> Service:
    return Service(
        name=name,
        types=types,
        prefix="/" + endpoint.split("/")[1],
        endpoint=endpoint,
        blueprint=Blueprint(name, __name__),
        fault_style=faults.NOVA,
    )


def test_catalog_fills_project_id_and_lists_every_type_and_interface() -> None:
    services = [
        _svc("nova", ("compute",), "/compute/v2.1"),
        _svc("cinderv3", ("block-storage", "volumev3"), "/volume/v3/{project_id}"),
        _svc("heat", ("orchestration",), "/heat-api/v1/{project_id}"),
    ]
    catalog = build_catalog(services, "http://h:1/", "RegionOne", "p1")
    urls = {e["type"]: {ep["url"] for ep in e["endpoints"]} for e in catalog}
    assert urls == {
        "compute": {"http://h:1/compute/v2.1"},
        "block-storage": {"http://h:1/volume/v3/p1"},
        "volumev3": {"http://h:1/volume/v3/p1"},
        "orchestration": {"http://h:1/heat-api/v1/p1"},
    }
    for entry in catalog:
        assert sorted(ep["interface"] for ep in entry["endpoints"]) == [
            "admin",
            "internal",
            "public",
        ]
        assert {ep["region"] for ep in entry["endpoints"]} == {"RegionOne"}
    assert build_catalog(services, "http://h:1", "RegionOne", "p2")[0]["id"] == catalog[0]["id"]


def test_version_documents() -> None:
    app = Flask(__name__)
    with app.test_request_context("/compute", base_url="http://10.0.0.1:8788"):
        entry = version_entry("v2.1", "/compute/v2.1/", version="2.79", min_version="2.1")
        assert entry["links"] == [{"rel": "self", "href": "http://10.0.0.1:8788/compute/v2.1/"}]
        assert entry["version"] == "2.79" and entry["min_version"] == "2.1"
        many = versions_response([entry], status=200)
        assert many.status_code == 200 and many.json == {"versions": [entry]}
        assert version_response(entry).json == {"version": entry}
