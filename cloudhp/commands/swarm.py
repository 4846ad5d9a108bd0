"""The `docker swarm`, `docker node` and `docker network` command lines cloudhp runs.

Pure functions, so each argv is compared exactly in tests; the steps that decide when
to run them are `cloudhp.steps.swarm`.
"""

from __future__ import annotations

# Swarm overlays get addresses from here, away from the 10.x ranges that clouds (and
# localcloud) commonly give private networks.
DEFAULT_ADDR_POOL = "10.240.0.0/16"


def init_command(advertise_addr: str, addr_pool: str = DEFAULT_ADDR_POOL) -> list[str]:
    return [
        "docker", "swarm", "init",
        "--advertise-addr", advertise_addr,
        "--listen-addr", f"{advertise_addr}:2377",
        "--default-addr-pool", addr_pool,
    ]  # fmt: skip


def join_command(token: str, manager_addr: str, advertise_addr: str) -> list[str]:
    return [
        "docker", "swarm", "join",
        "--advertise-addr", advertise_addr,
        "--listen-addr", f"{advertise_addr}:2377",
        "--token", token,
        f"{manager_addr}:2377",
    ]  # fmt: skip


def label_command(node_id: str, labels: dict[str, str]) -> list[str]:
    args = ["docker", "node", "update"]
    for key, value in sorted(labels.items()):
        args += ["--label-add", f"{key}={value}"]
    return [*args, node_id]


def overlay_command(name: str, encrypted: bool) -> list[str]:
    args = ["docker", "network", "create", "--driver", "overlay", "--attachable"]
    if encrypted:
        args += ["--opt", "encrypted"]
    return [*args, name]


def rotate_token_command(role: str) -> list[str]:
    if role not in ("worker", "manager"):
        raise ValueError(f"no join token for role {role!r}")
    return ["docker", "swarm", "join-token", "--rotate", "-q", role]


def demote_command(node_id: str) -> list[str]:
    return ["docker", "node", "demote", node_id]


def remove_node_command(node_id: str) -> list[str]:
    """--force: the node is dead, so it cannot leave the Swarm itself first."""
    return ["docker", "node", "rm", "--force", node_id]
