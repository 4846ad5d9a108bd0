"""The node-side volume command lines, compared exactly, and the pure parsers."""

from __future__ import annotations

import pytest

from cloudhp.commands import volumes as v


def test_names_and_paths_follow_the_shared_contract() -> None:
    logical = v.logical_name("shop", "db-data")
    assert logical == "shop_db-data"
    assert v.mount_dir(logical) == "/var/lib/cloudhp/volumes/shop_db-data"
    assert v.data_dir(logical) == "/var/lib/cloudhp/volumes/shop_db-data/data"
    assert v.node_label(logical) == "cloudhp.volume.shop_db-data"
    assert v.placement_constraint(logical) == "node.labels.cloudhp.volume.shop_db-data==true"
    assert v.fs_label("averyveryverylongproject_x") == "averyveryverylon"


@pytest.mark.parametrize("project,volume", [("Shop", "db"), ("shop", "db_data"), ("shop", "")])
def test_a_logical_name_outside_the_rule_is_a_programming_error(project: str, volume: str) -> None:
    with pytest.raises(ValueError):
        v.logical_name(project, volume)


def test_device_is_found_by_serial_first() -> None:
    argv = v.device_script("0123456789abcdef0123456789abcdef", "/dev/vdb")
    assert argv[:4] == ["sudo", "-n", "sh", "-c"]
    assert argv[5:] == ["sh", "0123456789abcdef0123", "/dev/vdb"]
    assert "/dev/disk/by-id/virtio-$1" in argv[4]


def test_probe_and_its_parser() -> None:
    assert v.probe_command("/dev/vdb") == ["sudo", "-n", "blkid", "-p", "-o", "export", "/dev/vdb"]
    text = "DEVNAME=/dev/vdb\nUUID=5f0c\nTYPE=ext4\nUSAGE=filesystem\n\n"
    assert v.parse_probe(text) == {
        "DEVNAME": "/dev/vdb", "UUID": "5f0c", "TYPE": "ext4", "USAGE": "filesystem"
    }  # fmt: skip


def test_format_probes_again_and_never_forces() -> None:
    argv = v.format_script("/dev/vdb", "u-1", "shop_db")
    assert argv[5:] == ["sh", "/dev/vdb", "u-1", "shop_db", "/var/lib/cloudhp/volumes/shop_db"]
    script = argv[4]
    assert f"exit {v.NOT_BLANK}" in script
    assert 'mkfs.ext4 -q -U "$uuid" -L "$label" "$dev" </dev/null' in script
    assert " -F" not in script
    order = [script.index(s) for s in ("blkid -p", "mkfs.ext4", 'mkdir -p "$dir/data"')]
    assert order == sorted(order)


def test_mount_checks_the_uuid_before_mounting() -> None:
    argv = v.mount_script("/dev/vdc", "u-2", "shop_db")
    assert argv[5:] == ["sh", "/dev/vdc", "u-2", "/var/lib/cloudhp/volumes/shop_db"]
    script = argv[4]
    assert script.index('"$have" != "$uuid"') < script.index("mount -t ext4")
    assert f"exit {v.UUID_MISMATCH}" in script and f"exit {v.NO_DATA_DIR}" in script


def test_check_umount_mounted_and_labels() -> None:
    assert v.check_command("/dev/vdb") == ["sudo", "-n", "e2fsck", "-p", "/dev/vdb"]
    assert v.check_command("/dev/vdb", repair=False) == ["sudo", "-n", "e2fsck", "-n", "/dev/vdb"]
    assert [v.check_failed(code) for code in (0, 1, 2, 4, 8)] == [False, False, False, True, True]
    assert v.umount_script("a_b")[5:] == ["sh", "/var/lib/cloudhp/volumes/a_b"]
    assert v.mounted_command("a_b") == [
        "findmnt", "-n", "-o", "SOURCE", "--mountpoint", "/var/lib/cloudhp/volumes/a_b"
    ]  # fmt: skip
    assert v.label_add_command("w1", "a_b") == [
        "docker", "node", "update", "--label-add", "cloudhp.volume.a_b=true", "w1"
    ]  # fmt: skip
    assert v.label_rm_command("w1", "a_b") == [
        "docker", "node", "update", "--label-rm", "cloudhp.volume.a_b", "w1"
    ]  # fmt: skip
    assert v.node_labels_command("w1") == [
        "docker", "node", "inspect", "--format", "{{json .Spec.Labels}}", "w1"
    ]  # fmt: skip
