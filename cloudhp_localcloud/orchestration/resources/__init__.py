"""The resource types localcloud's Heat knows, by their Heat type name.

One module per type; `REGISTRY` is the only list to extend when adding one.
"""

from __future__ import annotations

from cloudhp_localcloud.orchestration.resources.base import Resource
from cloudhp_localcloud.orchestration.resources.floating_ip import FloatingIP
from cloudhp_localcloud.orchestration.resources.keypair import KeyPair
from cloudhp_localcloud.orchestration.resources.port import Port
from cloudhp_localcloud.orchestration.resources.security_group import SecurityGroup
from cloudhp_localcloud.orchestration.resources.server import Server
from cloudhp_localcloud.orchestration.resources.volume import Volume
from cloudhp_localcloud.orchestration.resources.volume_attachment import VolumeAttachment
from cloudhp_localcloud.orchestration.resources.waitcondition import (
    WaitCondition,
    WaitConditionHandle,
)

REGISTRY: dict[str, type[Resource]] = {
    cls.type_name: cls
    for cls in (
        Server,
        KeyPair,
        SecurityGroup,
        Port,
        FloatingIP,
        Volume,
        VolumeAttachment,
        WaitConditionHandle,
        WaitCondition,
    )
}


def lookup(type_name: str) -> type[Resource] | None:
    return REGISTRY.get(type_name)
