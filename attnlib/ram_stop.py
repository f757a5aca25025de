"""Chapter 3: learning when to stop looking. A RAM that can answer after any glimpse, and a stop action.

:class:`AnytimeRAM` is Chapter 2's RAM with its classifier read after *every* glimpse: ``logits_t =
W_c h_t`` for ``t = 1 .. T``. It learns by cross-entropy averaged over the steps and, for its locations,
by REINFORCE on the correctness still to come: a location chosen after glimpse ``t`` can change the answers
of steps ``t + 1 .. T``, so it is weighted by the reward-to-go of ``c_{t'} / T`` (``c`` = 1 when step ``t'``
answers right), with the learned baseline of Chapter 2 (:func:`anytime_loss`).

The stop action (Eq. (agent-stop)). After glimpse ``t < T`` a Bernoulli head decides ``s_t = 1`` (stop and
answer with ``logits_t``) with probability ``p_t = sigmoid(f_s(h_t))``; at ``t = T`` the agent must answer.
With ``tau`` the step it stops at, the trajectory's probability is
``prod_{t < tau} (1 - p_t) * p_tau`` (no ``p_T`` factor when ``tau = T``) and its return
``R = 1[answer right] - lambda (tau - 1)``: every decision to continue costs ``lambda``, the price of one more
glimpse (the first is free). The per-step rewards are ``r_t = -lambda`` for ``t < tau`` and ``r_tau =
c_tau``, so the score-function gradient weights the decision at step ``t`` by ``R_t = sum_{t' >= t} r_{t'}``
(Eq. (agent-stop-gradient)); :func:`stop_loss` builds it from :func:`attnlib.reinforce.rewards_to_go`,
:func:`attnlib.reinforce.score_function_surrogate` and a per-step
:class:`attnlib.reinforce.MovingAverageBaseline`.

The stop head reads the (detached) state and the answer's log-probabilities, so in the chapter it is
trained on a frozen, warm-started :class:`AnytimeRAM`: the rollout runs all ``T`` glimpses (vectorised) and
the steps after ``tau`` are masked; the saving is counted in glimpses, not in wall time.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.distributions import Normal
from torch.nn import functional as F

from attnlib import checks
from attnlib.ram import RecurrentAttentionModel
from attnlib.reinforce import MovingAverageBaseline, baseline_loss, rewards_to_go, score_function_surrogate

__all__ = [
    "AnytimeOutput",
    "AnytimeRAM",
    "StopHead",
    "anytime_loss",
    "sample_stops",
    "stop_log_probs",
    "stop_loss",
    "stop_rewards",
]


class AnytimeOutput(NamedTuple):
    """What :meth:`AnytimeRAM.forward` returns: logits ``(B, T, K)`` (an answer after every glimpse),
    locations ``(B, T, 2)``, log_probs ``(B, T)`` and baselines ``(B, T)`` aligned as in
    :class:`attnlib.ram.RAMOutput` (column ``t`` is the decision taken after glimpse ``t``, column 0 zero),
    states ``(B, T, hidden)`` (``h_1 .. h_T``)."""

    logits: torch.Tensor
    locations: torch.Tensor
    log_probs: torch.Tensor
    baselines: torch.Tensor
    states: torch.Tensor


class AnytimeRAM(RecurrentAttentionModel):
    """Chapter 2's RAM answering after every glimpse (module docstring); same parameters."""

    def forward(  # type: ignore[override]
        self, images: torch.Tensor, sample: bool | None = None, generator: torch.Generator | None = None
    ) -> AnytimeOutput:
        """Run ``T`` glimpses over ``images (B, C, H, W)`` from the centre; ``sample`` as in Chapter 2's RAM."""
        checks.tensor(images, "images", dtype="float")
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (B, {self.in_channels}, H, W), got shape {tuple(images.shape)}")
        if sample is not None and not isinstance(sample, bool):
            raise ValueError(f"sample must be None, True or False, got {sample!r}")
        sample = self.training if sample is None else sample
        b = images.shape[0]
        h = images.new_zeros(b, self.hidden)
        c = images.new_zeros(b, self.hidden) if self.core_type == "lstm" else None
        loc = images.new_zeros(b, 2)
        locs, log_probs, baselines, states = [loc], [images.new_zeros(b)], [self.baseline(h)], []
        for t in range(self.n_glimpses):
            g = self.glimpse_features(images, loc)
            if c is None:
                h = self.core(g, h)
            else:
                h, c = self.core(g, (h, c))
            states.append(h)
            if t == self.n_glimpses - 1:
                break
            mean = torch.tanh(self.policy(h.detach() if self.detach_policy_input else h))
            raw = (mean + self.std * self._noise((b, 2), mean, generator) if sample else mean).detach()
            log_probs.append(Normal(mean, self.std).log_prob(raw).sum(-1))
            baselines.append(self.baseline(h))
            loc = raw.clamp(-1, 1)
            locs.append(loc)
        states_t = torch.stack(states, 1)
        return AnytimeOutput(
            self.classifier(states_t),
            torch.stack(locs, 1),
            torch.stack(log_probs, 1),
            torch.stack(baselines, 1),
            states_t,
        )


