"""Host keys pinned per cluster: the cluster's known_hosts file and the servers' consoles.

Every connection uses the cluster's own known_hosts, never the user's ~/.ssh, and accepts
only a key pinned there. Keys come from the console log of the server the cloud says is
at an address, read through the authenticated cloud API, never from whoever answers on
the network: the first connection carries the Swarm join token. Each pin records the
server it came from, so an address that a new server took over (teardown, then init with
the same name) is pinned afresh from that server's console, while a key that changes
under the same server is refused.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko

from cloudhp.errors import HostKeyUnpinned, Transient, WaitTimeout
from cloudhp.keys import write_private
from cloudhp.polling import poll

CONSOLE_WAIT = 600.0
"""How long init waits for a server's keys on its console. cloud-init prints them at the
end of the first boot, which on a real cloud can come many minutes after ACTIVE."""

CONSOLE_INTERVAL = 5.0
SERVER_FIELD = "cloudhp-server="
"""Comment on a known_hosts line naming the server the key was pinned from (OpenSSH and
paramiko ignore what follows the key)."""

_TYPE = re.compile(r"(?:^|\s)(?:ssh|ecdsa|sk)-")
_KEY = re.compile(r"(?:^|\s)((?:ssh|ecdsa|sk)-[\w@.-]+)\s+([A-Za-z0-9+/]+={0,2})")
_MARKERS = ("-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----")
_NODE_INIT = "node-init: host key "
_MAX_WRAPPED_LINES = 64  # a 16384-bit RSA key is ~2,800 characters: 36 lines of 80


def host_entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _usable_key(text: str) -> str | None:
    """`type base64` when `text` holds one whole public key paramiko can use.

    A key cut by a line wrap fails here (paramiko pads a short blob with zeros, so its
    re-encoding differs), which is how the parser knows to join the next line.
    """
    match = _KEY.search(text)
    if match is None:
        return None
    kind, data = match.groups()
    try:
        blob = base64.b64decode(data, validate=True)
        key = paramiko.PKey.from_type_string(kind, blob)
    except (ValueError, paramiko.SSHException, paramiko.UnknownKeyType):
        return None  # truncated, malformed, or a type paramiko no longer speaks (ssh-dss)
    return f"{kind} {data}" if key.asbytes() == blob else None


def console_host_keys(console: str) -> list[str]:
    """Host public keys printed on a server's console, to pin them before first contact.

    Understands cloud-init's `BEGIN SSH HOST KEY KEYS` block (real clouds) and the
    `node-init: host key` lines of cloudhp's node image. A serial console may wrap a long
    key line (at 80 columns, with `\\r\\n`): an incomplete key takes the following lines
    until it is whole, and one that never is, or that paramiko cannot use, is left out.
    """
    lines = console.replace("\r", "").split("\n")
    keys: list[str] = []
    inside = False
    for i, line in enumerate(lines):
        if any(marker in line for marker in _MARKERS):
            inside = _MARKERS[0] in line
            continue
        if _NODE_INIT in line:
            text = line.split(_NODE_INIT, 1)[1]
        elif inside and _TYPE.search(line):
            text = line
        else:
            continue
        key = _usable_key(text)
        for more in lines[i + 1 : i + 1 + _MAX_WRAPPED_LINES]:
            if key is not None or _starts_record(more):
                break
            text += more
            key = _usable_key(text)
        if key is not None:
            keys.append(key)
    return list(dict.fromkeys(keys))


def _starts_record(line: str) -> bool:
    """Base64 has no `-`, so the rest of a wrapped key never looks like this."""
    return _NODE_INIT in line or any(m in line for m in _MARKERS) or bool(_TYPE.search(line))


class KnownHosts:
    """A cluster's known_hosts file (0600): the pinned keys, each with its server's id.

    Readers see a whole file, as every write renames a complete one into place; writers
    (threads, or two cloudhp commands at once) take an exclusive lock, so none loses
    another's pins.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _lines(self) -> list[str]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes
            yield
        finally:
            os.close(fd)

    def pin(self, host: str, port: int, public_keys: Sequence[str], *, server_id: str) -> None:
        """Make `public_keys` (`type base64`, from the console of `server_id`) the only
        keys accepted for the address."""
        entry = host_entry(host, port)
        pinned = [
            f"{entry} {' '.join(k.split()[:2])} {SERVER_FIELD}{server_id}" for k in public_keys
        ]
        with self._locked():
            kept = [line for line in self._lines() if line.split()[0] != entry]
            write_private(self.path, "".join(f"{line}\n" for line in kept + pinned).encode())

    def pinned_server(self, host: str, port: int = 22) -> str | None:
        """The server the address's keys were pinned from; None if none are, or if their
        origin is not recorded (pinned by hand or by an older cloudhp)."""
        entry = host_entry(host, port)
        origins = {
            next((f.removeprefix(SERVER_FIELD) for f in fields if f.startswith(SERVER_FIELD)), None)
            for fields in (line.split() for line in self._lines())
            if fields[0] == entry
        }
        return origins.pop() if len(origins) == 1 else None

    def load_into(self, keys: paramiko.HostKeys) -> None:
        """Replace a client's host keys by the pins, so a reopened client sees re-pins."""
        keys.clear()
        if self.path.exists():
            keys.load(str(self.path))

    def policy(self) -> paramiko.MissingHostKeyPolicy:
        return RefuseUnpinned(self.path)


