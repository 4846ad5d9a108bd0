"""Service volumes, in the long syntax the stack file carries, and the top-level ones.

A task runs on a node, not on the bastion: a bind mount of a path relative to the
compose file names a directory that does not exist there, so it is refused with what
to do instead. Named volumes are plain local volumes until the volumes issue gives
them Cinder; drivers and external volumes are refused rather than dropped.
"""

from __future__ import annotations

from typing import Any

from cloudhp.apps.source import At, check_keys, mapping, plain, sequence, string

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


def declared_volumes(at: At, value: Any) -> set[str]:
    """Top-level `volumes:`; only plain local volumes can be created for now."""
    spec = mapping(at, value)
    for name, options in spec.items():
        where = at.child(spec, name)
        options = mapping(where, options)
        for key, item in options.items():
            if key.startswith("x-") or (key == "driver" and item == "local"):
                continue
            raise where.child(options, key).error(
                f"{key}: cloudhp creates plain local volumes only, for now",
                hint="drop the key; volumes on Cinder come with cloudhp's volumes support",
            )
    return set(spec)
