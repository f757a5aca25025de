"""Checkers for chapter 7's coding exercises (A^2-Nets): attention pooling and the double attention block.

* :func:`check_attention_pool`: the student's ``fn(A, B) -> G`` is the gather step, ``G = A softmax(B)^T`` with
  the softmax over positions, Eq. (a2-gather); compared with :func:`attnlib.a2net.attention_pool`.
* :func:`check_double_attention`: the student's ``fn(x, phi, theta, rho) -> Z`` is the block's two steps, gather
  then distribute with the softmax over descriptors, Eq. (a2-block); compared with
  :meth:`attnlib.a2net.DoubleAttention.attend` given the same weights.

Each checker prints one line per case and, for a failing case, what differs and a hint; never the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from attnlib.a2net import DoubleAttention, attention_pool

from .core import Case, Report, check_cases

__all__ = ["check_attention_pool", "check_double_attention"]


def _randn(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def check_attention_pool(fn: Callable[[torch.Tensor, torch.Tensor], Any], *, verbose: bool = True) -> Report:
    """Check the gather step: ``fn(A (batch, m, L), B (batch, n, L)) -> G (batch, m, n)``, Eq. (a2-gather).

    Each of the ``n`` rows of ``B`` (logits, one map over the ``L`` positions) becomes a distribution over the
    positions by a softmax along the positions, separately per sample and per map; descriptor ``j`` is the
    average of the ``A``-features under map ``j``.

    Parameters
    ----------
    fn
        The student's function.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when ``G`` agrees with :func:`attnlib.a2net.attention_pool` on every case.
    """
    specs = [
        (
            "batch 2, m = 4 features, n = 3 maps, L = 10 positions",
            _randn(0, 2, 4, 10),
            _randn(1, 2, 3, 10),
            "G has one column per map: shape (batch, m, n), column j = A times the softmax of map j over positions",
        ),
        (
            "batch 2, m = n = 3, L = 7 (a transposed G has the right shape here)",
            _randn(2, 2, 3, 7),
            _randn(3, 2, 3, 7),
            "G[b, i, j] pairs feature i of A with map j of B; check which axis of your product is which",
        ),
        (
            "batch 2, m = 4, n = 3, L = 6, every map constant over the positions (a different constant per map)",
            _randn(4, 2, 4, 6),
            torch.arange(6.0).view(2, 3, 1).expand(2, 3, 6).clone(),
            "a map that is constant over the positions is a uniform distribution: every descriptor is the plain "
            "average of A over positions (the softmax runs over positions, the last axis, not over the maps)",
        ),
        (
            "batch 2, m = 4, n = 3, a single position (L = 1)",
            _randn(5, 2, 4, 1),
            _randn(6, 2, 3, 1),
            "with one position each map puts all its weight on it, so every descriptor is A's single column",
        ),
        (
            "batch 3, m = 2, n = 2, L = 5, samples of very different scales",
            _randn(7, 3, 2, 5) * torch.tensor([0.1, 1.0, 10.0]).view(3, 1, 1),
            _randn(8, 3, 2, 5),
            "each sample is pooled on its own: nothing may mix the batch axis",
        ),
        (
            "batch 2, m = 3, n = 2, L = 8, logits up to about 300",
            _randn(9, 2, 3, 8),
            _randn(10, 2, 2, 8, scale=150.0),
            "exp(300) overflows float32: subtract each map's maximum before exponentiating, or use torch.softmax",
        ),
    ]
    cases = [
        Case(description, args=(A, B), expected=attention_pool(A, B), hint=hint) for description, A, B, hint in specs
    ]
    return check_cases(fn, cases, exercise="attention pooling, the gather step (check_attention_pool)", verbose=verbose)


def _block(
    seed: int, channels: int, m: int, n: int, theta_scale: float = 1.0, theta_zero: bool = False
) -> DoubleAttention:
    torch.manual_seed(seed)  # inside the checker's fork_rng: the caller's random state is left as it was
    block = DoubleAttention(channels, m, n).eval()
    with torch.no_grad():
        theta = slice(m, m + n)
        block.qkv.weight[theta] *= 0.0 if theta_zero else theta_scale
        block.qkv.bias[theta] *= 0.0 if theta_zero else theta_scale
    return block


def _convs(block: DoubleAttention) -> tuple[nn.Conv2d, nn.Conv2d, nn.Conv2d]:
    """``phi``, ``theta``, ``rho`` as three 1x1 convolutions holding the block's weights."""
    m, n = block.m, block.n
    convs = []
    for rows in (slice(0, m), slice(m, m + n), slice(m + n, m + 2 * n)):
        weight = block.qkv.weight[rows].detach()
        conv = nn.Conv2d(block.in_channels, weight.shape[0], kernel_size=1)
        with torch.no_grad():
            conv.weight.copy_(weight[:, :, :, None])
            conv.bias.copy_(block.qkv.bias[rows])
        convs.append(conv.requires_grad_(False))
    return convs[0], convs[1], convs[2]


