"""Keystone v3: tokens, the catalog, application credentials, and the admin API
(projects, users, roles, role assignments) with Keystone's default policy.

`SERVICE` (api.py) is what registry.py lists first: its startup seeds the domain,
the default roles (admin implies member implies reader), the admin and demo projects
and users that every other service relies on.
"""

from cloudhp_localcloud.identity.api import SERVICE, bootstrap

__all__ = ["SERVICE", "bootstrap"]
