"""Host keys: console parsing, the pinned known_hosts file, and refusing what is not pinned.

The SSH tests talk to a real SSH server (paramiko's, in a thread on 127.0.0.1), so the
refusal is proven on a real handshake, not on the policy object alone.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sshd_support import FakeSSHD, running_sshd

from cloudhp import polling
from cloudhp.errors import (
    CloudUnavailable,
    HostKeyMismatch,
    HostKeyUnpinned,
    NotFoundError,
    WaitTimeout,
)
from cloudhp.flows import status
from cloudhp.flows.nodes import open_nodes
from cloudhp.keys import ensure_keypair
from cloudhp.remote.hostkeys import (
    KnownHosts,
    ServerAddress,
    console_host_keys,
    host_entry,
    pin_from_consoles,
)
from cloudhp.remote.runner import Result
from cloudhp.remote.ssh import SSHRunner, wait_for_ssh
from cloudhp.state import cluster_files


def public_line(key: object, comment: str = "root@cloudhp-demo-manager-1.novalocal") -> str:
    data = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{data.decode()} {comment}"


def fresh_keys() -> list[str]:
    """What cloud-init prints for a Debian server: ECDSA, Ed25519 and RSA host keys."""
    return [
        public_line(ec.generate_private_key(ec.SECP256R1())),
        public_line(ed25519.Ed25519PrivateKey.generate()),
        public_line(rsa.generate_private_key(65537, 3072)),
    ]


KEYS = fresh_keys()
PINNED = [" ".join(k.split()[:2]) for k in KEYS]
DSS = "ssh-dss AAAAB3NzaC1kc3MAAACBAKZgEmoO9zLO4AzlZJR9j root@vm"


def cloud_init_console(keys: list[str]) -> str:
    """A console as a real cloud's shows it: kernel and cloud-init lines around the block
    cloud-init's keys-to-console module prints."""
    return "\n".join(
        [
            "[   11.902113] cloud-init[812]: Cloud-init v. 22.4.2 running 'modules:final'",
            "ci-info: no authorized SSH keys fingerprints found for user debian.",
            "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
            "256 SHA256:4kT0zq0yN3m2vJ1Bf8xZr6Z8cQm3Qm2m7Zl1z3q3Zx8 root@vm (ECDSA)",
            "-----END SSH HOST KEY FINGERPRINTS-----",
            "-----BEGIN SSH HOST KEY KEYS-----",
            *keys,
            "-----END SSH HOST KEY KEYS-----",
            "[   12.004551] cloud-init[812]: Cloud-init v. 22.4.2 finished at Tue, 02 Dec 2025",
            "",
        ]
    )


# --- the console -----------------------------------------------------------------------


def test_console_host_keys_reads_cloud_init_and_node_init_formats():
    node_init = "".join(f"node-init: host key {k}\n" for k in [DSS, KEYS[1]])
    console = cloud_init_console([KEYS[0], DSS, *KEYS[1:]]) + node_init
    # ssh-dss is left out: paramiko no longer speaks it, so pinning it would pin nothing.
    assert console_host_keys(console) == PINNED


def test_key_lines_outside_the_block_are_not_host_keys():
    console = f"ci-info: authorized key for debian: {KEYS[1]}\n" + cloud_init_console([])
    assert console_host_keys(console) == []


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r\r\n"])
@pytest.mark.parametrize("width", [40, 64, 79, 80, 81, 100, 132])
def test_key_lines_wrapped_by_the_serial_console_still_parse(width, newline):
    lines = cloud_init_console(KEYS).split("\n")
    wrapped = newline.join(
        newline.join(line[i : i + width] for i in range(0, len(line), width)) or line
        for line in lines
    )
    assert any(len(k) > width for k in KEYS)  # the RSA line at least is wrapped
    assert console_host_keys(wrapped) == PINNED


def test_wrap_between_the_key_type_and_its_data_still_parses():
    kind, data, comment = KEYS[1].split()
    block = cloud_init_console([f"{kind} \r\n{data[:30]}\r\n{data[30:]} {comment}"])
    assert console_host_keys(block) == [PINNED[1]]


