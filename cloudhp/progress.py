"""Progress reporting for long operations.

Core code reports phases and steps through a `Reporter` it is given, so the same code
shows a live rich display on a terminal, stays silent under `--output json`, and can be
inspected in tests. Each phase records its duration for the closing summary.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class PhaseRecord:
    name: str
    seconds: float = 0.0
    changed: bool = False
    notes: list[str] = field(default_factory=list)


class Reporter(Protocol):
    phases: list[PhaseRecord]

    def phase(self, name: str) -> AbstractContextManager[PhaseRecord]: ...

    def step(self, message: str) -> None: ...

    def summary(self) -> list[dict[str, object]]: ...


class RecordingReporter:
    """Records phases and steps; the base of the other reporters and handy in tests."""

    def __init__(self) -> None:
        self.phases: list[PhaseRecord] = []
        self.steps: list[str] = []
        self._current: PhaseRecord | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseRecord]:
        record = PhaseRecord(name)
        self.phases.append(record)
        previous, self._current = self._current, record
        start = time.monotonic()
        self._on_phase_start(record)
        try:
            yield record
        finally:
            record.seconds = time.monotonic() - start
            self._current = previous
            self._on_phase_end(record)

    def step(self, message: str) -> None:
        self.steps.append(message)
        if self._current is not None:
            self._current.notes.append(message)
        self._on_step(message)

    def summary(self) -> list[dict[str, object]]:
        return [
            {"phase": p.name, "seconds": round(p.seconds, 2), "changed": p.changed}
            for p in self.phases
        ]

    def _on_phase_start(self, record: PhaseRecord) -> None:
        pass

    def _on_phase_end(self, record: PhaseRecord) -> None:
        pass

    def _on_step(self, message: str) -> None:
        pass


class ConsoleReporter(RecordingReporter):
    """Shows each phase with a live elapsed-time spinner on stderr (rich)."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console

        self._console = Console(stderr=True)
        self._status: Any = None

    def _on_phase_start(self, record: PhaseRecord) -> None:
        self._started = time.monotonic()
        self._status = self._console.status(f"{record.name}…")
        self._status.start()

    def _on_step(self, message: str) -> None:
        if self._status is not None and self._current is not None:
            elapsed = time.monotonic() - self._started
            self._status.update(f"{self._current.name} ({elapsed:.0f}s): {message}")

    def _on_phase_end(self, record: PhaseRecord) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        mark = "changed" if record.changed else "unchanged"
        self._console.print(
            f"[green]✓[/green] {record.name} [dim]{record.seconds:.1f}s {mark}[/dim]"
        )
