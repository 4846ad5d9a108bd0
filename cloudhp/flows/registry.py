"""`cloudhp registry info | login | logout`: the cluster registry from the bastion, for
pushing by hand what `cloudhp deploy` would otherwise build and push itself.

The password never leaves its 0600 file except on a pipe: `info` names the file, and
`login` feeds it to `docker login --password-stdin`. The bastion's engine trusts the
cluster CA the way the nodes' engines do, through /etc/docker/certs.d/<address>/ca.crt
(read per connection, so no engine restart).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cloudhp.commands.registry import PORT, SERVICE, ca_path, login_command, trust_command
from cloudhp.errors import CloudhpError, NotFoundError
from cloudhp.flows.nodes import ClusterNodes
from cloudhp.steps.registry import USERNAME, registry_dir

RunLocal = Callable[[Sequence[str], bytes], subprocess.CompletedProcess[bytes]]


def run_local(argv: Sequence[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    """A command on the bastion with `data` on stdin (never in argv), output captured."""
    return subprocess.run(list(argv), input=data, capture_output=True, check=False)


def registry_address(nodes: ClusterNodes) -> str:
    """The registry runs on the lead manager and publishes its port there."""
    return f"{nodes.lead.private_ip}:{PORT}"


@dataclass(frozen=True)
class RegistryAccess:
    address: str
    repository_prefix: str  # images go to <prefix><project>/<service>:<tag>
    username: str
    password_file: str  # 0600; the password itself is printed nowhere
    ca_file: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def registry_access(nodes: ClusterNodes) -> RegistryAccess:
    """Where the registry is and how to log in to it.

    Raises:
        NotFoundError: the cluster has no registry yet (the first deploy makes it).
    """
    folder = registry_dir(nodes.files.path)
    lead = nodes.runner(nodes.lead)
    running = lead.run(["docker", "service", "ls", "-q", "--filter", f"name={SERVICE}"]).stdout
    if not (folder / "password").is_file() or not (folder / "ca.crt").is_file() or not running:
        raise NotFoundError(
            f"cluster {nodes.files.name} has no registry yet",
            hint="`cloudhp deploy FILE` (or `cloudhp service create`) makes it",
        )
    address = registry_address(nodes)
    return RegistryAccess(
        address=address,
        repository_prefix=f"{address}/",
        username=USERNAME,
        password_file=str(folder / "password"),
        ca_file=str(folder / "ca.crt"),
    )


def _checked(result: subprocess.CompletedProcess[bytes], what: str, hint: str) -> str:
    output = (result.stdout + result.stderr).decode(errors="replace").strip()
    if result.returncode != 0:
        raise CloudhpError(f"{what} failed (exit {result.returncode}): {output}", hint=hint)
    return output


def login_bastion(access: RegistryAccess, run: RunLocal = run_local) -> dict[str, object]:
    """Trust the cluster CA in this machine's engine, then `docker login` (stdin)."""
    trusted = _checked(
        run(trust_command(access.address), Path(access.ca_file).read_bytes()),
        f"installing the registry CA as {ca_path(access.address)}",
        hint="it needs root or passwordless sudo on this machine",
    )
    _checked(
        run(
            login_command(access.address, access.username), Path(access.password_file).read_bytes()
        ),
        f"docker login {access.address}",
        hint=f"is the registry reachable from here? `curl --cacert {access.ca_file} "
        f"https://{access.address}/v2/` should answer 401",
    )
    return {
        "address": access.address,
        "ca_installed": ca_path(access.address),
        "changed": trusted.split()[-1:] == ["changed"],
        "logged_in": True,
    }


def logout_bastion(access: RegistryAccess, run: RunLocal = run_local) -> dict[str, object]:
    """Forget the login and the CA on this machine (the registry itself is untouched)."""
    _checked(run(["docker", "logout", access.address], b""), f"docker logout {access.address}", "")
    target = Path(ca_path(access.address))
    removed = target.exists()
    if removed:
        script = 's=""; [ "$(id -u)" = 0 ] || s="sudo -n"; $s rm -rf "$1"'
        _checked(run(["sh", "-c", script, "sh", str(target.parent)], b""), f"removing {target}", "")
    return {"address": access.address, "changed": removed, "logged_in": False}
