"""The checkers of Chapter 1's coding exercises: the chapter's reference solutions pass, the usual mistakes fail
with a message naming the problem, and a checker refuses what is not a function."""

import pytest
import torch
from exercise_cells import run_solution

from attnlib.exercises.foundations import check_score_function_estimate, check_soft_attention

CHAPTER = "01_foundations"


def test_reference_soft_attention_passes_and_the_naive_one_fails():
    namespace, printed = run_solution(CHAPTER, "ex-foundations-soft-attention")
    assert check_soft_attention(namespace["my_soft_attention"], verbose=False).passed
    naive = check_soft_attention(namespace["naive_soft_attention"], verbose=False)
    assert not naive.passed and "NaN or infinite" in str(naive)
    assert "All cases pass." in printed


def test_soft_attention_over_the_wrong_dim_is_caught():
    def over_batch(values, scores):  # softmax over the images instead of the cells
        weights = scores.softmax(0)
        return torch.einsum("bn,bnd->bd", weights, values), weights

    report = check_soft_attention(over_batch, verbose=False)
    assert not report.passed
    assert "softmax runs over the cells" in str(report)


def test_soft_attention_returning_only_the_context_is_caught():
    def context_only(values, scores):
        return torch.einsum("bn,bnd->bd", scores.softmax(-1), values)

    report = check_soft_attention(context_only, verbose=False)
    assert report.n_passed == 0
    assert "expected a tuple of 2 values" in str(report)


def test_reference_score_estimate_passes_and_the_one_hot_only_one_fails():
    namespace, printed = run_solution(CHAPTER, "ex-foundations-score-estimate")
    assert check_score_function_estimate(namespace["my_score_estimate"], verbose=False).passed
    wrong = check_score_function_estimate(namespace["one_hot_only_estimate"], verbose=False)
    assert "onehot(i) - softmax(logits)" in str(wrong)
    # right by accident only where the advantages sum to zero over the draws (leave-one-out)
    passed = [case.description for case, problem in wrong.outcomes if problem is None]
    assert passed == [wrong.outcomes[-1][0].description] and "leave-one-out" in passed[0]
    assert "All cases pass." in printed


def test_score_estimate_summing_the_draws_is_caught():
    def summed(logits, samples, rewards, baseline):
        onehot = torch.nn.functional.one_hot(samples, logits.shape[-1]).to(logits.dtype)
        advantage = rewards[samples] - torch.as_tensor(baseline, dtype=logits.dtype)
        return (advantage[:, None] * (onehot - logits.softmax(-1))).sum(0)

    report = check_score_function_estimate(summed, verbose=False)
    assert not report.passed
    assert "divide by S" in str(report)
    assert report.outcomes[0][1] is None  # one draw: summing and averaging agree


def test_score_estimate_that_overwrites_repeated_draws_is_caught():
    def assigned(logits, samples, rewards, baseline):
        advantage = rewards[samples] - torch.as_tensor(baseline, dtype=logits.dtype)
        g = -(advantage.mean() * logits.softmax(-1))
        g[samples] = g[samples] + advantage / len(samples)  # a cell drawn twice keeps one term
        return g

    report = check_score_function_estimate(assigned, verbose=False)
    failing = [case.description for case, problem in report.outcomes if problem is not None]
    assert any("drawn 3 times" in d for d in failing)
    assert "accumulate" in str(report)


@pytest.mark.parametrize("checker", [check_soft_attention, check_score_function_estimate])
def test_checkers_refuse_a_non_callable(checker):
    with pytest.raises(ValueError, match="fn"):
        checker(None)
    with pytest.raises(ValueError, match="fn"):
        checker(torch.zeros(3))


def test_the_report_never_prints_the_expected_tensor(capsys):
    check_score_function_estimate(lambda logits, samples, rewards, baseline: torch.zeros_like(logits))
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "tensor(" not in printed
