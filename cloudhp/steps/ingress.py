"""The ingress: HAProxy as a Swarm service on the ingress node(s), on a floating IP.

HAProxy publishes port 80 in host mode on nodes labelled `cloudhp.ingress=true` (this
machine's kernel has no IPVS, and the ingress needs no routing mesh anyway: it finds
services' tasks through Swarm DNS). Its configuration is a Swarm config whose name
carries a hash of its content, so an unchanged config is a no-op.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from cloudhp.commands.haproxy import SERVICE, config_name, haproxy_config, service_command
from cloudhp.context import ClusterContext
from cloudhp.errors import WaitTimeout
from cloudhp.remote.ssh import SSHRunner
from cloudhp.steps.servers import Node


def ensure_ingress_service(manager: SSHRunner, image: str, cluster: str, network: str) -> bool:
    """Run HAProxy with the current config; False when it already runs exactly that."""
    text = haproxy_config(cluster)
    config = config_name(text)
    configs = manager.run(["docker", "config", "ls", "--format", "{{.Name}}"]).stdout.split()
    if config not in configs:
        manager.run_with_input(["docker", "config", "create", config, "-"], [text.encode()])
    found = manager.run(
        ["docker", "service", "inspect", "--format", "{{json .Spec}}", SERVICE], check=False
    )
    if found.exited == 0:
        spec = json.loads(found.stdout)
        task = spec["TaskTemplate"]["ContainerSpec"]
        current_configs = [c["ConfigName"] for c in task.get("Configs", [])]
        if task["Image"].split("@")[0] == image and current_configs == [config]:
            return False
        manager.run(["docker", "service", "rm", SERVICE])
    manager.run(service_command(image, config, network))
    return True


def ensure_floating_ip(ctx: ClusterContext, node: Node) -> tuple[str, bool]:
    """One tagged floating IP on the ingress node's port; returns (address, changed)."""
    net = ctx.conn.network
    res = ctx.need_resolved()
    ports = list(net.ports(device_id=node.server_id, network_id=res.network_id))
    if not ports:
        raise WaitTimeout(f"server {node.name} has no port on {res.network_name} yet")
    port = ports[0]
    tagged = [f for f in net.ips(tags=ctx.tag) if f.description == node.name or not f.description]
    changed = False
    if tagged:
        fip = tagged[0]
    else:
        # The tag goes in the POST so that a run killed right here leaks nothing.
        fip = net.create_ip(
            floating_network_id=res.external_network_id, description=node.name, tags=[ctx.tag]
        )
        if ctx.tag not in (fip.tags or []):
            net.set_tags(fip, [ctx.tag])
        changed = True
    if fip.port_id != port.id:
        fip = net.update_ip(fip, port_id=port.id)
        changed = True
    return str(fip.floating_ip_address), changed


def wait_for_http(url: str, timeout: float = 120.0) -> str:
    """Wait until `url` answers 200; returns the body."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(1)
    raise WaitTimeout(f"{url} did not answer within {timeout:.0f}s: {last}")
