"""Checkers for the coding exercises of Chapter 2 (RAM).

Two pieces of the recurrent attention model, for the student to write again:

- :func:`check_glimpse`: the retina of Eq. (ram-retina), a stack of concentric square patches around a centre
  given in ``[-1, 1]`` coordinates, each reduced to ``size x size`` by exact area averaging; compared with
  :func:`attnlib.glimpse.extract_glimpses` at whole-pixel and at fractional centres;
- :func:`check_reinforce_surrogate`: the REINFORCE term of the hybrid loss, Eq. (ram-hybrid) with the
  estimate of Eq. (ram-reinforce) and a per-step learned baseline: its value, its gradient with respect to the
  log-probabilities, and that no gradient reaches the baseline (compared with
  :func:`attnlib.reinforce.score_function_surrogate`, the piece :func:`attnlib.ram.hybrid_loss` uses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from attnlib.glimpse import extract_glimpses
from attnlib.reinforce import score_function_surrogate

from .core import Case, Report, check_cases, compare, require_function

__all__ = ["check_glimpse", "check_reinforce_surrogate"]


def check_glimpse(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check a student's retina against Eq. (ram-retina) and :func:`attnlib.glimpse.extract_glimpses`.

    ``fn(images, centers, size, n_scales, scale_factor)`` is called with these five arguments in this order.
    A centre ``(x, y)`` lies in ``[-1, 1]^2``, ``(-1, -1)`` the top-left corner, ``x`` along the width; pixel
    ``j`` spans ``[j, j + 1)`` in ``u = (x + 1) / 2 * W``. Scale ``k`` covers ``size * scale_factor**k`` pixels
    around the centre, averaged over blocks of ``scale_factor**k``; where the square's edges fall between
    pixel boundaries each output cell is the exact area average of what it covers; outside the image is zero.

    Parameters
    ----------
    fn
        The student's function: ``images (B, C, H, W)``, ``centers (B, 2)`` -> ``(B, n_scales, C, size, size)``.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case passed.
    """
    g = torch.Generator().manual_seed(3)
    specs = [
        ("1 image 8x8, one 4x4 glimpse at the centre (0, 0)", (1, 1, 8, 8), [[0.0, 0.0]], 4, 1, 2,
         "centres are in [-1, 1], not pixels: the pixel coordinate is u = (x + 1) / 2 * W"),
        ("1 image 10x10, 4x4 glimpse at (-0.4, 0.2), a whole-pixel centre off the diagonal", (1, 1, 10, 10),
         [[-0.4, 0.2]], 4, 1, 2,
         "x runs along the width (columns, the last dim), y along the height (rows); (-1, -1) is the top-left"),
        ("2 images with 2 channels, 12x12, 2 scales of 4x4, whole-pixel centres", (2, 2, 12, 12),
         [[0.0, -1 / 3], [1 / 3, 0.0]], 4, 2, 2,
         "scale k covers size * scale_factor**k pixels averaged in scale_factor**k blocks; the result is "
         "(B, n_scales, C, size, size)"),
        ("1 image 10x10, glimpse at the corner (-1, 1): half the patch is outside", (1, 1, 10, 10),
         [[-1.0, 1.0]], 4, 1, 2,
         "outside the image the picture is zero: pad with zeros, do not shift or clamp the patch back inside"),
        ("1 image 8x12 (H=8, W=12), 4x4 glimpse at (1/3, -0.25)", (1, 1, 8, 12), [[1 / 3, -0.25]], 4, 1, 2,
         "x is scaled by the width W and y by the height H"),
        ("1 image 10x10, 3x3 glimpse at a fractional centre (0.13, -0.27)", (1, 1, 10, 10), [[0.13, -0.27]], 3, 1, 2,
         "between pixel boundaries, each cell is the exact area average of the pixels it covers (a pixel "
         "partly covered counts in proportion to the overlap); do not round the centre to a whole pixel"),
        ("2 images 16x16, 3 scales of 2x2 with scale_factor 3, fractional centres", (2, 1, 16, 16),
         [[0.31, -0.52], [-0.77, 0.05]], 2, 3, 3,
         "every scale is an exact area average too, and each is scale_factor (here 3) times wider than the one before"),
    ]  # fmt: skip
    cases = []
    for description, shape, centres, size, n_scales, factor, hint in specs:
        images = torch.rand(shape, generator=g, dtype=torch.float64)
        centers = torch.tensor(centres, dtype=torch.float64)
        expected = extract_glimpses(images, centers, size, n_scales, factor)
        cases.append(Case(description, (images, centers, size, n_scales, factor), expected=expected, hint=hint))
    return check_cases(fn, cases, exercise="the retina (multi-scale glimpse)", atol=1e-6, rtol=1e-5, verbose=verbose)


