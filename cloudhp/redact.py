"""The one place secrets are taken out of text before it is shown or written.

Errors carry command lines and outputs (a failed `swarm join` has its token in argv),
so every message, hint and traceback cloudhp prints or saves passes through `redact`.
"""

from __future__ import annotations

import re

_PATTERNS = [
    (re.compile(r"SWMTKN-[0-9A-Za-z-]+"), "SWMTKN-***"),  # Swarm join tokens
    (re.compile(r"SWMKEY-[0-9A-Za-z-+/=]+"), "SWMKEY-***"),  # Swarm unlock keys
    (re.compile(r"(?i)(password|secret|token)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"), r"\1\2***"),
    (re.compile(r"(?i)(x-auth-token|x-subject-token)(:\s*)\S+"), r"\1\2***"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
