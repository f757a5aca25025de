"""A^2-Nets: double attention blocks (Chen et al., NeurIPS 2018), with the blocks they are compared to.

The double attention block first *gathers* the whole feature map into ``n``
global descriptors by second-order attention pooling, then *distributes* them
back, each position taking its own mixture (Chapter 7):

- ``bilinear_pool(A, B) = A B^T``, Eq. (a2-bilinear);
- ``attention_pool(A, B) = A softmax(B)^T`` (softmax over positions), Eq. (a2-gather);
- ``DoubleAttention.attend(x) = G softmax(V)`` (softmax over descriptors), Eq. (a2-block).

Every block here works on images ``(B, C, H, W)`` *and* videos ``(B, C, T, H, W)``
(any number of trailing position axes): the 1x1 convolutions act on channels
only, so the ``L = T*H*W`` positions are flattened, exactly as the paper does for
video. For comparison: a non-local block (Wang et al. 2018) built on
``torch.nn.functional.scaled_dot_product_attention``, and squeeze-and-excitation
from ``torchvision.ops.SqueezeExcitation``; :class:`LongRangeNet` is a small
ResNet-style classifier into which any of them can be inserted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import SqueezeExcitation

from attnlib import checks

__all__ = [
    "BLOCKS",
    "CHAPTER_TASK",
    "DoubleAttention",
    "LongRangeNet",
    "NonLocal",
    "SEBlock",
    "attention_pool",
    "bilinear_pool",
    "make_block",
    "receptive_field",
    "separating_distance",
]

BLOCKS = ("none", "se", "nonlocal", "a2")

#: Chapter 7's long-range task (keywords of :func:`attnlib.data.longrange.make_longrange`): a 32x32
#: canvas with the patterns' corners at least 24 px apart, which is
#: ``separating_distance(receptive_field(LongRangeNet("none")), 4)``: no unit of the plain network
#: sees a pixel of both patterns (``tests/test_a2net.py`` checks it).
CHAPTER_TASK: dict[str, int] = {"size": 32, "min_distance": 24}


def _check_pair(A: torch.Tensor, B: torch.Tensor) -> None:
    checks.tensor(A, "A", dtype="float")
    checks.tensor(B, "B", dtype="float")
    if A.ndim != 3 or B.ndim != 3:
        raise ValueError(f"A and B must be (batch, channels, positions), got {tuple(A.shape)} and {tuple(B.shape)}")
    if A.shape[0] != B.shape[0] or A.shape[2] != B.shape[2]:
        raise ValueError(f"A and B must share batch and positions, got {tuple(A.shape)} and {tuple(B.shape)}")
    if A.shape[2] == 0:
        raise ValueError(f"A and B must hold at least one position, got {tuple(A.shape)} and {tuple(B.shape)}")


def bilinear_pool(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Bilinear pooling, the sum over positions of outer products: Eq. (a2-bilinear).

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    Parameters
    ----------
    A : (batch, m, L)
    B : (batch, n, L)

    Returns
    -------
    G : (batch, m, n), ``G[b] = A[b] B[b]^T = sum_i a_i b_i^T``.
    """
    _check_pair(A, B)
    return A @ B.transpose(1, 2)


