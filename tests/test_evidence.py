"""Seeds and verdicts (attnlib.evidence) against numpy/scipy's own statistics."""

import math

import numpy as np
import pytest
from scipy import stats

from attnlib.evidence import NOT_DISTINGUISHABLE, compare, summarize


def test_summary_matches_numpy():
    values = [81.6, 82.7, 83.3, 80.1]
    s = summarize(values)
    assert s.n == 4 and math.isclose(s.mean, np.mean(values))
    assert math.isclose(s.std, np.std(values, ddof=1)) and math.isclose(s.sem, stats.sem(values))
    assert s.format("%") == f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f} % (n = 4)"
    assert summarize([2.5]).std == 0.0 and summarize([2.5]).format("%") == "2.5 % (n = 1)"
    assert summarize([11.0, 12.0]).format("x") == "11.5 ± 0.7x (n = 2)"


def test_comparison_is_welchs_standard_error():
    a, b = [64.5, 61.0, 66.2], [57.2, 58.9, 55.0]
    c = compare(a, b)
    se = math.sqrt(np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 3)
    assert math.isclose(c.gap, np.mean(a) - np.mean(b)) and math.isclose(c.se, se)
    # Welch's t statistic is gap / se: "distinguishable" is |t| > 2
    t = stats.ttest_ind(a, b, equal_var=False).statistic
    assert math.isclose(c.gap / c.se, t) and c.distinguishable == (abs(t) > 2)
    assert c.verdict(claim_holds=True) == "met" and c.verdict(claim_holds=False) == "not met"


def test_gaps_inside_the_noise_and_single_seeds_are_not_distinguishable():
    noisy = compare([60.0, 50.0, 70.0], [57.0, 52.0, 62.0])
    assert not noisy.distinguishable and noisy.verdict(True) == NOT_DISTINGUISHABLE
    assert NOT_DISTINGUISHABLE in noisy.format()
    one_seed = compare([64.5], [57.2])  # a 7-point gap with no spread measured is no evidence
    assert not one_seed.distinguishable and one_seed.verdict(True) == NOT_DISTINGUISHABLE


@pytest.mark.parametrize("values", [[], [1.0, float("nan")], ["a"], None])
def test_bad_values_raise(values):
    with pytest.raises(ValueError, match="values"):
        summarize(values)


_EVIDENCE_BAD = [
    (lambda: summarize([]), "values"),
    (lambda: summarize("123"), "values"),
    (lambda: summarize(b"12"), "values"),
    (lambda: summarize({"a": 1.0}), "values"),
    (lambda: summarize(3.0), "values"),
    (lambda: summarize([1.0, float("nan")]), "values"),
    (lambda: summarize([1.0, float("-inf")]), "values"),
    (lambda: summarize([True, False]), "values"),
    (lambda: summarize([1.0, "2"]), "values"),
    (lambda: summarize([1e308, 1e308]), "values"),
    (lambda: summarize(np.ones((2, 2))), "values"),
    (lambda: compare([1.0, 2.0], []), "b"),
    (lambda: compare("12", [1.0]), "a"),
    (lambda: compare([1.0], [float("nan")]), "b"),
    (lambda: summarize([1.0, 2.0]).format(digits=-1), "digits"),
    (lambda: summarize([1.0, 2.0]).format(digits=1.5), "digits"),
    (lambda: summarize([1.0, 2.0]).format(unit=None), "unit"),
    (lambda: compare([1.0, 2.0], [3.0, 4.0]).format(digits="1"), "digits"),
    (lambda: compare([1.0, 2.0], [3.0, 4.0]).verdict("yes"), "claim_holds"),
    (lambda: compare([1.0, 2.0], [3.0, 4.0]).verdict(None), "claim_holds"),
]


@pytest.mark.parametrize("call, name", _EVIDENCE_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_EVIDENCE_BAD)])
def test_evidence_refuses_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_evidence_accepts_generators_tensors_and_numpy():
    assert summarize(x for x in (1.0, 2.0, 3.0)).mean == 2.0
    assert compare((x for x in (3.0, 4.0)), np.array([1.0, 2.0])).gap == 2.0
    assert compare([1.0, 2.0], [3.0, 4.0]).verdict(np.bool_(True)) in ("met", NOT_DISTINGUISHABLE)
