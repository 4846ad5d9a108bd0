"""The tool's one way into the local cloud (`cloudhp_localcloud.control`).

The local cloud comes with the extra `cloudhp[local]`; a bastion install without it
gets a clear error naming the extra instead of an ImportError, and never loads Flask.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

from cloudhp.errors import EnvironmentProblem

INSTALL_HINT = (
    "install the local cloud with `pip install 'cloudhp[local]'` "
    "(or run scripts/install.sh from a clone), or use --openrc / --os-cloud"
)


def available() -> bool:
    return importlib.util.find_spec("flask") is not None


def control() -> ModuleType:
    """`cloudhp_localcloud.control`, or a clear error when the extra is not installed."""
    if not available():
        raise EnvironmentProblem(
            "the local cloud is not installed (its extra `local` brings Flask)",
            hint=INSTALL_HINT,
        )
    import cloudhp_localcloud.control

    return cloudhp_localcloud.control
