"""Convolutional encoders that turn a word image into a feature sequence along the word (Chapter 9).

The encoder of R^2AM (Lee & Osindero 2016) grows its receptive field with a *recursive* convolution: one
``k x k`` convolution applied ``T`` times with the same weights (Eq. (r2am-recursive)). The comparison
networks are an *untied* stack of ``T`` convolutions with their own weights (same depth and receptive field,
``T`` times the parameters, Eq. (r2am-params)), a *plain* encoder with a single convolution (same
parameters, smaller receptive field, Eq. (r2am-rf)), and a *recurrent* convolutional layer (Liang & Hu 2015,
Eq. (r2am-recurrent)): two tied kernels, a feed-forward one applied to the block's input at every iteration and
a recurrent one applied to the previous iterate (the receptive field of depth ``T``, twice the recursive
block's convolution weights).

Every encoder maps ``images (B, 1, H, W)`` to ``features (B, W', D)``: a stem (two stride-2 convolutions and a
height-only max-pool) brings the image to ``(H/8, W/4)``, the block runs at that resolution, and a convolution
spanning the remaining height collapses each column into a ``D``-vector, to which its horizontal position is
appended.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from attnlib import checks
from attnlib.sat.encoder import coordinate_grid

__all__ = [
    "ENCODERS",
    "RecurrentConvBlock",
    "RecursiveConvBlock",
    "UntiedConvStack",
    "WordEncoder",
    "block_parameters",
    "receptive_field",
]

#: The encoder kinds of :class:`WordEncoder`.
ENCODERS = ("recursive", "untied", "plain", "recurrent")


def _check_block(channels: int, depth: int, kernel: int) -> None:
    checks.positive_int(channels, "channels")
    checks.positive_int(depth, "depth")
    if not isinstance(kernel, int) or isinstance(kernel, bool) or kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"kernel must be a positive odd int, got {kernel!r}")


class RecursiveConvBlock(nn.Module):
    """One convolution applied ``depth`` times with shared weights (Eq. (r2am-recursive)).

    ``x_t = relu(BN_t(W * x_{t-1} + b))`` for ``t = 1..depth``: the kernel ``W`` and bias ``b`` are one
    parameter set; only the batch-norm scale and shift (``2C`` numbers) are per unrolled step.
    ``(B, C, h, w) -> (B, C, h, w)``.
    """

    def __init__(self, channels: int, depth: int, kernel: int = 3) -> None:
        super().__init__()
        _check_block(channels, depth, kernel)
        self.depth = depth
        self.conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for norm in self.norms:
            x = torch.relu(norm(self.conv(x)))
        return x


class UntiedConvStack(nn.Module):
    """``depth`` convolutions of the same shape with their own weights: the untied counterpart of
    :class:`RecursiveConvBlock`. ``(B, C, h, w) -> (B, C, h, w)``."""

    def __init__(self, channels: int, depth: int, kernel: int = 3) -> None:
        super().__init__()
        _check_block(channels, depth, kernel)
        self.depth = depth
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, kernel, padding=kernel // 2) for _ in range(depth))
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = torch.relu(norm(conv(x)))
        return x


class RecurrentConvBlock(nn.Module):
    """A recurrent convolutional layer (Liang & Hu 2015) unrolled ``depth`` times, Eq. (r2am-recurrent).

    ``x_1 = relu(BN_1(W_f * u + b))`` and ``x_t = relu(BN_t(W_f * u + W_r * x_{t-1} + b))`` for
    ``t = 2..depth``: the block's input ``u`` enters every iteration through the feed-forward kernel ``W_f``
    (computed once), the previous iterate through the recurrent kernel ``W_r``. Both kernels and the bias are
    tied across iterations; only the batch norms are per step. ``(B, C, h, w) -> (B, C, h, w)``.

    The longest path through the unrolled block passes ``depth`` convolutions (``W_f`` then ``depth - 1``
    times ``W_r``), so its receptive field is that of ``depth`` stacked convolutions (Eq. (r2am-rf)); the
    shortest passes one. Parameters: ``2 k^2 C^2 + C + 2 C depth`` (Eq. (r2am-params)).
    """

    def __init__(self, channels: int, depth: int, kernel: int = 3) -> None:
        super().__init__()
        _check_block(channels, depth, kernel)
        self.depth = depth
        self.feed = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)  # W_f and b
        self.recur = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False)  # W_r
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(depth))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        drive = self.feed(u)  # W_f * u + b, the same at every iteration
        x = torch.relu(self.norms[0](drive))
        for norm in self.norms[1:]:
            x = torch.relu(norm(drive + self.recur(x)))
        return x


def block_parameters(channels: int, depth: int, kernel: int = 3, tied: bool = True, recurrent: bool = False) -> int:
    """Parameters of a block, Eq. (r2am-params): ``(k^2 C^2 + C)`` per distinct convolution (one if
    ``tied``, ``depth`` otherwise) plus ``2 C`` batch-norm numbers per step; a ``recurrent`` block
    (:class:`RecurrentConvBlock`, tied) adds its recurrent kernel's ``k^2 C^2`` weights."""
    _check_block(channels, depth, kernel)
    tied = checks.flag(tied, "tied")
    recurrent = checks.flag(recurrent, "recurrent")
    if recurrent and not tied:
        raise ValueError("recurrent blocks here are tied: recurrent=True needs tied=True")
    conv = kernel * kernel * channels * channels + channels
    extra = kernel * kernel * channels * channels if recurrent else 0
    return (1 if tied else depth) * conv + extra + 2 * channels * depth


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field (pixels along one axis) of a chain of ``(kernel, stride)`` layers, Eq. (r2am-rf):
    ``r_l = r_{l-1} + (k_l - 1) j_{l-1}``, ``j_l = j_{l-1} s_l``, from ``r_0 = j_0 = 1`` (so an empty chain gives 1:
    a pixel sees itself)."""
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise ValueError(f"layers must be a list of (kernel, stride) pairs, got {type(layers).__name__}")
    r, jump = 1, 1
    for i, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise ValueError(f"layers[{i}] must be a (kernel, stride) pair, got {layer!r}")
        kernel, stride = layer
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in layer) or kernel < 1 or stride < 1:
            raise ValueError(f"layers[{i}] must be a positive (kernel, stride), got {(kernel, stride)}")
        r, jump = r + (kernel - 1) * jump, jump * stride
    return r


class WordEncoder(nn.Module):
    """Image -> feature sequence along the word.

    Parameters
    ----------
    kind
        One of :data:`ENCODERS`: ``recursive`` (:class:`RecursiveConvBlock` unrolled ``depth`` times),
        ``untied`` (:class:`UntiedConvStack` of ``depth``), ``plain`` (one convolution; ``depth`` ignored),
        ``recurrent`` (:class:`RecurrentConvBlock` unrolled ``depth`` times).
    height
        Image height ``H`` (a multiple of 8).
    stem_channels, channels
        Channels of the first convolution, and of the second one and the block (``C``).
    depth
        ``T``, the number of applications of the block's convolution.
    feature_dim
        ``D - 1``: size of each column's feature before its x-coordinate is appended.
    kernel
        Kernel size ``k`` of the block.
    context
        Add a bidirectional GRU over the columns (residual). The paper's encoder has none; here it lets
        the attention align within a CPU budget (every encoder kind gets the same one).
    """

    def __init__(
        self,
        kind: str = "recursive",
        height: int = 32,
        stem_channels: int = 16,
        channels: int = 32,
        depth: int = 4,
        feature_dim: int = 64,
        kernel: int = 3,
        context: bool = True,
    ) -> None:
        super().__init__()
        checks.one_of(kind, ENCODERS, "kind")
        if not isinstance(height, int) or isinstance(height, bool) or height < 8 or height % 8:
            raise ValueError(f"height must be a positive multiple of 8, got {height!r}")
        checks.positive_int(stem_channels, "stem_channels")
        checks.positive_int(feature_dim, "feature_dim")
        _check_block(channels, depth, kernel)
        context = checks.flag(context, "context")
        self.kind, self.depth = kind, (1 if kind == "plain" else depth)
        self.kernel = kernel
        # Striding the first convolution (rather than pooling after it at full resolution) keeps the stem, the
        # most expensive part of the encoder on a CPU, cheap: 1.7x faster training steps at the chapter's sizes.
        self.stem = nn.Sequential(
            nn.Conv2d(1, stem_channels, 3, stride=2, padding=1),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(),
            nn.Conv2d(stem_channels, channels, 3, stride=2, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d((2, 1)),  # halve the height only: the block runs on (H/8, W/4), cheaply
        )
        block = {"untied": UntiedConvStack, "recurrent": RecurrentConvBlock}.get(kind, RecursiveConvBlock)
        self.block = block(channels, self.depth, kernel)
        self.collapse = nn.Conv2d(channels, feature_dim, (height // 8, 1))
        # A bidirectional GRU along the columns (added to them) tells each column where it sits in the word.
        self.context = nn.GRU(feature_dim, feature_dim // 2, batch_first=True, bidirectional=True) if context else None
        self.height = height
        self.feature_dim = feature_dim + 1

    def width_layers(self) -> list[tuple[int, int]]:
        """``(kernel, stride)`` of every layer along the width, input to output (for :func:`receptive_field`)."""
        return [(3, 2), (3, 2), (1, 1)] + [(self.kernel, 1)] * self.depth + [(1, 1)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images (B, 1, H, W)`` -> ``features (B, W/4, D)``; the last feature is the column's x in [-1, 1].

        ``W >= 4``; pixel values are not checked (no finiteness check inside a forward)."""
        checks.tensor(images, "images", shape=(None, 1, self.height, None), dtype="float")
        if images.shape[0] < 1 or images.shape[3] < 4:
            raise ValueError(f"images must hold at least one image at least 4 pixels wide, got {tuple(images.shape)}")
        maps = self.collapse(self.block(self.stem(images * 2 - 1)))  # (B, D-1, 1, W')
        columns = torch.relu(maps.squeeze(2)).transpose(1, 2)  # (B, W', D-1)
        if self.context is not None:
            columns = columns + torch.nn.functional.pad(self.context(columns)[0], (0, columns.shape[-1] % 2))
        x = coordinate_grid(1, columns.shape[1], columns.device)[:, :1].to(columns.dtype)  # (W', 1)
        return torch.cat([columns, x.expand(columns.shape[0], -1, -1)], -1)
