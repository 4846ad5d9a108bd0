"""Containers that behave like cloud VMs: sshd, a Docker engine and cloud-init inside.

Used by the Swarm demo, the tests and localcloud's compute service. A node container
is started with every capability but CAP_SYS_RESOURCE (which this kind of host does not
grant, so `--privileged` fails), seccomp and AppArmor unconfined, a private cgroup
namespace (node-init remounts it read-write for the nested dockerd) and its own volume
for /var/lib/docker, so the nested engine can use overlay2. It boots from a NoCloud seed
written into the container before it starts, like a config drive.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field

import docker
import docker.errors
import yaml
from docker.models.containers import Container

from cloudhp.errors import WaitTimeout
from cloudhp.polling import poll

SEED_DIR = "var/lib/cloud/seed/nocloud"
OWNER_LABEL = "cloudhp.owner"


@dataclass
class NodeSpec:
    name: str
    image: str
    network: str
    ip: str | None = None
    hostname: str | None = None
    user_data: str | None = None
    public_keys: list[str] = field(default_factory=list)
    instance_id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None
    memory_mb: int | None = None
    docker_volume: str | None = None  # defaults to "<name>-docker"
    mac_address: str | None = None  # on `network` (a port's MAC, for localcloud)
    # More networks as (network, ip or None), connected before the first start so the
    # node boots with every interface, like a VM with several ports.
    extra_networks: list[tuple[str, str | None]] = field(default_factory=list)

    def seed_files(self) -> dict[str, bytes]:
        meta: dict[str, object] = {
            "instance-id": self.instance_id or self.name,
            "local-hostname": self.hostname or self.name,
        }
        if self.public_keys:
            meta["public-keys"] = list(self.public_keys)
        files = {"meta-data": yaml.safe_dump(meta).encode(), "vendor-data": b""}
        files["user-data"] = (self.user_data or "#cloud-config\n{}\n").encode()
        return files


def seed_archive(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        path = ""
        for part in SEED_DIR.split("/"):
            path = f"{path}/{part}" if path else part
            info = tarfile.TarInfo(path)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(f"{SEED_DIR}/{name}")
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def create_node(client: docker.DockerClient, spec: NodeSpec) -> Container:
    """Create, seed and start a node container; returns once the container runs."""
    volume = spec.docker_volume or f"{spec.name}-docker"
    try:
        client.volumes.get(volume)
    except docker.errors.NotFound:
        client.volumes.create(volume, labels=spec.labels)
    networking = client.api.create_networking_config(
        {spec.network: client.api.create_endpoint_config(ipv4_address=spec.ip)}
    )
    host_config = client.api.create_host_config(
        cap_add=["ALL"],
        cap_drop=["SYS_RESOURCE"],
        security_opt=["seccomp=unconfined", "apparmor=unconfined"],
        devices=["/dev/fuse:/dev/fuse:rwm"],
        # Loop devices (major 7) may be handed in later as attached volumes.
        device_cgroup_rules=["b 7:* rwm"],
        cgroupns="private",
        tmpfs={"/run": "", "/tmp": ""},
        binds={volume: {"bind": "/var/lib/docker", "mode": "rw"}},
        init=True,
        nano_cpus=int(spec.cpus * 1e9) if spec.cpus else None,
        mem_limit=f"{spec.memory_mb}m" if spec.memory_mb else None,
        network_mode=spec.network,
    )
    # What `--security-opt systempaths=unconfined` does: /proc and /sys unmasked.
    host_config["MaskedPaths"] = []
    host_config["ReadonlyPaths"] = []
    created = client.api.create_container(
        spec.image,
        name=spec.name,
        hostname=spec.hostname or spec.name,
        labels=spec.labels,
        host_config=host_config,
        networking_config=networking,
        mac_address=spec.mac_address,
    )
    container = client.containers.get(created["Id"])
    for extra, extra_ip in spec.extra_networks:
        client.api.connect_container_to_network(container.id, extra, ipv4_address=extra_ip)
    container.put_archive("/", seed_archive(spec.seed_files()))
    container.start()
    return container


def node_ip(container: Container, network: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def wait_for_boot(container: Container, timeout: float = 120.0) -> str:
    """Wait until node-init reports the boot complete; returns the console log."""

    def booted() -> str | None:
        log = container.logs().decode(errors="replace")
        if "node-init: boot complete" in log:
            return log
        container.reload()
        if container.status not in ("created", "running"):
            raise WaitTimeout(f"node {container.name} stopped while booting:\n{log[-2000:]}")
        return None

    log = poll(
        booted,
        lambda log: log is not None,
        timeout=timeout,
        interval=0.3,
        what=f"node {container.name} booting",
    )
    return log or ""


def remove_node(client: docker.DockerClient, name: str) -> bool:
    """Remove a node container and its engine volume; False when already gone."""
    removed = False
    try:
        client.containers.get(name).remove(force=True, v=True)
        removed = True
    except docker.errors.NotFound:
        pass
    try:
        client.volumes.get(f"{name}-docker").remove(force=True)
        removed = True
    except docker.errors.NotFound:
        pass
    return removed


def create_network(
    client: docker.DockerClient, name: str, labels: dict[str, str], prefix: str = "172.30"
) -> tuple[str, str]:
    """Create a bridge network on the first free /24 under `prefix`; returns (name, cidr).

    Fixed IPs need a user-defined network with a known subnet; overlapping another
    network's subnet would make the engine refuse it, so used subnets are skipped.
    """
    used = set()
    for net in client.networks.list():
        for conf in (net.attrs.get("IPAM") or {}).get("Config") or []:
            if conf.get("Subnet"):
                used.add(conf["Subnet"])
    for third in range(0, 256):
        cidr = f"{prefix}.{third}.0/24"
        if cidr in used:
            continue
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=cidr)])
        try:
            client.networks.create(name, driver="bridge", ipam=ipam, labels=labels)
        except docker.errors.APIError as exc:
            if "overlap" in str(exc).lower():
                continue
            raise
        return name, cidr
    raise docker.errors.APIError(f"no free /24 left under {prefix}.0.0/16")


def remove_labelled(client: docker.DockerClient, label: str) -> int:
    """Remove every container, volume and network carrying `label` (key or key=value)."""
    count = 0
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True, v=True)
        count += 1
    for volume in client.volumes.list(filters={"label": label}):
        volume.remove(force=True)
        count += 1
    for network in client.networks.list(filters={"label": label}):
        network.remove()
        count += 1
    return count
