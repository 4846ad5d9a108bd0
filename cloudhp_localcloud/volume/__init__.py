"""Cinder (block storage v3): volumes are sparse files behind loop devices.

`SERVICE` (api.py) is what registry.py lists; its `reset` frees this instance's loop
devices and deletes the files, after the server containers and before the networks.
Module map in api.py.
"""

from cloudhp_localcloud.volume.api import SERVICE

__all__ = ["SERVICE"]
