"""Checkers for the coding exercises of Chapter 5 (Show, Attend and Tell).

* :func:`check_doubly_stochastic_penalty`: the penalty term of Eq. (sat-soft-loss),
  ``lambda * sum_i (1 - sum_t alpha_ti)^2`` averaged over the batch, with padding steps left out;
* :func:`check_additive_attention`: the scores and weights of Eq. (sat-score) and Eq. (sat-alpha) with a
  mask, and the expected annotation of Eq. (sat-soft);
* :func:`check_hard_attention_reinforce`: the REINFORCE term of Eq. (sat-hard-grad) as a surrogate loss, with
  the moving-average baseline of Eq. (sat-baseline).

Each checker compares the student's function with the library (:func:`attnlib.sat.losses.doubly_stochastic_penalty`,
:class:`attnlib.sat.attention.AdditiveAttention` given the same weights, :func:`attnlib.reinforce.score_function_surrogate`
and the update of :class:`attnlib.reinforce.MovingAverageBaseline`) on small seeded cases and prints, for a case that
fails, what differs and a hint; it never prints the expected values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..reinforce import score_function_surrogate
from ..sat.attention import AdditiveAttention
from ..sat.losses import doubly_stochastic_penalty
from .core import Case, Report, check_cases, compare

__all__ = ["check_doubly_stochastic_penalty", "check_additive_attention", "check_hard_attention_reinforce"]


def _alphas(batch: int, steps: int, locations: int, seed: int, scale: float = 2.0) -> torch.Tensor:
    """Attention weights ``(B, T, L)``: a softmax over the locations of seeded random scores."""
    scores = torch.randn(batch, steps, locations, generator=torch.Generator().manual_seed(seed))
    return torch.softmax(scale * scores, dim=-1)


def check_doubly_stochastic_penalty(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check a student's doubly stochastic penalty, the penalty term of Eq. (sat-soft-loss).

    The function is called as ``fn(alphas, step_mask, weight)`` with

    * ``alphas``: ``(B, T, L)`` attention weights, each step's row summing to one over the ``L`` locations;
    * ``step_mask``: ``None`` or a bool ``(B, T)``, true on the steps that belong to the caption (padding
      steps attend too, but their weights must not count);
    * ``weight``: ``lambda``, a float,

    and must return a 0-dimensional tensor: ``lambda * sum_i (1 - sum_t alpha_ti)^2``, summed over the
    locations and averaged over the captions of the batch. The expected values come from
    :func:`attnlib.sat.losses.doubly_stochastic_penalty`.

    Parameters
    ----------
    fn
        The student's function.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case passed.
    """
    cases = []

    def add(description: str, alphas: torch.Tensor, mask: torch.Tensor | None, weight: float, hint: str) -> None:
        expected = doubly_stochastic_penalty(alphas, mask, weight)
        cases.append(Case(description, args=(alphas, mask, weight), expected=expected, hint=hint))

    add(
        "one caption, 3 steps, 4 locations, lambda = 1, no mask",
        _alphas(1, 3, 4, seed=0),
        None,
        1.0,
        "coverage is the sum over the steps t (dim 1) of alpha_ti, one value per location i; "
        "each step's weights already sum to one over the locations",
    )
    add(
        "3 captions, 4 steps, 6 locations, lambda = 1, no mask",
        _alphas(3, 4, 6, seed=1),
        None,
        1.0,
        "sum the squared gaps over the locations, then average over the captions of the batch "
        "(a 0-dimensional tensor, not one value per caption)",
    )
    add(
        "2 captions, 5 steps, 8 locations, lambda = 0.5, no mask",
        _alphas(2, 5, 8, seed=2),
        None,
        0.5,
        "multiply by the weight lambda",
    )
    mask = torch.tensor([[True, True, True, False, False], [True, True, True, True, True]])
    add(
        "2 captions of 3 and 5 words padded to 5 steps, 7 locations, lambda = 1",
        _alphas(2, 5, 7, seed=3),
        mask,
        1.0,
        "padding steps (step_mask false) are not part of the caption: leave their weights out of the coverage",
    )
    add(
        "one caption, 1 step, 1 location (coverage exactly 1), lambda = 2",
        torch.ones(1, 1, 1),
        torch.ones(1, 1, dtype=torch.bool),
        2.0,
        "with a single location that every step attends to, the coverage is 1 and the penalty 0",
    )
    return check_cases(fn, cases, exercise="doubly stochastic penalty", verbose=verbose)


