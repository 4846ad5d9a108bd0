"""A cluster's nodes as the commands after init reach them: from the bastion's record,
over SSH with the cluster's key and pinned host keys, no cloud credentials needed.

`deploy`, `services`, `logs`, `scale`, `rollback` and `rm` talk only to the Swarm, so
they work from a cron job or a script that has the cluster directory and nothing else.
Without the cloud they cannot pin a key: a node whose address holds another server's
pins is refused, naming both, rather than reported as a changed host key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from cloudhp.errors import HostKeyUnpinned, NotFoundError
from cloudhp.remote.hostkeys import KnownHosts
from cloudhp.remote.ssh import SSHRunner
from cloudhp.state import ClusterFiles


@dataclass(frozen=True)
class RecordedNode:
    name: str
    role: str
    private_ip: str
    ingress: bool
    server_id: str
    floating_ip: str | None = None


@dataclass
class ClusterNodes:
    """The recorded nodes and one SSH runner per node, opened on first use."""

    files: ClusterFiles
    nodes: list[RecordedNode]
    ssh_user: str
    networks: list[str] = field(default_factory=list)
    _runners: dict[str, SSHRunner] = field(default_factory=dict)

    @property
    def lead(self) -> RecordedNode:
        return next(n for n in self.nodes if n.role == "manager")

    @property
    def ingress_nodes(self) -> list[RecordedNode]:
        return [n for n in self.nodes if n.ingress]

    @property
    def ingress_network(self) -> str:
        """The overlay HAProxy is on (init's first network): routed services join it."""
        return self.networks[0] if self.networks else "proxy"

    @property
    def ingress_address(self) -> str:
        for node in self.ingress_nodes:
            if node.floating_ip:
                return node.floating_ip
        return self.ingress_nodes[0].private_ip

    def runner(self, node: RecordedNode) -> SSHRunner:
        if node.name not in self._runners:
            known = KnownHosts(self.files.known_hosts_path)
            pinned = known.pinned_server(node.private_ip)
            if pinned is not None and pinned != node.server_id:
                raise HostKeyUnpinned(
                    f"{node.name} ({node.private_ip}) is server {node.server_id}, but the "
                    f"host keys pinned for {node.private_ip} came from server {pinned}",
                    hint="`cloudhp init` pins the new server's keys from its console log",
                )
            self._runners[node.name] = SSHRunner(
                node.private_ip, self.ssh_user, self.files.key_path, known
            )
        return self._runners[node.name]

    def close(self) -> None:
        for runner in self._runners.values():
            runner.close()


def recorded_nodes(files: ClusterFiles) -> list[RecordedNode]:
    record = files.read_record()
    nodes = [
        RecordedNode(
            name=str(n["name"]),
            role=str(n["role"]),
            private_ip=str(n["private_ip"]),
            ingress=bool(n.get("ingress")),
            server_id=str(n["server_id"]),
            floating_ip=n.get("floating_ip") or None,
        )
        for n in record.get("nodes") or []
        if n.get("private_ip")
    ]
    if not any(n.role == "manager" for n in nodes) or not any(n.ingress for n in nodes):
        raise NotFoundError(
            f"cluster {files.name} has no recorded manager and ingress node in {files.path}",
            hint="run `cloudhp init` for this cluster from this machine (it records its nodes)",
        )
    return nodes


@contextmanager
def open_nodes(files: ClusterFiles) -> Iterator[ClusterNodes]:
    record = files.read_record()
    nodes = ClusterNodes(
        files,
        recorded_nodes(files),
        str(record.get("ssh_user") or "debian"),
        [str(n) for n in record.get("networks") or []],
    )
    try:
        yield nodes
    finally:
        nodes.close()
