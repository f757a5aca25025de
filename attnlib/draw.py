"""Chapter 4: DRAW (Gregor et al., 2015): differentiable read and write attention.

An ``N x N`` grid of Gaussian filters is placed on an ``A x B`` image (``A`` columns, ``B`` rows)
by five numbers that one linear layer reads off a recurrent state (Eq. (draw-params)):
the grid centre ``(g_X, g_Y)`` (Eq. (draw-centre)), the stride ``delta`` (Eq. (draw-stride)),
the filters' variance ``sigma^2`` and an intensity ``gamma``. Filter ``i`` of the ``X`` grid is
centred at ``mu_X^i = g_X + (i - N/2 - 1/2) delta`` (Eq. (draw-grid)) and is a Gaussian over the
columns ``a = 1 .. A``, normalised to sum to one (Eq. (draw-filters)). Reading is
``gamma F_Y x F_X^T`` (Eq. (draw-read)); writing is ``(1 / gamma) F_Y^T w F_X`` (Eq. (draw-write)).
Every step is a smooth function of the five numbers, so gradients reach the layer that
predicts them: attention trained by backpropagation, not REINFORCE (Chapter 2).

:class:`DRAW` is the sequential variational auto-encoder (Eqs. (draw-enc) to (draw-canvas)), with
attention (read ``2 x 2``, write ``5 x 5`` in the paper) or without (read the whole image and the
whole error image, write the whole canvas) on the same code (``attention=False``). Its loss
:func:`draw_loss` is the negative variational bound in nats (Eq. (draw-bound)): the Bernoulli
reconstruction term plus the summed KL terms :func:`kl_standard_normal` (Eq. (draw-kl)).
:class:`DifferentiableRAM` keeps the read attention alone, feeds the glimpses to an LSTM and
classifies from its last state (the paper's "differentiable RAM").

Coordinates: columns and rows are numbered from 1, as in the paper, so ``g_X = (A + 1) / 2`` is the
centre of the image; a pixel's column ``a`` in this module is column ``a - 1`` of the tensor.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from attnlib import checks

__all__ = [
    "DRAW",
    "DRAWOutput",
    "DifferentiableRAM",
    "Window",
    "attention_window",
    "binarize",
    "decoder_gradient_estimates",
    "draw_loss",
    "filterbank",
    "kl_standard_normal",
    "log_weights",
    "read",
    "write",
]

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
    """
    _check_filters(fx, fy, gamma)
    checks.tensor(patch, "patch", ndim=4, dtype="float")
    n = fx.shape[1]
    if patch.shape[0] != fx.shape[0] or patch.shape[2:] != (n, n):
        raise ValueError(f"patch must be (B, C, N, N) = ({fx.shape[0]}, C, {n}, {n}), got {tuple(patch.shape)}")
    return torch.einsum("bny,bcnm,bmx->bcyx", fy, patch, fx) / gamma[:, None, None, None]


