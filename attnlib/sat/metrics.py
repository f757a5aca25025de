"""Caption metrics: exact match, BLEU (torchmetrics), and attention localisation (Chapter 5)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from attnlib import checks

__all__ = ["exact_match", "bleu", "attention_peaks", "attention_localisation"]


def _strings(values: object, name: str) -> None:
    """ValueError unless ``values`` is a sequence of strings (not one string, whose characters would be read)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a list of strings, got {type(values).__name__}")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(f"{name}[{i}] must be a string, got {type(value).__name__}")


def _pairs(predictions: object, references: object) -> None:
    _strings(predictions, "predictions")
    if isinstance(references, (str, bytes)) or not isinstance(references, Sequence):
        raise ValueError(f"references must be a list, got {type(references).__name__}")
    if len(predictions) != len(references) or not predictions:
        raise ValueError(
            f"predictions and references must be non-empty and of equal length, got "
            f"{len(predictions)} and {len(references)}"
        )


def _pair(value: object, name: str) -> tuple[int, int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{name} must be a pair of positive ints, got {value!r}")
    return checks.positive_int(value[0], name), checks.positive_int(value[1], name)


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of captions generated word for word like their reference (whitespace-normalised)."""
    _pairs(predictions, references)
    _strings(references, "references")
    return sum(p.split() == r.split() for p, r in zip(predictions, references)) / len(predictions)


def bleu(predictions: Sequence[str], references: Sequence[Sequence[str]] | Sequence[str], n_gram: int = 4) -> float:
    """Corpus BLEU-``n_gram`` from :func:`torchmetrics.functional.text.bleu_score` (Papineni et al. 2002).

    ``references`` holds one string or a list of reference strings per prediction.
    """
    from torchmetrics.functional.text import bleu_score

    _pairs(predictions, references)
    if not isinstance(n_gram, int) or isinstance(n_gram, bool) or not 1 <= n_gram <= 4:
        raise ValueError(f"n_gram must be an int in 1..4, got {n_gram!r}")
    for i, r in enumerate(references):
        if not isinstance(r, (str, Sequence)) or isinstance(r, bytes):
            raise ValueError(f"references[{i}] must be a string or a non-empty list of strings, got {r!r}")
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    for i, ref in enumerate(refs):
        if not ref or not all(isinstance(r, str) for r in ref):
            raise ValueError(f"references[{i}] must be a string or a non-empty list of strings, got {references[i]!r}")
    return float(bleu_score(list(predictions), refs, n_gram=n_gram))


def attention_peaks(alphas: torch.Tensor, grid: tuple[int, int], image_size: tuple[int, int]) -> torch.Tensor:
    """Pixel centre ``(x, y)`` of the most attended cell: ``alphas (B, T, L)`` -> ``(B, T, 2)``."""
    h, w = _pair(grid, "grid")
    _pair(image_size, "image_size")
    checks.tensor(alphas, "alphas", ndim=3, dtype="float")
    checks.finite(alphas, "alphas")
    if alphas.shape[-1] != h * w:
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
    checks.tensor(alphas, "alphas", ndim=3, dtype="float")
    checks.tensor(tokens, "tokens", shape=tuple(alphas.shape[:2]), dtype="int")
    if tokens.numel() and int(tokens.min()) < 0:
        raise ValueError(f"tokens must hold ids >= 0, got {int(tokens.min())}")
    checks.tensor(boxes, "boxes", shape=(tokens.shape[0], None, 4), dtype="float")
    checks.finite(boxes, "boxes")
    checks.tensor(n_objects, "n_objects", shape=(tokens.shape[0],), dtype="int")
    if boxes.shape[1] < 1:
        raise ValueError(f"boxes must hold at least one box per image, got {tuple(boxes.shape)}")
    if bool(((n_objects < 0) | (n_objects > boxes.shape[1])).any()):
        raise ValueError(f"n_objects must lie in [0, {boxes.shape[1]}] (the boxes per image)")
    if isinstance(object_ids, torch.Tensor):
        checks.tensor(object_ids, "object_ids", ndim=1, dtype="int")
    elif (
        isinstance(object_ids, (str, bytes))
        or not isinstance(object_ids, Sequence)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in object_ids)
    ):
        raise ValueError(f"object_ids must be a list of int token ids, got {object_ids!r}")
    ids = torch.as_tensor(object_ids, device=tokens.device, dtype=torch.long)
    if ids.numel() == 0 or int(ids.min()) < 0:
        raise ValueError(f"object_ids must hold at least one token id, all >= 0, got {object_ids!r}")
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
