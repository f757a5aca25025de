"""Chapter 8's coding exercises: the chapter's reference solutions pass their checkers, typical mistakes do not,
and the checkers refuse what is not a function."""

import pytest
import torch
from exercise_cells import run_solution

from attnlib import boxes
from attnlib.exercises.rec import check_giou, check_self_paced_loss
from attnlib.rec.selfpaced import self_paced_loss


def _failures(report) -> str:
    return "\n".join(problem for _, problem in report.outcomes if problem is not None)


def _side(pred, target):
    return torch.minimum(pred[:, 2:], target[:, 2:]) - torch.maximum(pred[:, :2], target[:, :2])


def _area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _enclosing(pred, target):
    wh = torch.maximum(pred[:, 2:], target[:, 2:]) - torch.minimum(pred[:, :2], target[:, :2])
    return wh[:, 0] * wh[:, 1]


# --- GIoU --------------------------------------------------------------------------------------------------------


def test_reference_giou_from_the_chapter_passes():
    namespace, printed = run_solution("08_self_paced_rec", "ex-rec-giou-code")
    assert namespace["report"].passed, printed
    assert not namespace["mistake"].passed, "the chapter's common mistake must be caught"
    assert "All cases pass." in printed


def test_library_giou_passes():
    assert check_giou(boxes.generalized_box_iou, verbose=False).passed


def test_plain_iou_is_caught_on_disjoint_boxes():
    report = check_giou(lambda p, t: boxes.paired_iou(p, t)[0], verbose=False)
    assert not report.passed
    failed = [case.description for case, problem in report.outcomes if problem is not None]
    assert any("disjoint" in d for d in failed), failed


def test_area_clamped_intersection_is_caught_with_its_hint():
    def wrong(pred, target):
        s = _side(pred, target)
        inter = (s[:, 0] * s[:, 1]).clamp(min=0)
        union = _area(pred) + _area(target) - inter
        c = _enclosing(pred, target)
        return inter / union - (c - union) / c

    report = check_giou(wrong, verbose=False)
    assert not report.passed
    assert "separately" in str(report)


def test_full_matrix_instead_of_pairs_is_caught_by_shape():
    report = check_giou(lambda p, t: __import__("torchvision").ops.generalized_box_iou(p, t), verbose=False)
    assert not report.passed
    assert "expected shape (3,), got (3, 3)" in _failures(report)


def test_scalar_instead_of_per_pair_is_caught():
    report = check_giou(lambda p, t: boxes.generalized_box_iou(p, t).mean(), verbose=False)
    assert not report.passed
    assert "expected shape (1,), got ()" in _failures(report)


# --- self-paced loss ---------------------------------------------------------------------------------------------


def test_reference_self_paced_loss_from_the_chapter_passes():
    namespace, printed = run_solution("08_self_paced_rec", "ex-rec-selfpaced-code")
    assert namespace["report"].passed, printed
    assert not namespace["mistake"].passed, "the chapter's common mistake must be caught"


def test_library_self_paced_loss_passes():
    def library(l1, giou, sigma0, sigma1, lam):
        return self_paced_loss(l1, giou, sigma0, sigma1, lam=lam, form="as_written")

    assert check_self_paced_loss(library, verbose=False).passed


def test_easy_first_sign_is_caught_on_the_values():
    def wrong(l1, giou, sigma0, sigma1, lam):
        d0, d1 = torch.exp(-(l1**2) / sigma0**2), torch.exp(-(giou**2) / sigma1**2)
        return (d0 * l1 + d1 * giou - lam * (d0 + d1)).mean(), d0, d1

    report = check_self_paced_loss(wrong, verbose=False)
    assert report.n_passed == 0
    assert "total:" in _failures(report)


def test_missing_reward_term_is_caught():
    def wrong(l1, giou, sigma0, sigma1, lam):
        d0, d1 = torch.exp(l1**2 / sigma0**2), torch.exp(giou**2 / sigma1**2)
        return (d0 * l1 + d1 * giou).mean(), d0, d1

    report = check_self_paced_loss(wrong, verbose=False)
    assert not report.passed
    # the lambda = 0 case passes: only the reward term differs
    passed = [case.description for case, problem in report.outcomes if problem is None]
    assert passed == ["lambda = 0: only the weighted losses remain"]


def test_detached_scores_are_caught_by_the_gradient():
    def wrong(l1, giou, sigma0, sigma1, lam):
        d0 = torch.exp(l1.detach() ** 2 / sigma0.item() ** 2)
        d1 = torch.exp(giou.detach() ** 2 / sigma1.item() ** 2)
        return (d0 * l1 + d1 * giou - lam * (d0 + d1)).mean(), d0, d1

    report = check_self_paced_loss(wrong, verbose=False)
    assert report.n_passed == 0
    text = _failures(report)
    assert "d total / d sigma0" in text and "forward values agree" in text


def test_sum_instead_of_mean_is_caught():
    def wrong(l1, giou, sigma0, sigma1, lam):
        d0, d1 = torch.exp(l1**2 / sigma0**2), torch.exp(giou**2 / sigma1**2)
        return (d0 * l1 + d1 * giou - lam * (d0 + d1)).sum(), d0, d1

    assert not check_self_paced_loss(wrong, verbose=False).passed


def test_returning_only_the_total_is_named():
    def wrong(l1, giou, sigma0, sigma1, lam):
        return self_paced_loss(l1, giou, sigma0, sigma1, lam=lam)[0]

    report = check_self_paced_loss(wrong, verbose=False)
    assert "expected a tuple (total, d0, d1), got Tensor" in _failures(report)


def test_skeleton_is_reported_not_raised(capsys):
    def skeleton(*args):
        raise NotImplementedError("write this function")

    report = check_giou(skeleton)
    assert not report.passed and "NotImplementedError: write this function" in capsys.readouterr().out


@pytest.mark.parametrize("checker", [check_giou, check_self_paced_loss])
def test_checkers_refuse_a_non_callable(checker):
    with pytest.raises(ValueError, match="fn"):
        checker("not a function")


@pytest.mark.parametrize("checker", [check_giou, check_self_paced_loss])
def test_checkers_refuse_a_bad_verbose(checker):
    with pytest.raises(ValueError, match="verbose"):
        checker(boxes.generalized_box_iou, verbose="yes")


def test_reports_do_not_print_the_expected_tensor():
    def zeros(pred, target):
        return torch.zeros(pred.shape[0])

    text = str(check_giou(zeros, verbose=False))
    # one entry per failing case is quoted, never a whole tensor
    assert "tensor(" not in text
