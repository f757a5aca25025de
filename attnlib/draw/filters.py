"""The Gaussian filterbank of DRAW (Chapter 4): window parameters, filters, read and write.

Five numbers from one linear layer (Eq. (draw-params)) set an ``N x N`` grid of Gaussian filters on an
``A x B`` image: centre (Eq. (draw-centre)), stride (Eq. (draw-stride)), variance and intensity. Filter
``i`` is centred at ``mu^i = g + (i - N/2 - 1/2) delta`` (Eq. (draw-grid)) and normalised over the pixels
(Eq. (draw-filters)); reading is ``gamma F_Y x F_X^T`` (Eq. (draw-read)), writing
``(1 / gamma) F_Y^T w F_X`` (Eq. (draw-write)). Columns and rows are numbered from 1, as in the paper, so
``g_X = (A + 1) / 2`` is the centre of the image; column ``a`` is column ``a - 1`` of the tensor.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from attnlib import checks

__all__ = ["Window", "attention_window", "filterbank", "read", "write", "window_layer"]

_EPS = 1e-8


class Window(NamedTuple):
    """The attention window's five parameters, each ``(B,)``: centre ``gx``, ``gy`` (pixels, from 1),
    stride ``delta`` (pixels), variance ``sigma2`` (pixels squared) and intensity ``gamma``."""

    gx: torch.Tensor
    gy: torch.Tensor
    delta: torch.Tensor
    sigma2: torch.Tensor
    gamma: torch.Tensor


def attention_window(raw: torch.Tensor, height: int, width: int, n: int) -> Window:
    """Map the linear layer's five outputs to a window, Eqs. (draw-params) to (draw-stride).

    Parameters
    ----------
    raw
        ``(B, 5)``: ``(g~_X, g~_Y, log sigma^2, log delta~, log gamma)``.
    height, width
        ``B`` rows and ``A`` columns of the image.
    n
        ``N``, the side of the filter grid.

    Returns
    -------
    Window
        ``g_X = (A + 1)/2 (g~_X + 1)``, ``g_Y = (B + 1)/2 (g~_Y + 1)``,
        ``delta = (max(A, B) - 1)/(N - 1) delta~`` (for ``N = 1``: ``max(A, B) - 1`` times
        ``delta~``, unused by a single filter), ``sigma^2``, ``gamma``.

    Ranks and dtypes are checked; values are not checked for NaN or inf: this runs inside the models' forward
    at every step (see :mod:`attnlib.checks`).
    """
    checks.positive_ints(height=height, width=width, n=n)
    checks.tensor(raw, "raw", dtype="float")
    if raw.ndim != 2 or raw.shape[1] != 5:
        raise ValueError(f"raw must be (B, 5): g~x, g~y, log sigma^2, log delta~, log gamma; got {tuple(raw.shape)}")
    gx_, gy_, log_sigma2, log_delta, log_gamma = raw.unbind(1)
    gx = (width + 1) / 2 * (gx_ + 1)
    gy = (height + 1) / 2 * (gy_ + 1)
    delta = (max(width, height) - 1) / max(n - 1, 1) * torch.exp(log_delta)
    return Window(gx, gy, delta, torch.exp(log_sigma2), torch.exp(log_gamma))


def filterbank(window: Window, height: int, width: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two filter matrices of a window, Eqs. (draw-grid) and (draw-filters).

    Parameters
    ----------
    window
        From :func:`attention_window`; each field ``(B,)``.
    height, width, n
        ``B`` rows, ``A`` columns, grid side ``N``.

    Returns
    -------
    fx
        ``(B, N, A)``: row ``i`` is the Gaussian ``exp(-(a - mu_X^i)^2 / (2 sigma^2))`` over the
        columns ``a = 1 .. A``, divided by its sum (plus ``1e-8``).
    fy
        ``(B, N, B)``: the same over the rows.

    Values are not checked for NaN or inf: this runs inside the models' forward at every step (see
    :mod:`attnlib.checks`).
    """
    checks.positive_ints(height=height, width=width, n=n)
    if not isinstance(window, Window):
        raise ValueError(f"window must be an attnlib.draw.Window, got {type(window).__name__}")
    gx, gy, delta, sigma2, _ = window
    offsets = torch.arange(1, n + 1, dtype=gx.dtype, device=gx.device) - n / 2 - 0.5  # (N,)
    mu_x = gx[:, None] + offsets * delta[:, None]  # (B, N)
    mu_y = gy[:, None] + offsets * delta[:, None]
    a = torch.arange(1, width + 1, dtype=gx.dtype, device=gx.device)
    b = torch.arange(1, height + 1, dtype=gx.dtype, device=gx.device)
    fx = torch.exp(-((a - mu_x[..., None]) ** 2) / (2 * sigma2[:, None, None]))
    fy = torch.exp(-((b - mu_y[..., None]) ** 2) / (2 * sigma2[:, None, None]))
    fx = fx / (fx.sum(-1, keepdim=True) + _EPS)
    fy = fy / (fy.sum(-1, keepdim=True) + _EPS)
    return fx, fy


