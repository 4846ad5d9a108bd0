"""Running one function on many hosts at once, with bounded concurrency."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def in_parallel(fn: Callable[[T], R], items: Iterable[T], limit: int = 8) -> list[R]:
    """Run `fn` over items with bounded concurrency; the first failure is re-raised."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        return list(pool.map(fn, items))
