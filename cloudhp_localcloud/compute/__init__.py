"""Nova (compute v2.1): servers are node containers on the local Docker engine.

`SERVICE` (api.py) is what registry.py lists; its `reset` removes this instance's
containers, their volumes and snapshot images. Module map in api.py.
"""

from cloudhp_localcloud.compute.api import SERVICE

__all__ = ["SERVICE"]
