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

The implementation uses that the area average is separable: along each axis a
``(n_scales * size, L)`` matrix of overlaps ``clip(e_{i+1} - p, 0, 1) - clip(e_i - p, 0, 1)``
(cell edges ``e_i``, pixel ``p``; no column for pixels outside the image, so the
outside is zero without padding) is built for the whole batch at once, and the glimpses
are ``W_rows @ image @ W_cols^T`` per sample and scale: two batched matrix products,
no gather and no Python loop. Whole-pixel overlaps are exactly 0 or 1, so at pixel
boundaries the result is the plain block average. It is differentiable with respect
to the images (and, through the overlaps, piecewise with respect to the centres).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from attnlib import checks

__all__ = ["GlimpseSensor", "extract_glimpses", "glimpse_boxes", "glimpse_distances"]

# Sub-pixel offsets this close to an integer are snapped to it, so that centres
# meant to sit on pixel boundaries (but rounded by float32) cut exactly those pixels.
_SNAP = 1e-4


def _check_retina(size: int, n_scales: int, scale_factor: int, names: tuple[str, str, str]) -> None:
    """The retina's integers, each named as the caller spells it (``glimpse_size`` in RAM, ``size`` here)."""
    checks.positive_int(size, names[0])
    checks.positive_int(n_scales, names[1])
    checks.positive_int(scale_factor, names[2])


def _check_centers_values(centers: torch.Tensor, name: str) -> None:
    if centers.is_complex() or centers.dtype == torch.bool:
        raise ValueError(f"{name} must be a real (float) tensor of (x, y) in [-1, 1], got dtype {centers.dtype}")
    if not checks.has_values(centers):
        return
    if not torch.isfinite(centers).all():
        raise ValueError(f"{name} must be finite")
    if centers.numel() and centers.detach().abs().max() > 1 + 1e-6:
        raise ValueError(f"{name} must lie in [-1, 1] (clamp sampled locations first)")


def _validate(images: torch.Tensor, centers: torch.Tensor, size: int, n_scales: int, scale_factor: int) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a (B, C, H, W) tensor, got shape {tuple(getattr(images, 'shape', ()))}")
    if not images.is_floating_point():
        raise ValueError(f"images must have a float dtype (convert with images.float() / 255), got {images.dtype}")
    if not isinstance(centers, torch.Tensor) or centers.ndim != 2 or centers.shape[1] != 2:
        raise ValueError(f"centers must be a (B, 2) tensor of (x, y), got shape {tuple(getattr(centers, 'shape', ()))}")
    if centers.shape[0] != images.shape[0]:
        raise ValueError(f"centers has batch {centers.shape[0]} but images has batch {images.shape[0]}")
    _check_retina(size, n_scales, scale_factor, ("size", "n_scales", "scale_factor"))
    _check_centers_values(centers, "centers")


