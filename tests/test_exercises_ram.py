"""The checkers of Chapter 2's coding exercises: the chapter's reference solutions pass, the usual mistakes fail
with a message naming the problem, and a checker refuses what is not a function."""

import pytest
import torch
from exercise_cells import run_solution

from attnlib.exercises.ram import check_glimpse, check_reinforce_surrogate
from attnlib.glimpse import extract_glimpses

CHAPTER = "02_ram"


def _failing(report):
    return {case.description: problem for case, problem in report.outcomes if problem is not None}


def test_reference_glimpse_passes_and_the_sliced_one_fails_only_off_the_pixel_grid():
    namespace, printed = run_solution(CHAPTER, "ex-ram-glimpse")
    assert check_glimpse(namespace["my_glimpse"], verbose=False).passed
    sliced = check_glimpse(namespace["sliced_glimpse"], verbose=False)
    failing = _failing(sliced)
    assert failing and all("fractional" in description for description in failing)
    assert "exact area average" in str(sliced)
    assert "All cases pass." in printed


def test_the_library_retina_passes():
    assert check_glimpse(extract_glimpses, verbose=False).passed


def test_glimpse_in_pixels_instead_of_minus_one_to_one_is_caught():
    def in_pixels(images, centers, size, n_scales, scale_factor):  # treats centres as pixel positions
        height, width = images.shape[-2:]
        return extract_glimpses(images, (centers / torch.tensor([width, height]) * 2 - 1).clamp(-1, 1),
                                size, n_scales, scale_factor)  # fmt: skip

    report = check_glimpse(in_pixels, verbose=False)
    assert not report.passed
    assert "not pixels" in str(report)


def test_glimpse_with_x_and_y_swapped_is_caught():
    def swapped(images, centers, size, n_scales, scale_factor):
        return extract_glimpses(images, centers.flip(-1), size, n_scales, scale_factor)

    report = check_glimpse(swapped, verbose=False)
    failing = _failing(report)
    assert any("off the diagonal" in d for d in failing)
    assert "x runs along the width" in str(report)


def test_glimpse_with_scales_and_channels_in_the_wrong_order_is_caught():
    def channels_first(images, centers, size, n_scales, scale_factor):
        return extract_glimpses(images, centers, size, n_scales, scale_factor).transpose(1, 2)

    report = check_glimpse(channels_first, verbose=False)
    assert "expected shape (2, 3, 1, 2, 2), got (2, 1, 3, 2, 2)" in str(report)  # 3 scales, 1 channel
    assert "(B, n_scales, C, size, size)" in str(report)  # 2 scales, 2 channels: same shape, other values


def test_reference_surrogate_passes_and_the_undetached_one_is_caught():
    namespace, printed = run_solution(CHAPTER, "ex-ram-surrogate")
    assert check_reinforce_surrogate(namespace["my_surrogate"], verbose=False).passed
    undetached = check_reinforce_surrogate(namespace["undetached_surrogate"], verbose=False)
    failing = _failing(undetached)
    assert len(failing) == 1 and "a gradient reaches the baselines" in next(iter(failing.values()))
    assert "All cases pass." in printed


def test_surrogate_averaged_over_time_is_caught():
    def averaged(log_probs, reward, baselines):
        return -((reward[:, None] - baselines).detach() * log_probs).mean()

    report = check_reinforce_surrogate(averaged, verbose=False)
    assert not report.passed
    assert "sum over the steps" in str(report)


def test_surrogate_with_the_reward_on_the_wrong_dim_is_caught():
    def broadcast_wrong(log_probs, reward, baselines):  # (B,) against (B, T) lines up with T, not B
        return -((reward - baselines).detach() * log_probs).sum(1).mean()

    report = check_reinforce_surrogate(broadcast_wrong, verbose=False)
    failing = _failing(report)
    assert any("B == T" in d for d in failing)
    # where B != T the shapes do not broadcast at all: the student's error is reported, not raised
    assert any("your function raised RuntimeError" in p for p in failing.values())


def test_surrogate_without_a_gradient_is_caught():
    def detached(log_probs, reward, baselines):
        return -((reward[:, None] - baselines) * log_probs).sum(1).mean().detach()

    report = check_reinforce_surrogate(detached, verbose=False)
    assert report.n_passed == 0 and "carries no gradient" in str(report)


@pytest.mark.parametrize("checker", [check_glimpse, check_reinforce_surrogate])
def test_checkers_refuse_a_non_callable(checker):
    with pytest.raises(ValueError, match="fn"):
        checker("my_glimpse")
    with pytest.raises(ValueError, match="fn"):
        checker(None)


def test_the_report_never_prints_the_expected_tensor(capsys):
    check_glimpse(lambda images, centers, size, n_scales, scale_factor: torch.zeros(1))
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "tensor(" not in printed
