"""`cloudhp status`: what the cloud and the Swarm say about a cluster, side by side.

The Swarm's side comes from the lead manager over SSH; a lead at an address not pinned
from its own server's console (a new or replaced server) is pinned from it first, as
init does, and is not asked anything if its keys do not show up.
"""

from __future__ import annotations

from typing import Any

from openstack.connection import Connection

from cloudhp.cloud.calls import cloud_call
from cloudhp.errors import CloudhpError
from cloudhp.naming import cluster_tag
from cloudhp.remote.hostkeys import KnownHosts, ServerAddress, pin_from_consoles
from cloudhp.remote.runner import docker_json_lines
from cloudhp.remote.ssh import SSHRunner
from cloudhp.state import ClusterFiles
from cloudhp.steps.servers import floating_ip

CONSOLE_WAIT = 30.0
"""status reports the cloud's view at once, so it waits only briefly for a new lead's
keys (init waits for minutes); the Swarm columns are then left out, with the reason."""


def cluster_status(
    conn: Connection, files: ClusterFiles, console_wait: float = CONSOLE_WAIT
) -> dict[str, Any]:
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
    managers = [
        (s, n)
        for s, n in zip(servers, nodes, strict=True)
        if n["role"] == "manager" and n["status"] == "ACTIVE" and n["private_ip"]
    ]
    if managers and files.key_path.exists():
        server, lead = managers[0]
        known = KnownHosts(files.known_hosts_path)
        runner = SSHRunner(
            lead["private_ip"], record.get("ssh_user", "debian"), files.key_path, known
        )

        def read_console(server_id: str) -> str:
            with cloud_call(f"reading the console of server {server_id}"):
                return conn.compute.get_server_console_output(server_id)["output"] or ""

        try:
            pin_from_consoles(
                known,
                [ServerAddress(server.name, server.id, lead["private_ip"])],
                read_console,
                timeout=console_wait,
            )
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