def test_a_key_cut_short_is_never_pinned():
    """A console log cut in the middle of the RSA key (its end not yet printed)."""
    console = cloud_init_console(KEYS)
    cut = console[: console.index(KEYS[2]) + len(KEYS[2]) // 2]
    assert console_host_keys(cut) == PINNED[:2]


# --- the known_hosts file --------------------------------------------------------------


def test_host_entry_uses_brackets_for_other_ports():
    assert host_entry("10.0.0.5", 22) == "10.0.0.5"
    assert host_entry("10.0.0.5", 2222) == "[10.0.0.5]:2222"


def test_pin_replaces_the_address_keys_and_records_their_server(tmp_path):
    known = KnownHosts(tmp_path / "known_hosts")
    assert known.pinned_server("10.0.0.5") is None
    other = fresh_keys()
    known.pin("10.0.0.5", 22, KEYS, server_id="old-server")
    known.pin("10.0.0.6", 22, other[:1], server_id="worker")
    known.pin("10.0.0.5", 22, other[1:], server_id="new-server")

    assert (known.path.stat().st_mode & 0o777) == 0o600
    assert known.pinned_server("10.0.0.5") == "new-server"
    assert known.pinned_server("10.0.0.6") == "worker"
    assert known.pinned_server("10.0.0.5", 2222) is None
    loaded = paramiko.HostKeys(str(known.path))
    assert sorted(loaded["10.0.0.5"]) == ["ssh-ed25519", "ssh-rsa"]  # the old ECDSA is gone
    assert loaded["10.0.0.5"]["ssh-ed25519"].get_base64() == other[1].split()[1]
    assert list(loaded["10.0.0.6"]) == ["ecdsa-sha2-nistp256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["known_hosts", "known_hosts.lock"]


def test_a_pin_without_its_server_has_no_known_origin(tmp_path):
    """Lines pinned by hand or by an older cloudhp: init re-pins them from the console."""
    path = tmp_path / "known_hosts"
    path.write_text(f"10.0.0.5 {PINNED[1]}\n")
    assert KnownHosts(path).pinned_server("10.0.0.5") is None


def _check_whole(path: Path) -> int:
    """Every line of the file complete and usable; returns the number of lines."""
    text = path.read_text() if path.exists() else ""
    assert text == "" or text.endswith("\n")
    lines = text.splitlines()
    for line in lines:
        _, kind, data, origin = line.split()
        assert origin.startswith("cloudhp-server=")
        paramiko.PKey.from_type_string(kind, base64.b64decode(data))
    return len(lines)


def _pin_many(path: str, first: int, count: int) -> None:
    known = KnownHosts(Path(path))
    for i in range(first, first + count):
        known.pin(f"10.1.0.{i}", 22, PINNED[1:2], server_id=f"server-{i}")


def test_threads_pinning_and_reading_at_once_lose_nothing_and_see_whole_files(tmp_path):
    path = tmp_path / "known_hosts"
    writers_done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not writers_done.is_set():
                seen.append(_check_whole(path))
                KnownHosts(path).load_into(paramiko.HostKeys())
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=_pin_many, args=(str(path), 25 * w, 25)) for w in range(4)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    writers_done.set()
    for t in readers:
        t.join()

    assert errors == []
    assert len(seen) > 10  # the readers did read while the writers wrote
    assert _check_whole(path) == 100
    known = KnownHosts(path)
    assert all(known.pinned_server(f"10.1.0.{i}") == f"server-{i}" for i in range(100))


def test_processes_pinning_at_once_lose_nothing(tmp_path):
    """Two cloudhp commands at once (init, and status on the same cluster): a lock held in
    one process only would let one overwrite the other's pins."""
    path = tmp_path / "known_hosts"
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_pin_many, args=(str(path), 30 * w, 30)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join()
    assert [p.exitcode for p in workers] == [0] * 4
    assert _check_whole(path) == 120


# --- SSH: only pinned keys ---------------------------------------------------------------


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[FakeSSHD]:
    with running_sshd(tmp_path) as server:
        yield server


def _runner(tmp_path: Path, sshd: FakeSSHD, known: KnownHosts) -> SSHRunner:
    key = ensure_keypair(tmp_path / "id_ed25519")
    return SSHRunner(
        "127.0.0.1", "debian", key.private_path, known, port=sshd.port, connect_timeout=5
    )


def test_an_unpinned_host_key_is_refused_before_authentication(tmp_path, sshd):
    known = KnownHosts(tmp_path / "known_hosts")
    runner = _runner(tmp_path, sshd, known)
    with pytest.raises(HostKeyUnpinned, match=rf"\[127.0.0.1\]:{sshd.port}.*not pinned") as err:
        runner.open()
    assert err.value.exit_status == 6
    assert sshd.connections == 1 and sshd.auth_attempts == 0  # no key, no command, no token
    assert not known.path.exists()  # and nothing was trusted on first use
    # Not a transient fault: wait_for_ssh fails on its first attempt.
    with pytest.raises(HostKeyUnpinned):
        wait_for_ssh(runner, timeout=60)
    assert sshd.connections == 2 and sshd.auth_attempts == 0


def test_the_pinned_key_is_accepted_and_any_other_refused(tmp_path, sshd):
    known = KnownHosts(tmp_path / "known_hosts")
    runner = _runner(tmp_path, sshd, known)
    other = public_line(ed25519.Ed25519PrivateKey.generate())
    known.pin("127.0.0.1", sshd.port, [other], server_id="someone-else")
    with pytest.raises(HostKeyMismatch):
        runner.open()
    assert sshd.auth_attempts == 0

    served = f"{sshd.host_key.get_name()} {sshd.host_key.get_base64()}"
    known.pin("127.0.0.1", sshd.port, [served], server_id="the-server")
    runner.open()  # the same runner sees the re-pin
    assert runner._conn.is_connected and sshd.auth_attempts >= 1
    runner.close()


# --- waiting for the console -------------------------------------------------------------


class Clock:
    """Stands in for `time` in the poll loop: sleeping only moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(polling, "time", fake)
    return fake


def test_an_address_a_new_server_took_over_is_pinned_from_that_servers_console(tmp_path, clock):
    known = KnownHosts(tmp_path / "known_hosts")
    known.pin("10.0.0.5", 22, fresh_keys(), server_id="old-manager")
    known.pin("10.0.0.6", 22, KEYS[:1], server_id="worker")
    read: list[str] = []

    def read_console(server_id: str) -> str:
        read.append(server_id)
        return cloud_init_console(KEYS)

    manager = ServerAddress("c1-manager-1", "new-manager", "10.0.0.5")
    worker = ServerAddress("c1-worker-1", "worker", "10.0.0.6")
    assert pin_from_consoles(known, [manager, worker], read_console) == [manager]
    assert read == ["new-manager"]  # only the new server's console; the worker is unchanged
    assert known.pinned_server("10.0.0.5") == "new-manager"
    pinned = paramiko.HostKeys(str(known.path))["10.0.0.5"]
    assert sorted(k.get_base64() for k in pinned.values()) == sorted(p.split()[1] for p in PINNED)
    assert clock.sleeps == []

    assert pin_from_consoles(known, [manager, worker], read_console) == []
    assert read == ["new-manager"]  # a rerun reads no console


def test_keys_printed_after_the_server_is_active_are_waited_for(tmp_path, clock):
    known = KnownHosts(tmp_path / "known_hosts")
    consoles = iter(["[    2.1] booting\n", "cloud-init: running\n", cloud_init_console(KEYS)])
    steps: list[str] = []
    server = ServerAddress("c1-manager-1", "m1", "10.0.0.5")
    pin_from_consoles(known, [server], lambda _: next(consoles), interval=5, step=steps.append)
    assert clock.sleeps == [5, 5]
    assert known.pinned_server("10.0.0.5") == "m1"
    assert "c1-manager-1" in steps[0]


def test_no_keys_within_the_bound_is_a_clear_refusal(tmp_path, clock):
    known = KnownHosts(tmp_path / "known_hosts")
    late = ServerAddress("c1-worker-2", "5e1f0c2a", "10.0.0.7")
    ready = ServerAddress("c1-worker-1", "w1", "10.0.0.6")

    def read_console(server_id: str) -> str:
        return cloud_init_console(KEYS) if server_id == "w1" else "cloud-init: running\n"

    with pytest.raises(WaitTimeout) as err:
        pin_from_consoles(known, [late, ready], read_console, timeout=600, interval=5)
    assert "c1-worker-2 (server 5e1f0c2a, 10.0.0.7)" in err.value.message
    assert "600s" in err.value.message and "c1-worker-1" not in err.value.message
    assert "BEGIN SSH HOST KEY KEYS" in (err.value.hint or "")
    assert "openstack console log show" in (err.value.hint or "")
    assert err.value.exit_status == 7
    assert 600 < sum(clock.sleeps) <= 605  # bounded: one interval past the deadline at most
    assert known.pinned_server("10.0.0.7") is None  # never pinned, so never connected to
    assert known.pinned_server("10.0.0.6") == "w1"  # a rerun waits for the late one only


def test_a_console_that_cannot_be_read_for_now_does_not_hold_up_the_others(tmp_path, clock):
    known = KnownHosts(tmp_path / "known_hosts")
    flaky = ServerAddress("c1-worker-2", "w2", "10.0.0.7")
    ready = ServerAddress("c1-worker-1", "w1", "10.0.0.6")

    def read_console(server_id: str) -> str:
        if server_id == "w2":
            raise CloudUnavailable("reading the console of server w2 failed: 503")
        return cloud_init_console(KEYS)

    with pytest.raises(WaitTimeout, match=r"c1-worker-2 .*\(last read failed: .*503\)"):
        pin_from_consoles(known, [flaky, ready], read_console, timeout=60, interval=5)
    assert known.pinned_server("10.0.0.6") == "w1"


def test_a_server_gone_while_waiting_ends_the_wait_at_once(tmp_path, clock):
    def read_console(server_id: str) -> str:
        raise NotFoundError(f"server {server_id} not found")

    server = ServerAddress("c1-worker-1", "w1", "10.0.0.6")
    with pytest.raises(NotFoundError):
        pin_from_consoles(KnownHosts(tmp_path / "known_hosts"), [server], read_console)
    assert clock.sleeps == []


# --- the flows ---------------------------------------------------------------------------


def test_commands_refuse_a_node_whose_address_holds_another_servers_pins():
    files = cluster_files("c1").create()
    ensure_keypair(files.key_path)
    node = {"name": "c1-manager-1", "role": "manager", "ingress": True}
    files.update_record(nodes=[node | {"private_ip": "10.0.0.5", "server_id": "new"}])
    known = KnownHosts(files.known_hosts_path)
    known.pin("10.0.0.5", 22, KEYS, server_id="old")
    with open_nodes(files) as nodes, pytest.raises(HostKeyUnpinned, match="from server old"):
        nodes.runner(nodes.lead)
    known.pin("10.0.0.5", 22, KEYS, server_id="new")
    with open_nodes(files) as nodes:
        assert nodes.runner(nodes.lead).host == "10.0.0.5"


def _cloud(console: str, reads: list[str]) -> SimpleNamespace:
    lead = SimpleNamespace(
        id="lead-id",
        name="c1-manager-1",
        status="ACTIVE",
        metadata={"cloudhp-role": "manager"},
        addresses={"c1-net": [{"addr": "10.0.0.5", "OS-EXT-IPS:type": "fixed"}]},
    )

    def console_output(server_id: str) -> dict[str, str]:
        reads.append(server_id)
        return {"output": console}

    return SimpleNamespace(
        compute=SimpleNamespace(
            servers=lambda **_: [lead], get_server_console_output=console_output
        ),
        network=SimpleNamespace(ips=lambda **_: []),
    )


def test_status_does_not_ask_a_lead_whose_keys_are_not_on_its_console(clock, monkeypatch):
    files = cluster_files("c1").create()
    ensure_keypair(files.key_path)

    def no_ssh(*args: object, **kwargs: object) -> Result:
        raise AssertionError("status connected to an unpinned lead")

    monkeypatch.setattr(SSHRunner, "run", no_ssh)
    reads: list[str] = []
    result = status.cluster_status(_cloud("cloud-init: running\n", reads), files, console_wait=30)
    assert "no SSH host key appeared on the console of c1-manager-1" in result["swarm_error"]
    assert result["nodes"][0]["status"] == "ACTIVE"  # the cloud's side is still reported
    assert reads and set(reads) == {"lead-id"}


def test_status_pins_a_new_lead_from_its_console_then_asks_the_swarm(clock, monkeypatch):
    files = cluster_files("c1").create()
    ensure_keypair(files.key_path)

    def swarm(self: SSHRunner, command: list[str], **kwargs: object) -> Result:
        assert KnownHosts(files.known_hosts_path).pinned_server(self.host) == "lead-id"
        node = {"Hostname": "c1-manager-1", "ManagerStatus": "Leader", "Status": "Ready"}
        out = json.dumps(node) if command[1] == "node" else "ingress\nproxy\n"
        return Result(self.host, " ".join(command), out, "", 0)

    monkeypatch.setattr(SSHRunner, "run", swarm)
    reads: list[str] = []
    cloud = _cloud(cloud_init_console(KEYS), reads)
    result = status.cluster_status(cloud, files)
    assert result["swarm_error"] is None and result["networks"] == ["proxy"]
    assert result["nodes"][0]["swarm_role"] == "manager"
    status.cluster_status(cloud, files)
    assert reads == ["lead-id"]  # the second status reads no console
