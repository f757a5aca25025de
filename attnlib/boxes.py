"""Boxes: formats, paired IoU, the generalized IoU loss and Acc@0.5 (chapter 8).

Boxes are ``(N, 4)`` tensors. ``xyxy`` means ``(x1, y1, x2, y2)`` with ``x1 <= x2``
and ``y1 <= y2``; ``cxcywh`` means centre, width, height. Format conversion and
the pairwise IoU matrix come from :mod:`torchvision.ops` (``box_convert``, checked here first,
and ``box_iou``); what is written here is the *paired* GIoU of Eq. (rec-giou), row i of
``pred`` against row i of ``target``, which is what a regression loss needs.
"""

from __future__ import annotations

from typing import Literal

import torch
from torchvision.ops import box_convert as _tv_box_convert
from torchvision.ops import box_iou

from attnlib import checks

__all__ = ["box_convert", "check_boxes", "paired_iou", "generalized_box_iou", "generalized_box_iou_loss", "acc_at_iou"]

#: Same guard as ``torchvision.ops.generalized_box_iou_loss``, so the two agree to rounding.
EPS = 1e-7

#: Box formats :func:`box_convert` reads and writes.
FORMATS = ("xyxy", "xywh", "cxcywh")


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str, name: str = "boxes") -> torch.Tensor:
    """``torchvision.ops.box_convert`` with its inputs checked: ``boxes (..., 4)`` of real, finite coordinates
    from ``in_fmt`` to ``out_fmt`` (each one of :data:`FORMATS`).

    ``name`` is the caller's name for ``boxes``, used in the error message (``box_convert(pred, ...,
    name="pred")`` reports ``pred must ...``).
    """
    checks.one_of(in_fmt, FORMATS, "in_fmt")
    checks.one_of(out_fmt, FORMATS, "out_fmt")
    if not isinstance(boxes, torch.Tensor) or boxes.ndim < 1 or boxes.shape[-1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"{name} must be a (..., 4) tensor of {in_fmt} boxes, got {shape}")
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise ValueError(f"{name} must hold real coordinates, got dtype {boxes.dtype}")
    checks.finite(boxes, name)
    return _tv_box_convert(boxes, in_fmt, out_fmt)


def check_boxes(boxes: torch.Tensor, name: str = "boxes") -> None:
    """Raise ``ValueError`` unless ``boxes`` is a real ``(N, 4)`` xyxy tensor of finite coordinates with
    ``x2 >= x1`` and ``y2 >= y1`` (a NaN coordinate would pass the comparisons, which are then false)."""
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 2 or boxes.shape[-1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"{name} must be an (N, 4) tensor of xyxy boxes, got {shape}")
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise ValueError(f"{name} must hold real coordinates, got dtype {boxes.dtype}")
    checks.finite(boxes, name)
    if bool((boxes[:, 2] < boxes[:, 0]).any()) or bool((boxes[:, 3] < boxes[:, 1]).any()):
        raise ValueError(f"{name} has a box with x2 < x1 or y2 < y1; expected xyxy boxes")


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    check_boxes(pred, "pred")
    check_boxes(target, "target")
    if pred.shape[0] != target.shape[0]:
        raise ValueError(
            f"pred and target must have the same number of boxes, got {pred.shape[0]} and {target.shape[0]}"
        )


def _area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def paired_iou(pred: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU of row i of ``pred`` with row i of ``target``, and the union, Eq. (rec-iou).

    ``torchvision.ops.box_iou`` gives the full ``(N, M)`` matrix and divides
    without a guard (``0 / 0`` for two empty boxes); a loss needs the diagonal only,
    with ``eps`` in the denominator so that degenerate boxes keep finite gradients.

    Parameters
    ----------
    pred, target
        ``(N, 4)`` xyxy boxes.

    Returns
    -------
    iou, union
        ``(N,)`` each.
    """
    _check_pair(pred, target)
    checks.non_negative_float(eps, "eps")
    lt = torch.maximum(pred[:, :2], target[:, :2])
    rb = torch.minimum(pred[:, 2:], target[:, 2:])
    wh = (rb - lt).clamp(min=0)  # disjoint boxes: no intersection, and no gradient through it
    inter = wh[:, 0] * wh[:, 1]
    union = _area(pred) + _area(target) - inter
    return inter / (union + eps), union


def generalized_box_iou(pred: torch.Tensor, target: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Paired generalized IoU, Eq. (rec-giou): ``IoU - |C \\ (A u B)| / |C|`` with ``C`` the smallest enclosing box.

    Parameters
    ----------
    pred, target
        ``(N, 4)`` xyxy boxes.

    Returns
    -------
    giou
        ``(N,)`` in ``[-1, 1]``.
    """
    iou, union = paired_iou(pred, target, eps)
    lt = torch.minimum(pred[:, :2], target[:, :2])
    rb = torch.maximum(pred[:, 2:], target[:, 2:])
    wh = rb - lt  # never negative for valid boxes: C contains both
    area_c = wh[:, 0] * wh[:, 1]
    return iou - (area_c - union) / (area_c + eps)


def generalized_box_iou_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    reduction: Literal["none", "mean", "sum"] = "none",
    eps: float = EPS,
) -> torch.Tensor:
    """``1 - GIoU`` per pair of boxes, Eq. (rec-giou-loss); agrees with ``torchvision.ops.generalized_box_iou_loss``.

    Parameters
    ----------
    pred, target
        ``(N, 4)`` xyxy boxes (``x2 >= x1``, ``y2 >= y1``; otherwise ``ValueError``).
    reduction
        ``"none"`` gives ``(N,)``; ``"mean"`` and ``"sum"`` a scalar.

    Returns
    -------
    loss
        Values in ``[0, 2]``.
    """
    checks.one_of(reduction, ("none", "mean", "sum"), "reduction")
    loss = 1 - generalized_box_iou(pred, target, eps)
    if reduction == "mean":
        return loss.mean() if loss.numel() else loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss


@torch.no_grad()
def acc_at_iou(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> tuple[float, float]:
    """Acc@threshold (share of pairs with IoU > threshold, the REC metric) and the mean IoU.

    Uses ``torchvision.ops.box_iou`` and keeps the diagonal: the metric needs no
    gradient and ``N`` is an evaluation batch.

    Parameters
    ----------
    pred, target
        ``(N, 4)`` xyxy boxes.
    threshold
        In ``[0, 1)``; the papers use 0.5.

    Returns
    -------
    accuracy, mean_iou
        Python floats.
    """
    _check_pair(pred, target)
    if checks.probability(threshold, "threshold") == 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
    if pred.shape[0] == 0:
        raise ValueError("pred and target must hold at least one box")
    iou = box_iou(pred.float(), target.float()).diagonal().nan_to_num(0.0)
    return (iou > threshold).float().mean().item(), iou.mean().item()
