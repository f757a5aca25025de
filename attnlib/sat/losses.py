"""Training objectives of Show, Attend and Tell (Chapter 5).

* soft attention: the caption's negative log-likelihood plus the doubly stochastic penalty
  (Eq. (sat-soft-loss));
* hard attention: the variational lower bound ``L_s = E_s[log p(y | s, a)]`` maximised with its Monte Carlo
  gradient (Eq. (sat-hard-grad)): back-propagation through ``log p(y | s, a)`` for the decoder, and a
  REINFORCE term ``(log p(y | s, a) - b) grad log p(s | a)`` for the attention, with the moving-average
  baseline ``b`` and an entropy bonus ``lambda_e grad H[s]``; optionally each location is scored by the
  log-likelihood of the words from its step on only (Eq. (sat-reward-to-go)), with a baseline per step.

Losses are summed over the words of a caption and averaged over the batch, as in the paper.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from attnlib import checks
from attnlib.reinforce import MovingAverageBaseline, rewards_to_go, score_function_surrogate

__all__ = ["caption_nll", "doubly_stochastic_penalty", "hard_attention_loss"]


def caption_nll(logits: torch.Tensor, targets: torch.Tensor, pad: int = 0) -> torch.Tensor:
    """``-log p(y | a)`` per caption: ``logits (B, T, V)``, ``targets (B, T)`` (``pad`` ignored) -> ``(B,)``.

    ``targets`` must be integer ids in ``[0, V)`` and the batch non-empty (checked)."""
    checks.tensor(logits, "logits", ndim=3, dtype="float")
    checks.tensor(targets, "targets", dtype="int")
    if targets.shape != logits.shape[:2]:
        raise ValueError(
            f"logits must be (B, T, V) and targets (B, T), got {tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    if logits.shape[0] < 1 or logits.shape[1] < 1:
        raise ValueError(f"logits must hold at least one caption and one step, got {tuple(logits.shape)}")
    checks.non_negative_int(pad, "pad")
    checks.ids_in_range(targets, logits.shape[-1], "targets", allow=(pad,))
    checks.finite(logits, "logits")
    nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=pad, reduction="none")
    return nll.sum(1)


def doubly_stochastic_penalty(
    alphas: torch.Tensor, step_mask: torch.Tensor | None = None, weight: float = 1.0
) -> torch.Tensor:
    """``weight * sum_i (1 - sum_t alpha_ti)^2``, averaged over the batch (the penalty term of Eq. (sat-soft-loss)).

    Parameters
    ----------
    alphas
        ``(B, T, L)`` attention weights of every step.
    step_mask
        Optional bool ``(B, T)``: steps that belong to the caption (padding steps do not attend).
    weight
        ``lambda``, non-negative.
    """
    checks.tensor(alphas, "alphas", ndim=3, dtype="float")
    if alphas.shape[0] < 1:
        raise ValueError(f"alphas must hold at least one caption, got {tuple(alphas.shape)}")
    checks.non_negative_float(weight, "weight")
    checks.finite(alphas, "alphas")
    if step_mask is not None:
        checks.tensor(step_mask, "step_mask", shape=tuple(alphas.shape[:2]), dtype="bool")
        alphas = alphas * step_mask[..., None].to(alphas.dtype)
    coverage = alphas.sum(1)  # (B, L): total attention each location received
    return weight * ((1.0 - coverage) ** 2).sum(-1).mean()


def hard_attention_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    log_probs: torch.Tensor,
    entropies: torch.Tensor,
    sampled: torch.Tensor,
    baseline: MovingAverageBaseline | None = None,
    entropy_weight: float = 0.002,
    reinforce_weight: float = 1.0,
    pad: int = 0,
    reward_to_go: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Surrogate loss whose gradient is minus the estimate of Eq. (sat-hard-grad).

    Parameters
    ----------
    logits, targets
        As in :func:`caption_nll`, from a ``hard`` pass of the decoder.
    log_probs, entropies, sampled
        ``(B, T)`` from the same pass: ``log alpha_{t, s_t}``, ``H[alpha_t]`` and where the sample was used.
        Steps where the expectation replaced the sample, and padding steps, get no REINFORCE term: the
        caption does not depend on the sample there.
    baseline
        The moving average ``b <- 0.9 b + 0.1 mean log p(y | s, a)`` (updated here, after reading it, so a
        batch never baselines itself); ``None`` runs REINFORCE without a baseline. With ``reward_to_go``,
        pass a per-step :class:`~attnlib.reinforce.MovingAverageBaseline` (``steps >= T``) for ``b_t``.
    entropy_weight, reinforce_weight
        ``lambda_e`` and ``lambda_r``.
    reward_to_go
        Score the location sampled at step ``t`` by ``R_t = sum_{t' >= t} log p(y_t' | ...)`` (Eq.
        (sat-reward-to-go)) instead of the whole caption's log-likelihood (Eq. (sat-hard-grad)): words
        before ``t`` were predicted before ``s_t`` was drawn, so their terms average to zero and only add noise.

    Returns
    -------
    loss
        A scalar to back-propagate.
    logs
        ``nll``, ``reward`` (mean log-likelihood), ``baseline``, ``entropy`` (mean per step).
    """
    checks.tensor(targets, "targets", ndim=2, dtype="int")
    checks.tensor(log_probs, "log_probs", dtype="float")
    checks.tensor(entropies, "entropies", dtype="float")
    checks.tensor(sampled, "sampled", dtype="bool")
    checks.flag(reward_to_go, "reward_to_go")
    checks.finite(log_probs, "log_probs")
    checks.finite(entropies, "entropies")
    if log_probs.shape != targets.shape or entropies.shape != targets.shape or sampled.shape != targets.shape:
        raise ValueError(
            f"log_probs, entropies and sampled must all be {tuple(targets.shape)}, got "
            f"{tuple(log_probs.shape)}, {tuple(entropies.shape)}, {tuple(sampled.shape)}"
        )
    checks.non_negative_float(entropy_weight, "entropy_weight")
    checks.non_negative_float(reinforce_weight, "reinforce_weight")
    if baseline is not None and not isinstance(baseline, MovingAverageBaseline):
        raise ValueError(f"baseline must be a MovingAverageBaseline or None, got {type(baseline).__name__}")
    if reward_to_go and baseline is not None and baseline.steps is None:
        raise ValueError("baseline must be a per-step MovingAverageBaseline(steps=...) when reward_to_go is set")
    nll = caption_nll(logits, targets, pad)  # checks logits (finite) and targets (ids)
    steps = targets != pad
    if reward_to_go:
        word_nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=pad, reduction="none")  # (B, T)
        reward = rewards_to_go(-word_nll, steps)  # (B, T): log-likelihood of the words from step t on
        b = baseline.update(reward, steps)[None] if baseline is not None else None  # (1, T)
    else:
        reward = -nll.detach()  # log p(y | s, a): the "reward" of the sampled attention path
        b = baseline.update(reward) if baseline is not None else None
    policy = log_probs * (steps & sampled).to(log_probs.dtype)
    reinforce = score_function_surrogate(policy, reward, b, sample_dims=1)
    entropy = (entropies * steps.to(entropies.dtype)).sum(1).mean()
    loss = nll.mean() + reinforce_weight * reinforce - entropy_weight * entropy
    first = (lambda x: x[:, 0]) if reward_to_go else (lambda x: x)  # noqa: E731 (R_1 is the whole caption)
    logs = {
        "nll": nll.mean().item(),
        "reward": first(reward).mean().item(),
        "baseline": float(first(b)) if b is not None else 0.0,
        "entropy": (entropy / steps.sum(1).float().mean()).item(),
    }
    return loss, logs