def kl_standard_normal(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, sigma^2) || N(0, 1))`` summed over the last dim, Eq. (draw-kl).

    ``(..., Z), (..., Z) -> (...)``: ``1/2 sum (mu^2 + sigma^2 - 2 log sigma - 1)``.
    """
    checks.tensor(mu, "mu", dtype="float")
    checks.tensor(log_sigma, "log_sigma", dtype="float")
    if mu.shape != log_sigma.shape or mu.ndim == 0:
        raise ValueError(
            f"mu and log_sigma must have one shape (..., Z), got {tuple(mu.shape)} and {tuple(log_sigma.shape)}"
        )
    return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(-1)


def _window_layer(
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
    checks.positive_float(stride, "stride")
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


class DRAWOutput(NamedTuple):
    """What :meth:`DRAW.forward` returns.

    canvases ``(B, T, H, W)``: the canvas logits ``c_1 .. c_T`` (``sigmoid(c_T)`` is the Bernoulli
    mean); mu, log_sigma, z ``(B, T, Z)``: the approximate posterior of every step and its sample;
    windows ``(B, T, 5)``: the write window of every step as ``(g_X, g_Y, delta, sigma^2, gamma)``
    (NaN without attention).
    """

    canvases: torch.Tensor
    mu: torch.Tensor
    log_sigma: torch.Tensor
    z: torch.Tensor
    windows: torch.Tensor


class DRAW(nn.Module):
    """The DRAW sequential VAE, Eqs. (draw-enc) to (draw-canvas), with or without attention.

    Parameters
    ----------
    height, width
        Image size.
    steps
        ``T``, the number of drawing steps.
    read_size, write_size
        ``N`` of the read and the write grid (ignored when ``attention=False``).
    enc_size, dec_size, z_size
        LSTM sizes and the latent size per step.
    attention
        ``False``: read ``[x, x^]`` whole, write the canvas through a linear layer of ``H W`` outputs.
    """

    def __init__(
        self,
        height: int = 28,
        width: int = 28,
        steps: int = 10,
        read_size: int = 2,
        write_size: int = 5,
        enc_size: int = 256,
        dec_size: int = 256,
        z_size: int = 100,
        attention: bool = True,
    ) -> None:
        super().__init__()
        checks.positive_ints(
            height=height, width=width, steps=steps, read_size=read_size, write_size=write_size,
            enc_size=enc_size, dec_size=dec_size, z_size=z_size,
        )  # fmt: skip
        if not isinstance(attention, bool):
            raise ValueError(f"attention must be True or False, got {attention!r}")
        self.height, self.width, self.steps, self.attention = height, width, steps, attention
        self.read_size, self.write_size, self.z_size = read_size, write_size, z_size
        read_dim = 2 * read_size**2 if attention else 2 * height * width
        self.encoder = nn.LSTMCell(read_dim + dec_size, enc_size)
        self.to_posterior = nn.Linear(enc_size, 2 * z_size)
        self.decoder = nn.LSTMCell(z_size, dec_size)
        self.to_patch = nn.Linear(dec_size, write_size**2 if attention else height * width)
        # the canvas before the first step, c_0, learned (the paper does not say how it starts)
        self.canvas0 = nn.Parameter(torch.zeros(height, width))
        if attention:
            self.read_window = _window_layer(dec_size, height, width, read_size)
            self.write_window = _window_layer(dec_size, height, width, write_size, write=True)

    def _window(self, layer: nn.Linear, h: torch.Tensor, n: int) -> tuple[Window, torch.Tensor, torch.Tensor]:
        window = attention_window(layer(h), self.height, self.width, n)
        fx, fy = filterbank(window, self.height, self.width, n)
        return window, fx, fy

    def _read(self, x: torch.Tensor, x_err: torch.Tensor, h_dec: torch.Tensor) -> torch.Tensor:
        if not self.attention:
            return torch.cat([x.flatten(1), x_err.flatten(1)], 1)
        window, fx, fy = self._window(self.read_window, h_dec, self.read_size)
        both = torch.stack([x, x_err], 1)  # (B, 2, H, W)
        return read(both, fx, fy, window.gamma).flatten(1)

    def _write(self, h_dec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        patch = self.to_patch(h_dec)
        if not self.attention:
            nan = torch.full((h_dec.shape[0], 5), float("nan"), device=h_dec.device)
            return patch.view(-1, self.height, self.width), nan
        window, fx, fy = self._window(self.write_window, h_dec, self.write_size)
        canvas = write(patch.view(-1, 1, self.write_size, self.write_size), fx, fy, window.gamma)[:, 0]
        return canvas, torch.stack(list(window), 1)

    def _noise(self, shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is None:
            return torch.randn(shape, device=like.device, dtype=like.dtype)
        return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> DRAWOutput:
        """Encode and reconstruct ``x`` ``(B, 1, H, W)`` or ``(B, H, W)`` with values in ``[0, 1]``.

        At step ``t``: ``x^ = x - sigmoid(c_{t-1})``, ``r = read(x, x^, h^dec_{t-1})``,
        ``h^enc_t = LSTM_enc([r, h^dec_{t-1}])``, ``z_t ~ N(mu_t, sigma_t^2)`` by
        reparameterisation, ``h^dec_t = LSTM_dec(z_t)``, ``c_t = c_{t-1} + write(h^dec_t)``.
        Shapes are not value-checked here (see :mod:`attnlib.checks`); :func:`draw_loss` checks them.
        """
        if x.ndim == 4:
            x = x[:, 0]
        if x.ndim != 3 or x.shape[1:] != (self.height, self.width):
            raise ValueError(f"x must be (B, 1, {self.height}, {self.width}) or (B, H, W), got {tuple(x.shape)}")
        batch = x.shape[0]
        h_enc = c_enc = x.new_zeros(batch, self.encoder.hidden_size)
        h_dec = c_dec = x.new_zeros(batch, self.decoder.hidden_size)
        canvas = self.canvas0.expand(batch, -1, -1)
        eps = self._noise((self.steps, batch, self.z_size), x, generator)
        canvases, mus, log_sigmas, zs, windows = [], [], [], [], []
        for t in range(self.steps):
            x_err = x - torch.sigmoid(canvas)
            r = self._read(x, x_err, h_dec)
            h_enc, c_enc = self.encoder(torch.cat([r, h_dec], 1), (h_enc, c_enc))
            mu, log_sigma = self.to_posterior(h_enc).chunk(2, 1)
            z = mu + torch.exp(log_sigma) * eps[t]
            h_dec, c_dec = self.decoder(z, (h_dec, c_dec))
            delta, window = self._write(h_dec)
            canvas = canvas + delta
            canvases.append(canvas)
            mus.append(mu)
            log_sigmas.append(log_sigma)
            zs.append(z)
            windows.append(window)
        return DRAWOutput(*(torch.stack(v, 1) for v in (canvases, mus, log_sigmas, zs, windows)))

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the decoder alone on given latents ``z`` ``(B, T, Z)``, Eqs. (draw-dec) and (draw-canvas).

        Returns
        -------
        canvases
            ``(B, T, H, W)``: the canvas logits ``c_1 .. c_T``.
        windows
            ``(B, T, 5)``: the write windows (NaN without attention).
        """
        checks.tensor(z, "z", shape=(None, self.steps, self.z_size), dtype="float")
        batch = z.shape[0]
        h_dec = c_dec = z.new_zeros(batch, self.decoder.hidden_size)
        canvas = self.canvas0.expand(batch, -1, -1)
        canvases, windows = [], []
        for t in range(self.steps):
            h_dec, c_dec = self.decoder(z[:, t], (h_dec, c_dec))
            delta, window = self._write(h_dec)
            canvas = canvas + delta
            canvases.append(canvas)
            windows.append(window)
        return torch.stack(canvases, 1), torch.stack(windows, 1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate ``n`` images from the prior, ``z_t ~ N(0, I)``.

        Returns
        -------
        canvases
            ``(n, T, H, W)``: ``sigmoid(c_t)``, the Bernoulli means after every step.
        windows
            ``(n, T, 5)``: the write windows (NaN without attention).
        """
        checks.positive_int(n, "n")
        like = self.canvas0
        z = self._noise((n, self.steps, self.z_size), like, generator)
        canvases, windows = self.decode(z)
        return torch.sigmoid(canvases), windows


def decoder_gradient_estimates(
    model: DRAW,
    x: torch.Tensor,
    mu: torch.Tensor,
    log_sigma: torch.Tensor,
    n_repeats: int,
    method: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``n_repeats`` one-sample estimates of ``d E_q[-log D(x | z)] / d mu``, ``z ~ N(mu, sigma^2)``.

    ``method="reparam"``: back-propagate through ``z = mu + sigma eps`` and the decoder
    (Eq. (foundations-reparam)); ``method="score"``: ``f(z) (z - mu) / sigma^2`` with
    ``f = -log D(x | z)``, which never differentiates the decoder (Eq. (foundations-gauss-score)).

    Parameters
    ----------
    model
        A :class:`DRAW`; only its decoder is used.
    x
        ``(1, 1, H, W)``: one binary image.
    mu, log_sigma
        ``(T, Z)``: a posterior for that image (from :meth:`DRAW.forward`).

    Returns
    -------
    torch.Tensor
        ``(n_repeats, T, Z)``.
    """
    if not isinstance(model, DRAW):
        raise ValueError(f"model must be an attnlib.draw.DRAW, got {type(model).__name__}")
    checks.tensor(x, "x", shape=(1, 1, model.height, model.width), dtype="float")
    checks.tensor(mu, "mu", shape=(model.steps, model.z_size), dtype="float")
    checks.tensor(log_sigma, "log_sigma", shape=(model.steps, model.z_size), dtype="float")
    checks.positive_int(n_repeats, "n_repeats")
    checks.one_of(method, ("score", "reparam"), "method")
    eps = model._noise((n_repeats, model.steps, model.z_size), mu, generator)
    theta = mu.detach().expand(n_repeats, -1, -1).clone().requires_grad_(True)
    sigma = log_sigma.detach().exp()
    target = x[:, 0].expand(n_repeats, -1, -1)

    def nll(z: torch.Tensor) -> torch.Tensor:
        canvases, _ = model.decode(z)
        return F.binary_cross_entropy_with_logits(canvases[:, -1], target, reduction="none").flatten(1).sum(1)

    if method == "reparam":
        (grad,) = torch.autograd.grad(nll(theta + sigma * eps).sum(), theta)
        return grad
    with torch.no_grad():
        z = theta + sigma * eps
        f = nll(z)
    return f[:, None, None] * (z - theta) / sigma**2


def _targets(x: torch.Tensor, out: DRAWOutput) -> torch.Tensor:
    if not isinstance(out, DRAWOutput):
        raise ValueError(f"out must be a DRAWOutput (what DRAW.forward returns), got {type(out).__name__}")
    checks.tensor(x, "x", ndim=(3, 4), dtype="float")
    x = x[:, 0] if x.ndim == 4 else x
    if x.shape != out.canvases.shape[:1] + out.canvases.shape[2:]:
        raise ValueError(
            f"x must be (B, 1, H, W) matching the canvases {tuple(out.canvases.shape)}, got {tuple(x.shape)}"
        )
    if bool(((x < 0) | (x > 1)).any()):
        raise ValueError("x must hold Bernoulli targets in [0, 1]")
    return x


def draw_loss(x: torch.Tensor, out: DRAWOutput) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The negative variational bound per image, in nats, Eq. (draw-bound).

    Parameters
    ----------
    x
        ``(B, 1, H, W)`` targets in ``[0, 1]`` (binary for a likelihood).
    out
        :meth:`DRAW.forward` of ``x``.

    Returns
    -------
    loss
        The batch mean of ``L^x + L^z`` (scalar), the quantity to minimise.
    recon
        ``(B,)``: ``L^x = -log D(x | c_T)``, the Bernoulli negative log-likelihood of the last canvas.
    kl
        ``(B,)``: ``L^z = sum_t KL(Q(z_t | h^enc_t) || N(0, I))`` (Eq. (draw-kl)).
    """
    x = _targets(x, out)
    recon = F.binary_cross_entropy_with_logits(out.canvases[:, -1], x, reduction="none").flatten(1).sum(1)
    kl = kl_standard_normal(out.mu, out.log_sigma).sum(1)
    return (recon + kl).mean(), recon, kl


def log_weights(x: torch.Tensor, out: DRAWOutput) -> torch.Tensor:
    """``log P(x | z) + log P(z) - log Q(z | x)`` at the sampled ``z``, per image ``(B,)``.

    Its expectation under ``Q`` is minus the bound of :func:`draw_loss` (the KL term then estimated
    by Monte Carlo instead of in closed form); ``log mean exp`` over ``K`` draws is the
    importance-weighted estimate of ``log P(x)``, never above the bound's value in expectation.
    """
    x = _targets(x, out)
    log_px = -F.binary_cross_entropy_with_logits(out.canvases[:, -1], x, reduction="none").flatten(1).sum(1)
    eps = (out.z - out.mu) * torch.exp(-out.log_sigma)
    log_q = (-0.5 * eps**2 - out.log_sigma - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
    log_p = (-0.5 * out.z**2 - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
    return log_px + log_p - log_q


class DifferentiableRAM(nn.Module):
    """Read attention, an LSTM and a classifier: the paper's differentiable RAM.

    At step ``t`` the window comes from ``h_{t-1}`` (Eq. (draw-params); the first from the bias, a
    grid over the whole image), the ``N x N`` glimpse (Eq. (draw-read)) passes a ReLU layer into the
    LSTM, and after ``T`` glimpses a linear layer reads ``h_T``.

    Parameters
    ----------
    height, width
        Image size.
    glimpses
        ``T``.
    read_size
        ``N``.
    hidden_size
        Width of the glimpse layer and of the LSTM.
    n_classes
        Number of classes.
    start_stride, start_sigma
        The first window (and, at initialisation, every window): stride ``delta~`` (1: the grid spans
        the image) and filter width in pixels (``None``: half the stride), at the image centre.
    """

    def __init__(
        self,
        height: int = 60,
        width: int = 60,
        glimpses: int = 4,
        read_size: int = 12,
        hidden_size: int = 256,
        n_classes: int = 10,
        start_stride: float = 1.0,
        start_sigma: float | None = None,
    ) -> None:
        super().__init__()
        checks.positive_ints(
            height=height, width=width, glimpses=glimpses, read_size=read_size,
            hidden_size=hidden_size, n_classes=n_classes,
        )  # fmt: skip
        self.height, self.width, self.glimpses, self.read_size = height, width, glimpses, read_size
        self.window = _window_layer(hidden_size, height, width, read_size, stride=start_stride, sigma=start_sigma)
        self.glimpse_net = nn.Sequential(nn.Linear(read_size**2, hidden_size), nn.ReLU())
        self.core = nn.LSTMCell(hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, n_classes)

    def forward_windows(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(B, K)`` and the read windows ``(B, T, 5)`` of ``images`` ``(B, 1, H, W)``."""
        if images.ndim != 4 or images.shape[1:] != (1, self.height, self.width):
            raise ValueError(f"images must be (B, 1, {self.height}, {self.width}), got {tuple(images.shape)}")
        batch = images.shape[0]
        h = c = images.new_zeros(batch, self.core.hidden_size)
        windows = []
        for _ in range(self.glimpses):
            window = attention_window(self.window(h), self.height, self.width, self.read_size)
            fx, fy = filterbank(window, self.height, self.width, self.read_size)
            glimpse = read(images, fx, fy, window.gamma).flatten(1)
            h, c = self.core(self.glimpse_net(glimpse), (h, c))
            windows.append(torch.stack(list(window), 1))
        return self.classifier(h), torch.stack(windows, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` of ``images`` ``(B, 1, H, W)``."""
        return self.forward_windows(images)[0]


def binarize(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A fixed stochastic binarisation: pixel ``~ Bernoulli(intensity)``, drawn once from ``seed``.

    ``(N, 1, H, W)`` in ``[0, 1]`` -> the same shape in ``{0, 1}``; the same seed gives the same bits.
    """
    checks.tensor(images, "images", ndim=4, dtype="float")
    checks.non_negative_int(seed, "seed")
    if bool(((images < 0) | (images > 1)).any()):
        raise ValueError("images must hold intensities in [0, 1]")
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(images.shape, generator=generator) < images.cpu()).to(images.dtype).to(images.device)