def _weights(feature_dim: int, query_dim: int, attention_dim: int, seed: int) -> dict[str, torch.Tensor]:
    """Seeded weights of the scoring MLP: ``W_a (A, D)``, ``W_h (A, Q)``, ``b (A,)``, ``w (A,)``."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "W_a": torch.randn(attention_dim, feature_dim, generator=generator),
        "W_h": torch.randn(attention_dim, query_dim, generator=generator),
        "b": torch.randn(attention_dim, generator=generator),
        "w": torch.randn(attention_dim, generator=generator),
    }


def _library_attention(
    features: torch.Tensor, query: torch.Tensor, weights: dict[str, torch.Tensor], mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:class:`AdditiveAttention` with the given weights copied in: ``(context, alpha)``."""
    attention_dim, feature_dim = weights["W_a"].shape
    module = AdditiveAttention(feature_dim, weights["W_h"].shape[1], attention_dim)
    with torch.no_grad():
        module.key.weight.copy_(weights["W_a"])
        module.key.bias.copy_(weights["b"])
        module.query.weight.copy_(weights["W_h"])
        module.score.weight.copy_(weights["w"][None])
        context, alpha = module(features, query, mask)
    return context, alpha


def _check_attention(case: Case, got: Any) -> str | None:
    """Compare ``(context, alpha)``; say first when the weights do not sum to one or leak onto masked cells."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"the result: expected a pair (context, alpha), got {type(got).__name__}"
    context, alpha = got
    problem = compare(case.expected[1], alpha, name="alpha")
    if problem is not None and isinstance(alpha, torch.Tensor) and alpha.shape == case.expected[1].shape:
        sums = alpha.detach().to(torch.float64).sum(-1)
        if ((sums - 1).abs() > 1e-4).any():
            problem += f" (a row of alpha sums to {sums[(sums - 1).abs().argmax()].item():.4g}, not 1)"
        mask = case.args[6]
        if mask is not None and alpha.detach()[~mask].abs().max() > 0:
            problem += " (a masked location has a non-zero weight)"
        return problem
    return problem if problem is not None else compare(case.expected[0], context, name="context")


def check_additive_attention(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check a student's additive (Bahdanau) attention: Eq. (sat-score), Eq. (sat-alpha) and Eq. (sat-soft).

    The function is called as ``fn(features, query, W_a, W_h, b, w, mask)`` with

    * ``features``: ``(B, L, D)`` annotation vectors ``a_i``; ``query``: ``(B, Q)``, the hidden state ``h``;
    * ``W_a``: ``(A, D)``, ``W_h``: ``(A, Q)``, ``b``: ``(A,)``, ``w``: ``(A,)``, the scoring MLP
      ``e_i = w^T tanh(W_a a_i + W_h h + b)`` (matrices in the layout of ``nn.Linear.weight``);
    * ``mask``: ``None`` or a bool ``(B, L)``, true where a location may be attended,

    and must return ``(context, alpha)``: ``alpha (B, L)`` the softmax of the scores over the valid
    locations (exactly zero on masked ones), ``context (B, D) = sum_i alpha_i a_i``. The expected values
    come from :class:`attnlib.sat.attention.AdditiveAttention` with the same weights copied in.

    Parameters
    ----------
    fn
        The student's function.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case passed.
    """
    cases = []

    def add(description: str, shape: tuple[int, int, int, int, int], seed: int, mask, hint: str, scale=1.0):
        batch, length, feature_dim, query_dim, attention_dim = shape
        generator = torch.Generator().manual_seed(100 + seed)
        features = torch.randn(batch, length, feature_dim, generator=generator)
        query = torch.randn(batch, query_dim, generator=generator)
        weights = {k: scale * v for k, v in _weights(feature_dim, query_dim, attention_dim, seed).items()}
        expected = _library_attention(features, query, weights, mask)
        args = (features, query, weights["W_a"], weights["W_h"], weights["b"], weights["w"], mask)
        cases.append(Case(description, args=args, expected=expected, hint=hint))

    add(
        "1 image, 5 locations, D = 3, Q = 4, A = 6, no mask",
        (1, 5, 3, 4, 6),
        seed=0,
        mask=None,
        hint="score e_i = w . tanh(W_a a_i + W_h h + b): the tanh comes before the dot product with w, "
        "and alpha is a softmax over the L locations",
    )
    add(
        "3 images with different queries, 4 locations, D = 2, Q = 3, A = 5, no mask",
        (3, 4, 2, 3, 5),
        seed=1,
        mask=None,
        hint="each image is scored against its own query h (broadcast W_h h over the locations, not over the batch)",
    )
    add(
        "2 images, 6 locations, the last 2 and 4 masked out",
        (2, 6, 3, 3, 4),
        seed=2,
        mask=torch.tensor([[True, True, True, True, False, False], [True, True, False, False, False, False]]),
        hint="set the scores of masked locations to -inf before the softmax: zeroing the weights after it "
        "leaves rows that do not sum to one",
    )
    add(
        "1 image, 1 location (alpha must be exactly 1)",
        (1, 1, 2, 2, 3),
        seed=3,
        mask=None,
        hint="with one location the softmax gives weight 1 and the context is that location's annotation",
    )
    add(
        "2 images, 7 locations, large weights (scores in the hundreds)",
        (2, 7, 4, 4, 8),
        seed=4,
        mask=torch.tensor([[True] * 7, [False, True, True, True, True, True, True]]),
        hint="exp of a large score overflows: use torch.softmax (or subtract the row's maximum first)",
        scale=60.0,
    )
    return check_cases(fn, cases, exercise="additive attention", check=_check_attention, verbose=verbose)


