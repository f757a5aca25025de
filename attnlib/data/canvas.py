"""Canvases of Chapter 2: MNIST digits centred, translated onto a large canvas, or among clutter.

The three tasks of Mnih et al. (2014):

* centred 28x28 digits (:func:`centered_mnist`, the digits as they are);
* a digit at a uniformly random position on a 60x60 canvas (:func:`translated_mnist`);
* the same with pieces of clutter, ``clutter_size x clutter_size`` crops cut from
  *other* digits of the same split and dropped anywhere on the canvas
  (:func:`cluttered_mnist`: 4 pieces on 60x60, 8 pieces on 100x100 by default).

Everything is generated for the whole batch at once (one ``scatter_reduce`` writes
all digits and pieces, overlapping ink combined by the maximum) and is a pure
function of ``(seed, split)``. Each split's canvases come from that split's digits
(``load_mnist("train" | "val" | "test")``), clutter included, and from a random
stream of that split's own (:func:`attnlib.data.splits.split_generator`).
:class:`CanvasLoader` draws fresh positions and clutter every epoch (seed + epoch),
which is how a 3,500-digit training set becomes a stream of distinct scenes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from attnlib import checks
from attnlib.data.mnist import load_mnist
from attnlib.data.splits import split_generator

__all__ = ["CanvasLoader", "CurriculumLoader", "centered_mnist", "cluttered_mnist", "make_canvases", "translated_mnist"]

DEFAULT_CLUTTER = {60: 4, 100: 8}


def make_canvases(
    digits: torch.Tensor,
    canvas_size: int,
    n_clutter: int = 0,
    clutter_size: int = 8,
    clutter_source: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Place each digit at a uniformly random position on a blank canvas, with optional clutter.

    Parameters
    ----------
    digits
        ``(N, 1, h, w)`` in ``[0, 1]``.
    canvas_size
        Side ``S`` of the square canvas, at least ``max(h, w)``.
    n_clutter
        Pieces of clutter per canvas.
    clutter_size
        Side of each piece, cut from a random digit of ``clutter_source`` at a
        random position inside its central region (where there is ink).
    clutter_source
        ``(M, 1, h, w)`` digits the clutter is cut from (default: ``digits``).
    generator
        CPU generator for every random choice.

    Returns
    -------
    canvases
        ``(N, 1, S, S)``.
    boxes
        ``(N, 4)`` float pixel boxes ``(x1, y1, x2, y2)`` of the digits.
    """
    if not isinstance(digits, torch.Tensor) or digits.ndim != 4 or digits.shape[1] != 1:
        raise ValueError(f"digits must be (N, 1, h, w), got shape {tuple(getattr(digits, 'shape', ()))}")
    n, _, h, w = digits.shape
    if n == 0 or h == 0 or w == 0:
        raise ValueError(f"digits must hold at least one non-empty digit, got shape {tuple(digits.shape)}")
    checks.tensor(digits, "digits", dtype="float")
    checks.finite(digits, "digits")
    if isinstance(canvas_size, bool):
        raise ValueError(f"canvas_size must be an int >= {max(h, w)}, got {canvas_size!r}")
    if isinstance(n_clutter, bool):
        raise ValueError(f"n_clutter must be a non-negative int, got {n_clutter!r}")
    checks.positive_int(clutter_size, "clutter_size")  # checked even without clutter: a typo is still a typo
    if clutter_source is not None:
        checks.tensor(clutter_source, "clutter_source", dtype="float")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if not isinstance(canvas_size, int) or canvas_size < max(h, w):
        raise ValueError(f"canvas_size must be an int >= {max(h, w)}, got {canvas_size!r}")
    if not isinstance(n_clutter, int) or n_clutter < 0:
        raise ValueError(f"n_clutter must be a non-negative int, got {n_clutter!r}")
    if n_clutter and not (isinstance(clutter_size, int) and 1 <= clutter_size <= min(h, w, canvas_size)):
        raise ValueError(f"clutter_size must be an int in [1, {min(h, w)}], got {clutter_size!r}")
    source = digits if clutter_source is None else clutter_source
    if n_clutter and (source.ndim != 4 or source.shape[1:] != digits.shape[1:] or len(source) == 0):
        raise ValueError(f"clutter_source must be (M, 1, {h}, {w}), got {tuple(source.shape)}")
    if n_clutter and clutter_source is not None:
        checks.finite(clutter_source, "clutter_source")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    size = canvas_size
    digits = digits.cpu()
    oy = torch.randint(0, size - h + 1, (n,), generator=gen)
    ox = torch.randint(0, size - w + 1, (n,), generator=gen)
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    index = ((oy[:, None] + ar_h)[:, :, None] * size + (ox[:, None] + ar_w)[:, None, :]).reshape(n, -1)
    values = digits.reshape(n, -1)
    if n_clutter:
        c = clutter_size
        pick = torch.randint(0, len(source), (n, n_clutter), generator=gen)
        # crops from the central region of the source digit, where the strokes are
        lo_y, hi_y = min(4, h - c), max(min(4, h - c), h - c - 4)
        lo_x, hi_x = min(4, w - c), max(min(4, w - c), w - c - 4)
        sy = torch.randint(lo_y, hi_y + 1, (n, n_clutter), generator=gen)
        sx = torch.randint(lo_x, hi_x + 1, (n, n_clutter), generator=gen)
        ar_c = torch.arange(c)
        pieces = source.cpu()[
            pick[:, :, None, None], 0, (sy[:, :, None] + ar_c)[:, :, :, None], (sx[:, :, None] + ar_c)[:, :, None, :]
        ]  # (N, K, c, c)
        py = torch.randint(0, size - c + 1, (n, n_clutter), generator=gen)
        px = torch.randint(0, size - c + 1, (n, n_clutter), generator=gen)
        piece_index = (py[:, :, None] + ar_c)[:, :, :, None] * size + (px[:, :, None] + ar_c)[:, :, None, :]
        index = torch.cat([index, piece_index.reshape(n, -1)], dim=1)
        values = torch.cat([values, pieces.reshape(n, -1)], dim=1)
    canvases = torch.zeros(n, size * size, dtype=digits.dtype)
    canvases.scatter_reduce_(1, index, values, reduce="amax", include_self=True)
    boxes = torch.stack([ox, oy, ox + w, oy + h], dim=1).float()
    return canvases.view(n, 1, size, size), boxes


