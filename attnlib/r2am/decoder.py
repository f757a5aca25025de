"""The character decoder of attention OCR: a GRU that reads the feature sequence through soft attention.

One step (Eqs. (r2am-align) to (r2am-output)), from the previous character ``y_{t-1}`` and state ``s_{t-1}``:

1. ``alpha_t = softmax_j(w^T tanh(W_a a_j + W_s s_{t-1}))`` over the ``W'`` columns, with the library's one
   :class:`~attnlib.sat.attention.AdditiveAttention`; the context is ``c_t = sum_j alpha_tj a_j``;
2. ``s_t = GRU([E y_{t-1}; c_t], s_{t-1})``;
3. ``p(y_t | y_<t, image) = softmax(W_o [s_t; c_t] + b_o)``.

Because ``s_t`` is a function of the characters ``y_<t`` read so far, the recurrence is a character-level
language model conditioned on the image (Eq. (r2am-lm)). Greedy and beam decoding come from
:mod:`attnlib.sat.decode` through :meth:`CharDecoder.step_fn`.
"""

from __future__ import annotations

import torch
from torch import nn

from attnlib.sat.attention import AdditiveAttention

__all__ = ["CharDecoder"]


class CharDecoder(nn.Module):
    """Attention GRU decoder over a feature sequence ``(B, W', D)``.

    Parameters
    ----------
    vocab_size
        ``V``, including the special tokens ``<pad>``, ``<start>``, ``<end>``.
    feature_dim
        ``D``.
    embed_dim, hidden_dim, attention_dim
        Sizes of the character embedding, the GRU state and the attention MLP.
    """

    def __init__(
        self, vocab_size: int, feature_dim: int, embed_dim: int = 32, hidden_dim: int = 128, attention_dim: int = 64
    ) -> None:
        super().__init__()
        for name, value in (
            ("vocab_size", vocab_size - 3),
            ("feature_dim", feature_dim),
            ("embed_dim", embed_dim),
            ("hidden_dim", hidden_dim),
        ):
            if value < 1:
                raise ValueError(f"{name} is too small, got {value + (3 if name == 'vocab_size' else 0)}")
        self.vocab_size, self.feature_dim, self.hidden_dim = vocab_size, feature_dim, hidden_dim
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.attention = AdditiveAttention(feature_dim, hidden_dim, attention_dim)
        self.init = nn.Linear(feature_dim, hidden_dim)
        self.gru = nn.GRUCell(embed_dim + feature_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim + feature_dim, vocab_size)

    def init_state(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """``s_0 = tanh(W_0 mean_j a_j)`` plus the features and their attention keys (computed once)."""
        if features.ndim != 3 or features.shape[-1] != self.feature_dim:
            raise ValueError(f"features must be (B, W', {self.feature_dim}), got {tuple(features.shape)}")
        return {
            "s": torch.tanh(self.init(features.mean(1))),
            "features": features,
            "keys": self.attention.project(features),
        }

    def step(
        self, tokens: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """``tokens (B,)`` (previous characters) -> ``logits (B, V)``, the new state, ``alpha (B, W')``."""
        s, features = state["s"], state["features"]
        if tokens.shape != (s.shape[0],):
            raise ValueError(f"tokens must be ({s.shape[0]},), got {tuple(tokens.shape)}")
        context, alpha = self.attention(features, s, keys=state["keys"])
        s = self.gru(torch.cat([self.embed(tokens), context], -1), s)
        logits = self.out(torch.cat([s, context], -1))
        return logits, {**state, "s": s}, alpha

    def forward(self, features: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: ``features (B, W', D)``, inputs ``tokens (B, T)`` (``<start> c_1 ... c_n``, padded)
        -> ``logits (B, T, V)`` predicting ``c_1 ... c_n <end>`` and ``alphas (B, T, W')``."""
        if tokens.ndim != 2 or tokens.shape[0] != features.shape[0]:
            raise ValueError(f"tokens must be ({features.shape[0]}, T), got {tuple(tokens.shape)}")
        state = self.init_state(features)
        logits, alphas = [], []
        for t in range(tokens.shape[1]):
            step_logits, state, alpha = self.step(tokens[:, t], state)
            logits.append(step_logits)
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)

    def step_fn(self):
        """``step(tokens, state) -> (log_probs (N, V), state, alpha (N, W'))`` for
        :func:`~attnlib.sat.decode.greedy_decode` and :func:`~attnlib.sat.decode.beam_search`."""

        def step(tokens: torch.Tensor, state: dict[str, torch.Tensor]):
            logits, state, alpha = self.step(tokens, state)
            return torch.log_softmax(logits, -1), state, alpha

        return step
