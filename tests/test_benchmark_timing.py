"""The timing helpers of the benchmarks refuse bad arguments instead of failing late or timing forever."""

import importlib.util
from pathlib import Path

import pytest
import torch

from attnlib.a2net_bench import time_forward

# benchmarks/ is a folder of scripts, not a package: load its timing module by path
_spec = importlib.util.spec_from_file_location(
    "benchmarks_timing", Path(__file__).resolve().parents[1] / "benchmarks" / "timing.py"
)
_timing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_timing)
best_of = _timing.best_of


def test_best_of_times_the_fastest_call():
    assert best_of(lambda: None, 3) >= 0.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: best_of(lambda: None, 0), "repeats"),  # min() of nothing before
        (lambda: best_of(lambda: None, 2.0), "repeats"),
        (lambda: best_of("fn", 2), "fn"),
        (lambda: time_forward(torch.nn.Identity(), torch.zeros(1), min_seconds=float("inf")), "min_seconds"),  # hung
        (lambda: time_forward(torch.nn.Identity(), torch.zeros(1), min_seconds=float("nan")), "min_seconds"),
        (lambda: time_forward(torch.nn.Identity(), torch.zeros(1), min_seconds=-1.0), "min_seconds"),
        (lambda: time_forward(torch.nn.Identity(), torch.zeros(1), repeats=0), "repeats"),
        (lambda: time_forward(torch.nn.Identity(), torch.zeros(1), warmup=-1), "warmup"),
    ],
)
def test_bad_inputs_are_refused_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
