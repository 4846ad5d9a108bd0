"""Security groups enforced on Nova servers' ports, inside each server's container.

firewall.py renders the rules; this module gathers what a server's ports allow (from
the store), reads which interface holds each of its addresses, and loads the rules with
`iptables-restore` through `docker exec` (the node image has iptables). Running in
the container, it shares the nested dockerd's iptables backend (nft) and its xtables
lock, so the two never fight over one table; the daemon needs no privilege for it.
Only servers with a Nova record are filtered (a container plugged in by other means,
as some tests do, is not), and only while their container runs.

When the rules can change, and who says so:

    boot, start, reboot     compute calls `apply` at once: a started container has a
                            new namespace, empty; a failure is that server's (ERROR)
    a group's rules         `changed(rules_of=...)`: servers with a port in the group
    a group's members       `changed(members_of=...)`: a port created, deleted, given
                            other groups or addresses; servers with a port in a group
                            whose rules name the changed group as their remote group
    a server's interfaces   `changed(servers=...)`: floating IP (dis)associated

Everything but boot is applied in the background by one worker, as Neutron's agent
applies rules asynchronously; the worker reads the store when it applies, so a burst
of changes ends with the latest state. An apply that would load what this start of
the container (id and StartedAt) already holds is skipped.

Root inside a server can change these rules (Neutron's live outside the VM); they
filter what reaches the server, not what its owner does to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from cloudhp_localcloud import dockerlabels
from cloudhp_localcloud.network.firewall import HOOKS, PortFilter, render, resolve
from cloudhp_localcloud.store import Record, Store

log = logging.getLogger(__name__)

RULE = "security_group_rule"  # security.py's record type (it imports this module)
ATTEMPTS = 3

_ENSURE_JUMP = (
    "iptables -w 5 -t mangle -C {0} -j {1} 2>/dev/null"
    " || iptables -w 5 -t mangle -I {0} 1 -j {1} || exit 1"
)
SCRIPT = "\n".join(
    [
        'printf "%s" "$1" | iptables-restore -w 5 --noflush || exit 1',
        *(_ENSURE_JUMP.format(chain, target) for chain, target in HOOKS),
    ]
)
"""Run as `sh -c SCRIPT lc-sg RULES`: the rules are an argument, never shell text.
The entry chains' jumps are added once per namespace; the restore replaces the chains'
contents atomically."""


class EnforcementError(Exception):
    """The rules could not be loaded into a server (its container said why)."""


_local = threading.local()
_loaded: dict[str, tuple[str, str, str]] = {}  # server id -> (container, started, rules)
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _client() -> docker.DockerClient:
    """A Docker client per thread: docker-py's session is not meant to be shared."""
    found = getattr(_local, "client", None)
    if found is None:
        found = docker.from_env(timeout=60)
        _local.client = found
    return found


