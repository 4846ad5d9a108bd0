"""What every Neutron resource shares: the blueprint, visibility, filters, tags, views.

Neutron resources carry the "standard attributes" (description, tags, created_at,
updated_at, revision_number) and both `project_id` and its legacy alias `tenant_id`;
`standard_view` adds them so each resource's view only lists its own fields. List
filters follow Neutron: any attribute as a query parameter (repeat it to OR values),
`tags`/`tags-any`/`not-tags`/`not-tags-any` (comma separated), `fields`, and
`limit`/`marker` pagination with a `<collection>_links` "next" link.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from cloudhp_localcloud import faults
from cloudhp_localcloud.store import Record, Store, current_store, utcnow

bp = Blueprint("network", __name__)

# URL collection -> (store type, JSON member name, Neutron "not found" type name).
TAGGABLE = {
    "networks": ("network", "network", "NetworkNotFound"),
    "subnets": ("subnet", "subnet", "SubnetNotFound"),
    "ports": ("port", "port", "PortNotFound"),
    "routers": ("router", "router", "RouterNotFound"),
    "floatingips": ("floatingip", "floatingip", "FloatingIPNotFound"),
    "security-groups": ("security_group", "security_group", "SecurityGroupNotFound"),
}

_NOT_FOUND_LABEL = {
    "network": "Network",
    "subnet": "Subnet",
    "port": "Port",
    "router": "Router",
    "floatingip": "Floating IP",
    "security_group": "Security group",
    "security_group_rule": "Security group rule",
}

_RESERVED_ARGS = {"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir"}
_TAG_ARGS = ("tags", "tags-any", "not-tags", "not-tags-any")


def caller_project() -> str:
    return g.project_id


def is_admin() -> bool:
    return bool(g.get("is_admin", False))


def standard_doc(body: dict[str, Any]) -> dict[str, Any]:
    """Fresh standard attributes for a resource being created (tags may come in the POST,
    Neutron's tag-creation extension)."""
    now = utcnow()
    return {
        "description": body.get("description", "") or "",
        "tags": list(body.get("tags", [])),
        "updated_at": now,
        "revision_number": 0,
    }


def given(body: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The attributes among `keys` that the request body sets."""
    return {k: body[k] for k in keys if k in body}


def given_with_tags(body: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """`given` plus the tags of a create (Neutron's tag-creation extension)."""
    return {**given(body, keys), "tags": list(body.get("tags", []))}


def project_records(type_: str) -> list[Record]:
    """Every resource of `type_` for admin, else the caller's project's."""
    s = store()
    return s.list(type_) if is_admin() else s.list(type_, project_id=caller_project())


def bump(changes: dict[str, Any], record: Record) -> dict[str, Any]:
    """`changes` plus the revision/updated_at bump Neutron does on every update."""
    return {
        **changes,
        "updated_at": utcnow(),
        "revision_number": int(record.get("revision_number", 0)) + 1,
    }


def standard_view(record: Record, fields: dict[str, Any]) -> dict[str, Any]:
    view = {"id": record["id"], "name": record.get("name") or "", **fields}
    view.update(
        {
            "project_id": record["project_id"],
            "tenant_id": record["project_id"],
            "description": record.get("description", ""),
            "tags": list(record.get("tags", [])),
            "created_at": record["created_at"],
            "updated_at": record.get("updated_at", record["created_at"]),
            "revision_number": record.get("revision_number", 0),
        }
    )
    return view


def not_found(type_: str, rid: str, kind: str | None = None) -> faults.NotFound:
    label = _NOT_FOUND_LABEL.get(type_, type_)
    return faults.NotFound(f"{label} {rid} could not be found.", kind=kind)


def get_visible(
    store: Store,
    type_: str,
    rid: str,
    kind: str | None = None,
    visible: Callable[[Record], bool] | None = None,
) -> Record:
    """A resource the caller may see (own project, admin, or `visible`), else 404."""
    record = store.get(type_, rid)
    if record is None or not (
        is_admin() or record["project_id"] == caller_project() or (visible and visible(record))
    ):
        raise not_found(type_, rid, kind)
    return record


def owned(record: Record, type_: str, kind: str | None = None) -> Record:
    """Only the owner (or admin) may change a resource; others get the 404 Neutron sends."""
    if not is_admin() and record["project_id"] != caller_project():
        raise not_found(type_, record["id"], kind)
    return record


def body_of(member: str) -> dict[str, Any]:
    data = faults.json_body()
    inner = data.get(member)
    if not isinstance(inner, dict):
        raise faults.BadRequest(f"Resource body required for '{member}'.", kind="HTTPBadRequest")
    return inner


def target_project(body: dict[str, Any]) -> str:
    """The project a new resource belongs to: the caller's, or another if admin asks."""
    wanted = body.get("project_id") or body.get("tenant_id")
    if wanted and wanted != caller_project():
        if not is_admin():
            raise faults.Forbidden(
                "Specifying 'project_id' or 'tenant_id' other than the authenticated "
                "project in request requires admin privileges",
                kind="HTTPForbidden",
            )
        return str(wanted)
    return caller_project()


def _normal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _split(values: Iterable[str]) -> set[str]:
    return {t for v in values for t in v.split(",") if t}


def matches_tags(tags: Iterable[str], args: Any) -> bool:
    have = set(tags)
    if (want := _split(args.getlist("tags"))) and not want <= have:
        return False
    if (anyof := _split(args.getlist("tags-any"))) and not anyof & have:
        return False
    if (nots := _split(args.getlist("not-tags"))) and nots <= have:
        return False
    return not ((nany := _split(args.getlist("not-tags-any"))) and nany & have)


def filter_views(views: list[dict[str, Any]], args: Any | None = None) -> list[dict[str, Any]]:
    """Neutron's generic filtering: every non-reserved query parameter must match."""
    args = request.args if args is None else args
    out = []
    for view in views:
        if not matches_tags(view.get("tags", []), args):
            continue
        ok = True
        for key in args:
            if key in _RESERVED_ARGS or key in _TAG_ARGS:
                continue
            if key not in view:
                continue  # Neutron ignores unknown filters unless strict; so do we
            wanted = {_normal(v).lower() for v in args.getlist(key)}
            value = view[key]
            if isinstance(value, list):
                # e.g. fixed_ips=ip_address=10.0.0.3 or subnet_id=...
                hay = {f"{k}={_normal(v)}".lower() for item in value for k, v in item.items()}
                hay |= {_normal(item).lower() for item in value if not isinstance(item, dict)}
                if not wanted & hay:
                    ok = False
            elif _normal(value).lower() not in wanted:
                ok = False
            if not ok:
                break
        if ok:
            out.append(view)
    return out


def list_response(collection: str, views: list[dict[str, Any]]) -> Response:
    """Filter, paginate (limit/marker) and cut to `fields`, as a Neutron list body."""
    views = filter_views(views)
    links = []
    marker = request.args.get("marker")
    if marker:
        ids = [v["id"] for v in views]
        views = views[ids.index(marker) + 1 :] if marker in ids else []
    limit = request.args.get("limit", type=int)
    if limit is not None and limit > 0 and len(views) > limit:
        views = views[:limit]
        args = request.args.to_dict(flat=False)
        args["marker"] = [views[-1]["id"]]
        query = "&".join(f"{k}={v}" for k, vals in args.items() for v in vals)
        links.append({"rel": "next", "href": f"{request.base_url}?{query}"})
    body: dict[str, Any] = {collection: [select_fields(v) for v in views]}
    if links:
        body[f"{collection}_links"] = links
    return jsonify(body)


def select_fields(view: dict[str, Any]) -> dict[str, Any]:
    fields = request.args.getlist("fields")
    if not fields:
        return view
    return {k: v for k, v in view.items() if k in fields}


def member_response(member: str, view: dict[str, Any], status: int = 200) -> Response:
    response = jsonify({member: select_fields(view)})
    response.status_code = status
    return response


def empty(status: int = 204) -> Response:
    return Response(status=status)


def store() -> Store:
    return current_store()
