"""Measuring the cost of global blocks: FLOP formulas, counted FLOPs, latency, memory, log-log slopes.

Chapter 7 derives the FLOPs of a double attention block and of a non-local
block (Eqs. (a2-flops) and (a2-nl-flops)); :func:`a2_flops` and
:func:`nonlocal_flops` are those formulas, checked against
``torch.utils.flop_counter.FlopCounterMode`` by :func:`count_flops` in the tests.
``benchmarks/bench_a2.py`` and the chapter share the timing helpers below.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from attnlib import checks

__all__ = [
    "a2_flops",
    "compare_blocks",
    "count_flops",
    "loglog_slope",
    "matmul_gflops",
    "nonlocal_flops",
    "saved_activation_bytes",
    "scaling_sweep",
    "time_forward",
]


def a2_flops(channels: int, m: int, n: int, positions: int, batch: int = 1, folded: bool = True) -> int:
    """Multiply-add FLOPs (2 per MAC) of a double attention block's matrix products: Eq. (a2-flops).

    Unfolded, ``2 B L [C (m + 2n) + m n + m n + m C]``: the three 1x1
    convolutions, the gather ``A softmax(B)^T``, the distribution
    ``G softmax(V)`` and the projection of ``Z`` back to ``C``. Folded (what
    ``DoubleAttention.forward`` computes, Eq. (a2-fold)),
    ``2 B L [C (m + 2n) + m n + C n] + 2 B C m n``: the projection is applied to
    the ``n`` descriptors instead of the ``L`` positions. Softmaxes, biases and
    the residual sum are linear in ``L`` and not counted (nor does ``FlopCounterMode``).
    """
    checks.positive_ints(channels=channels, m=m, n=n, positions=positions, batch=batch)
    if checks.flag(folded, "folded"):
        return 2 * batch * positions * (channels * (m + 2 * n) + m * n + channels * n) + 2 * batch * channels * m * n
    return 2 * batch * positions * (channels * (m + 2 * n) + 2 * m * n + m * channels)


def nonlocal_flops(channels: int, inner: int, positions: int, batch: int = 1) -> int:
    """FLOPs of a non-local block's matrix products: Eq. (a2-nl-flops).

    ``2 B L [3 C d  +  2 L d  +  d C]``: queries, keys and values, the
    ``L x L`` affinities ``Q K^T``, their product with ``V``, the projection.
    """
    checks.positive_ints(channels=channels, inner=inner, positions=positions, batch=batch)
    return 2 * batch * positions * (3 * channels * inner + 2 * positions * inner + inner * channels)


def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# FlopCounterMode knows the CUDA attention kernels but not the fused CPU one; without this
# entry a non-local block on the CPU would be counted without its L x L products.
_EXTRA_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops}


def count_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of one forward pass counted by ``torch.utils.flop_counter.FlopCounterMode`` (no grad).

    Adds the formula of ``aten._scaled_dot_product_flash_attention_for_cpu``
    (the fused CPU attention kernel), which the counter does not know.
    """
    checks.module(module, "module")
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as counter:
        module(*inputs)
    return int(counter.get_total_flops())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(
    module: nn.Module, x: torch.Tensor, repeats: int = 5, warmup: int = 1, min_seconds: float = 0.0
) -> float:
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
    checks.module(module, "module")
    checks.tensor(x, "x")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    # a finite budget: min_seconds=inf (or NaN) would time forever
    if isinstance(min_seconds, bool) or not isinstance(min_seconds, (int, float)) or not 0 <= min_seconds < math.inf:
        raise ValueError(f"min_seconds must be a finite number >= 0, got {min_seconds!r}")
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
    checks.positive_int(size, "size")
    checks.positive_int(repeats, "repeats")
    device = checks.device(device, "device")
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
    checks.module(module, "module")
    checks.tensor(x, "x", dtype="float")
    params = {p.data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in params:
            seen[t.data_ptr()] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        try:
            module(x.detach().requires_grad_(True))
        except RuntimeError as err:  # a shape the module cannot take: say which argument
            raise ValueError(f"x of shape {tuple(x.shape)} does not fit module: {str(err)[:200]}") from err
    return sum(seen.values())


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``: the exponent ``k`` of ``y ~ x^k``."""
    arrays = []
    for name, values in (("xs", xs), ("ys", ys)):
        try:
            a = np.asarray(values, float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be a sequence of numbers, got {values!r}") from err
        if a.ndim != 1 or not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise ValueError(f"{name} must be a 1-D sequence of finite numbers > 0 (logs are taken), got {values!r}")
        arrays.append(a)
    if len(arrays[0]) != len(arrays[1]) or len(arrays[0]) < 2:
        raise ValueError(f"xs and ys must have the same length >= 2, got {len(arrays[0])} and {len(arrays[1])}")
    lx, ly = np.log(arrays[0]), np.log(arrays[1])
    return float(np.polyfit(lx, ly, 1)[0])


def _blocks(channels: int, m: int, n: int, inner: int, device: torch.device | str) -> tuple[nn.Module, nn.Module]:
    from attnlib.a2net import DoubleAttention, NonLocal

    torch.manual_seed(0)
    return DoubleAttention(channels, m, n).to(device).eval(), NonLocal(channels, inner).to(device).eval()


def compare_blocks(
    side: int = 56,
    channels: int = 256,
    m: int = 64,
    n: int = 64,
    inner: int = 128,
    batch: int = 2,
    repeats: int = 10,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Forward latency and FLOPs of a double attention block and a non-local block on the same input.

    Returns
    -------
    ``{"a2_s", "nl_s", "speedup", "a2_flops", "nl_flops", "a2_gflops", "nl_gflops", "matmul_gflops"}``:
    median seconds per forward, ``nl_s / a2_s``, counted FLOPs, achieved GFLOP/s of
    each block and of a plain matrix product on this machine.
    """
    checks.positive_ints(side=side, channels=channels, m=m, n=n, inner=inner, batch=batch, repeats=repeats)
    device = checks.device(device, "device")
    a2, nl = _blocks(channels, m, n, inner, device)
    x = torch.randn(batch, channels, side, side, generator=torch.Generator().manual_seed(0)).to(device)
    a2_s = time_forward(a2, x, repeats=repeats, warmup=2)
    nl_s = time_forward(nl, x, repeats=max(3, repeats // 3), warmup=1)
    fa, fn = count_flops(a2, x), count_flops(nl, x)
    return {
        "a2_s": a2_s,
        "nl_s": nl_s,
        "speedup": nl_s / a2_s,
        "a2_flops": fa,
        "nl_flops": fn,
        "a2_gflops": fa / a2_s / 1e9,
        "nl_gflops": fn / nl_s / 1e9,
        "matmul_gflops": matmul_gflops(device=device),
    }


def scaling_sweep(
    sides: Sequence[int] = (14, 28, 56, 112),
    channels: int = 256,
    m: int = 64,
    n: int = 64,
    inner: int = 128,
    batch: int = 1,
    repeats: int = 3,
    device: torch.device | str = "cpu",
) -> dict[str, list[float] | float]:
    """Latency and training memory of both blocks against the number of positions ``L = side^2``.

    Returns
    -------
    Lists ``positions``, ``a2_s``, ``nl_s``, ``a2_bytes``, ``nl_bytes`` (activations
    saved for backward, :func:`saved_activation_bytes`) and the fitted log-log
    slopes ``a2_slope``, ``nl_slope``, ``a2_mem_slope``, ``nl_mem_slope``.
    """
    if isinstance(sides, (str, bytes)) or not isinstance(sides, Sequence) or len(sides) < 2:
        raise ValueError(f"sides must be a sequence of at least two positive ints (a slope needs two), got {sides!r}")
    for side in sides:
        checks.positive_int(side, "sides[i]")
    checks.positive_ints(channels=channels, m=m, n=n, inner=inner, batch=batch, repeats=repeats)
    device = checks.device(device, "device")
    a2, nl = _blocks(channels, m, n, inner, device)
    out: dict[str, list[float] | float] = {k: [] for k in ("positions", "a2_s", "nl_s", "a2_bytes", "nl_bytes")}
    for side in sides:
        x = torch.randn(batch, channels, side, side, generator=torch.Generator().manual_seed(side)).to(device)
        out["positions"].append(side * side)
        out["a2_s"].append(time_forward(a2, x, repeats=repeats, warmup=1, min_seconds=0.05))
        out["nl_s"].append(time_forward(nl, x, repeats=repeats, warmup=1, min_seconds=0.05))
        out["a2_bytes"].append(saved_activation_bytes(a2, x))
        out["nl_bytes"].append(saved_activation_bytes(nl, x))
    for name in ("a2", "nl"):
        out[f"{name}_slope"] = loglog_slope(out["positions"], out[f"{name}_s"])
        out[f"{name}_mem_slope"] = loglog_slope(out["positions"], out[f"{name}_bytes"])
    return out
