"""Keystone v3: tokens, the catalog, projects, users, roles, application credentials.

`SERVICE` (api.py) is what registry.py lists first: its startup seeds the domain,
the admin and demo projects and users that every other service relies on.
"""

from cloudhp_localcloud.identity.api import SERVICE, bootstrap

__all__ = ["SERVICE", "bootstrap"]
