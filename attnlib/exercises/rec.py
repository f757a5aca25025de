"""Checkers for the coding exercises of chapter 8 (self-paced referring expression comprehension).

* :func:`check_giou`: the paired generalized IoU of two sets of boxes, Eq. (rec-giou), against
  :func:`attnlib.boxes.generalized_box_iou` (which agrees with ``torchvision.ops.generalized_box_iou``);
* :func:`check_self_paced_loss`: the paper's self-paced loss as written, Eqs. (rec-difficulty) and (rec-total),
  its weights and its gradients, against :func:`attnlib.rec.selfpaced.self_paced_loss` with ``form="as_written"``.

Each checker runs the student's function on small seeded cases (identical, nested, touching and disjoint boxes;
losses on both sides of ``lambda``) and prints, for a failing case, what differs and a hint, never the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from attnlib import boxes
from attnlib.exercises.core import Case, Report, check_cases, compare, require_function
from attnlib.rec.selfpaced import self_paced_loss

__all__ = ["check_giou", "check_self_paced_loss"]


def _random_boxes(n: int, generator: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=generator)
    wh = 0.05 + 0.6 * torch.rand(n, 2, generator=generator)
    return torch.cat([xy, xy + wh], -1)


def _giou_cases() -> list[Case]:
    g = torch.Generator().manual_seed(8)
    unit = torch.tensor([[0.0, 0.0, 1.0, 1.0]])

    def case(description: str, pred: torch.Tensor, target: torch.Tensor, hint: str) -> Case:
        return Case(description, (pred, target), expected=boxes.generalized_box_iou(pred, target), hint=hint)

    many_a, many_b = _random_boxes(200, g), _random_boxes(200, g)
    return [
        case(
            "one pair of identical boxes",
            torch.tensor([[0.5, 1.0, 2.5, 4.0]]),
            torch.tensor([[0.5, 1.0, 2.5, 4.0]]),
            "identical boxes have IoU = GIoU = 1; return one value per pair, shape (N,), not a scalar",
        ),
        case(
            "3 overlapping pairs",
            torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 1.0], [1.0, 1.0, 4.0, 3.0]]),
            torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.5, 0.5, 1.5, 2.5], [0.0, 2.0, 2.0, 5.0]]),
            "the intersection spans [max x1, min x2] x [max y1, min y2]; the union is |A| + |B| - |A n B|",
        ),
        case(
            "a box nested inside the other (both orders)",
            torch.tensor([[0.25, 0.25, 0.75, 0.5], [0.0, 0.0, 4.0, 4.0]]),
            torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 2.0, 2.0, 3.0]]),
            "the enclosing box C of a nested pair is the outer box, so GIoU = IoU there; C spans "
            "[min x1, max x2] x [min y1, max y2]",
        ),
        case(
            "boxes that touch along an edge",
            unit.repeat(2, 1),
            torch.tensor([[1.0, 0.0, 2.0, 1.0], [0.0, 1.0, 1.0, 3.0]]),
            "touching boxes do not overlap (IoU 0) and fill their enclosing box, so GIoU = 0",
        ),
        case(
            "disjoint boxes, apart along one axis and along both",
            unit.repeat(3, 1),
            torch.tensor([[2.0, 0.0, 3.0, 1.0], [2.0, 2.0, 3.0, 3.0], [-3.0, -4.0, -2.0, -1.0]]),
            "clamp the intersection's width and height at 0 *separately*: two negative sides would multiply "
            "to a positive 'intersection'; GIoU of disjoint boxes is negative, from the enclosing-box term",
        ),
        case(
            "200 random pairs",
            many_a,
            many_b,
            "pair row i of pred with row i of target (the diagonal of the N x N matrix), not every pair",
        ),
    ]


def check_giou(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, verbose: bool = True) -> Report:
    """Check a paired generalized IoU, Eq. (rec-giou) of chapter 8: ``fn(pred, target) -> giou``.

    ``GIoU = IoU - |C \\ (A u B)| / |C|`` with ``C`` the smallest box enclosing ``A`` (row i of ``pred``) and
    ``B`` (row i of ``target``). The expected values come from :func:`attnlib.boxes.generalized_box_iou`
    (tolerance ``1e-5``, so a small ``eps`` in the denominators, or none, both pass).

    Parameters
    ----------
    fn
        The student's function: ``pred, target`` are ``(N, 4)`` xyxy boxes (``x1 <= x2``, ``y1 <= y2``); it
        returns ``(N,)`` values in ``[-1, 1]``.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case agrees.
    """
    return check_cases(fn, _giou_cases(), exercise="GIoU of box pairs (Eq. rec-giou)", verbose=verbose)


_NAMES = ("total", "d0 (the weights on the L1 losses)", "d1 (the weights on the GIoU losses)")


def _self_paced_case(description: str, l1: torch.Tensor, giou: torch.Tensor, sigma0: float, sigma1: float,
                     lam: float, hint: str) -> Case:  # fmt: skip
    l1 = l1.clone().requires_grad_(True)
    giou = giou.clone().requires_grad_(True)
    s0 = torch.tensor(sigma0, requires_grad=True)
    s1 = torch.tensor(sigma1, requires_grad=True)
    total, d0, d1 = self_paced_loss(l1, giou, s0, s1, lam=lam, form="as_written")
    grads = torch.autograd.grad(total, (s0, l1))
    expected = (total.detach(), d0.detach(), d1.detach(), grads[0], grads[1])
    return Case(description, (l1.detach(), giou.detach(), s0.detach(), s1.detach(), lam), expected=expected,
                hint=hint)  # fmt: skip


def _self_paced_cases() -> list[Case]:
    g = torch.Generator().manual_seed(80)
    return [
        _self_paced_case(
            "4 samples, sigma0 = sigma1 = 2.5, lambda = 0.75 (the paper's start)",
            torch.tensor([0.1, 0.5, 1.0, 2.0]),
            torch.tensor([0.2, 0.9, 1.2, 1.6]),
            2.5,
            2.5,
            0.75,
            "d = exp(+L^2 / sigma^2) >= 1 (mu = 0): a plus sign in the exponent and sigma squared; the total is the "
            "batch MEAN of d0 L_L1 + d1 L_GIoU - lambda (d0 + d1)",
        ),
        _self_paced_case(
            "the two widths differ (sigma0 = 0.8, sigma1 = 3)",
            torch.tensor([0.3, 0.6, 0.9]),
            torch.tensor([1.5, 0.4, 0.05]),
            0.8,
            3.0,
            0.75,
            "sigma0 goes with the L1 losses, sigma1 with the GIoU losses",
        ),
        _self_paced_case(
            "lambda = 0: only the weighted losses remain",
            torch.tensor([0.4, 0.7]),
            torch.tensor([0.6, 0.2]),
            1.5,
            1.5,
            0.0,
            "lambda multiplies (d0 + d1) and is subtracted; with lambda = 0 only the weighted losses remain",
        ),
        _self_paced_case(
            "16 random samples on both sides of lambda",
            2 * torch.rand(16, generator=g),
            2 * torch.rand(16, generator=g),
            1.2,
            2.0,
            0.75,
            "the gradients must flow through d as well as through L (no .detach(), no float(sigma)): the paper's "
            "form learns sigma from this very loss",
        ),
    ]


def _run_with_gradients(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Call ``fn`` and add the gradients of its total with respect to ``sigma0`` and ``l1`` to what it returned."""

    def run(l1: torch.Tensor, giou: torch.Tensor, sigma0: torch.Tensor, sigma1: torch.Tensor, lam: float) -> Any:
        l1_in, s0_in = l1.detach().clone().requires_grad_(True), sigma0.detach().clone().requires_grad_(True)
        s1_in, giou_in = sigma1.detach().clone().requires_grad_(True), giou.detach().clone().requires_grad_(True)
        out = fn(l1_in, giou_in, s0_in, s1_in, lam)
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            return out
        total = out[0]
        if isinstance(total, torch.Tensor) and total.requires_grad and total.numel() == 1:
            g_s0, g_l1 = torch.autograd.grad(total.sum(), (s0_in, l1_in), allow_unused=True)
        else:
            g_s0, g_l1 = None, None
        g_s0 = torch.zeros(()) if g_s0 is None else g_s0
        g_l1 = torch.zeros_like(l1_in) if g_l1 is None else g_l1
        return (*out, g_s0, g_l1)

    return run


