"""The cluster registry's files and command lines."""

from __future__ import annotations

import stat
from pathlib import Path

import bcrypt
from cryptography import x509

from cloudhp.commands.registry import login_command, object_name, service_command
from cloudhp.steps.registry import FILES, ensure_registry_files


def test_files_are_made_once_private_and_the_certificate_names_the_ip(tmp_path: Path) -> None:
    assert ensure_registry_files(tmp_path, "10.0.0.5") is True
    folder = tmp_path / "registry"
    for name in FILES:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    before = {name: (folder / name).read_bytes() for name in FILES}
    assert ensure_registry_files(tmp_path, "10.0.0.5") is False
    assert {name: (folder / name).read_bytes() for name in FILES} == before
    cert = x509.load_pem_x509_certificate(before["server.crt"])
    ca = x509.load_pem_x509_certificate(before["ca.crt"])
    assert cert.issuer == ca.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    user, hashed = before["htpasswd"].decode().strip().split(":", 1)
    assert user == "cloudhp" and bcrypt.checkpw(before["password"], hashed.encode())


def test_a_new_address_gets_a_new_certificate_from_the_same_ca(tmp_path: Path) -> None:
    ensure_registry_files(tmp_path, "10.0.0.5")
    ca = (tmp_path / "registry" / "ca.crt").read_bytes()
    assert ensure_registry_files(tmp_path, "10.0.0.9") is True
    assert (tmp_path / "registry" / "ca.crt").read_bytes() == ca
    cert = x509.load_pem_x509_certificate((tmp_path / "registry" / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.9"]


def test_service_command_passes_files_as_secrets_and_config() -> None:
    secrets = {"registry.key": "k1", "registry.crt": "c1", "registry.htpasswd": "h1"}
    assert service_command("cloudhp/registry:abc", "dep-manager-1", secrets, "cfg1") == [
        "docker", "service", "create", "--detach", "--name", "cloudhp-registry",
        "--constraint", "node.hostname==dep-manager-1",
        "--publish", "mode=host,target=5000,published=5000",
        "--endpoint-mode", "dnsrr",
        "--mount", "type=volume,source=cloudhp-registry-data,target=/var/lib/docker-registry",
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
