"""The dependency graph of a stack's resources, as Heat builds it.

A resource depends on every resource its properties or metadata name with
get_resource or get_attr, and on those in its depends_on. Creation runs a resource
once all it depends on are complete (independent ones in parallel, like Heat);
deletion is the mirror image: a resource goes once everything that depends on it is
gone. A cycle is a template error (Heat's CircularDependencyException), reported
with the resources on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from cloudhp_localcloud.orchestration import errors
from cloudhp_localcloud.orchestration.functions import references


class _Definition(Protocol):
    """What the graph reads of a resource (template.ResourceDefn)."""

    @property
    def properties(self) -> Any: ...

    @property
    def metadata(self) -> Any: ...

    @property
    def depends_on(self) -> tuple[str, ...]: ...


class Template(Protocol):
    """What the graph reads of a template (template.Template, which imports this module)."""

    @property
    def resources(self) -> Mapping[str, _Definition]: ...


def dependencies(template: Template) -> dict[str, set[str]]:
    """{resource: names it depends on}; references outside `resources` are ignored."""
    deps: dict[str, set[str]] = {}
    for name, defn in template.resources.items():
        found = references(defn.properties) | references(defn.metadata) | set(defn.depends_on)
        deps[name] = {d for d in found if d in template.resources}
    return deps


def required_by(deps: dict[str, set[str]]) -> dict[str, set[str]]:
    """The reverse graph: {resource: names that depend on it} (Heat's `required_by`)."""
    reverse: dict[str, set[str]] = {name: set() for name in deps}
    for name, needs in deps.items():
        for need in needs:
            reverse.setdefault(need, set()).add(name)
    return reverse


def topological(deps: dict[str, set[str]]) -> list[str]:
    """A creation order (dependencies first, ties in input order).

    Raises:
        CircularDependency: naming the resources on a cycle.
    """
    deps = {name: needs & set(deps) for name, needs in deps.items()}
    order: list[str] = []
    done: set[str] = set()
    pending = list(deps)
    while pending:
        ready = [n for n in pending if deps[n] <= done]
        if not ready:
            raise errors.CircularDependency(
                f"Circular Dependency Found: {', '.join(_cycle(deps, pending))}"
            )
        for name in ready:
            order.append(name)
            done.add(name)
        pending = [n for n in pending if n not in done]
    return order


def _cycle(deps: dict[str, set[str]], pending: list[str]) -> list[str]:
    """One cycle among `pending`, as a path that returns to its start."""
    left = set(pending)
    start = pending[0]
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = sorted(d for d in deps[node] if d in left)[0]
    return [*path[seen[node] :], node]


def creation_order(template: Template) -> list[str]:
    return topological(dependencies(template))


def deletion_order(template: Template) -> list[str]:
    return list(reversed(creation_order(template)))
