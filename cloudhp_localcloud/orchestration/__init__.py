"""Orchestration (Heat v1) for localcloud: HOT templates, stacks, wait conditions.

    template.py      load and parse HOT, validate a template before a stack
    parameters.py    parameter types, constraints, how stacks show values
    functions.py     intrinsic functions: find, check, evaluate
    graph.py         dependency order, cycles
    records.py       a stack's documents in the store, events, status changes
    engine.py        create/delete runs in background threads, one engine per app
    run.py           one create or delete: the graph walk, the plugins' context
    credentials.py   how the engine acts as the stack owner (application credential)
    resources/       one plugin per resource type, each calling a public service API
                     (waitcondition.py: WaitConditionHandle, signal tokens, WaitCondition)
    api.py           `SERVICE` for registry.py, version discovery
    api_common.py    the blueprint, the engine, finding a stack
    api_stacks.py    validate, stacks, outputs
    api_resources.py resources, events, signals

Heat keeps nothing outside the store, so it has no reset of its own: stacks' servers,
volumes and networks are the other services' and go with theirs.
"""

from cloudhp_localcloud.orchestration.api import SERVICE

__all__ = ["SERVICE"]