def centered_mnist(split: str, source: str = "bundled") -> tuple[torch.Tensor, torch.Tensor]:
    """The 28x28 task: ``load_mnist(split)`` as it is, ``(N, 1, 28, 28)`` and ``(N,)``."""
    return load_mnist(split, source=source)


def translated_mnist(
    split: str, canvas_size: int = 60, seed: int = 0, source: str = "bundled"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits of ``split`` at random positions on ``canvas_size``-wide canvases: images, labels, boxes."""
    return cluttered_mnist(split, canvas_size, n_clutter=0, seed=seed, source=source)


def cluttered_mnist(
    split: str,
    canvas_size: int = 60,
    n_clutter: int | None = None,
    clutter_size: int = 8,
    seed: int = 0,
    source: str = "bundled",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Translated digits among clutter cut from other digits of the same split.

    ``n_clutter`` defaults to the paper's 4 pieces on 60x60 and 8 on 100x100.
    Returns ``images (N, 1, S, S)``, ``labels (N,)`` and the digits' ``boxes (N, 4)``.
    """
    checks.non_negative_int(seed, "seed")
    if n_clutter is not None:
        checks.non_negative_int(n_clutter, "n_clutter")
    if not isinstance(canvas_size, int) or isinstance(canvas_size, bool):
        raise ValueError(f"canvas_size must be an int >= 28, got {canvas_size!r}")
    if n_clutter is None:
        n_clutter = DEFAULT_CLUTTER.get(canvas_size, 4)
    digits, labels = load_mnist(split, source=source)
    # keyed by (seed, split): the three splits never share a stream, even with equal seeds
    gen = split_generator(seed, split)
    images, boxes = make_canvases(digits, canvas_size, n_clutter, clutter_size, digits, gen)
    return images, labels, boxes


class CanvasLoader:
    """Batches of canvases, regenerated every epoch (fresh positions and clutter).

    Epoch ``e`` (counted from 0 by the number of iterations started) uses seed
    ``seed + e``; so two loaders with the same arguments yield the same stream.
    Shuffling also follows that seed. ``fresh=False`` keeps one fixed set of
    canvases (what a test loader wants) and does not shuffle.

    ``limit`` keeps a seeded random subset of that many digits.

    ``max_shift`` (fresh loaders only) is augmentation for the centred task: every
    epoch each scene is drawn on a canvas ``2 * max_shift`` pixels wider and the
    central ``canvas_size`` square is kept, i.e. the content moves by a uniformly
    random whole-pixel offset in ``[-max_shift, max_shift]`` along each axis.
    ``pad`` then surrounds every scene with ``pad`` blank pixels (centred 28x28 digits
    with ``pad=16`` are centred digits on a 60x60 canvas: the warm-start stage of the
    chapter's 60x60 models).

    Yields ``(images (b, 1, S, S), labels (b,))``.
    """

    def __init__(
        self,
        split: str,
        canvas_size: int = 60,
        n_clutter: int = 0,
        clutter_size: int = 8,
        batch_size: int = 64,
        seed: int = 0,
        fresh: bool = True,
        limit: int | None = None,
        source: str = "bundled",
        max_shift: int = 0,
        pad: int = 0,
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"limit must be a positive int or None, got {limit!r}")
        checks.non_negative_int(seed, "seed")
        checks.positive_int(clutter_size, "clutter_size")
        checks.non_negative_int(n_clutter, "n_clutter")
        if isinstance(max_shift, bool):
            raise ValueError(f"max_shift must be a non-negative int, got {max_shift!r}")
        checks.non_negative_int(pad, "pad")
        if not isinstance(canvas_size, int) or isinstance(canvas_size, bool):
            raise ValueError(f"canvas_size must be an int >= 28, got {canvas_size!r}")
        if not isinstance(fresh, bool):
            raise ValueError(f"fresh must be True or False, got {fresh!r}")
        if not isinstance(max_shift, int) or max_shift < 0 or (max_shift and not fresh):
            raise ValueError(f"max_shift must be a non-negative int (and 0 unless fresh=True), got {max_shift!r}")
        digits, labels = load_mnist(split, source=source)
        if limit is not None and limit > len(labels):
            raise ValueError(f"limit must be <= the {len(labels)} digits of split {split!r}, got {limit}")
        if limit is not None:
            # a seeded random subset: the digit files are ordered by class, a prefix would not be
            keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:limit].sort().values
            digits, labels = digits[keep], labels[keep]
        self.digits, self.labels = digits, labels
        self.canvas_size, self.n_clutter, self.clutter_size = canvas_size, n_clutter, clutter_size
        self.batch_size, self.seed, self.fresh = batch_size, seed, fresh
        if not isinstance(pad, int) or pad < 0:
            raise ValueError(f"pad must be a non-negative int, got {pad!r}")
        self.split, self.max_shift, self.pad = split, max_shift, pad
        self.epoch = 0
        self._fixed: torch.Tensor | None = None
        # validates the arguments once, early
        self._fixed = self._scenes(seed) if not fresh else None
        if fresh:
            make_canvases(digits[:1], canvas_size, n_clutter, clutter_size, digits, torch.Generator().manual_seed(0))

    def _scenes(self, seed: int) -> torch.Tensor:
        gen = split_generator(seed, self.split)
        shift, size = self.max_shift, self.canvas_size
        images, _ = make_canvases(self.digits, size + 2 * shift, self.n_clutter, self.clutter_size, self.digits, gen)
        images = images[:, :, shift : shift + size, shift : shift + size] if shift else images
        return torch.nn.functional.pad(images, (self.pad,) * 4) if self.pad else images

    def __len__(self) -> int:
        return (len(self.labels) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.fresh:
            seed = self.seed + self.epoch
            images = self._scenes(seed)
            order = torch.randperm(len(self.labels), generator=torch.Generator().manual_seed(seed))
        else:
            images = self._fixed
            order = torch.arange(len(self.labels))
        self.epoch += 1
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            yield images[rows], self.labels[rows]


class CurriculumLoader:
    """Stages of loaders, one after the other by epoch: a curriculum of increasing difficulty.

    ``stages`` is a list of ``(loader, epochs)``; epoch ``e`` (counted from 0 by the
    number of iterations started) iterates the first stage whose epochs are not yet
    used up, and every epoch after the last stage iterates ``final``. Chapter 2 uses it
    for translated 60x60 digits: first digits within ``s`` pixels of the centre
    (``CanvasLoader("train", 28 + 2 * s, pad=16 - s)``, a 60x60 canvas), ``s`` growing,
    then the full canvas. ``len()`` is that of ``final`` (all stages should have the
    same number of batches, e.g. the same digits and batch size).

    Yields what the current stage's loader yields.
    """

    def __init__(self, stages: list[tuple[object, int]], final: object) -> None:
        if not isinstance(stages, (list, tuple)):
            raise ValueError(f"stages must be a list of (loader, epochs), got {type(stages).__name__}")
        for i, stage in enumerate(stages):
            if not (
                isinstance(stage, tuple)
                and len(stage) == 2
                and isinstance(stage[1], int)
                and not isinstance(stage[1], bool)
                and stage[1] >= 0
                and hasattr(stage[0], "__iter__")
            ):
                raise ValueError(
                    f"stages[{i}] must be (loader, epochs) with an iterable loader and epochs a non-negative int, "
                    f"got {stage!r}"
                )
        if not (hasattr(final, "__iter__") and hasattr(final, "__len__")):
            raise ValueError(f"final must be a loader (iterable, with a length), got {type(final).__name__}")
        self.stages, self.final = list(stages), final
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.final)  # type: ignore[arg-type]

    def current(self) -> object:
        """The loader the next epoch will iterate."""
        e = self.epoch
        for loader, epochs in self.stages:
            if e < epochs:
                return loader
            e -= epochs
        return self.final

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # A generator: the epoch counts only when batches are drawn, not when a progress bar (tqdm.auto,
        # as in attnlib.train.fit) merely calls iter() on the loader before iterating it.
        loader = self.current()
        self.epoch += 1
        yield from loader  # type: ignore[misc]
