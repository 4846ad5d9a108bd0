"""A docker-compose file, read into an `Application` that a Swarm stack file can carry.

Users arrive with compose files written for `docker compose up` on one machine. Swarm
ignores or rejects some of their keys; this module translates the ones that have a
faithful Swarm meaning, lists the rest in one warning, and refuses what would change
what the application does. Decisions, so that they are written down in one place:

- Project: the file's `name:`, else `--project`, else the file's directory. Only the
  directory name is normalised (as docker compose does: lower-case, keep a-z 0-9 _ -,
  strip leading _ and -; then `_` becomes `-` for cloudhp's rule); a name the user
  chose is checked as written, so cloudhp never deploys under a name nobody typed.
  Every `<project>-<service>` is checked against the naming rule before anything else.
- YAML is read as YAML 1.2 (docker compose's reading): unquoted `22:22`, `no`, `on`
  stay strings. Duplicate keys, unknown keys (with close matches) and malformed YAML
  are errors naming the file, the line and the key. `version` is ignored.
- Interpolation: none. cloudhp does not read the bastion's environment, so any `$`
  that compose would interpolate (`${VAR}`, `$VAR`) is refused; `$$` is a literal `$`
  (the stack renderer escapes it again for `docker stack deploy`). The same applies to
  env_file values, except single-quoted ones, which are literal. An environment name
  without a value (which compose takes from the shell) is refused for the same reason.
- Routing: `x-cloudhp: {port: N}` wins (`port: false` keeps a service off the ingress);
  else the single exposed HTTP port (`expose`, or a `ports` entry without a host port);
  several exposed HTTP ports are an error asking for x-cloudhp.port; else, with nothing
  exposed, the target of a single `ports` entry. Well-known database and broker ports
  (5432, 3306, 6379, ...) are never guessed to be HTTP. A `ports` entry that targets the
  routed port is served by the ingress, not also published; every other one becomes a
  host-mode port (no IPVS, so no routing mesh). Host port 80 is the ingress's; a host
  address (`127.0.0.1:5432:5432`) is refused because Swarm cannot bind one address.
- CONTEXT_ROOT=/<project>-<service> is added to routed services unless set; health
  paths are the path HAProxy asks the task for, as written (default: the context root).
- `links: [db:database]` gives `db` the network alias `database` (Swarm aliases are
  network-wide) and, like `depends_on` (list or mapping; conditions are not kept:
  Swarm has none), orders the start. A cycle is an error naming it.
- Memory: `mem_limit`/`mem_reservation` and `deploy.resources` both count; if both
  are given they must agree. Sizes are bytes or 512m/1g/256M and must be whole MiB;
  a reservation above the limit, or a limit under Docker's 6 MiB, is an error.
- `restart` becomes `deploy.restart_policy` (unless that is given): always and
  unless-stopped -> any, on-failure[:N] -> on-failure (max_attempts N), no -> none.
  `scale` becomes replicas; `cpus` becomes deploy.resources.limits.cpus.
- Networks: all of a project's services share its `default` network. Aliases given
  under a service's networks are kept; other networks and ipv4/ipv6 addresses are
  listed in the warning. Named volumes must be declared: plain local volumes, or
  Cinder volumes when given a size (`cloudhp.apps.volumes`); bind mounts of bastion
  paths (`./x`, `~/x`) are refused; an update of a service with a named volume
  is stop-first (two tasks never write one volume).
- Ignored with the one warning (docker 20.10's Swarm does not apply them and they
  have no translation): container_name, privileged, devices, network_mode, cap_add,
  cap_drop, sysctls, ulimits, security_opt, ... (`translate.IGNORED`), non-default
  `deploy.endpoint_mode` (this cluster is dnsrr only), build.labels/cache_from/...,
  top-level networks, configs and secrets. Refused: extends, volumes_from, and
  service-level configs and secrets (their absence would break the application).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from cloudhp.apps.environment import unescape
from cloudhp.apps.model import Application
from cloudhp.apps.order import start_order
from cloudhp.apps.source import (
    At,
    MarkedDict,
    check_keys,
    close_matches,
    mapping,
    parse_yaml,
    read_text,
    string,
)  # fmt: skip
from cloudhp.apps.translate import Draft, translate
from cloudhp.apps.volumes import bind_block_volumes, declared_volumes, shared_block_volumes

TOP_KEYS = ("version", "name", "services", "networks", "volumes", "configs", "secrets")


def directory_project(directory: Path) -> str:
    """The project name docker compose derives from a directory, made to fit cloudhp's rule."""
    name = "".join(re.findall(r"[a-z0-9_-]", directory.name.lower())).lstrip("_-")
    return name.replace("_", "-")


