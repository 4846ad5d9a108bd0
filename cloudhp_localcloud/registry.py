"""The services localcloud runs, declared once: what starts, in what order, and what
`localcloud reset` removes, in what order.

`SERVICES` is the startup order: create_app mounts the blueprints, runs each
service's `startup` (identity seeds the projects the others' seeds need) and lists
them in every token's catalog in this order. `RESET_ORDER` is the order `reset`
(daemon.py) runs their `reset` in, after the daemon stopped and before the state is
deleted:

    compute   server containers, their engine volumes, snapshot images: first, since
              a server holds device nodes of loop devices and sits on the bridges
    volume    loop devices, then the volume files
    network   this instance's Docker bridges (lc-public stays, it is shared)

A service with a `reset` must be in RESET_ORDER (tests/unit/localcloud checks it). No
service module registers itself anywhere: adding a service is a line here.
"""

from __future__ import annotations

from collections.abc import Callable

from cloudhp_localcloud import compute, identity, image, network, orchestration, volume
from cloudhp_localcloud.catalog import Service
from cloudhp_localcloud.config import LocalCloudConfig

# Only services that really work belong here: the catalog advertises each of them.
SERVICES: tuple[Service, ...] = (
    identity.SERVICE,
    network.SERVICE,
    volume.SERVICE,
    compute.SERVICE,
    image.SERVICE,
    orchestration.SERVICE,
)

RESET_ORDER: tuple[Service, ...] = (
    compute.SERVICE,
    volume.SERVICE,
    network.SERVICE,
)


def reset_hooks() -> list[Callable[[LocalCloudConfig], None]]:
    """Every service's reset, in RESET_ORDER."""
    return [service.reset for service in RESET_ORDER if service.reset is not None]
