"""The ingress: HAProxy as a Swarm service on the ingress node(s), on a floating IP.

HAProxy publishes port 80 in host mode on nodes labelled `cloudhp.ingress=true` (this
machine's kernel has no IPVS, and the ingress needs no routing mesh anyway: it finds
services' tasks through Swarm DNS).

Its configuration is a file on each ingress node's disk (`HOST_DIR`), bind-mounted
read-only into the container, and never a Swarm config: changing a service's config
makes Swarm replace the task, and a host-mode port is stopped before the new task can
bind it, so every route change would refuse connections. A file can instead be
validated with `haproxy -c` inside the running container, renamed into place
atomically, and picked up by a master-worker reload (SIGUSR2): the HAProxy 2.6 master
re-executes itself with `-x sockpair@<fd>`, so the new worker receives the listening
sockets from the old one over the master's socketpair (no `expose-fd listeners` stats
socket is needed), binds nothing anew, and the old worker finishes its connections.
Before the signal the running worker's server state is saved (runtime API, `show
servers state`) for the new one to start from, so that it does not answer 503 while
its DNS resolution of the services' tasks is still pending.
"""

from __future__ import annotations

import json
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from cloudhp.commands.haproxy import (
    CONFIG_DIR,
    CONFIG_FILE,
    CONFIG_HEADER,
    HOST_DIR,
    SERVER_STATE_FILE,
    SERVICE,
    STATS_SOCKET,
    embedded_digest,
    ingress_config,
    service_command,
)
from cloudhp.context import ClusterContext
from cloudhp.errors import CloudhpError, WaitTimeout
from cloudhp.polling import poll
from cloudhp.remote.parallel import in_parallel
from cloudhp.remote.runner import Runner
from cloudhp.steps.servers import Node

HOST_PATH = f"{HOST_DIR}/{CONFIG_FILE}"
CANDIDATE = f"{CONFIG_FILE}.new"
"""The candidate sits next to the live file: the same directory makes the rename
atomic, and the same mount makes it visible inside the container for `haproxy -c`."""
OLD_CONFIG_PREFIX = "cloudhp-haproxy-"
"""Swarm configs of ingresses created before the configuration moved to a file."""
WANTED_MOUNT = {"Type": "bind", "Source": HOST_DIR, "Target": CONFIG_DIR, "ReadOnly": True}


class IngressConfigInvalid(CloudhpError):
    """`haproxy -c` refused a configuration; nothing was replaced."""


class IngressReloadFailed(CloudhpError):
    """HAProxy did not load a configuration that `haproxy -c` had accepted."""


def ensure_ingress_service(
    manager: Runner,
    image: str,
    cluster: str,
    network: str,
    ingress_nodes: Sequence[Runner] | None = None,
) -> bool:
    """Run HAProxy on every ingress node, reading its configuration from the node's disk.

    `ingress_nodes` are the runners of the nodes labelled `cloudhp.ingress=true`; the
    default, the manager alone, fits the usual single ingress node (the first manager).
    Each gets the default configuration (no routes) only when it has none yet, so a
    rerun never drops routes that `apply_routes` installed. False when the service
    already runs exactly this image with this mount and no file had to be written.
    """
    nodes = [manager] if ingress_nodes is None else list(ingress_nodes)
    default = ingress_config(cluster, ())
    changed = False
    for node in nodes:
        changed = ensure_config_file(node, default) or changed
    found = manager.run(
        ["docker", "service", "inspect", "--format", "{{json .Spec}}", SERVICE], check=False
    )
    if found.exited == 0:
        task = json.loads(found.stdout)["TaskTemplate"]["ContainerSpec"]
        mounts = [
            {k: m.get(k, False if k == "ReadOnly" else "") for k in WANTED_MOUNT}
            for m in task.get("Mounts") or []
        ]
        if (
            task["Image"].split("@")[0] == image
            and mounts == [WANTED_MOUNT]
            and not task.get("Configs")
        ):
            return changed
        manager.run(["docker", "service", "rm", SERVICE])
        _remove_old_configs(manager)
    manager.run(service_command(image, network))
    return True


def _remove_old_configs(manager: Runner) -> None:
    """Swarm configs left by an ingress that read its configuration from one."""
    names = manager.run(["docker", "config", "ls", "--format", "{{.Name}}"]).stdout.split()
    old = [n for n in names if n.startswith(OLD_CONFIG_PREFIX)]
    if old:
        # check=False: a config still referenced by a task being removed stays; harmless.
        manager.run(["docker", "config", "rm", *old], check=False)


