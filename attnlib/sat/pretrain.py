"""Pretraining the encoder: classify shifted digits and say where each digit sits inside a cell.

Xu et al. start from an ImageNet-trained VGG; Chapter 5 pretrains its small CNN on single MNIST
digits instead, then freezes it. Two tasks share the encoder:

* classification (Eq. (sat-pretrain)): a max-pool over the cells and a linear layer;
* cell offsets (Eq. (sat-offset)): every cell near the digit regresses the digit's centre relative
  to the cell's own centre, in cell units, ``t_i = (c - g_i) / s``.

The second task exists for hard attention. A hard-attention decoder reads a single annotation
vector, and the cell coordinates appended to it locate the digit only to within a cell (8 pixels);
the captions' relations ("above", "left of") differ by a few pixels. Classification alone trains
the features to *ignore* where the digit falls (the digits are shifted at random precisely so that
they do), so without the offset task nothing asks the features to keep the position within a cell.
Chapter 5 measures what the task is worth: fewer wrong relations, a point or so of exact match.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from attnlib import checks

__all__ = ["PretrainHead", "shift_in_frame", "cell_offsets", "offset_loss", "make_pretrain_step"]


class PretrainHead(nn.Module):
    """Encoder + max-pool over the cells + linear classifier, optionally with a per-cell offset head.

    Coordinate channels (the last two when the encoder appends them) are left out of both heads: they
    carry no class information, and the offset head must read position from the image features.

    Parameters
    ----------
    encoder
        Maps ``(B, C, H, W)`` to ``((B, L, D), (h, w))`` and has ``out_dim`` (and ``stride`` for
        :func:`make_pretrain_step`), like :class:`~attnlib.sat.encoder.SmallCNNEncoder`.
    num_classes
        Number of classes.
    offsets
        Add the linear offset head of Eq. (sat-offset).
    """

    def __init__(self, encoder: nn.Module, num_classes: int = 10, offsets: bool = False) -> None:
        super().__init__()
        if checks.positive_int(num_classes, "num_classes") < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        checks.flag(offsets, "offsets")
        if not isinstance(encoder, nn.Module) or not hasattr(encoder, "out_dim"):
            raise ValueError(f"encoder must be an nn.Module with an out_dim attribute, got {type(encoder).__name__}")
        self.encoder = encoder
        coords = getattr(getattr(encoder, "flatten", None), "coordinates", False)
        self.width = encoder.out_dim - (2 if coords else 0)
        self.classifier = nn.Linear(self.width, num_classes)
        self.offset = nn.Linear(self.width, 2) if offsets else None

    def forward_all(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
        """``images (B, C, H, W)`` -> logits ``(B, K)``, predicted offsets ``(B, L, 2)`` or None, grid ``(h, w)``."""
        features, grid = self.encoder(images)
        features = features[..., : self.width]
        logits = self.classifier(features.amax(1))
        return logits, (self.offset(features) if self.offset is not None else None), grid

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images (B, C, H, W)`` -> logits ``(B, num_classes)``."""
        return self.forward_all(images)[0]


