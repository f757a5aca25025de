"""The non-local pairwise aggregator and what it costs, counted by PyTorch's FLOP counter.

:class:`PairwiseModule` is Eq. (adahan-pairwise); its cost over ``K`` cells is
Eq. (adahan-cost), ``8 K D^2 + 4 K^2 D`` FLOPs, which :func:`count_flops`
(``torch.utils.flop_counter.FlopCounterMode``) measures and :func:`pairwise_cost`
sums over a set of questions batched the way a model would batch them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from attnlib import checks
from attnlib.adahan.attention import _check_cells, _check_mask, gather_kept

__all__ = ["PairwiseModule", "count_flops", "pairwise_cost"]


class PairwiseModule(nn.Module):
    """Non-local pairwise module over (kept) cells, Eq. (adahan-pairwise).

    ``o_i = ReLU(x_i + W_o sum_j softmax_j(q_i . k_j / sqrt(D)) v_j)`` with
    ``q, k, v`` linear maps of the cells; the softmax runs over valid cells only,
    so padding never receives or sends attention. Its cost grows as ``K^2 D``
    (pairs) plus ``4 K D^2`` (projections) for ``K`` cells.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        checks.positive_int(dim, "dim")
        self.query, self.key, self.value, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, cells: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """cells ``(B, K, D)``, mask ``bool (B, K)`` -> ``(B, K, D)`` (padding rows are zero).

        A row whose mask keeps no cell (an example with nothing kept) is all padding: its output is zero,
        never NaN (its softmax would divide by zero, so it is replaced by zeros without reading the mask's
        values on the host)."""
        _check_cells(cells, "cells")
        _check_mask(mask, cells)
        if cells.shape[-1] != self.query.in_features:
            raise ValueError(f"cells must be (B, K, {self.query.in_features}), got {tuple(cells.shape)}")
        q, k, v = self.query(cells), self.key(cells), self.value(cells)
        logits = torch.einsum("bid,bjd->bij", q, k) * self.scale
        empty = ~mask.any(dim=1, keepdim=True)  # (B, 1): examples with no kept cell
        # An empty example scores all its (padding) cells, then gets weight 0: finite values and gradients.
        logits = logits.masked_fill(~(mask | empty).unsqueeze(1), float("-inf"))
        weights = logits.softmax(dim=-1).masked_fill(empty.unsqueeze(-1), 0.0)
        mixed = torch.einsum("bij,bjd->bid", weights, v)
        return F.relu(cells + self.out(mixed)) * mask.unsqueeze(-1)


def count_flops(fn: Callable[..., object], *args: object, **kwargs: object) -> int:
    """Floating-point operations of ``fn(*args, **kwargs)`` counted by ``torch.utils.flop_counter.FlopCounterMode``.

    The counter sees matrix products and convolutions (a multiply-add is 2 FLOPs);
    element-wise work such as the softmax is not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def pairwise_cost(
    module: PairwiseModule, cells: torch.Tensor, mask: torch.Tensor, batch_size: int = 64, bucket: bool = True
) -> int:
    """FLOPs of ``module`` over the kept cells of a whole set, measured with :func:`count_flops`.

    Cell values are not read (only shapes and the mask count), so finiteness is not checked.

    Examples are cut into batches of ``batch_size``; each batch is gathered with
    :func:`gather_kept` (so it is padded to its largest count of kept cells). With
    ``bucket``, examples are first sorted by their count, so that a batch holds
    similar counts and little padding (what a serving system does with sequences).

    cells ``(Q, N, D)``, mask ``bool (Q, N)`` -> total FLOPs (int).
    """
    if not isinstance(module, PairwiseModule):
        raise ValueError(f"module must be a PairwiseModule, got {type(module).__name__}")
    _check_cells(cells, "cells")
    _check_mask(mask, cells)
    checks.positive_int(batch_size, "batch_size")
    checks.flag(bucket, "bucket")
    order = torch.sort(mask.sum(1), stable=True).indices if bucket else torch.arange(len(mask))
    total = 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        kept, kept_mask, _ = gather_kept(cells[idx], mask[idx])
        total += count_flops(module, kept, kept_mask)
    return total
