"""Checkers for Chapter 3's coding exercises (RAM as an agent): one step of Catch, the two-head surrogate.

- :func:`check_catch_step`: one step of the batched Catch dynamics, the paddle's move and the ball's bounce off
  the side walls (Eq. (agent-catch-bounce)); the expected values come from :class:`attnlib.catch.Catch`.
- :func:`check_two_head_surrogate`: the REINFORCE surrogate of both heads with rewards-to-go and a baseline
  (Eq. (agent-two-head)); the expected value and gradients come from :func:`attnlib.reinforce.rewards_to_go` and
  :func:`attnlib.reinforce.score_function_surrogate`, the pieces :func:`attnlib.ram_agent.agent_loss` is made of.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import checks
from ..catch import Catch, CatchState
from ..reinforce import rewards_to_go, score_function_surrogate
from .core import Case, Report, check_cases, compare, require_function

__all__ = ["check_catch_step", "check_two_head_surrogate"]


def _catch_case(description: str, col, dx, paddle, actions, width: int, paddle_width: int, hint: str) -> Case:
    """A case of :func:`check_catch_step`: the expected step is the library's :meth:`Catch.step`."""
    col, dx, paddle, actions = (torch.as_tensor(v, dtype=torch.long) for v in (col, dx, paddle, actions))
    env = Catch(len(col), height=8, width=width, paddle_width=paddle_width, max_dx=max(1, int(dx.abs().max())))
    env.set_state(CatchState(torch.zeros_like(col), col, dx, paddle))
    env.step(actions)
    state = env.state
    return Case(
        description,
        args=(col, dx, paddle, actions),
        kwargs={"width": width, "paddle_width": paddle_width},
        expected=(state.ball_col, state.dx, state.paddle),
        hint=hint,
    )


def _check_step(case: Case, got: Any) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return f"expected a tuple (ball_col, dx, paddle) of three tensors, got {type(got).__name__}" + (
            f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        )
    for name, want, have in zip(("ball_col", "dx", "paddle"), case.expected, got):
        problem = compare(want, have, name=f"the new {name}")
        if problem is not None:
            return problem
    return None


