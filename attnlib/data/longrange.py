"""A task that needs long-range relations: do two distant patterns match?

Each image is a ``size x size`` canvas holding two small binary patterns drawn
from a fixed vocabulary. They sit far apart (their positions along one axis
differ by at least ``min_distance`` pixels), and the label says whether they are
the same pattern (``1``) or two different ones (``0``), half and half. For a
convolutional network with receptive field ``r`` and ``s x s`` patterns, no unit
sees pixels of both patterns exactly when ``min_distance >= r + s - 1``
(:func:`attnlib.a2net.separating_distance`; Chapter 7 uses ``r = 21``, ``s = 4``,
``min_distance = 24``). Read out by global average pooling and a linear layer,
such a network adds up per-position evidence about one pattern at a time, and a
sum of per-pattern scores cannot tell ``(a, a)`` and ``(b, b)`` from ``(a, b)``
for every pair (Chapter 7, exercise 2): it stays far from perfect. A block that
moves information across the whole image can solve it. The default
``min_distance = 20`` does *not* meet that condition for Chapter 7's CNN.

Everything is generated from a seed, vectorised over the samples. The vocabulary
comes from its own seed, so the train, validation and test sets share it.
"""

from __future__ import annotations

import torch

from attnlib import checks
from attnlib.data.splits import split_generator

__all__ = ["make_longrange", "make_vocabulary"]


def make_vocabulary(num_patterns: int = 8, pattern_size: int = 4, min_hamming: int = 4, seed: int = 0) -> torch.Tensor:
    """A fixed set of distinct binary patterns.

    Parameters
    ----------
    num_patterns
        How many patterns (at least 2).
    pattern_size
        Side ``s`` of each square pattern (at least 2).
    min_hamming
        Every two patterns differ in at least this many pixels, so a match is
        never decided by one noisy pixel.
    seed
        Seed of the vocabulary (independent of the samples' seed).

    Returns
    -------
    patterns
        ``float32 (num_patterns, s, s)`` with values in ``{0, 1}``, each with at
        least a quarter of its pixels on.
    """
    if not isinstance(num_patterns, int) or num_patterns < 2:
        raise ValueError(f"num_patterns must be an int >= 2, got {num_patterns!r}")
    if not isinstance(pattern_size, int) or pattern_size < 2:
        raise ValueError(f"pattern_size must be an int >= 2, got {pattern_size!r}")
    if isinstance(num_patterns, bool) or isinstance(pattern_size, bool):
        raise ValueError(f"num_patterns and pattern_size must be ints, got {num_patterns!r} and {pattern_size!r}")
    checks.non_negative_int(seed, "seed")
    if not isinstance(min_hamming, int) or isinstance(min_hamming, bool):
        raise ValueError(f"min_hamming must be an int, got {min_hamming!r}")
    if not 0 <= min_hamming <= pattern_size**2 // 2:
        raise ValueError(f"min_hamming must be in [0, {pattern_size**2 // 2}], got {min_hamming!r}")
    generator = torch.Generator().manual_seed(seed)
    cells = pattern_size * pattern_size
    chosen: list[torch.Tensor] = []
    # Rejection sampling over a small pool: deterministic, and always quick for these sizes.
    for _ in range(200):
        pool = (torch.rand(256, cells, generator=generator) < 0.5).float()
        pool = pool[pool.sum(1) >= cells // 4]
        for candidate in pool:
            if all((candidate != other).sum() >= min_hamming for other in chosen):
                chosen.append(candidate)
                if len(chosen) == num_patterns:
                    return torch.stack(chosen).view(num_patterns, pattern_size, pattern_size)
    raise ValueError(f"could not draw {num_patterns} patterns {min_hamming} pixels apart; lower min_hamming")


def make_longrange(
    n: int,
    seed: int,
    size: int = 32,
    min_distance: int = 20,
    vocabulary: torch.Tensor | None = None,
    noise: float = 0.0,
    split: str = "train",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``n`` images of the long-range matching task.

    Parameters
    ----------
    n
        Number of images.
    seed
        Seed of the samples; the stream is keyed by ``(seed, split)``
        (:func:`attnlib.data.splits.split_generator`), so the splits never share one.
    size
        Side of the square canvas.
    min_distance
        The two patterns' top-left corners differ by at least this many pixels
        along a random axis (horizontal or vertical), at most ``size - s``.
    vocabulary
        ``(K, s, s)`` patterns; default :func:`make_vocabulary` ``()``.
    noise
        Standard deviation of Gaussian pixel noise added to the canvas.
    split
        ``"train"``, ``"val"`` or ``"test"``.

    Returns
    -------
    images
        ``float32 (n, 1, size, size)``.
    labels
        ``int64 (n,)``: ``1`` if the two patterns are the same, else ``0``.
    corners
        ``int64 (n, 2, 2)``: ``(row, col)`` of each pattern's top-left corner.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    checks.non_negative_int(seed, "seed")
    checks.positive_int(size, "size")
    checks.non_negative_float(noise, "noise")
    if vocabulary is not None:
        checks.tensor(vocabulary, "vocabulary", dtype="float")
        checks.finite(vocabulary, "vocabulary")
    if isinstance(min_distance, bool) or not isinstance(min_distance, int):
        raise ValueError(f"min_distance must be an int, got {min_distance!r}")
    vocabulary = make_vocabulary() if vocabulary is None else vocabulary
    if vocabulary.ndim != 3 or vocabulary.shape[1] != vocabulary.shape[2] or vocabulary.shape[0] < 2:
        raise ValueError(f"vocabulary must be (K >= 2, s, s), got {tuple(vocabulary.shape)}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    s, k = vocabulary.shape[1], vocabulary.shape[0]
    span = size - s  # largest top-left coordinate
    if not 1 <= min_distance <= span:
        raise ValueError(f"min_distance must be in [1, size - s = {span}], got {min_distance!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    g = split_generator(seed, split)
    labels = (torch.rand(n, generator=g) < 0.5).long()
    first = torch.randint(0, k, (n,), generator=g)
    # A different pattern for negatives: shift by 1..k-1 modulo k (uniform over the others).
    other = (first + torch.randint(1, k, (n,), generator=g)) % k
    second = torch.where(labels == 1, first, other)
    # Along the "far" axis: a in [0, span - d], b in [a + d, span]; across it: anywhere.
    a = (torch.rand(n, generator=g) * (span - min_distance + 1)).long()
    b = a + min_distance + (torch.rand(n, generator=g) * (span - min_distance - a + 1).float()).long()
    free = torch.randint(0, span + 1, (n, 2), generator=g)
    along = torch.stack([a, b], 1)  # (n, 2)
    swap_order = torch.rand(n, generator=g) < 0.5  # which pattern sits at the far end
    along = torch.where(swap_order[:, None], along.flip(1), along)
    vertical = torch.rand(n, generator=g) < 0.5
    rows = torch.where(vertical[:, None], along, free)
    cols = torch.where(vertical[:, None], free, along)
    corners = torch.stack([rows, cols], -1)  # (n, 2, 2)
    canvas = torch.zeros(n, size, size)
    offsets = torch.arange(s)
    sample = torch.arange(n)[:, None, None]
    for slot, which in enumerate((first, second)):
        r = rows[:, slot, None, None] + offsets[None, :, None]
        c = cols[:, slot, None, None] + offsets[None, None, :]
        canvas[sample, r, c] = vocabulary[which]
    if noise > 0:
        canvas = canvas + noise * torch.randn(canvas.shape, generator=g)
    return canvas.unsqueeze(1), labels, corners
