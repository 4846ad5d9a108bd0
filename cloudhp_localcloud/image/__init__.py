"""Glance (image v2): images are container images on the local Docker engine.

`SERVICE` (api.py) is what registry.py lists; its startup registers the base image.
Snapshots are compute's (compute/snapshots.py); reset removes them with the servers.
"""

from cloudhp_localcloud.image.api import SERVICE

__all__ = ["SERVICE"]
