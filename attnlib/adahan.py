"""Hard attention without REINFORCE: HAN and AdaHAN (Malinowski et al., 2018), chapter 4.

A cell of the fused image-question map is kept or dropped by the *L2 norm* of
its feature, its presence (Eq. (adahan-presence)). HAN keeps the ``k`` cells of
largest presence (Eq. (adahan-topk)); AdaHAN keeps the cells whose
softmax-normalised presence beats the uniform distribution, ``1 / N``
(Eq. (adahan-adaptive)). The selection itself has no gradient, but the kept
features do, and the loss can raise their norms: the network bootstraps its
own attention.

Kept cells are gathered into a padded batch with a mask (:func:`gather_kept`),
so the aggregator after the attention, sum pooling (Eq. (adahan-sumpool)) or
the quadratic non-local pairwise module (Eq. (adahan-pairwise)), never touches
a dropped cell: that is where hard attention saves computation.

Shapes: cells are ``features (B, N, D)`` with ``N = h * w``; masks are ``bool (B, N)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "presence",
    "topk_hard_attention",
    "adaptive_hard_attention",
    "gather_kept",
    "masked_sum_pool",
    "PairwiseModule",
    "VQAModel",
    "QuestionOnlyModel",
    "count_flops",
    "pairwise_cost",
    "answer_step",
    "predict_answers",
    "ATTENTIONS",
    "ImageEncoder",
    "pretrain_encoder",
    "encode_images",
    "AGGREGATORS",
]

ATTENTIONS = ("soft", "han", "adahan", "none")
AGGREGATORS = ("sum", "pairwise")


def _check_cells(features: torch.Tensor, name: str = "features") -> None:
    if not isinstance(features, torch.Tensor) or features.ndim != 3:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"{name} must be a (B, N, D) tensor, got {shape}")
    if features.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one cell, got N = 0")


def _check_mask(mask: torch.Tensor, features: torch.Tensor) -> None:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != features.shape[:2]:
        got = (tuple(mask.shape), mask.dtype) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a bool tensor of shape {tuple(features.shape[:2])}, got {got}")


def presence(features: torch.Tensor) -> torch.Tensor:
    """Presence of every cell: the L2 norm (not squared) of its feature, Eq. (adahan-presence).

    features: ``(B, N, D)`` -> ``(B, N)``.
    """
    _check_cells(features)
    return torch.linalg.vector_norm(features, ord=2, dim=-1)


def topk_hard_attention(features: torch.Tensor, k: int) -> torch.Tensor:
    """HAN: keep the ``k`` cells of largest presence, Eq. (adahan-topk).

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
    if not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an int in [1, N={n}], got {k!r}")
    index = presence(features).topk(k, dim=1).indices
    return torch.zeros(features.shape[:2], dtype=torch.bool, device=features.device).scatter_(1, index, True)


def adaptive_hard_attention(features: torch.Tensor) -> torch.Tensor:
    """AdaHAN: keep the cells whose softmax-normalised presence is at least ``1 / N``, Eq. (adahan-adaptive).

    ``softmax(p)_i >= 1/N`` is the same as ``exp(p_i) >= mean_j exp(p_j)``; the
    latter (with the maximum subtracted) is what is computed, so that a map of
    equal presences keeps every cell exactly and the most present cell is always kept.

    features: ``(B, N, D)`` -> mask ``bool (B, N)``. No parameter.
    """
    p = presence(features)
    e = torch.exp(p - p.max(dim=1, keepdim=True).values)
    return e >= e.mean(dim=1, keepdim=True)


