"""Caption metrics: exact match, BLEU (torchmetrics), and attention localisation (Chapter 3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["exact_match", "bleu", "attention_peaks", "attention_localisation"]


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of captions generated word for word like their reference (whitespace-normalised)."""
    if len(predictions) != len(references) or not predictions:
        raise ValueError(
            f"predictions and references must be non-empty and of equal length, got "
            f"{len(predictions)} and {len(references)}"
        )
    return sum(p.split() == r.split() for p, r in zip(predictions, references)) / len(predictions)


def bleu(predictions: Sequence[str], references: Sequence[Sequence[str]] | Sequence[str], n_gram: int = 4) -> float:
    """Corpus BLEU-``n_gram`` from :func:`torchmetrics.functional.text.bleu_score` (Papineni et al. 2002).

    ``references`` holds one string or a list of reference strings per prediction.
    """
    from torchmetrics.functional.text import bleu_score

    if len(predictions) != len(references) or not predictions:
        raise ValueError(
            f"predictions and references must be non-empty and of equal length, got "
            f"{len(predictions)} and {len(references)}"
        )
    if not 1 <= n_gram <= 4:
        raise ValueError(f"n_gram must be in 1..4, got {n_gram}")
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    return float(bleu_score(list(predictions), refs, n_gram=n_gram))


def attention_peaks(alphas: torch.Tensor, grid: tuple[int, int], image_size: tuple[int, int]) -> torch.Tensor:
    """Pixel centre ``(x, y)`` of the most attended cell: ``alphas (B, T, L)`` -> ``(B, T, 2)``."""
    h, w = grid
    if alphas.ndim != 3 or alphas.shape[-1] != h * w:
        raise ValueError(f"alphas must be (B, T, {h * w}) for a {h} x {w} grid, got {tuple(alphas.shape)}")
    peak = alphas.argmax(-1)
    row, col = peak // w, peak % w
    height, width = image_size
    return torch.stack([(col.float() + 0.5) * width / w, (row.float() + 0.5) * height / h], -1)


def attention_localisation(
    alphas: torch.Tensor,
    tokens: torch.Tensor,
    boxes: torch.Tensor,
    n_objects: torch.Tensor,
    object_ids: Sequence[int] | torch.Tensor,
    grid: tuple[int, int],
    image_size: tuple[int, int],
) -> tuple[float, int]:
    """Share of generated object words whose attention peak lies inside that object's box.

    The captions name objects in a fixed reading order, so the ``j``-th object word a caption generates
    denotes the ``j``-th object; a word past the last object counts as a miss.

    Parameters
    ----------
    alphas
        ``(B, T, L)``: the attention that produced word ``t``.
    tokens
        ``(B, T)``: the generated words.
    boxes
        ``(B, K, 4)`` object boxes ``(x1, y1, x2, y2)`` in reading order, pixels.
    n_objects
        ``(B,)`` objects per image.
    object_ids
        Token ids of object words (the digit names).
    grid, image_size
        ``(h, w)`` of the attention grid and ``(H, W)`` of the image.

    Returns
    -------
    share
        Hits over generated object words (``nan`` if none were generated).
    count
        The number of generated object words.
    """
    if tokens.shape != alphas.shape[:2]:
        raise ValueError(f"tokens must be {tuple(alphas.shape[:2])}, got {tuple(tokens.shape)}")
    if boxes.ndim != 3 or boxes.shape[0] != tokens.shape[0] or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be ({tokens.shape[0]}, K, 4), got {tuple(boxes.shape)}")
    if n_objects.shape != (tokens.shape[0],):
        raise ValueError(f"n_objects must be ({tokens.shape[0]},), got {tuple(n_objects.shape)}")
    ids = torch.as_tensor(object_ids, device=tokens.device)
    is_object = torch.isin(tokens, ids)
    which = is_object.long().cumsum(1) - 1  # index of the object this word names
    valid = is_object & (which < n_objects[:, None].to(tokens.device))
    box = boxes.to(alphas.device).gather(1, which.clamp(0, boxes.shape[1] - 1)[..., None].expand(-1, -1, 4))
    peak = attention_peaks(alphas, grid, image_size)
    inside = (
        (peak[..., 0] >= box[..., 0])
        & (peak[..., 0] <= box[..., 2])
        & (peak[..., 1] >= box[..., 1])
        & (peak[..., 1] <= box[..., 3])
    )
    count = int(is_object.sum())
    hits = int((inside & valid).sum())
    return (hits / count if count else float("nan")), count