def check_catch_step(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check one step of the Catch dynamics for a batch of games, Eq. (agent-catch-bounce) of Chapter 3.

    The student's function is called as ``fn(ball_col, dx, paddle, actions, width=W, paddle_width=w)`` with
    four int64 tensors ``(B,)`` (the ball's column, its sideways speed, the paddle's centre, and the actions
    ``0: left, 1: stay, 2: right``) and must return ``(ball_col, dx, paddle)`` after the step, three int64
    tensors ``(B,)``, without a Python loop over games being required. Columns are numbered ``0 .. W - 1``
    (tensor indices); the paddle never leaves the screen, and the ball bounces off the walls.

    Parameters
    ----------
    fn
        The student's step function.
    verbose
        Print the report.

    Returns
    -------
    Report
        One outcome per case (games in the middle, bounces off either wall, a paddle pushed into a wall, a
        speed of 2); the expected values come from :meth:`attnlib.catch.Catch.step`.
    """
    verbose = checks.flag(verbose, "verbose")
    gen = torch.Generator().manual_seed(3)
    middle = torch.randint(3, 7, (6,), generator=gen)
    cases = [
        _catch_case(
            "6 games on a 10-wide screen, ball and paddle away from the walls",
            middle,
            torch.tensor([-1, 0, 1, 1, 0, -1]),
            torch.randint(3, 7, (6,), generator=gen),
            torch.tensor([0, 1, 2, 0, 1, 2]),
            10,
            3,
            "the ball moves dx columns, the paddle actions - 1 columns (0: left, 1: stay, 2: right)",
        ),
        _catch_case(
            "ball at the left wall moving left (column 0, dx = -1)",
            [0, 0],
            [-1, -1],
            [4, 5],
            [1, 1],
            10,
            3,
            "a ball that would leave on the left is reflected, -u, and its speed changes sign; it is not clamped",
        ),
        _catch_case(
            "ball at the right wall moving right (column W - 1, dx = +1)",
            [9, 8],
            [1, 1],
            [4, 4],
            [1, 1],
            10,
            3,
            "a ball that would leave on the right is reflected, 2 (W - 1) - u, and its speed changes sign",
        ),
        _catch_case(
            "paddles pushed into the walls (paddle width 3)",
            [5, 5, 5],
            [0, 0, 0],
            [1, 8, 1],
            [0, 2, 2],
            10,
            3,
            "the paddle's centre stays in [w // 2, W - 1 - w // 2], so that the whole paddle is on the screen",
        ),
        _catch_case(
            "speed 2 next to the walls, paddle width 5 on a 12-wide screen",
            [1, 10, 0, 11],
            [-2, 2, 2, -2],
            [2, 9, 2, 9],
            [0, 2, 1, 1],
            12,
            5,
            "reflect the ball's new column about the wall it crossed, -u or 2 (W - 1) - u, and flip dx",
        ),
    ]
    return check_cases(fn, cases, exercise="Exercise: one step of Catch", check=_check_step, verbose=verbose)


class _Attempt:
    """What the checker learned from one call of the student's surrogate: the value and its gradients."""

    def __init__(self, value: Any, grads: dict[str, torch.Tensor] | None = None, problem: str | None = None) -> None:
        self.value, self.grads, self.problem = value, grads, problem


def _with_gradients(fn: Callable[..., Any]) -> Callable[..., _Attempt]:
    """Call ``fn`` and differentiate what it returns with respect to the log-probabilities and the baselines."""

    def attempt(action_log_probs, location_log_probs, rewards, baselines):
        value = fn(action_log_probs, location_log_probs, rewards, baselines)
        if not isinstance(value, torch.Tensor):
            return _Attempt(value, problem=f"the surrogate: expected a torch.Tensor, got {type(value).__name__}")
        if value.ndim != 0:
            return _Attempt(value, problem=f"the surrogate: expected a scalar (shape ()), got {tuple(value.shape)}")
        inputs = {"action_log_probs": action_log_probs, "location_log_probs": location_log_probs}
        inputs["baselines"] = baselines
        if not value.requires_grad:
            return _Attempt(value, problem="the surrogate carries no gradient: do not detach the log-probabilities")
        grads = torch.autograd.grad(value, list(inputs.values()), allow_unused=True)
        return _Attempt(
            value,
            {name: torch.zeros_like(x) if g is None else g for (name, x), g in zip(inputs.items(), grads)},
        )

    return attempt


def _check_surrogate(case: Case, got: Any) -> str | None:
    if got.problem is not None:
        return got.problem
    value, grads = case.expected
    if got.grads["baselines"].abs().max() > 1e-9:
        return (
            "its gradient with respect to baselines is not zero: the baseline is a constant of the surrogate "
            "(it learns from its own squared error), so detach it"
        )
    problem = compare(value, got.value, name="the surrogate's value")
    for name in ("action_log_probs", "location_log_probs", "baselines"):
        if problem is None:
            problem = compare(grads[name], got.grads[name], name=f"its gradient with respect to {name}")
    return problem


def _surrogate_case(description: str, rewards: torch.Tensor, seed: int, hint: str) -> Case:
    gen = torch.Generator().manual_seed(seed)
    b, t = rewards.shape
    alp = -torch.rand(b, t, generator=gen, dtype=torch.float64) * 2
    llp = torch.randn(b, t, generator=gen, dtype=torch.float64)
    base = torch.rand(b, t, generator=gen, dtype=torch.float64)
    leaves = [x.clone().requires_grad_(True) for x in (alp, llp, base)]
    value = score_function_surrogate(torch.stack(leaves[:2], -1), rewards_to_go(rewards), leaves[2])
    grads = torch.autograd.grad(value, leaves, allow_unused=True)
    grads = {
        name: torch.zeros_like(x) if g is None else g
        for name, x, g in zip(("action_log_probs", "location_log_probs", "baselines"), leaves, grads)
    }
    return Case(
        description,
        args=tuple(x.clone().requires_grad_(True) for x in (alp, llp)) + (rewards, base.clone().requires_grad_(True)),
        expected=(value.detach(), grads),
        hint=hint,
    )


def check_two_head_surrogate(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check the two-head REINFORCE surrogate with rewards-to-go and a baseline, Eq. (agent-two-head) of Chapter 3.

    The student's function is called as ``fn(action_log_probs, location_log_probs, rewards, baselines)``,
    four float tensors ``(B, T)``: the log-probabilities of the sampled actions and locations (they carry
    the gradient), the reward paid after each step, and the baseline ``b_t`` of each step (it requires grad
    here, as a learned baseline's output does). It must return the scalar surrogate

    ``- mean over games of sum over steps of (R_t - b_t) (log pi_a + log pi_l)``, with ``R_t`` the reward
    still to come at step ``t``, whose gradient is minus the estimate of Eq. (agent-two-head).

    Both the value and the gradients with respect to the two log-probabilities and the baselines are compared
    (the baseline is a constant of the surrogate: its gradient there is zero).

    Parameters
    ----------
    fn
        The student's surrogate.
    verbose
        Print the report.

    Returns
    -------
    Report
        One outcome per case; the expected values come from :func:`attnlib.reinforce.rewards_to_go` and
        :func:`attnlib.reinforce.score_function_surrogate`.
    """
    require_function(fn)
    verbose = checks.flag(verbose, "verbose")
    gen = torch.Generator().manual_seed(5)
    terminal = torch.zeros(4, 6, dtype=torch.float64)
    terminal[:, -1] = torch.tensor([1.0, 0.0, 1.0, 1.0])
    per_step = terminal.clone()
    per_step[:, :-1] = -0.01 * torch.randint(0, 2, (4, 5), generator=gen).to(torch.float64)
    cases = [
        _surrogate_case(
            "4 games of 6 steps, reward 0/1 at the last step only (Catch)",
            terminal,
            0,
            "minus the mean over games of the sum over steps of (R_t - b_t) (log pi_a + log pi_l): "
            "average over games, sum over steps, and mind the sign (optimisers minimise)",
        ),
        _surrogate_case(
            "4 games of 6 steps, a cost of -0.01 for some moves, and 0/1 at the end",
            per_step,
            1,
            "weight step t by the reward still to come, R_t = sum over t' >= t of r_t', not by the whole return",
        ),
        _surrogate_case(
            "1 game of 3 steps, rewards at every step",
            torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64),
            2,
            "both heads share the advantage R_t - b_t of their step; the baseline is a constant: detach it",
        ),
    ]
    return check_cases(
        _with_gradients(fn),
        cases,
        exercise="Exercise: the two-head REINFORCE surrogate",
        check=_check_surrogate,
        verbose=verbose,
    )