def _check_filters(fx: torch.Tensor, fy: torch.Tensor, gamma: torch.Tensor) -> None:
    checks.tensor(fx, "fx", ndim=3, dtype="float")
    checks.tensor(fy, "fy", ndim=3, dtype="float")
    checks.tensor(gamma, "gamma", shape=(fx.shape[0],), dtype="float")
    if fy.shape[:2] != fx.shape[:2]:
        raise ValueError(f"fy must be (B, N, H) with fx's (B, N) = {tuple(fx.shape[:2])}, got {tuple(fy.shape)}")


def read(images: torch.Tensor, fx: torch.Tensor, fy: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """The glimpse ``gamma F_Y x F_X^T`` of each channel, Eq. (draw-read).

    Parameters
    ----------
    images
        ``(B, C, H, W)``.
    fx, fy, gamma
        ``(B, N, W)``, ``(B, N, H)``, ``(B,)``.

    Returns
    -------
    torch.Tensor
        ``(B, C, N, N)``.

    Shapes and dtypes are checked; values are not checked for NaN or inf: this runs inside the models' forward
    at every step (see :mod:`attnlib.checks`).
    """
    _check_filters(fx, fy, gamma)
    checks.tensor(images, "images", ndim=4, dtype="float")
    if images.shape[0] != fx.shape[0] or images.shape[2] != fy.shape[2] or images.shape[3] != fx.shape[2]:
        raise ValueError(
            f"images must be (B, C, H, W) = ({fx.shape[0]}, C, {fy.shape[2]}, {fx.shape[2]}) to match the filters, "
            f"got {tuple(images.shape)}"
        )
    return gamma[:, None, None, None] * torch.einsum("bny,bcyx,bmx->bcnm", fy, images, fx)


def write(patch: torch.Tensor, fx: torch.Tensor, fy: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Paint a patch onto the image plane, ``(1 / gamma) F_Y^T w F_X``, Eq. (draw-write).

    Parameters
    ----------
    patch
        ``(B, C, N, N)``.
    fx, fy, gamma
        ``(B, N, W)``, ``(B, N, H)``, ``(B,)``.

    Returns
    -------
    torch.Tensor
        ``(B, C, H, W)``.

    Shapes and dtypes are checked; values are not checked for NaN or inf: this runs inside the models' forward
    at every step (see :mod:`attnlib.checks`).
    """
    _check_filters(fx, fy, gamma)
    checks.tensor(patch, "patch", ndim=4, dtype="float")
    n = fx.shape[1]
    if patch.shape[0] != fx.shape[0] or patch.shape[2:] != (n, n):
        raise ValueError(f"patch must be (B, C, N, N) = ({fx.shape[0]}, C, {n}, {n}), got {tuple(patch.shape)}")
    return torch.einsum("bny,bcnm,bmx->bcyx", fy, patch, fx) / gamma[:, None, None, None]


def window_layer(
    in_size: int, height: int, width: int, n: int, write: bool = False, stride: float = 1.0, sigma: float | None = None
) -> nn.Linear:
    """The linear layer of Eq. (draw-params), started at one window for every input: zero weights and a
    bias that puts the grid at the centre with ``delta~ = stride`` (1: over the whole image) and
    filters of width ``sigma`` (default: half the stride, so that neighbouring filters overlap and the
    first reads and writes cover their span smoothly).

    For a write window, ``gamma`` starts at the squared peak of a normalised filter,
    ``1 / (2 pi sigma^2)``: a patch entry of 1 then adds about 1 to the canvas logit under its filter's
    centre (with ``gamma = 1`` it would add about ``1 / (2 pi sigma^2)``, 0.014 on 28x28 with ``N = 5``,
    and the first steps could hardly draw).
    """
    checks.positive_ints(in_size=in_size, height=height, width=width, n=n)
    checks.positive_float(stride, "stride")
    write = checks.flag(write, "write")
    layer = nn.Linear(in_size, 5)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    if sigma is None:
        sigma = max(stride * (max(height, width) - 1) / max(n - 1, 1) / 2, 0.5)
    sigma = checks.positive_float(sigma, "sigma")
    with torch.no_grad():
        layer.bias[2] = 2 * math.log(sigma)
        layer.bias[3] = math.log(stride)
        if write:
            layer.bias[4] = -math.log(2 * math.pi * sigma**2)
    return layer
