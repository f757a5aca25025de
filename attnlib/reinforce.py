"""Score-function (REINFORCE) gradients and the baselines that tame their variance.

Chapter 1 derives, for a policy :math:`\\pi_\\theta(a)` and a reward :math:`r(a)`,

.. math::

    \\nabla_\\theta\\, \\mathbb{E}_{a\\sim\\pi_\\theta}[r(a)]
      = \\mathbb{E}_{a\\sim\\pi_\\theta}\\big[(r(a) - b)\\,\\nabla_\\theta \\log \\pi_\\theta(a)\\big]
      \\qquad \\text{Eq. (foundations-score), (foundations-baseline)}

for any baseline :math:`b` that does not depend on the action. Automatic
differentiation cannot differentiate through the sampling, so we hand it a
*surrogate* loss whose gradient is this estimate (with a minus sign, because
optimisers minimise). The reward and the baseline are constants of the
surrogate: they are detached, always.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from attnlib import checks

__all__ = [
    "LearnedBaseline",
    "MovingAverageBaseline",
    "baseline_loss",
    "rewards_to_go",
    "score_function_surrogate",
]


def _finite_number(value: object, name: str) -> float:
    """``value`` if it is a finite real number (an int or float, not a bool), else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def _align_leading(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Append singleton dims so that ``x``'s dims line up with the *leading* dims of a tensor of rank ``ndim``."""
    return x.reshape(x.shape + (1,) * (ndim - x.ndim))


def _as_tensor(value: torch.Tensor | float, like: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        if isinstance(value, (str, bytes)) or value is None:
            raise ValueError(f"{name} must be a number or a tensor, got {value!r}")
        try:
            value = torch.as_tensor(value, dtype=like.dtype, device=like.device)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name} must be a number or a tensor, got {type(value).__name__}") from err
    if value.is_complex():
        raise ValueError(f"{name} must be real, got dtype {value.dtype}")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} must be finite, got non-finite values")
    return value.detach().to(like.dtype)


def score_function_surrogate(
    log_prob: torch.Tensor,
    reward: torch.Tensor | float,
    baseline: torch.Tensor | float | None = None,
    sample_dims: int = 1,
) -> torch.Tensor:
    """Surrogate loss whose gradient is minus the REINFORCE estimate of ``d E[reward] / d theta``.

    Implements Eq. (foundations-score) with the baseline of Eq. (foundations-baseline):

    ``loss = - mean_over_samples( sum_over_actions( (reward - baseline) * log_prob ) )``

    Parameters
    ----------
    log_prob
        ``(*S, *A)``: log-probabilities of the sampled actions, carrying the
        gradient to the policy's parameters. The first ``sample_dims`` dims
        ``S`` index independent samples (the batch, or Monte Carlo draws) and
        are averaged; the remaining dims ``A`` index the actions that make up
        one sample (time steps of a trajectory, coordinates of a location) and
        are summed, since the log-probability of a trajectory is the sum of
        its actions' log-probabilities.
    reward
        A float, or a tensor whose dims match the *leading* dims of
        ``log_prob`` (``(*S,)`` for one reward per trajectory, ``(*S, T)`` for a
        reward-to-go per step). Detached: it never receives a gradient.
    baseline
        ``None`` (no baseline), a float, or a tensor aligned like ``reward``
        (for example a learned baseline per time step ``(B, T)``). Detached.
    sample_dims
        How many leading dims of ``log_prob`` are sample dims.

    Returns
    -------
    A scalar tensor. Its gradient is an unbiased estimate of
    ``-grad E[reward]`` whatever the baseline, as long as the baseline does
    not depend on the sampled action.
    """
    advantage = _advantage(log_prob, reward, baseline, sample_dims)  # detached, aligned with log_prob
    terms = advantage * log_prob
    # average over samples, sum over the actions that make up one sample
    per_sample = terms.flatten(sample_dims).sum(-1) if terms.ndim > sample_dims else terms
    return -per_sample.mean()


