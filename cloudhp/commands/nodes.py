"""The `docker node` and `docker service` command lines that scaling in runs.

Pure functions, compared exactly in tests; `cloudhp.steps.drain` and
`cloudhp.steps.swarm_nodes` decide when to run them.
"""

from __future__ import annotations

from collections.abc import Sequence


def inspect_nodes_command(node_ids: Sequence[str]) -> list[str]:
    return ["docker", "node", "inspect", *node_ids]


def node_tasks_command(node_ids: Sequence[str]) -> list[str]:
    """A line per task meant to run on the nodes (task id, node): what a drain empties.

    With several nodes, the 20.10 CLI repeats the tasks of earlier nodes for each later
    one, so readers count distinct task ids."""
    return [
        "docker", "node", "ps",
        "--filter", "desired-state=running",
        "--format", "{{.ID}} {{.Node}}",
        *node_ids,
    ]  # fmt: skip


def drain_command(node_id: str) -> list[str]:
    return ["docker", "node", "update", "--availability", "drain", node_id]


def demote_command(node_id: str) -> list[str]:
    return ["docker", "node", "demote", node_id]


def leave_command() -> list[str]:
    """Run on the node itself; a demoted manager is a worker and leaves without --force."""
    return ["docker", "swarm", "leave"]


def remove_node_command(node_id: str, force: bool = False) -> list[str]:
    """`--force` only for a node that could not leave (unreachable): the Swarm then
    forgets it without its consent."""
    return ["docker", "node", "rm", *(["--force"] if force else []), node_id]


def service_ids_command() -> list[str]:
    return ["docker", "service", "ls", "-q"]


def inspect_services_command(service_ids: Sequence[str]) -> list[str]:
    return ["docker", "service", "inspect", *service_ids]
