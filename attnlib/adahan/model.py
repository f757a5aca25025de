"""The VQA model of the paper's Fig. 2: CNN cells + LSTM question, additive fusion, attention, aggregator.

One of ``ATTENTIONS`` (soft, HAN, AdaHAN, none) is followed by one of
``AGGREGATORS`` (sum pooling or the pairwise module) and an answer classifier;
:class:`QuestionOnlyModel` is the blind baseline.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from attnlib import checks
from attnlib.adahan.attention import (
    adaptive_hard_attention,
    gather_kept,
    masked_sum_pool,
    presence,
    topk_hard_attention,
)
from attnlib.adahan.pairwise import PairwiseModule

__all__ = ["ATTENTIONS", "AGGREGATORS", "ImageEncoder", "VQAModel", "QuestionOnlyModel"]

ATTENTIONS = ("soft", "han", "adahan", "none")
AGGREGATORS = ("sum", "pairwise")


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
        """``images (B, 3, H, W)``, ``H, W >= 4`` -> cells ``(B, N, C + 2)`` and the grid ``(h, w)``."""
        checks.tensor(images, "images", shape=(None, 3, None, None), dtype="float")
        if images.shape[0] < 1 or min(images.shape[-2:]) < 4:
            raise ValueError(f"images must hold at least one image of at least 4 x 4 pixels, got {tuple(images.shape)}")
        x = self.net(images - 0.5)
        b, _, h, w = x.shape
        # Coordinates let a sum of cells say *where* things are (spatial questions).
        ys = torch.linspace(-1, 1, h, device=x.device).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=x.device).view(1, 1, 1, w).expand(b, 1, h, w)
        return torch.cat([x, xs, ys], dim=1).flatten(2).transpose(1, 2), (h, w)


def _check_questions(questions: torch.Tensor, lengths: torch.Tensor, vocab_size: int) -> None:
    """Word ids in ``[0, vocab_size)`` and lengths in ``[1, L]``: a length of 0 would read the first word's
    state as the question, a length past ``L`` the last one, both silently."""
    checks.tensor(questions, "questions", ndim=2, dtype="int")
    checks.tensor(lengths, "lengths", shape=(questions.shape[0],), dtype="int")
    if questions.shape[0] < 1 or questions.shape[1] < 1:
        raise ValueError(
            f"questions must hold at least one question of at least one word, got {tuple(questions.shape)}"
        )
    checks.ids_in_range(questions, vocab_size, "questions")
    bad = (lengths < 1) | (lengths > questions.shape[1])
    if bool(bad.any()):
        raise ValueError(
            f"lengths must lie in [1, {questions.shape[1]}] (the question's words), got {int(lengths[bad][0])}"
        )


class _QuestionEncoder(nn.Module):
    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        checks.positive_int(vocab_size, "vocab_size")
        checks.positive_int(dim, "dim")
        self.vocab_size = vocab_size
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
        checks.one_of(attention, ATTENTIONS, "attention")
        checks.one_of(aggregator, AGGREGATORS, "aggregator")
        checks.positive_int(vocab_size, "vocab_size")
        checks.positive_int(n_answers, "n_answers")
        checks.positive_int(dim, "dim")
        if cell_dim is not None:
            checks.positive_int(cell_dim, "cell_dim")
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
        checks.tensor(images, "images", dtype="float")
        if self.image is not None and (images.ndim != 4 or images.shape[1] != 3):
            raise ValueError(f"images must be (S, 3, H, W), got {tuple(images.shape)}")
        if self.image is None and (images.ndim != 3 or images.shape[-1] != self.project_cells.in_features):
            raise ValueError(f"images must be pre-encoded cells (S, N, {self.project_cells.in_features}), "
                             f"got {tuple(images.shape)}")  # fmt: skip
        checks.tensor(questions, "questions", ndim=2)
        checks.tensor(lengths, "lengths", ndim=1)
        if lengths.shape != questions.shape[:1]:
            raise ValueError(f"questions must be (B, L) and lengths (B,), got {tuple(questions.shape)}, "
                             f"{tuple(lengths.shape)}")  # fmt: skip
        _check_questions(questions, lengths, self.question.vocab_size)
        if images.shape[0] < 1 or images.ndim == 3 and images.shape[1] < 1:
            raise ValueError(f"images must hold at least one image (and one cell), got {tuple(images.shape)}")
        if scene_index is None:
            if images.shape[0] != questions.shape[0]:
                raise ValueError(f"images ({images.shape[0]}) and questions ({questions.shape[0]}) must match "
                                 "in batch size when scene_index is None")  # fmt: skip
            scene_index = torch.arange(questions.shape[0], device=questions.device)
        else:
            checks.tensor(scene_index, "scene_index", shape=tuple(lengths.shape), dtype="int")
            checks.ids_in_range(scene_index, images.shape[0], "scene_index")
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
        checks.positive_int(n_answers, "n_answers")
        self.question = _QuestionEncoder(vocab_size, dim)
        self.classifier = nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, n_answers))

    def forward(self, images: torch.Tensor | None, questions: torch.Tensor, lengths: torch.Tensor,
                scene_index: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        _check_questions(questions, lengths, self.question.vocab_size)
        return self.classifier(self.question(questions, lengths))