def ensure_config_file(runner: Runner, text: str) -> bool:
    """Write the configuration file when the node has none; True when written."""
    if read_config(runner) is not None:
        return False
    _write_candidate(runner, text)
    runner.run(["sudo", "-n", "mv", "-f", f"{HOST_DIR}/{CANDIDATE}", HOST_PATH])
    return True


def read_config(runner: Runner) -> str | None:
    """The node's configuration file, or None when it has none."""
    found = runner.run(["cat", HOST_PATH], check=False)
    return found.stdout if found.exited == 0 else None


def _write_candidate(runner: Runner, text: str) -> None:
    script = 'mkdir -p "$1" && umask 022 && cat > "$1/$2"'
    runner.run_with_input(
        ["sudo", "-n", "sh", "-c", script, "sh", HOST_DIR, CANDIDATE], [text.encode()]
    )


def _remove_candidate(runner: Runner) -> None:
    runner.run(["sudo", "-n", "rm", "-f", f"{HOST_DIR}/{CANDIDATE}"], check=False)


def ingress_containers(runner: Runner) -> list[str]:
    """Running containers of the ingress service on this node (two during a task swap)."""
    out = runner.run([
        "docker", "ps", "--quiet", "--no-trunc",
        "--filter", f"label=com.docker.swarm.service.name={SERVICE}",
        "--filter", "status=running",
    ]).stdout  # fmt: skip
    return out.split()


def _loaded(runner: Runner, container: str, since: str | None = None) -> str | None:
    """HAProxy's master prints "Loading success." or "Loading failure!" after each
    (re)load; the last such line (since `since`), searched on the node so that a long
    request log never crosses the network."""
    logs = ["docker", "logs", *(["--since", since] if since else []), container]
    script = f"{shlex.join(logs)} 2>&1 | grep -E 'Loading (success|failure)' | tail -n 1"
    line = runner.run(["sh", "-c", script], check=False).stdout.strip()
    return line or None


def _running_proxy(runner: Runner, timeout: float) -> list[str]:
    """Wait until this node runs an ingress container whose master has loaded once:
    a SIGUSR2 before HAProxy installs its handlers would kill the container."""
    deadline = time.monotonic() + timeout
    while True:
        containers = ingress_containers(runner)
        if containers and all(_loaded(runner, c) for c in containers):
            return containers
        if time.monotonic() > deadline:
            raise WaitTimeout(
                f"no running ingress container ({SERVICE}) on {runner.host} within {timeout:.0f}s",
                hint="check `docker service ps cloudhp-ingress` on a manager",
            )
        time.sleep(0.5)


def _validate(runner: Runner, container: str) -> None:
    """`haproxy -c` by the very binary that will load it, with the paths it will see."""
    candidate = f"{CONFIG_DIR}/{CANDIDATE}"
    checked = runner.run(
        ["docker", "exec", container, "haproxy", "-c", "-f", candidate], check=False
    )
    if checked.exited != 0:
        output = "\n".join((checked.stdout + checked.stderr).strip().splitlines()[-20:])
        raise IngressConfigInvalid(
            f"haproxy -c refused the new ingress configuration on {runner.host}:\n{output}",
            hint="nothing was changed: the running configuration keeps serving",
        )


def _save_server_state(runner: Runner, container: str) -> None:
    """Save the running worker's server addresses and health where the next worker
    loads them (`server-state-file`), so that it does not start with unresolved servers
    and answer 503 until its first DNS round."""
    script = (
        f'echo "show servers state" | socat stdio unix-connect:{STATS_SOCKET}'
        f" > {SERVER_STATE_FILE}.tmp && mv -f {SERVER_STATE_FILE}.tmp {SERVER_STATE_FILE}"
    )
    saved = runner.run(["docker", "exec", container, "sh", "-c", script], check=False)
    if saved.exited != 0:
        raise IngressReloadFailed(
            f"could not save HAProxy's server state on {runner.host} before reloading: "
            f"{(saved.stdout + saved.stderr).strip()}",
            hint="nothing was reloaded; is the ingress running cloudhp's current haproxy "
            "image? `cloudhp init` again replaces an older one",
        )


