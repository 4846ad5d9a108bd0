"""Signals, the handle's curl_cli, and the keyring that hides its token at rest."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.credentials import Keyring
from cloudhp_localcloud.orchestration.resources.waitcondition import (
    WaitConditionHandle,
    add_signal,
    signals,
    token_digest,
)
from cloudhp_localcloud.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.db")


def test_signals_default_validate_and_replace_by_id(store: Store) -> None:
    first = add_signal(store, "s1", "handle", None)
    assert (first["status"], first["signal_id"], first["reason"]) == (
        "SUCCESS",
        "1",
        "Signal 1 received",
    )
    add_signal(store, "s1", "handle", {"status": "FAILURE", "reason": "r", "id": "x"})
    add_signal(store, "s1", "handle", {"status": "SUCCESS", "data": {"k": 1}, "id": "x"})
    got = signals(store, "s1", "handle")
    assert [(s["signal_id"], s["status"], s["data"]) for s in got] == [
        ("1", "SUCCESS", None),
        ("x", "SUCCESS", {"k": 1}),
    ]
    assert signals(store, "s2", "handle") == []
    with pytest.raises(errors.StackValidationFailed, match="Metadata format invalid"):
        add_signal(store, "s1", "handle", {"status": "DONE"})
    with pytest.raises(errors.StackValidationFailed, match="JSON object"):
        add_signal(store, "s1", "handle", ["SUCCESS"])


class _Ctx:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def encrypt(self, text: str) -> str:
        return self.keyring.encrypt(text)

    def decrypt(self, token: str) -> str:
        return self.keyring.decrypt(token)

    def signal_url(self, name: str) -> str:
        return f"http://172.24.4.1:8788/heat-api/v1/p/stacks/s/id/resources/{name}/signal"


def test_handle_curl_cli_is_heats_token_handle(tmp_path: Path) -> None:
    ctx: Any = _Ctx(Keyring(tmp_path))
    handle = WaitConditionHandle(ctx, "handle", {})
    handle.create()
    token = handle.get_attribute("token")
    # at rest: encrypted and hashed, never in clear
    assert token not in json.dumps(handle.data)
    assert handle.data["token_sha256"] == token_digest(token)
    cli = handle.get_attribute("curl_cli")
    assert shlex.split(cli) == [
        "curl", "-i", "-X", "POST",
        "-H", f"X-Auth-Token: {token}",
        "-H", "Content-Type: application/json",
        "-H", "Accept: application/json",
        "http://172.24.4.1:8788/heat-api/v1/p/stacks/s/id/resources/handle/signal",
    ]  # fmt: skip
    assert handle.get_attribute("endpoint") == ctx.signal_url("handle")


def test_keyring_key_is_private_and_stable(tmp_path: Path) -> None:
    first = Keyring(tmp_path)
    secret = first.encrypt("s3cret")
    assert "s3cret" not in secret
    assert (tmp_path / "heat.key").stat().st_mode & 0o777 == 0o600
    assert Keyring(tmp_path).decrypt(secret) == "s3cret"
    (tmp_path / "heat.key").unlink()
    with pytest.raises(ValueError, match="cannot be decrypted"):
        Keyring(tmp_path).decrypt(secret)
