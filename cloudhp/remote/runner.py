"""What every remote step talks to: something that runs a command on one host.

`SSHRunner` is the real one; the Protocol lets steps be driven by anything that runs
commands (a test double at the socket boundary, another transport later).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Protocol


@dataclass
class Result:
    host: str
    command: str
    stdout: str
    stderr: str
    exited: int


class Runner(Protocol):
    host: str

    def run(
        self,
        command: str | Sequence[str],
        *,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result: ...

    def run_with_input(self, command: Sequence[str], chunks: Iterable[bytes]) -> Result: ...


def docker_json(runner: Runner, args: list[str]) -> object:
    return json.loads(runner.run(["docker", *args]).stdout)


def docker_json_lines(runner: Runner, args: list[str]) -> list[dict[str, object]]:
    out = runner.run(["docker", *args]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]