class RefuseUnpinned(paramiko.MissingHostKeyPolicy):
    """paramiko asks this only for an address with no pinned key: it is always refused,
    before authentication, so nothing (no key, no command, no token) reaches it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise HostKeyUnpinned(
            f"refusing {hostname}: its host key ({key.get_name()} {key.fingerprint}) is "
            f"not pinned in {self.path}",
            hint="cloudhp trusts only keys read from a server's console log; "
            "`cloudhp init` pins them (for a new or replaced server too)",
        )


@dataclass(frozen=True)
class ServerAddress:
    """A server the cloud says answers at `host`: whose console to pin that address from."""

    name: str
    server_id: str
    host: str
    port: int = 22

    def __str__(self) -> str:
        return f"{self.name} (server {self.server_id}, {host_entry(self.host, self.port)})"


def pin_from_consoles(
    known: KnownHosts,
    servers: Sequence[ServerAddress],
    read_console: Callable[[str], str],
    *,
    timeout: float = CONSOLE_WAIT,
    interval: float = CONSOLE_INTERVAL,
    step: Callable[[str], None] | None = None,
) -> list[ServerAddress]:
    """Pin each address from its server's console unless it is pinned from that server.

    Polls all servers whose keys are missing in one loop, pinning each as soon as its
    console shows them; `read_console(server_id)` returns a console log. A console that
    cannot be read for a moment (a `Transient` failure) does not hold up the others.
    Returns the servers it pinned.

    Raises:
        WaitTimeout: some consoles showed no usable key within `timeout` seconds; the
            others are pinned, so a rerun waits only for these.
    """
    stale = [s for s in servers if known.pinned_server(s.host, s.port) != s.server_id]
    pending = list(stale)
    failures: dict[ServerAddress, Exception] = {}

    def fetch() -> list[ServerAddress]:
        for server in list(pending):
            try:
                console = read_console(server.server_id)
            except Exception as exc:
                if not isinstance(exc, Transient):
                    raise
                failures[server] = exc
                continue
            failures.pop(server, None)
            keys = console_host_keys(console)
            if keys:
                known.pin(server.host, server.port, keys, server_id=server.server_id)
                pending.remove(server)
        return pending

    def tick(left: list[ServerAddress], elapsed: float) -> None:
        if step is not None:
            names = ", ".join(s.name for s in left)
            step(f"waiting for the host keys of {names} on their consoles ({elapsed:.0f}s)")

    try:
        poll(
            fetch,
            lambda left: not left,
            timeout=timeout,
            interval=interval,
            what="host keys on the consoles",
            on_tick=tick,
        )
    except WaitTimeout:
        missing = "; ".join(
            f"{s} (last read failed: {failures[s]})" if s in failures else str(s) for s in pending
        )
        raise WaitTimeout(
            f"no SSH host key appeared on the console of {missing} within {timeout:.0f}s; "
            "cloudhp does not connect to a server whose key it cannot check",
            hint="cloud-init prints the keys (a `-----BEGIN SSH HOST KEY KEYS-----` block) "
            "at the end of the first boot: check the console (`openstack console log show "
            "SERVER`) for cloud-init errors or a log cut short, then rerun. A key checked "
            f"another way can be pinned by hand in {known.path} as `ADDRESS TYPE KEY "
            f"{SERVER_FIELD}SERVER_ID`",
        ) from None
    return stale