def check_double_attention(
    fn: Callable[[torch.Tensor, nn.Module, nn.Module, nn.Module], Any], *, verbose: bool = True
) -> Report:
    """Check the double attention block: ``fn(x (B, C, H, W), phi, theta, rho) -> Z (B, m, H, W)``, Eq. (a2-block).

    ``phi``, ``theta`` and ``rho`` are 1x1 convolutions (``nn.Conv2d``) from ``C`` channels to ``m``, ``n`` and ``n``
    channels. The function gathers ``G = A softmax_positions(B)^T`` (Eq. (a2-gather)) from ``A = phi(x)`` and the
    logits ``B = theta(x)``, then distributes ``Z = G softmax_descriptors(V)`` with ``V = rho(x)``
    (Eq. (a2-distribute)): the first softmax runs over the ``H W`` positions, the second over the ``n``
    descriptors, both per sample.

    Parameters
    ----------
    fn
        The student's function.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when ``Z`` agrees with :meth:`attnlib.a2net.DoubleAttention.attend` of a block
        holding the same weights, on every case.
    """
    with torch.random.fork_rng(devices=[]):  # building the layers draws from the global generator: restore it
        cases = _double_attention_cases()
    return check_cases(
        fn, cases, exercise="the double attention block (check_double_attention)", atol=1e-4, rtol=1e-3, verbose=verbose
    )


def _double_attention_cases() -> list[Case]:
    specs = [
        (
            "batch 2, C = 6 channels, 5 x 7 positions, m = 4, n = 3",
            _block(0, 6, 4, 3),
            _randn(1, 2, 6, 5, 7),
            "Z has m channels: G (batch, m, n) times the distribution weights (batch, n, H W), back to (H, W); "
            "the gather softmax runs over positions, the distribute softmax over the n descriptors",
        ),
        (
            "batch 2, C = 5, 4 x 4 positions, m = n = 3, theta's weights and bias zero",
            _block(2, 5, 3, 3, theta_zero=True),
            _randn(3, 2, 5, 4, 4),
            "with constant gather logits every descriptor is the average of A over positions, so every position "
            "receives that average whatever rho says: the distribute weights of a position sum to one over the "
            "n descriptors",
        ),
        (
            "batch 2, C = 4, 3 x 6 positions, m = 3, a single descriptor (n = 1)",
            _block(4, 4, 3, 1),
            _randn(5, 2, 4, 3, 6),
            "with one descriptor each position's distribute softmax is 1: every position receives g_1",
        ),
        (
            "batch 3, C = 4, 6 x 5 positions, m = 2, n = 4, samples of very different scales",
            _block(6, 4, 2, 4),
            _randn(7, 3, 4, 6, 5) * torch.tensor([0.1, 1.0, 5.0]).view(3, 1, 1, 1),
            "a sample's output must not depend on the other samples: no softmax over the batch axis (dim 0)",
        ),
        (
            "batch 2, C = 6, 4 x 5 positions, m = 3, n = 2, gather logits in the hundreds",
            _block(8, 6, 3, 2, theta_scale=200.0),
            _randn(9, 2, 6, 4, 5),
            "exp of a few hundred overflows float32: subtract the maximum before exponentiating, or use torch.softmax",
        ),
    ]
    cases = []
    for description, block, x, hint in specs:
        with torch.no_grad():
            expected = block.attend(x)
        cases.append(Case(description, args=(x, *_convs(block)), expected=expected, hint=hint))
    return cases
