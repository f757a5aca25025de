"""Checkers for chapter 6's coding exercises (HAN and AdaHAN): the adaptive mask and the gather step.

* :func:`check_adaptive_hard_attention`: the student's ``fn(features) -> mask`` computes the presence of every
  cell, Eq. (adahan-presence), and keeps the cells whose softmax-normalised presence is at least ``1 / N``,
  Eq. (adahan-adaptive); compared with :func:`attnlib.adahan.attention.adaptive_hard_attention`.
* :func:`check_gather_kept`: the student's ``fn(features, mask) -> (kept, kept_mask)`` packs the kept cells of
  every example to the front of a batch padded with zeros to the largest count; compared with
  :func:`attnlib.adahan.attention.gather_kept`, gradient included.

Each checker prints one line per case and, for a failing case, what differs and a hint; never the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from attnlib.adahan import adaptive_hard_attention, gather_kept

from .core import Case, Report, check_cases, compare, require_function

__all__ = ["check_adaptive_hard_attention", "check_gather_kept"]


def _cells(seed: int, b: int, n: int, d: int, scale: float = 1.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return scale * torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def check_adaptive_hard_attention(fn: Callable[[torch.Tensor], Any], *, verbose: bool = True) -> Report:
    """Check an AdaHAN mask: ``fn(features (B, N, D)) -> bool mask (B, N)``, Eqs. (adahan-presence), (adahan-adaptive).

    A cell's presence is the L2 norm of its feature (not the square); a cell is kept when the softmax of the
    presences over the ``N`` cells of its example gives it at least ``1 / N``.

    Parameters
    ----------
    fn
        The student's function.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when the mask agrees with
        :func:`attnlib.adahan.attention.adaptive_hard_attention` on every case.
    """
    tied = _cells(3, 2, 5, 3)
    tied[0] = 0.0  # presences all 0: every form of the rule (softmax, log-sum-exp, mean of exp) is exact there
    specs = [
        (
            "3 examples, 6 cells of 4 features each",
            _cells(0, 3, 6, 4),
            "presence is the L2 norm of a cell's feature (over the last axis), and the softmax runs over the N "
            "cells of one example: not over the batch, not over the features, and not on the squared norm",
        ),
        (
            "2 examples of 9 cells whose norms differ a lot (features from 0.1 to 3 times a Gaussian)",
            _cells(1, 2, 9, 5) * torch.linspace(0.1, 3.0, 9, dtype=torch.float64)[None, :, None],
            "compare softmax(p) with 1 / N, where N is the number of cells of the example",
        ),
        (
            "2 examples of 5 cells, the first all zero vectors: each of its cells ties with 1 / N",
            tied,
            "a cell whose share equals 1 / N exactly is kept (>=, not >): equal presences keep every cell",
        ),
        (
            "2 examples of 6 cells with norms near 1000",
            _cells(4, 2, 6, 3, scale=600.0),
            "exp(1000) overflows to inf (and inf / inf is NaN): subtract each example's largest presence before "
            "exponentiating, or use torch.softmax",
        ),
        (
            "4 examples of a single cell each (N = 1)",
            _cells(5, 4, 1, 3),
            "with one cell the softmax is 1 = 1 / N, so the cell is kept",
        ),
    ]
    cases = [
        Case(description, args=(features,), expected=adaptive_hard_attention(features), hint=hint)
        for description, features, hint in specs
    ]
    return check_cases(fn, cases, exercise="AdaHAN's adaptive mask (check_adaptive_hard_attention)", verbose=verbose)


def _gather_with_gradient(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Call ``fn``; when ``features`` requires a gradient, also return the gradient of a fixed weighted sum."""

    def run(features: torch.Tensor, mask: torch.Tensor) -> tuple[Any, torch.Tensor | None]:
        result = fn(features, mask)
        if not features.requires_grad:
            return result, None
        if not isinstance(result, (tuple, list)) or len(result) != 2 or not isinstance(result[0], torch.Tensor):
            return result, None
        kept = result[0]
        if not kept.requires_grad:
            return result, torch.full_like(features, float("nan"))
        weights = torch.linspace(0.5, 1.5, kept.numel(), dtype=kept.dtype).view_as(kept)
        (grad,) = torch.autograd.grad((kept * weights).sum(), features, allow_unused=True)
        return result, torch.zeros_like(features) if grad is None else grad

    return run


