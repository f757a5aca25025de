"""Chapter 4's coding exercises: the chapter's reference solutions pass their checkers, typical mistakes do not."""

from __future__ import annotations

import pytest
import torch
from exercise_cells import run_solution

from attnlib.exercises.draw import check_filterbank, check_kl

CHAPTER = "04_draw"


def _failures(report) -> str:
    assert not report.passed
    return str(report)


def _filterbank(gx, gy, delta, sigma2, height, width, n, *, offset=0.5, square=False, swap=False):
    offsets = torch.arange(1, n + 1, dtype=gx.dtype) - n / 2 - offset
    mu_x = gx[:, None] + offsets * delta[:, None]
    mu_y = gy[:, None] + offsets * delta[:, None]
    a = torch.arange(1, (height if swap else width) + 1, dtype=gx.dtype)
    b = torch.arange(1, (width if swap else height) + 1, dtype=gx.dtype)
    var = sigma2**2 if square else sigma2
    fx = torch.exp(-((a - mu_x[..., None]) ** 2) / (2 * var[:, None, None]))
    fy = torch.exp(-((b - mu_y[..., None]) ** 2) / (2 * var[:, None, None]))
    return fx / fx.sum(-1, keepdim=True), fy / fy.sum(-1, keepdim=True)


def test_reference_filterbank_passes_and_pixels_from_zero_are_caught():
    namespace, printed = run_solution(CHAPTER, "ex-draw-filterbank")
    assert check_filterbank(namespace["filterbank"], verbose=False).passed
    assert check_filterbank(_filterbank, verbose=False).passed  # the test's own version agrees
    assert not check_filterbank(namespace["filterbank_from_zero"], verbose=False).passed
    assert "All cases pass." in printed


def test_filterbank_mistakes_are_named():
    def swapped(*args, **kwargs):
        return _filterbank(*args, **kwargs, swap=True)

    text = _failures(check_filterbank(swapped, verbose=False))
    assert "expected shape" in text and "F_X runs over the A columns" in text

    def variance_squared(*args, **kwargs):
        return _filterbank(*args, **kwargs, square=True)

    assert "sigma2 is the variance" in _failures(check_filterbank(variance_squared, verbose=False))

    def grid_off_by_half(*args, **kwargs):
        return _filterbank(*args, **kwargs, offset=0.0)

    assert "fx:" in _failures(check_filterbank(grid_off_by_half, verbose=False))

    def not_normalised(gx, gy, delta, sigma2, height, width, n):
        fx, fy = _filterbank(gx, gy, delta, sigma2, height, width, n)
        return fx * 2, fy * 2

    assert "entries are off" in _failures(check_filterbank(not_normalised, verbose=False))


def test_reference_kl_passes_and_the_log_variance_reading_is_caught():
    namespace, printed = run_solution(CHAPTER, "ex-draw-kl")
    assert check_kl(namespace["kl"], verbose=False).passed
    report = check_kl(namespace["kl_log_variance"], verbose=False)
    assert report.outcomes[0][1] is None and not report.passed
    assert "log_sigma is log sigma" in str(report)
    assert "All cases pass." in printed


def test_kl_mistakes_are_named():
    def summed_over_everything(mu, log_sigma):
        return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum()

    text = _failures(check_kl(summed_over_everything, verbose=False))
    assert "expected shape (3, 4)" in text and "sum over the latent dimension only" in text

    def without_half(mu, log_sigma):
        return (mu**2 + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(-1)

    assert "mind the 1/2" in _failures(check_kl(without_half, verbose=False))


def test_interpolation_solution_runs():
    _, printed = run_solution(CHAPTER, "ex-draw-interp")
    assert "largest |F_X - I|" in printed


@pytest.mark.parametrize("checker", [check_filterbank, check_kl])
def test_checkers_refuse_bad_arguments(checker):
    with pytest.raises(ValueError, match="fn"):
        checker(42)
    with pytest.raises(ValueError, match="verbose"):
        checker(lambda *a, **k: None, verbose=1)
