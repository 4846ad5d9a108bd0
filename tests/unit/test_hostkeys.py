import paramiko

from cloudhp.keys import ensure_keypair
from cloudhp.remote.hostkeys import KnownHosts, console_host_keys, host_entry


def test_console_host_keys_reads_cloud_init_and_node_init_formats():
    console = """\
[   12.1] cloud-init[512]: ci-info: no authorized keys
-----BEGIN SSH HOST KEY KEYS-----
ecdsa-sha2-nistp256 AAAAE2VjZHNh root@vm
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 root@vm
-----END SSH HOST KEY KEYS-----
node-init: host key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 root@vm
node-init: host key ssh-rsa AAAAB3Nza root@vm
"""
    assert console_host_keys(console) == [
        "ecdsa-sha2-nistp256 AAAAE2VjZHNh",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
        "ssh-rsa AAAAB3Nza",
    ]


def test_host_entry_uses_brackets_for_other_ports():
    assert host_entry("10.0.0.5", 22) == "10.0.0.5"
    assert host_entry("10.0.0.5", 2222) == "[10.0.0.5]:2222"


def test_pinned_keys_are_written_0600_and_forgotten(tmp_path):
    key = ensure_keypair(tmp_path / "k")
    known = KnownHosts(tmp_path / "known_hosts")
    known.pin("10.0.0.5", 22, [key.public_key])
    assert (known.path.stat().st_mode & 0o777) == 0o600
    loaded = paramiko.HostKeys(str(known.path))
    assert "10.0.0.5" in loaded
    known.forget("10.0.0.5")
    assert "10.0.0.5" not in paramiko.HostKeys(str(known.path))


def test_pinning_skips_key_types_paramiko_cannot_use(tmp_path):
    key = ensure_keypair(tmp_path / "k")
    known = KnownHosts(tmp_path / "known_hosts")
    known.pin("10.0.0.6", 22, ["ssh-dss AAAAB3NzaC1kc3M=", key.public_key])
    assert "10.0.0.6" in paramiko.HostKeys(str(known.path))


def test_knows_reports_pinned_hosts_only(tmp_path):
    key = ensure_keypair(tmp_path / "k")
    known = KnownHosts(tmp_path / "known_hosts")
    assert not known.knows("10.0.0.7")
    known.pin("10.0.0.7", 22, [key.public_key])
    assert known.knows("10.0.0.7") and not known.knows("10.0.0.7", 2222)
