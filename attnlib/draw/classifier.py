"""The differentiable RAM of DRAW's paper (Chapter 4): read attention, an LSTM and a classifier."""

from __future__ import annotations

import torch
from torch import nn

from attnlib import checks
from attnlib.draw.filters import attention_window, filterbank, read, window_layer

__all__ = ["DifferentiableRAM"]


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
        checks.positive_float(start_stride, "start_stride")
        if start_sigma is not None:
            checks.positive_float(start_sigma, "start_sigma")
        self.height, self.width, self.glimpses, self.read_size = height, width, glimpses, read_size
        self.window = window_layer(hidden_size, height, width, read_size, stride=start_stride, sigma=start_sigma)
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