def _lock(server_id: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(server_id, threading.Lock())


def bound_server(port: Record) -> str | None:
    """The Nova server a port is plugged into, if any."""
    device = port.get("device_id")
    return device if device and str(port.get("device_owner", "")).startswith("compute:") else None


def group_members(store: Store) -> dict[str, list[str]]:
    """Each group's member addresses: its ports' fixed IPs and allowed address pairs."""
    out: dict[str, list[str]] = {}
    for port in store.list("port"):
        addresses = [f["ip_address"] for f in port.get("fixed_ips") or []]
        addresses += [
            p["ip_address"] for p in port.get("allowed_address_pairs") or [] if p.get("ip_address")
        ]
        for group in port.get("security_groups") or []:
            out.setdefault(group, []).extend(addresses)
    return out


def affected(
    store: Store, rules_of: Iterable[str] = (), members_of: Iterable[str] = ()
) -> set[str]:
    """The servers whose rules change when these groups' rules or members do."""
    groups = set(rules_of)
    remote = set(members_of)
    if remote:
        groups |= {
            r["security_group_id"] for r in store.list(RULE) if r.get("remote_group_id") in remote
        }
    return {
        server
        for port in store.list("port")
        if (server := bound_server(port)) and groups & set(port.get("security_groups") or [])
    }


def parse_addresses(text: str) -> dict[str, str]:
    """`ip -o -4 addr show` output as {address: interface}."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            out[fields[3].split("/")[0]] = fields[1].split("@")[0]
    return out


def port_filters(store: Store, server_id: str, addresses: Mapping[str, str]) -> list[PortFilter]:
    """What each of the server's ports allows, on the interfaces holding its addresses.

    Raises:
        EnforcementError: A fixed address of a port is on no interface of the server
            (the rules would then filter nothing on it).
    """
    members = group_members(store)
    out = []
    for port in store.list("port", device_id=server_id):
        if bound_server(port) != server_id:
            continue
        fixed = [f["ip_address"] for f in port.get("fixed_ips") or []]
        missing = [ip for ip in fixed if ip not in addresses]
        if missing:
            raise EnforcementError(
                f"port {port['id']}: address {missing[0]} is on no interface of server {server_id}"
            )
        floating = [f["floating_ip_address"] for f in store.list("floatingip", port_id=port["id"])]
        interfaces = dict.fromkeys(addresses[ip] for ip in fixed + floating if ip in addresses)
        rules = [
            rule
            for group in port.get("security_groups") or []
            for rule in store.list(RULE, security_group_id=group)
        ]
        out.append(
            PortFilter(
                port_id=port["id"],
                interfaces=tuple(interfaces),
                allows=resolve(rules, members),
                enabled=port.get("port_security_enabled", True) is not False,
            )
        )
    return out


def _exec(container: Container, argv: list[str]) -> str:
    code, output = container.exec_run(argv)
    text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
    if code != 0:
        raise EnforcementError(f"{argv[0]} in {container.name} failed ({code}): {text[-500:]}")
    return text


def _running(server_id: str) -> Container | None:
    try:
        container = _client().containers.get(dockerlabels.server_container(server_id))
    except docker.errors.NotFound:
        return None
    return container if container.status == "running" else None


def apply(store: Store, server_id: str) -> bool:
    """Load the server's rules into its container; False when there is nothing to do.

    Raises:
        EnforcementError: The container refused the rules (after ATTEMPTS tries).
    """
    with _lock(server_id):
        if store.get("server", server_id) is None:
            return False
        container = _running(server_id)
        if container is None:
            return False
        addresses = parse_addresses(_exec(container, ["ip", "-o", "-4", "addr", "show"]))
        try:
            rules = render(port_filters(store, server_id, addresses))
        except ValueError as exc:
            raise EnforcementError(f"server {server_id}: {exc}") from None
        started = str(container.attrs.get("State", {}).get("StartedAt", ""))
        if _loaded.get(server_id) == (container.id, started, rules):
            return False
        for attempt in range(1, ATTEMPTS + 1):
            try:
                _exec(container, ["sh", "-c", SCRIPT, "lc-sg", rules])
                break
            except EnforcementError:
                if attempt == ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
        _loaded[server_id] = (str(container.id), started, rules)
        log.debug("security groups of server %s loaded", server_id)
        return True


def forget(server_id: str) -> None:
    """A deleted server's bookkeeping goes with it."""
    with _guard:
        _loaded.pop(server_id, None)
        _locks.pop(server_id, None)


class _Worker:
    """One background thread applying the servers marked since its last round."""

    def __init__(self) -> None:
        self._pending: dict[str, Store] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def mark(self, store: Store, servers: Iterable[str]) -> None:
        with self._cond:
            for server in servers:
                self._pending[server] = store
            if not self._pending:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="localcloud-secgroups", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                batch, self._pending = self._pending, {}
            for server, store in batch.items():
                try:
                    apply(store, server)
                except Exception as exc:  # one server's failure must not stop the others
                    log.warning("security groups of server %s not applied: %s", server, exc)


_worker = _Worker()


def changed(
    store: Store,
    *,
    rules_of: Iterable[str] = (),
    members_of: Iterable[str] = (),
    servers: Iterable[str] = (),
) -> None:
    """Re-apply, in the background, every server these changes reach (see above)."""
    targets = affected(store, rules_of, members_of) | set(servers)
    _worker.mark(store, targets)


def groups_of(ports: Iterable[Mapping[str, Any]]) -> set[str]:
    """The security groups of these ports, together."""
    return {g for port in ports for g in port.get("security_groups") or []}
