"""Orchestration (Heat v1) for localcloud: HOT templates, stacks, wait conditions.

    template.py      load and parse HOT, validate a template before a stack
    parameters.py    parameter types, constraints, how stacks show values
    functions.py     intrinsic functions: find, check, evaluate
    graph.py         dependency order, cycles
    engine.py        create/delete runs in background threads, events
    credentials.py   how the engine acts as the stack owner (application credential)
    resources/       one plugin per resource type, each calling a public service API
    waitcondition.py WaitConditionHandle (signal token, curl_cli) and WaitCondition
    api.py           `SERVICE` for app.py's service list, version discovery
    api_common.py    the blueprint, the engine, finding a stack
    api_stacks.py    validate, stacks, outputs
    api_resources.py resources, events, signals

Importing `resources` before anything else keeps its import cycle with
waitcondition.py in a safe order.
"""

from cloudhp_localcloud.heat import resources as resources
from cloudhp_localcloud.heat.api import SERVICE

__all__ = ["SERVICE"]
