"""Checkers for the chapters' coding exercises: the student writes a function, a checker tries it.

Each chapter has its own module (``attnlib.exercises.ram`` for chapter 2, ``attnlib.exercises.sat`` for
chapter 5, ...), named after the library module the exercise re-derives. A checker takes the student's
function, runs it on cases it generates (small, seeded, including the edge cases that catch the usual
mistakes), compares each answer with the library's own implementation or the chapter's formula, and prints
what is wrong in words: which case, which shape, expected against got, the largest difference and where.
It never prints the solution. It returns a :class:`Report` whose ``passed`` a test can assert on.

The machinery shared by every checker lives in :mod:`attnlib.exercises.core`; the per-chapter modules
load on first use (``attnlib.exercises.ram.check_glimpse(my_glimpse)``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .core import Case, Report, check_cases, compare

# One module per chapter that has coding exercises, named after the library module the exercise re-derives.
_CHAPTER_MODULES = (
    "foundations",
    "ram",
    "ram_agent",
    "draw",
    "sat",
    "adahan",
    "a2net",
    "rec",
    "r2am",
)

__all__ = ["Case", "Report", "check_cases", "compare"]


def __getattr__(name: str) -> ModuleType:
    if name in _CHAPTER_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_CHAPTER_MODULES])
