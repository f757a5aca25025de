"""Chapter 1's where-to-look task: one MNIST digit in a random quadrant of an otherwise empty 56x56 canvas.

A model that looks at one quadrant at full resolution can classify the digit only
if it learns where to look, which makes the task the smallest honest test of a
hard-attention policy.
"""

from __future__ import annotations

import torch

from attnlib import checks
from attnlib.data.mnist import load_mnist
from attnlib.data.splits import split_generator

__all__ = ["place_in_quadrants", "quadrant_mnist"]


def place_in_quadrants(
    digits: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Put each 28x28 digit into a random quadrant of a 56x56 canvas (vectorised).

    Parameters
    ----------
    digits
        ``(B, 1, 28, 28)``.

    Returns
    -------
    canvases ``(B, 1, 56, 56)`` and the quadrant index ``(B,)`` in reading order
    (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right).
    """
    checks.tensor(digits, "digits")
    if digits.ndim != 4 or digits.shape[1:] != (1, 28, 28):
        raise ValueError(f"digits must be (B, 1, 28, 28), got {tuple(digits.shape)}")
    checks.tensor(digits, "digits", dtype="float")
    if digits.shape[0] == 0:
        raise ValueError("digits must hold at least one digit, got 0")
    checks.finite(digits, "digits")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    quadrant = torch.randint(0, 4, (digits.shape[0],), generator=generator).to(digits.device)
    # Build the 2x2 grid of slots with the digit in its slot and zeros elsewhere, then tile it.
    slots = digits[:, None] * torch.nn.functional.one_hot(quadrant, 4).to(digits)[:, :, None, None, None]
    canvases = slots.view(-1, 2, 2, 1, 28, 28).permute(0, 3, 1, 4, 2, 5).reshape(-1, 1, 56, 56)
    return canvases, quadrant


def quadrant_mnist(split: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The quadrant task on the fixed MNIST split: ``(canvases (N, 1, 56, 56), labels (N,), quadrants (N,))``.

    ``split`` is ``"train"``, ``"val"`` or ``"test"``; quadrants are drawn from a stream keyed by
    ``(seed, split)`` (:func:`attnlib.data.splits.split_generator`).
    """
    digits, labels = load_mnist(split)
    canvases, quadrant = place_in_quadrants(digits, split_generator(seed, split))
    return canvases, labels, quadrant
