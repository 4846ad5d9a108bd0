"""Keystone roles: create, list, show, update, delete; the implied-role rules (read).

Keystone's default roles are seeded as `keystone-manage bootstrap` leaves them:
admin, member and reader, immutable, admin implying member and member implying
reader, so a token of a member carries reader too and the other services' policies
need to name only the least role they require (auth.py). The rules are read-only
here. An immutable role is 403 to update or delete until an update sets its
`immutable` option to false, as in Keystone.

Policy: the admin role (on any project) manages and reads roles; project members
get Keystone's 403 (its defaults give roles to system readers only). Deleting a role
removes its assignments and rules and revokes the tokens that carry it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from cloudhp_localcloud import faults
from cloudhp_localcloud.identity.common import (
    ASSIGNMENT,
    IMPLIED_ROLE,
    ROLE,
    bp,
    checked,
    filters,
    fixed,
    get_or_fail,
    links,
    member_body,
    require_admin,
    require_name,
    revoke_tokens,
    role_view,
    self_link,
)
from cloudhp_localcloud.store import Record, Store, current_store

DEFAULT_ROLES = ("admin", "member", "reader")
DEFAULT_RULES = (("admin", "member"), ("member", "reader"))
NAME_MAX = 255
_IMMUTABLE = "immutable"


def ensure_default_roles(store: Store) -> dict[str, str]:
    """The default roles and rules, made where missing; returns role name -> id.

    Run at every start, as `keystone-manage bootstrap` runs on every deploy, so a
    state seeded before the rules existed gets them; a role whose `immutable` option
    an admin has set either way keeps it.
    """
    ids = {}
    with store.transaction():
        for name in DEFAULT_ROLES:
            found = store.list(ROLE, name=name)
            if not found:
                role = store.insert(
                    ROLE, {"domain_id": None, "options": {_IMMUTABLE: True}}, name=name
                )
            elif _IMMUTABLE not in (options := found[0].get("options") or {}):
                role = store.update(
                    ROLE, found[0]["id"], {"options": {**options, _IMMUTABLE: True}}
                )
            else:
                role = found[0]
            ids[name] = role["id"]
        for prior, implied in DEFAULT_RULES:
            rule = {"prior_role_id": ids[prior], "implied_role_id": ids[implied]}
            if not store.list(IMPLIED_ROLE, **rule):
                store.insert(IMPLIED_ROLE, rule)
    return ids


def _unique_name(store: Store, name: str, role_id: str | None = None) -> None:
    if [r for r in store.list(ROLE, name=name) if r["id"] != role_id]:
        raise faults.Conflict(
            f"Conflict occurred attempting to store role - Duplicate entry found with name {name}."
        )


def _immutable(role: Record) -> bool:
    return bool((role.get("options") or {}).get(_IMMUTABLE))


def _unsets_immutable(spec: dict[str, Any]) -> bool:
    """Keystone lets through to an immutable role only an update of that option to false."""
    options = spec.get("options")
    return (
        list(spec) == ["options"]
        and isinstance(options, dict)
        and _IMMUTABLE in options
        and options[_IMMUTABLE] in (False, None)
    )


def _immutable_fault(verb: str, role_id: str) -> faults.Forbidden:
    return faults.Forbidden(
        f"Unable to {verb} immutable role resource: `{role_id}. "
        'Set resource option "immutable" to false first.'
    )


@bp.get("/v3/roles")
def list_roles() -> Response:
    require_admin("list_roles")
    found = current_store().list(ROLE, **filters("name"))
    return jsonify({"roles": [role_view(r) for r in found], "links": links("roles")})


@bp.get("/v3/roles/<role_id>")
def get_role(role_id: str) -> Response:
    require_admin("get_role")
    return jsonify({"role": role_view(get_or_fail(current_store(), ROLE, role_id))})


def _options(spec: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """`current` options updated by the body's; a null value unsets one, as in Keystone."""
    options: dict[str, Any] = checked(spec, "options", dict)
    if set(options) - {_IMMUTABLE} or not isinstance(options.get(_IMMUTABLE), bool | None):
        raise faults.BadRequest("Invalid input for field 'options': only 'immutable' (a boolean).")
    return {k: v for k, v in {**current, **options}.items() if v is not None}


