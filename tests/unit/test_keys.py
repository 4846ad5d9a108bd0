import stat

import pytest

from cloudhp.keys import DamagedKey, ensure_keypair


def test_keypair_is_generated_0600_and_reused(tmp_path):
    path = tmp_path / "sub" / "id_ed25519"
    first = ensure_keypair(path, comment="c1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.public_key.startswith("ssh-ed25519 ") and first.public_key.endswith(" c1")
    again = ensure_keypair(path, comment="c1")
    assert again.public_key == first.public_key
    assert b"OPENSSH PRIVATE KEY" in path.read_bytes()


def test_a_damaged_key_file_is_reported_and_left_as_it_is(tmp_path):
    path = tmp_path / "id_ed25519"
    ensure_keypair(path)
    path.write_bytes(path.read_bytes()[:60])
    damaged = path.read_bytes()
    with pytest.raises(DamagedKey, match=rf"the SSH key {path} is damaged"):
        ensure_keypair(path)
    assert path.read_bytes() == damaged
