import pytest

from cloudhp.commands.swarm import (
    DEFAULT_ADDR_POOL,
    init_command,
    join_command,
    label_command,
    rotate_token_command,
)
from cloudhp.remote.parallel import in_parallel
from cloudhp.steps.swarm import JoinTokens


def test_init_command():
    assert init_command("10.0.0.5") == [
        "docker", "swarm", "init",
        "--advertise-addr", "10.0.0.5",
        "--listen-addr", "10.0.0.5:2377",
        "--default-addr-pool", DEFAULT_ADDR_POOL,
    ]  # fmt: skip


def test_join_command():
    assert join_command("SWMTKN-1-abc", "10.0.0.5", "10.0.0.6") == [
        "docker", "swarm", "join",
        "--advertise-addr", "10.0.0.6",
        "--listen-addr", "10.0.0.6:2377",
        "--token", "SWMTKN-1-abc",
        "10.0.0.5:2377",
    ]  # fmt: skip


def test_join_tokens_never_show_in_repr():
    tokens = JoinTokens("SWMTKN-worker-secret", "SWMTKN-manager-secret")
    assert "secret" not in repr(tokens) and "secret" not in str(tokens)


def test_in_parallel_keeps_order_and_reraises():
    assert in_parallel(lambda x: x * 2, [3, 1, 2]) == [6, 2, 4]
    assert in_parallel(lambda x: x, []) == []

    def boom(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    try:
        in_parallel(boom, [1, 2, 3])
    except ValueError as exc:
        assert str(exc) == "two"
    else:
        raise AssertionError("the failure was lost")


def test_label_command_adds_every_label_in_order():
    assert label_command("n1", {"cloudhp.role": "worker", "cloudhp.ingress": "false"}) == [
        "docker", "node", "update",
        "--label-add", "cloudhp.ingress=false",
        "--label-add", "cloudhp.role=worker",
        "n1",
    ]  # fmt: skip


def test_rotate_token_command():
    assert rotate_token_command("worker") == [
        "docker", "swarm", "join-token", "--rotate", "-q", "worker",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        rotate_token_command("admin")
