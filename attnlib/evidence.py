"""Seeds and verdicts: how a number on a page earns a conclusion (``design.md``, "Evidence").

A single training run is one draw from a distribution over initialisations, data orders and sampled
glimpses. The course therefore reports every figure a conclusion rests on as the mean and the sample
standard deviation over ``n >= 3`` seeds, and calls a gap between two such means real only when it is
larger than twice its standard error:

.. math::

    \\Delta = \\bar a - \\bar b, \\qquad
    \\operatorname{se}(\\Delta) = \\sqrt{s_a^2 / n_a + s_b^2 / n_b}, \\qquad
    \\text{distinguishable} \\iff |\\Delta| > 2 \\operatorname{se}(\\Delta).

(Two standard errors is roughly a two-sided 95 % interval for large ``n``; with three seeds it is a
lenient test, so a "distinguishable" verdict at ``n = 3`` is evidence, not proof.) Otherwise the
verdict is "not distinguishable at this budget".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "Summary", "compare", "summarize"]

NOT_DISTINGUISHABLE = "not distinguishable at this budget"


def _values(values: Sequence[float], name: str) -> tuple[float, ...]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a sequence of numbers (one per seed), got {values!r}")
    values = list(values)
    if any(isinstance(v, (bool, str, bytes)) for v in values):
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a sequence of numbers, got {values!r}") from error
    if not out:
        raise ValueError(f"{name} must hold at least one value, got an empty sequence")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite, got {out}")
    if not math.isfinite(sum(out)) or not math.isfinite(sum(v * v for v in out)):
        raise ValueError(f"{name} must be small enough for a mean and a variance, got {out}")
    return out


def _format_args(unit: str, digits: int) -> None:
    if not isinstance(unit, str):
        raise ValueError(f"unit must be a str, got {unit!r}")
    if not isinstance(digits, int) or isinstance(digits, bool) or not 0 <= digits <= 15:
        raise ValueError(f"digits must be an int in [0, 15], got {digits!r}")


def _fmt(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (``ddof = 1``; 0 for one value) and standard error of the mean."""

    values: tuple[float, ...]
    mean: float
    std: float
    n: int

    @property
    def sem(self) -> float:
        """Standard error of the mean, ``std / sqrt(n)``."""
        return self.std / math.sqrt(self.n)

    def format(self, unit: str = "", digits: int = 1) -> str:
        """``"82.5 ± 0.9 % (n = 3)"``; a single value reads ``"82.5 % (n = 1)"``."""
        _format_args(unit, digits)
        sep = "" if unit in ("", "x") or unit.startswith(" ") else " "
        spread = f" ± {_fmt(self.std, digits)}" if self.n > 1 else ""
        return f"{_fmt(self.mean, digits)}{spread}{sep}{unit} (n = {self.n})"

    def __str__(self) -> str:
        return self.format()


def summarize(values: Sequence[float]) -> Summary:
    """Summarise per-seed values: ``summarize([81.6, 82.7, 83.3]).format("%")`` -> ``"82.5 ± 0.9 % (n = 3)"``."""
    vals = _values(values, "values")
    n = len(vals)
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return Summary(vals, mean, std, n)


@dataclass(frozen=True)
class Comparison:
    """The gap between two per-seed samples ``a`` and ``b`` and whether it is outside the noise."""

    a: Summary
    b: Summary
    gap: float
    se: float

    @property
    def distinguishable(self) -> bool:
        """``|gap| > 2 se`` with at least two seeds on each side (one seed has no spread to compare with)."""
        return self.a.n >= 2 and self.b.n >= 2 and abs(self.gap) > 2 * self.se

    def verdict(self, claim_holds: bool) -> str:
        """``"met"`` when ``claim_holds`` (decided by the caller from the means) and the gap is outside the
        noise; ``"not met"`` when the gap is outside the noise and the claim fails; otherwise
        ``"not distinguishable at this budget"``."""
        if not isinstance(claim_holds, (bool, np.bool_)):
            raise ValueError(f"claim_holds must be True or False, got {claim_holds!r}")
        if not self.distinguishable:
            return NOT_DISTINGUISHABLE
        return "met" if claim_holds else "not met"

    def format(self, unit: str = " points", digits: int = 1) -> str:
        """``"+7.3 ± 2.1 points (2 se = 4.2; n = 3 vs 3)"``."""
        _format_args(unit, digits)
        return (
            f"{self.gap:+.{digits}f}{unit} (2 se = {2 * self.se:.{digits}f}; n = {self.a.n} vs {self.b.n})"
            f"{'' if self.distinguishable else ', ' + NOT_DISTINGUISHABLE}"
        )

    def __str__(self) -> str:
        return self.format()


def compare(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Compare per-seed values ``a`` against ``b``: gap of the means and its standard error.

    Parameters
    ----------
    a, b
        Per-seed values of the two sides (say, test error of random and of learned glimpses), one number
        per seed; the seeds need not be paired.

    Returns
    -------
    Comparison
        ``gap = mean(a) - mean(b)``, ``se = sqrt(var(a) / n_a + var(b) / n_b)`` (sample variances).
    """
    sa, sb = summarize(_values(a, "a")), summarize(_values(b, "b"))
    se = math.sqrt(sa.std**2 / sa.n + sb.std**2 / sb.n)
    return Comparison(sa, sb, sa.mean - sb.mean, se)
