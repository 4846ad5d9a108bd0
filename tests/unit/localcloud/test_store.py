"""The document store: the one contract every localcloud service builds on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cloudhp_localcloud.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.db")


def test_insert_returns_record_with_columns_and_uuid(store: Store) -> None:
    rec = store.insert(
        "server", {"status": "BUILD", "flavor": {"id": "f1"}}, project_id="p1", name="a"
    )
    assert len(rec["id"]) == 36 and rec["id"].count("-") == 4
    assert rec["created_at"].endswith("Z")
    assert store.get("server", rec["id"]) == rec


def test_get_hides_other_projects_and_types(store: Store) -> None:
    rec = store.insert("server", {}, project_id="p1")
    assert store.get("server", rec["id"], project_id="p2") is None
    assert store.get("volume", rec["id"]) is None
    assert store.get("server", rec["id"], project_id="p1") is not None


def test_update_merges_and_moves_columns(store: Store) -> None:
    rec = store.insert("server", {"status": "BUILD", "keep": 1}, name="a")
    out = store.update("server", rec["id"], {"status": "ACTIVE", "name": "b"})
    assert out["status"] == "ACTIVE" and out["keep"] == 1 and out["name"] == "b"
    assert store.get("server", rec["id"]) == out
    assert store.list("server", name="b") == [out]


def test_update_of_missing_raises_keyerror(store: Store) -> None:
    with pytest.raises(KeyError):
        store.update("server", "nope", {"x": 1})


def test_delete_reports_whether_it_existed(store: Store) -> None:
    rec = store.insert("server", {})
    assert store.delete("server", rec["id"]) is True
    assert store.delete("server", rec["id"]) is False


def test_list_filters_on_json_fields_bools_and_nulls(store: Store) -> None:
    a = store.insert("port", {"admin_state_up": True, "device_id": None, "n": 1}, project_id="p")
    b = store.insert("port", {"admin_state_up": False, "device_id": "d", "n": 2}, project_id="p")
    store.insert("port", {"admin_state_up": True}, project_id="q")
    assert [r["id"] for r in store.list("port", project_id="p")] == [a["id"], b["id"]]
    assert store.list("port", project_id="p", admin_state_up=False) == [b]
    assert store.list("port", device_id=None, n=1) == [a]
    assert store.list("port", device_id="d") == [b]
    with pytest.raises(ValueError):
        store.list("port", **{"x') OR 1=1 --": 1})


def test_transaction_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.insert("volume", {})
        raise RuntimeError
    assert store.list("volume") == []


def test_counts_per_type(store: Store) -> None:
    store.insert("a", {})
    store.insert("a", {})
    store.insert("b", {})
    assert store.counts() == {"a": 2, "b": 1}


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    def work() -> None:
        for _ in range(50):
            with store.transaction():
                store.insert("x", {"n": len(store.list("x"))})

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["n"] for r in store.list("x")) == list(range(400))


def test_state_is_shared_across_connections(tmp_path: Path) -> None:
    first = Store(tmp_path / "state.db")
    rec = first.insert("x", {"v": 1})
    assert Store(tmp_path / "state.db").get("x", rec["id"]) == rec
