"""`cloudhp registry info | login | logout`: the cluster registry from the bastion, for
pushing by hand what `cloudhp deploy` would otherwise build and push itself.

The password never leaves its 0600 file except on a pipe: `info` names the file, and
`login` feeds it to `docker login --password-stdin`. The bastion reaches the registry
the way the nodes do: by its name, through the same managed /etc/hosts line pointing
at the node that holds the registry's volume (`login` writes it, `logout` removes it,
and a move of the volume rewrites it where it exists), and its engine trusts the
cluster CA through /etc/docker/certs.d/<address>/ca.crt (read per connection, so no
engine restart). One name everywhere, rather than the holder's IP in the certificate:
an IP would change the certificate, the registry's secrets and the bastion's certs.d
at every move.

This module also keeps every node's hosts line right when the volume moves
(`point_registry`, called by `cloudhp volume move` and the failover controller).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cloudhp.apps.model import BlockVolume
from cloudhp.commands import registry as cmd
from cloudhp.commands.registry import SERVICE, ca_path, hosts_command, login_command, trust_command
from cloudhp.errors import CloudhpError, ConflictError, NotFoundError
from cloudhp.flows.nodes import ClusterNodes, RecordedNode
from cloudhp.progress import Reporter
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.ssh import UNREACHABLE
from cloudhp.steps.registry import USERNAME, point_host, registry_dir
from cloudhp.steps.volumes import labelled_nodes

RunLocal = Callable[[Sequence[str], bytes], subprocess.CompletedProcess[bytes]]


def run_local(argv: Sequence[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    """A command on the bastion with `data` on stdin (never in argv), output captured."""
    return subprocess.run(list(argv), input=data, capture_output=True, check=False)


def registry_address(nodes: ClusterNodes) -> str:
    """`<name>:5000`: the name each node's hosts line points at the volume's holder."""
    return cmd.address(nodes.files.name)


def registry_volume() -> BlockVolume:
    """The registry's storage, made and adopted like any service's volume."""
    return BlockVolume(cmd.VOLUME_PROJECT, cmd.VOLUME_NAME, cmd.VOLUME_SIZE_GB)


def registry_holder(nodes: ClusterNodes) -> RecordedNode | None:
    """The node carrying the registry volume's placement label (where its task runs),
    or None before the first deploy made the volume."""
    held = labelled_nodes(nodes.runner(nodes.lead), cmd.VOLUME)
    return next((n for n in nodes.nodes if n.name in held), None)


def point_registry(
    nodes: ClusterNodes,
    holder: RecordedNode,
    reporter: Reporter,
    bastion_hosts: Path = Path(cmd.HOSTS_FILE),
    run: RunLocal = run_local,
) -> list[str]:
    """Every reachable node's hosts line (and this machine's, where `login` wrote one)
    names `holder` as the registry; returns the nodes that did not answer.

    Called once the registry's volume is placed on `holder` (Swarm starts the registry
    there); a node that is down now gets its line from the next init, scale or repair.
    """
    name = cmd.hostname(nodes.files.name)

    def point(node: RecordedNode) -> str | None:
        try:
            point_host(nodes.runner(node), name, holder.private_ip)
        except UNREACHABLE:
            return node.name
        return None

    missed = [n for n in in_parallel(point, nodes.nodes) if n is not None]
    if _names(bastion_hosts, name):
        _checked(
            run(hosts_command(name, holder.private_ip, str(bastion_hosts)), b""),
            f"pointing {name} at {holder.private_ip} in this machine's {bastion_hosts}",
            hint="it needs root or passwordless sudo on this machine",
        )
    reporter.step(
        f"registry {name} now at {holder.name} ({holder.private_ip})"
        + (f"; not reached: {', '.join(missed)}" if missed else "")
    )
    return missed


def _names(hosts: Path, name: str) -> bool:
    """Whether the hosts file names the registry (on the bastion, `login` wrote it)."""
    try:
        text = hosts.read_text()
    except OSError:
        return False
    return any(line.split()[1:2] == [name] for line in text.splitlines())


@dataclass(frozen=True)
class RegistryAccess:
    address: str
    repository_prefix: str  # images go to <prefix><project>/<service>:<tag>
    username: str
    password_file: str  # 0600; the password itself is printed nowhere
    ca_file: str
    node: str  # the node holding the registry's volume, where its task runs
    node_ip: str  # what the name stands for in the hosts line `login` writes

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def registry_access(nodes: ClusterNodes) -> RegistryAccess:
    """Where the registry is and how to log in to it.

    Raises:
        NotFoundError: the cluster has no registry yet (the first deploy makes it).
        ConflictError: it has one, but no node holds its volume now (a move under way).
    """
    folder = registry_dir(nodes.files.path)
    lead = nodes.runner(nodes.lead)
    running = lead.run(["docker", "service", "ls", "-q", "--filter", f"name={SERVICE}"]).stdout
    files = (folder / "password").is_file() and (folder / "ca.crt").is_file()
    if not files or not running:
        raise NotFoundError(
            f"cluster {nodes.files.name} has no registry yet",
            hint="`cloudhp deploy FILE` (or `cloudhp service create`) makes it",
        )
    holder = registry_holder(nodes)
    if holder is None:
        raise ConflictError(
            f"no node of cluster {nodes.files.name} holds the registry's volume "
            f"{cmd.VOLUME} now: it is being moved",
            hint="`cloudhp volumes` shows where the move is; try again once it is mounted",
        )
    address = registry_address(nodes)
    return RegistryAccess(
        address=address,
        repository_prefix=f"{address}/",
        username=USERNAME,
        password_file=str(folder / "password"),
        ca_file=str(folder / "ca.crt"),
        node=holder.name,
        node_ip=holder.private_ip,
    )


def _checked(result: subprocess.CompletedProcess[bytes], what: str, hint: str) -> str:
    output = (result.stdout + result.stderr).decode(errors="replace").strip()
    if result.returncode != 0:
        raise CloudhpError(f"{what} failed (exit {result.returncode}): {output}", hint=hint)
    return output


def login_bastion(access: RegistryAccess, run: RunLocal = run_local) -> dict[str, object]:
    """Point the registry's name at its node in this machine's hosts file, trust the
    cluster CA in its engine, then `docker login` (password on stdin)."""
    name = access.address.rsplit(":", 1)[0]
    pointed = _checked(
        run(hosts_command(name, access.node_ip), b""),
        f"pointing {name} at {access.node_ip} in {cmd.HOSTS_FILE}",
        hint="it needs root or passwordless sudo on this machine",
    )
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
        "hosts_line": cmd.hosts_line(name, access.node_ip),
        "changed": "changed" in (trusted.split()[-1:] + pointed.split()[-1:]),
        "logged_in": True,
    }


def logout_bastion(access: RegistryAccess, run: RunLocal = run_local) -> dict[str, object]:
    """Forget the login, the CA and the hosts line on this machine (the registry itself
    is untouched)."""
    _checked(run(["docker", "logout", access.address], b""), f"docker logout {access.address}", "")
    name = access.address.rsplit(":", 1)[0]
    unpointed = _checked(
        run(hosts_command(name, None), b""), f"removing {name} from {cmd.HOSTS_FILE}", ""
    )
    target = Path(ca_path(access.address))
    removed = target.exists()
    if removed:
        script = 's=""; [ "$(id -u)" = 0 ] || s="sudo -n"; $s rm -rf "$1"'
        _checked(run(["sh", "-c", script, "sh", str(target.parent)], b""), f"removing {target}", "")
    changed = removed or unpointed.split()[-1:] == ["changed"]
    return {"address": access.address, "changed": changed, "logged_in": False}
