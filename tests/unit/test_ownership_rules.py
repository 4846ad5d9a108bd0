"""What teardown and init may delete: the keypair's owner, the stack's tags, shared images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cloudhp import state
from cloudhp.cli import main
from cloudhp.flows.teardown import TeardownReport
from cloudhp.keys import KeyPair, ensure_keypair
from cloudhp.naming import tag_list
from cloudhp.steps.golden_plan import ServerImage, image_users, kept_image_reason
from cloudhp.steps.inventory import Found, Kept
from cloudhp.steps.keypair import key_comment, keypair_ownership, read_local_key

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoo"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBar"


def local(public_key: str = KEY) -> KeyPair:
    return KeyPair(Path("/home/u/.local/share/cloudhp/clusters/demo/id_ed25519"), public_key)


# --------------------------------------------------------------------------- keypair


def test_key_comment_is_what_follows_type_and_key() -> None:
    assert key_comment(f"{KEY} cloudhp-cluster=demo") == "cloudhp-cluster=demo"
    assert key_comment(f"{KEY} alice at laptop") == "alice at laptop"
    assert key_comment(KEY) == ""


@pytest.mark.parametrize("mine", [None, local(), local(OTHER)])
def test_a_keypair_marked_with_the_tag_is_the_cluster_s_from_any_host(
    mine: KeyPair | None,
) -> None:
    assert keypair_ownership(f"{KEY} cloudhp-cluster=demo", "demo", mine) is None


def test_an_unmarked_keypair_holding_the_local_public_key_is_the_cluster_s() -> None:
    # e.g. imported before the marker comment existed, as "cloudhp-demo"
    assert keypair_ownership(f"{KEY} cloudhp-demo", "demo", local()) is None
    assert keypair_ownership(KEY, "demo", local()) is None


def test_a_foreign_keypair_without_a_local_key_is_kept_with_the_reason() -> None:
    assert keypair_ownership(f"{KEY} alice@laptop", "demo", None) == (
        "its public key's comment is 'alice@laptop', not cloudhp-cluster=demo, and this "
        "machine holds no key of cluster demo to compare it with; if it is the cluster's "
        "after all, delete it with `openstack keypair delete demo-key`"
    )


def test_a_foreign_keypair_that_differs_from_the_local_key_is_kept() -> None:
    why = keypair_ownership(OTHER, "demo", local())
    assert why is not None
    assert why.startswith(
        "its public key has no comment, not cloudhp-cluster=demo, and it is not the public "
        "key of /home/u/.local/share/cloudhp/clusters/demo/id_ed25519;"
    )


@pytest.mark.parametrize(
    "comment", ["cloudhp-cluster=demo2", "cloudhp-cluster=dem", "x cloudhp-cluster=demo"]
)
def test_only_the_exact_marker_counts(comment: str) -> None:
    assert keypair_ownership(f"{KEY} {comment}", "demo", None) is not None


def test_read_local_key_matches_the_generated_key_and_never_makes_one(tmp_path: Path) -> None:
    path = tmp_path / "id_ed25519"
    assert read_local_key(path) is None
    assert not path.exists()
    made = ensure_keypair(path, comment="cloudhp-cluster=demo")
    read = read_local_key(path)
    assert read is not None and read.private_path == path
    assert read.public_key.split() == made.public_key.split()[:2]


def test_a_damaged_local_key_vouches_for_nothing(tmp_path: Path) -> None:
    path = tmp_path / "id_ed25519"
    ensure_keypair(path)
    path.write_bytes(path.read_bytes()[:40])  # a write cut short
    assert read_local_key(path) is None


# --------------------------------------------------------------------------- stacks


def test_tag_list_reads_lists_and_heat_s_comma_strings() -> None:
    assert tag_list("cloudhp-cluster=demo, other") == ["cloudhp-cluster=demo", "other"]
    assert tag_list(["cloudhp-cluster=demo"]) == ["cloudhp-cluster=demo"]
    assert tag_list("") == [] and tag_list(None) == []


# --------------------------------------------------------------------------- images


def test_images_other_clusters_boot_from_are_in_use() -> None:
    servers = [
        ServerImage("b-worker-2", "img1", ("b",)),
        ServerImage("b-manager-1", "img1", ("b",)),
        ServerImage("c-worker-1", "img1", ("c",)),
        ServerImage("a-manager-1", "img2", ("a",)),  # the cluster's own: being deleted
        ServerImage("handmade", "img2", ()),  # no cluster's
        ServerImage("c-db-1", "", ("c",)),  # booted from a volume
        ServerImage("d-worker-1", "img9", ("d",)),  # another image altogether
    ]
    assert image_users("a", ["img1", "img2", "img3"], servers) == {
        "img1": {"b": ["b-manager-1", "b-worker-2"], "c": ["c-worker-1"]}
    }


def test_no_servers_means_every_image_may_go() -> None:
    assert image_users("a", ["img1"], []) == {}


def test_kept_image_reason_names_users_and_new_owners() -> None:
    many = [f"b-worker-{i}" for i in range(1, 6)]
    assert kept_image_reason("a", {"b": many, "c": ["c-manager-1"]}) == (
        "servers of other clusters boot from it (cluster b: b-worker-1, b-worker-2, "
        "b-worker-3 and 2 more; cluster c: c-manager-1); it is now tagged "
        "cloudhp-cluster=b, cloudhp-cluster=c instead of cloudhp-cluster=a, so the "
        "teardown --images of the last of them deletes it"
    )


# --------------------------------------------------------------------------- report


def kept_image() -> Kept:
    return Kept(Found("image", "img1", "cloudhp-golden-abc"), "in use", handed_to=("b",))


def test_report_lists_kept_resources_and_a_hand_over_is_a_change() -> None:
    keypair = Kept(Found("keypair", "demo-key", "demo-key"), "not ours")
    only_kept = TeardownReport("demo", {"keypair": []}, kept=[keypair])
    assert not only_kept.changed
    assert only_kept.to_dict()["kept"] == [
        {
            "kind": "keypair",
            "id": "demo-key",
            "name": "demo-key",
            "reason": "not ours",
            "handed_over_to": [],
        }
    ]
    handed = TeardownReport("demo", {"image": []}, kept=[kept_image()])
    assert handed.changed and handed.to_dict()["changed"] is True


@pytest.fixture
def fake_teardown(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The teardown command with the cloud replaced by a canned report."""
    seen: dict[str, Any] = {}

    def run(conn: Any, name: str, reporter: Any, **kwargs: Any) -> TeardownReport:
        seen.update(kwargs)
        keypair = Kept(Found("keypair", "demo-key", "demo-key"), "its comment is 'alice'")
        return TeardownReport(
            name, {"server": ["demo-manager-1"], "image": []}, kept=[keypair, kept_image()]
        )

    monkeypatch.setattr("cloudhp.flows.teardown.teardown", run)
    monkeypatch.setattr(
        "cloudhp.cli.cluster.connect_cluster",
        lambda name, *_: (state.cluster_files(name), object()),
    )
    return seen


def test_teardown_text_names_each_kept_resource_and_why(fake_teardown: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["teardown", "--name", "demo", "--yes", "--images"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:3] == [
        "kept keypair demo-key (demo-key): its comment is 'alice'",
        "kept image cloudhp-golden-abc (img1): in use",
        "deleted 1 server(s): demo-manager-1",
    ]
    assert fake_teardown["include_images"] is True
    assert fake_teardown["key_path"] == state.cluster_files("demo").key_path


def test_teardown_json_lists_kept_resources(fake_teardown: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["teardown", "--name", "demo", "--yes", "-o", "json"])
    assert result.exit_code == 0, result.output
    kept = json.loads(result.stdout)["kept"]
    assert [(k["kind"], k["name"], k["reason"]) for k in kept] == [
        ("keypair", "demo-key", "its comment is 'alice'"),
        ("image", "cloudhp-golden-abc", "in use"),
    ]
    assert kept[1]["handed_over_to"] == ["b"]
