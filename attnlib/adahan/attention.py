"""Hard attention by feature norm: presence, HAN's top-k, AdaHAN's threshold, gathering and sum pooling.

A cell of the fused image-question map is kept or dropped by the *L2 norm* of
its feature, its presence (Eq. (adahan-presence)). HAN keeps the ``k`` cells of
largest presence (Eq. (adahan-topk)); AdaHAN keeps the cells whose
softmax-normalised presence beats the uniform distribution, ``1 / N``
(Eq. (adahan-adaptive)). Kept cells are gathered into a padded batch with a
mask (:func:`gather_kept`), so that nothing after the attention touches a dropped cell.

Shapes: cells are ``features (B, N, D)`` with ``N = h * w``; masks are ``bool (B, N)``.
Ranks, shapes and dtypes are checked; the values are not (these functions run inside a model's forward, so no
finiteness check, see :mod:`attnlib.checks`).
"""

from __future__ import annotations

import torch

from attnlib import checks

__all__ = [
    "presence",
    "topk_hard_attention",
    "adaptive_hard_attention",
    "adaptive_mask",
    "gather_kept",
    "masked_sum_pool",
]


def _check_cells(features: torch.Tensor, name: str = "features") -> None:
    if not isinstance(features, torch.Tensor) or features.ndim != 3:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"{name} must be a (B, N, D) tensor, got {shape}")
    checks.tensor(features, name, dtype="float")
    if features.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one cell, got N = 0")


def _check_mask(mask: torch.Tensor, features: torch.Tensor) -> None:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != features.shape[:2]:
        got = (tuple(mask.shape), mask.dtype) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a bool tensor of shape {tuple(features.shape[:2])}, got {got}")


def presence(features: torch.Tensor) -> torch.Tensor:
    """Presence of every cell: the L2 norm (not squared) of its feature, Eq. (adahan-presence).

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    features: ``(B, N, D)`` -> ``(B, N)``.
    """
    _check_cells(features)
    return torch.linalg.vector_norm(features, ord=2, dim=-1)


def topk_hard_attention(features: torch.Tensor, k: int) -> torch.Tensor:
    """HAN: keep the ``k`` cells of largest presence, Eq. (adahan-topk).

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    Parameters
    ----------
    features
        ``(B, N, D)``.
    k
        Cells kept per example, ``1 <= k <= N``.

    Returns
    -------
    mask
        ``bool (B, N)``, exactly ``k`` true per row (ties broken by ``torch.topk``).
    """
    _check_cells(features)
    n = features.shape[1]
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= n:
        raise ValueError(f"k must be an int in [1, N={n}], got {k!r}")
    index = presence(features).topk(k, dim=1).indices
    return torch.zeros(features.shape[:2], dtype=torch.bool, device=features.device).scatter_(1, index, True)


def adaptive_hard_attention(features: torch.Tensor) -> torch.Tensor:
    """AdaHAN: keep the cells whose softmax-normalised presence is at least ``1 / N``, Eq. (adahan-adaptive).

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    ``softmax(p)_i >= 1/N`` is the same as ``exp(p_i) >= mean_j exp(p_j)``; the
    latter (with the maximum subtracted) is what is computed, so that a map of
    equal presences keeps every cell exactly and the most present cell is always kept.

    features: ``(B, N, D)`` -> mask ``bool (B, N)``. No parameter.
    """
    return adaptive_mask(presence(features))


def adaptive_mask(presences: torch.Tensor) -> torch.Tensor:
    """AdaHAN's rule on given scores: keep cell ``i`` when ``softmax(p)_i >= 1 / N``, Eq. (adahan-adaptive).

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    :func:`adaptive_hard_attention` calls it on the presences; passing other scores
    (say, the squared presences of the chapter's third exercise) shows how the rule
    reacts to them. Adding a constant to every score of a row changes nothing.

    presences: ``(B, N)`` -> mask ``bool (B, N)``.
    """
    if not isinstance(presences, torch.Tensor) or presences.ndim != 2 or presences.shape[1] < 1:
        shape = tuple(presences.shape) if isinstance(presences, torch.Tensor) else type(presences).__name__
        raise ValueError(f"presences must be a (B, N) tensor with N >= 1, got {shape}")
    checks.tensor(presences, "presences", dtype="float")
    e = torch.exp(presences - presences.max(dim=1, keepdim=True).values)
    return e >= e.mean(dim=1, keepdim=True)


def gather_kept(features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pack the kept cells of every example to the front of a batch padded to the largest count.

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    Parameters
    ----------
    features
        ``(B, N, D)``.
    mask
        ``bool (B, N)``: cells to keep.

    Returns
    -------
    kept
        ``(B, K, D)`` with ``K = max_b mask[b].sum()``: kept cells in their original order, then zeros.
    kept_mask
        ``bool (B, K)``: which rows of ``kept`` are real cells.
    index
        ``int64 (B, K)``: the cell each row came from (padding rows point at a dropped cell, unused).

    Gradients flow from ``kept`` back to the kept cells of ``features`` only.
    """
    _check_cells(features)
    _check_mask(mask, features)
    k = max(int(mask.sum(dim=1).max()), 1)
    # A stable sort on "dropped" moves kept cells to the front without reordering them.
    index = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices[:, :k]
    kept_mask = mask.gather(1, index)
    kept = features.gather(1, index.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
    return kept * kept_mask.unsqueeze(-1), kept_mask, index


def masked_sum_pool(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of the kept cells, Eq. (adahan-sumpool): ``(B, N, D), bool (B, N) -> (B, D)``.

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.
    """
    _check_cells(features)
    _check_mask(mask, features)
    return (features * mask.unsqueeze(-1)).sum(dim=1)
