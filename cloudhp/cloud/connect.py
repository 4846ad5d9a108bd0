"""From an `AuthSpec` to a Connection with cloudhp's request policy, and a token now.

Every cloud request's timeout and retries are set here, in one place; `authenticate`
turns keystoneauth's errors into messages that name the user and the URL and never a
secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import keystoneauth1.exceptions as ks_exc
import openstack.config
import openstack.connection
import openstack.exceptions

from cloudhp import __version__
from cloudhp.cloud.credentials import AuthSpec, is_secret_key
from cloudhp.errors import CloudhpError, EnvironmentProblem, UsageError

# Every cloud request's timeout and retries, in one place: a hung endpoint fails the
# step naming it; dropped or refused connections are retried, and so are the answers
# that say "not now" before the request was acted on (429 Too Many Requests, 502, 503,
# 504), with keystoneauth's exponential backoff, honouring Retry-After. A 500 is not
# retried: the cloud may have acted on the request (a POST retried after it could
# create a second server), and the steps' read-compare-act reruns handle it instead.
API_TIMEOUT = 60
CONNECT_RETRIES = 3
STATUS_CODE_RETRIES = 3
RETRIABLE_STATUS_CODES = (429, 502, 503, 504)


def connect(auth: AuthSpec) -> openstack.connection.Connection:
    """Builds the Connection; nothing goes over the network until it is used.

    The config is built from the AuthSpec alone (no clouds.yaml, no os.environ), so
    that what `resolve_auth` chose is exactly what is used.

    Raises:
        UsageError: If openstacksdk refuses the options (e.g. a missing auth_url).
    """
    try:
        region = openstack.config.OpenStackConfig(
            load_yaml_config=False,
            load_envvars=False,
            app_name="cloudhp",
            app_version=__version__,
        ).get_one(
            **auth.connect_kwargs(),
            api_timeout=API_TIMEOUT,
            connect_retries=CONNECT_RETRIES,
            status_code_retries=STATUS_CODE_RETRIES,
            retriable_status_codes=list(RETRIABLE_STATUS_CODES),
        )
    except ks_exc.MissingRequiredOptions as exc:
        missing = ", ".join(opt.dest for opt in exc.options)
        raise UsageError(f"{auth.source} lacks {missing}") from None
    except (openstack.exceptions.ConfigException, ks_exc.ClientException) as exc:
        raise UsageError(f"cannot use credentials from {auth.source}: {exc}") from None
    return openstack.connection.Connection(config=region)


def _reason(exc: Exception) -> str:
    """The root cause of a connection error ("Connection refused"), not urllib3's essay."""
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    return match.group(1).strip() if match else str(exc)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "******")
    return text


def authenticate(conn: openstack.connection.Connection) -> None:
    """Gets a token now, so bad credentials fail before any work starts.

    keystoneauth's errors name neither the user nor the URL; these messages do, and
    never contain a secret (server text is scrubbed of them too).

    Raises:
        UsageError: Wrong credentials (401), forbidden (403) or a malformed request.
        EnvironmentProblem: The identity service cannot be reached or is not Keystone.
    """
    auth = dict(conn.config.config.get("auth") or {})
    secrets = [str(v) for k, v in auth.items() if is_secret_key(k) and v]
    url = auth.get("auth_url")
    user = auth.get("username") or auth.get("user_id")
    cred = auth.get("application_credential_name") or auth.get("application_credential_id")
    project = auth.get("project_name") or auth.get("project_id")
    who = f"application credential {cred}" if cred else f"user {user}"
    where = (f" on project {project}" if project else "") + f" at {url}"
    try:
        conn.session.get_token()
    except ks_exc.Unauthorized:
        hint = (
            "check OS_APPLICATION_CREDENTIAL_ID and _SECRET; the credential may have "
            "expired or been deleted"
            if cred
            else "check the password, the user domain (OS_USER_DOMAIN_NAME) and that the "
            "user is a member of the project"
        )
        raise UsageError(f"authentication failed for {who}{where}", hint=hint) from None
    except ks_exc.Forbidden as exc:
        raise UsageError(
            f"{who} is not allowed to authenticate{where}: {_scrub(str(exc), secrets)}",
            hint="ask the project's administrator for a role on it",
        ) from None
    except ks_exc.ConnectionError as exc:
        raise EnvironmentProblem(
            f"cannot reach the identity service at {url}: {_scrub(_reason(exc), secrets)}",
            hint="check OS_AUTH_URL and that this machine can reach it (proxy, VPN, firewall)",
        ) from None
    except ks_exc.DiscoveryFailure as exc:
        raise EnvironmentProblem(
            f"no identity service found at {url}: {_scrub(str(exc), secrets)}",
            hint="OS_AUTH_URL should look like https://keystone.example.org:5000/v3",
        ) from None
    except ks_exc.HttpError as exc:
        raise UsageError(
            f"authentication for {who}{where} was refused: {_scrub(str(exc), secrets)}"
        ) from None
    except ks_exc.ClientException as exc:
        raise CloudhpError(
            f"authentication for {who}{where} failed: {_scrub(str(exc), secrets)}"
        ) from None
