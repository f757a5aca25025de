"""Checkers for Chapter 4's coding exercises (DRAW): the Gaussian filterbank and the KL term of the bound.

- :func:`check_filterbank`: the filter matrices ``F_X`` and ``F_Y`` of a window, Eqs. (draw-grid) and
  (draw-filters); the expected values come from :func:`attnlib.draw.filters.filterbank`.
- :func:`check_kl`: the closed-form ``KL(N(mu, diag sigma^2) || N(0, I))``, Eq. (draw-kl); the expected values
  come from :func:`attnlib.draw.vae.kl_standard_normal`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import checks
from ..draw import Window, filterbank, kl_standard_normal
from .core import Case, Report, check_cases, compare

__all__ = ["check_filterbank", "check_kl"]


def _filter_case(description: str, gx, gy, delta, sigma2, height: int, width: int, n: int, hint: str) -> Case:
    gx, gy, delta, sigma2 = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in (gx, gy, delta, sigma2))
    fx, fy = filterbank(Window(gx, gy, delta, sigma2, torch.ones_like(gx)), height, width, n)
    return Case(
        description,
        args=(gx, gy, delta, sigma2),
        kwargs={"height": height, "width": width, "n": n},
        expected=(fx, fy),
        hint=hint,
    )


def _check_filters(case: Case, got: Any) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"expected a tuple (fx, fy) of two tensors, got {type(got).__name__}" + (
            f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        )
    for name, want, have in zip(("fx", "fy"), case.expected, got):
        problem = compare(want, have, name=name, atol=1e-6, rtol=1e-4)
        if problem is not None:
            return problem
    return None


def check_filterbank(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check the filter matrices of DRAW's attention window, Eqs. (draw-grid) and (draw-filters) of Chapter 4.

    The student's function is called as ``fn(gx, gy, delta, sigma2, height=B, width=A, n=N)`` with four float
    tensors ``(batch,)``: the grid's centre ``g_X, g_Y`` in pixels numbered from 1, the stride ``delta`` in
    pixels and the filters' variance ``sigma^2``. It must return ``(fx, fy)``, of shapes ``(batch, N, A)`` and
    ``(batch, N, B)``: row ``i`` of ``fx`` is the Gaussian ``exp(-(a - mu_X^i)^2 / (2 sigma^2))`` over the
    columns ``a = 1 .. A``, with ``mu_X^i = g_X + (i - N/2 - 1/2) delta``, divided by its sum over ``a``.

    Parameters
    ----------
    fn
        The student's filterbank.
    verbose
        Print the report.

    Returns
    -------
    Report
        One outcome per case (a square image, a non-square one, an even grid, a batch of different windows,
        a small variance); the expected values come from :func:`attnlib.draw.filters.filterbank`.
    """
    verbose = checks.flag(verbose, "verbose")
    cases = [
        _filter_case(
            "one 9x9 image, a 3x3 grid at the centre, stride 2, variance 1",
            5.0,
            5.0,
            2.0,
            1.0,
            9,
            9,
            3,
            "pixels are numbered from 1 (a = 1 .. A), so g = (A + 1) / 2 is the middle; each row of F_X is a "
            "Gaussian over the columns divided by its sum over the columns",
        ),
        _filter_case(
            "one image of 6 rows and 10 columns, a 4x4 grid off centre",
            6.5,
            3.0,
            1.5,
            2.0,
            6,
            10,
            4,
            "F_X runs over the A columns (width), F_Y over the B rows (height); filter i is centred at "
            "g + (i - N/2 - 1/2) delta for i = 1 .. N",
        ),
        _filter_case(
            "a batch of 3 windows on 12x12 images, 5x5 grids, different centres, strides and variances",
            [6.5, 4.0, 9.0],
            [6.5, 8.0, 3.5],
            [2.75, 1.0, 0.5],
            [0.5, 1.5, 4.0],
            12,
            12,
            5,
            "each window of the batch has its own centre, stride and variance: broadcast over the batch",
        ),
        _filter_case(
            "variance 9 (sigma = 3) on a 7x8 image, a 2x2 grid",
            [4.0],
            [3.5],
            [3.0],
            [9.0],
            7,
            8,
            2,
            "sigma2 is the variance sigma^2: the exponent is -(a - mu)^2 / (2 sigma2), not / (2 sigma2^2)",
        ),
    ]
    return check_cases(fn, cases, exercise="Exercise: the Gaussian filterbank", check=_check_filters, verbose=verbose)


def _kl_case(description: str, mu: torch.Tensor, log_sigma: torch.Tensor, hint: str) -> Case:
    return Case(description, args=(mu, log_sigma), expected=kl_standard_normal(mu, log_sigma), hint=hint)


def check_kl(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check the closed-form KL divergence of a diagonal Gaussian from N(0, I), Eq. (draw-kl) of Chapter 4.

    The student's function is called as ``fn(mu, log_sigma)`` with two float tensors of one shape
    ``(..., Z)``, the means and the log standard deviations of ``Z`` independent Gaussians, and must return
    ``KL(N(mu, diag sigma^2) || N(0, I))`` summed over the last dim, of shape ``(...)``.

    Parameters
    ----------
    fn
        The student's KL.
    verbose
        Print the report.

    Returns
    -------
    Report
        One outcome per case (the prior itself, a single Gaussian, a batch of steps, sigma far from 1); the
        expected values come from :func:`attnlib.draw.vae.kl_standard_normal`.
    """
    verbose = checks.flag(verbose, "verbose")
    gen = torch.Generator().manual_seed(11)
    cases = [
        _kl_case(
            "the prior itself: mu = 0, sigma = 1 in 5 dimensions (2 samples)",
            torch.zeros(2, 5, dtype=torch.float64),
            torch.zeros(2, 5, dtype=torch.float64),
            "KL(P || P) = 0: the -1 in the bracket cancels sigma^2 = 1 when mu = 0",
        ),
        _kl_case(
            "one Gaussian in 1 dimension, mu = 1, sigma = e^0.5",
            torch.tensor([1.0], dtype=torch.float64),
            torch.tensor([0.5], dtype=torch.float64),
            "log_sigma is log sigma, so sigma^2 = exp(2 log_sigma) and log sigma^2 = 2 log_sigma; mind the 1/2",
        ),
        _kl_case(
            "a batch of 3 images, 4 steps, 6 latents each: (3, 4, 6) -> (3, 4)",
            torch.randn(3, 4, 6, generator=gen, dtype=torch.float64),
            0.5 * torch.randn(3, 4, 6, generator=gen, dtype=torch.float64),
            "sum over the latent dimension only (the last), keep the image and step dims",
        ),
        _kl_case(
            "sigma far from 1: log sigma in {-2, 2}, mu = 0.3 (2 samples, 2 latents)",
            torch.full((2, 2), 0.3, dtype=torch.float64),
            torch.tensor([[-2.0, 2.0], [2.0, -2.0]], dtype=torch.float64),
            "the bracket is mu^2 + sigma^2 - log sigma^2 - 1 for each latent, halved",
        ),
    ]
    return check_cases(fn, cases, exercise="Exercise: the KL term of the bound", verbose=verbose)