def attention_pool(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Second-order attention pooling ``A softmax(B)^T``: Eq. (a2-gather).

    Finiteness is not checked: a forward path (see :mod:`attnlib.checks`), NaN in gives NaN out.

    Each of the ``n`` rows of ``B`` is turned into an attention map over the
    ``L`` positions (softmax along the *last* axis, per sample), and descriptor
    ``g_j`` is the ``A``-features averaged under map ``j``.

    Parameters
    ----------
    A : (batch, m, L)
    B : (batch, n, L)

    Returns
    -------
    G : (batch, m, n)
    """
    _check_pair(A, B)
    return bilinear_pool(A, B.softmax(dim=-1))


def _pointwise(conv: nn.Conv1d, flat: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
    """A 1x1 convolution ``(B, C, L) -> (B, K, L)`` as one batched matrix product (plus ``residual``).

    ``baddbmm`` adds the bias (and the residual) inside the product; on a CPU it
    runs about twice as fast as ``conv1d``'s im2col path for these shapes.
    """
    weight = conv.weight[:, :, 0].expand(flat.shape[0], -1, -1)
    bias = conv.bias[None, :, None]
    base = bias.expand(flat.shape[0], -1, flat.shape[2]) if residual is None else residual + bias
    return torch.baddbmm(base, weight, flat)


def _flatten_positions(x: torch.Tensor, name: str = "x") -> tuple[torch.Tensor, tuple[int, ...]]:
    checks.tensor(x, name)
    if x.ndim not in (4, 5):
        raise ValueError(f"{name} must be (B, C, H, W) or video (B, C, T, H, W), got shape {tuple(x.shape)}")
    checks.tensor(x, name, dtype="float")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    return x.flatten(2), tuple(x.shape[2:])


class DoubleAttention(nn.Module):
    """The double attention block: gather by attention pooling, distribute by attention: Eq. (a2-block).

    Parameters
    ----------
    in_channels
        ``C`` of the input.
    m
        Channels of each global descriptor (``phi`` outputs ``m`` maps).
    n
        Number of global descriptors (``theta`` and ``rho`` output ``n`` maps).

    Notes
    -----
    ``phi``, ``theta`` and ``rho`` are one 1x1 convolution to ``m + 2n``
    channels (one matrix product instead of three); ``proj`` maps ``m`` back
    to ``C``. Works on images ``(B, C, H, W)`` and videos ``(B, C, T, H, W)``:
    positions are all trailing axes flattened, ``L = T*H*W``.
    """

    def __init__(self, in_channels: int, m: int, n: int) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("m", m), ("n", n)):
            checks.positive_int(value, name)
        self.in_channels, self.m, self.n = in_channels, m, n
        self.qkv = nn.Conv1d(in_channels, m + 2 * n, kernel_size=1)
        self.proj = nn.Conv1d(m, in_channels, kernel_size=1)

    def maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The three 1x1 convolutions: ``A (B, m, L)``, ``B (B, n, L)``, ``V (B, n, L)`` (logits)."""
        flat, _ = _flatten_positions(x)
        if flat.shape[1] != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels, got {flat.shape[1]}")
        return _pointwise(self.qkv, flat).split([self.m, self.n, self.n], dim=1)

    def gather_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Gather maps ``softmax(B)`` reshaped to ``(B, n, *positions)``; each map sums to one over positions."""
        _, logits, _ = self.maps(x)
        return logits.softmax(dim=-1).view(x.shape[0], self.n, *x.shape[2:])

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """``Z = [A softmax_positions(B)^T] softmax_descriptors(V)``: Eq. (a2-block).

        Parameters
        ----------
        x : (B, C, H, W) or (B, C, T, H, W)

        Returns
        -------
        Z : (B, m, H, W) or (B, m, T, H, W)
        """
        A, logits_b, logits_v = self.maps(x)
        G = attention_pool(A, logits_b)  # (B, m, n): gather, softmax over positions
        V = logits_v.softmax(dim=1)  # (B, n, L): distribute, softmax over the n descriptors
        return (G @ V).view(x.shape[0], self.m, *x.shape[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + proj(Z)``, same shape as ``x``: Eq. (a2-fold).

        Computed as ``x + (W G + b 1^T) softmax(V)``: the distribution weights of
        every position sum to one over the descriptors, so the projection
        ``W Z + b`` equals the projected descriptors ``W G + b 1^T`` (a tiny
        ``C x n`` matrix) distributed by ``softmax(V)``; ``Z`` is never built.
        """
        A, logits_b, logits_v = self.maps(x)
        G = attention_pool(A, logits_b)  # (B, m, n)
        weight = self.proj.weight[:, :, 0]  # (C, m)
        projected = torch.baddbmm(self.proj.bias[None, :, None], weight.expand(x.shape[0], -1, -1), G)
        return torch.baddbmm(x.flatten(2), projected, logits_v.softmax(dim=1)).view_as(x)


class NonLocal(nn.Module):
    """Non-local block, embedded-Gaussian form (Wang et al. 2018): Eq. (a2-nonlocal).

    ``y_i = sum_j softmax_j(q_i . k_j * scale) v_j`` over all ``L`` positions,
    computed by ``torch.nn.functional.scaled_dot_product_attention`` (one
    head), then a 1x1 convolution back to ``C`` and a residual connection.

    Parameters
    ----------
    in_channels
        ``C`` of the input.
    inner
        Channels of queries, keys and values (the paper uses ``C / 2``).
    scale
        Logit scale; ``None`` is SDPA's ``1 / sqrt(inner)``, the paper's
        embedded Gaussian is ``1.0``.
    """

    def __init__(self, in_channels: int, inner: int, scale: float | None = None) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("inner", inner)):
            checks.positive_int(value, name)
        if scale is not None:
            checks.positive_float(scale, "scale")
        self.in_channels, self.inner, self.scale = in_channels, inner, scale
        self.qkv = nn.Conv1d(in_channels, 3 * inner, kernel_size=1)
        self.proj = nn.Conv1d(inner, in_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x : (B, C, *positions)`` -> same shape."""
        flat, _ = _flatten_positions(x)
        if flat.shape[1] != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels, got {flat.shape[1]}")
        # SDPA wants (batch, heads, L, d): positions become the sequence.
        batch = flat.shape[0]
        # Positions-major (B, L, 3d) so q, k, v have unit stride in their last axis: SDPA's fused
        # CPU/GPU kernels need that, and otherwise fall back to the reference path that builds L x L.
        w_qkv = self.qkv.weight[:, :, 0].t().expand(batch, -1, -1)  # (B, C, 3d)
        qkv = torch.baddbmm(self.qkv.bias, flat.transpose(1, 2), w_qkv)  # (B, L, 3d)
        q, k, v = qkv.unsqueeze(1).chunk(3, dim=-1)  # (B, 1, L, d) each
        y = F.scaled_dot_product_attention(q, k, v, scale=self.scale).squeeze(1)  # (B, L, d)
        w_proj = self.proj.weight[:, :, 0].expand(batch, -1, -1)  # (B, C, d)
        out = torch.baddbmm(flat + self.proj.bias[:, None], w_proj, y.transpose(1, 2))
        return out.view_as(x)


class SEBlock(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018), torchvision's ``SqueezeExcitation``, for images or videos.

    First-order pooling: one global average per channel, Eq. (a2-se). Videos
    ``(B, C, T, H, W)`` are viewed as ``(B, C, T, H*W)`` images, which leaves the
    global average and the channel gate unchanged.
    """

    def __init__(self, in_channels: int, reduction: int = 4) -> None:
        super().__init__()
        checks.positive_int(in_channels, "in_channels")
        if not isinstance(reduction, int) or isinstance(reduction, bool) or not 1 <= reduction <= in_channels:
            raise ValueError(f"reduction must be an int in [1, in_channels], got {reduction!r}")
        self.se = SqueezeExcitation(in_channels, max(1, in_channels // reduction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x : (B, C, H, W)`` or ``(B, C, T, H, W)`` -> same shape."""
        _flatten_positions(x)
        if x.shape[1] != self.se.fc1.in_channels:
            raise ValueError(f"x must have {self.se.fc1.in_channels} channels, got {x.shape[1]}")
        return self.se(x.flatten(3) if x.ndim == 5 else x).view_as(x)


def make_block(
    kind: str, channels: int, m: int | None = None, n: int | None = None, inner: int | None = None
) -> nn.Module:
    """One of :data:`BLOCKS`: ``"none"`` (identity), ``"se"``, ``"nonlocal"``, ``"a2"``.

    Defaults: ``m = n = inner = channels // 2`` (at least 1).
    """
    checks.one_of(kind, BLOCKS, "kind")
    checks.positive_int(channels, "channels")
    for name, value in (("m", m), ("n", n), ("inner", inner)):
        if value is not None:
            checks.positive_int(value, name)
    half = max(1, channels // 2)
    if kind == "none":
        return nn.Identity()
    if kind == "se":
        return SEBlock(channels)
    if kind == "nonlocal":
        return NonLocal(channels, inner or half)
    if kind == "a2":
        return DoubleAttention(channels, m or half, n or half)
    raise ValueError(f"kind must be one of {BLOCKS}, got {kind!r}")


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class LongRangeNet(nn.Module):
    """A small ResNet-style classifier with an optional global block in the middle.

    ``stem (3x3, stride 1) -> 3x3 stride 2 -> residual block -> [block] ->
    residual block -> global average pool -> linear``. Without a block its
    receptive field is 21 pixels, and global average pooling followed by a
    linear layer only adds up local evidence.

    Parameters
    ----------
    block
        One of :data:`BLOCKS`.
    width
        Channels of the feature maps.
    num_classes
        Outputs of the linear layer.
    in_channels
        Channels of the input images.
    m, n, inner
        Passed to :func:`make_block`.
    """

    def __init__(
        self,
        block: str = "none",
        width: int = 32,
        num_classes: int = 2,
        in_channels: int = 1,
        m: int | None = None,
        n: int | None = None,
        inner: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(width, int) or isinstance(width, bool) or width < 2:
            raise ValueError(f"width must be an int >= 2, got {width!r}")
        checks.one_of(block, BLOCKS, "block")
        checks.positive_int(num_classes, "num_classes")
        checks.positive_int(in_channels, "in_channels")
        self.block_kind = block
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            _Residual(width),
        )
        self.block = make_block(block, width, m=m, n=n, inner=inner)
        self.head = nn.Sequential(
            _Residual(width), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images : (B, C_in, H, W)`` -> logits ``(B, num_classes)``.

        Rank, channels and dtype are checked; finiteness is not (speed; :mod:`attnlib.checks`).
        """
        checks.tensor(images, "images")
        if images.ndim != 4:
            raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
        checks.tensor(images, "images", dtype="float")
        c_in = self.features[0].in_channels
        if images.shape[1] != c_in:
            raise ValueError(f"images must have {c_in} channels, got {images.shape[1]}")
        if images.numel() == 0:
            raise ValueError(f"images must not be empty, got shape {tuple(images.shape)}")
        return self.head(self.block(self.features(images)))


_GLOBAL_BLOCKS = (SEBlock, NonLocal, DoubleAttention)


def receptive_field(module: nn.Module) -> int:
    """Side, in input pixels, of the window one output unit of a convolutional chain depends on.

    Walks the ``nn.Conv2d`` layers in the order they were registered and applies
    ``r <- r + (k - 1) * dilation * j``, ``j <- j * stride`` (``r = j = 1`` at the input). That is
    exact for a chain, and for residual blocks whose skip is the identity (the skip reaches no
    further than the body), as in :class:`LongRangeNet`. Pooling layers are not counted, so the
    module must have none before its last convolution.

    Raises
    ------
    ValueError
        If the module holds a global block (SE, non-local, double attention): then every unit sees
        the whole image.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be an nn.Module, got {type(module).__name__}")
    r, jump = 1, 1
    for layer in module.modules():
        if isinstance(layer, _GLOBAL_BLOCKS):
            raise ValueError(f"module holds a global block ({type(layer).__name__}): its receptive field is the image")
        if isinstance(layer, nn.Conv2d):
            k, d, stride = layer.kernel_size, layer.dilation, layer.stride
            if k[0] != k[1] or d[0] != d[1] or stride[0] != stride[1]:
                raise ValueError(f"only square kernels, dilations and strides are supported, got {layer}")
            r += (k[0] - 1) * d[0] * jump
            jump *= stride[0]
    return r


def separating_distance(field: int, pattern_size: int) -> int:
    """Smallest corner-to-corner distance at which no window of ``field`` pixels holds both patterns.

    Two ``s x s`` patterns whose top-left corners differ by ``D`` along one axis occupy
    ``[a, a + s - 1]`` and ``[a + D, a + D + s - 1]`` along it; a window of ``field`` consecutive
    pixels touches both iff ``D - (s - 1) + 1 <= field``. So ``D >= field + s - 1`` keeps them apart.
    """
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (field, pattern_size)):
        raise ValueError(f"field and pattern_size must be ints >= 1, got {field!r} and {pattern_size!r}")
    if field < 1 or pattern_size < 1:
        raise ValueError(f"field and pattern_size must be >= 1, got {field} and {pattern_size}")
    return field + pattern_size - 1
