import io
import tarfile

import yaml

from cloudhp.images.nodecontainers import SEED_DIR, NodeSpec, seed_archive


def test_seed_files_carry_identity_keys_and_user_data():
    spec = NodeSpec(
        name="n1", image="img", network="net", hostname="node1",
        public_keys=["ssh-ed25519 AAAA test"], user_data="#cloud-config\nruncmd: [true]\n",
    )  # fmt: skip
    files = spec.seed_files()
    meta = yaml.safe_load(files["meta-data"])
    assert meta == {
        "instance-id": "n1",
        "local-hostname": "node1",
        "public-keys": ["ssh-ed25519 AAAA test"],
    }
    assert files["user-data"].startswith(b"#cloud-config")


def test_seed_archive_is_a_nocloud_directory():
    data = seed_archive({"meta-data": b"a", "user-data": b"b"})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert f"{SEED_DIR}/meta-data" in names and f"{SEED_DIR}/user-data" in names
        assert "var/lib/cloud" in names  # parents exist so put_archive can extract
        assert tar.getmember(f"{SEED_DIR}/user-data").mode == 0o600
