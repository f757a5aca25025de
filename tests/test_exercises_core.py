"""The shared machinery of the exercise checkers: the report says what is wrong in words, never the answer."""

import pytest
import torch

from attnlib.exercises import Case, check_cases, compare


def test_compare_names_the_first_difference():
    expected = torch.arange(6.0).reshape(2, 3)
    assert compare(expected, expected.clone()) is None
    assert "expected a torch.Tensor, got list" in compare(expected, [[0.0]])
    assert "expected shape (2, 3), got (3, 2)" in compare(expected, expected.T)
    got = expected.clone()
    got[1, 2] = 9.0
    message = compare(expected, got)
    assert "1 of 6 entries are off" in message and "index (1, 2)" in message and "expected 5" in message
    nan = expected.clone()
    nan[0, 1] = float("nan")
    assert "NaN or infinite" in compare(expected, nan)
    assert "floating-point" in compare(expected, expected.long())
    assert "the result[1]" in compare((expected, 2.0), (expected, 3.0))
    assert "expected 2 values" in compare((expected, 2.0), (expected,))
    assert "entries differ" in compare(torch.tensor([1, 2]), torch.tensor([1, 3]))


def test_check_cases_reports_each_case_without_the_answer(capsys):
    secret = torch.tensor([0.123456, 0.654321, 0.5])
    cases = [
        Case("three numbers", (torch.tensor([1.0, 2.0, 3.0]),), expected=secret, hint="scale by the secret"),
        Case("empty", (torch.zeros(0),), expected=torch.zeros(0)),
    ]
    report = check_cases(lambda x: x * 2, cases, exercise="doubling")
    printed = capsys.readouterr().out
    assert not report.passed and report.n_passed == 1
    assert "FAIL case 1: three numbers" in printed and "hint: scale by the secret" in printed
    # one mismatching entry is quoted (to 4 digits), never the expected tensor
    assert "0.654321" not in printed and "0.1235" not in printed
    assert "1 of 2 cases passed" in printed
    with pytest.raises(AssertionError, match="doubling"):
        report.raise_if_failed()


def test_check_cases_reports_exceptions_and_in_place_changes():
    cases = [Case("a vector", (torch.ones(3),), expected=torch.ones(3))]
    raised = check_cases(lambda x: x[5], cases, exercise="e", verbose=False)
    assert "your function raised IndexError" in raised.outcomes[0][1]
    changed = check_cases(lambda x: x.zero_(), cases, exercise="e", verbose=False)
    assert "changed its input in place" in changed.outcomes[0][1]
    passed = check_cases(lambda x: x.clone(), cases, exercise="e", verbose=False)
    assert passed.passed


def test_check_cases_refuses_bad_arguments():
    cases = [Case("x", (1,), expected=1)]
    with pytest.raises(ValueError, match="fn"):
        check_cases(3, cases, exercise="e")
    with pytest.raises(ValueError, match="cases"):
        check_cases(abs, [], exercise="e")
    with pytest.raises(ValueError, match="exercise"):
        check_cases(abs, cases, exercise="")
    with pytest.raises(ValueError, match="check"):
        check_cases(abs, cases, exercise="e", check="no")
