"""The grounding network of chapter 8: encoders of several depths, CA2M fusion, a [CLS] box head.

Implements Eqs. (rec-cross-attention), (rec-ca2m-v) and (rec-ca2m-l): vision
attends to language, then language attends to the updated vision, each step
with a LayerNorm residual and an FFN. Grouped interaction pairs the visual
tokens with each granularity of the text encoder, the groups are concatenated
and fused by further CA2M layers, and an MLP reads the [CLS] word into a box.
A plain transformer over the concatenated tokens, at equal depth, is the
baseline (``fusion="transformer"``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from attnlib import checks
from attnlib.data.refexp import CLS, PAD, VOCAB

__all__ = ["CA2M", "VisualEncoder", "CachedVisual", "TextEncoder", "BoxHead", "RECModel"]


def _sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        checks.positive_int(value, name)


def _ffn(d: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))


class CA2M(nn.Module):
    """Cross-modal alternate attention module, Eqs. (rec-ca2m-v) and (rec-ca2m-l).

    ``F_v* = LN(F_v + MHCA(F_v, F_l))``, ``F_v' = LN(F_v* + FFN(F_v*))``, then
    ``F_l* = LN(F_l + MHCA(F_l, F_v'))``, ``F_l' = LN(F_l* + FFN(F_l*))``.
    """

    def __init__(self, d: int = 64, heads: int = 4, hidden: int = 128, dropout: float = 0.0):
        super().__init__()
        _sizes(d=d, heads=heads, hidden=hidden)
        checks.probability(dropout, "dropout")
        if d % heads:
            raise ValueError(f"d={d} must be divisible by heads={heads}")
        self.v_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.l_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.v_ffn, self.l_ffn = _ffn(d, hidden), _ffn(d, hidden)
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(4))
        self.language_attention: torch.Tensor | None = None

    def forward(
        self, fv: torch.Tensor, fl: torch.Tensor, pad: torch.Tensor | None = None, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """
        Parameters
        ----------
        fv
            ``(B, N, d)`` visual tokens.
        fl
            ``(B, L, d)`` language tokens.
        pad
            ``bool (B, L)``, True at padded words: they are never attended to.
        need_weights
            Also return the vision-to-language attention ``(B, N, L)`` (heads averaged), and keep the
            language-to-vision attention ``(B, L, N)`` in ``self.language_attention`` (``None`` otherwise).

        Returns
        -------
        fv', fl', attention
        """
        if fv.ndim != 3 or fl.ndim != 3 or fv.shape[0] != fl.shape[0] or fv.shape[2] != fl.shape[2]:
            raise ValueError(f"fv must be (B, N, d) and fl (B, L, d), got {tuple(fv.shape)} and {tuple(fl.shape)}")
        checks.tensor(fv, "fv", dtype="float")
        checks.tensor(fl, "fl", dtype="float")
        if pad is not None:
            checks.tensor(pad, "pad", dtype="bool")
        if pad is not None and pad.shape != fl.shape[:2]:
            raise ValueError(f"pad must be (B, L) = {tuple(fl.shape[:2])}, got {tuple(pad.shape)}")
        att, w = self.v_attn(fv, fl, fl, key_padding_mask=pad, need_weights=need_weights)
        fv = self.norms[0](fv + att)
        fv = self.norms[1](fv + self.v_ffn(fv))
        att, w_lv = self.l_attn(fl, fv, fv, need_weights=need_weights)
        self.language_attention = w_lv
        fl = self.norms[2](fl + att)
        fl = self.norms[3](fl + self.l_ffn(fl))
        return fv, fl, w


class VisualEncoder(nn.Module):
    """A three-stage CNN (strides 2, 4, 8) whose stages are resampled to one ``grid x grid`` map and projected to ``d``.

    Shallow stages keep edges and exact extents, deep stages see whole objects and
    their neighbours; concatenating them gives every cell several granularities.
    Two coordinate channels join the RGB input, so positions are easy to read out.
    """

    def __init__(self, d: int = 64, channels: tuple[int, int, int] = (16, 32, 64), grid: int = 8):
        super().__init__()
        _sizes(d=d, grid=grid)
        if not isinstance(channels, (tuple, list)) or len(channels) != 3:
            raise ValueError(f"channels must be three positive ints, got {channels!r}")
        for i, c in enumerate(channels):
            checks.positive_int(c, f"channels[{i}]")
        stages, c_in = [], 5
        for c in channels:
            stages.append(
                nn.Sequential(
                    nn.Conv2d(c_in, c, 3, stride=2, padding=1),
                    nn.BatchNorm2d(c),
                    nn.ReLU(),
                    nn.Conv2d(c, c, 3, padding=1),
                    nn.BatchNorm2d(c),
                    nn.ReLU(),
                )
            )
            c_in = c
        self.stages = nn.ModuleList(stages)
        self.grid = grid
        self.cell_features = sum(channels)
        self.proj = nn.Linear(sum(channels), d)
        self.pos = nn.Parameter(torch.randn(grid * grid, d) * 0.02)

    def cells(self, images: torch.Tensor) -> torch.Tensor:
        """``images (B, 3, H, W)`` -> the stages resampled and concatenated, ``(B, grid * grid, sum(channels))``."""
        checks.tensor(images, "images")
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        checks.tensor(images, "images", dtype="float")
        if images.shape[0] == 0 or images.shape[2] < 1 or images.shape[3] < 1:
            raise ValueError(f"images must hold at least one non-empty image, got {tuple(images.shape)}")
        b, _, h, w = images.shape
        ys = torch.linspace(-1, 1, h, device=images.device).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=images.device).view(1, 1, 1, w).expand(b, 1, h, w)
        x = torch.cat([images, xs, ys], dim=1)
        maps = []
        for stage in self.stages:
            x = stage(x)
            if x.shape[-1] >= self.grid:
                maps.append(F.adaptive_avg_pool2d(x, self.grid))
            else:
                maps.append(F.interpolate(x, size=(self.grid, self.grid), mode="bilinear", align_corners=False))
        return torch.cat(maps, dim=1).flatten(2).transpose(1, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images (B, 3, H, W)`` -> visual tokens ``(B, grid * grid, d)``."""
        return self.proj(self.cells(images)) + self.pos


class TextEncoder(nn.Module):
    """A small transformer over ``[CLS] + words``, trained from scratch; its layers are grouped into granularities.

    With ``layers=3, groups=3`` every layer is a granularity (word, phrase,
    sentence in the paper's reading of BERT's depths; the paper uses 6 layers in 3 groups of 2).
    """

    def __init__(
        self, d: int = 64, heads: int = 4, hidden: int = 128, layers: int = 3, groups: int = 3, max_len: int = 40
    ):
        super().__init__()
        _sizes(d=d, heads=heads, hidden=hidden, layers=layers, groups=groups, max_len=max_len)
        if d % heads:
            raise ValueError(f"d={d} must be divisible by heads={heads}")
        if layers % groups:
            raise ValueError(f"layers={layers} must be a multiple of groups={groups}")
        self.embed = nn.Embedding(len(VOCAB), d, padding_idx=PAD)
        self.pos = nn.Parameter(torch.randn(max_len + 1, d) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d, heads, hidden, dropout=0.0, batch_first=True) for _ in range(layers)
        )
        self.per_group = layers // groups

    def forward(self, tokens: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``tokens (B, L)`` word ids (no ``<cls>``) -> one ``(B, 1 + L, d)`` output per group, and ``pad (B, 1 + L)``.

        The ids are checked against :data:`attnlib.data.refexp.VOCAB` (an id out of range would fail deep inside
        the embedding); that check reads the tokens, a small integer tensor.
        """
        checks.tensor(tokens, "tokens")
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be (B, L), got {tuple(tokens.shape)}")
        checks.ids_in_range(tokens, len(VOCAB), "tokens")
        if tokens.shape[1] + 1 > self.pos.shape[0]:
            raise ValueError(f"tokens may hold at most {self.pos.shape[0] - 1} words, got {tokens.shape[1]}")
        tokens = torch.cat([torch.full_like(tokens[:, :1], CLS), tokens], dim=1)
        pad = tokens == PAD
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x, src_key_padding_mask=pad)
            if (i + 1) % self.per_group == 0:
                outs.append(x)
        return outs, pad


class BoxHead(nn.Module):
    """Three-layer MLP from the [CLS] feature to a normalised box ``(cx, cy, w, h)`` in ``(0, 1)``."""

    def __init__(self, d: int = 64):
        super().__init__()
        checks.positive_int(d, "d")
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 4))

    def forward(self, cls: torch.Tensor) -> torch.Tensor:
        """``cls (B, d)`` -> ``(B, 4)``."""
        checks.tensor(cls, "cls", shape=(None, self.mlp[0].in_features), dtype="float")
        return torch.sigmoid(self.mlp(cls))


class CachedVisual(nn.Module):
    """Visual tokens from cached cells of a frozen encoder (:func:`attnlib.rec.pretrain.encode_cells`).

    ``cells (B, N, in_features)`` -> ``(B, N, d)``: a linear projection and a learned position per cell.
    """

    def __init__(self, in_features: int, d: int, grid: int):
        super().__init__()
        _sizes(in_features=in_features, d=d, grid=grid)
        self.grid = grid
        self.proj = nn.Linear(in_features, d)
        self.pos = nn.Parameter(torch.randn(grid * grid, d) * 0.02)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        if cells.ndim != 3 or cells.shape[1:] != (self.pos.shape[0], self.proj.in_features):
            raise ValueError(
                f"cells must be (B, {self.pos.shape[0]}, {self.proj.in_features}), got {tuple(cells.shape)}"
            )
        checks.tensor(cells, "cells", dtype="float")
        return self.proj(cells) + self.pos


class RECModel(nn.Module):
    """Image + expression -> box. ``fusion="ca2m"``: grouped CA2M per text granularity, then fusion CA2M layers;
    ``fusion="transformer"``: a plain transformer encoder over ``[visual tokens; words]`` with the same number
    of layers (``group_layers + fusion_layers``).

    Parameters
    ----------
    d, heads, hidden
        Width, attention heads, FFN width.
    granularities
        Groups of the text encoder (one text layer each) paired with the visual tokens.
    group_layers, fusion_layers
        CA2M layers per group (``0``: no grouped interaction, the granularities meet the image only in the
        fusion layers, an ablation) and after the concatenation.
    grid
        Side of the visual token grid.
    channels
        Channels of the three CNN stages (ignored with ``in_features``).
    fusion
        ``"ca2m"`` or ``"transformer"``.
    in_features
        If given, the model reads cached cells ``(B, grid^2, in_features)`` of a frozen, pretrained encoder
        (:class:`CachedVisual`) instead of images.

    Besides the box, every forward pass leaves two ``(B, grid^2)`` read-outs for the auxiliary grounding loss
    of Eq. (rec-aux): ``self.cell_logits``, a linear score per fused visual token, and ``self.cls_attention``,
    the [CLS] word's attention over the visual tokens in the last layer (heads averaged; for the plain
    transformer renormalised over the visual tokens).
    """

    def __init__(
        self,
        d: int = 32,
        heads: int = 2,
        hidden: int = 64,
        granularities: int = 3,
        group_layers: int = 1,
        fusion_layers: int = 2,
        grid: int = 6,
        channels: tuple[int, int, int] = (16, 32, 32),
        fusion: Literal["ca2m", "transformer"] = "ca2m",
        in_features: int | None = None,
    ):
        super().__init__()
        if fusion not in ("ca2m", "transformer"):
            raise ValueError(f"fusion must be 'ca2m' or 'transformer', got {fusion!r}")
        if in_features is not None and (not isinstance(in_features, int) or in_features < 1):
            raise ValueError(f"in_features must be a positive int or None, got {in_features!r}")
        _sizes(d=d, heads=heads, hidden=hidden, granularities=granularities, fusion_layers=fusion_layers, grid=grid)
        checks.non_negative_int(group_layers, "group_layers")
        if fusion == "transformer" and group_layers + fusion_layers < 1:
            raise ValueError("group_layers + fusion_layers must be >= 1")
        if d % heads:
            raise ValueError(f"d={d} must be divisible by heads={heads}")
        self.fusion = fusion
        self.visual = VisualEncoder(d, channels, grid) if in_features is None else CachedVisual(in_features, d, grid)
        self.text = TextEncoder(d, heads, hidden, layers=granularities, groups=granularities)
        if fusion == "ca2m":
            self.groups = nn.ModuleList(
                nn.ModuleList(CA2M(d, heads, hidden) for _ in range(group_layers)) for _ in range(granularities)
            )
            self.merge_v = nn.Linear(granularities * d, d)
            self.merge_l = nn.Linear(granularities * d, d)
            self.fuse = nn.ModuleList(CA2M(d, heads, hidden) for _ in range(fusion_layers))
        else:
            self.type_embed = nn.Parameter(torch.randn(2, d) * 0.02)
            self.encoder = nn.ModuleList(
                nn.TransformerEncoderLayer(d, heads, hidden, dropout=0.0, batch_first=True)
                for _ in range(group_layers + fusion_layers)
            )
        self.head = BoxHead(d)
        self.cell_head = nn.Linear(d, 1)
        self.attention: torch.Tensor | None = None
        self.cell_logits: torch.Tensor | None = None
        self.cls_attention: torch.Tensor | None = None

    def forward(self, images: torch.Tensor, tokens: torch.Tensor, need_weights: bool = False) -> torch.Tensor:
        """``images (B, 3, H, W)`` (or cached cells ``(B, grid^2, in_features)``), ``tokens (B, L)`` -> boxes
        ``(B, 4)`` normalised cxcywh.

        With ``need_weights`` (CA2M only), ``self.attention`` holds the last fusion layer's
        language-to-vision attention ``(B, 1 + L, grid^2)``: where each word (and [CLS]) reads the image.

        Ranks, batch sizes and dtypes are checked, and the token ids (they enter an embedding); the images'
        finiteness is not (it would read every pixel at every step; :mod:`attnlib.checks`).
        """
        checks.tensor(images, "images")
        checks.tensor(tokens, "tokens")
        if images.ndim not in (3, 4) or tokens.ndim != 2 or images.shape[0] != tokens.shape[0]:
            raise ValueError(
                f"images must be (B, 3, H, W) or cached cells (B, N, C), and tokens (B, L), with the same B; got "
                f"{tuple(images.shape)} and {tuple(tokens.shape)}"
            )
        fv0 = self.visual(images)
        fls, pad = self.text(tokens)
        if self.fusion == "transformer":
            x = torch.cat([fv0 + self.type_embed[0], fls[-1] + self.type_embed[1]], dim=1)
            mask = torch.cat([torch.zeros_like(pad[:, :1]).expand(-1, fv0.shape[1]), pad], dim=1)
            for layer in self.encoder[:-1]:
                x = layer(x, src_key_padding_mask=mask)
            # The last layer step by step (the same computation as nn.TransformerEncoderLayer, post-norm, no
            # dropout), to keep the [CLS] word's attention.
            last = self.encoder[-1]
            att, w = last.self_attn(x, x, x, key_padding_mask=mask, need_weights=True)
            x = last.norm1(x + att)
            x = last.norm2(x + last.linear2(last.activation(last.linear1(x))))
            n = fv0.shape[1]
            cls_on_cells = w[:, n, :n]
            self.cls_attention = cls_on_cells / cls_on_cells.sum(-1, keepdim=True).clamp_min(1e-8)
            self.cell_logits = self.cell_head(x[:, :n]).squeeze(-1)
            return self.head(x[:, n])
        vs, ls = [], []
        for group, fl in zip(self.groups, fls):
            fv = fv0
            for block in group:
                fv, fl, _ = block(fv, fl, pad)
            vs.append(fv)
            ls.append(fl)
        fv, fl = self.merge_v(torch.cat(vs, -1)), self.merge_l(torch.cat(ls, -1))
        for i, block in enumerate(self.fuse):
            fv, fl, _ = block(fv, fl, pad, need_weights=need_weights or i == len(self.fuse) - 1)
        self.attention = self.fuse[-1].language_attention if need_weights else None
        self.cls_attention = self.fuse[-1].language_attention[:, 0]
        self.cell_logits = self.cell_head(fv).squeeze(-1)
        return self.head(fl[:, 0])
