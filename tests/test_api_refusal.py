"""Issue 24's goal, measured: across every public callable of attnlib (every ``__all__``, found by walking the
package), at least 95 % of the bad inputs a new user makes are refused with a ValueError naming the argument,
and none hangs. The harness is ``benchmarks/api_refusal.py``; ``python benchmarks/api_refusal.py --cases``
prints the per-module table and every case that is not refused."""

import importlib.util
import sys
from pathlib import Path

import pytest

# benchmarks/ is a folder of scripts, not a package: load the harness by path
_spec = importlib.util.spec_from_file_location(
    "benchmarks_api_refusal", Path(__file__).resolve().parents[1] / "benchmarks" / "api_refusal.py"
)
harness = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = harness  # its dataclasses look their module up there
_spec.loader.exec_module(harness)


@pytest.fixture(scope="module")
def report():
    return harness.run(timeout=5.0)


def test_every_public_callable_is_covered(report):
    """A new public function needs a valid example in EXAMPLES (or a reason in EXCLUDED) to be measured."""
    assert not report.uncovered, "\n".join(f"{k}: {v}" for k, v in sorted(report.uncovered.items()))


def test_bad_inputs_are_refused_naming_the_argument(report):
    print("\n" + harness.table(report))
    share = report.refused_share()
    missed = [f"{c.outcome}: {c.callable}({c.param}=<{c.case}>) {c.detail[:80]}" for c in report.cases
              if c.outcome != "refused"]  # fmt: skip
    assert share >= 0.95, f"{100 * share:.1f} % refused; not refused:\n" + "\n".join(missed)


def test_nothing_hangs(report):
    hangs = [f"{c.callable}({c.param}=<{c.case}>)" for c in report.cases if c.outcome == "hang"]
    assert not hangs, hangs


def test_every_acceptable_entry_is_used(report):
    """An ACCEPTABLE entry that no longer matches a case is stale: the function now refuses it, or was renamed."""
    used = {(c.callable, c.param, c.case) for c, _ in report.acceptable}
    used |= {(c.callable, c.param, "*") for c, _ in report.acceptable}
    stale = [key for key in harness.ACCEPTABLE if key not in used]
    assert not stale, stale


def test_the_harness_tells_a_clear_refusal_from_the_rest():
    def clear(size: int = 2) -> int:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        return size

    def vague(size: int = 2) -> int:
        if size < 1:
            raise ValueError("bad value")
        return size

    assert harness._call(clear, {"size": 0}, 1.0)[0] == "ValueError"
    assert harness._names("size must be a positive int", "size") and not harness._names("sizes x", "size")
    assert harness._call(vague, {"size": "2"}, 1.0)[0] == "other"  # TypeError from the comparison
    assert harness._call(lambda: [0 for _ in iter(int, 1)], {}, 0.2)[0] == "hang"
