"""Chapter 3: RAM as an agent. Two stochastic heads (where to look, what to do) trained by REINFORCE.

At step ``t`` the agent sees frame ``x_t`` of a dynamic environment (:class:`attnlib.catch.Catch`)
through the retina of Chapter 2 at location ``l_{t-1}``, updates an LSTM core ``(h_t, c_t)`` and samples
two actions from two heads that read the same state (Eq. (agent-policy)):

* a location ``l_t ~ N(tanh(W_l h_t), sigma^2 I)`` for the next glimpse (Chapter 2's Gaussian policy);
* an environment action ``a_t ~ Categorical(softmax(W_a h_t))``, here left / stay / right.

Given ``h_t`` the two are sampled independently, so ``log pi(l_t, a_t | h_t) = log pi_l + log pi_a``
and the score-function gradient of the expected return is one sum over both heads and all steps,
each step weighted by the reward still to come ``R_t = sum_{t' >= t} r_{t'}`` minus a learned baseline
``b(h_t)`` (Eq. (agent-two-head)). :func:`agent_loss` hands exactly that to
:func:`attnlib.reinforce.score_function_surrogate`, with rewards-to-go from
:func:`attnlib.reinforce.rewards_to_go` and the baseline trained by :func:`attnlib.reinforce.baseline_loss`.

:class:`CatchAgent` reuses :class:`attnlib.ram.RecurrentAttentionModel` (retina, glimpse network,
LSTM core, location policy, baseline); its ``classifier`` layer, with three outputs, is the
environment-action head. :class:`FullViewAgent` is the control: the same core and heads fed the whole
frame through one linear layer, no retina and no location head.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.distributions import Categorical, Normal
from torch.nn import functional as F

from attnlib import checks
from attnlib.catch import Catch
from attnlib.ram import RecurrentAttentionModel
from attnlib.reinforce import LearnedBaseline, baseline_loss, rewards_to_go, score_function_surrogate

__all__ = ["CatchAgent", "Episode", "FullViewAgent", "agent_loss", "catch_rate", "play"]


class Episode(NamedTuple):
    """A batch of played games, from :func:`play`; ``T`` steps, ``B`` games.

    action_log_probs, location_log_probs ``(B, T)`` (zero where the head took no decision);
    baselines ``(B, T)``; rewards ``(B, T)``; actions ``(B, T)``; locations ``(B, T + 1, 2)`` (the glimpse
    centre at each frame, the first fixed); entropies ``(B, T)`` of the action head; frames
    ``(B, T + 1, 1, H, W)`` when recorded, else ``None``; balls ``(B, T + 1, 2)``, the ball in retina coordinates.
    """

    action_log_probs: torch.Tensor
    location_log_probs: torch.Tensor
    baselines: torch.Tensor
    rewards: torch.Tensor
    actions: torch.Tensor
    locations: torch.Tensor
    entropies: torch.Tensor
    frames: torch.Tensor | None
    balls: torch.Tensor


class CatchAgent(RecurrentAttentionModel):
    """RAM with an LSTM core and an environment-action head (Eq. (agent-policy)).

    Parameters are those of :class:`attnlib.ram.RecurrentAttentionModel` (``n_classes`` is the number of
    environment actions, 3 for Catch; ``n_glimpses`` is unused: the environment sets the length).
    The paper's retina for Catch is 6 x 6 at three scales, its core 256 LSTM units.
    """

    def __init__(
        self,
        glimpse_size: int = 6,
        n_scales: int = 3,
        hidden: int = 256,
        glimpse_hidden: int = 128,
        location_hidden: int = 128,
        std: float = 0.1,
        n_actions: int = 3,
        detach_policy_input: bool = True,
        block_sum: bool = True,
    ) -> None:
        if not isinstance(block_sum, bool):
            raise ValueError(f"block_sum must be True or False, got {block_sum!r}")
        checks.positive_int(n_actions, "n_actions")  # named here: the parent calls it n_classes
        super().__init__(
            glimpse_size=glimpse_size,
            n_scales=n_scales,
            n_classes=n_actions,
            glimpse_hidden=glimpse_hidden,
            location_hidden=location_hidden,
            hidden=hidden,
            core="lstm",
            std=std,
            detach_policy_input=detach_policy_input,
        )
        self.looks, self.block_sum = True, block_sum
        gain = [float(self.sensor.scale_factor ** (2 * k)) for k in range(n_scales)]
        self.register_buffer("gain", torch.tensor(gain).view(1, n_scales, 1, 1, 1), persistent=False)

    def glimpse_features(self, images: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
        """``g_t`` as in Chapter 2; with ``block_sum`` every retina cell reports the *sum* of its pixels
        (the mean times the block's area), so a one-pixel ball is as bright at the coarse scales as at the fine."""
        rho = self.sensor(images, locations)
        rho = (rho * self.gain if self.block_sum else rho).flatten(1)
        what = F.relu(self.fc_glimpse(rho))
        where = F.relu(self.fc_location(locations))
        return F.relu(self.fc_what(what) + self.fc_where(where))

    def observe(self, frames: torch.Tensor, location: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One core update from a glimpse of ``frames (B, 1, H, W)`` at ``location (B, 2)``: ``(h, c) -> (h, c)``."""
        return self.core(self.glimpse_features(frames, location), state)

    def location_mean(self, h: torch.Tensor) -> torch.Tensor:
        """``tanh(W_l h_t)``, the mean of the location policy, ``(B, 2)``."""
        return torch.tanh(self.policy(h.detach() if self.detach_policy_input else h))

    def action_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Logits of the environment action, ``(B, n_actions)``."""
        return self.classifier(h)


class FullViewAgent(nn.Module):
    """The control of Chapter 3: the whole ``H x W`` frame through a linear layer, an LSTM core, an action
    head and a learned baseline; nothing to decide about where to look."""

    def __init__(self, height: int = 24, width: int = 24, hidden: int = 256, n_actions: int = 3) -> None:
        super().__init__()
        checks.positive_ints(height=height, width=width, hidden=hidden, n_actions=n_actions)
        self.hidden, self.looks, self.in_channels = hidden, False, 1
        self.encoder = nn.Linear(height * width, hidden)
        self.core = nn.LSTMCell(hidden, hidden)
        self.classifier = nn.Linear(hidden, n_actions)
        self.baseline = LearnedBaseline(hidden)

    def observe(self, frames: torch.Tensor, location: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """One core update from the whole frame ``(B, 1, H, W)`` (``location`` is ignored)."""
        return self.core(F.relu(self.encoder(frames.flatten(1))), state)

    def action_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Logits of the environment action, ``(B, n_actions)``."""
        return self.classifier(h)


def play(
    agent: CatchAgent | FullViewAgent,
    env: Catch,
    generator: torch.Generator | None = None,
    sample: bool = True,
    record: bool = False,
) -> Episode:
    """Play one batch of games of ``env`` with ``agent``; vectorised over the batch, a loop over time.

    Parameters
    ----------
    generator
        Seeds the games (``env.reset``) and the agent's samples; the same seed plays the same games.
    sample
        Sample both heads (training) or take the most likely action and the mean location (evaluation).
    record
        Keep the frames (for figures and the animation).
    """
    if not isinstance(agent, (CatchAgent, FullViewAgent)):
        raise ValueError(f"agent must be a CatchAgent or a FullViewAgent, got {type(agent).__name__}")
    if not isinstance(env, Catch):
        raise ValueError(f"env must be an attnlib.catch.Catch, got {type(env).__name__}")
    if not isinstance(sample, bool) or not isinstance(record, bool):
        raise ValueError(f"sample and record must be True or False, got {sample!r}, {record!r}")
    device = next(agent.parameters()).device
    frames = env.reset(generator).to(device)
    b = env.batch_size
    h = frames.new_zeros(b, agent.hidden)
    state = (h, h.clone())
    loc = frames.new_zeros(b, 2)
    out = {k: [] for k in ("alp", "llp", "base", "rew", "act", "ent")}
    locs, balls, kept = [loc], [env.ball_xy().to(device)], [frames] if record else []
    for _ in range(env.steps):
        state = agent.observe(frames, loc, state)
        h = state[0]
        policy = Categorical(logits=agent.action_logits(h))
        if sample:
            action = torch.multinomial(policy.probs.detach().cpu(), 1, generator=generator).squeeze(1).to(device)
        else:
            action = policy.probs.argmax(-1)
        out["alp"].append(policy.log_prob(action))
        out["ent"].append(policy.entropy())
        out["base"].append(agent.baseline(h))
        if agent.looks:
            mean = agent.location_mean(h)
            raw = mean + agent.std * agent._noise((b, 2), mean, generator) if sample else mean
            raw = raw.detach()
            out["llp"].append(Normal(mean, agent.std).log_prob(raw).sum(-1))
            loc = raw.clamp(-1, 1)
        else:
            out["llp"].append(frames.new_zeros(b))
        frames, reward, _ = env.step(action.cpu())
        frames = frames.to(device)
        out["rew"].append(reward.to(device))
        out["act"].append(action)
        locs.append(loc)
        balls.append(env.ball_xy().to(device))
        if record:
            kept.append(frames)
    stack = {k: torch.stack(v, 1) for k, v in out.items()}
    return Episode(
        stack["alp"],
        stack["llp"],
        stack["base"],
        stack["rew"],
        stack["act"],
        torch.stack(locs, 1),
        stack["ent"],
        torch.stack(kept, 1) if record else None,
        torch.stack(balls, 1),
    )


def agent_loss(
    episode: Episode, baseline_weight: float = 1.0, entropy_weight: float = 0.0, normalize: bool = False
) -> tuple[torch.Tensor, dict[str, float]]:
    """REINFORCE for both heads with rewards-to-go and the learned baseline (Eq. (agent-two-head)).

    ``loss = score_function_surrogate(log pi_a + log pi_l, R_t, b_t) + baseline_weight * MSE(b_t, R_t)
    - entropy_weight * mean entropy(pi_a)``. The two heads' log-probabilities are stacked as two actions of
    the same step, so the surrogate sums them and weights both by the step's advantage ``R_t - b_t``.

    With ``normalize`` the advantages ``A = R_t - b_t`` of the batch, ``(B, T)``, are standardised,
    ``(A - mean A) / (std A + 1e-6)`` over all games and steps, before they weight the log-probabilities
    (a per-batch rescaling of the step size; the baseline still learns from the raw ``R_t``).
    Returns the scalar loss and floats ``loss``, ``reinforce``, ``baseline``, ``return`` (mean episode return).
    """
    if not isinstance(episode, Episode):
        raise ValueError(f"episode must be the Episode that play() returns, got {type(episode).__name__}")
    checks.non_negative_float(baseline_weight, "baseline_weight")
    checks.non_negative_float(entropy_weight, "entropy_weight")
    if not isinstance(normalize, bool):
        raise ValueError(f"normalize must be True or False, got {normalize!r}")
    returns = rewards_to_go(episode.rewards)  # (B, T)
    log_probs = torch.stack([episode.action_log_probs, episode.location_log_probs], -1)  # (B, T, 2)
    if normalize:
        advantage = (returns - episode.baselines).detach()
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-6)
        reinforce = score_function_surrogate(log_probs, advantage)
    else:
        reinforce = score_function_surrogate(log_probs, returns, episode.baselines)
    b_loss = baseline_loss(episode.baselines, returns)
    loss = reinforce + baseline_weight * b_loss - entropy_weight * episode.entropies.mean()
    logs = {
        "loss": loss.item(),
        "reinforce": reinforce.item(),
        "baseline": b_loss.item(),
        "return": episode.rewards.sum(1).mean().item(),
    }
    return loss, logs


@torch.no_grad()
def catch_rate(
    agent: CatchAgent | FullViewAgent, env: Catch, episodes: int, generator: torch.Generator, sample: bool = False
) -> float:
    """Fraction of ``episodes`` games caught (played in batches of ``env.batch_size``), greedy by default."""
    if not isinstance(agent, (CatchAgent, FullViewAgent)):
        raise ValueError(f"agent must be a CatchAgent or a FullViewAgent, got {type(agent).__name__}")
    checks.positive_int(episodes, "episodes")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator (reproducible games), got {type(generator).__name__}")
    was_training = agent.training
    agent.eval()
    caught, n = 0.0, 0
    while n < episodes:
        ep = play(agent, env, generator, sample=sample)
        take = min(env.batch_size, episodes - n)
        caught += float(ep.rewards.sum(1)[:take].sum())
        n += take
    agent.train(was_training)
    return caught / episodes
