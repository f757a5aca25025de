"""The retina of Chapter 2: multi-resolution glimpses cut from a batch of images, vectorised.

Coordinates (Eq. (ram-retina)). A location ``(x, y)`` lies in ``[-1, 1]^2``:
``(-1, -1)`` is the top-left corner of the image, ``(1, 1)`` the bottom-right and
``x`` runs along the width. In continuous pixel coordinates
``u = (x + 1) / 2 * W`` and ``v = (y + 1) / 2 * H``; pixel ``j`` spans ``[j, j + 1)``.
Scale ``k`` covers the square of side ``S_k = size * scale_factor**k`` pixels centred
on ``(u, v)`` and reduces it to ``size x size`` by averaging ``w_k x w_k`` blocks
(``w_k = scale_factor**k``); outside the image the picture is zero.

When a patch's corners fall on pixel boundaries the glimpse cuts exactly those
pixels. When they do not, each output cell is the *exact area average* of the
piecewise-constant image over its square (the pixels it only partly covers count
in proportion to the overlap). This rests on a one-line identity: the average of
a piecewise-constant signal over ``[n + t, n + t + w)`` equals
``(1 - t) * box(n) + t * box(n + 1)``, where ``box(n)`` is the average over
``[n, n + w)``, so linear interpolation followed by block averaging is area-exact.

The implementation gathers, for every sample at once, the ``(S_k + 1)^2`` pixels a
patch touches (indices clamped and masked, so nothing is padded and the cost does
not grow with the image), interpolates them by the sub-pixel offset and averages
the blocks. It is differentiable with respect to the images (and, through the
offsets, piecewise with respect to the centres).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["GlimpseSensor", "extract_glimpses", "glimpse_boxes"]

# Sub-pixel offsets this close to an integer are snapped to it, so that centres
# meant to sit on pixel boundaries (but rounded by float32) cut exactly those pixels.
_SNAP = 1e-4


def _validate(images: torch.Tensor, centers: torch.Tensor, size: int, n_scales: int, scale_factor: int) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a (B, C, H, W) tensor, got shape {tuple(getattr(images, 'shape', ()))}")
    if not isinstance(centers, torch.Tensor) or centers.ndim != 2 or centers.shape[1] != 2:
        raise ValueError(f"centers must be a (B, 2) tensor of (x, y), got shape {tuple(getattr(centers, 'shape', ()))}")
    if centers.shape[0] != images.shape[0]:
        raise ValueError(f"centers has batch {centers.shape[0]} but images has batch {images.shape[0]}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if not isinstance(n_scales, int) or n_scales < 1:
        raise ValueError(f"n_scales must be a positive int, got {n_scales!r}")
    if not isinstance(scale_factor, int) or scale_factor < 1:
        raise ValueError(f"scale_factor must be a positive int, got {scale_factor!r}")
    if not torch.isfinite(centers).all():
        raise ValueError("centers must be finite")
    if centers.numel() and centers.detach().abs().max() > 1 + 1e-6:
        raise ValueError("centers must lie in [-1, 1] (clamp sampled locations first)")


def _axis_samples(coord: torch.Tensor, length: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer start ``n`` and fraction ``t`` of the patch's first pixel along one axis.

    ``coord (B,)`` in ``[-1, 1]``; the patch spans ``[c - side / 2, c + side / 2)`` in pixels.
    """
    start = (coord + 1) / 2 * length - side / 2
    nearest = torch.round(start)
    start = torch.where((start - nearest).abs() < _SNAP, nearest, start)
    first = torch.floor(start)
    return first.long(), (start - first)


