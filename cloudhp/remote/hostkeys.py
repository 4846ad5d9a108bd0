"""Host keys pinned per cluster: the cluster's known_hosts file and the console log.

Every connection uses the cluster's own known_hosts, never the user's ~/.ssh: keys are
pinned from a node's console log before first contact, and any later mismatch is
refused.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from pathlib import Path

import paramiko

_known_hosts_lock = threading.Lock()


def host_entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class KnownHosts:
    """A cluster's known_hosts file: pinned keys, trust on first use, 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        if self.path.exists():
            keys.load(str(self.path))
        return keys

    def pin(self, host: str, port: int, public_keys: Sequence[str]) -> None:
        """Record keys obtained out of band (the console log) before any connection."""
        with _known_hosts_lock:
            keys = self._load()
            for line in public_keys:
                kind, data = line.split()[:2]
                try:
                    key = paramiko.PKey.from_type_string(kind, base64.b64decode(data))
                except paramiko.UnknownKeyType:
                    continue  # e.g. ssh-dss, which paramiko no longer speaks
                keys.add(host_entry(host, port), kind, key)
            self._save(keys)

    def knows(self, host: str, port: int = 22) -> bool:
        return host_entry(host, port) in self._load()

    def forget(self, host: str, port: int = 22) -> None:
        with _known_hosts_lock:
            keys = self._load()
            entry = host_entry(host, port)
            if entry in keys:
                del keys[entry]
                self._save(keys)

    def _save(self, keys: paramiko.HostKeys) -> None:
        from cloudhp.keys import write_private

        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        keys.save(str(tmp))
        write_private(self.path, tmp.read_bytes())
        tmp.unlink()

    def policy(self) -> paramiko.MissingHostKeyPolicy:
        known = self

        class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
            def missing_host_key(
                self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
            ) -> None:
                with _known_hosts_lock:
                    keys = known._load()
                    keys.add(hostname, key.get_name(), key)
                    known._save(keys)

        return TrustOnFirstUse()


def console_host_keys(console: str) -> list[str]:
    """Host public keys printed on a server's console, to pin them before first contact.

    Understands cloud-init's `BEGIN SSH HOST KEY KEYS` block (real clouds) and the
    `node-init: host key` lines of cloudhp's node image.
    """
    keys: list[str] = []
    inside = False
    for raw in console.splitlines():
        line = raw.strip()
        if "-----BEGIN SSH HOST KEY KEYS-----" in line:
            inside = True
        elif "-----END SSH HOST KEY KEYS-----" in line:
            inside = False
        elif inside and line.startswith(("ssh-", "ecdsa-")):
            keys.append(" ".join(line.split()[:2]))
        elif line.startswith("node-init: host key "):
            keys.append(" ".join(line.split()[3:5]))
    return list(dict.fromkeys(keys))
