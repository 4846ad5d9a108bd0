"""Heat's orchestration v1 API, as openstacksdk, python-heatclient and the CLI call it.

Mounted at /heat-api; the catalog advertises /heat-api/v1/<project_id>. The routes
heatclient and the SDK rely on behave like Heat's: GET /stacks/<name> (or <id>, or
/stacks/<name>/events, /resources, ...) answers 302 to the canonical
/stacks/<name>/<id> URL; DELETE /stacks/<name_or_id> works without the redirect;
errors are Heat-style bodies whose error.type names Heat's exception. The routes are
in api_stacks.py (validate, stacks, outputs) and api_resources.py (resources,
events, signals), on the blueprint of api_common.py.
"""

from __future__ import annotations

from flask import Response, jsonify

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.catalog import Service, version_entry, versions_response
from cloudhp_localcloud.orchestration import api_resources, api_stacks
from cloudhp_localcloud.orchestration.api_common import bp, check_project
from cloudhp_localcloud.orchestration.resources import REGISTRY

# The route modules register on `bp` when imported; keep them referenced.
_ROUTES = (api_stacks, api_resources)


SERVICE = Service(
    name="heat",
    types=("orchestration",),
    prefix="/heat-api",
    endpoint="/heat-api/v1/{project_id}",
    blueprint=bp,
    fault_style=faults.HEAT,
)


# --- version discovery ------------------------------------------------------------------


@bp.get("")
@bp.get("/")
@auth.public
def versions() -> Response:
    return versions_response([version_entry("v1.0", "/heat-api/v1/")])


@bp.get("/v1/<project_id>/build_info")
def build_info(project_id: str) -> Response:
    check_project(project_id)
    return jsonify({"api": {"revision": "localcloud"}, "engine": {"revision": "localcloud"}})


@bp.get("/v1/<project_id>/resource_types")
def resource_types(project_id: str) -> Response:
    check_project(project_id)
    return jsonify({"resource_types": sorted(REGISTRY)})
