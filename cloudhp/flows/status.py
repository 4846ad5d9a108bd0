"""`cloudhp status`: what the cloud and the Swarm say about a cluster, side by side."""

from __future__ import annotations

from typing import Any

from openstack.connection import Connection

from cloudhp.cloud.calls import cloud_call
from cloudhp.errors import CloudhpError
from cloudhp.naming import cluster_tag
from cloudhp.remote.hostkeys import KnownHosts
from cloudhp.remote.runner import docker_json_lines
from cloudhp.remote.ssh import SSHRunner
from cloudhp.state import ClusterFiles
from cloudhp.steps.servers import floating_ip


def cluster_status(conn: Connection, files: ClusterFiles) -> dict[str, Any]:
    name = files.name
    tag = cluster_tag(name)
    with cloud_call("listing the cluster's servers and floating IPs"):
        servers = sorted(conn.compute.servers(details=True, tags=tag), key=lambda s: s.name)
        fips = list(conn.network.ips(tags=tag))
    record = files.read_record()
    nodes: list[dict[str, Any]] = []
    for s in servers:
        fixed = [
            a["addr"]
            for addrs in (s.addresses or {}).values()
            for a in addrs
            if a.get("OS-EXT-IPS:type", "fixed") == "fixed"
        ]
        nodes.append(
            {
                "name": s.name,
                "status": s.status,
                "role": (s.metadata or {}).get("cloudhp-role"),
                "private_ip": fixed[0] if fixed else None,
                "floating_ip": floating_ip(s),
            }
        )
    result: dict[str, Any] = {
        "cluster": name,
        "nodes": nodes,
        "ingress_url": f"http://{fips[0].floating_ip_address}/" if fips else None,
        "networks": [],
        "swarm_error": None,
    }
    managers = [n for n in nodes if n["role"] == "manager" and n["status"] == "ACTIVE"]
    if managers and files.key_path.exists():
        runner = SSHRunner(
            managers[0]["private_ip"],
            record.get("ssh_user", "debian"),
            files.key_path,
            KnownHosts(files.known_hosts_path),
        )
        try:
            swarm_nodes = {
                n["Hostname"]: n
                for n in docker_json_lines(runner, ["node", "ls", "--format", "{{json .}}"])
            }
            for n in nodes:
                sn = swarm_nodes.get(n["name"])
                if sn:
                    n["swarm_role"] = "manager" if sn.get("ManagerStatus") else "worker"
                    n["swarm_state"] = sn.get("Status")
                    n["availability"] = sn.get("Availability")
                    n["manager_status"] = sn.get("ManagerStatus") or None
            out = runner.run(
                ["docker", "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}"]
            ).stdout
            result["networks"] = [n for n in out.split() if n != "ingress"]
        except (CloudhpError, OSError) as exc:
            result["swarm_error"] = str(exc)
        finally:
            runner.close()
    return result