def _check_reinforce(case: Case, got: Any) -> str | None:
    """Compare ``(surrogate, new_baseline)``; first, neither may carry a gradient to the reward."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"the result: expected a pair (surrogate, new_baseline), got {type(got).__name__}"
    log_probs, reward = case.args[0], case.args[2]
    if reward.requires_grad and not log_probs.requires_grad:
        for name, value in zip(("surrogate", "new_baseline"), got):
            if isinstance(value, torch.Tensor) and value.requires_grad:
                return f"{name}: it carries a gradient to the reward (the reward must be a constant here)"
    return compare(case.expected, got, name="the result")


def check_hard_attention_reinforce(fn: Callable[..., Any], *, verbose: bool = True) -> Report:
    """Check a student's REINFORCE term for hard attention: Eq. (sat-hard-grad) with Eq. (sat-baseline).

    The function is called as ``fn(log_probs, used, reward, baseline, momentum)`` with

    * ``log_probs``: ``(B, T)``, ``log alpha_{t, s_t}``, the log-probability of the location sampled at each
      step (it carries the gradient to the attention);
    * ``used``: a bool ``(B, T)``, true on the steps that belong to the caption and fed the sample to the
      decoder (false on padding and where the expectation replaced the sample);
    * ``reward``: ``(B,)``, ``log p(y | s, a)`` of each caption;
    * ``baseline``: the moving average ``b`` so far, a 0-dimensional tensor; ``momentum``: its decay (0.9),

    and must return ``(surrogate, new_baseline)``: the scalar
    ``-mean_over_captions[(reward - b) * sum_over_used_steps(log_probs)]``, whose gradient is minus the score
    term of Eq. (sat-hard-grad) (the reward is a constant: no gradient may flow into it), and the updated
    average ``momentum * b + (1 - momentum) * mean(reward)`` (Eq. (sat-baseline)), 0-dimensional and
    detached. The batch is baselined with the old ``b``, not the updated one. The expected values come from
    :func:`attnlib.reinforce.score_function_surrogate`.

    Parameters
    ----------
    fn
        The student's function.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case passed.
    """
    cases = []

    def add(description, batch, steps, seed, baseline, hint, momentum=0.9, used=None, grad_on_reward=False):
        generator = torch.Generator().manual_seed(200 + seed)
        log_probs = torch.log(torch.rand(batch, steps, generator=generator) * 0.9 + 0.05)
        reward = -3.0 * torch.rand(batch, generator=generator) - 1.0
        used = torch.ones(batch, steps, dtype=torch.bool) if used is None else used
        b = torch.tensor(float(baseline))
        surrogate = score_function_surrogate(log_probs * used.to(log_probs.dtype), reward, b, sample_dims=1)
        new_baseline = momentum * b + (1.0 - momentum) * reward.mean()
        if grad_on_reward:
            reward.requires_grad_(True)
        else:
            log_probs.requires_grad_(True)
        cases.append(
            Case(
                description,
                args=(log_probs, used, reward, b, momentum),
                expected=(surrogate.detach(), new_baseline.detach()),
                hint=hint,
            )
        )

    add(
        "4 captions, 3 steps, every sample used, baseline 0",
        4,
        3,
        seed=0,
        baseline=0.0,
        hint="surrogate = -mean over captions of (reward - b) * (sum of log_probs over the used steps), with the b "
        "you were given; the minus sign makes gradient descent on it climb the reward",
    )
    add(
        "3 captions, 4 steps, every sample used, baseline -2.5",
        3,
        4,
        seed=1,
        baseline=-2.5,
        hint="baseline this batch with the b you were given (the old value, which does not depend on the batch); "
        "the new value is momentum * b + (1 - momentum) * mean(reward)",
    )
    add(
        "2 captions, 5 steps, some steps padding or fed the expectation",
        2,
        5,
        seed=2,
        baseline=-1.0,
        used=torch.tensor([[True, False, True, True, False], [False, True, True, False, False]]),
        hint="steps where used is false (padding, or the expectation instead of the sample) get no score term",
    )
    add(
        "3 captions, 2 steps, momentum 0.5",
        3,
        2,
        seed=3,
        baseline=-2.0,
        momentum=0.5,
        hint="the update is momentum * b + (1 - momentum) * mean(reward), with the momentum you are given",
    )
    add(
        "2 captions, 3 steps, the reward comes with a gradient (as log p(y | s, a) does in training)",
        2,
        3,
        seed=4,
        baseline=-1.5,
        grad_on_reward=True,
        hint="detach the reward (and the baseline): in the score term it is a weight, and the decoder gets its "
        "gradient from backpropagation through log p(y | s, a) separately",
    )
    return check_cases(fn, cases, exercise="hard attention: REINFORCE with a baseline", check=_check_reinforce,
                       verbose=verbose)  # fmt: skip
