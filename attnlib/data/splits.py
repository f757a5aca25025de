"""One spelling for data splits, and random streams that never cross them.

Every data source of the course has three splits (``design.md``, "Evidence"):

``"train"``
    what models are fitted on;
``"val"``
    carved from the training side, used for every choice: epochs, learning rates, loss weights,
    early stopping, "the best configuration";
``"test"``
    touched once per reported number, at the end.

Generated data (canvases, scenes, captions, questions, expressions, words) draws its randomness from
:func:`split_generator` / :func:`split_rng`, whose streams are keyed by ``(seed, split, stream)``: two
splits never share a stream, even when the caller passes the same ``seed`` to both, so the test scenes
cannot be the training scenes in disguise.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SPLITS", "check_split", "split_generator", "split_rng", "split_seed"]

SPLITS = ("train", "val", "test")


def check_split(split: str, allowed: tuple[str, ...] = SPLITS, name: str = "split") -> str:
    """Return ``split`` if it is one of ``allowed``, else raise a ValueError naming ``name``."""
    if not isinstance(allowed, (tuple, list)) or not allowed or not all(isinstance(a, str) for a in allowed):
        raise ValueError(f"allowed must be a non-empty tuple of split names, got {allowed!r}")
    if not isinstance(split, str) or split not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {split!r}")
    return split


def split_seed(seed: int, split: str, stream: int = 0) -> int:
    """A 63-bit seed derived from ``(seed, split, stream)`` by numpy's ``SeedSequence``.

    Different triples give statistically independent seeds; equal triples give the same seed on every
    machine. ``stream`` lets one generator ask for several independent streams (say, scene layout and
    rendering noise).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(stream, (int, np.integer)) or isinstance(stream, bool) or stream < 0:
        raise ValueError(f"stream must be a non-negative int, got {stream!r}")
    check_split(split)
    # The constant names the course, so these streams are not those of a bare SeedSequence([seed]).
    entropy = [int(seed), SPLITS.index(split), int(stream), 0xA77E]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def split_generator(seed: int, split: str, stream: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by :func:`split_seed` ``(seed, split, stream)``."""
    return torch.Generator().manual_seed(split_seed(seed, split, stream))


def split_rng(seed: int, split: str, stream: int = 0) -> np.random.Generator:
    """A numpy ``Generator`` seeded by :func:`split_seed` ``(seed, split, stream)``."""
    return np.random.default_rng(split_seed(seed, split, stream))
