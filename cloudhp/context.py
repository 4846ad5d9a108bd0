"""What every step of `cloudhp init` works with: the cloud, the spec and the local files.

Steps are plain functions taking a `ClusterContext`, so they run the same from the CLI,
from tests and from other programs. The cloud is the source of truth (every resource is
found by name and by the tag `cloudhp-cluster=<name>`); the cluster directory holds only
what must stay on the bastion: the private key and the pinned known_hosts.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from openstack.connection import Connection

from cloudhp.clusterspec import ClusterSpec
from cloudhp.expiry import expiry_tag
from cloudhp.naming import cluster_tag
from cloudhp.progress import Reporter
from cloudhp.state import ClusterFiles


@dataclass(frozen=True)
class Resolved:
    """Preflight's answer: the cloud objects the spec's names stand for."""

    flavor_id: str
    flavor_vcpus: int
    flavor_ram_mb: int
    image_id: str
    network_id: str
    network_name: str
    subnet_id: str
    subnet_cidr: str
    external_network_id: str
    external_network_name: str
    bastion_address: str  # this machine's address as seen from the private network


@dataclass
class ClusterContext:
    conn: Connection
    spec: ClusterSpec
    workdir: Path
    reporter: Reporter
    resolved: Resolved | None = None
    facts: dict[str, object] = field(default_factory=dict)
    auth: dict[str, str] = field(default_factory=dict)  # how to authenticate again; no secret
    expires_at: datetime.datetime | None = None  # `init --ttl`: sweep tears it down then

    @property
    def tag(self) -> str:
        return cluster_tag(self.spec.name)

    @property
    def tags(self) -> list[str]:
        """What every resource made for the cluster carries: its tag and its expiry."""
        return [self.tag] + ([expiry_tag(self.expires_at)] if self.expires_at else [])

    @property
    def files(self) -> ClusterFiles:
        return ClusterFiles(self.spec.name, self.workdir)

    @property
    def key_path(self) -> Path:
        return self.files.key_path

    @property
    def known_hosts_path(self) -> Path:
        return self.files.known_hosts_path

    def need_resolved(self) -> Resolved:
        if self.resolved is None:
            raise RuntimeError("preflight must run before this step")
        return self.resolved
