"""Orchestration (Heat v1) for localcloud: HOT templates, stacks, wait conditions.

    template.py      parse HOT, check parameters, evaluate intrinsic functions
    graph.py         dependency order, cycles
    engine.py        create/delete runs in background threads, events
    credentials.py   how the engine acts as the stack owner (application credential)
    resources/       one plugin per resource type, each calling a public service API
    waitcondition.py WaitConditionHandle (signal token, curl_cli) and WaitCondition
    api.py           the REST API and `SERVICE` for app.py's service list

Importing `resources` before anything else keeps its import cycle with
waitcondition.py in a safe order.
"""

from cloudhp.localcloud.heat import resources as resources
from cloudhp.localcloud.heat.api import SERVICE

__all__ = ["SERVICE"]
