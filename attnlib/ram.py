"""Chapter 2: the Recurrent Attention Model (RAM) of Mnih et al. (2014) and its hybrid loss.

At step ``t`` the model looks through the retina at location ``l_{t-1}`` (Eq. (ram-retina)),
encodes the glimpse and the location (Eq. (ram-glimpse-net)), updates its state
``h_t = f_h(h_{t-1}, g_t)`` (Eq. (ram-core)) and samples the next location from a
Gaussian policy ``l_t ~ N(mu(h_t), sigma^2 I)``, ``mu(h_t) = tanh(W_mu h_t)``, with fixed ``sigma``
(Eq. (ram-policy)); only ``l_1 .. l_{T-1}`` are sampled (``l_0`` is the start). The sensor sees the
sample clamped to ``[-1, 1]``; the log-probability is that of the unclamped sample, so the clamp is
part of the environment and the score-function estimator stays unbiased (the tanh and the clamp are
departures from the paper's linear mean, named in the chapter).
After ``T`` glimpses a linear classifier reads ``h_T``. The classifier, core and glimpse
network learn by back-propagating cross-entropy; the location policy by REINFORCE with
reward ``R = 1`` if the final classification is right (Eq. (ram-reinforce), a sum over the
``T - 1`` sampled locations), with a
learned baseline ``b_t = b(h_t)`` (Eq. (ram-baseline)). :func:`hybrid_loss` adds the three
terms (Eq. (ram-hybrid)).

What is detached, and why (the chapter shows each with a run):

* the sampled location fed back to the sensor and to the glimpse network
  (``detach_location=True``): the only gradient the policy gets is the score function;
  without the detach the cross-entropy also pushes on the policy mean through the
  (piecewise) differentiable sensor, a second, biased and unasked-for estimator;
* the reward and the baseline inside the REINFORCE term (``attnlib.reinforce``
  detaches them): they are constants of the surrogate, otherwise the baseline
  is trained to shrink the surrogate instead of to predict the reward;
* the state read by the baseline (``LearnedBaseline`` detaches it): the baseline
  must predict the reward, not reshape the agent's state to make that easy.

The state read by the location network is detached by default
(``detach_policy_input=True``): REINFORCE then trains only the policy layer, and the
core learns from cross-entropy alone. The paper lets the policy gradient reach the
core too (``detach_policy_input=False``); its ``1 / sigma``-scaled, high-variance
signal then competes with the classifier's gradient inside the core (the chapter
compares both, three seeds each, on validation data).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.distributions import Normal
from torch.nn import functional as F

from attnlib import checks
from attnlib.glimpse import GlimpseSensor, _check_centers_values, _check_retina
from attnlib.reinforce import LearnedBaseline, baseline_loss, score_function_surrogate

__all__ = ["RAMOutput", "RecurrentAttentionModel", "hybrid_loss", "ram_predict", "ram_step"]


class RAMOutput(NamedTuple):
    """What :meth:`RecurrentAttentionModel.forward` returns.

    logits ``(B, K)``; locations ``(B, T, 2)`` (the ``T`` glimpse centres, the first
    fixed: the image centre unless ``start`` is given); log_probs ``(B, T)`` (``log pi(l_t | h_t)``; column 0 is
    zero because the first location is not a decision); baselines ``(B, T)``
    (``b(h_t)`` for the state each location was chosen from); means ``(B, T, 2)``
    (the policy means).
    """

    logits: torch.Tensor
    locations: torch.Tensor
    log_probs: torch.Tensor
    baselines: torch.Tensor
    means: torch.Tensor


class RecurrentAttentionModel(nn.Module):
    """RAM: glimpse network, recurrent core, Gaussian location policy, learned baseline, classifier.

    Parameters
    ----------
    glimpse_size, n_scales, scale_factor
        The retina (``g_w``, ``k`` and the growth factor of Eq. (ram-retina)).
    n_glimpses
        ``T``, the number of glimpses before classifying.
    in_channels, n_classes
        Image channels and classes.
    glimpse_hidden, location_hidden, hidden
        Sizes of ``h_g``, ``h_l`` (128 in the paper) and of ``g_t`` and the core state (256).
    core
        ``"rnn"`` (the paper's ReLU RNN) or ``"lstm"``.
    std
        Fixed standard deviation of the location policy, in ``[-1, 1]`` units.
    random_glimpses
        Ignore the policy and look at uniformly random locations (the paper's control).
    detach_location, detach_policy_input
        See the module docstring.
    """

    def __init__(
        self,
        glimpse_size: int = 8,
        n_scales: int = 1,
        scale_factor: int = 2,
        n_glimpses: int = 6,
        in_channels: int = 1,
        n_classes: int = 10,
        glimpse_hidden: int = 128,
        location_hidden: int = 128,
        hidden: int = 256,
        core: str = "rnn",
        std: float = 0.15,
        random_glimpses: bool = False,
        detach_location: bool = True,
        detach_policy_input: bool = True,
    ) -> None:
        super().__init__()
        _check_retina(glimpse_size, n_scales, scale_factor, ("glimpse_size", "n_scales", "scale_factor"))
        checks.positive_int(n_glimpses, "n_glimpses")
        for value, name in [
            (in_channels, "in_channels"),
            (n_classes, "n_classes"),
            (glimpse_hidden, "glimpse_hidden"),
            (location_hidden, "location_hidden"),
            (hidden, "hidden"),
        ]:
            checks.positive_int(value, name)
        checks.one_of(core, ("rnn", "lstm"), "core")
        checks.positive_float(std, "std")
        for value, name in [
            (random_glimpses, "random_glimpses"),
            (detach_location, "detach_location"),
            (detach_policy_input, "detach_policy_input"),
        ]:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")
        self.sensor = GlimpseSensor(glimpse_size, n_scales, scale_factor)
        self.n_glimpses, self.std, self.core_type = n_glimpses, float(std), core
        self.in_channels, self.hidden = in_channels, hidden
        self.random_glimpses, self.detach_location = random_glimpses, detach_location
        self.detach_policy_input = detach_policy_input
        self.fc_glimpse = nn.Linear(self.sensor.output_features(in_channels), glimpse_hidden)
        self.fc_location = nn.Linear(2, location_hidden)
        self.fc_what = nn.Linear(glimpse_hidden, hidden)
        self.fc_where = nn.Linear(location_hidden, hidden)
        self.core = nn.RNNCell(hidden, hidden, nonlinearity="relu") if core == "rnn" else nn.LSTMCell(hidden, hidden)
        self.policy = nn.Linear(hidden, 2)
        self.baseline = LearnedBaseline(hidden)
        self.classifier = nn.Linear(hidden, n_classes)

    def glimpse_features(self, images: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
        """``g_t`` of Eq. (ram-glimpse-net): ``(B, C, H, W), (B, 2) -> (B, hidden)``."""
        rho = self.sensor(images, locations).flatten(1)
        what = F.relu(self.fc_glimpse(rho))
        where = F.relu(self.fc_location(locations))
        return F.relu(self.fc_what(what) + self.fc_where(where))

    def _noise(self, shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is None:
            return torch.randn(shape, device=like.device, dtype=like.dtype)
        return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)

    def _uniform(self, shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is None:
            return torch.rand(shape, device=like.device, dtype=like.dtype) * 2 - 1
        return (torch.rand(shape, generator=generator, device=generator.device, dtype=like.dtype) * 2 - 1).to(
            like.device
        )

    def forward(
        self,
        images: torch.Tensor,
        sample: bool | None = None,
        generator: torch.Generator | None = None,
        locations: torch.Tensor | None = None,
        start: torch.Tensor | None = None,
    ) -> RAMOutput:
        """Run ``T`` glimpses over ``images (B, C, H, W)``.

        Parameters
        ----------
        sample
            Sample locations from the policy (training) or follow its mean
            (evaluation). ``None``: sample iff the module is in training mode.
        generator
            Source of the policy's noise (default: torch's global generator).
        locations
            ``(B, T, 2)``: force these glimpse locations (the explorer widget and
            the chapter's experiments use it); log-probabilities are those the
            policy gives them.
        start
            ``(B, 2)``: the first glimpse's location (default: the image centre);
            the policy chooses the rest.

        ``locations`` and ``start``, when given, are checked to be finite and in ``[-1, 1]``; the
        images' values are not read (a NaN pixel gives NaN logits), to keep the forward cheap.
        """
        checks.tensor(images, "images")
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (B, {self.in_channels}, H, W), got shape {tuple(images.shape)}")
        if not images.is_floating_point():
            raise ValueError(f"images must have a float dtype (convert with images.float() / 255), got {images.dtype}")
        batch, steps = images.shape[0], self.n_glimpses
        if sample is not None and not isinstance(sample, bool):
            raise ValueError(f"sample must be None, True or False, got {sample!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")
        if locations is not None:
            checks.tensor(locations, "locations")
            if locations.shape != (batch, steps, 2):
                raise ValueError(f"locations must be ({batch}, {steps}, 2), got {tuple(locations.shape)}")
            _check_centers_values(locations, "locations")
        sample = self.training if sample is None else sample
        h = images.new_zeros(batch, self.hidden)
        c = images.new_zeros(batch, self.hidden) if self.core_type == "lstm" else None
        if start is not None:
            checks.tensor(start, "start")
            if start.shape != (batch, 2):
                raise ValueError(f"start must be ({batch}, 2), got {tuple(start.shape)}")
            _check_centers_values(start, "start")
        loc = images.new_zeros(batch, 2) if start is None else start.to(images)
        loc = loc if locations is None else locations[:, 0]
        if self.random_glimpses and locations is None:
            loc = self._uniform((batch, 2), images, generator)
        locs, log_probs, baselines, means = [loc], [images.new_zeros(batch)], [self.baseline(h)], [loc]
        for t in range(steps):
            g = self.glimpse_features(images, loc)
            if c is None:
                h = self.core(g, h)
            else:
                h, c = self.core(g, (h, c))
            if t == steps - 1:
                break
            mean = torch.tanh(self.policy(h.detach() if self.detach_policy_input else h))
            if sample:
                raw = mean + self.std * self._noise((batch, 2), mean, generator)
            else:
                raw = mean
            if self.detach_location:
                raw = raw.detach()
            if locations is not None:
                loc = locations[:, t + 1]
                raw = loc
            elif self.random_glimpses:
                loc = self._uniform((batch, 2), images, generator)
            else:
                loc = raw.clamp(-1, 1)
            if self.random_glimpses and locations is None:
                log_prob = images.new_zeros(batch)  # no decision was taken: nothing for REINFORCE
            else:
                # log-density of the (detached) sample: a function of the mean only (Eq. (ram-policy))
                log_prob = Normal(mean, self.std).log_prob(raw.detach()).sum(-1)
            locs.append(loc)
            log_probs.append(log_prob)
            baselines.append(self.baseline(h))
            means.append(mean)
        return RAMOutput(
            self.classifier(h),
            torch.stack(locs, 1),
            torch.stack(log_probs, 1),
            torch.stack(baselines, 1),
            torch.stack(means, 1),
        )


def hybrid_loss(
    output: RAMOutput,
    labels: torch.Tensor,
    reinforce_weight: float = 1.0,
    baseline_weight: float = 1.0,
    use_baseline: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The hybrid loss of Eq. (ram-hybrid): cross-entropy + REINFORCE surrogate + baseline MSE.

    The REINFORCE term is :func:`attnlib.reinforce.score_function_surrogate` with reward
    ``R = 1[argmax logits = label]`` (detached), the learned per-step baselines (detached
    there) and the log-probabilities ``(B, T)``: averaged over the batch, summed over the
    ``T - 1`` decisions ``t = 1 .. T-1`` (column 0 is zero; Eq. (ram-reinforce)). The baselines learn by :func:`attnlib.reinforce.baseline_loss`.

    Returns the scalar loss and a dict of floats (``loss``, ``ce``, ``reinforce``,
    ``baseline``, ``reward``).
    """
    if not isinstance(output, RAMOutput):
        raise ValueError(
            f"output must be the RAMOutput of RecurrentAttentionModel.forward, got {type(output).__name__}"
        )
    checks.tensor(labels, "labels")
    if labels.ndim != 1 or labels.shape[0] != output.logits.shape[0]:
        raise ValueError(f"labels must be ({output.logits.shape[0]},), got {tuple(labels.shape)}")
    if labels.numel() == 0:
        raise ValueError("labels must hold at least one label, got an empty batch")
    checks.ids_in_range(labels, output.logits.shape[1], "labels")
    checks.non_negative_float(reinforce_weight, "reinforce_weight")
    checks.non_negative_float(baseline_weight, "baseline_weight")
    if not isinstance(use_baseline, bool):
        raise ValueError(f"use_baseline must be True or False, got {use_baseline!r}")
    ce = F.cross_entropy(output.logits, labels)
    reward = (output.logits.detach().argmax(-1) == labels).to(output.logits.dtype)
    reinforce = score_function_surrogate(output.log_probs, reward, output.baselines if use_baseline else None)
    b_loss = baseline_loss(output.baselines, reward)
    loss = ce + reinforce_weight * reinforce + baseline_weight * b_loss
    logs = {
        "loss": loss.item(),
        "ce": ce.item(),
        "reinforce": reinforce.item(),
        "baseline": b_loss.item(),
        "reward": reward.mean().item(),
    }
    return loss, logs


def _pair(batch: object) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(f"batch must be an (images, labels) pair, got a {type(batch).__name__}")
    return batch[0], batch[1]


def ram_step(
    model: RecurrentAttentionModel, batch: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    """A ``step`` for :func:`attnlib.train.fit`: sample a trajectory, return :func:`hybrid_loss`."""
    checks.module(model, "model")
    images, labels = _pair(batch)
    loss, logs = hybrid_loss(model(images, sample=True), labels)
    return loss, {"loss": logs["loss"], "reward": logs["reward"]}


def ram_predict(
    model: RecurrentAttentionModel, batch: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``predict`` for :func:`attnlib.train.evaluate`: follow the policy mean, return logits and labels."""
    checks.module(model, "model")
    images, labels = _pair(batch)
    return model(images, sample=False).logits, labels