def anytime_loss(output: AnytimeOutput, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy averaged over the ``T`` answers + REINFORCE for the locations (reward-to-go of the
    per-step correctness over ``T``) + the baseline's squared error. Returns the loss and floats ``loss``,
    ``ce`` and ``reward`` (accuracy of the last answer)."""
    if not isinstance(output, AnytimeOutput):
        raise ValueError(f"output must be the AnytimeOutput of AnytimeRAM.forward, got {type(output).__name__}")
    b, steps, k = output.logits.shape
    checks.tensor(labels, "labels", shape=(b,))
    checks.ids_in_range(labels, k, "labels")
    ce = F.cross_entropy(output.logits.reshape(b * steps, k), labels.repeat_interleave(steps))
    correct = (output.logits.detach().argmax(-1) == labels[:, None]).to(output.logits.dtype)  # (B, T)
    returns = rewards_to_go(correct / steps)
    reinforce = score_function_surrogate(output.log_probs, returns, output.baselines)
    b_loss = baseline_loss(output.baselines, returns)
    loss = ce + reinforce + b_loss
    return loss, {"loss": loss.item(), "ce": ce.item(), "reward": correct[:, -1].mean().item()}


class StopHead(nn.Module):
    """``f_s``: the stop logit from the detached state, the answer's log-probabilities, its confidence
    (largest log-probability and entropy) and the glimpse count (one-hot); a two-layer perceptron.

    ``(states (B, T, hidden), logits (B, T, K)) -> (B, T)`` with ``T = n_steps``.
    """

    def __init__(self, hidden: int, n_classes: int = 10, n_steps: int = 6, width: int = 64) -> None:
        super().__init__()
        checks.positive_ints(hidden=hidden, n_classes=n_classes, n_steps=n_steps, width=width)
        self.n_steps = n_steps
        self.net = nn.Sequential(nn.Linear(hidden + n_classes + 2 + n_steps, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, states: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        checks.tensor(states, "states", ndim=3, dtype="float")
        checks.tensor(logits, "logits", shape=(*states.shape[:2], None), dtype="float")
        if states.shape[1] != self.n_steps:
            raise ValueError(f"states must have {self.n_steps} steps (dim 1), got {tuple(states.shape)}")
        log_p = F.log_softmax(logits.detach(), -1)
        confidence = torch.stack([log_p.max(-1).values, -(log_p.exp() * log_p).sum(-1)], -1)
        step = torch.eye(self.n_steps, device=states.device, dtype=states.dtype).expand(states.shape[0], -1, -1)
        return self.net(torch.cat([states.detach(), log_p, confidence, step], -1)).squeeze(-1)


def _check_stop_logits(stop_logits: torch.Tensor) -> None:
    checks.tensor(stop_logits, "stop_logits", ndim=2, dtype="float")
    if stop_logits.shape[1] < 1 or stop_logits.shape[0] < 1:
        raise ValueError(f"stop_logits must be (B, T) with B, T >= 1, got {tuple(stop_logits.shape)}")
    checks.finite(stop_logits.detach(), "stop_logits")


def _check_generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")


def sample_stops(
    stop_logits: torch.Tensor, generator: torch.Generator | None = None, sample: bool = True
) -> torch.Tensor:
    """The glimpse each trajectory stops at, ``tau (B,)`` in ``1 .. T``, from ``stop_logits (B, T)``.

    Step ``t < T`` stops with probability ``sigmoid(stop_logits[:, t - 1])`` (sampled), or when that is
    above one half (``sample=False``); the last column is ignored: step ``T`` always answers.
    """
    _check_stop_logits(stop_logits)
    _check_generator(generator)
    sample = checks.flag(sample, "sample")
    p = torch.sigmoid(stop_logits.detach())
    if sample:
        u = torch.rand(p.shape, generator=generator, dtype=p.dtype)
        stops = u.to(p.device) < p
    else:
        stops = p > 0.5
    stops[:, -1] = True
    return stops.float().argmax(1) + 1  # the first step that stops, 1-based


def stop_log_probs(stop_logits: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Log-probability of each decision taken, ``(B, T)``: ``log(1 - p_t)`` for ``t < tau``, ``log p_tau``
    at ``tau < T``, zero after ``tau`` and at the forced step ``T`` (Eq. (agent-stop))."""
    _check_stop_logits(stop_logits)
    b, steps = stop_logits.shape
    checks.tensor(tau, "tau", shape=(b,), dtype="int")
    if ((tau < 1) | (tau > steps)).any():
        raise ValueError(f"tau must lie in [1, {steps}]")
    t = torch.arange(1, steps + 1, device=stop_logits.device)[None]
    tau = tau.to(stop_logits.device)[:, None]
    go_on = F.logsigmoid(-stop_logits) * (t < tau)
    stop = F.logsigmoid(stop_logits) * ((t == tau) & (t < steps))
    return go_on + stop


def stop_rewards(correct: torch.Tensor, tau: torch.Tensor, penalty: float) -> torch.Tensor:
    """Per-step rewards ``(B, T)``: ``-penalty`` for each decision to go on (``t < tau``), the answer's
    correctness ``correct[:, tau - 1]`` at ``tau``, zero after; they sum to ``c_tau - penalty (tau - 1)``."""
    checks.tensor(correct, "correct", ndim=2)
    checks.finite(correct, "correct")
    b, steps = correct.shape
    checks.tensor(tau, "tau", shape=(b,), dtype="int")
    if ((tau < 1) | (tau > steps)).any():
        raise ValueError(f"tau must lie in [1, {steps}]")
    checks.non_negative_float(penalty, "penalty")
    t = torch.arange(1, steps + 1, device=correct.device)[None]
    tau = tau.to(correct.device)[:, None]
    return -float(penalty) * (t < tau).float() + correct.float() * (t == tau).float()


def stop_loss(
    stop_logits: torch.Tensor,
    correct: torch.Tensor,
    penalty: float,
    baseline: MovingAverageBaseline | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The REINFORCE surrogate of the stop action (Eq. (agent-stop-gradient)) for one sampled stop per row.

    ``stop_logits (B, T)``; ``correct (B, T)``: whether the answer after each glimpse is right. ``baseline``:
    a per-step :class:`attnlib.reinforce.MovingAverageBaseline` (``steps=T``), updated here over the steps
    each row reaches. Returns the loss and floats ``return``, ``glimpses`` (mean ``tau``), ``accuracy``.
    """
    _check_stop_logits(stop_logits)
    checks.tensor(correct, "correct", shape=tuple(stop_logits.shape))
    checks.finite(correct, "correct")
    _check_generator(generator)
    if baseline is not None and not isinstance(baseline, MovingAverageBaseline):
        raise ValueError(f"baseline must be None or a MovingAverageBaseline, got {type(baseline).__name__}")
    tau = sample_stops(stop_logits, generator)
    log_p = stop_log_probs(stop_logits, tau)
    rewards = stop_rewards(correct, tau, penalty)
    returns = rewards_to_go(rewards)
    b = None
    if baseline is not None:
        reached = torch.arange(1, stop_logits.shape[1] + 1, device=tau.device)[None] <= tau[:, None]
        b = baseline.update(returns, reached).to(returns)[None].expand_as(returns)
    loss = score_function_surrogate(log_p, returns, b)
    answered = correct.float().gather(1, (tau - 1)[:, None].to(correct.device)).squeeze(1)
    logs = {
        "return": rewards.sum(1).mean().item(),
        "glimpses": tau.float().mean().item(),
        "accuracy": answered.mean().item(),
    }
    return loss, logs
