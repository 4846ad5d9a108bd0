"""How the Heat engine acts as the stack owner for the whole life of a stack.

Real Heat creates a Keystone trust at stack create. localcloud's Keystone has
application credentials instead, so at stack create the API, still holding the
caller's token, asks the identity API for an application credential of the caller
("heat-stack-<stack id>", the caller's roles on the project, no expiry) and the engine
authenticates with it for every call, as long as the stack lives, whatever the
lifetime of the token that created it. The credential is *unrestricted* only so that
the engine can delete it with its own token when the stack is deleted (Keystone
forbids a restricted credential to manage credentials); that privilege never leaves
the server.

Where it is kept: in the server-side store only (type "heat_credential", one per
stack, never rendered by the API, never logged), its secret encrypted with Fernet
under a key in the data dir (`heat.key`, mode 0600), so a copy of state.db alone does
not give the credential away.

Fallback: a token that cannot create credentials (one issued for a restricted
application credential) is kept instead, encrypted the same way; the stack can then
be acted on only until that token expires (12 h by default), which is written in the
stack's credential record and in the README.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet, InvalidToken
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from cloudhp_localcloud.store import Record, Store

log = logging.getLogger(__name__)

CREDENTIAL = "heat_credential"
KEY_FILE = "heat.key"
HTTP_TIMEOUT = 30


class Keyring:
    """Fernet encryption under a per-data-dir key, created on first use."""

    def __init__(self, data_dir: Path) -> None:
        path = data_dir / KEY_FILE
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        self._fernet = Fernet(path.read_bytes().strip())

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("stored secret cannot be decrypted (heat.key changed?)") from None


def find(store: Store, stack_id: str) -> Record | None:
    """The stack's stored credential document (store ids are global: not the stack id)."""
    found = store.list(CREDENTIAL, stack_id=stack_id)
    return found[0] if found else None


class CredentialError(Exception):
    """The identity API refused to give Heat a way to act as the stack owner."""


def obtain(
    keyring: Keyring,
    auth_url: str,
    token: str,
    *,
    user_id: str,
    project_id: str,
    stack_id: str,
    token_expires_at: str,
) -> dict[str, Any]:
    """The credential document to store for a new stack (secrets encrypted)."""
    url = f"{auth_url.rstrip('/')}/v3/users/{user_id}/application_credentials"
    body: dict[str, Any] = {
        "application_credential": {
            "name": f"heat-stack-{stack_id}",
            "description": f"Heat acts as the owner of stack {stack_id} with it.",
            "unrestricted": True,
        }
    }
    resp = requests.post(
        url,
        json=body,
        headers={"X-Auth-Token": token, "Accept": "application/json"},
        timeout=HTTP_TIMEOUT,
    )
    if resp.status_code == 201:
        cred = resp.json()["application_credential"]
        return {
            "kind": "application_credential",
            "stack_id": stack_id,
            "credential_id": cred["id"],
            "secret": keyring.encrypt(cred["secret"]),
            "user_id": user_id,
            "project_id": project_id,
        }
    if resp.status_code == 403:
        log.info("stack %s: caller cannot create credentials; keeping its token", stack_id)
        return {
            "kind": "token",
            "stack_id": stack_id,
            "token": keyring.encrypt(token),
            "expires_at": token_expires_at,
            "user_id": user_id,
            "project_id": project_id,
        }
    raise CredentialError(
        f"Could not obtain a credential for the stack from the identity service "
        f"(HTTP {resp.status_code})."
    )


def session(keyring: Keyring, auth_url: str, cred: dict[str, Any]) -> ks_session.Session:
    """A keystoneauth session that authenticates as the stack owner."""
    plugin: Any
    if cred["kind"] == "application_credential":
        plugin = v3.ApplicationCredential(
            auth_url=auth_url,
            application_credential_id=cred["credential_id"],
            application_credential_secret=keyring.decrypt(cred["secret"]),
        )
    else:
        plugin = v3.Token(
            auth_url=auth_url,
            token=keyring.decrypt(cred["token"]),
            project_id=cred["project_id"],
        )
    return ks_session.Session(auth=plugin)


def release(keyring: Keyring, auth_url: str, cred: dict[str, Any]) -> None:
    """Delete the stack's application credential (nothing to do for a kept token).

    Authenticates with the credential itself: it is the only authority Heat holds
    for a user who may be offline by now.
    """
    if cred["kind"] != "application_credential":
        return
    sess = session(keyring, auth_url, cred)
    try:
        token = sess.get_token() or ""
    except Exception:  # already gone or user disabled: nothing left to delete with
        log.info("stack credential %s no longer authenticates", cred["credential_id"])
        return
    url = (
        f"{auth_url.rstrip('/')}/v3/users/{cred['user_id']}/application_credentials/"
        f"{cred['credential_id']}"
    )
    resp = requests.delete(url, headers={"X-Auth-Token": token}, timeout=HTTP_TIMEOUT)
    if resp.status_code not in (204, 404):
        raise CredentialError(
            f"Could not delete the stack's application credential (HTTP {resp.status_code})."
        )
