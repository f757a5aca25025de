"""Tests of the Chapter 5 exercise checkers (attnlib.exercises.sat).

The reference solutions are the chapter's own (executed from its gated solution blocks); the wrong versions,
written here, are the mistakes the checkers are there to catch, each of which must fail with a message that
names the problem.
"""

import pytest
import torch
from exercise_cells import run_solution

from attnlib.exercises import sat as ex

CHAPTER = "05_show_attend_tell"


def _failures(report):
    """The text of the failing cases (problem and hint), lower-cased."""
    return " ".join(f"{problem} {case.hint}" for case, problem in report.outcomes if problem is not None).lower()


# ----------------------------------------------------------------------------- the doubly stochastic penalty


def test_chapter_penalty_solution_passes():
    namespace, printed = run_solution(CHAPTER, "ex-sat-penalty-code")
    assert ex.check_doubly_stochastic_penalty(namespace["my_penalty"], verbose=False).passed
    assert "All cases pass." in printed  # the solution block shows the checker passing it
    # its "common mistake" is caught, on the padded case
    wrong = ex.check_doubly_stochastic_penalty(namespace["penalty_ignoring_padding"], verbose=False)
    assert not wrong.passed and "padding" in _failures(wrong)


def test_penalty_over_the_wrong_axis_is_caught():
    def over_locations(alphas, step_mask, weight):  # sums over i, where every step sums to one
        if step_mask is not None:
            alphas = alphas * step_mask[..., None]
        return weight * ((1.0 - alphas.sum(2)) ** 2).sum(-1).mean()

    report = ex.check_doubly_stochastic_penalty(over_locations, verbose=False)
    assert not report.passed
    assert "sum over the steps t" in _failures(report)


def test_penalty_per_caption_instead_of_batch_mean_is_caught():
    def per_caption(alphas, step_mask, weight):
        if step_mask is not None:
            alphas = alphas * step_mask[..., None]
        return weight * ((1.0 - alphas.sum(1)) ** 2).sum(-1)  # (B,): not averaged

    report = ex.check_doubly_stochastic_penalty(per_caption, verbose=False)
    assert not report.passed and report.n_passed == 0
    assert "expected shape ()" in _failures(report)


def test_penalty_without_weight_is_caught():
    def no_weight(alphas, step_mask, weight):
        if step_mask is not None:
            alphas = alphas * step_mask[..., None]
        return ((1.0 - alphas.sum(1)) ** 2).sum(-1).mean()

    report = ex.check_doubly_stochastic_penalty(no_weight, verbose=False)
    assert not report.passed and "weight lambda" in _failures(report)


# ----------------------------------------------------------------------------- additive attention


def test_chapter_attention_solution_passes():
    namespace, printed = run_solution(CHAPTER, "ex-sat-additive-code")
    assert ex.check_additive_attention(namespace["my_attention"], verbose=False).passed
    assert "All cases pass." in printed
    wrong = ex.check_additive_attention(namespace["attention_masked_after_softmax"], verbose=False)
    assert not wrong.passed
    assert "not 1" in _failures(wrong) and "-inf before the softmax" in _failures(wrong)


def _scores(features, query, W_a, W_h, b, w):
    return torch.tanh(features @ W_a.T + (query @ W_h.T)[:, None, :] + b) @ w


def test_attention_without_tanh_is_caught():
    def no_tanh(features, query, W_a, W_h, b, w, mask=None):
        scores = (features @ W_a.T + (query @ W_h.T)[:, None, :] + b) @ w
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(scores, -1)
        return (alpha[..., None] * features).sum(1), alpha

    report = ex.check_additive_attention(no_tanh, verbose=False)
    assert not report.passed and "tanh" in _failures(report)


def test_attention_with_a_naive_exp_overflows_and_is_caught():
    def naive_exp(features, query, W_a, W_h, b, w, mask=None):
        e = _scores(features, query, W_a, W_h, b, w).exp()
        if mask is not None:
            e = e * mask
        alpha = e / e.sum(-1, keepdim=True)
        return (alpha[..., None] * features).sum(1), alpha

    report = ex.check_additive_attention(naive_exp, verbose=False)
    assert not report.passed
    assert "nan or infinite" in _failures(report) and "overflow" in _failures(report)


def test_attention_with_one_query_for_the_batch_is_caught():
    def first_query(features, query, W_a, W_h, b, w, mask=None):
        scores = _scores(features, query[:1].expand_as(query), W_a, W_h, b, w)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(scores, -1)
        return (alpha[..., None] * features).sum(1), alpha

    report = ex.check_additive_attention(first_query, verbose=False)
    assert not report.passed and "its own query" in _failures(report)


def test_attention_returning_only_the_weights_is_caught():
    def weights_only(features, query, W_a, W_h, b, w, mask=None):
        return torch.softmax(_scores(features, query, W_a, W_h, b, w), -1)

    report = ex.check_additive_attention(weights_only, verbose=False)
    assert report.n_passed == 0 and "pair (context, alpha)" in _failures(report)


def test_checkers_do_not_print_the_expected_values(capsys):
    def zeros(features, query, W_a, W_h, b, w, mask=None):
        return torch.zeros(features.shape[0], features.shape[2]), torch.zeros(features.shape[:2])

    ex.check_additive_attention(zeros)
    out = capsys.readouterr().out
    assert "FAIL" in out and out.count("expected") <= 5  # one quoted entry per failing case at most


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "checker", [ex.check_doubly_stochastic_penalty, ex.check_additive_attention, ex.check_hard_attention_reinforce]
)
def test_checkers_refuse_a_non_callable(checker):
    with pytest.raises(ValueError, match="fn"):
        checker("my_function")
    with pytest.raises(ValueError, match="verbose"):
        checker(lambda *a: None, verbose="yes")


# ----------------------------------------------------------------------------- the REINFORCE term with a baseline


def test_chapter_reinforce_solution_passes():
    namespace, printed = run_solution(CHAPTER, "ex-sat-reinforce-code")
    assert ex.check_hard_attention_reinforce(namespace["my_reinforce"], verbose=False).passed
    assert "All cases pass." in printed
    wrong = ex.check_hard_attention_reinforce(namespace["reinforce_with_updated_baseline"], verbose=False)
    assert not wrong.passed and "the b you were given" in _failures(wrong)


def _reinforce(log_probs, used, reward, baseline, momentum, *, detach=True, use_mask=True, sign=-1.0):
    reward = reward.detach() if detach else reward
    score = (log_probs * used.to(log_probs.dtype)).sum(1) if use_mask else log_probs.sum(1)
    return sign * ((reward - baseline) * score).mean(), momentum * baseline + (1 - momentum) * reward.mean()


def test_reinforce_without_detaching_the_reward_is_caught():
    report = ex.check_hard_attention_reinforce(lambda *a: _reinforce(*a, detach=False), verbose=False)
    assert report.n_passed == 4
    assert "gradient to the reward" in _failures(report) and "detach" in _failures(report)


def test_reinforce_scoring_unused_steps_is_caught():
    report = ex.check_hard_attention_reinforce(lambda *a: _reinforce(*a, use_mask=False), verbose=False)
    assert not report.passed and "no score term" in _failures(report)


def test_reinforce_with_the_wrong_sign_is_caught():
    report = ex.check_hard_attention_reinforce(lambda *a: _reinforce(*a, sign=1.0), verbose=False)
    assert report.n_passed == 0 and "minus sign" in _failures(report)
