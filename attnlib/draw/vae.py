"""The DRAW sequential variational auto-encoder (Chapter 4), with or without attention.

The recurrence is Eqs. (draw-enc), (draw-dec) and (draw-canvas); the loss, the negative variational
bound in nats, Eq. (draw-bound), with the closed-form KL of Eq. (draw-kl). Also: the importance weights
``log P(x, z) - log Q(z | x)``, the two gradient estimators of Chapter 1 on the decoder, and a fixed
binarisation of images.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from attnlib import checks
from attnlib.draw.filters import Window, attention_window, filterbank, read, window_layer, write

__all__ = [
    "DRAW",
    "DRAWOutput",
    "binarize",
    "decoder_gradient_estimates",
    "draw_loss",
    "kl_standard_normal",
    "log_weights",
]


def kl_standard_normal(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, sigma^2) || N(0, 1))`` summed over the last dim, Eq. (draw-kl).

    ``(..., Z), (..., Z) -> (...)``: ``1/2 sum (mu^2 + sigma^2 - 2 log sigma - 1)``. Both must be finite.
    """
    checks.tensor(mu, "mu", dtype="float")
    checks.tensor(log_sigma, "log_sigma", dtype="float")
    if mu.shape != log_sigma.shape or mu.ndim == 0:
        raise ValueError(
            f"mu and log_sigma must have one shape (..., Z), got {tuple(mu.shape)} and {tuple(log_sigma.shape)}"
        )
    checks.finite(mu.detach(), "mu")
    checks.finite(log_sigma.detach(), "log_sigma")
    return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(-1)


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
            self.read_window = window_layer(dec_size, height, width, read_size)
            self.write_window = window_layer(dec_size, height, width, write_size, write=True)

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
    for name, value in (("x", x), ("mu", mu), ("log_sigma", log_sigma)):
        checks.finite(value.detach(), name)
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
    checks.finite(x, "x")
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


def binarize(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A fixed stochastic binarisation: pixel ``~ Bernoulli(intensity)``, drawn once from ``seed``.

    ``(N, 1, H, W)`` in ``[0, 1]`` -> the same shape in ``{0, 1}``; the same seed gives the same bits.
    """
    checks.tensor(images, "images", ndim=4, dtype="float")
    checks.non_negative_int(seed, "seed")
    checks.finite(images, "images")
    if bool(((images < 0) | (images > 1)).any()):
        raise ValueError("images must hold intensities in [0, 1]")
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(images.shape, generator=generator) < images.cpu()).to(images.dtype).to(images.device)
