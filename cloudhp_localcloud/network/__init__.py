"""Neutron (network v2.0): networks are Docker bridges, ports are addresses on them.

`SERVICE` (api.py) is what registry.py lists; its `reset` removes this instance's
Docker networks, last, once the containers on them are gone. Module map in api.py.
"""

from cloudhp_localcloud.network.api import SERVICE

__all__ = ["SERVICE"]
