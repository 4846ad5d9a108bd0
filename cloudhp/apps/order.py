"""The start order: dependencies first, in file order otherwise, cycles refused.

Swarm starts a stack's services all at once; `depends_on` and `links` say which must
be up first, so the deploy flow starts (and waits for) services in this order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cloudhp.apps.source import At


def start_order(names: Sequence[str], needs: Mapping[str, Sequence[tuple[str, At]]]) -> list[str]:
    """Orders `names` so each comes after what it needs; a cycle is an error naming it.

    Depth-first in file order, so an independent service keeps its place in the file
    and the order is the same on every run.
    """
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        visiting.append(name)
        for needed, at in needs.get(name, ()):
            if needed in visiting:
                cycle = [*visiting[visiting.index(needed) :], needed]
                raise at.error(
                    "services need each other in a cycle: " + " -> ".join(cycle),
                    hint="one of them must start without the other: drop one depends_on or link",
                )
            visit(needed)
        visiting.pop()
        done.append(name)

    for name in names:
        visit(name)
    return done
