"""Chapter 9's coding exercises: the chapter's reference solutions pass their checkers, typical mistakes do not,
and the checkers refuse what is not a function."""

import pytest
import torch
from exercise_cells import run_solution

from attnlib.exercises.r2am import check_monotonicity, check_receptive_field, check_recursive_block
from attnlib.r2am import attention_monotonicity, receptive_field


def _failures(report) -> str:
    return "\n".join(problem for _, problem in report.outcomes if problem is not None)


@pytest.mark.parametrize("label", ["ex-ocr-recursive-code", "ex-ocr-rf-code", "ex-ocr-monotonic-code"])
def test_reference_solutions_from_the_chapter_pass(label):
    namespace, printed = run_solution("09_attention_ocr", label)
    assert namespace["report"].passed, printed
    assert not namespace["mistake"].passed, "the chapter's common mistake must be caught"


# --- recursive block ---------------------------------------------------------------------------------------------


def test_relu_before_the_norm_is_caught():
    def wrong(x, conv, norms):
        for norm in norms:
            x = norm(torch.relu(conv(x)))
        return x

    report = check_recursive_block(wrong, verbose=False)
    assert report.n_passed == 0
    assert "normalisation comes before the ReLU" in str(report)


def test_a_single_application_is_caught_only_where_t_exceeds_one():
    def wrong(x, conv, norms):
        return torch.relu(norms[-1](conv(x)))

    report = check_recursive_block(wrong, verbose=False)
    assert [problem is None for _, problem in report.outcomes] == [True, False, False]


def test_untied_kernels_are_not_what_the_block_computes():
    def wrong(x, conv, norms):  # a fresh convolution per step: the untied stack, with other weights
        torch.manual_seed(0)
        for norm in norms:
            fresh = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding)
            x = torch.relu(norm(fresh(x)))
        return x

    assert not check_recursive_block(wrong, verbose=False).passed


def test_a_wrong_shape_is_named():
    def wrong(x, conv, norms):
        for norm in norms:
            x = torch.relu(norm(conv(x)))
        return x.mean(1)

    report = check_recursive_block(wrong, verbose=False)
    assert "expected shape (1, 4, 6, 8), got (1, 6, 8)" in _failures(report)


def test_the_checker_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    check_recursive_block(lambda x, conv, norms: x, verbose=False)
    assert torch.equal(before, torch.random.get_rng_state())


# --- receptive field ---------------------------------------------------------------------------------------------


def test_library_receptive_field_passes():
    assert check_receptive_field(receptive_field, verbose=False).passed


def test_jump_updated_too_early_is_caught():
    def wrong(layers):
        r, jump = 1, 1
        for kernel, stride in layers:
            jump *= stride
            r += (kernel - 1) * jump
        return r

    report = check_receptive_field(wrong, verbose=False)
    assert not report.passed
    assert "expected 7, got 13" in _failures(report)


def test_starting_from_zero_is_caught():
    def wrong(layers):
        r, jump = 0, 1
        for kernel, stride in layers:
            r, jump = r + (kernel - 1) * jump, jump * stride
        return r

    assert check_receptive_field(wrong, verbose=False).n_passed == 0


# --- monotonic attention -----------------------------------------------------------------------------------------


def test_library_monotonicity_passes():
    assert check_monotonicity(attention_monotonicity, verbose=False).passed


def test_keeping_the_end_row_is_caught():
    def wrong(alphas):
        moves = count = 0
        for alpha in alphas:
            peaks = alpha.argmax(-1)
            moves += int((peaks[1:] > peaks[:-1]).sum())
            count += len(peaks) - 1
        return moves / count, count

    report = check_monotonicity(wrong, verbose=False)
    assert not report.passed
    assert "<end>" in str(report)


def test_counting_ties_as_moves_is_caught():
    def wrong(alphas):
        moves = count = 0
        for alpha in alphas:
            peaks = alpha[:-1].argmax(-1)
            moves += int((peaks[1:] >= peaks[:-1]).sum())
            count += max(len(peaks) - 1, 0)
        return moves / count, count

    report = check_monotonicity(wrong, verbose=False)
    failed = [case.description for case, problem in report.outcomes if problem is not None]
    assert "a peak that stays put and one that moves back" in failed


def test_returning_the_share_only_is_named():
    report = check_monotonicity(lambda alphas: attention_monotonicity(alphas)[0], verbose=False)
    assert "expected a tuple of 2 values, got float" in _failures(report)


@pytest.mark.parametrize("checker", [check_recursive_block, check_receptive_field, check_monotonicity])
def test_checkers_refuse_a_non_callable(checker):
    with pytest.raises(ValueError, match="fn"):
        checker(42)
