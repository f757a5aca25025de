"""Shared by the benchmark scripts: the best of several wall-clock timings (the least disturbed by other load)."""

import time
from collections.abc import Callable

from attnlib import checks


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Seconds taken by the fastest of ``repeats`` calls of ``fn()`` (``repeats`` a positive int)."""
    if not callable(fn):
        raise ValueError(f"fn must be a callable taking no arguments, got {fn!r}")
    checks.positive_int(repeats, "repeats")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