def gather_kept(features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pack the kept cells of every example to the front of a batch padded to the largest count.

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
    """Sum of the kept cells, Eq. (adahan-sumpool): ``(B, N, D), bool (B, N) -> (B, D)``."""
    _check_cells(features)
    _check_mask(mask, features)
    return (features * mask.unsqueeze(-1)).sum(dim=1)


class PairwiseModule(nn.Module):
    """Non-local pairwise module over (kept) cells, Eq. (adahan-pairwise).

    ``o_i = ReLU(x_i + W_o sum_j softmax_j(q_i . k_j / sqrt(D)) v_j)`` with
    ``q, k, v`` linear maps of the cells; the softmax runs over valid cells only,
    so padding never receives or sends attention. Its cost grows as ``K^2 D``
    (pairs) plus ``4 K D^2`` (projections) for ``K`` cells.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.query, self.key, self.value, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, cells: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """cells ``(B, K, D)``, mask ``bool (B, K)`` -> ``(B, K, D)`` (padding rows are zero)."""
        _check_cells(cells, "cells")
        _check_mask(mask, cells)
        q, k, v = self.query(cells), self.key(cells), self.value(cells)
        logits = torch.einsum("bid,bjd->bij", q, k) * self.scale
        logits = logits.masked_fill(~mask.unsqueeze(1), float("-inf"))
        mixed = torch.einsum("bij,bjd->bid", logits.softmax(dim=-1), v)
        return F.relu(cells + self.out(mixed)) * mask.unsqueeze(-1)


class ImageEncoder(nn.Module):
    """Three convolutions, stride 4 overall, plus two coordinate channels: ``(B, 3, H, W) -> (B, N, C + 2)``.

    ``forward`` returns the cells and the grid ``(h, w)``; ``out_dim = C + 2``.
    """

    def __init__(self, channels: int = 48) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 2:
            raise ValueError(f"channels must be an int >= 2, got {channels!r}")
        self.channels, self.out_dim = channels, channels + 2
        # Batch norm makes training from scratch fast enough for a CPU budget.
        self.net = nn.Sequential(
            nn.Conv2d(3, channels // 2, 3, stride=2, padding=1), nn.BatchNorm2d(channels // 2), nn.ReLU(),
            nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
        )  # fmt: skip

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.net(images - 0.5)
        b, _, h, w = x.shape
        # Coordinates let a sum of cells say *where* things are (spatial questions).
        ys = torch.linspace(-1, 1, h, device=x.device).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=x.device).view(1, 1, 1, w).expand(b, 1, h, w)
        return torch.cat([x, xs, ys], dim=1).flatten(2).transpose(1, 2), (h, w)


class _QuestionEncoder(nn.Module):
    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 32, padding_idx=0)
        self.lstm = nn.LSTM(32, dim, batch_first=True)

    def forward(self, questions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(questions))  # (B, L, dim)
        last = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
        return out.gather(1, last).squeeze(1)


class VQAModel(nn.Module):
    """CNN + LSTM, additive fusion, one attention, one aggregator, answer classifier (the paper's Fig. 2).

    Parameters
    ----------
    vocab_size, n_answers
        Sizes of the question and answer vocabularies.
    attention
        ``"soft"`` (softmax weights over all cells, pooled after the aggregator), ``"han"`` (top-``k``),
        ``"adahan"`` (adaptive threshold) or ``"none"`` (every cell).
    aggregator
        ``"sum"`` (sum pooling) or ``"pairwise"`` (:class:`PairwiseModule`, then sum pooling).
    k
        Cells kept by HAN: an int, or a float in ``(0, 1]`` read as a fraction of the ``N`` cells.
    dim
        Width ``D`` of the fused cells.
    cell_dim
        ``None``: the model owns an :class:`ImageEncoder` with ``channels`` channels and takes images.
        An int: the model takes pre-encoded cells ``(S, N, cell_dim)`` (from :func:`encode_images`).
    """

    def __init__(
        self,
        vocab_size: int,
        n_answers: int,
        attention: str = "adahan",
        aggregator: str = "sum",
        k: int | float = 0.2,
        dim: int = 64,
        channels: int = 48,
        cell_dim: int | None = None,
    ) -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        if aggregator not in AGGREGATORS:
            raise ValueError(f"aggregator must be one of {AGGREGATORS}, got {aggregator!r}")
        if isinstance(k, bool) or not (isinstance(k, int) and k >= 1 or isinstance(k, float) and 0 < k <= 1):
            raise ValueError(f"k must be a positive int or a float in (0, 1], got {k!r}")
        self.attention, self.aggregator, self.k = attention, aggregator, k
        self.image = ImageEncoder(channels) if cell_dim is None else None
        self.question = _QuestionEncoder(vocab_size, dim)
        self.project_cells = nn.Linear(channels + 2 if cell_dim is None else cell_dim, dim)
        self.project_question = nn.Linear(dim, dim)
        self.fuse = nn.Linear(dim, dim)
        self.soft_logits = (
            nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 1)) if attention == "soft" else None
        )
        self.pairwise = PairwiseModule(dim) if aggregator == "pairwise" else None
        self.classifier = nn.Sequential(nn.Linear(2 * dim, 128), nn.ReLU(), nn.Linear(128, n_answers))

    def cells_kept(self, n: int) -> int:
        """HAN's ``k`` as a count of cells for a map of ``n`` cells."""
        return min(n, self.k if isinstance(self.k, int) else max(1, round(self.k * n)))

    def attend(
        self,
        images: torch.Tensor,
        questions: torch.Tensor,
        lengths: torch.Tensor,
        scene_index: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Everything up to the aggregator.

        Parameters
        ----------
        images
            ``(S, 3, H, W)``, or pre-encoded cells ``(S, N, cell_dim)`` when the model was built with ``cell_dim``.
        questions, lengths
            ``int64 (B, L)`` word indices (0 pads) and ``(B,)`` lengths.
        scene_index
            ``int64 (B,)``: the image each question asks about (several questions may share one image,
            which is then encoded once). ``None`` means ``S == B``, one image per question.

        Returns
        -------
        dict
            ``cells (B, N, D)`` fused features (Eq. (adahan-fusion)), ``presence (B, N)``,
            ``mask bool (B, N)`` (all true for soft attention), ``weights (B, N)`` (softmax weights
            for soft attention, the mask as floats otherwise), ``question (B, D)``, ``grid (h, w)``.
        """
        if self.image is not None and (images.ndim != 4 or images.shape[1] != 3):
            raise ValueError(f"images must be (S, 3, H, W), got {tuple(images.shape)}")
        if self.image is None and (images.ndim != 3 or images.shape[-1] != self.project_cells.in_features):
            raise ValueError(f"images must be pre-encoded cells (S, N, {self.project_cells.in_features}), "
                             f"got {tuple(images.shape)}")  # fmt: skip
        if questions.ndim != 2 or lengths.shape != questions.shape[:1]:
            raise ValueError(f"questions must be (B, L) and lengths (B,), got {tuple(questions.shape)}, "
                             f"{tuple(lengths.shape)}")  # fmt: skip
        if scene_index is None:
            if images.shape[0] != questions.shape[0]:
                raise ValueError(f"images ({images.shape[0]}) and questions ({questions.shape[0]}) must match "
                                 "in batch size when scene_index is None")  # fmt: skip
            scene_index = torch.arange(questions.shape[0], device=questions.device)
        elif scene_index.shape != lengths.shape:
            raise ValueError(f"scene_index must be (B,) = {tuple(lengths.shape)}, got {tuple(scene_index.shape)}")
        if self.image is not None:
            pixels, grid = self.image(images)
        else:
            side = math.isqrt(images.shape[1])
            pixels, grid = images, (side, images.shape[1] // side)
        q = self.question(questions, lengths)
        x = self.project_cells(pixels)[scene_index]  # (B, N, D)
        # Eq. (adahan-fusion): the question is added to every cell, then one more layer mixes the two.
        cells = F.relu(self.fuse(F.relu(x + self.project_question(q).unsqueeze(1))))
        p = presence(cells)
        if self.attention == "soft":
            weights = self.soft_logits(cells).squeeze(-1).softmax(dim=1)
            mask = torch.ones_like(p, dtype=torch.bool)
        else:
            if self.attention == "han":
                mask = topk_hard_attention(cells, self.cells_kept(cells.shape[1]))
            elif self.attention == "adahan":
                mask = adaptive_hard_attention(cells)
            else:
                mask = torch.ones_like(p, dtype=torch.bool)
            weights = mask.float()
        return {"cells": cells, "presence": p, "mask": mask, "weights": weights, "question": q, "grid": grid}

    def aggregate(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Aggregate the attended cells of :meth:`attend` into ``(B, D)``."""
        cells, mask = out["cells"], out["mask"]
        if self.attention == "soft":
            o = self.pairwise(cells, mask) if self.pairwise is not None else cells
            return (o * out["weights"].unsqueeze(-1)).sum(dim=1)
        kept, kept_mask, _ = gather_kept(cells, mask)
        o = self.pairwise(kept, kept_mask) if self.pairwise is not None else kept
        return masked_sum_pool(o, kept_mask)

    def forward(
        self,
        images: torch.Tensor,
        questions: torch.Tensor,
        lengths: torch.Tensor,
        scene_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Answer logits ``(B, n_answers)``; arguments as in :meth:`attend`."""
        out = self.attend(images, questions, lengths, scene_index)
        return self.classifier(torch.cat([self.aggregate(out), out["question"]], dim=-1))


class QuestionOnlyModel(nn.Module):
    """The blind baseline: the same LSTM and classifier, no image. ``forward(images, questions, lengths, ...)``."""

    def __init__(self, vocab_size: int, n_answers: int, dim: int = 64) -> None:
        super().__init__()
        self.question = _QuestionEncoder(vocab_size, dim)
        self.classifier = nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, n_answers))

    def forward(self, images: torch.Tensor | None, questions: torch.Tensor, lengths: torch.Tensor,
                scene_index: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        return self.classifier(self.question(questions, lengths))


def pretrain_encoder(
    encoder: ImageEncoder,
    images: torch.Tensor,
    labels: dict[str, torch.Tensor],
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[float]:
    """Teach ``encoder`` what is in every cell (colour, shape, size or empty) before any question.

    The stand-in for the paper's pretrained CNN: dense per-cell labels from
    :func:`attnlib.data.shapes.cell_labels` train three linear heads on the
    cells. Questions, answers and attention play no part.

    Parameters
    ----------
    images
        ``(S, 3, H, W)``.
    labels
        ``color``, ``shape``, ``size``: ``int64 (S, N)`` with ``N`` the encoder's number of cells.

    Returns
    -------
    list of float
        Mean per-cell accuracy (over the three attributes) of each epoch.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (S, 3, H, W), got {tuple(images.shape)}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    names = ("color", "shape", "size")
    if any(labels[n].shape[0] != images.shape[0] for n in names):
        raise ValueError("labels must hold (S, N) color, shape and size for every image")
    device = next(encoder.parameters()).device
    heads = nn.ModuleDict({n: nn.Linear(encoder.out_dim, int(labels[n].max()) + 1) for n in names}).to(device)
    optimizer = torch.optim.Adam([*encoder.parameters(), *heads.parameters()], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    encoder.train()
    for _ in range(epochs):
        order = torch.randperm(images.shape[0], generator=generator)
        right, total = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            cells, _ = encoder(images[idx].to(device))
            loss = torch.zeros((), device=device)
            for n in names:
                logits, target = heads[n](cells), labels[n][idx].to(device)
                loss = loss + F.cross_entropy(logits.flatten(0, 1), target.flatten())
                right += (logits.argmax(-1) == target).float().mean().item() / len(names)
            total += 1
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        history.append(right / total)
    encoder.eval()
    return history


@torch.no_grad()
def encode_images(encoder: ImageEncoder, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Run a (frozen) encoder over ``images (S, 3, H, W)`` once: cells ``(S, N, encoder.out_dim)`` on the CPU."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (S, 3, H, W), got {tuple(images.shape)}")
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = torch.cat(
        [encoder(images[i : i + batch_size].to(device))[0].cpu() for i in range(0, len(images), batch_size)]
    )
    encoder.train(was_training)
    return out


def count_flops(fn: Callable[..., object], *args: object, **kwargs: object) -> int:
    """Floating-point operations of ``fn(*args, **kwargs)`` counted by ``torch.utils.flop_counter.FlopCounterMode``.

    The counter sees matrix products and convolutions (a multiply-add is 2 FLOPs);
    element-wise work such as the softmax is not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def pairwise_cost(
    module: PairwiseModule, cells: torch.Tensor, mask: torch.Tensor, batch_size: int = 64, bucket: bool = True
) -> int:
    """FLOPs of ``module`` over the kept cells of a whole set, measured with :func:`count_flops`.

    Examples are cut into batches of ``batch_size``; each batch is gathered with
    :func:`gather_kept` (so it is padded to its largest count of kept cells). With
    ``bucket``, examples are first sorted by their count, so that a batch holds
    similar counts and little padding (what a serving system does with sequences).

    cells ``(Q, N, D)``, mask ``bool (Q, N)`` -> total FLOPs (int).
    """
    _check_cells(cells, "cells")
    _check_mask(mask, cells)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    order = torch.sort(mask.sum(1), stable=True).indices if bucket else torch.arange(len(mask))
    total = 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        kept, kept_mask, _ = gather_kept(cells[idx], mask[idx])
        total += count_flops(module, kept, kept_mask)
    return total


def answer_step(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy step for :func:`attnlib.train.fit` on batches of :class:`attnlib.data.vqa.VQALoader`."""
    images, questions, lengths, answers, scene_index = batch
    logits = model(images, questions, lengths, scene_index)
    loss = F.cross_entropy(logits, answers)
    return loss, {"loss": loss.item(), "acc": (logits.argmax(-1) == answers).float().mean().item()}


@torch.no_grad()
def predict_answers(model: nn.Module, loader: object) -> dict[str, torch.Tensor]:
    """Predictions over a (non-shuffled) :class:`~attnlib.data.vqa.VQALoader`, in the data's question order.

    Returns
    -------
    dict
        ``predictions (Q,)``; for a :class:`VQAModel` also ``mask bool (Q, N)``, ``weights (Q, N)``,
        ``presence (Q, N)`` and ``kept (Q,)`` (cells kept; ``N`` for soft attention).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: dict[str, list[torch.Tensor]] = {}
    for images, questions, lengths, _, scene_index in loader:
        args = [t.to(device) for t in (images, questions, lengths, scene_index)]
        if isinstance(model, VQAModel):
            att = model.attend(*args)
            logits = model.classifier(torch.cat([model.aggregate(att), att["question"]], dim=-1))
            for key in ("mask", "weights", "presence"):
                out.setdefault(key, []).append(att[key].cpu())
        else:
            logits = model(*args)
        out.setdefault("predictions", []).append(logits.argmax(-1).cpu())
    model.train(was_training)
    result = {k: torch.cat(v) for k, v in out.items()}
    if "mask" in result:
        result["kept"] = result["mask"].sum(1)
    return result