@bp.post("/v3/roles")
def create_role() -> tuple[Response, int]:
    require_admin("create_role")
    spec = member_body(ROLE)
    name = require_name(spec, ROLE, NAME_MAX)
    if spec.get("domain_id") is not None:
        raise faults.BadRequest("localcloud has global roles only: domain_id must be null.")
    doc: Record = {"domain_id": None, "options": {}}
    if "description" in spec:
        doc["description"] = checked(spec, "description", str, nullable=True)
    if "options" in spec:
        doc["options"] = _options(spec, {})
    store = current_store()
    with store.transaction():
        _unique_name(store, name)
        role = store.insert(ROLE, doc, name=name)
    return jsonify({"role": role_view(role)}), 201


@bp.patch("/v3/roles/<role_id>")
def update_role(role_id: str) -> Response:
    require_admin("update_role")
    spec = member_body(ROLE)
    store = current_store()
    with store.transaction():
        role = get_or_fail(store, ROLE, role_id)
        if _immutable(role) and not _unsets_immutable(spec):
            raise _immutable_fault("update", role_id)
        fixed(spec, role, ("id", "domain_id"))
        changes: Record = {}
        if "name" in spec:
            changes["name"] = require_name(spec, ROLE, NAME_MAX)
            _unique_name(store, changes["name"], role_id)
            revoke_tokens(store, role_id=role_id)  # they carry the old name
        if "description" in spec:
            changes["description"] = checked(spec, "description", str, nullable=True)
        if "options" in spec:
            changes["options"] = _options(spec, role.get("options") or {})
        role = store.update(ROLE, role_id, changes)
    return jsonify({"role": role_view(role)})


@bp.delete("/v3/roles/<role_id>")
def delete_role(role_id: str) -> tuple[str, int]:
    require_admin("delete_role")
    store = current_store()
    with store.transaction():
        role = get_or_fail(store, ROLE, role_id)
        if _immutable(role):
            raise _immutable_fault("delete", role_id)
        for grant in store.list(ASSIGNMENT, role_id=role_id):
            store.delete(ASSIGNMENT, grant["id"])
        for key in ("prior_role_id", "implied_role_id"):
            for rule in store.list(IMPLIED_ROLE, **{key: role_id}):
                store.delete(IMPLIED_ROLE, rule["id"])
        revoke_tokens(store, role_id=role_id)
        store.delete(ROLE, role_id)
    return "", 204


# --- implied roles (read-only) ----------------------------------------------------------


def _role_ref(store: Store, role_id: str) -> Record:
    role = get_or_fail(store, ROLE, role_id)
    return {"id": role["id"], "name": role["name"], "links": self_link(f"roles/{role['id']}")}


def _implied_by(store: Store, prior_id: str) -> list[Record]:
    rules = store.list(IMPLIED_ROLE, prior_role_id=prior_id)
    return [_role_ref(store, r["implied_role_id"]) for r in rules]


@bp.get("/v3/role_inferences")
def list_role_inferences() -> Response:
    require_admin("list_role_inference_rules")
    store = current_store()
    priors = dict.fromkeys(r["prior_role_id"] for r in store.list(IMPLIED_ROLE))
    inferences = [
        {"prior_role": _role_ref(store, p), "implies": _implied_by(store, p)} for p in priors
    ]
    return jsonify({"role_inferences": inferences, "links": links("role_inferences")})


@bp.get("/v3/roles/<prior_id>/implies")
def list_implied_roles(prior_id: str) -> Response:
    require_admin("list_implied_roles")
    store = current_store()
    inference = {"prior_role": _role_ref(store, prior_id), "implies": _implied_by(store, prior_id)}
    return jsonify({"role_inference": inference, "links": links(f"roles/{prior_id}/implies")})


@bp.get("/v3/roles/<prior_id>/implies/<implied_id>")
def get_implied_role(prior_id: str, implied_id: str) -> Response:
    require_admin("get_implied_role")
    store = current_store()
    if not store.list(IMPLIED_ROLE, prior_role_id=prior_id, implied_role_id=implied_id):
        raise faults.NotFound(f"{prior_id} does not imply {implied_id}.")
    inference = {"prior_role": _role_ref(store, prior_id), "implies": _role_ref(store, implied_id)}
    return jsonify({"role_inference": inference})
