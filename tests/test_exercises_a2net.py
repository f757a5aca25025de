"""Chapter 7's coding exercises: the reference solutions pass their checkers, usual mistakes are caught."""

import pytest
import torch
from exercise_cells import run_solution

from attnlib import a2net
from attnlib.exercises import a2net as checkers

CHAPTER = "07_a2net"


def failures(report):
    """The failing cases' messages and hints, as one string."""
    return "\n".join(f"{problem} | {case.hint}" for case, problem in report.outcomes if problem is not None)


# --- attention pooling (the gather step) --------------------------------------------------------------------


def test_reference_attention_pool_passes():
    namespace, printed = run_solution(CHAPTER, "ex-a2-gather")
    assert checkers.check_attention_pool(namespace["my_attention_pool"], verbose=False).passed
    assert "All cases pass." in printed and "FAIL" in printed


def test_library_attention_pool_passes():
    assert checkers.check_attention_pool(a2net.attention_pool, verbose=False).passed


def test_softmax_over_the_maps_is_caught():
    report = checkers.check_attention_pool(lambda A, B: A @ B.softmax(dim=1).transpose(1, 2), verbose=False)
    assert not report.passed and "not over the maps" in failures(report)


def test_bilinear_pooling_without_softmax_is_caught():
    report = checkers.check_attention_pool(a2net.bilinear_pool, verbose=False)
    assert not report.passed and "entries are off" in failures(report)


def test_transposed_result_is_caught():
    report = checkers.check_attention_pool(lambda A, B: B.softmax(-1) @ A.transpose(1, 2), verbose=False)
    assert not report.passed and "expected shape (2, 4, 3), got (2, 3, 4)" in failures(report)


def test_softmax_by_hand_overflows_and_is_caught():
    def by_hand(A, B):
        e = B.exp()
        return A @ (e / e.sum(-1, keepdim=True)).transpose(1, 2)

    report = checkers.check_attention_pool(by_hand, verbose=False)
    assert not report.passed and "NaN or infinite" in failures(report) and "overflows" in failures(report)


# --- the double attention block -----------------------------------------------------------------------------


def test_reference_double_attention_passes():
    namespace, printed = run_solution(CHAPTER, "ex-a2-block")
    assert checkers.check_double_attention(namespace["my_double_attention"], verbose=False).passed
    assert "All cases pass." in printed and "FAIL" in printed


def _block(gather_dim, distribute_dim):
    def block(x, phi, theta, rho):
        b, _, h, w = x.shape
        A, B, V = (conv(x).view(b, -1, h * w) for conv in (phi, theta, rho))
        G = A @ B.softmax(dim=gather_dim).transpose(1, 2)
        return (G @ V.softmax(dim=distribute_dim)).view(b, -1, h, w)

    return block


def test_correct_axes_pass():
    assert checkers.check_double_attention(_block(-1, 1), verbose=False).passed


def test_gather_softmax_over_descriptors_is_caught():
    """The public-repository bug of the chapter's first exercise."""
    report = checkers.check_double_attention(_block(1, 1), verbose=False)
    assert not report.passed and report.n_passed == 0


def test_distribute_softmax_over_positions_is_caught():
    report = checkers.check_double_attention(_block(-1, -1), verbose=False)
    assert not report.passed and "sum to one over the n descriptors" in failures(report)


def test_softmax_over_the_batch_is_caught():
    report = checkers.check_double_attention(_block(-1, 0), verbose=False)
    assert not report.passed and "batch axis" in failures(report)


def test_missing_distribute_softmax_is_caught():
    def no_distribute(x, phi, theta, rho):
        b, _, h, w = x.shape
        G = a2net.attention_pool(phi(x).flatten(2), theta(x).flatten(2))
        return (G @ rho(x).flatten(2)).view(b, -1, h, w)

    report = checkers.check_double_attention(no_distribute, verbose=False)
    assert not report.passed and "entries are off" in failures(report)


def test_flat_output_is_caught():
    def flat(x, phi, theta, rho):
        return _block(-1, 1)(x, phi, theta, rho).flatten(2)

    report = checkers.check_double_attention(flat, verbose=False)
    assert not report.passed and "expected shape (2, 4, 5, 7), got (2, 4, 35)" in failures(report)


# --- argument checks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("checker", [checkers.check_attention_pool, checkers.check_double_attention])
def test_checkers_refuse_a_non_callable(checker):
    with pytest.raises(ValueError, match="fn"):
        checker(None)


def test_checker_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    checkers.check_double_attention(_block(-1, 1), verbose=False)
    assert torch.equal(torch.rand(3), before)
