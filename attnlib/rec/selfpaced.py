"""Self-paced sample weighting with a learnable width, Eqs. (rec-difficulty) to (rec-normalised) of chapter 8.

The notes of the paper write the difficulty score and the total loss as

    d = exp(+(L - mu)^2 / sigma^2),      total = d0 L_L1 + d1 L_GIoU - lambda (d0 + d1).

Four weightings share one code path (``form``):

``"as_written"``
    The formula above, gradients through ``d`` as written. ``d >= 1`` weights hard samples *more* (the paper's
    intent), but for every sample with ``L < lambda`` the term ``(L - lambda) d`` goes to minus infinity as
    ``sigma`` shrinks: unbounded below, Eq. (rec-dsigma).
``"floored"``
    The same objective with ``sigma >= sigma_min``, Eq. (rec-floored): each term is at least
    ``-lambda exp(lambda^2 / sigma_min^2)``, and with ``sigma_min >= lambda / sqrt(2)`` the network's gradient
    ``d (1 + 2 L (L - lambda) / sigma^2)`` stays positive (hard samples still weighted more).
``"normalised"``
    Eq. (rec-normalised): the network sees the detached weights ``w = d / mean(d)`` (batch mean 1, hard samples
    above 1) on its losses; ``sigma`` (floored) learns alone from the paper's term on the detached losses.
``"easy_first"``
    A minus sign in the exponent, ``d = exp(-(L - mu)^2 / sigma^2)`` in ``(0, 1]``, the scores see detached
    losses: bounded (at least ``-lambda`` per term) but hard samples are weighted *less*: classical self-paced
    learning, the opposite emphasis.

No weighting at all is the plain ``L1 + GIoU`` loss (``loss="l1+giou"`` of :func:`attnlib.rec.train.train_rec`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from attnlib import checks

__all__ = ["FORMS", "difficulty", "self_paced_loss", "SelfPacedLoss"]

Form = Literal["as_written", "floored", "normalised", "easy_first"]
FORMS: tuple[str, ...] = ("as_written", "floored", "normalised", "easy_first")
#: Forms whose width is floored at ``sigma_min``.
FLOORED: tuple[str, ...] = ("floored", "normalised")


def _sign(form: str) -> float:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    return -1.0 if form == "easy_first" else 1.0


def _check_sigma(sigma: torch.Tensor, name: str) -> None:
    """A scalar float tensor holding a finite value ``> 0`` (reads the value: used at the public entry points)."""
    if not isinstance(sigma, torch.Tensor) or sigma.numel() != 1:
        shape = tuple(sigma.shape) if isinstance(sigma, torch.Tensor) else type(sigma).__name__
        raise ValueError(f"{name} must be a scalar tensor, got shape {shape}")
    checks.tensor(sigma, name, dtype="float")
    value = float(sigma.detach())
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


def _finite_number(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check_losses(loss: torch.Tensor, name: str) -> None:
    checks.tensor(loss, name, dtype="float")
    checks.finite(loss.detach(), name)


def _difficulty(loss: torch.Tensor, sigma: torch.Tensor, mu: float, sign: float) -> torch.Tensor:
    return torch.exp(sign * (loss - mu) ** 2 / sigma.reshape(()) ** 2)


def _total(l1, giou, sigma0, sigma1, lam, mu, form, sigma_min):  # noqa: ANN001, ANN202
    """The four forms of Eqs. (rec-total), (rec-floored), (rec-normalised); returns total and the weights the
    network's losses are multiplied by."""
    sign = _sign(form)
    if form in FLOORED:
        sigma0, sigma1 = sigma0.clamp_min(sigma_min), sigma1.clamp_min(sigma_min)
    if form in ("as_written", "floored"):
        d0, d1 = _difficulty(l1, sigma0, mu, sign), _difficulty(giou, sigma1, mu, sign)
        return (d0 * l1 + d1 * giou - lam * (d0 + d1)).mean(), d0, d1
    a0, a1 = l1.detach(), giou.detach()
    d0, d1 = _difficulty(a0, sigma0, mu, sign), _difficulty(a1, sigma1, mu, sign)
    if form == "easy_first":  # the network sees d * dL; sigma sees the same term
        return (d0 * l1 + d1 * giou - lam * (d0 + d1)).mean(), d0, d1
    sigma_term = (d0 * a0 + d1 * a1 - lam * (d0 + d1)).mean()
    w0, w1 = (d0 / d0.mean()).detach(), (d1 / d1.mean()).detach()
    return (w0 * l1 + w1 * giou).mean() + sigma_term, w0, w1


def difficulty(loss: torch.Tensor, sigma: torch.Tensor, mu: float = 0.0, form: Form = "as_written") -> torch.Tensor:
    """Difficulty score ``d = exp(s (L - mu)^2 / sigma^2)``, Eq. (rec-difficulty); ``s = -1`` for ``"easy_first"``,
    ``+1`` otherwise (with ``sigma`` floored at nothing here: the score alone).

    Parameters
    ----------
    loss
        ``(N,)`` per-sample losses.
    sigma
        Scalar tensor, ``> 0``.
    mu
        Any finite number: the loss at which ``d = 1`` (0 in the paper; a negative value shifts every loss up).

    Returns
    -------
    d
        ``(N,)``.
    """
    checks.tensor(loss, "loss", ndim=1)
    _check_losses(loss, "loss")
    _check_sigma(sigma, "sigma")
    return _difficulty(loss, sigma, _finite_number(mu, "mu"), _sign(form))


