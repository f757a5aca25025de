"""Self-paced sample weighting with a learnable width, Eqs. (rec-difficulty) and (rec-total) of chapter 8.

The notes of the paper write the difficulty score and the total loss as

    d = exp(+(L - mu)^2 / sigma^2),      total = d0 L_L1 + d1 L_GIoU - lambda (d0 + d1).

With the plus sign ``d >= 1`` and, for every sample with ``L < lambda``, the
term ``(L - lambda) d`` goes to minus infinity as ``sigma`` shrinks: the loss is
unbounded below and gradient descent on ``sigma`` finds that direction
(``form="as_written"``). With a minus sign, ``d = exp(-(L - mu)^2 / sigma^2)`` lies
in ``(0, 1]``, the total is bounded below by ``-lambda`` per term, and hard samples
(large ``L``) are down-weighted: classical self-paced weighting (``form="bounded"``,
the default and the one the chapter trains with).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from attnlib import checks

__all__ = ["difficulty", "self_paced_loss", "SelfPacedLoss"]

Form = Literal["bounded", "as_written"]


def _sign(form: str) -> float:
    if form not in ("bounded", "as_written"):
        raise ValueError(f"form must be 'bounded' or 'as_written', got {form!r}")
    return -1.0 if form == "bounded" else 1.0


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


def _difficulty(loss: torch.Tensor, sigma: torch.Tensor, mu: float, form: str) -> torch.Tensor:
    return torch.exp(_sign(form) * (loss - mu) ** 2 / sigma.reshape(()) ** 2)


def _total(l1, giou, sigma0, sigma1, lam, mu, form, detach_weights):  # noqa: ANN001, ANN202
    s0 = l1.detach() if detach_weights else l1
    s1 = giou.detach() if detach_weights else giou
    d0 = _difficulty(s0, sigma0, mu, form)
    d1 = _difficulty(s1, sigma1, mu, form)
    total = (d0 * l1 + d1 * giou - lam * (d0 + d1)).mean()
    return total, d0, d1


def difficulty(loss: torch.Tensor, sigma: torch.Tensor, mu: float = 0.0, form: Form = "bounded") -> torch.Tensor:
    """Difficulty score ``d = exp(s (L - mu)^2 / sigma^2)``, Eq. (rec-difficulty); ``s = -1`` (bounded) or ``+1``.

    Parameters
    ----------
    loss
        ``(N,)`` per-sample losses.
    sigma
        Scalar tensor (learnable), ``> 0``.

    Returns
    -------
    d
        ``(N,)``.
    """
    checks.tensor(loss, "loss", ndim=1)
    _check_losses(loss, "loss")
    _check_sigma(sigma, "sigma")
    _sign(form)
    return _difficulty(loss, sigma, _finite_number(mu, "mu"), form)


def self_paced_loss(
    l1: torch.Tensor,
    giou: torch.Tensor,
    sigma0: torch.Tensor,
    sigma1: torch.Tensor,
    lam: float = 0.75,
    mu: float = 0.0,
    form: Form = "bounded",
    detach_weights: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Total self-paced loss, Eq. (rec-total): ``mean(d0 L1 + d1 LGIoU - lam (d0 + d1))``.

    Parameters
    ----------
    l1, giou
        ``(N,)`` per-sample L1 (summed over the four coordinates) and ``1 - GIoU`` losses.
    sigma0, sigma1
        Scalar width parameters (learnable).
    lam
        The weight ``lambda`` of the regulariser (0.75 in the paper).
    form
        ``"bounded"`` (minus sign in the exponent) or ``"as_written"`` (the notes' plus sign).
    detach_weights
        If True (default) the scores see the losses through ``.detach()``: the network's gradient is
        ``d * dL`` (a per-sample weight, as in self-paced learning's alternating scheme), and only the
        sigmas learn from the score. If False the gradient also flows through ``d(L)``; with the
        bounded form that pushes very hard samples' losses *up*.

    Returns
    -------
    total, d0, d1
        Scalar loss and the ``(N,)`` scores (for plotting).
    """
    _check_pair(l1, giou)
    _check_sigma(sigma0, "sigma0")
    _check_sigma(sigma1, "sigma1")
    checks.non_negative_float(lam, "lam")
    _finite_number(mu, "mu")
    _sign(form)
    if not isinstance(detach_weights, bool):
        raise ValueError(f"detach_weights must be True or False, got {detach_weights!r}")
    return _total(l1, giou, sigma0, sigma1, lam, mu, form, detach_weights)


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
    """The self-paced loss with two learnable widths ``sigma0`` (L1) and ``sigma1`` (GIoU), Eq. (rec-total).

    The widths are stored as ``log sigma`` so they stay positive; they start at
    ``sigma_init`` (2.5 in the paper). Give them their own learning rate
    (``5e-5`` in the paper; the chapter's short runs use a larger one).

    ``forward`` checks the shapes of ``l1`` and ``giou`` but not their values (it runs at every training
    step; :func:`self_paced_loss` is the checked entry point); its sigmas are positive by construction.
    """

    def __init__(self, sigma_init: float = 2.5, lam: float = 0.75, form: Form = "bounded", detach_weights: bool = True):
        super().__init__()
        _sign(form)
        checks.positive_float(sigma_init, "sigma_init")
        checks.non_negative_float(lam, "lam")
        if not isinstance(detach_weights, bool):
            raise ValueError(f"detach_weights must be True or False, got {detach_weights!r}")
        self.log_sigma = nn.Parameter(torch.full((2,), math.log(sigma_init)))
        self.lam, self.form, self.detach_weights = lam, form, detach_weights

    @property
    def sigma(self) -> torch.Tensor:
        """``(2,)``: ``sigma0``, ``sigma1``."""
        return self.log_sigma.exp()

    def forward(self, l1: torch.Tensor, giou: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for name, t in (("l1", l1), ("giou", giou)):
            checks.tensor(t, name, dtype="float")
        if l1.shape != giou.shape or l1.ndim != 1:
            raise ValueError(
                f"l1 and giou must be (N,) of the same size, got {tuple(l1.shape)} and {tuple(giou.shape)}"
            )
        if l1.shape[0] == 0:
            raise ValueError("l1 and giou must hold at least one sample, got (0,)")
        sigma = self.sigma
        return _total(l1, giou, sigma[0], sigma[1], self.lam, 0.0, self.form, self.detach_weights)