def shift_in_frame(images: torch.Tensor, shifts: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad every image by ``pad`` zeros and move it by its own integer shift, without a loop.

    Parameters
    ----------
    images
        ``(N, C, H, W)``, any dtype; pixel values are not read (finiteness is not checked: this runs on
        every training batch, see :mod:`attnlib.checks`).
    shifts
        ``(N, 2)`` integer ``(dx, dy)`` with ``|dx|, |dy| <= pad``: the content moves ``dx`` pixels right
        and ``dy`` pixels down.
    pad
        Border added on every side.

    Returns
    -------
    torch.Tensor
        ``(N, C, H + 2 pad, W + 2 pad)``; equal to ``torch.roll`` of the padded image by ``(dy, dx)``.
    """
    checks.tensor(images, "images", ndim=4)
    checks.tensor(shifts, "shifts", shape=(images.shape[0], 2), dtype="int")
    checks.non_negative_int(pad, "pad")
    if (shifts.abs() > pad).any():
        raise ValueError(f"shifts must lie in [-pad, pad] = [-{pad}, {pad}], got a shift of {int(shifts.abs().max())}")
    framed = F.pad(images, (pad, pad, pad, pad))
    height, width = framed.shape[-2:]
    # output pixel (i, j) reads input pixel (i - dy, j - dx); the zero border makes the wrap harmless
    rows = (torch.arange(height, device=images.device) - shifts[:, 1:]) % height  # (N, H')
    cols = (torch.arange(width, device=images.device) - shifts[:, :1]) % width  # (N, W')
    batch = torch.arange(len(images), device=images.device)[:, None, None]
    return framed[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cell_offsets(centres: torch.Tensor, grid: tuple[int, int], stride: int) -> torch.Tensor:
    """Offset targets of Eq. (sat-offset): ``t_i = (c - g_i) / s`` for every cell ``i`` of the grid.

    Parameters
    ----------
    centres
        ``(N, 2)`` object centres ``(x, y)`` in pixels.
    grid
        ``(h, w)`` cells, flattened row-major like the annotation vectors.
    stride
        ``s``, pixels per cell; cell ``(r, q)`` has its centre ``g_i = ((q + 0.5) s, (r + 0.5) s)``.

    Returns
    -------
    torch.Tensor
        ``(N, h * w, 2)``, in cells.
    """
    checks.tensor(centres, "centres", shape=(None, 2), dtype="float")
    checks.finite(centres, "centres")
    checks.positive_int(stride, "stride")
    if isinstance(grid, (str, bytes)) or not hasattr(grid, "__len__") or len(grid) != 2:
        raise ValueError(f"grid must be a pair (h, w) of positive ints, got {grid!r}")
    h, w = checks.positive_int(grid[0], "grid"), checks.positive_int(grid[1], "grid")
    ys = (torch.arange(h, dtype=centres.dtype, device=centres.device) + 0.5) * stride
    xs = (torch.arange(w, dtype=centres.dtype, device=centres.device) + 0.5) * stride
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    cells = torch.stack([gx, gy], -1).reshape(-1, 2)  # (L, 2)
    return (centres[:, None, :] - cells[None]) / stride


def offset_loss(predicted: torch.Tensor, target: torch.Tensor, radius: float = 1.5) -> torch.Tensor:
    """Squared error of Eq. (sat-offset), averaged over the cells within ``radius`` cells of the object.

    Far from the object a cell sees only background, and its offset is neither knowable nor needed,
    so those cells are left out.

    Parameters
    ----------
    predicted, target
        ``(N, L, 2)`` offsets in cells.
    radius
        A cell counts when ``max(|t_x|, |t_y|) <= radius``.

    Returns
    -------
    torch.Tensor
        Scalar: the mean over counted cells of ``||o_i - t_i||^2``.
    """
    checks.tensor(predicted, "predicted", dtype="float")
    checks.tensor(target, "target", dtype="float")
    checks.finite(predicted, "predicted")
    checks.finite(target, "target")
    checks.positive_float(radius, "radius")
    if predicted.shape != target.shape or predicted.ndim != 3 or predicted.shape[-1] != 2:
        raise ValueError(
            f"predicted and target must both be (N, L, 2), got {tuple(predicted.shape)} and {tuple(target.shape)}"
        )
    near = target.abs().amax(-1) <= radius
    if not near.any():
        raise ValueError(f"no cell lies within radius={radius} cells of an object centre")
    return ((predicted - target) ** 2).sum(-1)[near].mean()


def make_pretrain_step(
    max_shift: int = 4,
    offset_weight: float = 1.0,
    radius: float = 1.5,
    generator: torch.Generator | None = None,
) -> Callable[[PretrainHead, tuple[torch.Tensor, ...]], tuple[torch.Tensor, dict[str, float]]]:
    """A ``step(model, batch)`` for :func:`attnlib.train.fit`: Eq. (sat-pretrain) plus ``offset_weight`` x Eq. (sat-offset).

    Each digit is padded by ``max_shift`` and shifted by its own random ``(dx, dy)`` (so that the
    features do not depend on where a digit falls relative to the grid), classified, and, if the
    head has an offset layer, its centre is regressed from every nearby cell.

    Parameters
    ----------
    max_shift
        Largest shift in pixels, each way.
    offset_weight
        Weight of the offset loss (ignored when the head has no offset layer).
    radius
        Passed to :func:`offset_loss`.
    generator
        Draws the shifts (on the CPU).

    Returns
    -------
    callable
        ``step(model, (images (B, 1, H, W), labels (B,), centres (B, 2)))`` -> ``(loss, logs)``; the
        centres (from :func:`attnlib.data.mnist.ink_centres`) are those of the unshifted images.
    """
    checks.non_negative_int(max_shift, "max_shift")
    checks.non_negative_float(offset_weight, "offset_weight")
    checks.positive_float(radius, "radius")

    def step(model: PretrainHead, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 3:
            raise ValueError("batch must be a triple (images, labels, centres)")
        images, labels, centres = batch
        checks.tensor(images, "images", ndim=4, dtype="float")
        checks.tensor(labels, "labels", shape=(images.shape[0],), dtype="int")
        checks.tensor(centres, "centres", shape=(images.shape[0], 2), dtype="float")
        checks.ids_in_range(labels, model.classifier.out_features, "labels")
        shifts = torch.randint(-max_shift, max_shift + 1, (len(images), 2), generator=generator).to(images.device)
        logits, offsets, grid = model.forward_all(shift_in_frame(images, shifts, max_shift))
        classification = F.cross_entropy(logits, labels)
        logs = {"ce": classification.item(), "acc": (logits.argmax(-1) == labels).float().mean().item()}
        loss = classification
        if offsets is not None:
            moved = centres + max_shift + shifts.to(centres.dtype)  # (x, y) in the padded, shifted frame
            regression = offset_loss(offsets, cell_offsets(moved, grid, model.encoder.stride), radius)
            loss = loss + offset_weight * regression
            logs["offset_mse"] = regression.item()
        logs["loss"] = loss.item()
        return loss, logs

    return step
