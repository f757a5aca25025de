"""Measuring the cost of global blocks: FLOP formulas, counted FLOPs, latency, memory, log-log slopes.

Chapter 5 derives the FLOPs of a double attention block and of a non-local
block (Eqs. (a2-flops) and (a2-nl-flops)); :func:`a2_flops` and
:func:`nonlocal_flops` are those formulas, checked against
``torch.utils.flop_counter.FlopCounterMode`` by :func:`count_flops` in the tests.
``benchmarks/bench_a2.py`` and the chapter share the timing helpers below.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "a2_flops",
    "count_flops",
    "loglog_slope",
    "matmul_gflops",
    "nonlocal_flops",
    "saved_activation_bytes",
    "time_forward",
]


def a2_flops(channels: int, m: int, n: int, positions: int, batch: int = 1) -> int:
    """Multiply-add FLOPs (2 per MAC) of a double attention block's matrix products: Eq. (a2-flops).

    ``2 B L [C (m + 2n)  +  m n  +  m n  +  m C]``: the three 1x1 convolutions,
    the gather ``A softmax(B)^T``, the distribution ``G softmax(V)`` and the
    projection back to ``C``. Softmaxes, biases and the residual sum are
    linear in ``L`` and not counted (as ``FlopCounterMode`` does not).
    """
    return 2 * batch * positions * (channels * (m + 2 * n) + 2 * m * n + m * channels)


def nonlocal_flops(channels: int, inner: int, positions: int, batch: int = 1) -> int:
    """FLOPs of a non-local block's matrix products: Eq. (a2-nl-flops).

    ``2 B L [3 C d  +  2 L d  +  d C]``: queries, keys and values, the
    ``L x L`` affinities ``Q K^T``, their product with ``V``, the projection.
    """
    return 2 * batch * positions * (3 * channels * inner + 2 * positions * inner + inner * channels)


def count_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of one forward pass counted by ``torch.utils.flop_counter.FlopCounterMode`` (no grad)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return int(counter.get_total_flops())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(module: nn.Module, x: torch.Tensor, repeats: int = 5, warmup: int = 1, min_seconds: float = 0.0) -> float:
    """Median wall time, in seconds, of ``module(x)`` in inference mode.

    Parameters
    ----------
    repeats
        Timed calls (at least 1); the median resists a busy neighbour on a shared machine.
    warmup
        Untimed calls first (allocator, kernel selection).
    min_seconds
        Keep timing past ``repeats`` until this much time has been spent.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    times: list[float] = []
    with torch.inference_mode():
        for _ in range(warmup):
            module(x)
        _sync(x.device)
        spent = 0.0
        while len(times) < repeats or spent < min_seconds:
            start = time.perf_counter()
            module(x)
            _sync(x.device)
            times.append(time.perf_counter() - start)
            spent += times[-1]
    return statistics.median(times)


def matmul_gflops(size: int = 1024, repeats: int = 5, device: torch.device | str = "cpu") -> float:
    """This machine's achieved float32 matrix-multiply speed, GFLOP/s, on ``size x size`` operands."""
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g).to(device)
    b = torch.randn(size, size, generator=g).to(device)

    class _Mm(nn.Module):
        def forward(self, a: torch.Tensor) -> torch.Tensor:
            return a @ b

    seconds = time_forward(_Mm(), a, repeats=repeats, warmup=1)
    return 2 * size**3 / seconds / 1e9


def saved_activation_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``module(x)`` (training memory).

    Counted through ``torch.autograd.graph.saved_tensors_hooks``, so it is
    exact and the same on every run; parameters are not counted.
    """
    params = {p.data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in params:
            seen[t.data_ptr()] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x.detach().requires_grad_(True))
    return sum(seen.values())


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``: the exponent ``k`` of ``y ~ x^k``."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(f"xs and ys must have the same length >= 2, got {len(xs)} and {len(ys)}")
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    return float(np.polyfit(lx, ly, 1)[0])