def _reload(
    runner: Runner, containers: Sequence[str], previous: str | None, timeout: float
) -> None:
    """Move the candidate into place and make each container's master reload it."""
    for container in containers:
        _save_server_state(runner, container)
    since = runner.run(["date", "-u", "+%Y-%m-%dT%H:%M:%S.%NZ"]).stdout.strip()
    runner.run(["sudo", "-n", "mv", "-f", f"{HOST_DIR}/{CANDIDATE}", HOST_PATH])
    for container in containers:
        runner.run(["docker", "kill", "--signal", "USR2", container])
    deadline = time.monotonic() + timeout
    for container in containers:
        while (line := _loaded(runner, container, since)) is None:
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"HAProxy on {runner.host} did not report its reload within {timeout:.0f}s"
                )
            time.sleep(0.2)
        if "failure" in line:
            if previous is not None:  # so that a restarted container runs what serves now
                _write_candidate(runner, previous)
                runner.run(["sudo", "-n", "mv", "-f", f"{HOST_DIR}/{CANDIDATE}", HOST_PATH])
            raise IngressReloadFailed(
                f"HAProxy on {runner.host} failed to load the new configuration: {line}",
                hint="its previous workers keep serving; see `docker logs` of the ingress",
            )


def apply_routes(runners: Sequence[Runner], text: str, timeout: float = 60.0) -> bool:
    """Make every ingress node serve `text` without dropping a connection.

    Two phases, so that one bad text never leaves the nodes disagreeing: first every
    node whose file differs gets the candidate written next to it and checked by its
    running HAProxy (`haproxy -c`); any refusal removes all candidates and raises
    IngressConfigInvalid with HAProxy's message, the old files and proxies untouched.
    Then each such node renames the candidate into place and reloads (SIGUSR2 to the
    master), waiting until HAProxy reports the load. False when no node had to change.
    """
    staged: list[tuple[Runner, list[str], str | None]] = []
    touched: list[Runner] = []
    try:
        for runner in runners:
            current = read_config(runner)
            if current == text:
                continue
            containers = _running_proxy(runner, timeout)
            touched.append(runner)
            _write_candidate(runner, text)
            _validate(runner, containers[0])
            staged.append((runner, containers, current))
    except BaseException:
        for runner in touched:
            _remove_candidate(runner)
        raise
    for runner, containers, previous in staged:
        _reload(runner, containers, previous, timeout)
    return bool(staged)


def served_digest(runner: Runner) -> str | None:
    """The digest of the configuration this node's HAProxy answers with, asked on the
    node itself (a new connection, so a new worker after a reload); None when it does
    not answer or runs a configuration that reports none."""
    argv = ["curl", "-s", "-o", "/dev/null", "-D", "-", "--max-time", "3"]
    probe = runner.run([*argv, "http://127.0.0.1/healthz"], check=False)
    prefix = CONFIG_HEADER.lower() + ":"
    for line in probe.stdout.splitlines():
        if line.lower().startswith(prefix):
            return line.split(":", 1)[1].strip()
    return None


def wait_until_served(
    runners: Mapping[str, Runner], text: str, timeout: float = 60.0
) -> dict[str, str | None]:
    """Until every ingress node (by name) reports the digest of `text`; what each
    reported, by name."""
    wanted = embedded_digest(text)
    names = sorted(runners)

    def ask() -> dict[str, str | None]:
        return dict(
            zip(names, in_parallel(served_digest, [runners[n] for n in names]), strict=True)
        )

    return poll(
        ask,
        lambda seen: all(d == wanted for d in seen.values()),
        timeout=timeout,
        interval=0.5,
        what=f"every ingress node serving configuration {wanted}",
        hint="`docker logs` of cloudhp-ingress on the node that lags says why",
    )


def ensure_floating_ip(ctx: ClusterContext, node: Node) -> tuple[str, bool]:
    """One tagged floating IP on the ingress node's port; returns (address, changed)."""
    net = ctx.conn.network
    res = ctx.need_resolved()
    ports = list(net.ports(device_id=node.server_id, network_id=res.network_id))
    if not ports:
        raise WaitTimeout(f"server {node.name} has no port on {res.network_name} yet")
    port = ports[0]
    tagged = [f for f in net.ips(tags=ctx.tag) if f.description == node.name or not f.description]
    changed = False
    if tagged:
        fip = tagged[0]
    else:
        # The tag goes in the POST so that a run killed right here leaks nothing.
        fip = net.create_ip(
            floating_network_id=res.external_network_id, description=node.name, tags=ctx.tags
        )
        if not set(ctx.tags) <= set(fip.tags or []):
            net.set_tags(fip, ctx.tags)
        changed = True
    if fip.port_id != port.id:
        fip = net.update_ip(fip, port_id=port.id)
        changed = True
    return str(fip.floating_ip_address), changed


def wait_for_http(url: str, timeout: float = 120.0) -> str:
    """Wait until `url` answers 200; returns the body."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(1)
    raise WaitTimeout(f"{url} did not answer within {timeout:.0f}s: {last}")
