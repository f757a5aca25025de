"""Additive (Bahdanau) attention over a set of annotation vectors, with an optional mask.

Chapter 5 uses it as the ``f_att`` of Show, Attend and Tell; the attention-OCR
chapter reuses it over the columns of a text-line feature map. Implements
Eq. (sat-score) and Eq. (sat-alpha):

    e_i = w^T tanh(W_a a_i + W_h h),    alpha = softmax(e) over the valid locations i.
"""

from __future__ import annotations

import torch
from torch import nn

from attnlib import checks

__all__ = ["AdditiveAttention"]


class AdditiveAttention(nn.Module):
    """Score every annotation vector against a query; return the weights and the expected annotation.

    Parameters
    ----------
    feature_dim
        ``D``, the size of an annotation vector ``a_i``.
    query_dim
        Size of the query (the decoder's hidden state ``h``).
    attention_dim
        Size of the hidden layer of the scoring MLP.
    """

    def __init__(self, feature_dim: int, query_dim: int, attention_dim: int) -> None:
        super().__init__()
        for name, value in (("feature_dim", feature_dim), ("query_dim", query_dim), ("attention_dim", attention_dim)):
            checks.positive_int(value, name)
        self.feature_dim, self.query_dim = feature_dim, query_dim
        self.key = nn.Linear(feature_dim, attention_dim)  # W_a (its bias stands for the MLP's bias)
        self.query = nn.Linear(query_dim, attention_dim, bias=False)  # W_h
        self.score = nn.Linear(attention_dim, 1, bias=False)  # w: a bias would cancel in the softmax

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """``W_a a_i`` for every location: ``features (B, L, D)`` -> keys ``(B, L, A)``.

        The keys do not depend on the query, so a decoder computes them once per image and passes
        them to every :meth:`forward` call.
        """
        checks.tensor(features, "features", shape=(None, None, self.feature_dim), dtype="float")
        return self.key(features)

    def forward(
        self,
        features: torch.Tensor,
        query: torch.Tensor,
        mask: torch.Tensor | None = None,
        keys: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend.

        Parameters
        ----------
        features
            ``(B, L, D)`` annotation vectors.
        query
            ``(B, query_dim)``.
        mask
            Optional bool ``(B, L)``, true where a location may be attended (padding is false). Every row
            needs at least one true entry.
        keys
            Optional ``(B, L, A)`` from :meth:`project`, to skip recomputing them.

        Shapes, dtypes and the mask are checked; the values of ``features`` and ``query`` are not
        (no finiteness check inside a forward, see :mod:`attnlib.checks`).

        Returns
        -------
        context
            ``(B, D)``: the expected annotation ``sum_i alpha_i a_i`` (Eq. (sat-soft)).
        alpha
            ``(B, L)``: attention weights, non-negative, summing to one over the valid locations and
            exactly zero on masked ones.
        """
        checks.tensor(features, "features", shape=(None, None, self.feature_dim), dtype="float")
        batch, length = features.shape[:2]
        if length < 1:
            raise ValueError(f"features must hold at least one location (L >= 1), got {tuple(features.shape)}")
        checks.tensor(query, "query", shape=(batch, self.query_dim), dtype="float")
        if keys is None:
            keys = self.key(features)
        elif checks.tensor(keys, "keys", ndim=3).shape[:2] != (batch, length):
            raise ValueError(f"keys must start with ({batch}, {length}), got {tuple(keys.shape)}")
        scores = self.score(torch.tanh(keys + self.query(query)[:, None, :])).squeeze(-1)  # (B, L)
        if mask is not None:
            checks.tensor(mask, "mask", shape=(batch, length), dtype="bool")
            if not mask.any(-1).all():
                raise ValueError("mask must leave at least one valid location in every row")
            scores = scores.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(scores, dim=-1)
        context = torch.bmm(alpha.unsqueeze(1), features).squeeze(1)
        return context, alpha
