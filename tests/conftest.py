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
