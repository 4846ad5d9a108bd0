"""Every input error of `cloudhp init`: a clear message, a non-zero exit, nothing created."""

from __future__ import annotations

import pytest

from tests.e2e.cloud import connect

pytestmark = pytest.mark.docker

NAME = "bad"


def nothing_created(cli) -> None:
    conn = connect(cli)
    tag = f"cloudhp-cluster={NAME}"
    assert list(conn.compute.servers(tags=tag)) == []
    assert list(conn.network.security_groups(tags=tag)) == []
    assert conn.compute.find_keypair(f"{NAME}-key") is None


@pytest.fixture(scope="module")
def cloud_up(cli):
    result = cli.run("localcloud", "up")
    assert result.returncode == 0, result.stderr
    return cli


def init(cli, *args: str, input: str | None = None):
    return cli.run("init", "--name", NAME, *args, input=input, timeout=300)


def test_missing_openrc(cloud_up, tmp_path):
    result = init(cloud_up, "--openrc", str(tmp_path / "nope.sh"))
    assert result.returncode != 0
    assert "nope.sh" in result.stderr and "does not exist" in result.stderr


def test_malformed_openrc_is_never_executed(cloud_up, tmp_path):
    rc = tmp_path / "evil.sh"
    marker = tmp_path / "ran"
    rc.write_text(f"export OS_AUTH_URL=http://x\ntouch {marker}\n")
    result = init(cloud_up, "--openrc", str(rc))
    assert result.returncode != 0
    assert "line 2" in result.stderr
    assert not marker.exists()


def openrc_for(cli, tmp_path):
    result = cli.run("localcloud", "openrc")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "demo-openrc.sh"
    path.write_text(result.stdout)
    return path


def test_wrong_password_from_a_pipe(cloud_up, tmp_path):
    rc = openrc_for(cloud_up, tmp_path)
    result = init(cloud_up, "--openrc", str(rc), input="not-the-password\n")
    assert result.returncode != 0
    assert "authentication failed" in result.stderr
    assert "not-the-password" not in result.stderr + result.stdout
    nothing_created(cloud_up)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--flavor", "m9.huge", "flavor 'm9.huge' not found"),
        ("--image", "windows-11", "image 'windows-11' not found"),
        ("--network", "no-such-net", "no-such-net"),
    ],
)
def test_unknown_cloud_names_list_what_exists(cloud_up, flag, value, says):
    result = init(cloud_up, "--cloud", "local", flag, value)
    assert result.returncode != 0
    assert says in result.stderr
    nothing_created(cloud_up)


def test_quota_too_small(cloud_up):
    result = init(cloud_up, "--cloud", "local", "--workers", "40")
    assert result.returncode != 0
    assert "quota" in result.stderr and "instances" in result.stderr
    nothing_created(cloud_up)


def test_even_manager_count_is_refused_with_the_reason(cloud_up):
    result = init(cloud_up, "--cloud", "local", "--managers", "2")
    assert result.returncode == 2
    assert "managers" in result.stderr and "majority" in result.stderr


def test_invalid_name(cloud_up):
    result = cloud_up.run("init", "--cloud", "local", "--name", "Bad_Name")
    assert result.returncode == 2
    assert "Bad_Name" in result.stderr
