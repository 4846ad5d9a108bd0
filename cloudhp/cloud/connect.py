"""From an `AuthSpec` to a Connection with cloudhp's request policy, and a token now.

Every cloud request's timeout and retries are set here, in one place; `authenticate`
turns keystoneauth's errors into messages that name the user and the URL and never a
secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import keystoneauth1.exceptions as ks_exc
import openstack.config
import openstack.connection
import openstack.exceptions
from keystoneauth1 import session as ks_session
from urllib3.util.retry import Retry

from cloudhp import __version__
from cloudhp.cloud.credentials import AuthSpec, is_secret_key
from cloudhp.errors import CloudhpError, CloudUnavailable, EnvironmentProblem, UsageError

# Every cloud request's timeout and retries, in one place: a hung endpoint fails the
# step naming it. A request is sent again only when the cloud cannot have acted on it:
# a refused connection or a connect timeout (any method); a read timeout or a dropped
# connection only for an idempotent method (a POST that timed out may have made a
# server, and sending it again a second one); and the answers that say "not now"
# before acting (429 Too Many Requests, 502, 503, 504), with exponential backoff,
# honouring Retry-After. A 500 is not retried: the cloud may have acted on the request,
# and the steps' read-compare-act reruns handle it instead.
API_TIMEOUT = 60
CONNECT_RETRIES = 3
STATUS_CODE_RETRIES = 3
RETRIABLE_STATUS_CODES = (429, 502, 503, 504)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class PolicySession(ks_session.Session):
    """A keystoneauth Session that applies the policy to every request it sends.

    openstacksdk's adapters pass retry counts with each service request, but
    keystoneauth sends token requests and version discovery through the session with
    none: one 429 or 503 on a token request failed authentication as if the password
    were wrong; one on discovery was swallowed, and the request went out at the
    service's base microversion (Nova 2.1: a server create with tags is refused, and a
    real Nova ignores a tags filter and lists every server of the project). Here every
    request gets the status retries.

    Transport errors are retried below keystoneauth, by urllib3, because keystoneauth
    counts a read timeout as a connection failure and sends even a POST again (a slow
    create became four security groups); urllib3 tells a failure to connect, which
    nothing reached, from one after the request was sent, retried only when idempotent.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        transport = Retry(
            total=CONNECT_RETRIES,
            connect=CONNECT_RETRIES,
            read=CONNECT_RETRIES,
            other=0,
            allowed_methods=IDEMPOTENT_METHODS,
            backoff_factor=0.5,
            respect_retry_after_header=False,  # answers are keystoneauth's to retry
        )
        for adapter in self.session.adapters.values():
            adapter.max_retries = transport  # type: ignore[attr-defined]

    def request(self, url: str, method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("status_code_retries", STATUS_CODE_RETRIES)
        kwargs.setdefault("retriable_status_codes", list(RETRIABLE_STATUS_CODES))
        kwargs["connect_retries"] = 0  # the transport does them, knowing what was sent
        return super().request(url, method, **kwargs)


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
            connect_retries=CONNECT_RETRIES,  # done by PolicySession's transport, see there
            status_code_retries=STATUS_CODE_RETRIES,
            retriable_status_codes=list(RETRIABLE_STATUS_CODES),
        )
    except ks_exc.MissingRequiredOptions as exc:
        missing = ", ".join(opt.dest for opt in exc.options)
        raise UsageError(f"{auth.source} lacks {missing}") from None
    except (openstack.exceptions.ConfigException, ks_exc.ClientException) as exc:
        raise UsageError(f"cannot use credentials from {auth.source}: {exc}") from None
    region.set_session_constructor(PolicySession)
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
        if exc.http_status in RETRIABLE_STATUS_CODES:
            raise CloudUnavailable(
                f"authentication for {who}{where} failed: the identity service answered "
                f"{exc.http_status} after retries: {_scrub(str(exc), secrets)}",
                hint="the cloud is overloaded or down for a moment; run the command again",
            ) from None
        raise UsageError(
            f"authentication for {who}{where} was refused: {_scrub(str(exc), secrets)}"
        ) from None
    except ks_exc.ClientException as exc:
        raise CloudhpError(
            f"authentication for {who}{where} failed: {_scrub(str(exc), secrets)}"
        ) from None
