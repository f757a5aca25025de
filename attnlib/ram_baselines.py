"""Chapter 2's comparison models and a FLOP counter: a fully connected net, a small CNN, RAM's cost.

The paper compares RAM with fully connected and convolutional networks and
argues that RAM's computation per image does not depend on the image's size
while a CNN's grows with the number of pixels. :func:`count_flops` measures
that: it counts the multiply-adds (as 2 FLOPs) of every ``Linear``, ``Conv2d``,
``RNNCell`` and ``LSTMCell`` call during one forward pass of one image, and
:func:`ram_flops` adds the retina's own work (averaging the pixels its patches
cover, Eq. (ram-retina)).
"""

from __future__ import annotations

import torch
from torch import nn

from attnlib import checks

__all__ = ["FullyConnected", "SmallCNN", "count_flops", "ram_flops"]


class FullyConnected(nn.Module):
    """``images (B, C, H, W)`` -> logits ``(B, K)`` through ``len(hidden)`` ReLU layers (the paper's FC 2x256)."""

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (256, 256), n_classes: int = 10) -> None:
        super().__init__()
        checks.positive_int(in_features, "in_features")
        if isinstance(hidden, int) or not isinstance(hidden, (tuple, list)):
            raise ValueError(f"hidden must be a tuple of layer widths such as (256, 256), got {hidden!r}")
        for i, h in enumerate(hidden):
            checks.positive_int(h, f"hidden[{i}]")
        checks.positive_int(n_classes, "n_classes")
        self.in_features = in_features
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        checks.tensor(images, "images", ndim=4, dtype="float")
        if images.shape[1:].numel() != self.in_features:
            raise ValueError(
                f"images must have C * H * W = in_features = {self.in_features} values each, got shape "
                f"{tuple(images.shape)}"
            )
        return self.net(images)


class SmallCNN(nn.Module):
    """Three conv layers (16, 32, 64 channels, two 2x2 max-pools), global max-pool, linear classifier.

    Works on any image size; its FLOPs grow with the number of pixels, its parameters do not.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        checks.positive_int(in_channels, "in_channels")
        checks.positive_int(n_classes, "n_classes")
        checks.positive_int(width, "width")
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveMaxPool2d(1),
        )
        self.classifier = nn.Linear(4 * width, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        checks.tensor(images, "images", ndim=4, dtype="float")
        if images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (B, {self.in_channels}, H, W), got shape {tuple(images.shape)}")
        if images.shape[2] < 4 or images.shape[3] < 4:
            raise ValueError(f"images must be at least 4x4 pixels (two 2x2 max-pools), got shape {tuple(images.shape)}")
        return self.classifier(self.features(images).flatten(1))


def _flops_hook(counter: list[int]):
    def hook(module: nn.Module, inputs: tuple, output) -> None:
        if isinstance(module, nn.Linear):
            counter[0] += 2 * module.in_features * module.out_features * inputs[0].shape[:-1].numel()
        elif isinstance(module, nn.Conv2d):
            out = output
            kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            counter[0] += 2 * kernel * out.numel()
        elif isinstance(module, (nn.RNNCell, nn.LSTMCell)):
            gates = 4 if isinstance(module, nn.LSTMCell) else 1
            batch = inputs[0].shape[0]
            counter[0] += 2 * gates * module.hidden_size * (module.input_size + module.hidden_size) * batch

    return hook


def _check_image_shape(image_shape: object) -> None:
    if not isinstance(image_shape, (tuple, list, torch.Size)) or len(image_shape) != 3:
        raise ValueError(f"image_shape must be (C, H, W), got {image_shape!r}")
    for i, side in enumerate(image_shape):
        checks.positive_int(side, f"image_shape[{i}]")


@torch.no_grad()
def count_flops(model: nn.Module, image_shape: tuple[int, int, int], **forward_kwargs) -> int:
    """FLOPs (2 per multiply-add) of the learned layers in one forward pass of one ``(C, H, W)`` image."""
    _check_image_shape(image_shape)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if next(model.parameters(), None) is None:
        raise ValueError(f"model must have parameters (learned layers to count), got a {type(model).__name__}")
    counter = [0]
    handles = [
        m.register_forward_hook(_flops_hook(counter))
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.RNNCell, nn.LSTMCell))
    ]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, *image_shape, device=device), **forward_kwargs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return counter[0]


def ram_flops(model: nn.Module, image_shape: tuple[int, int, int]) -> int:
    """:func:`count_flops` of a :class:`~attnlib.ram.RecurrentAttentionModel` plus its retina.

    The retina reads ``sum_k (size * w_k)^2`` pixels per channel and glimpse and
    averages them (one addition each), independent of the image size.
    """
    if not hasattr(model, "sensor") or not hasattr(model, "n_glimpses"):
        raise ValueError(f"model must be a RecurrentAttentionModel (with a sensor), got {type(model).__name__}")
    _check_image_shape(image_shape)
    sensor = model.sensor
    retina = sum((sensor.size * sensor.scale_factor**k) ** 2 for k in range(sensor.n_scales))
    return count_flops(model, image_shape) + model.n_glimpses * image_shape[0] * retina