def _advantage(
    log_prob: torch.Tensor, reward: torch.Tensor | float, baseline: torch.Tensor | float | None, sample_dims: int
) -> torch.Tensor:
    """``reward - baseline``, validated, detached and broadcast to ``log_prob``'s shape."""
    if not isinstance(log_prob, torch.Tensor) or log_prob.ndim < 1:
        raise ValueError("log_prob must be a tensor with at least one (sample) dim")
    checks.tensor(log_prob, "log_prob", dtype="float")
    if isinstance(sample_dims, bool) or not isinstance(sample_dims, int) or not 1 <= sample_dims <= log_prob.ndim:
        raise ValueError(
            f"sample_dims must be in [1, {log_prob.ndim}] for log_prob of rank {log_prob.ndim}, got {sample_dims}"
        )
    if 0 in log_prob.shape[:sample_dims]:
        raise ValueError(
            f"log_prob must hold at least one sample (its first {sample_dims} dim(s)), got shape "
            f"{tuple(log_prob.shape)}: an empty batch would make the surrogate NaN"
        )
    if not torch.isfinite(log_prob).all():
        raise ValueError("log_prob must be finite (a sampled action had zero probability?)")
    advantage = _as_tensor(reward, log_prob, "reward")
    if baseline is not None:
        b = _as_tensor(baseline, log_prob, "baseline")
        if b.ndim > 0 and advantage.ndim > 0 and b.ndim != advantage.ndim:
            rank = max(b.ndim, advantage.ndim)
            b, advantage = _align_leading(b, rank), _align_leading(advantage, rank)
        advantage = advantage - b
    if advantage.ndim > log_prob.ndim:
        raise ValueError(
            f"reward/baseline of shape {tuple(advantage.shape)} has more dims than log_prob {tuple(log_prob.shape)}"
        )
    advantage = _align_leading(advantage, log_prob.ndim)
    try:
        return torch.broadcast_tensors(advantage, log_prob)[0]
    except RuntimeError as err:
        raise ValueError(
            f"reward/baseline of shape {tuple(advantage.shape)} do not line up with the leading dims of "
            f"log_prob {tuple(log_prob.shape)}"
        ) from err


