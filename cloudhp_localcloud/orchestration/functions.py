"""HOT's intrinsic functions: finding calls, checking their arguments, evaluating them.

Pure, like template.py: `calls` and `check_syntax` let `Template.validate` reject a
malformed call before anything is created, `references` gives graph.py the edges
between resources, and `resolve` evaluates a value against a running stack (the
engine's `Resolver`), innermost call first. Supported: get_param, get_resource,
get_attr, str_replace, list_join.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from cloudhp_localcloud.orchestration import errors

FUNCTIONS = ("get_param", "get_resource", "get_attr", "str_replace", "list_join")


class Resolver(Protocol):
    """What intrinsic functions ask of the running stack."""

    def param(self, name: str) -> Any: ...

    def resource_ref(self, name: str) -> Any: ...

    def resource_attr(self, name: str, attribute: str) -> Any: ...


def calls(value: Any) -> Iterator[tuple[str, Any]]:
    """Every intrinsic call in `value`, outermost first (arguments are searched too)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in FUNCTIONS:
                yield key, arg
                yield from calls(arg)
                return
        for item in value.values():
            yield from calls(item)
    elif isinstance(value, list):
        for item in value:
            yield from calls(item)


def check_syntax(fn: str, arg: Any) -> None:
    """Heat's argument checks for each function, so a typo fails at validate time."""
    if fn == "get_param":
        if not (isinstance(arg, str) or (isinstance(arg, list) and arg)):
            raise errors.StackValidationFailed(
                'Function "get_param" must have arguments: a parameter name or a '
                "list [name, path...]"
            )
    elif fn == "get_resource":
        if not isinstance(arg, str):
            raise errors.StackValidationFailed('Argument to "get_resource" must be a string')
    elif fn == "get_attr":
        if not isinstance(arg, list) or len(arg) < 2:
            raise errors.StackValidationFailed(
                'Arguments to "get_attr" must be of the form '
                "[resource_name, attribute, (path), ...]"
            )
    elif fn == "str_replace":
        if not isinstance(arg, dict) or "template" not in arg or "params" not in arg:
            raise errors.StackValidationFailed(
                '"str_replace" syntax should be str_replace:\n  template: <string>\n  '
                "params: <dict>"
            )
        if set(arg) - {"template", "params"}:
            raise errors.StackValidationFailed(
                f'"str_replace" takes only "template" and "params", got {sorted(arg)}'
            )
        if not isinstance(arg["params"], dict):
            raise errors.StackValidationFailed('"str_replace" params must be a map')
    elif fn == "list_join" and (
        not isinstance(arg, list) or len(arg) < 2 or not isinstance(arg[0], str)
    ):
        raise errors.StackValidationFailed(
            'Incorrect arguments to "list_join" should be: list_join:\n- <delim>\n- <list>'
        )


def references(value: Any) -> set[str]:
    """Names of resources `value` refers to with get_resource or get_attr."""
    found: set[str] = set()
    for fn, arg in calls(value):
        if fn == "get_resource" and isinstance(arg, str):
            found.add(arg)
        elif fn == "get_attr" and isinstance(arg, list) and arg and isinstance(arg[0], str):
            found.add(arg[0])
    return found


def resolve(value: Any, ctx: Resolver) -> Any:
    """`value` with every intrinsic call replaced by its result, innermost first."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in FUNCTIONS:
                check_syntax(key, arg)
                return _IMPLS[key](arg, ctx)
        return {k: resolve(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    return value


def _walk_path(value: Any, path: list[Any], what: str) -> Any:
    for step in path:
        if isinstance(value, dict):
            if step not in value:
                raise errors.StackValidationFailed(f'"{step}" not found in {what}')
            value = value[step]
        elif isinstance(value, list):
            try:
                value = value[int(step)]
            except (ValueError, IndexError):
                raise errors.StackValidationFailed(
                    f'"{step}" is not a valid index in {what}'
                ) from None
        else:
            raise errors.StackValidationFailed(f'"{step}" cannot be looked up in {what}')
    return value


def _get_param(arg: Any, ctx: Resolver) -> Any:
    args = resolve(arg, ctx)
    if isinstance(args, str):
        return ctx.param(args)
    name, *path = args
    return _walk_path(ctx.param(name), path, f"parameter {name}")


def _get_resource(arg: Any, ctx: Resolver) -> Any:
    return ctx.resource_ref(resolve(arg, ctx))


def _get_attr(arg: Any, ctx: Resolver) -> Any:
    name, attribute, *path = resolve(arg, ctx)
    return _walk_path(ctx.resource_attr(name, attribute), path, f"{name}.{attribute}")


def _text(value: Any) -> str:
    """How Heat puts a non-string into a string: JSON for containers, '' for null."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _str_replace(arg: Any, ctx: Resolver) -> str:
    text = resolve(arg["template"], ctx)
    params = resolve(arg["params"], ctx)
    if not isinstance(text, str):
        raise errors.StackValidationFailed('"str_replace" template must be a string')
    if not isinstance(params, dict):
        raise errors.StackValidationFailed('"str_replace" params must be a map')
    # Longest keys first, one pass: "$host_name" is not mangled by "$host" (as Heat).
    keys = sorted((str(k) for k in params), key=len, reverse=True)
    if not keys:
        return text
    values = {str(k): _text(v) for k, v in params.items()}
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    return pattern.sub(lambda m: values[m.group(0)], text)


def _list_join(arg: Any, ctx: Resolver) -> str:
    delim, *lists = resolve(arg, ctx)
    items: list[str] = []
    for part in lists:
        if isinstance(part, str):
            try:
                part = json.loads(part)
            except ValueError:
                raise errors.StackValidationFailed(
                    f'"list_join" arguments must be lists, got "{part}"'
                ) from None
        if not isinstance(part, list):
            raise errors.StackValidationFailed('"list_join" arguments must be lists')
        items.extend(_text(item) for item in part)
    return str(delim).join(items)


_IMPLS: dict[str, Callable[[Any, Resolver], Any]] = {
    "get_param": _get_param,
    "get_resource": _get_resource,
    "get_attr": _get_attr,
    "str_replace": _str_replace,
    "list_join": _list_join,
}
