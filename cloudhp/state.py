"""The bastion's cluster directory: the one reader and writer of its files.

    $CLOUDHP_HOME (default ~/.local/share/cloudhp)/
      current                 the name of the current cluster
      clusters/<name>/        0700
        id_ed25519            the cluster's private key (0600, never leaves the bastion)
        known_hosts           host keys pinned from the nodes' console logs, each line
                              naming its server (`cloudhp-server=<id>`); writers lock
                              known_hosts.lock
        cluster.json          nodes, addresses, the SSH user, how to authenticate (no secret)

The cloud is the source of truth; these files hold only what must stay on the bastion
and what lets the next command default to the cluster the last one worked on. Every
file is written 0600 through a temporary file renamed into place, so a killed run never
leaves half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudhp.errors import EnvironmentProblem, NotFoundError
from cloudhp.keys import write_private
from cloudhp.naming import validate_cluster_name

RECORD = "cluster.json"
KEY = "id_ed25519"
KNOWN_HOSTS = "known_hosts"
CURRENT = "current"


def cloudhp_home() -> Path:
    """`$CLOUDHP_HOME`, else ~/.local/share/cloudhp."""
    return Path(os.environ.get("CLOUDHP_HOME") or Path.home() / ".local/share/cloudhp")


@dataclass(frozen=True)
class ClusterFiles:
    """Where one cluster's files are; `cluster_files` validates the name first."""

    name: str
    path: Path

    @property
    def key_path(self) -> Path:
        return self.path / KEY

    @property
    def known_hosts_path(self) -> Path:
        return self.path / KNOWN_HOSTS

    @property
    def record_path(self) -> Path:
        return self.path / RECORD

    def create(self) -> ClusterFiles:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.path, 0o700)
        return self

    def read_record(self) -> dict[str, Any]:
        """The record, or {} when none was written (a cluster made elsewhere).

        Raises:
            EnvironmentProblem: the file is not a JSON object (edited by hand: cloudhp
                writes it atomically); `cloudhp init` writes it again from the cloud.
        """
        if not self.record_path.exists():
            return {}
        try:
            data = json.loads(self.record_path.read_text())
        except ValueError as exc:
            data = exc
        if not isinstance(data, dict):
            raise EnvironmentProblem(
                f"{self.record_path} is damaged: it is not a JSON object ({data})",
                hint=f"`cloudhp init --name {self.name}` (with the cluster's credentials) "
                "writes it again from what the cloud holds",
            )
        return data

    def update_record(self, **values: Any) -> dict[str, Any]:
        """Merges `values` into the record: init writes it piece by piece as it goes (and
        so starts afresh over a damaged one: what it writes comes from the cloud)."""
        try:
            previous = self.read_record()
        except EnvironmentProblem:
            previous = {}
        record = previous | {"cluster": self.name} | values
        self.create()
        write_private(self.record_path, json.dumps(record, indent=2, sort_keys=True).encode())
        return record


def cluster_files(name: str) -> ClusterFiles:
    """The files of cluster `name` (a valid cluster name, so never a path like ../x)."""
    validate_cluster_name(name)
    return ClusterFiles(name, cloudhp_home() / "clusters" / name)


def cluster_dir(name: str) -> Path:
    """The cluster's directory, created 0700."""
    return cluster_files(name).create().path


def set_current(name: str) -> None:
    validate_cluster_name(name)
    home = cloudhp_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(home / CURRENT, (name + "\n").encode())


def current() -> str | None:
    path = cloudhp_home() / CURRENT
    if not path.exists():
        return None
    name = path.read_text().strip()
    return name or None


def known_clusters() -> list[str]:
    """Clusters with a directory on this bastion, by name."""
    root = cloudhp_home() / "clusters"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def resolve_name(name: str | None) -> str:
    """The cluster a command acts on: the one named, else the current one."""
    if name:
        validate_cluster_name(name)
        return name
    found = current()
    if found is None:
        raise NotFoundError(
            "no cluster named and no current cluster on this machine",
            hint="pass --name NAME, run `cloudhp init`, or pick one with `cloudhp use NAME`",
        )
    return found


def use(name: str) -> ClusterFiles:
    """Makes `name` the current cluster; it must be known here."""
    files = cluster_files(name)
    if not files.path.is_dir():
        known = ", ".join(known_clusters()) or "none"
        raise NotFoundError(
            f"no cluster {name!r} on this machine (known: {known})",
            hint="`cloudhp clusters` lists them; `cloudhp init --name NAME` creates one",
        )
    set_current(name)
    return files
