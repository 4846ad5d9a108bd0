"""Service volumes, in the long syntax the stack file carries, and the top-level ones.

A task runs on a node, not on the bastion: a bind mount of a path relative to the
compose file names a directory that does not exist there, so it is refused with what
to do instead.

A named volume with a size (`driver_opts: {size: 1}` or `x-cloudhp: {size: 1}`, in GiB,
with optional `volume_type` and `filesystem`, ext4 only) is a Cinder volume of its own:
deploy creates it once, attaches it to one node, mounts it there, and the service
bind-mounts its `data/` directory with a placement constraint on that node
(`cloudhp.commands.volumes`). A block volume holds one writer, so it is mounted by one
service of at most one replica, not global, updated stop-first. Every other named
volume stays a plain local volume of the node that runs the task; other drivers and
driver options are refused rather than dropped.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from cloudhp.apps.model import BlockVolume, Service
from cloudhp.apps.source import At, check_keys, mapping, plain, sequence, string
from cloudhp.commands.volumes import FILESYSTEMS, data_dir, placement_constraint

_LONG_KEYS = ("type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs")
_TYPES = ("volume", "bind", "tmpfs")


def _bastion_path(at: At, source: str) -> None:
    if source.startswith((".", "~")):
        raise at.error(
            f"{source!r} is a path on the bastion, and tasks run on the cluster's nodes",
            hint="COPY the files into the image (build:), or use a named volume",
        )


def _short(at: At, spec: str) -> tuple[dict[str, Any], str | None]:
    parts = spec.split(":")
    if len(parts) == 1:
        return {"type": "volume", "target": spec}, None
    if len(parts) > 3:
        raise at.error(f"{spec!r} is not source:target[:mode]")
    source, target = parts[0], parts[1]
    mount: dict[str, Any] = {"source": source, "target": target}
    if len(parts) == 3 and "ro" in parts[2].split(","):
        mount["read_only"] = True
    _bastion_path(at, source)
    if source.startswith("/"):
        return {"type": "bind", **mount}, None
    return {"type": "volume", **mount}, source


def service_volumes(at: At, value: Any) -> tuple[list[dict[str, Any]], list[tuple[str, At]]]:
    """The mounts in long syntax, and the named volumes they use (to check declarations)."""
    items = sequence(at, value)
    mounts: list[dict[str, Any]] = []
    named: list[tuple[str, At]] = []
    for index, spec in enumerate(items):
        where = at.item(items, index)
        if isinstance(spec, str):
            mount, name = _short(where, spec)
        else:
            entry = mapping(where, spec, allow_none=False)
            check_keys(where, entry, _LONG_KEYS, what="volume key")
            kind = entry.get("type")
            if kind not in _TYPES:
                raise where.error(f"volume type {kind!r} is not one of {', '.join(_TYPES)}")
            mount = plain(entry)
            source = entry.get("source")
            name = None
            if source is not None:
                source = string(where.child(entry, "source"), source)
                if kind == "bind":
                    _bastion_path(where.child(entry, "source"), source)
                elif kind == "volume":
                    name = source
        if "target" not in mount:
            raise where.error("a mount needs a target path in the container")
        mounts.append(mount)
        if name is not None:
            named.append((name, where))
    return mounts, named


OPTIONS = ("size", "volume_type", "filesystem")
DRIVERS = ("local", "cinder")
MAX_SIZE_GB = 16384
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_NAME_FIX = re.compile(r"[^a-z0-9-]+")


def _size(at: At, value: Any) -> int:
    """GiB, as Cinder sizes volumes; driver_opts values are strings in compose files."""
    text = str(value).strip() if isinstance(value, int | str) and value is not True else ""
    if value is False or not text.isdigit() or not 1 <= int(text) <= MAX_SIZE_GB:
        raise at.error(
            f"{value!r} is not a volume size",
            hint=f"a whole number of GiB from 1 to {MAX_SIZE_GB}, e.g. size: 1",
        )
    return int(text)


def _block_volume(project: str, name: str, where: At, options: Any) -> BlockVolume | None:
    """The Cinder volume a top-level entry declares, or None for a plain local one."""
    given: dict[str, tuple[Any, At]] = {}
    for section in ("driver_opts", "x-cloudhp"):
        if section not in options:
            continue
        place = where.child(options, section)
        entry = mapping(place, options[section])
        check_keys(place, entry, OPTIONS, what=f"{section} key")
        for key, value in entry.items():
            if key in given:
                raise place.child(entry, key).error(f"{key} is given in driver_opts and x-cloudhp")
            given[key] = (value, place.child(entry, key))
    if not given:
        return None
    if "size" not in given:
        first = next(iter(given.values()))[1]
        raise first.error(
            "a Cinder volume needs a size", hint="add size: N (GiB) next to it, e.g. size: 1"
        )
    if not _NAME.fullmatch(name):
        raise where.error(
            f"volume name {name!r}: a Cinder volume's name has only a-z, 0-9 and '-', "
            "and begins and ends with a letter or digit",
            hint=f"rename it, e.g. {_NAME_FIX.sub('-', name.lower()).strip('-') or 'data'!r}",
        )
    filesystem = "ext4"
    if "filesystem" in given:
        value, at = given["filesystem"]
        if value not in FILESYSTEMS:
            raise at.error(
                f"filesystem {value!r} is not supported",
                hint=f"cloudhp formats volumes with {' or '.join(FILESYSTEMS)}",
            )
        filesystem = value
    volume_type = None
    if "volume_type" in given:
        volume_type = string(given["volume_type"][1], given["volume_type"][0])
    return BlockVolume(
        project, name, _size(given["size"][1], given["size"][0]), volume_type, filesystem
    )


def declared_volumes(at: At, value: Any, project: str) -> tuple[set[str], dict[str, BlockVolume]]:
    """Top-level `volumes:`: every name, and the Cinder volumes among them."""
    spec = mapping(at, value)
    blocks: dict[str, BlockVolume] = {}
    for name, options in spec.items():
        where = at.child(spec, name)
        options = mapping(where, options)
        for key, item in options.items():
            if key.startswith("x-") or key == "driver_opts":
                continue
            if key == "driver" and item in DRIVERS:
                continue
            raise where.child(options, key).error(
                f"{key}: cloudhp creates plain local volumes and Cinder volumes only",
                hint="drop the key; give driver_opts: {size: N} (GiB) for a Cinder volume",
            )
        block = _block_volume(project, name, where, options)
        if block is None and (options.get("driver") == "cinder" or "driver_opts" in options):
            raise where.error(
                "a Cinder volume needs a size", hint="add driver_opts: {size: N} (GiB)"
            )
        if block is not None:
            blocks[name] = block
    return set(spec), blocks


def _one_writer(service: Service, at: At, volume: str) -> None:
    deploy = dict(service.passthrough).get("deploy", {})
    if deploy.get("mode") == "global" or service.replicas > 1:
        many = "global" if deploy.get("mode") == "global" else f"{service.replicas} replicas"
        raise at.error(
            f"service {service.name} mounts Cinder volume {volume!r} with {many}: a block "
            "volume holds one writer",
            hint="run one replica of it (replicas: 1), or use a plain local volume",
        )


def shared_block_volumes(
    services: dict[str, list[tuple[str, At]]], blocks: dict[str, BlockVolume]
) -> None:
    """Refuses a Cinder volume mounted by two services: it can be on one node only."""
    first: dict[str, str] = {}
    for service, uses in services.items():
        for name, at in uses:
            if name in blocks and first.setdefault(name, service) != service:
                raise at.error(
                    f"Cinder volume {name!r} is already mounted by service {first[name]!r}: "
                    "a block volume holds one writer",
                    hint="give each service its own volume",
                )


def bind_block_volumes(
    service: Service, uses: list[tuple[str, At]], blocks: dict[str, BlockVolume], at: At
) -> Service:
    """The service with each Cinder volume's mount turned into the bind mount of its
    `data/` directory, placed on the node holding it, and updated stop-first."""
    used = {name for name, _ in uses if name in blocks}
    if not used:
        return service
    for name, where in uses:
        if name in used:
            _one_writer(service, where, name)
    extra = dict(service.passthrough)
    mounts = []
    for mount in extra["volumes"]:
        source = mount.get("source")
        if mount.get("type") == "volume" and source in used:
            mount = {**mount, "type": "bind", "source": data_dir(blocks[source].logical)}
            mount.pop("volume", None)
        mounts.append(mount)
    deploy = dict(extra.get("deploy", {}))
    placement = dict(deploy.get("placement", {}))
    constraints = list(placement.get("constraints", []))
    constraints += [placement_constraint(blocks[n].logical) for n in sorted(used)]
    placement["constraints"] = constraints
    deploy["placement"] = placement
    for key in ("update_config", "rollback_config"):
        deploy[key] = {**deploy.get(key, {}), "order": "stop-first"}
    extra["volumes"] = mounts
    extra["deploy"] = deploy
    return replace(
        service,
        passthrough=tuple(sorted(extra.items())),
        block_volumes=tuple(blocks[n] for n in sorted(used)),
    )


DEFINITION_KEYS = ("name", "size", "target", "volume_type", "filesystem")


def definition_volumes(
    at: At, value: Any, project: str
) -> tuple[list[dict[str, Any]], dict[str, BlockVolume], list[tuple[str, At]]]:
    """A definition's `volumes:` list, each a Cinder volume mounted at `target`:
    the mounts, the volumes by name, and where each is used (for `bind_block_volumes`)."""
    items = sequence(at, value)
    mounts: list[dict[str, Any]] = []
    blocks: dict[str, BlockVolume] = {}
    uses: list[tuple[str, At]] = []
    for index, item in enumerate(items):
        where = at.item(items, index)
        entry = mapping(where, item, allow_none=False)
        check_keys(where, entry, DEFINITION_KEYS, what="volume key")
        for key in ("name", "size", "target"):
            if key not in entry:
                raise where.error(
                    f"a volume needs {key}",
                    hint='e.g. {"name": "data", "size": 1, "target": "/var/lib/app"}',
                )
        name = string(where.child(entry, "name"), entry["name"])
        if name in blocks:
            raise where.child(entry, "name").error(f"volume {name!r} is given twice")
        target = string(where.child(entry, "target"), entry["target"])
        if not target.startswith("/"):
            raise where.child(entry, "target").error(
                f"{target!r} is not an absolute path in the container", hint="e.g. /var/lib/app"
            )
        options = {k: v for k, v in entry.items() if k not in ("name", "target")}
        block = _block_volume(project, name, where, {"x-cloudhp": options})
        assert block is not None  # it has a size
        blocks[name] = block
        mounts.append({"type": "volume", "source": name, "target": target})
        uses.append((name, where))
    return mounts, blocks, uses