def _project(root: At, data: MarkedDict, project: str | None, path: Path) -> str:
    if "name" in data:
        return string(root.child(data, "name"), data["name"])
    if project is not None:
        return project
    name = directory_project(path.resolve().parent)
    if not name:
        raise root.error(
            f"cannot derive a project name from the directory {path.resolve().parent.name!r}",
            hint="add name: to the file or pass --project",
        )
    return name


def _resolve(drafts: dict[str, Draft], networks: set[str], volumes: set[str]) -> None:
    """Links become aliases and dependencies; every reference must name something."""
    for draft in drafts.values():
        for target, alias, at in draft.links:
            if target not in drafts:
                raise at.error(
                    f"links to {target!r}, which is not a service{close_matches(target, drafts)}"
                )
            if alias and alias != target:
                drafts[target].aliases.append(alias)
            draft.depends.append((target, at))
        for needed, at in draft.depends:
            if needed not in drafts:
                raise at.error(
                    f"depends on {needed!r}, which is not a service{close_matches(needed, drafts)}"
                )
        for network, at in draft.networks:
            if network != "default" and network not in networks:
                raise at.error(f"network {network!r} is not declared in the top-level networks")
        for volume, at in draft.volumes:
            if volume not in volumes:
                raise at.error(
                    f"volume {volume!r} is not declared in the top-level volumes"
                    + close_matches(volume, volumes),
                    hint=f"add `volumes: {{{volume}: {{}}}}` at the top level",
                )


def _claims(drafts: dict[str, Draft]) -> None:
    """Two services cannot share a host name route or a host port."""
    hosts: dict[str, str] = {}
    ports: dict[tuple[int, str], str] = {}
    for name, draft in drafts.items():
        for host in draft.service.hosts:
            if host in hosts:
                raise draft.at.error(f"host name {host!r} is already routed to {hosts[host]!r}")
            hosts[host] = name
        for port in draft.service.published_ports:
            key = (port.published, port.protocol)
            if key in ports and ports[key] != name:
                raise draft.at.error(
                    f"host port {port.published}/{port.protocol} is already published "
                    f"by {ports[key]!r}"
                )
            ports[key] = name


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def load_compose(path: Path, project: str | None = None) -> Application:
    """Reads and checks a compose file; nothing is built or deployed here.

    Raises:
        UsageError: Naming the file, the line and the key of the first problem.
    """
    root = At(path, "", 1)
    data: Any = parse_yaml(path, read_text(path))
    if data is None:
        raise root.error("the file is empty", hint="a compose file has a services: mapping")
    data = mapping(root, data, allow_none=False)
    check_keys(root, data, TOP_KEYS)
    for key in data:
        if not key.startswith("x-"):
            unescape(root.child(data, key), data[key])
    name = _project(root, data, project, path)
    services_at = root.child(data, "services")
    services = mapping(services_at, data.get("services"))
    if not services:
        raise services_at.error("the file defines no services")
    networks = mapping(root.child(data, "networks"), data.get("networks"))
    volumes, blocks = declared_volumes(root.child(data, "volumes"), data.get("volumes"), name)
    base = path.resolve().parent
    drafts: dict[str, Draft] = {}
    for service_name, spec in services.items():
        where = services_at.child(services, service_name)
        spec = mapping(where, spec, allow_none=False)
        drafts[service_name] = translate(name, service_name, where, spec, base)
    _resolve(drafts, set(networks), volumes)
    shared_block_volumes({n: d.volumes for n, d in drafts.items()}, blocks)
    for draft in drafts.values():
        draft.service = bind_block_volumes(draft.service, draft.volumes, blocks, draft.at)
    _claims(drafts)
    order = start_order(list(drafts), {n: d.depends for n, d in drafts.items()})

    ignored = [at for draft in drafts.values() for at in draft.ignored]
    ignored += [root.child(data, "networks").child(networks, n) for n in networks if n != "default"]
    for section in ("configs", "secrets"):
        entries = mapping(root.child(data, section), data.get(section))
        ignored += [root.child(data, section).child(entries, n) for n in entries]
    warnings = [a for d in drafts.values() for a in d.advice]
    if ignored:
        listed = ", ".join(f"{at.key} (line {at.line})" for at in ignored)
        warnings.insert(
            0,
            f"{path}: not deployed, Swarm does not apply these keys and cloudhp has no "
            f"faithful translation for them: {listed}",
        )
    built = [
        replace(
            drafts[n].service,
            aliases=tuple(sorted(set(drafts[n].aliases))),
            depends_on=_unique([d for d, _ in drafts[n].depends]),
        )
        for n in order
    ]
    return Application(name, tuple(built), tuple(warnings), path.resolve())
