"""Checkers for the coding exercises of Chapter 1 (Foundations).

Two functions the chapter derives, for the student to write again:

- :func:`check_soft_attention`: soft attention pooling, Eq. (foundations-soft): the softmax of the scores
  over the cells, and the weighted sum of the cells' vectors;
- :func:`check_score_function_estimate`: the score-function (REINFORCE) estimate of the gradient of the
  expected reward of a categorical policy, Eq. (foundations-score) with the baseline of
  Eq. (foundations-baseline), written out by hand rather than through automatic differentiation.

The expected answers come from the library (:func:`attnlib.foundations.soft_attention`, and the gradient of
:func:`attnlib.reinforce.score_function_surrogate` taken by autograd), never from a copy of the solution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from attnlib.foundations import soft_attention
from attnlib.reinforce import score_function_surrogate

from .core import Case, Report, check_cases

__all__ = ["check_score_function_estimate", "check_soft_attention"]


def check_soft_attention(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check a student's soft attention pooling against Eq. (foundations-soft).

    ``fn(values, scores)`` must return ``(context, weights)``: ``weights = softmax(scores)`` over the cells and
    ``context = sum_i weights_i * values_i``.

    Parameters
    ----------
    fn
        The student's function: ``values (B, N, D)``, ``scores (B, N)`` -> ``context (B, D)``, ``weights (B, N)``.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case passed.
    """
    g = torch.Generator().manual_seed(1)
    cases = []
    specs = [
        ("one image, 4 cells of 3 features", (1, 4, 3), 1.0, "weights = softmax(scores) over the cells, context = their weighted sum"),
        ("3 images, 5 cells of 2 features (B != N)", (3, 5, 2), 1.0,
         "the softmax runs over the cells (the last dim of scores), separately for each image, not over the batch"),
        ("2 images, 4 cells, N == D", (2, 4, 4), 1.0,
         "the context sums the cells (dim 1 of values), weighting cell i's whole vector by weights[:, i]"),
        ("2 images, 6 cells, scores in the hundreds", (2, 6, 3), 300.0,
         "exp(300) overflows: subtract each row's largest score before exponentiating (or use torch.softmax)"),
    ]  # fmt: skip
    for description, (b, n, d), scale, hint in specs:
        values = torch.randn(b, n, d, generator=g)
        scores = scale * torch.randn(b, n, generator=g)
        context, weights = soft_attention(values, scores)
        cases.append(Case(description, (values, scores), expected=(context, weights), hint=hint))
    return check_cases(fn, cases, exercise="soft attention pooling", verbose=verbose)


def _expected_estimate(
    logits: torch.Tensor, samples: torch.Tensor, rewards: torch.Tensor, baseline: torch.Tensor | float
) -> torch.Tensor:
    """The library's estimate: minus the autograd gradient of the score-function surrogate."""
    theta = logits.detach().clone().requires_grad_(True)
    log_prob = theta.log_softmax(-1)[samples]  # (S,)
    loss = score_function_surrogate(log_prob, rewards[samples], baseline)
    (grad,) = torch.autograd.grad(loss, theta)
    return -grad


def check_score_function_estimate(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check a hand-written score-function estimate for a categorical policy, Eq. (foundations-score).

    ``fn(logits, samples, rewards, baseline)`` must return, without automatic differentiation,

    ``g = (1 / S) * sum_s (rewards[i_s] - b_s) * d/d logits log softmax(logits)[i_s]``

    where ``i_s = samples[s]`` and ``b_s`` is ``baseline`` (a number, the same for every draw) or
    ``baseline[s]`` (a tensor with one baseline per draw, such as leave-one-out; Eq. (foundations-baseline)).

    Parameters
    ----------
    fn
        The student's function: ``logits (N,)``, ``samples (S,)`` int64 indices in ``[0, N)``, ``rewards (N,)``,
        ``baseline`` float or ``(S,)`` -> the estimate ``(N,)``.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case passed.
    """
    g = torch.Generator().manual_seed(2)
    cases = []
    specs = [
        ("4 cells, one draw, no baseline", 4, [2], 0.0,
         "the gradient of log softmax(logits)[i] is onehot(i) - softmax(logits): every logit gets a share, not "
         "only the sampled one"),
        ("6 cells, 5 distinct draws, no baseline", 6, [0, 3, 5, 1, 4], 0.0,
         "average the S draws' terms (divide by S), do not sum them"),
        ("5 cells, 4 draws, a constant baseline 0.7", 5, [4, 0, 2, 1], 0.7,
         "each draw is weighted by its reward minus the baseline"),
        ("5 cells, the same cell drawn 3 times of 4", 5, [1, 1, 3, 1], 0.0,
         "every draw counts: a cell drawn twice receives two terms (accumulate, e.g. with index_add_ or a "
         "one-hot sum, rather than assigning g[samples] = ...)"),
        ("8 cells, 6 draws, leave-one-out baseline (one per draw)", 8, [7, 2, 2, 5, 0, 6], "loo",
         "baseline may be a tensor (S,): draw s uses baseline[s]"),
    ]  # fmt: skip
    for description, n, draws, baseline, hint in specs:
        logits = torch.randn(n, generator=g)
        rewards = torch.rand(n, generator=g) + 0.5
        samples = torch.tensor(draws, dtype=torch.int64)
        if baseline == "loo":
            drawn = rewards[samples]
            baseline = (drawn.sum() - drawn) / (len(draws) - 1)
        expected = _expected_estimate(logits, samples, rewards, baseline)
        cases.append(Case(description, (logits, samples, rewards, baseline), expected=expected, hint=hint))
    return check_cases(fn, cases, exercise="score-function estimate (categorical policy)", verbose=verbose)
