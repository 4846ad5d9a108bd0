import stat

from cloudhp.keys import ensure_keypair


def test_keypair_is_generated_0600_and_reused(tmp_path):
    path = tmp_path / "sub" / "id_ed25519"
    first = ensure_keypair(path, comment="c1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.public_key.startswith("ssh-ed25519 ") and first.public_key.endswith(" c1")
    again = ensure_keypair(path, comment="c1")
    assert again.public_key == first.public_key
    assert b"OPENSSH PRIVATE KEY" in path.read_bytes()