def _gather_window(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``images (B, C, H, W)``, ``rows (B, R)``, ``cols (B, Q)`` -> ``(B, C, R, Q)``, zero outside the image."""
    batch, _, height, width = images.shape
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
    b = torch.arange(batch, device=images.device)[:, None, None]
    window = images[b, :, rows.clamp(0, height - 1)[:, :, None], cols.clamp(0, width - 1)[:, None, :]]
    # advanced indexing around a slice puts the indexed dims first: (B, R, Q, C)
    return (window * inside[..., None].to(window.dtype)).permute(0, 3, 1, 2)


def extract_glimpses(
    images: torch.Tensor,
    centers: torch.Tensor,
    size: int,
    n_scales: int = 1,
    scale_factor: int = 2,
) -> torch.Tensor:
    """Cut a retina-like stack of glimpses around each centre; implements Eq. (ram-retina).

    Parameters
    ----------
    images
        ``(B, C, H, W)``.
    centers
        ``(B, 2)``: ``(x, y)`` in ``[-1, 1]``, ``(-1, -1)`` the top-left corner, ``x`` along the width.
    size
        Side of every glimpse in output pixels (``g_w`` in the paper).
    n_scales
        Number of concentric patches ``k = 0 .. n_scales - 1``.
    scale_factor
        Integer growth of the patch side from one scale to the next; scale ``k``
        covers ``size * scale_factor**k`` image pixels averaged in
        ``scale_factor**k``-wide blocks.

    Returns
    -------
    ``(B, n_scales, C, size, size)``; zero where a patch leaves the image.
    """
    _validate(images, centers, size, n_scales, scale_factor)
    batch, _, height, width = images.shape
    centers = centers.to(images.dtype)
    out = []
    for k in range(n_scales):
        block = scale_factor**k
        side = size * block
        r0, ty = _axis_samples(centers[:, 1], height, side)
        c0, tx = _axis_samples(centers[:, 0], width, side)
        # the (side + 1)^2 pixels the patch touches: cost independent of the image size
        steps = torch.arange(side + 1, device=images.device)
        window = _gather_window(images, r0[:, None] + steps, c0[:, None] + steps)  # (B, C, side+1, side+1)
        ty, tx = ty.view(batch, 1, 1, 1), tx.view(batch, 1, 1, 1)
        # interpolate by the sub-pixel offset, then average exact blocks: together an exact area average
        window = (1 - ty) * window[:, :, :-1] + ty * window[:, :, 1:]
        window = (1 - tx) * window[..., :-1] + tx * window[..., 1:]
        out.append(F.avg_pool2d(window, block) if block > 1 else window)
    return torch.stack(out, dim=1)


def extract_glimpses_loop(
    images: torch.Tensor, centers: torch.Tensor, size: int, n_scales: int = 1, scale_factor: int = 2
) -> torch.Tensor:
    """Reference: the same glimpses cut one sample and one scale at a time, at whole-pixel positions.

    The approach of the popular PyTorch implementation (pad, slice, pool, in a Python loop);
    agrees with :func:`extract_glimpses` exactly when the patch corners fall on pixel
    boundaries and rounds the position otherwise. Slow by design: for comparisons only.
    """
    _validate(images, centers, size, n_scales, scale_factor)
    _, _, height, width = images.shape
    out = []
    for b in range(images.shape[0]):
        scales = []
        for k in range(n_scales):
            block = scale_factor**k
            side = size * block
            c0 = round((centers[b, 0].item() + 1) / 2 * width - side / 2)
            r0 = round((centers[b, 1].item() + 1) / 2 * height - side / 2)
            padded = F.pad(images[b : b + 1], (side, side, side, side))
            patch = padded[:, :, r0 + side : r0 + 2 * side, c0 + side : c0 + 2 * side]
            scales.append(F.avg_pool2d(patch, block)[0] if block > 1 else patch[0])
        out.append(torch.stack(scales))
    return torch.stack(out)


def glimpse_boxes(
    centers: torch.Tensor, image_size: tuple[int, int], size: int, n_scales: int = 1, scale_factor: int = 2
) -> torch.Tensor:
    """Pixel boxes ``(x1, y1, x2, y2)`` each scale covers, for drawing: ``centers (..., 2)`` -> ``(..., n_scales, 4)``."""
    if centers.shape[-1] != 2:
        raise ValueError(f"centers must end in 2 coordinates (x, y), got shape {tuple(centers.shape)}")
    height, width = image_size
    u = (centers[..., 0] + 1) / 2 * width
    v = (centers[..., 1] + 1) / 2 * height
    half = torch.tensor(
        [size * scale_factor**k / 2 for k in range(n_scales)], dtype=centers.dtype, device=centers.device
    )
    u, v = u[..., None], v[..., None]
    return torch.stack([u - half, v - half, u + half, v + half], dim=-1)


class GlimpseSensor(nn.Module):
    """The bandwidth-limited sensor ``rho(x, l)`` of Eq. (ram-retina) as a module (no parameters).

    ``forward(images (B, C, H, W), centers (B, 2)) -> (B, n_scales, C, size, size)``.
    """

    def __init__(self, size: int, n_scales: int = 1, scale_factor: int = 2) -> None:
        super().__init__()
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        if not isinstance(n_scales, int) or n_scales < 1:
            raise ValueError(f"n_scales must be a positive int, got {n_scales!r}")
        if not isinstance(scale_factor, int) or scale_factor < 1:
            raise ValueError(f"scale_factor must be a positive int, got {scale_factor!r}")
        self.size, self.n_scales, self.scale_factor = size, n_scales, scale_factor

    def output_features(self, channels: int) -> int:
        """Length of one flattened glimpse stack for images with ``channels`` channels."""
        return self.n_scales * channels * self.size * self.size

    def forward(self, images: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        return extract_glimpses(images, centers, self.size, self.n_scales, self.scale_factor)

    def extra_repr(self) -> str:
        return f"size={self.size}, n_scales={self.n_scales}, scale_factor={self.scale_factor}"
