"""Encoders: an image ``(B, C, H, W)`` becomes an ``L x D`` grid of annotation vectors ``a_i`` (Eq. (sat-annotations)).

Show, Attend and Tell takes the 14 x 14 x 512 feature map of a VGG network's last
convolution; on the chapter's 64 x 64 digit scenes a small CNN trained from
scratch gives an 8 x 8 grid. :class:`TorchvisionEncoder` wraps a torchvision
backbone for readers who caption photographs (random weights offline;
``weights="DEFAULT"`` on Colab downloads the pretrained ones).
"""

from __future__ import annotations

import torch
from torch import nn

from attnlib import checks

__all__ = ["coordinate_grid", "SmallCNNEncoder", "TorchvisionEncoder"]


def coordinate_grid(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """``(height * width, 2)`` cell centres ``(x, y)`` in ``[-1, 1]``, row-major like the flattened grid."""
    checks.positive_int(height, "height")
    checks.positive_int(width, "width")
    ys = (torch.arange(height, device=device) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, device=device) + 0.5) / width * 2 - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], -1).reshape(-1, 2)


class _Flatten(nn.Module):
    """``(B, D, h, w)`` -> ``(B, h*w, D)``, optionally appending each cell's coordinates."""

    def __init__(self, coordinates: bool) -> None:
        super().__init__()
        self.coordinates = checks.flag(coordinates, "coordinates")

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = maps.shape
        features = maps.flatten(2).transpose(1, 2)
        if self.coordinates:
            coords = coordinate_grid(height, width, maps.device).to(maps.dtype)
            features = torch.cat([features, coords.expand(batch, -1, -1)], -1)
        return features


class SmallCNNEncoder(nn.Module):
    """Four 3x3 conv blocks (BatchNorm, ReLU), the first ones followed by 2x2 max-pooling: stride 8 or 4.

    Parameters
    ----------
    in_channels
        Image channels.
    channels
        Widths of the four conv layers; the last one is ``D`` (before coordinates).
    coordinates
        Append each cell's ``(x, y)`` in ``[-1, 1]`` to its annotation vector. The digit captions are
        read in a positional order, and a CNN's features say *what* is in a cell far better than
        *where* the cell is; the coordinates tell the decoder where it has been looking.
    stride
        Pixels per grid cell: 8 (three poolings, an 8 x 8 grid on 64 x 64 images) or 4 (two poolings,
        16 x 16, the last convolution dilated by 2). A hard-attention decoder reads one cell, so the
        cell size is how precisely it knows where an object is.

    Attributes
    ----------
    out_dim
        ``D`` of the annotation vectors (``channels[-1] + 2`` with coordinates).
    stride
        Pixels per grid cell.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: tuple[int, ...] = (16, 32, 64, 64),
        coordinates: bool = True,
        stride: int = 8,
    ):
        super().__init__()
        checks.positive_int(in_channels, "in_channels")
        if (
            isinstance(channels, (str, bytes))
            or not hasattr(channels, "__len__")
            or len(channels) != 4
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels)
        ):
            raise ValueError(f"channels must be four positive int widths, got {channels!r}")
        if stride not in (4, 8) or isinstance(stride, bool):
            raise ValueError(f"stride must be 4 or 8 pixels per cell, got {stride!r}")
        self.in_channels = in_channels
        poolings = 3 if stride == 8 else 2
        layers: list[nn.Module] = []
        width = in_channels
        for i, out in enumerate(channels):
            # With one pooling fewer, the last convolution is dilated so that a cell still sees a
            # whole digit: a receptive field of 34 x 34 pixels (26 undilated; 38 at stride 8).
            dilation = 2 if (stride == 4 and i == 3) else 1
            conv = nn.Conv2d(width, out, 3, padding=dilation, dilation=dilation, bias=False)
            layers += [conv, nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            if i < poolings:
                layers.append(nn.MaxPool2d(2))
            width = out
        self.body = nn.Sequential(*layers)
        self.flatten = _Flatten(coordinates)
        self.out_dim = channels[-1] + (2 if coordinates else 0)
        self.stride = stride

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """``images (B, C, H, W)`` -> annotation vectors ``(B, L, D)`` with ``L = (H/s)(W/s)``, ``s = stride``, and ``(h, w)``.

        ``H`` and ``W`` must be at least ``stride``; pixel values are not checked (see :mod:`attnlib.checks`)."""
        checks.tensor(images, "images", shape=(None, self.in_channels, None, None), dtype="float")
        if images.shape[0] < 1 or min(images.shape[-2:]) < self.stride:
            raise ValueError(
                f"images must hold at least one image of at least {self.stride} x {self.stride} pixels, "
                f"got {tuple(images.shape)}"
            )
        maps = self.body(images)
        return self.flatten(maps), (maps.shape[-2], maps.shape[-1])


class TorchvisionEncoder(nn.Module):
    """A torchvision classification backbone cut before its pooling: ResNet's last stage, VGG's last conv.

    Parameters
    ----------
    name
        A ``torchvision.models`` constructor, e.g. ``"resnet18"``, ``"resnet50"``, ``"vgg16"``.
    weights
        ``None`` (random, offline) or a weights name such as ``"DEFAULT"`` (downloads; use on Colab).
    trainable
        Fine-tune the backbone; otherwise its parameters are frozen.
    coordinates
        As in :class:`SmallCNNEncoder`.
    """

    def __init__(
        self, name: str = "resnet18", weights: str | None = None, trainable: bool = False, coordinates: bool = False
    ) -> None:
        super().__init__()
        import torchvision

        checks.flag(trainable, "trainable")
        checks.flag(coordinates, "coordinates")
        if not isinstance(name, str) or not hasattr(torchvision.models, name):
            raise ValueError(f"name must be a torchvision.models constructor, got {name!r}")
        net = getattr(torchvision.models, name)(weights=weights)
        if hasattr(net, "fc"):  # ResNet family
            self.body = nn.Sequential(*list(net.children())[:-2])
            self.out_dim = net.fc.in_features
        elif hasattr(net, "features"):  # VGG: drop the last max-pool, as Xu et al. do
            self.body = net.features[:-1]
            self.out_dim = [m for m in net.features if isinstance(m, nn.Conv2d)][-1].out_channels
        else:
            raise ValueError(f"backbone {name!r} has neither .fc nor .features; pass a ResNet or a VGG")
        for p in self.body.parameters():
            p.requires_grad_(trainable)
        self.flatten = _Flatten(coordinates)
        self.out_dim += 2 if coordinates else 0

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """``images (B, C, H, W)``, C in {1, 3} (grey images are repeated) -> ``(B, L, D)`` and ``(h, w)``."""
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be (B, 1 or 3, H, W), got {got}")
        checks.tensor(images, "images", dtype="float")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        maps = self.body(images)
        return self.flatten(maps), (maps.shape[-2], maps.shape[-1])
