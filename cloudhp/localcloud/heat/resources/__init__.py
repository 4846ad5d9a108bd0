"""The resource types localcloud's Heat knows, by their Heat type name.

One module per type; `REGISTRY` is the only list to extend when adding one.
"""

from __future__ import annotations

from cloudhp.localcloud.heat.resources.base import Resource
from cloudhp.localcloud.heat.resources.floating_ip import FloatingIP
from cloudhp.localcloud.heat.resources.keypair import KeyPair
from cloudhp.localcloud.heat.resources.port import Port
from cloudhp.localcloud.heat.resources.security_group import SecurityGroup
from cloudhp.localcloud.heat.resources.server import Server
from cloudhp.localcloud.heat.resources.volume import Volume
from cloudhp.localcloud.heat.resources.volume_attachment import VolumeAttachment
from cloudhp.localcloud.heat.waitcondition import WaitCondition, WaitConditionHandle

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
