"""Pretraining the visual encoder of chapter 8 on what lies under each cell, and caching its tokens.

The paper starts from a ResNet pretrained on COCO (the detector of TransVG),
so its visual tokens already say *what* is where. Our small CNN stands in for
it: before any expression is seen, :func:`pretrain_visual` teaches it, on the
training scenes alone, to name the object under every cell of the token grid
(colour, shape, size, or empty) and to regress that object's box relative to
the cell (dense targets from :func:`cell_targets`, as in chapter 6's
pretraining, plus the box). The encoder is then frozen and run once
(:func:`encode_cells`): every grounding run of the chapter reads the same
cached tokens, which holds the comparison of losses and fusions fixed and
keeps the CPU budget for the part the chapter is about.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_convert

from attnlib import budget, checks
from attnlib.data.refexp import target_boxes
from attnlib.data.shapes import COLOR_NAMES, SHAPES, SIZES, Scenes, cell_labels
from attnlib.rec.model import VisualEncoder

__all__ = ["cell_targets", "CellHeads", "pretrain_visual", "encode_cells", "standardise_cells"]

_ATTRS = (("color", len(COLOR_NAMES)), ("shape", len(SHAPES)), ("size", len(SIZES)))


def _cell_centres(grid: int) -> torch.Tensor:
    i = torch.arange(grid * grid)
    return torch.stack([(i % grid + 0.5) / grid, (i // grid + 0.5) / grid], dim=-1)  # (N, 2)


def cell_targets(scenes: Scenes, image_size: int, grid: int, threshold: float = 0.1) -> dict[str, torch.Tensor]:
    """Dense labels of every cell of a ``grid x grid`` map.

    Returns
    -------
    dict
        ``color``, ``shape``, ``size``: ``int64 (B, N)`` as :func:`attnlib.data.shapes.cell_labels` (the number of
        values means "empty"); ``box``: ``float32 (B, N, 4)``, the covering object's box as (offset of its centre
        from the cell centre, width, height), all in cells; ``has``: ``bool (B, N)``, a cell holds an object.
    """
    if not isinstance(scenes, Scenes):
        raise ValueError(f"scenes must be a Scenes record, got {type(scenes).__name__}")
    labels = cell_labels(scenes, image_size, grid, threshold)
    slot = labels["object"]  # (B, N), -1 if empty
    b, n = slot.shape
    m = scenes.valid.shape[1]
    every = torch.stack([target_boxes(scenes, torch.full((b,), k)) for k in range(m)], dim=1)  # (B, M, 4) xyxy
    cxcywh = box_convert(every.view(-1, 4), "xyxy", "cxcywh").view(b, m, 4)
    box = cxcywh.gather(1, slot.clamp(min=0).unsqueeze(-1).expand(b, n, 4))
    offset = (box[..., :2] - _cell_centres(grid)) * grid
    out = {name: labels[name] for name, _ in _ATTRS}
    out["box"] = torch.cat([offset, box[..., 2:] * grid], dim=-1)
    out["has"] = slot >= 0
    return out


class CellHeads(nn.Module):
    """Linear read-outs of the encoder's cells: attribute logits and the covering object's box (in cells)."""

    def __init__(self, in_features: int):
        super().__init__()
        checks.positive_int(in_features, "in_features")
        self.attrs = nn.ModuleDict({name: nn.Linear(in_features, k + 1) for name, k in _ATTRS})
        self.box = nn.Linear(in_features, 4)

    def forward(self, cells: torch.Tensor) -> dict[str, torch.Tensor]:
        """``cells (B, N, C)`` -> ``{"color": (B, N, 7), "shape": (B, N, 4), "size": (B, N, 3), "box": (B, N, 4)}``."""
        checks.tensor(cells, "cells", shape=(None, None, self.box.in_features), dtype="float")
        out = {name: head(cells) for name, head in self.attrs.items()}
        out["box"] = self.box(cells)
        return out


def pretrain_visual(
    encoder: VisualEncoder,
    images: torch.Tensor,
    scenes: Scenes,
    epochs: int = 4,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    threshold: float = 0.1,
) -> tuple[CellHeads, list[dict[str, float]]]:
    """Train the CNN of ``encoder`` (and fresh :class:`CellHeads`) on dense cell targets; no expression is used.

    Loss per batch: cross-entropy of colour, shape and size over all cells, plus the L1 error of the box
    over the cells that hold an object.

    Parameters
    ----------
    images
        ``(S, 3, H, W)``, the scenes of ``scenes`` rendered.

    Returns
    -------
    heads, history
        The trained heads and, per epoch, ``{"attr_acc": mean cell accuracy over the three attributes,
        "box_l1": mean box error in cells}``.
    """
    if not isinstance(encoder, VisualEncoder):
        raise ValueError(f"encoder must be a VisualEncoder, got {type(encoder).__name__}")
    if not isinstance(scenes, Scenes):
        raise ValueError(f"scenes must be a Scenes record, got {type(scenes).__name__}")
    checks.tensor(images, "images", dtype="float")
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] != len(scenes):
        raise ValueError(f"images must be (S, 3, H, W) with S = len(scenes) = {len(scenes)}, got {tuple(images.shape)}")
    checks.positive_int(epochs, "epochs")
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one scene, got 0")
    checks.finite(images, "images")
    checks.positive_int(batch_size, "batch_size")
    checks.positive_float(lr, "lr")
    checks.non_negative_int(seed, "seed")
    device = next(encoder.parameters()).device  # the heads, batches and targets follow the encoder
    targets = {k: v.to(device) for k, v in cell_targets(scenes, images.shape[-1], encoder.grid, threshold).items()}
    heads = CellHeads(encoder.cell_features).to(device)
    opt = torch.optim.Adam([*encoder.parameters(), *heads.parameters()], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    encoder.train()
    taken = 0  # optimiser steps, for the dry-run cap (attnlib.budget.steps_exhausted)
    for _ in range(epochs):
        order = torch.randperm(images.shape[0], generator=generator)
        acc, err, count = 0.0, 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out = heads(encoder.cells(images[idx.to(images.device)].to(device)))
            idx = idx.to(device)
            loss = torch.zeros((), device=device)
            for name, _ in _ATTRS:
                logits, target = out[name], targets[name][idx]
                loss = loss + F.cross_entropy(logits.flatten(0, 1), target.flatten())
                acc += (logits.argmax(-1) == target).float().mean().item() / len(_ATTRS)
            has = targets["has"][idx]
            box_err = (out["box"] - targets["box"][idx]).abs()[has].mean()
            loss = loss + box_err
            err += box_err.item()
            count += 1
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            taken += 1
            if budget.steps_exhausted(taken):
                break
        history.append({"attr_acc": acc / count, "box_l1": err / count})
        if budget.steps_exhausted(taken):
            break
    encoder.eval()
    heads.eval()
    return heads, history


@torch.no_grad()
def encode_cells(encoder: VisualEncoder, heads: CellHeads, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Frozen visual tokens, computed once: ``images (S, 3, H, W)`` -> ``(S, N, C + 18)``.

    Each cell holds the CNN's multi-stage features ``C``, followed by the heads' read-out: the colour, shape and
    size probabilities (7 + 4 + 3) and the covering object's box as absolute normalised ``(cx, cy, w, h)`` (4).
    Feed them to :class:`attnlib.rec.model.RECModel` built with ``in_features = C + 18``.
    """
    if not isinstance(encoder, VisualEncoder):
        raise ValueError(f"encoder must be a VisualEncoder, got {type(encoder).__name__}")
    if not isinstance(heads, CellHeads):
        raise ValueError(f"heads must be CellHeads, got {type(heads).__name__}")
    checks.tensor(images, "images", dtype="float")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (S, 3, H, W), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one scene, got 0")
    checks.finite(images, "images")
    checks.positive_int(batch_size, "batch_size")
    was = encoder.training
    encoder.eval()
    centres = _cell_centres(encoder.grid)
    parts = []
    for i in range(0, images.shape[0], batch_size):
        cells = encoder.cells(images[i : i + batch_size])
        out = heads(cells)
        box = out["box"]
        absolute = torch.cat([centres + box[..., :2] / encoder.grid, box[..., 2:] / encoder.grid], dim=-1)
        probs = [out[name].softmax(-1) for name, _ in _ATTRS]
        parts.append(torch.cat([cells, *probs, absolute], dim=-1))
    encoder.train(was)
    return torch.cat(parts)


