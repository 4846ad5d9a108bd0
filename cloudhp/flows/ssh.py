"""`cloudhp ssh`: the OpenSSH command line for a node, with the cluster's key and pins.

The interactive session is the system `ssh` (a terminal is its job); it is pointed at the
cluster's key and known_hosts with StrictHostKeyChecking, so a changed host key refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

from cloudhp.errors import NotFoundError


def ssh_argv(workdir: Path, node: str, command: list[str]) -> list[str]:
    record_path = workdir / "cluster.json"
    if not record_path.exists():
        raise NotFoundError(
            f"no cluster record in {workdir}",
            hint="run `cloudhp init` for this cluster from this machine first",
        )
    record = json.loads(record_path.read_text())
    nodes = {n["name"]: n for n in record["nodes"]}
    short = {n["name"].removeprefix(record["cluster"] + "-"): n for n in record["nodes"]}
    found = nodes.get(node) or short.get(node)
    if found is None:
        raise NotFoundError(
            f"no node {node!r} in cluster {record['cluster']}",
            hint=f"nodes: {', '.join(sorted(short))}",
        )
    return [
        "ssh",
        "-i", str(workdir / "id_ed25519"),
        "-o", f"UserKnownHostsFile={workdir / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes" if command else "BatchMode=no",
        f"{record['ssh_user']}@{found['private_ip']}",
        *command,
    ]  # fmt: skip