def _gather_check(case: Case, got: tuple[Any, torch.Tensor | None]) -> str | None:
    result, grad = got
    (kept, kept_mask), expected_grad = case.expected
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        what = f"{len(result)} values" if isinstance(result, (tuple, list)) else type(result).__name__
        return f"the result: expected a tuple of 2 values (kept, kept_mask), got {what}"
    problem = compare(kept, result[0], name="kept") or compare(kept_mask, result[1], name="kept_mask")
    if problem is not None or expected_grad is None:
        return problem
    if grad is not None and torch.isnan(grad).all():
        return "kept carries no gradient back to features (was it detached, or built with torch.tensor / .tolist?)"
    problem = compare(expected_grad, grad, name="the gradient reaching features")
    if problem is not None:
        return problem + " (a kept cell must receive the gradient of its row of kept; a dropped cell none)"
    return None


def check_gather_kept(fn: Callable[[torch.Tensor, torch.Tensor], Any], *, verbose: bool = True) -> Report:
    """Check a gather step: ``fn(features (B, N, D), mask bool (B, N)) -> (kept (B, K, D), kept_mask bool (B, K))``.

    ``K`` is the largest number of kept cells over the batch (at least 1). Row ``b`` of ``kept`` holds the kept
    cells of example ``b`` in their original order, then zeros; ``kept_mask[b, k]`` says whether row ``k`` is a
    real cell. Gradients flow from ``kept`` to the kept cells of ``features`` only: what the modules after the
    attention of Eq. (adahan-adaptive) (sum pooling, Eq. (adahan-sumpool), or the pairwise module) see.

    Parameters
    ----------
    fn
        The student's function.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when ``(kept, kept_mask)`` and the gradient agree with
        :func:`attnlib.adahan.attention.gather_kept` on every case.
    """
    require_function(fn)

    def mask_of(rows: list[list[int]]) -> torch.Tensor:
        return torch.tensor(rows, dtype=torch.bool)

    # norms that decrease from cell 0 to the last, so "sorted by presence" and "original order" differ
    ramp = torch.linspace(0.5, 3.0, 6, dtype=torch.float64).flip(0)[None, :, None]
    specs = [
        (
            "2 examples of 6 cells, 3 and 1 kept: pad the second to K = 3",
            _cells(10, 2, 6, 4),
            mask_of([[1, 0, 1, 0, 0, 1], [0, 0, 0, 1, 0, 0]]),
            False,
            "K is the largest count of kept cells in the batch; a shorter row is padded with zero vectors and "
            "kept_mask is False there",
        ),
        (
            "3 examples of 6 cells whose norms grow with the index; kept cells in their original order",
            (_cells(11, 3, 6, 2).abs() + 0.1) * ramp.flip(1),
            mask_of([[0, 1, 0, 1, 1, 0], [1, 0, 0, 0, 0, 1], [0, 0, 1, 1, 0, 0]]),
            False,
            "keep the cells in the order they have in features (a stable sort of the mask, not of the norms)",
        ),
        (
            "2 examples, every cell kept: K = N, nothing to pad",
            _cells(12, 2, 4, 3),
            torch.ones(2, 4, dtype=torch.bool),
            False,
            "with every cell kept, kept is features itself",
        ),
        (
            "3 examples of 5 cells, the second with no cell kept",
            _cells(13, 3, 5, 3),
            mask_of([[1, 1, 0, 0, 1], [0, 0, 0, 0, 0], [0, 1, 0, 0, 0]]),
            False,
            "an example with no kept cell gets K rows of padding: zero vectors, kept_mask all False",
        ),
        (
            "2 examples of 6 cells, features that require a gradient",
            _cells(14, 2, 6, 3).requires_grad_(True),
            mask_of([[0, 1, 1, 0, 0, 1], [1, 0, 0, 0, 0, 0]]),
            True,
            "build kept with tensor operations (gather, index, multiply by the mask) so that the gradient reaches "
            "the kept cells, and padding rows contribute none",
        ),
    ]
    cases = []
    for description, features, mask, with_grad, hint in specs:
        kept, kept_mask, _ = gather_kept(features, mask)
        expected_grad = None
        if with_grad:
            weights = torch.linspace(0.5, 1.5, kept.numel(), dtype=kept.dtype).view_as(kept)
            (expected_grad,) = torch.autograd.grad((kept * weights).sum(), features)
        cases.append(
            Case(
                description,
                args=(features, mask),
                expected=((kept.detach(), kept_mask), expected_grad),
                hint=hint,
            )
        )
    return check_cases(
        _gather_with_gradient(fn),
        cases,
        exercise="the gather step (check_gather_kept)",
        check=_gather_check,
        verbose=verbose,
    )
