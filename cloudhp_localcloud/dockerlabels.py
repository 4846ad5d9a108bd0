"""Labels on the Docker objects a localcloud makes, so each instance knows its own.

Several localclouds can share one Docker engine (yours and the test suite's, say).
Every container, volume, image and network carries the instance label, a hash of the
data directory, so `reset` removes exactly what that instance made. The public bridge
(lc-public) is shared by all instances and is left in place.
One localcloud serves per process; `bind` is called when its app is created.

A server's container name and labels are here too: compute makes the container, and
network and volume reach into it (connect, mknod), so all three use these.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

LABEL = "cloudhp.localcloud"
INSTANCE_LABEL = "cloudhp.localcloud.instance"
_instance = {"id": "unbound"}


def instance_id(data_dir: Path) -> str:
    return hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]


def bind(data_dir: Path) -> None:
    _instance["id"] = instance_id(data_dir)


def labels(kind: str, **extra: str) -> dict[str, str]:
    """`{cloudhp.localcloud: kind, ...instance..., cloudhp.localcloud.<key>: value}`."""
    return {
        LABEL: kind,
        INSTANCE_LABEL: _instance["id"],
        **{f"{LABEL}.{key}": value for key, value in extra.items()},
    }


def instance_filter(data_dir: Path) -> str:
    return f"{INSTANCE_LABEL}={instance_id(data_dir)}"


def server_container(server_id: str) -> str:
    """The container behind a Nova server: "lc-server-<server id>"."""
    return f"lc-server-{server_id}"


def server_labels(server_id: str) -> dict[str, str]:
    return labels("server", server=server_id)
