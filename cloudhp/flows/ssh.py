"""`cloudhp ssh`: the OpenSSH command line for a node, with the cluster's key and pins.

The interactive session is the system `ssh` (a terminal is its job); it is pointed at the
cluster's key and known_hosts with StrictHostKeyChecking, so a changed host key refuses.
"""

from __future__ import annotations

from cloudhp.errors import NotFoundError
from cloudhp.state import ClusterFiles


def ssh_argv(files: ClusterFiles, node: str, command: list[str]) -> list[str]:
    record = files.read_record()
    if not record.get("nodes"):
        raise NotFoundError(
            f"no nodes recorded for cluster {files.name} in {files.path}",
            hint="run `cloudhp init` for this cluster from this machine first",
        )
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
        "-i", str(files.key_path),
        "-o", f"UserKnownHostsFile={files.known_hosts_path}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes" if command else "BatchMode=no",
        f"{record.get('ssh_user', 'debian')}@{found['private_ip']}",
        *command,
    ]  # fmt: skip