def self_paced_loss(
    l1: torch.Tensor,
    giou: torch.Tensor,
    sigma0: torch.Tensor,
    sigma1: torch.Tensor,
    lam: float = 0.75,
    mu: float = 0.0,
    form: Form = "as_written",
    sigma_min: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total self-paced loss in one of four forms (module docstring), averaged over the batch.

    Parameters
    ----------
    l1, giou
        ``(N,)`` per-sample L1 (summed over the four coordinates) and ``1 - GIoU`` losses.
    sigma0, sigma1
        Scalar width parameters (learnable), ``> 0``; the floored forms use ``max(sigma, sigma_min)``.
    lam
        The weight ``lambda`` of the regulariser (0.75 in the paper).
    mu
        Any finite number: the loss at which ``d = 1`` (0 in the paper).
    form
        ``"as_written"`` (Eq. (rec-total)), ``"floored"`` (Eq. (rec-floored)), ``"normalised"``
        (Eq. (rec-normalised)) or ``"easy_first"`` (minus sign in the exponent, detached scores).
    sigma_min
        Floor of the widths in ``"floored"`` and ``"normalised"``, ``> 0``.

    Returns
    -------
    total, w0, w1
        Scalar loss and the ``(N,)`` weights on ``l1`` and ``giou``: the scores ``d`` (``w = d / mean(d)`` for
        ``"normalised"``).
    """
    _check_pair(l1, giou)
    _check_sigma(sigma0, "sigma0")
    _check_sigma(sigma1, "sigma1")
    checks.non_negative_float(lam, "lam")
    checks.positive_float(sigma_min, "sigma_min")
    _sign(form)
    return _total(l1, giou, sigma0, sigma1, lam, _finite_number(mu, "mu"), form, sigma_min)


def _check_pair(l1: torch.Tensor, giou: torch.Tensor) -> None:
    for name, t in (("l1", l1), ("giou", giou)):
        checks.tensor(t, name)
    if l1.shape != giou.shape or l1.ndim != 1:
        raise ValueError(f"l1 and giou must be (N,) of the same size, got {tuple(l1.shape)} and {tuple(giou.shape)}")
    if l1.shape[0] == 0:
        raise ValueError("l1 and giou must hold at least one sample, got (0,)")
    _check_losses(l1, "l1")
    _check_losses(giou, "giou")


class SelfPacedLoss(nn.Module):
    """The self-paced loss with two learnable widths ``sigma0`` (L1) and ``sigma1`` (GIoU), in one of four forms.

    The widths are stored as ``rho`` with ``sigma = floor + exp(rho)`` (``floor = sigma_min`` for ``"floored"``
    and ``"normalised"``, 0 otherwise), so they stay positive (and above the floor) for any ``rho``; they start at
    ``sigma_init`` (2.5 in the paper). Give them their own learning rate (``5e-5`` in the paper).

    ``forward`` checks the shapes of ``l1`` and ``giou`` but not their values (it runs at every training
    step; :func:`self_paced_loss` is the checked entry point).
    """

    def __init__(self, sigma_init: float = 2.5, lam: float = 0.75, form: Form = "as_written", sigma_min: float = 1.0):
        super().__init__()
        _sign(form)
        checks.positive_float(sigma_init, "sigma_init")
        checks.non_negative_float(lam, "lam")
        checks.positive_float(sigma_min, "sigma_min")
        floor = sigma_min if form in FLOORED else 0.0
        if sigma_init <= floor:
            raise ValueError(f"sigma_init must be > sigma_min = {sigma_min} for form {form!r}, got {sigma_init}")
        self.floor = floor
        self.rho = nn.Parameter(torch.full((2,), math.log(sigma_init - floor)))
        self.lam, self.form, self.sigma_min = lam, form, sigma_min

    @property
    def sigma(self) -> torch.Tensor:
        """``(2,)``: ``sigma0``, ``sigma1``."""
        return self.floor + self.rho.exp()

    def forward(self, l1: torch.Tensor, giou: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``l1, giou (N,)`` -> ``total`` (scalar) and the weights ``w0, w1 (N,)``."""
        for name, t in (("l1", l1), ("giou", giou)):
            checks.tensor(t, name, dtype="float")
        if l1.shape != giou.shape or l1.ndim != 1:
            raise ValueError(
                f"l1 and giou must be (N,) of the same size, got {tuple(l1.shape)} and {tuple(giou.shape)}"
            )
        if l1.shape[0] == 0:
            raise ValueError("l1 and giou must hold at least one sample, got (0,)")
        sigma = self.sigma
        return _total(l1, giou, sigma[0], sigma[1], self.lam, 0.0, self.form, self.sigma_min)
