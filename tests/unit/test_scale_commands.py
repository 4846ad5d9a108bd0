"""The argv scaling in runs, compared exactly."""

from cloudhp.commands.nodes import (
    demote_command,
    drain_command,
    inspect_nodes_command,
    inspect_services_command,
    leave_command,
    node_tasks_command,
    remove_node_command,
    service_ids_command,
)


def test_node_commands():
    assert inspect_nodes_command(["a", "b"]) == ["docker", "node", "inspect", "a", "b"]
    assert drain_command("n1") == ["docker", "node", "update", "--availability", "drain", "n1"]
    assert demote_command("n1") == ["docker", "node", "demote", "n1"]
    assert leave_command() == ["docker", "swarm", "leave"]


def test_tasks_meant_to_run_name_their_node():
    assert node_tasks_command(["a", "b"]) == [
        "docker", "node", "ps", "--filter", "desired-state=running",
        "--format", "{{.ID}} {{.Node}}", "a", "b",
    ]  # fmt: skip


def test_a_node_is_forced_out_only_when_asked():
    assert remove_node_command("n1") == ["docker", "node", "rm", "n1"]
    assert remove_node_command("n1", force=True) == ["docker", "node", "rm", "--force", "n1"]


def test_service_commands():
    assert service_ids_command() == ["docker", "service", "ls", "-q"]
    assert inspect_services_command(["s1"]) == ["docker", "service", "inspect", "s1"]
