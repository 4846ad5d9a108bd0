"""The cluster's application credential: what unattended commands authenticate with.

A scheduled teardown (or any job without a person at the keyboard) must not need the
user's password stored somewhere. init creates an application credential named
`cloudhp-<cluster>` in the cluster's project, for the user that ran init, and keeps it
as a clouds.yaml entry (0600, written atomically) in the cluster directory; its secret
is in no argv, log line or error. It is unrestricted because the teardown that uses it
must be able to delete it, last (Keystone lets a restricted credential manage no
credential, itself included); where Keystone has access rules (v3.13+) it is also
limited by them to the calls the unattended commands make (`cloudhp.steps.access_rules`:
the two are independent, and together they are the least that works). It can do no
more in the project than the user who made it, and it dies with the cluster. A
credential whose rules are not the ones this cloud's endpoints need (made before, or
the endpoints moved) is replaced. A run authenticated with an application credential
cannot create another one: then nothing is made, and unattended commands use the
credentials they are given.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import yaml

from cloudhp.cloud.calls import cloud_call
from cloudhp.expiry import format_time
from cloudhp.keys import write_private
from cloudhp.naming import cluster_tag
from cloudhp.progress import Reporter
from cloudhp.steps.access_rules import same_rules, wanted_rules

FILE = "clouds.yaml"
GRACE = datetime.timedelta(days=1)


def credential_name(cluster: str) -> str:
    return f"cloudhp-{cluster}"


def credential_path(cluster_dir: Path) -> Path:
    return cluster_dir / FILE


def clouds_yaml(conn: Any, cluster: str, credential_id: str, secret: str) -> str:
    """The clouds.yaml text holding the credential, as openstacksdk reads it."""
    entry = {
        "auth_type": "v3applicationcredential",
        "auth": {
            "auth_url": conn.config.auth["auth_url"],
            "application_credential_id": credential_id,
            "application_credential_secret": secret,
        },
        "identity_api_version": 3,
        "interface": conn.config.interface or "public",
    }
    if conn.config.region_name:
        entry["region_name"] = conn.config.region_name
    return yaml.safe_dump({"clouds": {credential_name(cluster): entry}}, sort_keys=True)


def saved_credential_id(path: Path) -> str | None:
    """The id in the cluster's clouds.yaml, or None when there is no usable one."""
    try:
        doc = yaml.safe_load(path.read_text())
        (entry,) = doc["clouds"].values()
        return str(entry["auth"]["application_credential_id"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


def _ours(conn: Any, cluster: str) -> list[Any]:
    """This user's credentials named for the cluster and marked with its tag."""
    found = conn.identity.application_credentials(
        user=conn.current_user_id, name=credential_name(cluster)
    )
    return [c for c in found if cluster_tag(cluster) in (c.description or "")]


def uses_application_credential(conn: Any) -> bool:
    return str(conn.config.config.get("auth_type", "")).endswith("applicationcredential")


def own_cluster(conn: Any) -> str | None:
    """The cluster whose credential `conn` authenticates with, or None.

    A sweep run on one cluster's credential must tear that cluster down last: its
    teardown deletes the credential, and every call after it would be refused.
    """
    if not uses_application_credential(conn):
        return None
    own_id = conn.config.auth.get("application_credential_id")
    with cloud_call("looking up this run's application credential"):
        found = conn.identity.application_credentials(user=conn.current_user_id)
        name = next((str(c.name) for c in found if c.id == own_id), "")
    prefix = credential_name("")
    return name[len(prefix) :] if name.startswith(prefix) else None


def ensure_app_credential(
    conn: Any,
    cluster: str,
    cluster_dir: Path,
    reporter: Reporter,
    expires_at: datetime.datetime | None = None,
) -> bool:
    """The credential in Keystone and in the cluster's clouds.yaml; False when both were.

    It expires with the cluster (`expires_at`, from `init --ttl`) plus a day, so that a
    late sweep can still tear the cluster down with it. One that exists without its
    saved secret (the file lost), or with other access rules than this cloud's
    endpoints need, is deleted and made again.
    """
    if uses_application_credential(conn):
        reporter.step("authenticated with an application credential: none is made")
        return False
    path = credential_path(cluster_dir)
    saved = saved_credential_id(path)
    with cloud_call(f"looking up application credential {credential_name(cluster)}"):
        existing = _ours(conn, cluster)
        rules = wanted_rules(conn)
    if saved is not None and any(
        c.id == saved and same_rules(c.access_rules, rules or []) for c in existing
    ):
        return False
    limits = {"access_rules": rules} if rules else {}
    with cloud_call(f"making application credential {credential_name(cluster)}"):
        for stale in existing:
            conn.identity.delete_application_credential(conn.current_user_id, stale)
        made = conn.identity.create_application_credential(
            user=conn.current_user_id,
            name=credential_name(cluster),
            description=f"unattended cloudhp commands for {cluster_tag(cluster)}",
            unrestricted=True,
            expires_at=format_time(expires_at + GRACE) if expires_at else None,
            **limits,
        )
    write_private(path, clouds_yaml(conn, cluster, made.id, made.secret).encode())
    reporter.step(f"application credential {credential_name(cluster)} kept in {path}")
    if rules is None:
        reporter.step(
            "this cloud's Keystone predates access rules (identity API v3.13): the "
            "credential can do whatever you can in the project until it is deleted"
        )
    else:
        reporter.step(f"it is limited by {len(rules)} access rules to unattended commands' calls")
    return True


def delete_app_credential(conn: Any, cluster: str, cluster_dir: Path | None) -> bool:
    """Delete the credential (last: it may be what this connection uses) and its file."""
    with cloud_call(f"deleting application credential {credential_name(cluster)}"):
        found = _ours(conn, cluster)
        for credential in found:
            conn.identity.delete_application_credential(conn.current_user_id, credential)
    if cluster_dir is not None:
        credential_path(cluster_dir).unlink(missing_ok=True)
    return bool(found)
