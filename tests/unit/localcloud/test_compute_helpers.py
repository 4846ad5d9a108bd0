"""Compute helpers that need no Docker: hostnames, fingerprints, quota messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudhp_localcloud import faults
from cloudhp_localcloud.compute.common import (
    check_server_quota,
    find_flavor,
    quota_key,
    seed_flavors,
)
from cloudhp_localcloud.compute.create import sanitize_hostname
from cloudhp_localcloud.compute.misc import fingerprint
from cloudhp_localcloud.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state.db")
    seed_flavors(store)
    return store


def _server(store: Store, project: str, flavor_id: str) -> None:
    flavor = find_flavor(store, flavor_id)
    store.insert("server", {"flavor": flavor}, project_id=project, name="s")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Compute Test_A", "compute-test-a"),
        ("web.example.com", "web.example.com"),
        ("--ünïcode!--", "ncode"),
        ("x" * 80, "x" * 63),
        ("!!!", "server-abc"),
    ],
)
def test_hostname_like_nova(name: str, expected: str) -> None:
    assert sanitize_hostname(name, "abc") == expected


def test_fingerprint_is_md5_of_the_key_blob() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOyAqPECzyIum3Vgdms0M/hkXOXIhy42HmZIYr1hzENF c"
    # as `ssh-keygen -E md5 -l` prints it
    assert fingerprint(key) == "04:a0:7e:15:c9:82:77:48:a8:e1:3d:8f:3c:e3:27:a0"
    with pytest.raises(faults.BadRequest):
        fingerprint("not a key")


def test_flavors_are_seeded_once_with_api_ids(store: Store) -> None:
    seed_flavors(store)
    assert len(store.list("flavor")) == 4
    tiny = find_flavor(store, "http://x/compute/v2.1/flavors/1")
    assert tiny is not None and (tiny["id"], tiny["name"], tiny["ram"]) == ("1", "m1.tiny", 512)
    assert find_flavor(store, "99") is None


def test_instance_quota_message_is_novas(store: Store) -> None:
    store.insert("compute_quota", {"instances": 2}, id=quota_key("p"), project_id="p")
    _server(store, "p", "1")
    _server(store, "p", "1")
    _server(store, "other", "1")
    with pytest.raises(faults.OverLimit) as caught:
        check_server_quota(store, "p", find_flavor(store, "1"))
    assert caught.value.code == 403
    assert caught.value.message == (
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
    )
    body = faults.body_for(caught.value, faults.NOVA)
    assert body == {"forbidden": {"code": 403, "message": caught.value.message}}


def test_cores_and_ram_are_counted_from_flavors(store: Store) -> None:
    store.insert("compute_quota", {"cores": 4}, id=quota_key("p"), project_id="p")
    _server(store, "p", "3")  # 2 vCPUs
    check_server_quota(store, "p", find_flavor(store, "3"))  # 4 of 4: fine
    _server(store, "p", "3")
    with pytest.raises(faults.OverLimit, match="Quota exceeded for cores: Requested 2, but "
                       "already used 4 of 4 cores"):  # fmt: skip
        check_server_quota(store, "p", find_flavor(store, "3"))
