"""From what the user has (openrc file, clouds.yaml entry, OS_* variables) to an AuthSpec.

Secrets are wrapped in `Secret` as soon as they are read, so that no repr, log line
or exception built from these objects can show them. Reading openrc files (without
executing them) is `cloudhp.cloud.openrc`'s job.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import keystoneauth1.exceptions as ks_exc
import openstack.config
import openstack.connection
import openstack.exceptions
from openstack.config import loader as os_loader

from cloudhp.cloud.openrc import SECRET_VARIABLES, VALID_OPENRC_EXAMPLE, parse_openrc
from cloudhp.errors import NotFoundError, UsageError

PASSWORD_AUTH_TYPES = frozenset({"password", "v3password"})
APPCRED_AUTH_TYPES = frozenset({"v3applicationcredential", "applicationcredential"})
_SECRET_WORDS = ("password", "secret", "token", "passcode")

# OS_* variable -> key of the keystoneauth plugin options ("auth") or of the cloud config.
_AUTH_KEYS = {
    "OS_AUTH_URL": "auth_url",
    "OS_USERNAME": "username",
    "OS_USER_ID": "user_id",
    "OS_PASSWORD": "password",
    "OS_PROJECT_NAME": "project_name",
    "OS_TENANT_NAME": "project_name",
    "OS_PROJECT_ID": "project_id",
    "OS_TENANT_ID": "project_id",
    "OS_USER_DOMAIN_NAME": "user_domain_name",
    "OS_USER_DOMAIN_ID": "user_domain_id",
    "OS_PROJECT_DOMAIN_NAME": "project_domain_name",
    "OS_PROJECT_DOMAIN_ID": "project_domain_id",
    "OS_APPLICATION_CREDENTIAL_ID": "application_credential_id",
    "OS_APPLICATION_CREDENTIAL_NAME": "application_credential_name",
    "OS_APPLICATION_CREDENTIAL_SECRET": "application_credential_secret",
}
_INTERFACES = {"publicURL": "public", "internalURL": "internal", "adminURL": "admin"}


class Secret:
    """A string that never shows itself in repr/str; `reveal()` is the only way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('******')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def is_secret_key(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


# --------------------------------------------------------------------------- AuthSpec


@dataclass(frozen=True, repr=False)
class AuthSpec:
    """Everything openstacksdk needs to connect, with secrets wrapped in `Secret`.

    `auth` holds the keystoneauth plugin options (auth_url, username, password,
    project_name, ... or application_credential_*); the other fields are cloud
    config. `source` says where the values came from, for messages.
    """

    auth_type: str
    auth: Mapping[str, str | Secret]
    source: str
    region_name: str | None = None
    interface: str | None = None
    identity_api_version: str | None = None
    verify: bool = True
    cacert: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def connect_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for openstacksdk, secrets revealed; never log them."""
        kwargs: dict[str, Any] = dict(self.extra)
        kwargs["auth_type"] = self.auth_type
        kwargs["auth"] = {
            k: (v.reveal() if isinstance(v, Secret) else v) for k, v in self.auth.items()
        }
        for key in ("region_name", "interface", "identity_api_version", "cacert"):
            if getattr(self, key) is not None:
                kwargs[key] = getattr(self, key)
        kwargs["verify"] = self.verify
        return kwargs

    def public_dict(self) -> dict[str, Any]:
        """The non-secret values, for `--output json` and logs."""
        result: dict[str, Any] = {"source": self.source, "auth_type": self.auth_type}
        result.update({k: v for k, v in self.auth.items() if not isinstance(v, Secret)})
        for key in ("region_name", "interface", "identity_api_version"):
            if getattr(self, key) is not None:
                result[key] = getattr(self, key)
        if not self.verify:
            result["verify"] = False
        return result

    def describe(self) -> str:
        """One line for humans: who, on which project, where, from which source."""
        auth = self.auth
        user = auth.get("username") or auth.get("user_id")
        if self.auth_type in APPCRED_AUTH_TYPES:
            cred = auth.get("application_credential_name") or auth.get("application_credential_id")
            who = f"application credential {cred}" + (f" of user {user}" if user else "")
        else:
            who = f"user {user}"
        project = auth.get("project_name") or auth.get("project_id")
        text = who + (f" on project {project}" if project else "")
        text += f" at {auth.get('auth_url')}"
        if self.region_name:
            text += f" (region {self.region_name})"
        return f"{text}, from {self.source}"

    def __repr__(self) -> str:
        return f"AuthSpec({self.describe()})"

    __str__ = __repr__


def read_secret(prompt: str, stream: TextIO | None = None) -> str:
    """Asks for a secret without echoing it, also when stdin is a pipe.

    `getpass` needs a terminal; cron jobs and CI pipe the password instead, so when
    the stream is not a tty one line is read from it (the prompt goes to stderr so
    that it does not mix with piped output).

    Args:
        prompt: Shown to the user.
        stream: Where to read from; sys.stdin by default.

    Returns:
        The secret without its trailing newline.

    Raises:
        UsageError: If nothing could be read (closed stdin).
    """
    stream = sys.stdin if stream is None else stream
    if stream.isatty():
        try:
            return getpass.getpass(prompt)
        except EOFError:
            value = ""
    else:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        value = stream.readline().rstrip("\r\n")
        sys.stderr.write("\n")  # as getpass does, so the next output starts a new line
    if not value:
        raise UsageError(
            "no password given",
            hint="type it at a terminal, pipe it on stdin, or set OS_PASSWORD; unattended, "
            "use a clouds.yaml entry with an application credential (--os-cloud NAME)",
        )
    return value


def _spec_from_variables(
    variables: Mapping[str, str],
    source: str,
    needs_password: bool,
    environ: Mapping[str, str],
    password_prompt: Callable[[str], str],
) -> AuthSpec:
    """Maps OS_* values to an AuthSpec, asking for the password if it is missing."""
    values = {k: v for k, v in variables.items() if v != ""}
    auth: dict[str, str | Secret] = {}
    for var, key in _AUTH_KEYS.items():
        if var in values and key not in auth:
            value = values[var]
            auth[key] = Secret(value) if var in SECRET_VARIABLES else value
    auth_type = values.get("OS_AUTH_TYPE") or (
        "v3applicationcredential"
        if "application_credential_secret" in auth or "application_credential_id" in auth
        else "password"
    )
    if auth_type in APPCRED_AUTH_TYPES:
        _require(source, auth, ["application_credential_secret"], "an application credential")
        if "application_credential_id" not in auth:
            _require(
                source,
                auth,
                ["application_credential_name", "username|user_id"],
                "an application credential given by name",
            )
        for key in ("password", "project_name", "project_id"):
            auth.pop(key, None)  # the credential carries its own scope
    elif auth_type in PASSWORD_AUTH_TYPES:
        _require(source, auth, ["username|user_id", "project_name|project_id"], "password auth")
        if "password" not in auth or needs_password:
            auth["password"] = _ask_password(auth, environ, password_prompt)
    else:
        raise UsageError(
            f"{source}: OS_AUTH_TYPE {auth_type!r} is not supported",
            hint="use password (the default) or v3applicationcredential",
        )
    insecure = values.get("OS_INSECURE", "").lower() in ("1", "true", "yes")
    return AuthSpec(
        auth_type=auth_type,
        auth=auth,
        source=source,
        region_name=values.get("OS_REGION_NAME"),
        interface=_INTERFACES.get(
            values.get("OS_INTERFACE") or values.get("OS_ENDPOINT_TYPE", ""),
            values.get("OS_INTERFACE") or values.get("OS_ENDPOINT_TYPE"),
        ),
        identity_api_version=values.get("OS_IDENTITY_API_VERSION"),
        verify=not insecure,
        cacert=values.get("OS_CACERT"),
    )


def _ask_password(
    auth: Mapping[str, Any], environ: Mapping[str, str], password_prompt: Callable[[str], str]
) -> Secret:
    """OS_PASSWORD wins over the prompt, so unattended runs (cron, CI) never block."""
    if environ.get("OS_PASSWORD"):
        return Secret(environ["OS_PASSWORD"])
    user = auth.get("username") or auth.get("user_id")
    project = auth.get("project_name") or auth.get("project_id")
    on = f" on project {project}" if project else ""
    return Secret(password_prompt(f"OpenStack password for {user}{on} at {auth.get('auth_url')}: "))


def _require(source: str, auth: Mapping[str, Any], keys: Iterable[str], what: str) -> None:
    reverse: dict[str, str] = {}
    for var, key in _AUTH_KEYS.items():
        reverse.setdefault(key, var)
    for alternatives in keys:
        options = alternatives.split("|")
        if not any(auth.get(k) for k in options):
            names = " or ".join(reverse[k] for k in options)
            raise UsageError(
                f"{source} does not set {names}, which {what} needs",
                hint="a valid openrc looks like:\n" + VALID_OPENRC_EXAMPLE,
            )


def _clouds_config(environ: Mapping[str, str]) -> openstack.config.OpenStackConfig:
    """An OpenStackConfig that honours OS_CLIENT_CONFIG_FILE from `environ`, not os.environ."""
    config_files = list(os_loader.CONFIG_FILES)
    secure_files = list(os_loader.SECURE_FILES)
    if environ.get("OS_CLIENT_CONFIG_FILE"):
        config_files.insert(0, environ["OS_CLIENT_CONFIG_FILE"])
    if environ.get("OS_CLIENT_SECURE_FILE"):
        secure_files.insert(0, environ["OS_CLIENT_SECURE_FILE"])
    return openstack.config.OpenStackConfig(
        config_files=config_files, secure_files=secure_files, load_envvars=False
    )


def _spec_from_cloud(
    cloud: str, environ: Mapping[str, str], password_prompt: Callable[[str], str]
) -> AuthSpec:
    """Lets openstacksdk resolve a clouds.yaml entry (profiles, secure.yaml, regions)."""
    try:
        config = _clouds_config(environ)
        names = config.get_cloud_names()
        if cloud not in names:
            files = ", ".join(dict.fromkeys(config._config_files))
            found = getattr(config, "config_filename", None)
            raise NotFoundError(
                f"cloud {cloud!r} is not defined in clouds.yaml",
                hint=(
                    f"clouds defined in {found}: {', '.join(sorted(names))}"
                    if names and found
                    else f"no clouds.yaml defines any cloud; searched: {files}"
                ),
            )
        region = config.get_one(cloud=cloud)
    except ks_exc.MissingRequiredOptions as exc:
        missing = ", ".join(opt.dest for opt in exc.options)
        raise UsageError(
            f"cloud {cloud!r} in clouds.yaml lacks {missing}",
            hint="add it under clouds: {cloud}: auth: in clouds.yaml",
        ) from None
    except openstack.exceptions.ConfigException as exc:
        raise UsageError(f"cannot use cloud {cloud!r} from clouds.yaml: {exc}") from None
    cfg = dict(region.config)
    auth_type = str(cfg.get("auth_type") or "password")
    auth: dict[str, str | Secret] = {
        k: (Secret(str(v)) if is_secret_key(k) else v)
        for k, v in (cfg.get("auth") or {}).items()
        if v not in (None, "")
    }
    source = f"cloud {cloud!r} of {getattr(config, 'config_filename', 'clouds.yaml')}"
    if auth_type in PASSWORD_AUTH_TYPES and not auth.get("password"):
        auth["password"] = _ask_password(auth, environ, password_prompt)
    verify = cfg.get("verify", True)
    return AuthSpec(
        auth_type=auth_type,
        auth=auth,
        source=source,
        region_name=cfg.get("region_name") or None,
        interface=_str_or_none(cfg.get("interface")),
        identity_api_version=_str_or_none(cfg.get("identity_api_version")),
        verify=bool(verify) if not isinstance(verify, str) else verify.lower() != "false",
        cacert=_str_or_none(cfg.get("cacert")),
    )


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def resolve_auth(
    openrc_path: Path | None,
    os_cloud: str | None,
    environ: Mapping[str, str],
    password_prompt: Callable[[str], str],
) -> AuthSpec:
    """Chooses the credential source and turns it into an AuthSpec.

    Precedence: --openrc, then --os-cloud (or OS_CLOUD), then OS_* variables, so that
    an explicit flag always beats whatever the shell happens to hold.

    Args:
        openrc_path: --openrc, or None.
        os_cloud: --os-cloud, or None.
        environ: The environment (os.environ in the CLI; a dict in tests).
        password_prompt: Asks for the password when the source lacks it and
            OS_PASSWORD is not set; the CLI passes `read_secret`.

    Returns:
        The resolved credentials.

    Raises:
        UsageError: For unreadable or malformed sources, or no source at all.
        NotFoundError: For a missing openrc file or an unknown cloud.
    """
    if openrc_path is not None:
        try:
            text = Path(openrc_path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(
                f"openrc file {str(openrc_path)!r} does not exist",
                hint="download it from Horizon: API Access > Download OpenStack RC File",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read openrc file {str(openrc_path)!r}: {exc}") from None
        rc = parse_openrc(text, source=str(openrc_path))
        return _spec_from_variables(
            rc.variables, str(openrc_path), rc.needs_password, environ, password_prompt
        )
    cloud = os_cloud or (None if environ.get("OS_AUTH_URL") else environ.get("OS_CLOUD"))
    if cloud:
        return _spec_from_cloud(cloud, environ, password_prompt)
    if not environ.get("OS_AUTH_URL"):
        raise UsageError(
            "no OpenStack credentials given",
            hint="pass --openrc FILE (Horizon: API Access > Download OpenStack RC File), "
            "--os-cloud NAME (an entry of clouds.yaml), or set OS_AUTH_URL, OS_USERNAME, "
            "OS_PROJECT_NAME and OS_PASSWORD in the environment",
        )
    variables = {k: v for k, v in environ.items() if k.startswith("OS_")}
    return _spec_from_variables(
        variables, "OS_* environment variables", False, environ, password_prompt
    )
