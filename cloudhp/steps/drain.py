"""Taking one node out of the Swarm without dropping a request.

Drain first: Swarm starts the node's tasks elsewhere and HAProxy, which resolves tasks
through Swarm DNS and health-checks them, stops sending there. Only when no task is
meant to run on the node and every service runs all its replicas does the node leave
(`docker swarm leave` on it, so it departs cleanly) and the lead forget it; a node that
cannot be reached is forgotten with `--force`. Each step looks first, so a run cut off
half-way is completed by the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cloudhp.commands.nodes import drain_command, leave_command, remove_node_command
from cloudhp.errors import CloudhpError, WaitTimeout
from cloudhp.polling import poll, poll_until
from cloudhp.remote.runner import Runner
from cloudhp.steps.services import wait_converged
from cloudhp.steps.swarm_nodes import SwarmNode, running_tasks, swarm_nodes, update_node

LEAVE_TIMEOUT = 60.0


def all_service_names(lead: Runner) -> list[str]:
    return sorted(lead.run(["docker", "service", "ls", "--format", "{{.Name}}"]).stdout.split())


def drain(
    lead: Runner, nodes: Sequence[SwarmNode], timeout: float, say: Callable[[str], None]
) -> None:
    """Drain `nodes` together (the capacity check counted them all gone) and wait until
    their tasks run elsewhere and every service converged.

    Raises:
        DeployFailed: a service did not get all its replicas back within `timeout`
            (the nodes stay drained; nothing is removed).
    """
    for node in nodes:
        if node.availability != "drain":
            say(f"draining {node.hostname}")
            update_node(lead, drain_command(node.id))
    names = [n.hostname for n in nodes]
    poll(
        lambda: running_tasks(lead, [n.id for n in nodes]),
        lambda tasks: not any(tasks[name] for name in names),
        timeout=timeout,
        interval=1.0,
        what=f"the tasks of {', '.join(names)} stopping",
    )
    wait_converged(lead, all_service_names(lead), timeout=timeout)


def leave_and_forget(
    lead: Runner, node: SwarmNode, on_node: Runner | None, say: Callable[[str], None]
) -> None:
    """The node leaves the Swarm (or, unreachable, is forced out) and the lead forgets it."""
    left = False
    if on_node is not None and node.state == "ready":
        try:
            on_node.run(leave_command(), timeout=LEAVE_TIMEOUT)
            left = True
        except CloudhpError as exc:
            say(f"{node.hostname} could not leave the Swarm itself ({exc.message}); forcing it")
    if left:
        try:
            poll_until(
                lambda: _gone_or_down(lead, node.hostname),
                timeout=LEAVE_TIMEOUT,
                interval=1.0,
                what=f"{node.hostname} shown Down",
            )
        except WaitTimeout:
            left = False
    if node.hostname in swarm_nodes(lead):
        lead.run(remove_node_command(node.id, force=not left))


def _gone_or_down(lead: Runner, hostname: str) -> bool:
    found = swarm_nodes(lead).get(hostname)
    return found is None or found.state == "down"
