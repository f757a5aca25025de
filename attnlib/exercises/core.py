"""What every exercise checker shares: cases, the comparison that explains a mismatch, and the report.

A checker (``attnlib.exercises.ram.check_glimpse`` and the like) builds a list of :class:`Case` objects, each an
input for the student's function with the expected answer (from the library or from the chapter's formula) and a
hint about the mistake the case is there to catch, and hands them to :func:`check_cases`. The student sees one
line per case and, for a failing case, what differs, in words: "expected shape (2, 3, 8, 8), got (2, 8, 8)",
"largest difference 0.31 at index (1, 0, 3, 4): expected 0.250, got 0.560", "your function raised IndexError".
The expected tensor itself is never printed, so the report does not give the solution away.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import checks

__all__ = ["Case", "Report", "check_cases", "compare"]


@dataclass
class Case:
    """One input on which a student's function is tried.

    Parameters
    ----------
    description
        The case in words, shown on every line of the report ("2 images 12x12, glimpse at the centre").
    args, kwargs
        What the function is called with. Tensors are cloned before each call, so a function that changes
        its input in place cannot spoil the next case (and is told that it did).
    expected
        The right answer: a tensor, a number, or a tuple / list of them.
    hint
        What this case is there to catch, shown only when it fails ("locations are in [-1, 1], not pixels").
    """

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    hint: str = ""


@dataclass
class Report:
    """The outcome of a checker: one entry per case, ``None`` where the case passed, else what was wrong."""

    exercise: str
    outcomes: list[tuple[Case, str | None]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every case passed."""
        return bool(self.outcomes) and all(problem is None for _, problem in self.outcomes)

    @property
    def n_passed(self) -> int:
        """How many cases passed."""
        return sum(problem is None for _, problem in self.outcomes)

    def __str__(self) -> str:
        lines = [f"{self.exercise}: {self.n_passed} of {len(self.outcomes)} cases passed"]
        for k, (case, problem) in enumerate(self.outcomes, start=1):
            mark = "ok  " if problem is None else "FAIL"
            lines.append(f"  {mark} case {k}: {case.description}")
            if problem is not None:
                lines.extend("         " + line for line in problem.splitlines())
                if case.hint:
                    lines.append(f"         hint: {case.hint}")
        if self.passed:
            lines.append("All cases pass.")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise AssertionError with the report when a case failed (for tests and the build)."""
        if not self.passed:
            raise AssertionError(str(self))


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _compare_tensor(expected: torch.Tensor, got: Any, atol: float, rtol: float, name: str) -> str | None:
    if not isinstance(got, torch.Tensor):
        return f"{name}: expected a torch.Tensor, got {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if expected.dtype == torch.bool or not expected.is_floating_point():
        if got.is_floating_point() and expected.dtype != torch.bool:
            return f"{name}: expected integer values (dtype {expected.dtype}), got dtype {got.dtype}"
        wrong = got.detach().cpu().to(expected.dtype) != expected.cpu()
        if wrong.any():
            index = tuple(int(i) for i in wrong.nonzero()[0])
            return (
                f"{name}: {int(wrong.sum())} of {wrong.numel()} entries differ; first at index {index}: "
                f"expected {expected[index].item()}, got {got[index].item()}"
            )
        return None
    if not got.is_floating_point():
        return f"{name}: expected floating-point values, got dtype {got.dtype}"
    got_values = got.detach().cpu().to(torch.float64)
    want = expected.detach().cpu().to(torch.float64)
    bad = ~torch.isfinite(got_values) & torch.isfinite(want)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        return f"{name}: {int(bad.sum())} entries are NaN or infinite; first at index {index} (got {got_values[index].item()})"
    if want.numel() == 0:
        return None
    tolerance = atol + rtol * want.abs()
    excess = (got_values - want).abs() - tolerance
    if (excess > 0).any():
        difference = (got_values - want).abs()
        flat = int(difference.argmax())
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), want.shape))
        return (
            f"{name}: {int((excess > 0).sum())} of {want.numel()} entries are off; largest difference "
            f"{_fmt(difference.max().item())} at index {index}: expected {_fmt(want[index].item())}, "
            f"got {_fmt(got_values[index].item())}"
        )
    return None


def compare(expected: Any, got: Any, *, atol: float = 1e-5, rtol: float = 1e-4, name: str = "the result") -> str | None:
    """What differs between ``expected`` and ``got``, in words, or ``None`` when they agree.

    Tensors are compared by type, shape, dtype kind, NaN and values (within ``atol + rtol * |expected|``); numbers
    by value; tuples and lists element by element ("the result[1]: expected shape ...").

    Parameters
    ----------
    expected
        A tensor, a number, or a tuple / list of them.
    got
        What the student's function returned.
    atol, rtol
        Absolute and relative tolerance for floating-point values.
    name
        How the message refers to the value.

    Returns
    -------
    str or None
        One sentence naming the first difference, without the expected values beyond the one entry quoted.
    """
    atol = checks.non_negative_float(atol, "atol")
    rtol = checks.non_negative_float(rtol, "rtol")
    name = checks.string(name, "name")
    if isinstance(expected, torch.Tensor):
        return _compare_tensor(expected, got, atol, rtol, name)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"{name}: expected a tuple of {len(expected)} values, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"{name}: expected {len(expected)} values, got {len(got)}"
        for k, (want, have) in enumerate(zip(expected, got)):
            problem = compare(want, have, atol=atol, rtol=rtol, name=f"{name}[{k}]")
            if problem is not None:
                return problem
        return None
    if isinstance(expected, bool) or expected is None:
        return None if got == expected else f"{name}: expected {expected!r}, got {got!r}"
    if isinstance(expected, (int, float)):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return f"{name}: expected a number, got {type(got).__name__}"
        if not math.isfinite(got):
            return f"{name}: expected {_fmt(expected)}, got {got}"
        if abs(got - expected) > atol + rtol * abs(expected):
            return f"{name}: expected {_fmt(expected)}, got {_fmt(got)}"
        return None
    return None if got == expected else f"{name}: expected {expected!r}, got {got!r}"


def require_function(fn: Any) -> Callable[..., Any]:
    """``fn`` if it is callable, else ValueError naming ``fn``: for checkers that wrap the student's function
    before handing it to :func:`check_cases`, so the mistake is named before the wrapper hides it."""
    if not callable(fn):
        raise ValueError(f"fn must be a callable (the function you wrote), got {type(fn).__name__}")
    return fn


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad)
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _changed(before: Any, after: Any) -> bool:
    if isinstance(before, torch.Tensor):
        return before.shape != after.shape or not torch.equal(before.detach(), after.detach())
    if isinstance(before, (tuple, list)):
        return any(_changed(b, a) for b, a in zip(before, after))
    if isinstance(before, dict):
        return any(_changed(before[k], after[k]) for k in before)
    return False


def _raised(error: BaseException) -> str:
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" (line {frame.lineno}: {frame.line})" if frame is not None and frame.line else ""
    return f"your function raised {type(error).__name__}: {error}{where}"


def check_cases(
    fn: Callable[..., Any],
    cases: Sequence[Case],
    *,
    exercise: str,
    check: Callable[[Case, Any], str | None] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    verbose: bool = True,
) -> Report:
    """Run ``fn`` on every case, compare, print the report (when ``verbose``) and return it.

    Parameters
    ----------
    fn
        The student's function.
    cases
        The inputs and expected answers (:class:`Case`).
    exercise
        The exercise's name, the report's first line.
    check
        ``check(case, got) -> message or None`` for a comparison that :func:`compare` cannot express (a
        gradient, a property such as "rows sum to one"); by default ``compare(case.expected, got)``.
    atol, rtol
        Tolerances for the default comparison.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case passed.
    """
    require_function(fn)
    if isinstance(cases, (str, bytes)) or not isinstance(cases, Sequence) or not cases:
        raise ValueError(f"cases must be a non-empty sequence of Case, got {cases!r}")
    if not all(isinstance(case, Case) for case in cases):
        raise ValueError("cases must hold Case objects only")
    exercise = checks.string(exercise, "exercise")
    verbose = checks.flag(verbose, "verbose")
    atol = checks.non_negative_float(atol, "atol")
    rtol = checks.non_negative_float(rtol, "rtol")
    if check is not None and not callable(check):
        raise ValueError(f"check must be a callable (case, got) -> str or None, got {type(check).__name__}")
    report = Report(exercise)
    for case in cases:
        args, kwargs = _clone(case.args), _clone(case.kwargs)
        pristine = (_clone(args), _clone(kwargs))
        try:
            got = fn(*args, **kwargs)
        except Exception as error:  # the student's bug, reported in words rather than as a traceback
            report.outcomes.append((case, _raised(error)))
            continue
        if _changed(pristine, (args, kwargs)):
            report.outcomes.append((case, "your function changed its input in place; compute a new tensor instead"))
            continue
        try:
            problem = check(case, got) if check is not None else compare(case.expected, got, atol=atol, rtol=rtol)
        except Exception as error:  # a result so malformed that the comparison itself failed
            problem = f"the result could not be checked ({type(error).__name__}: {error})"
        report.outcomes.append((case, problem))
    if verbose:
        print(report)
    return report
