"""One compose service's keys, translated into a `Service` (see `cloudhp.apps.compose`).

What crosses services (links becoming aliases, depends_on becoming the start order,
host names and host ports claimed twice) is resolved by the caller from the `Draft`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cloudhp.apps import fields
from cloudhp.apps.environment import env_files, pairs
from cloudhp.apps.model import Build, PublishedPort, Service, with_context_root
from cloudhp.apps.ports import choose_route, parse_expose, parse_ports
from cloudhp.apps.source import (
    At,
    MarkedDict,
    check_keys,
    integer,
    mapping,
    plain,
    scalar_text,
    sequence,
    string,
)
from cloudhp.apps.volumes import service_volumes

PASSTHROUGH = frozenset(
    {"healthcheck", "user", "working_dir", "labels", "hostname", "stop_grace_period",
     "stop_signal", "init", "tmpfs", "read_only", "tty", "stdin_open", "extra_hosts", "dns",
     "dns_search", "logging", "isolation", "credential_spec"}
)  # fmt: skip
"""Keys a v3.8 stack file carries and Swarm applies as they are."""

TRANSLATED = frozenset(
    {"image", "build", "environment", "env_file", "command", "entrypoint", "expose", "ports",
     "links", "depends_on", "mem_limit", "mem_reservation", "cpus", "deploy", "restart",
     "scale", "networks", "volumes", "x-cloudhp"}
)  # fmt: skip

IGNORED = frozenset(
    {"container_name", "privileged", "devices", "network_mode", "cap_add", "cap_drop",
     "cgroup_parent", "cgroupns_mode", "domainname", "external_links", "ipc", "mac_address",
     "pid", "security_opt", "shm_size", "sysctls", "ulimits", "userns_mode", "platform",
     "pull_policy", "profiles", "runtime", "oom_kill_disable", "oom_score_adj",
     "mem_swappiness", "memswap_limit", "cpu_shares", "cpu_quota", "cpu_period", "cpuset",
     "cpu_count", "cpu_percent", "blkio_config", "group_add", "storage_opt",
     "device_cgroup_rules", "annotations", "attach"}
)  # fmt: skip
"""Keys Swarm ignores (docker 20.10) with no faithful translation: one warning lists them."""

REFUSED = {
    "extends": "copy the extended service's keys into this file",
    "volumes_from": "mount the same named volume in both services",
    "configs": "cloudhp does not carry configs yet: COPY the file into the image",
    "secrets": "cloudhp does not carry secrets yet",
}
"""Keys whose absence would change what the app does: an error, not a warning."""

SERVICE_KEYS = PASSTHROUGH | TRANSLATED | IGNORED | set(REFUSED)
DEPLOY_KEYS = ("mode", "endpoint_mode", "replicas", "labels", "rollback_config",
               "update_config", "resources", "restart_policy", "placement")  # fmt: skip
BUILD_KEYS = ("context", "dockerfile", "args")
BUILD_IGNORED = frozenset({"labels", "cache_from", "network", "shm_size", "extra_hosts", "pull"})
XCLOUDHP_KEYS = ("hosts", "health", "port")
RESTART = {"no": "none", "always": "any", "unless-stopped": "any", "on-failure": "on-failure"}


@dataclass
class Draft:
    """A service as its own keys describe it, plus what the caller must resolve."""

    service: Service
    at: At
    links: list[tuple[str, str | None, At]] = field(default_factory=list)
    depends: list[tuple[str, At]] = field(default_factory=list)
    networks: list[tuple[str, At]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    volumes: list[tuple[str, At]] = field(default_factory=list)
    ignored: list[At] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)


def _words(at: At, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise at.error(f"cannot split {value!r} into words: {exc}") from None
    items = sequence(at, value)
    return tuple(scalar_text(at.item(items, i), v) for i, v in enumerate(items))


def _build(at: At, value: Any, base: Path, warn: list[At]) -> Build:
    spec = {"context": value} if isinstance(value, str) else mapping(at, value, allow_none=False)
    for key in spec:
        if key in BUILD_IGNORED:
            warn.append(at.child(spec, key))
    check_keys(at, spec, (*BUILD_KEYS, *BUILD_IGNORED), what="build key")
    where = at.child(spec, "context") if isinstance(spec, MarkedDict) else at
    context_text = string(where, spec.get("context", "."))
    if "://" in context_text or context_text.startswith("git@"):
        raise where.error(f"{context_text!r}: cloudhp builds local directories only")
    context = (base / context_text).resolve()
    if not context.is_dir():
        raise where.error(f"build context {context} is not a directory")
    dockerfile = spec.get("dockerfile")
    if dockerfile is not None:
        dockerfile = string(at.child(spec, "dockerfile"), dockerfile)
    if not (context / (dockerfile or "Dockerfile")).is_file():
        raise at.child(spec, "dockerfile").error(
            f"no {dockerfile or 'Dockerfile'} in the build context {context}"
        )
    args = pairs(at.child(spec, "args"), spec["args"]) if "args" in spec else []
    return Build(context, dockerfile, tuple(args))


def _labels(at: At, value: Any) -> dict[str, str]:
    found = dict(pairs(at, value))
    for key in found:
        if key.startswith("cloudhp."):
            raise at.error(f"label {key!r}: the cloudhp. prefix is cloudhp's own")
    return found


def _deploy(
    at: At, value: Any, draft: Draft
) -> tuple[int | None, int | None, int | None, dict[str, Any]]:
    spec = mapping(at, value)
    check_keys(at, spec, DEPLOY_KEYS, what="deploy key")
    rest = {k: plain(v) for k, v in spec.items() if not k.startswith("x-")}
    replicas = None
    if "replicas" in rest:
        replicas = integer(at.child(spec, "replicas"), rest.pop("replicas"), 0)
    mode = rest.get("mode", "replicated")
    if mode not in ("replicated", "global"):
        raise at.child(spec, "mode").error(f"mode {mode!r} is not replicated or global")
    if mode == "global" and replicas is not None:
        raise at.child(spec, "replicas").error(
            "a global service runs one task per node: no replicas"
        )
    if rest.get("endpoint_mode", "dnsrr") != "dnsrr":
        draft.ignored.append(at.child(spec, "endpoint_mode"))
    rest.pop("endpoint_mode", None)
    if "labels" in rest:
        rest["labels"] = _labels(at.child(spec, "labels"), spec["labels"])
    reservation = limit = None
    if "resources" in spec:
        where = at.child(spec, "resources")
        resources = mapping(where, spec["resources"])
        check_keys(where, resources, ("limits", "reservations"), what="resources key")
        kept: dict[str, Any] = {}
        for part, known in (("limits", ("cpus", "memory")),
                            ("reservations", ("cpus", "memory", "generic_resources"))):  # fmt: skip
            if part not in resources:
                continue
            place = where.child(resources, part)
            entry = mapping(place, resources[part])
            check_keys(place, entry, known, what=f"{part} key")
            other = {k: plain(v) for k, v in entry.items() if k != "memory"}
            if "cpus" in other:
                other["cpus"] = scalar_text(place.child(entry, "cpus"), other["cpus"])
            if "memory" in entry:
                size = fields.memory_mb(place.child(entry, "memory"), entry["memory"])
                limit, reservation = (size, reservation) if part == "limits" else (limit, size)
            if other:
                kept[part] = other
        rest.pop("resources")
        if kept:
            rest["resources"] = kept
    return replicas, reservation, limit, rest


def _one_of(at: At, key: str, first: int | None, second: int | None) -> int | None:
    if first is not None and second is not None and first != second:
        raise at.error(f"{key} says {first} and deploy says {second}", hint="keep one of them")
    return first if first is not None else second


def _networks(at: At, value: Any, draft: Draft) -> None:
    if isinstance(value, list):
        for index, name in enumerate(value):
            draft.networks.append((string(at.item(value, index), name), at.item(value, index)))
        return
    spec = mapping(at, value)
    for name, options in spec.items():
        where = at.child(spec, name)
        draft.networks.append((name, where))
        options = mapping(where, options)
        check_keys(where, options, ("aliases", "ipv4_address", "ipv6_address", "priority"))
        for key in options:
            if key != "aliases":
                draft.ignored.append(where.child(options, key))
        aliases = sequence(where.child(options, "aliases"), options.get("aliases", []))
        for index, item in enumerate(aliases):
            place = where.child(options, "aliases").item(aliases, index)
            draft.aliases.append(fields.alias(place, string(place, item)))


def _routing(
    at: At, spec: MarkedDict, draft: Draft
) -> tuple[int | None, tuple[PublishedPort, ...], tuple[str, ...], str | None]:
    """The routed port, host ports, host names and health path (expose, ports, x-cloudhp)."""
    x_at = at.child(spec, "x-cloudhp")
    extra = mapping(x_at, spec.get("x-cloudhp"))
    check_keys(x_at, extra, XCLOUDHP_KEYS, what="x-cloudhp key")
    wanted = extra.get("port")
    if wanted is not None and wanted is not False:
        wanted = integer(x_at.child(extra, "port"), wanted, 1, 65535)
    expose = parse_expose(at.child(spec, "expose"), spec["expose"]) if "expose" in spec else []
    ports = parse_ports(at.child(spec, "ports"), spec["ports"]) if "ports" in spec else []
    port, published, advice = choose_route(at, expose, ports, wanted)
    draft.advice += [advice] if advice else []
    hosts = fields.hosts(x_at.child(extra, "hosts"), extra["hosts"]) if "hosts" in extra else ()
    health = None
    if "health" in extra:
        health = fields.health_path(x_at.child(extra, "health"), extra["health"])
    if port is None and (hosts or health):
        raise x_at.error(
            "hosts and health need a routed port", hint="add expose: or x-cloudhp.port"
        )
    return port, published, hosts, health


def _resources(
    at: At, spec: MarkedDict, draft: Draft
) -> tuple[int, int | None, int | None, dict[str, Any]]:
    """Replicas, memory reservation and limit, and what is left of `deploy` to pass on."""
    replicas, reservation, limit, deploy = _deploy(
        at.child(spec, "deploy"), spec.get("deploy"), draft
    )
    scale = integer(at.child(spec, "scale"), spec["scale"], 0) if "scale" in spec else None
    replicas = _one_of(at.child(spec, "scale"), "scale", scale, replicas)
    for key in ("mem_limit", "mem_reservation"):
        if key in spec:
            where = at.child(spec, key)
            size = fields.memory_mb(where, spec[key])
            if key == "mem_limit":
                limit = _one_of(where, key, size, limit)
            else:
                reservation = _one_of(where, key, size, reservation)
    fields.check_memory(at, reservation, limit)
    if "cpus" in spec:
        limits = deploy.setdefault("resources", {}).setdefault("limits", {})
        limits.setdefault("cpus", scalar_text(at.child(spec, "cpus"), spec["cpus"]))
    if "restart" in spec and "restart_policy" not in deploy:
        deploy["restart_policy"] = _restart(at.child(spec, "restart"), spec["restart"])
    return 1 if replicas is None else replicas, reservation, limit, deploy


def _references(at: At, spec: MarkedDict, draft: Draft) -> None:
    """Links, dependencies and networks, which the caller checks against the file."""
    links_at = at.child(spec, "links")
    links = sequence(links_at, spec.get("links", []))
    for index, link in enumerate(links):
        where = links_at.item(links, index)
        target, _, alias = string(where, link).partition(":")
        draft.links.append((target, fields.alias(where, alias) if alias else None, where))
    depends = spec.get("depends_on", [])
    where = at.child(spec, "depends_on")
    if isinstance(depends, dict):
        draft.depends = [(d, where.child(depends, d)) for d in depends]
    else:
        items = sequence(where, depends)
        draft.depends = [
            (string(where.item(items, i), d), where.item(items, i)) for i, d in enumerate(items)
        ]
    if "networks" in spec:
        _networks(at.child(spec, "networks"), spec["networks"], draft)


def translate(project: str, name: str, at: At, spec: MarkedDict, base: Path) -> Draft:
    """Translates one service's keys; errors name the file, line and key."""
    check_keys(at, spec, SERVICE_KEYS)
    fields.public_name(project, name, at)
    for key, why in REFUSED.items():
        if key in spec:
            raise at.child(spec, key).error(f"{key} is not supported", hint=why)
    draft = Draft(Service(project, name, None), at)
    draft.ignored = [at.child(spec, key) for key in spec if key in IGNORED]
    image = fields.image(at.child(spec, "image"), spec["image"]) if "image" in spec else None
    build = None
    if "build" in spec:
        build = _build(at.child(spec, "build"), spec["build"], base, draft.ignored)
    if image is None and build is None:
        raise at.error("a service needs an image or a build", hint="add image: or build:")
    environment = []
    if "env_file" in spec:
        environment = env_files(at.child(spec, "env_file"), spec["env_file"], base)
    if "environment" in spec:
        given = pairs(at.child(spec, "environment"), spec["environment"])
        environment = fields.merge_environment(environment, given)
    port, published, hosts, health = _routing(at, spec, draft)
    replicas, reservation, limit, deploy = _resources(at, spec, draft)
    passthrough: dict[str, Any] = {k: plain(v) for k, v in spec.items() if k in PASSTHROUGH}
    if "volumes" in spec:
        passthrough["volumes"], draft.volumes = service_volumes(
            at.child(spec, "volumes"), spec["volumes"]
        )
    if deploy:
        passthrough["deploy"] = deploy
    _references(at, spec, draft)
    env = tuple(environment)
    draft.service = replace(
        draft.service, image=image, build=build,
        environment=with_context_root(env, port is not None, f"/{project}-{name}"),
        container_port=port, hosts=hosts, replicas=replicas,
        memory_reservation_mb=reservation, memory_limit_mb=limit, health_path=health,
        command=_words(at.child(spec, "command"), spec.get("command")),
        entrypoint=_words(at.child(spec, "entrypoint"), spec.get("entrypoint")),
        published_ports=published, passthrough=tuple(sorted(passthrough.items())),
    )  # fmt: skip
    return draft


def _restart(at: At, value: Any) -> dict[str, Any]:
    text = string(at, value)
    policy, _, attempts = text.partition(":")
    if policy not in RESTART or (attempts and policy != "on-failure"):
        raise at.error(f"restart {text!r} is not one of no, always, unless-stopped, on-failure[:N]")
    result: dict[str, Any] = {"condition": RESTART[policy]}
    if attempts:
        if not attempts.isdigit():
            raise at.error(f"{attempts!r} is not a number of attempts")
        result["max_attempts"] = int(attempts)
    return result