def check_reinforce_surrogate(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check a student's REINFORCE surrogate with a learned per-step baseline, Eq. (ram-hybrid).

    ``fn(log_probs, reward, baselines)`` must return the scalar

    ``- (1 / B) * sum_i sum_t sg(R_i - b_it) * log_probs[i, t]``

    whose gradient with respect to ``log_probs`` is minus the estimate of Eq. (ram-reinforce), and through
    which no gradient reaches ``baselines`` (``sg``: detached). The checker compares the value and both
    gradients with :func:`attnlib.reinforce.score_function_surrogate`.

    Parameters
    ----------
    fn
        The student's function: ``log_probs (B, T)``, ``reward (B,)``, ``baselines (B, T)`` -> a scalar tensor.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case passed.
    """
    require_function(fn)  # here: check_cases sees the wrapper below, which is always callable
    g = torch.Generator().manual_seed(4)
    specs = [
        ("4 trajectories of 3 steps", 4, 3, False,
         "average over the trajectories (dim 0), sum over the steps (dim 1), with a minus sign: it is a loss"),
        ("3 trajectories of 3 steps (B == T)", 3, 3, False,
         "reward has one entry per trajectory: subtract the baselines from reward[:, None], not from reward "
         "(with B == T the shapes broadcast, along the wrong dim)"),
        ("5 trajectories of 4 steps, baselines that carry a gradient (as RAM's learned baseline does)", 5, 4, True,
         "the reward and the baseline are constants of the surrogate: detach them; only log_probs carries a gradient"),
        ("1 trajectory of 6 steps, column 0 zero (the first location is not a decision)", 1, 6, False,
         "average over the trajectories (dim 0), sum over the steps (dim 1)"),
    ]  # fmt: skip
    cases = []
    for description, batch, steps, grad_baseline, hint in specs:
        log_probs = -torch.rand(batch, steps, generator=g, dtype=torch.float64) * 3
        log_probs[:, 0] = 0.0
        reward = (torch.arange(batch) % 2 == 0).to(torch.float64)  # 1, 0, 1, ...: rewards differ along the batch
        baselines = torch.rand(batch, steps, generator=g, dtype=torch.float64).requires_grad_(grad_baseline)
        lp = log_probs.clone().requires_grad_(True)
        value = score_function_surrogate(lp, reward, baselines)
        (grad,) = torch.autograd.grad(value, lp)
        cases.append(Case(description, (log_probs, reward, baselines), expected=(value.detach(), grad), hint=hint))

    def tried(log_probs: torch.Tensor, reward: torch.Tensor, baselines: torch.Tensor) -> tuple:
        # fresh leaves, so that the gradients of the student's surrogate can be read after the call
        lp = log_probs.detach().clone().requires_grad_(True)
        b = baselines.detach().clone().requires_grad_(baselines.requires_grad)
        return fn(lp, reward, b), lp, b

    def check(case: Case, got: tuple) -> str | None:
        value, lp, b = got
        want_value, want_grad = case.expected
        if not isinstance(value, torch.Tensor):
            return f"the surrogate: expected a scalar torch.Tensor, got {type(value).__name__}"
        if value.numel() != 1:
            return f"the surrogate: expected a scalar (one number for the batch), got shape {tuple(value.shape)}"
        problem = compare(want_value, value.reshape(()), name="the surrogate's value")
        if problem is not None:
            return problem
        if not value.requires_grad:
            return "the surrogate carries no gradient: build it from log_probs without detaching them"
        wrt = [lp, b] if b.requires_grad else [lp]
        grads = torch.autograd.grad(value.sum(), wrt, allow_unused=True)
        if grads[0] is None:
            return "the surrogate carries no gradient to log_probs: build it from log_probs without detaching them"
        problem = compare(want_grad, grads[0], name="its gradient with respect to log_probs")
        if problem is not None:
            return problem
        if len(grads) == 2 and grads[1] is not None and grads[1].abs().max() > 0:
            return (
                "a gradient reaches the baselines through the surrogate (largest |d surrogate / d b| = "
                f"{grads[1].abs().max().item():.3g}); in RAM that would train the baseline to follow log pi "
                "instead of predicting the reward"
            )
        return None

    return check_cases(tried, cases, exercise="REINFORCE surrogate with a baseline", check=check, verbose=verbose)
