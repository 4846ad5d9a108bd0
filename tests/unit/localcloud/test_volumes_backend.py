"""Volume files, device letters and Cinder quotas, without HTTP, Docker or loops."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudhp_localcloud import faults
from cloudhp_localcloud.store import Store
from cloudhp_localcloud.volume import backend as vb
from cloudhp_localcloud.volume import loops as vl
from cloudhp_localcloud.volume import quotas as vq


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.db")


def test_volume_file_is_sparse_and_beside_the_state(store: Store) -> None:
    path = vb.create_file(store, "v1", 3)
    assert path == store.path.parent / "volumes" / "v1.img"
    assert path.stat().st_size == 3 * vb.GIB and path.stat().st_blocks < 64
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    vb.create_file(store, "v1", 4)  # extend keeps the file, grows it
    assert path.stat().st_size == 4 * vb.GIB
    vb.delete_file(store, "v1")
    assert not path.exists()


def test_device_letters_are_unique_per_server() -> None:
    assert vb._pick_device(set(), None) == "/dev/vdb"
    assert vb._pick_device({"/dev/vdb"}, None) == "/dev/vdc"
    assert vb._pick_device({"/dev/vdb"}, "/dev/vdb") == "/dev/vdc"  # taken: next free
    assert vb._pick_device(set(), "/dev/vdf") == "/dev/vdf"
    every = {f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz"}
    with pytest.raises(faults.BadRequest):
        vb._pick_device(every, None)


def test_attach_unknown_volume_is_404(store: Store) -> None:
    with pytest.raises(faults.NotFound, match="could not be found"):
        vb.attach_volume(store, "nope", "server", None)


def test_loops_under_parses_losetup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    listing = f"/dev/loop1 {tmp_path}/volumes/a.img\n/dev/loop2 /elsewhere/b.img\n" \
              f"/dev/loop3 {tmp_path}/volumes/c.img (deleted)\n"  # fmt: skip
    monkeypatch.setattr(vl, "_run", lambda *argv: listing)
    assert vb.loops_under(tmp_path / "volumes") == ["/dev/loop1", "/dev/loop3"]


def test_cinder_quota_messages(store: Store) -> None:
    store.insert("volume", {"size": 900, "status": "available"}, project_id="p")
    with pytest.raises(faults.OverLimit, match="Requested 200G, quota is 1000G and 900G"):
        vq.check_quota(store, "p", 1, 200)
    store.insert(vq.QUOTA, {"limits": {"volumes": 1}}, project_id="p")
    with pytest.raises(faults.OverLimit, match=r"Maximum number of volumes allowed \(1\)"):
        vq.check_quota(store, "p", 1, 1)
    vq.check_quota(store, "other", 1, 1)  # other projects keep the defaults
    assert vq.limits(store, "p")["volumes"] == 1 and vq.usage(store, "p")["gigabytes"] == 900


def test_reset_hook_frees_loops_then_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cloudhp_localcloud import registry
    from cloudhp_localcloud.config import LocalCloudConfig
    from cloudhp_localcloud.volume import api as volume_api

    assert volume_api.reset_loop_devices in registry.reset_hooks()
    freed: list[Path] = []
    monkeypatch.setattr(vb, "detach_all_loops", lambda data_dir: freed.append(data_dir) or 0)
    store = Store(tmp_path / "state.db")
    path = vb.create_file(store, "v1", 1)
    volume_api.reset_loop_devices(LocalCloudConfig(data_dir=tmp_path))
    assert freed == [tmp_path] and not path.exists()
