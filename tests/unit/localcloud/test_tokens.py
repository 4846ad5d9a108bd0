"""Tokens and secret hashing, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudhp_localcloud import auth, faults
from cloudhp_localcloud.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.db")


def _issue(store: Store, **kw: object) -> tuple[str, auth.Caller]:
    args: dict = {
        "user_id": "u",
        "project_id": "p",
        "roles": [{"id": "r", "name": "admin"}],
        "methods": ["password"],
        "lifetime": 60,
    }
    args.update(kw)
    return auth.issue_token(store, **args)


def test_secret_hash_roundtrip_and_salting() -> None:
    first, second = auth.hash_secret("s3cret"), auth.hash_secret("s3cret")
    assert first != second and "s3cret" not in first
    assert auth.verify_secret("s3cret", first) and auth.verify_secret("s3cret", second)
    assert not auth.verify_secret("wrong", first)
    assert not auth.verify_secret("s3cret", "garbage")


def test_token_is_stored_only_as_digest(store: Store) -> None:
    token, caller = _issue(store)
    assert store.get(auth.TOKEN, token) is None
    assert store.get(auth.TOKEN, auth.token_digest(token)) is not None
    assert caller.is_admin and caller.project_id == "p"


def test_validate_accepts_live_token(store: Store) -> None:
    token, caller = _issue(store)
    assert auth.validate_token(store, token) == caller


@pytest.mark.parametrize("token", [None, "", "lc-not-a-token"])
def test_validate_rejects_missing_or_unknown(store: Store, token: str | None) -> None:
    with pytest.raises(faults.Unauthorized):
        auth.validate_token(store, token)


def test_validate_rejects_expired(store: Store) -> None:
    token, _ = _issue(store)
    later = datetime.now(UTC) + timedelta(seconds=61)
    with pytest.raises(faults.Unauthorized):
        auth.validate_token(store, token, now=later)


def test_expiry_is_capped_by_credential_expiry(store: Store) -> None:
    cap = datetime.now(UTC) + timedelta(seconds=5)
    _, caller = _issue(store, lifetime=3600, expires_at=cap)
    assert auth.parse_time(caller.expires_at) == cap


def test_revoke(store: Store) -> None:
    token, _ = _issue(store)
    assert auth.revoke_token(store, token)
    with pytest.raises(faults.Unauthorized):
        auth.validate_token(store, token)


def test_issue_purges_expired_tokens(store: Store) -> None:
    _issue(store, lifetime=-1)
    _issue(store)
    assert store.counts()[auth.TOKEN] == 1


def test_time_formats_parse_both_ways() -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert auth.format_time(moment) == "2030-01-02T03:04:05.000006Z"
    assert auth.parse_time("2030-01-02T03:04:05.000006Z") == moment
    assert auth.parse_time("2030-01-02T03:04:05+00:00") == moment.replace(microsecond=0)