class MovingAverageBaseline(nn.Module):
    """An exponential moving average of the mean reward: ``b <- m * b + (1 - m) * mean(reward)``.

    The baseline Xu et al. use for hard attention (``m = 0.9``). It is a
    constant with respect to the current action, so it keeps the estimate
    unbiased; it is stored as a buffer so it follows ``.to(device)`` and
    ``state_dict``.

    With ``steps`` it keeps one average per time step instead, ``b_t``, for
    rewards ``(B, T)`` such as rewards-to-go (Eq. (sat-reward-to-go)), whose
    scale shrinks along the sequence; each ``b_t`` averages only the
    sequences that reach step ``t`` (see ``mask`` in :meth:`update`).
    """

    value: torch.Tensor

    def __init__(self, momentum: float = 0.9, initial: float = 0.0, steps: int | None = None) -> None:
        super().__init__()
        if checks.probability(momentum, "momentum") == 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if steps is not None:
            checks.positive_int(steps, "steps")
        _finite_number(initial, "initial")
        self.momentum, self.steps = momentum, steps
        shape = () if steps is None else (steps,)
        self.register_buffer("value", torch.full(shape, float(initial)))
        self.register_buffer("initialised", torch.zeros(shape, dtype=torch.bool))

    def forward(self) -> torch.Tensor:
        """The current baseline (a detached scalar, or ``(steps,)``)."""
        return self.value.detach().clone()

    @torch.no_grad()
    def update(self, reward: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Fold the mean of ``reward`` into the average; return the baseline *before* the update.

        Returning the old value is what keeps the estimate unbiased: the
        baseline used for a batch must not depend on that batch's rewards.
        The first call sets the average to the batch mean instead of mixing it
        with the arbitrary initial value.

        Per step (``steps`` given): ``reward (B, T)`` with ``T <= steps`` and an
        optional bool ``mask (B, T)`` of the entries that exist; ``b_t`` moves
        towards the mean of column ``t`` over its unmasked entries, columns with
        none are left alone, and the old ``b_1..b_T`` are returned as ``(T,)``.
        """
        checks.tensor(reward, "reward")
        if reward.is_complex():
            raise ValueError(f"reward must be real, got dtype {reward.dtype}")
        if mask is not None:
            checks.tensor(mask, "mask")
        if self.steps is None:
            if mask is not None:
                raise ValueError("mask is for a per-step baseline (steps=...); this one keeps a single average")
            if reward.numel() == 0:
                raise ValueError("reward must hold at least one value, got an empty batch")
            return self._update_scalar(reward)
        if reward.ndim != 2 or reward.shape[1] > self.steps:
            raise ValueError(f"reward must be (B, T) with T <= steps = {self.steps}, got {tuple(reward.shape)}")
        if mask is not None and mask.shape != reward.shape:
            raise ValueError(f"mask must be {tuple(reward.shape)} like reward, got {tuple(mask.shape)}")
        reward = reward.detach().to(self.value)
        if not torch.isfinite(reward).all():
            raise ValueError("reward must be finite")
        weight = torch.ones_like(reward) if mask is None else mask.to(reward)
        count = weight.sum(0)
        mean = (reward * weight).sum(0) / count.clamp(min=1)
        width = reward.shape[1]
        old = self.value[:width].clone()
        seen = self.initialised[:width]
        blended = torch.where(seen, self.momentum * old + (1 - self.momentum) * mean, mean)
        self.value[:width] = torch.where(count > 0, blended, old)
        self.initialised[:width] = seen | (count > 0)
        return old

    def _update_scalar(self, reward: torch.Tensor) -> torch.Tensor:
        old = self.value.clone()
        mean = reward.detach().float().mean().to(self.value)
        if not torch.isfinite(mean):
            raise ValueError("reward must be finite")
        if bool(self.initialised):
            self.value.mul_(self.momentum).add_((1 - self.momentum) * mean)
        else:
            self.value.copy_(mean)
            self.initialised.fill_(True)
        return old


def rewards_to_go(rewards: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``R_t = sum_{t' >= t} r_{t'}`` along the last dim: the reward still to come at each step.

    ``rewards (..., T)`` per step, optional bool ``mask`` of the same shape (masked rewards count as 0).
    An action at step ``t`` cannot change rewards already received, so weighting its score by ``R_t``
    instead of the whole return keeps the estimate unbiased and drops their noise (Eq. (sat-reward-to-go),
    Chapter 5). Detached.
    """
    checks.tensor(rewards, "rewards")
    if rewards.ndim < 1:
        raise ValueError("rewards must have a time dim (last), got a scalar")
    if rewards.is_complex():
        raise ValueError(f"rewards must be real, got dtype {rewards.dtype}")
    checks.finite(rewards, "rewards")
    if mask is not None:
        checks.tensor(mask, "mask")
        if mask.shape != rewards.shape:
            raise ValueError(f"mask must be {tuple(rewards.shape)} like rewards, got {tuple(mask.shape)}")
        rewards = rewards * mask.to(rewards.dtype)
    return rewards.detach().flip(-1).cumsum(-1).flip(-1)


class LearnedBaseline(nn.Module):
    """A learned, state-dependent baseline ``b(h) = w^T h + c`` (Mnih et al. 2014).

    The input is detached: the baseline learns to predict the reward from the
    agent's state but must not reshape that state to make prediction easy.
    Train it with :func:`baseline_loss`.
    """

    def __init__(self, in_features: int) -> None:
        super().__init__()
        checks.positive_int(in_features, "in_features")
        self.linear = nn.Linear(in_features, 1)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """``state (..., in_features)`` -> baseline ``(...)``."""
        checks.tensor(state, "state", dtype="float")
        if state.ndim < 1 or state.shape[-1] != self.linear.in_features:
            raise ValueError(f"state must end in {self.linear.in_features} features, got {tuple(state.shape)}")
        return self.linear(state.detach()).squeeze(-1)


def baseline_loss(baseline: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
    """Mean squared error between a learned baseline and the (detached) reward it predicts.

    ``reward`` is aligned with the leading dims of ``baseline`` (one reward per
    trajectory against a baseline per step).
    """
    checks.tensor(baseline, "baseline", dtype="float")
    checks.tensor(reward, "reward")
    checks.finite(baseline, "baseline")
    checks.finite(reward, "reward")
    if reward.ndim > baseline.ndim:
        raise ValueError(f"reward {tuple(reward.shape)} has more dims than baseline {tuple(baseline.shape)}")
    if baseline.numel() == 0:
        raise ValueError(f"baseline must hold at least one value, got shape {tuple(baseline.shape)} (an empty batch)")
    target = _align_leading(reward.detach().to(baseline.dtype), baseline.ndim)
    try:
        target = target.expand_as(baseline)
    except RuntimeError as err:
        raise ValueError(
            f"reward {tuple(reward.shape)} does not line up with baseline {tuple(baseline.shape)}"
        ) from err
    return nn.functional.mse_loss(baseline, target)