def _check_self_paced(case: Case, got: Any) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 5:
        kind = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
        return f"expected a tuple (total, d0, d1), got {kind}"
    names = (*_NAMES, "d total / d sigma0", "d total / d l1")
    for name, want, have in zip(names, case.expected, got):
        problem = compare(want, have, atol=1e-5, rtol=1e-4, name=name)
        if problem is not None:
            if name.startswith("d total"):
                problem += (
                    "; the forward values agree, so the gradient cannot see how d depends on the losses or on "
                    "sigma (a .detach(), .item() or float() on the way?)"
                )
            return problem
    return None


def check_self_paced_loss(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check the self-paced loss as the paper writes it, Eqs. (rec-difficulty) and (rec-total) of chapter 8.

    ``fn(l1, giou, sigma0, sigma1, lam) -> (total, d0, d1)`` with ``d_k = exp(L_k^2 / sigma_k^2)`` (``mu = 0``,
    ``s = +1``) and ``total`` the batch mean of ``d0 L_L1 + d1 L_GIoU - lam (d0 + d1)``. Besides the three
    values, the checker compares the gradients of ``total`` with respect to ``sigma0`` and to ``l1`` with
    Eq. (rec-dsigma), so a weight computed from detached losses or from a Python float passes the forward values
    and fails there. Expected values: :func:`attnlib.rec.selfpaced.self_paced_loss` with ``form="as_written"``.

    Parameters
    ----------
    fn
        The student's function: ``l1, giou`` are ``(N,)`` per-sample losses, ``sigma0, sigma1`` scalar tensors
        (``requires_grad``), ``lam`` a float.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case agrees.
    """
    require_function(fn)
    return check_cases(
        _run_with_gradients(fn),
        _self_paced_cases(),
        exercise="the self-paced loss as written (Eq. rec-total)",
        check=_check_self_paced,
        verbose=verbose,
    )
