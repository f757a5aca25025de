"""Chapter 6's coding exercises: the reference solutions pass their checkers, usual mistakes are caught."""

import math

import pytest
import torch
from exercise_cells import run_solution

from attnlib import adahan
from attnlib.exercises import adahan as checkers

CHAPTER = "06_adahan"


def failures(report):
    """The failing cases' messages and hints, as one string."""
    return "\n".join(f"{problem} | {case.hint}" for case, problem in report.outcomes if problem is not None)


# --- the adaptive mask -------------------------------------------------------------------------------------


def test_reference_adaptive_mask_passes():
    namespace, printed = run_solution(CHAPTER, "ex-adahan-mask")
    assert checkers.check_adaptive_hard_attention(namespace["my_adaptive_mask"], verbose=False).passed
    assert "All cases pass." in printed  # the page shows the reference passing
    assert "FAIL" in printed  # ... and the common mistake caught


@pytest.mark.parametrize(
    "rule",
    [
        lambda p, n: torch.softmax(p, 1) >= 1 / n,
        lambda p, n: p >= torch.logsumexp(p, 1, keepdim=True) - math.log(n),
        lambda p, n: adahan.adaptive_mask(p),
    ],
    ids=["softmax", "logsumexp", "library"],
)
def test_equivalent_forms_of_the_rule_pass(rule):
    report = checkers.check_adaptive_hard_attention(lambda f: rule(f.norm(dim=-1), f.shape[1]), verbose=False)
    assert report.passed, str(report)


def test_squared_norm_is_caught():
    report = checkers.check_adaptive_hard_attention(
        lambda f: torch.softmax(f.pow(2).sum(-1), 1) >= 1 / f.shape[1], verbose=False
    )
    assert not report.passed and "squared norm" in failures(report)


def test_strict_threshold_is_caught():
    report = checkers.check_adaptive_hard_attention(
        lambda f: torch.softmax(f.norm(dim=-1), 1) > 1 / f.shape[1], verbose=False
    )
    assert not report.passed and ">=, not >" in failures(report)


def test_overflowing_softmax_is_caught():
    def by_hand(f):
        e = f.norm(dim=-1).exp()
        return e / e.sum(1, keepdim=True) >= 1 / f.shape[1]

    report = checkers.check_adaptive_hard_attention(by_hand, verbose=False)
    assert not report.passed and "overflows" in failures(report)


def test_softmax_over_the_batch_is_caught():
    report = checkers.check_adaptive_hard_attention(
        lambda f: torch.softmax(f.norm(dim=-1), 0) >= 1 / f.shape[1], verbose=False
    )
    assert not report.passed and "over the batch" in failures(report)


# --- the gather step ---------------------------------------------------------------------------------------


def test_reference_gather_passes():
    namespace, printed = run_solution(CHAPTER, "ex-adahan-gather")
    assert checkers.check_gather_kept(namespace["my_gather_kept"], verbose=False).passed
    assert "All cases pass." in printed and "FAIL" in printed


def test_library_gather_passes():
    assert checkers.check_gather_kept(lambda f, m: adahan.gather_kept(f, m)[:2], verbose=False).passed


def _pack(features, index, mask):
    kept_mask = mask.gather(1, index)
    kept = features.gather(1, index.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
    return kept, kept_mask


def test_sorting_by_presence_is_caught():
    def by_presence(features, mask):
        k = max(int(mask.sum(1).max()), 1)
        index = (mask * (1 + features.norm(dim=-1))).topk(k, dim=1).indices
        kept, kept_mask = _pack(features, index, mask)
        return kept * kept_mask.unsqueeze(-1), kept_mask

    report = checkers.check_gather_kept(by_presence, verbose=False)
    assert not report.passed and "the order they have in features" in failures(report)


def test_unzeroed_padding_is_caught():
    def copies(features, mask):
        k = max(int(mask.sum(1).max()), 1)
        index = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices[:, :k]
        return _pack(features, index, mask)  # padding rows hold dropped cells

    report = checkers.check_gather_kept(copies, verbose=False)
    assert not report.passed and "zero vectors" in failures(report)


def test_broken_gradient_is_caught():
    def detached(features, mask):
        kept, kept_mask, _ = adahan.gather_kept(features.detach(), mask)
        return kept, kept_mask

    report = checkers.check_gather_kept(detached, verbose=False)
    assert not report.passed and "no gradient" in failures(report)


def test_one_value_instead_of_two_is_caught():
    report = checkers.check_gather_kept(lambda f, m: adahan.gather_kept(f, m)[0], verbose=False)
    assert not report.passed and "expected a tuple of 2 values" in failures(report)


# --- argument checks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("checker", [checkers.check_adaptive_hard_attention, checkers.check_gather_kept])
def test_checkers_refuse_a_non_callable(checker):
    with pytest.raises(ValueError, match="fn"):
        checker("my_function")


def test_checker_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    checkers.check_gather_kept(lambda f, m: adahan.gather_kept(f, m)[:2], verbose=False)
    checkers.check_adaptive_hard_attention(adahan.adaptive_hard_attention, verbose=False)
    assert torch.equal(torch.rand(3), before)