def _area_weights(coords: torch.Tensor, length: int, size: int, n_scales: int, scale_factor: int) -> torch.Tensor:
    """Overlap, in pixels, of every output cell with every pixel along one axis.

    ``coords (B, A)`` in ``[-1, 1]`` -> ``(B, A, n_scales, size, length)``. Cell ``i`` of
    scale ``k`` spans ``[e_i, e_{i+1})`` with ``e_i = start_k + i * w_k``; its overlap with
    pixel ``p = [p, p + 1)`` is ``clip(e_{i+1} - p, 0, 1) - clip(e_i - p, 0, 1)``. Pixels
    outside the image have no column, which is what makes the outside zero.
    """
    dtype, device = coords.dtype, coords.device
    blocks = torch.tensor([float(scale_factor**k) for k in range(n_scales)], dtype=dtype, device=device)
    start = (coords[..., None] + 1) / 2 * length - blocks * (size / 2)  # (B, A, K)
    nearest = torch.round(start)
    start = torch.where((start - nearest).abs() < _SNAP, nearest, start)
    edges = start[..., None] + torch.arange(size + 1, dtype=dtype, device=device) * blocks[:, None]  # (B, A, K, S+1)
    covered = (edges[..., None] - torch.arange(length, dtype=dtype, device=device)).clamp_(0, 1)  # (B, A, K, S+1, L)
    return covered[..., 1:, :] - covered[..., :-1, :]


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

    The centres are checked to be finite and inside ``[-1, 1]``; the images' values are not read
    (a NaN pixel gives NaN glimpses), to keep the sensor cheap inside a model's forward.
    """
    _validate(images, centers, size, n_scales, scale_factor)
    batch, channels, height, width = images.shape
    centers = centers.to(images.dtype)
    if height == width:  # one pass for both axes: (B, 2, K, S, L), rows (y) first
        weights = _area_weights(centers.flip(-1), height, size, n_scales, scale_factor)
        w_rows, w_cols = weights[:, 0], weights[:, 1]
    else:
        w_rows = _area_weights(centers[:, 1:], height, size, n_scales, scale_factor)[:, 0]
        w_cols = _area_weights(centers[:, :1], width, size, n_scales, scale_factor)[:, 0]
    # separable area average: reduce the rows of every scale at once, then each scale's columns
    rows = torch.matmul(w_rows.reshape(batch, 1, n_scales * size, height), images)
    rows = rows.view(batch, channels, n_scales, size, width)
    out = torch.matmul(rows, w_cols.transpose(-1, -2).unsqueeze(1))  # (B, C, K, S, S)
    area = torch.tensor(
        [float(scale_factor**k) ** 2 for k in range(n_scales)], dtype=images.dtype, device=images.device
    )
    return (out / area.view(n_scales, 1, 1)).transpose(1, 2)


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
    checks.tensor(centers, "centers")
    if centers.ndim < 1 or centers.shape[-1] != 2:
        raise ValueError(f"centers must end in 2 coordinates (x, y), got shape {tuple(centers.shape)}")
    if not centers.is_floating_point():
        raise ValueError(f"centers must have a float dtype, got {centers.dtype}")
    if not torch.isfinite(centers).all():
        raise ValueError("centers must be finite")
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        raise ValueError(f"image_size must be a pair (H, W), got {image_size!r}")
    checks.positive_int(image_size[0], "image_size[0] (H)")
    checks.positive_int(image_size[1], "image_size[1] (W)")
    _check_retina(size, n_scales, scale_factor, ("size", "n_scales", "scale_factor"))
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
        _check_retina(size, n_scales, scale_factor, ("size", "n_scales", "scale_factor"))
        self.size, self.n_scales, self.scale_factor = size, n_scales, scale_factor

    def output_features(self, channels: int) -> int:
        """Length of one flattened glimpse stack for images with ``channels`` channels."""
        checks.positive_int(channels, "channels")
        return self.n_scales * channels * self.size * self.size

    def forward(self, images: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        return extract_glimpses(images, centers, self.size, self.n_scales, self.scale_factor)

    def extra_repr(self) -> str:
        return f"size={self.size}, n_scales={self.n_scales}, scale_factor={self.scale_factor}"


def glimpse_distances(locations: torch.Tensor, targets: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Distance in pixels from every glimpse centre to a target point of its image (Chapter 2, section 7).

    A location ``(x, y)`` in ``[-1, 1]^2`` is the pixel point ``u = (x + 1) / 2 * W``,
    ``v = (y + 1) / 2 * H`` (the retina's convention, Eq. (ram-retina)); the distance is the
    Euclidean one between ``(u, v)`` and the target, so on a non-square image each axis keeps
    its own scale.

    Parameters
    ----------
    locations
        ``(B, T, 2)`` glimpse centres ``(x, y)`` in ``[-1, 1]`` (``RAMOutput.locations``).
    targets
        ``(B, 2)`` points ``(u, v)`` in pixels, e.g. the centre of each digit's box
        ``((x1 + x2) / 2, (y1 + y2) / 2)`` from :func:`attnlib.data.canvas.cluttered_mnist`.
    image_size
        ``(H, W)`` of the images, in pixels.

    Returns
    -------
    torch.Tensor
        ``(B, T)`` distances in pixels.
    """
    checks.tensor(locations, "locations", ndim=3, dtype="float")
    if locations.shape[-1] != 2:
        raise ValueError(f"locations must be (B, T, 2), got {tuple(locations.shape)}")
    _check_centers_values(locations, "locations")
    checks.tensor(targets, "targets", shape=(locations.shape[0], 2), dtype="float")
    checks.finite(targets, "targets")
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in image_size)
    ):
        raise ValueError(f"image_size must be (H, W), two positive ints, got {image_size!r}")
    height, width = image_size
    scale = locations.new_tensor([width / 2, height / 2])
    pixels = (locations + 1) * scale
    return (pixels - targets.to(pixels)[:, None]).norm(dim=-1)
