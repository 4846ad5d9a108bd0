"""Tokens and secrets, and the gate every service request passes.

app.py installs `require_project_token` as a before_request hook for every registered
blueprint (`require_token`, which also admits unscoped tokens, for a service with
`Service.unscoped_tokens`: Keystone); a view opts out with `@public` (version
documents, POST /auth/tokens).
On success service code finds the caller in `flask.g`:

    g.caller      Caller (user, project, roles, token expiry, application credential)
    g.project_id  the token's project id (str; None only in Keystone's views)
    g.user_id     the token's user id (str)
    g.is_admin    True when the token carries the "admin" role

Roles: `require_project_token` is also where every project service's default policy
is read, once: Keystone's default roles, as their policies name them. A token with
`reader` on its project may GET (list, show); POST, PUT, PATCH and DELETE need
`member` or `admin`; a token with none of the three gets 403 for everything, in the
service's own fault style. Keystone puts implied roles in the token (admin implies
member implies reader), so a member's token passes as a reader too. Finer rules
(owner-only, admin-only) stay in the views.

A missing, unknown or expired X-Auth-Token is a 401 in Keystone's shape for every
service, with `WWW-Authenticate: Keystone uri=...`: that is what keystonemiddleware,
which guards the real services, sends (not the service's own fault style). So is a
request that the access rules of the token's application credential do not allow
(access_rules.py), checked before any role.

Secrets: passwords and application credential secrets are kept as scrypt hashes;
tokens are random 256-bit strings kept as SHA-256 digests (a slow hash buys nothing
for a random secret of that size). Neither is ever logged or put in an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import current_app, g, request

from cloudhp_localcloud import access_rules, faults
from cloudhp_localcloud.catalog import registered_services
from cloudhp_localcloud.config import current_config
from cloudhp_localcloud.store import Store, current_store

TOKEN = "token"
APP_CRED = "application_credential"  # identity/appcreds.py keeps them
WRITER_ROLES = frozenset({"admin", "member"})
READER_ROLES = WRITER_ROLES | {"reader"}
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_ISO_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return "scrypt${}${}${}${}${}".format(
        _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"], _b64(salt), _b64(digest)
    )


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(got, _unb64(digest))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_ISO_MICRO)


def parse_time(text: str) -> datetime:
    """ISO 8601 with or without fraction/"Z" (clients send both forms for expires_at)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the token says; what service code authorises against."""

    user_id: str
    project_id: str | None
    roles: tuple[dict[str, str], ...]
    methods: tuple[str, ...]
    expires_at: str
    issued_at: str
    audit_id: str
    application_credential: dict[str, Any] | None = None
    token_digest: str = field(default="", repr=False)

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(r["name"] for r in self.roles)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.role_names


def issue_token(
    store: Store,
    *,
    user_id: str,
    project_id: str | None,
    roles: list[dict[str, str]],
    methods: list[str],
    lifetime: int,
    application_credential: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, Caller]:
    """A new token; returns the secret (give it to the client, once) and its Caller.

    Expired tokens are purged here so the table stays small without a reaper thread.
    """
    now = datetime.now(UTC)
    expiry = now + timedelta(seconds=lifetime)
    if expires_at is not None:
        expiry = min(expiry, expires_at)
    token = "lc" + secrets.token_urlsafe(32)
    digest = token_digest(token)
    doc = {
        "user_id": user_id,
        "roles": roles,
        "methods": methods,
        "issued_at": format_time(now),
        "expires_at": format_time(expiry),
        "audit_id": _b64(secrets.token_bytes(16)),
        "application_credential": application_credential,
    }
    with store.transaction():
        purge_expired(store, now)
        store.insert(TOKEN, doc, id=digest, project_id=project_id)
    return token, _caller(digest, project_id, doc)


def purge_expired(store: Store, now: datetime | None = None) -> int:
    cutoff = format_time(now or datetime.now(UTC))
    gone = 0
    for record in store.list(TOKEN):
        if record["expires_at"] <= cutoff:
            gone += store.delete(TOKEN, record["id"])
    return gone


def validate_token(store: Store, token: str | None, now: datetime | None = None) -> Caller:
    """The Caller of a live token.

    Raises:
        faults.Unauthorized: missing, unknown (revoked) or expired token.
    """
    if not token:
        raise faults.Unauthorized("The request you have made requires authentication.")
    record = store.get(TOKEN, token_digest(token))
    if record is None or record["expires_at"] <= format_time(now or datetime.now(UTC)):
        raise faults.Unauthorized("The request you have made requires authentication.")
    return _caller(record["id"], record["project_id"], record)


def revoke_token(store: Store, token: str) -> bool:
    return store.delete(TOKEN, token_digest(token))


def _caller(digest: str, project_id: str | None, doc: dict[str, Any]) -> Caller:
    return Caller(
        user_id=doc["user_id"],
        project_id=project_id,
        roles=tuple(doc["roles"]),
        methods=tuple(doc["methods"]),
        expires_at=doc["expires_at"],
        issued_at=doc["issued_at"],
        audit_id=doc["audit_id"],
        application_credential=doc.get("application_credential"),
        token_digest=digest,
    )


def public(view: F) -> F:
    """Mark a view as reachable without a token."""
    view._localcloud_public = True  # type: ignore[attr-defined]
    return view


def require_token() -> None:
    """before_request hook: authenticate X-Auth-Token unless the view is public."""
    _authenticate()


def require_project_token() -> None:
    """before_request hook of every service but Keystone: a project-scoped token whose
    roles allow the method (see "Roles" above).

    Service code reads `g.project_id` as "the caller's project", and `store.list(type,
    None)` means every project: an unscoped token must not get that far. Real services
    refuse it the same way: keystonemiddleware lets it through, their project-scoped
    policies then answer 403.
    """
    caller = _authenticate()
    if caller is None:
        return
    if caller.project_id is None:
        raise faults.Forbidden(
            "This request needs a project-scoped token, and this token has no project: "
            "ask Keystone for one with a project scope (POST /v3/auth/tokens)."
        )
    needed = READER_ROLES if request.method in READ_METHODS else WRITER_ROLES
    if not needed & set(caller.role_names):
        least = "reader" if needed is READER_ROLES else "member"
        held = ", ".join(caller.role_names) or "none"
        raise faults.Forbidden(
            f"Policy doesn't allow {request.method} {request.path} to be performed: it needs "
            f"the {least} role on the project, and this token's roles there are: {held}."
        )


def _check_access_rules(store: Store, caller: Caller) -> None:
    """401, as keystonemiddleware answers, for a request its credential's access rules
    do not name (see access_rules.py). The rules are read from the credential, which
    outlives none of its tokens: deleting it revokes them."""
    credential = caller.application_credential
    if not credential:
        return
    record = store.get(APP_CRED, credential["id"])
    rules = (record or {}).get("access_rules") or []
    service = next(
        (s.types[0] for s in registered_services() if s.blueprint.name == request.blueprint), ""
    )
    if not access_rules.allows(rules, service, request.method, request.path):
        log.info(
            "application credential %s: no access rule allows %s %s on %s",
            credential["id"], request.method, request.path, service,
        )  # fmt: skip
        raise faults.Unauthorized("The request you have made requires authentication.")


def _authenticate() -> Caller | None:
    """The caller, also in `flask.g`; None for a public view."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or getattr(view, "_localcloud_public", False):
        return None
    try:
        caller = validate_token(current_store(), request.headers.get("X-Auth-Token"))
        _check_access_rules(current_store(), caller)
    except faults.Unauthorized as exc:
        exc.headers["WWW-Authenticate"] = f'Keystone uri="{current_config().auth_url}"'
        exc.style = faults.KEYSTONE
        raise
    g.caller = caller
    g.project_id = caller.project_id
    g.user_id = caller.user_id
    g.is_admin = caller.is_admin
    return caller
