"""Chapter 1, Foundations: soft and hard attention over image cells, and two toy problems
whose exact gradients are known, so that gradient estimators can be checked against the truth.

Problem 1 (a categorical policy). An image is cut into ``N`` cells; a policy
:math:`\\pi_\\theta = \\mathrm{softmax}(\\theta)` picks one cell to look at and the
reward is how much of the digit that cell holds. The expected reward
:math:`J(\\theta) = \\sum_i \\pi_i r_i` is a finite sum, so its exact gradient is
available by automatic differentiation, and every estimator can be compared with it.

Problem 2 (a Gaussian location policy). A location :math:`l \\sim \\mathcal N(\\mu, \\sigma^2 I)`
in the plane earns :math:`f(l) = \\exp(-\\lVert l - c\\rVert^2 / 2w^2)`, a smooth bump around a
target :math:`c`. Both the expectation and its gradient have closed forms
(Eq. (foundations-gauss-exact)), so the score-function and the reparameterised
estimators can be compared exactly.
"""

from __future__ import annotations

import torch
from torch import nn

from attnlib import checks
from attnlib.reinforce import MovingAverageBaseline, score_function_surrogate

__all__ = [
    "GlanceAndLook",
    "categorical_gradient_estimates",
    "exact_policy_gradient",
    "gaussian_bump_gradient",
    "gaussian_bump_value",
    "gaussian_gradient_estimates",
    "glance_and_look_step",
    "hard_attention",
    "image_to_cells",
    "soft_attention",
]