def standardise_cells(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Scale every channel of cached cells to mean 0 and standard deviation 1, with the training set's statistics.

    The CNN's features and the heads' probabilities and box coordinates live on different scales; after this
    step the few box channels weigh as much as the many feature channels in the first linear layer.

    Parameters
    ----------
    train
        ``(S, N, C)`` cells of the training set (the statistics come from these only).
    others
        More ``(S', N, C)`` tensors (the test set) scaled with the same statistics.

    Returns
    -------
    tuple
        ``train`` and then each of ``others``, standardised.
    """
    checks.tensor(train, "train", dtype="float")
    for i, o in enumerate(others):
        checks.tensor(o, f"others[{i}]", dtype="float")
    if train.ndim != 3 or any(o.ndim != 3 or o.shape[1:] != train.shape[1:] for o in others):
        raise ValueError(f"train and others must be (S, N, C) with the same N, C; got {tuple(train.shape)}")
    if train.shape[0] * train.shape[1] < 2:
        raise ValueError(
            f"train must hold at least two cells per channel for a standard deviation, got {tuple(train.shape)}"
        )
    checks.finite(train, "train")
    mean = train.mean(dim=(0, 1))
    std = train.std(dim=(0, 1)).clamp_min(1e-3)
    return tuple((t - mean) / std for t in (train, *others))
