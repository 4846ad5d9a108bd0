"""The cluster registry's files and command lines: a certificate for its name, the
hosts line and the script that writes it, run on a scratch file."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import bcrypt
from cryptography import x509

from cloudhp.commands.registry import (
    address,
    hostname,
    hosts_command,
    hosts_line,
    login_command,
    object_name,
    owner_command,
    service_command,
)
from cloudhp.steps.registry import FILES, ensure_registry_files, subject_names

NAME = "registry.dep.cloudhp.internal"


def test_files_are_made_once_private_and_the_certificate_names_the_name(tmp_path: Path) -> None:
    assert ensure_registry_files(tmp_path, NAME) is True
    folder = tmp_path / "registry"
    for name in FILES:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    before = {name: (folder / name).read_bytes() for name in FILES}
    assert ensure_registry_files(tmp_path, NAME) is False
    assert {name: (folder / name).read_bytes() for name in FILES} == before
    cert = x509.load_pem_x509_certificate(before["server.crt"])
    ca = x509.load_pem_x509_certificate(before["ca.crt"])
    assert cert.issuer == ca.subject
    assert subject_names(cert) == {NAME}  # the name only: a move changes no certificate
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == []
    user, hashed = before["htpasswd"].decode().strip().split(":", 1)
    assert user == "cloudhp" and bcrypt.checkpw(before["password"], hashed.encode())


def test_new_subject_names_get_a_new_certificate_from_the_same_ca(tmp_path: Path) -> None:
    """A certificate for the lead's IP (before the registry had a name) is reissued for
    the name, by the CA every node already trusts."""
    ensure_registry_files(tmp_path, "10.0.0.5")
    ca = (tmp_path / "registry" / "ca.crt").read_bytes()
    assert ensure_registry_files(tmp_path, NAME) is True
    assert (tmp_path / "registry" / "ca.crt").read_bytes() == ca
    cert = x509.load_pem_x509_certificate((tmp_path / "registry" / "server.crt").read_bytes())
    assert subject_names(cert) == {NAME}
    assert ensure_registry_files(tmp_path, "registry.other.cloudhp.internal") is True
    assert (tmp_path / "registry" / "ca.crt").read_bytes() == ca


def test_the_name_is_per_cluster() -> None:
    assert hostname("dep") == NAME
    assert address("dep") == f"{NAME}:5000"


def test_service_command_runs_on_the_volume_s_node_with_its_data_as_storage() -> None:
    secrets = {"registry.key": "k1", "registry.crt": "c1", "registry.htpasswd": "h1"}
    assert service_command("cloudhp/registry:abc", secrets, "cfg1") == [
        "docker", "service", "create", "--detach", "--name", "cloudhp-registry",
        "--constraint", "node.labels.cloudhp.volume.cloudhp_registry==true",
        "--publish", "mode=host,target=5000,published=5000",
        "--endpoint-mode", "dnsrr",
        "--mount", "type=bind,source=/var/lib/cloudhp/volumes/cloudhp_registry/data,"
        "target=/var/lib/docker-registry",
        "--config", "source=cfg1,target=/etc/docker/registry/config.yml",
        "--label", "cloudhp.role=registry",
        "--secret", "source=c1,target=registry.crt",
        "--secret", "source=h1,target=registry.htpasswd",
        "--secret", "source=k1,target=registry.key",
        "cloudhp/registry:abc",
    ]  # fmt: skip


def test_the_password_goes_on_stdin_and_names_follow_content() -> None:
    assert login_command("10.0.0.5:5000", "cloudhp") == [
        "docker", "login", "--username", "cloudhp", "--password-stdin", "10.0.0.5:5000",
    ]  # fmt: skip
    assert object_name("crt", b"a") != object_name("crt", b"b")
    assert object_name("crt", b"a") == object_name("crt", b"a")


HOSTS_SCRIPT = (
    'set -eu; f="$1"; n="$2"; line="$3"; new="$(mktemp)"; trap \'rm -f "$new"\' EXIT; '
    'awk -v n="$n" \'/^[[:space:]]*#/ {print; next} '
    '{for (i = 2; i <= NF && substr($i, 1, 1) != "#"; i++) if ($i == n) next; print}\' '
    '"$f" > "$new"; [ -z "$line" ] || printf "%s\\n" "$line" >> "$new"; '
    'if cmp -s "$new" "$f"; then echo unchanged; exit 0; fi; '
    's=""; [ "$(id -u)" = 0 ] || s="sudo -n"; '
    '$s sh -c \'cat "$1" > "$2"\' sh "$new" "$f"; echo changed'
)


def test_hosts_line_and_command_exactly() -> None:
    assert hosts_line(NAME, "10.0.0.7") == f"10.0.0.7 {NAME} # cloudhp registry"
    assert hosts_command(NAME, "10.0.0.7") == [
        "sh", "-c", HOSTS_SCRIPT, "sh", "/etc/hosts", NAME, f"10.0.0.7 {NAME} # cloudhp registry",
    ]  # fmt: skip
    assert hosts_command(NAME, None) == ["sh", "-c", HOSTS_SCRIPT, "sh", "/etc/hosts", NAME, ""]


def test_the_hosts_script_rewrites_in_place_only_what_differs(tmp_path: Path) -> None:
    """Run on a scratch file: the inode stays (a bind-mounted /etc/hosts cannot be
    renamed over), other lines and comments stay, a second run is `unchanged`."""
    hosts = tmp_path / "hosts"
    others = (
        "127.0.0.1 localhost\n"
        f"# {NAME} in a comment stays\n"
        f"10.0.0.9 other # {NAME} after a comment stays\n"
    )
    hosts.write_text(others + f"10.0.0.5 {NAME} # cloudhp registry\n10.0.0.6 alias {NAME}\n")
    inode = hosts.stat().st_ino

    def run(ip: str | None) -> str:
        argv = hosts_command(NAME, ip, path=str(hosts))
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert run("10.0.0.7") == "changed"
    assert hosts.read_text() == others + f"10.0.0.7 {NAME} # cloudhp registry\n"
    assert run("10.0.0.7") == "unchanged"
    assert run("10.0.0.8") == "changed"
    assert hosts.read_text() == others + f"10.0.0.8 {NAME} # cloudhp registry\n"
    assert run(None) == "changed"
    assert hosts.read_text() == others
    assert run(None) == "unchanged"
    assert hosts.stat().st_ino == inode
    assert sorted(os.listdir(tmp_path)) == ["hosts"]


def test_owner_command_asks_the_image_only_for_a_root_owned_directory() -> None:
    assert owner_command("cloudhp/registry:abc") == [
        "sudo", "-n", "sh", "-c",
        'set -eu; dir="$1"; image="$2"; '
        'if [ "$(stat -c %u "$dir")" != 0 ]; then echo unchanged; exit 0; fi; '
        "owner=\"$(docker run --rm --entrypoint sh \"$image\" -c 'echo \"$(id -u):$(id -g)\"')\"; "
        'chown "$owner" "$dir"; echo changed',
        "sh", "/var/lib/cloudhp/volumes/cloudhp_registry/data", "cloudhp/registry:abc",
    ]  # fmt: skip