def image_to_cells(images: torch.Tensor, grid: int) -> torch.Tensor:
    """Cut images into a ``grid x grid`` array of cells.

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    Parameters
    ----------
    images
        ``(B, C, H, W)`` with ``H`` and ``W`` divisible by ``grid``.

    Returns
    -------
    ``(B, grid * grid, C * (H // grid) * (W // grid))``: one flattened cell per row, in reading order.
    """
    checks.tensor(images, "images")
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must have a float dtype, got {images.dtype}")
    _, channels, height, width = images.shape
    checks.positive_int(grid, "grid")
    if height % grid or width % grid:
        raise ValueError(f"grid must be a positive divisor of H={height} and W={width}, got {grid}")
    cells = torch.nn.functional.unfold(
        images, kernel_size=(height // grid, width // grid), stride=(height // grid, width // grid)
    )
    return cells.transpose(1, 2)


def soft_attention(values: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight every cell: ``context = sum_i softmax(scores)_i * values_i``. Eq. (foundations-soft).

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    Parameters
    ----------
    values
        ``(B, N, D)`` one vector per cell.
    scores
        ``(B, N)`` unnormalised relevance of each cell.

    Returns
    -------
    context ``(B, D)`` and the weights ``(B, N)`` (each row sums to one).

    Shapes and dtypes are checked; the values are not read (it runs inside
    :class:`GlanceAndLook`'s forward), so NaN scores give NaN weights.
    """
    _check_values_scores(values, scores)
    weights = scores.softmax(dim=-1)
    return torch.einsum("bn,bnd->bd", weights, values), weights


def hard_attention(
    values: torch.Tensor, scores: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Select one cell per row, sampled from ``softmax(scores)``. Eq. (foundations-hard).

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    Returns
    -------
    context ``(B, D)`` (the selected cell's vector), the index ``(B,)`` and its
    log-probability ``(B,)``, which carries the gradient to ``scores`` that
    the selection itself cannot.
    """
    _check_values_scores(values, scores)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")
    checks.finite(scores, "scores")  # the sampling reads them on the CPU anyway
    log_probs = scores.log_softmax(dim=-1)
    probs = log_probs.detach().exp()
    if generator is not None and generator.device != probs.device:  # a CPU generator draws on the CPU
        index = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(scores.device)
    else:  # on the scores' device: no copy to the host on a GPU
        index = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    context = values[torch.arange(values.shape[0], device=values.device), index]
    return context, index, log_probs.gather(1, index[:, None]).squeeze(1)


def _check_values_scores(values: torch.Tensor, scores: torch.Tensor) -> None:
    checks.tensor(values, "values", dtype="float")
    checks.tensor(scores, "scores", dtype="float")
    if values.ndim != 3 or scores.ndim != 2 or values.shape[:2] != scores.shape:
        raise ValueError(
            f"values must be (B, N, D) and scores (B, N), got {tuple(values.shape)} and {tuple(scores.shape)}"
        )
    if scores.shape[1] == 0:
        raise ValueError(f"scores must score at least one cell (N >= 1), got shape {tuple(scores.shape)}")


def exact_policy_gradient(logits: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """Exact ``d/d logits  sum_i softmax(logits)_i * rewards_i`` by automatic differentiation.

    ``logits (N,)``, ``rewards (N,)`` -> ``(N,)``. Eq. (foundations-exact).
    """
    _check_logits_rewards(logits, rewards)
    theta = logits.detach().clone().requires_grad_(True)
    expected = (theta.softmax(-1) * rewards.detach()).sum()
    (grad,) = torch.autograd.grad(expected, theta)
    return grad


def categorical_gradient_estimates(
    logits: torch.Tensor,
    rewards: torch.Tensor,
    n_samples: int,
    n_repeats: int,
    baseline: str = "none",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``n_repeats`` independent score-function estimates of the policy gradient, each from ``n_samples`` draws.

    Each estimate is the gradient of :func:`attnlib.reinforce.score_function_surrogate`
    (negated back into an ascent direction), so this function exercises the
    library's estimator, not a copy of it.

    Parameters
    ----------
    logits, rewards
        ``(N,)`` each: the policy's logits and the reward of each cell.
    baseline
        ``"none"``; ``"expected"``: the constant :math:`\\sum_i \\pi_i r_i`;
        ``"leave_one_out"``: for each draw, the mean reward of the *other*
        draws of the same estimate (needs ``n_samples >= 2``). All three keep
        the estimate unbiased (Eq. (foundations-baseline)).

    Returns
    -------
    ``(n_repeats, N)``.
    """
    _check_logits_rewards(logits, rewards)
    checks.positive_int(n_samples, "n_samples")
    checks.positive_int(n_repeats, "n_repeats")
    checks.one_of(baseline, ("none", "expected", "leave_one_out"), "baseline")
    _check_generator(generator)
    if baseline == "leave_one_out" and n_samples < 2:
        raise ValueError("baseline='leave_one_out' needs n_samples >= 2")
    probs = logits.detach().softmax(-1)
    draws = torch.multinomial(probs.cpu(), n_repeats * n_samples, replacement=True, generator=generator)
    draws = draws.view(n_repeats, n_samples).to(logits.device)
    reward = rewards.detach()[draws]  # (R, S)
    if baseline == "none":
        b = None
    elif baseline == "expected":
        b = (probs * rewards).sum()
    else:
        b = (reward.sum(1, keepdim=True) - reward) / (n_samples - 1)
    # One surrogate per repeat, built in a single graph: logits are replicated
    # so that each repeat's gradient lands in its own row.
    theta = logits.detach().expand(n_repeats, -1).clone().requires_grad_(True)
    log_prob = theta.log_softmax(-1).gather(1, draws)  # (R, S)
    # sample_dims=1 averages over the S draws and sums over the R repeats, so
    # each repeat's gradient lands, unscaled, in its own row of theta.
    loss = score_function_surrogate(log_prob.T, reward.T, None if b is None else (b.T if b.ndim else b), sample_dims=1)
    (grad,) = torch.autograd.grad(loss, theta)
    return -grad


def _check_generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be None or a torch.Generator, got {type(generator).__name__}")


def _check_logits_rewards(logits: torch.Tensor, rewards: torch.Tensor) -> None:
    checks.tensor(logits, "logits", dtype="float")
    checks.tensor(rewards, "rewards")
    if logits.ndim != 1 or rewards.shape != logits.shape:
        raise ValueError(f"logits and rewards must both be (N,), got {tuple(logits.shape)} and {tuple(rewards.shape)}")
    if logits.numel() == 0:
        raise ValueError("logits must hold at least one cell (N >= 1), got an empty tensor")
    if rewards.is_complex() or rewards.dtype == torch.bool:
        raise ValueError(f"rewards must be real numbers, got dtype {rewards.dtype}")
    checks.finite(logits, "logits")
    checks.finite(rewards, "rewards")


def gaussian_bump_value(mu: torch.Tensor, sigma: float, center: torch.Tensor, width: float) -> torch.Tensor:
    """Closed form of ``E[f(l)]``, ``l ~ N(mu, sigma^2 I)``, ``f(l) = exp(-|l - c|^2 / 2 w^2)``. Eq. (foundations-gauss-exact).

    ``mu (..., d)``, ``center (d,)`` -> ``(...)``.
    """
    _check_gauss(mu, sigma, center, width)
    d = mu.shape[-1]
    s2 = width**2 + sigma**2
    return (width**2 / s2) ** (d / 2) * torch.exp(-((mu - center) ** 2).sum(-1) / (2 * s2))


def gaussian_bump_gradient(mu: torch.Tensor, sigma: float, center: torch.Tensor, width: float) -> torch.Tensor:
    """Exact ``d E[f(l)] / d mu = E[f] (c - mu) / (w^2 + sigma^2)``. Eq. (foundations-gauss-exact)."""
    value = gaussian_bump_value(mu, sigma, center, width)
    return value[..., None] * (center - mu) / (width**2 + sigma**2)


def gaussian_gradient_estimates(
    mu: torch.Tensor,
    sigma: float,
    center: torch.Tensor,
    width: float,
    n_samples: int,
    n_repeats: int,
    method: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``n_repeats`` estimates of ``d E[f(l)] / d mu`` from ``n_samples`` draws each.

    ``method="score"``: :math:`f(l)\\,(l-\\mu)/\\sigma^2`, Eq. (foundations-gauss-score), which needs
    only the values of ``f``. ``method="reparam"``: write :math:`l = \\mu + \\sigma\\epsilon` and
    differentiate ``f`` through it, Eq. (foundations-reparam), which needs ``f`` to be differentiable.

    Returns
    -------
    ``(n_repeats, d)``.
    """
    _check_gauss(mu, sigma, center, width)
    if mu.ndim != 1:
        raise ValueError(f"mu must be (d,), got shape {tuple(mu.shape)}")
    checks.positive_int(n_samples, "n_samples")
    checks.positive_int(n_repeats, "n_repeats")
    checks.one_of(method, ("score", "reparam"), "method")
    _check_generator(generator)
    eps = torch.randn(n_repeats, n_samples, mu.shape[0], generator=generator).to(mu)
    theta = mu.detach().expand(n_repeats, -1).clone().requires_grad_(True)
    loc = theta[:, None, :] + sigma * eps
    if method == "reparam":
        value = torch.exp(-((loc - center) ** 2).sum(-1) / (2 * width**2))
        (grad,) = torch.autograd.grad(value.mean(1).sum(), theta)
        return grad
    sample = loc.detach()
    reward = torch.exp(-((sample - center) ** 2).sum(-1) / (2 * width**2))
    log_prob = torch.distributions.Normal(theta[:, None, :], sigma).log_prob(sample)  # (R, S, d)
    loss = score_function_surrogate(log_prob.transpose(0, 1), reward.T, sample_dims=1)
    (grad,) = torch.autograd.grad(loss, theta)
    return -grad


def _check_gauss(mu: torch.Tensor, sigma: float, center: torch.Tensor, width: float) -> None:
    checks.positive_float(sigma, "sigma")
    checks.positive_float(width, "width")
    checks.tensor(mu, "mu", dtype="float")
    checks.tensor(center, "center", dtype="float")
    if mu.ndim < 1 or mu.shape[-1] == 0:
        raise ValueError(f"mu must be (..., d) with d >= 1, got shape {tuple(mu.shape)}")
    checks.finite(mu, "mu")
    checks.finite(center, "center")
    if center.ndim != 1 or mu.shape[-1] != center.shape[0]:
        raise ValueError(f"mu must be (..., d) and center (d,), got {tuple(mu.shape)} and {tuple(center.shape)}")


class GlanceAndLook(nn.Module):
    """Look at one of ``grid x grid`` cells of an image at full resolution, chosen from a coarse glance.

    A policy network sees the whole image pooled to ``glance x glance`` pixels
    and scores the cells. A shared classifier encodes each cell. Then:

    - ``mode="soft"``: the cell features are averaged with the softmax weights,
      Eq. (foundations-soft); every cell is processed, everything is differentiable.
    - ``mode="hard"``: one cell is sampled (training) or the best one taken
      (evaluation), Eq. (foundations-hard); only its feature reaches the
      classifier, and the policy learns by REINFORCE (:func:`glance_and_look_step`).
    - ``mode="random"``: a uniformly random cell, the floor a policy must beat.

    ``forward(images (B, 1, H, W))`` returns ``(logits (B, 10), weights (B, N),
    index (B,) or None, log_prob (B,) or None)``.
    """

    def __init__(
        self, mode: str = "hard", grid: int = 2, cell_pixels: int = 28, glance: int = 8, hidden: int = 128
    ) -> None:
        super().__init__()
        checks.one_of(mode, ("soft", "hard", "random"), "mode")
        for value, name in [(grid, "grid"), (cell_pixels, "cell_pixels"), (glance, "glance"), (hidden, "hidden")]:
            checks.positive_int(value, name)
        self.cell_pixels = cell_pixels
        self.mode, self.grid, self.glance = mode, grid, glance
        self.policy = nn.Sequential(
            nn.Flatten(), nn.Linear(glance * glance, hidden), nn.ReLU(), nn.Linear(hidden, grid * grid)
        )
        self.encoder = nn.Sequential(
            nn.Linear(cell_pixels * cell_pixels, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.head = nn.Linear(hidden, 10)

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        side = self.grid * self.cell_pixels
        checks.tensor(images, "images", dtype="float")
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, side, side):
            raise ValueError(
                f"images must be (B, 1, {side}, {side}) (grid * cell_pixels = {self.grid} * {self.cell_pixels}), "
                f"got shape {tuple(images.shape)}"
            )
        _check_generator(generator)
        scores = self.policy(nn.functional.adaptive_avg_pool2d(images, self.glance))
        cells = image_to_cells(images, self.grid)
        batch = torch.arange(images.shape[0], device=images.device)
        if self.mode == "soft":
            context, weights = soft_attention(self.encoder(cells), scores)
            return self.head(context), weights, None, None
        if self.mode == "random":
            index = torch.randint(0, cells.shape[1], (images.shape[0],), generator=generator).to(images.device)
            log_prob = None
        elif self.training:
            # sample first, then encode only the chosen cell: that is where hard attention saves work
            _, index, log_prob = hard_attention(cells.new_zeros(cells.shape[:2] + (1,)), scores, generator)
        else:
            index, log_prob = scores.argmax(-1), None
        context = self.encoder(cells[batch, index])
        return self.head(context), scores.softmax(-1), index, log_prob


def glance_and_look_step(
    model: GlanceAndLook, batch: tuple[torch.Tensor, torch.Tensor], baseline: MovingAverageBaseline | None
) -> tuple[torch.Tensor, dict[str, float]]:
    """The hybrid loss: cross-entropy for the classifier, REINFORCE for the policy (reward = correct).

    ``baseline=None`` trains the policy with the plain estimator, Eq. (foundations-score);
    a :class:`~attnlib.reinforce.MovingAverageBaseline` subtracts the running mean reward,
    Eq. (foundations-baseline). Plugs into :func:`attnlib.train.fit` as
    ``step=lambda m, b: glance_and_look_step(m, b, baseline)``.
    """
    inner = getattr(model, "module", model)  # under torchrun, fit hands the DistributedDataParallel wrapper
    if not isinstance(inner, GlanceAndLook):
        raise ValueError(f"model must be a GlanceAndLook, got {type(model).__name__}")
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(f"batch must be an (images, labels) pair, got a {type(batch).__name__}")
    if baseline is not None and not isinstance(baseline, MovingAverageBaseline):
        raise ValueError(f"baseline must be None or a MovingAverageBaseline, got {type(baseline).__name__}")
    images, labels = batch
    checks.tensor(labels, "labels", ndim=1)
    if labels.shape[0] != getattr(images, "shape", (None,))[0]:
        raise ValueError(
            f"labels must be (B,) with B = {getattr(images, 'shape', (None,))[0]}, got {tuple(labels.shape)}"
        )
    if labels.numel() == 0:
        raise ValueError("labels must hold at least one label, got an empty batch")
    checks.ids_in_range(labels, inner.head.out_features, "labels")
    logits, _, _, log_prob = model(images)
    loss = nn.functional.cross_entropy(logits, labels)
    correct = (logits.argmax(-1) == labels).float()
    if log_prob is not None:
        b = None if baseline is None else baseline.update(correct)
        loss = loss + score_function_surrogate(log_prob, correct, b)
    return loss, {"loss": loss.item(), "acc": correct.mean().item()}
