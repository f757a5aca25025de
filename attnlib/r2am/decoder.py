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

from attnlib import checks
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

    Shapes, dtypes and the character ids (they enter an embedding) are checked; the features' values are
    not (no finiteness check inside a forward, see :mod:`attnlib.checks`).
    """

    def __init__(
        self, vocab_size: int, feature_dim: int, embed_dim: int = 32, hidden_dim: int = 128, attention_dim: int = 64
    ) -> None:
        super().__init__()
        if checks.positive_int(vocab_size, "vocab_size") < 4:
            raise ValueError(f"vocab_size must be >= 4 (three special tokens and a letter), got {vocab_size}")
        checks.positive_ints(
            feature_dim=feature_dim, embed_dim=embed_dim, hidden_dim=hidden_dim, attention_dim=attention_dim
        )
        self.vocab_size, self.feature_dim, self.hidden_dim = vocab_size, feature_dim, hidden_dim
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.attention = AdditiveAttention(feature_dim, hidden_dim, attention_dim)
        self.init = nn.Linear(feature_dim, hidden_dim)
        self.gru = nn.GRUCell(embed_dim + feature_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim + feature_dim, vocab_size)

    def init_state(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """``s_0 = tanh(W_0 mean_j a_j)`` plus the features and their attention keys (computed once)."""
        checks.tensor(features, "features", shape=(None, None, self.feature_dim), dtype="float")
        if features.shape[0] < 1 or features.shape[1] < 1:
            raise ValueError(f"features must hold at least one image and one column, got {tuple(features.shape)}")
        return {
            "s": torch.tanh(self.init(features.mean(1))),
            "features": features,
            "keys": self.attention.project(features),
        }

    def step(
        self, tokens: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """``tokens (B,)`` (previous characters, ids in ``[0, V)``, checked) -> ``logits (B, V)``, the new
        state, ``alpha (B, W')``."""
        if not isinstance(state, dict) or not {"s", "features", "keys"} <= state.keys():
            raise ValueError("state must be the dict of init_state (with 's', 'features', 'keys')")
        checks.tensor(tokens, "tokens", shape=(state["s"].shape[0],))
        checks.ids_in_range(tokens, self.vocab_size, "tokens")
        return self._step(tokens, state)

    def _step(
        self, tokens: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """:meth:`step` without its checks."""
        s, features = state["s"], state["features"]
        context, alpha = self.attention(features, s, keys=state["keys"])
        s = self.gru(torch.cat([self.embed(tokens), context], -1), s)
        logits = self.out(torch.cat([s, context], -1))
        return logits, {**state, "s": s}, alpha

    def forward(self, features: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: ``features (B, W', D)``, inputs ``tokens (B, T)`` (``<start> c_1 ... c_n``, padded)
        -> ``logits (B, T, V)`` predicting ``c_1 ... c_n <end>`` and ``alphas (B, T, W')``.

        ``tokens`` must be integer ids in ``[0, V)`` with ``T >= 1`` (checked once here)."""
        checks.tensor(features, "features", ndim=3)
        checks.tensor(tokens, "tokens", shape=(features.shape[0], None))
        if tokens.shape[1] < 1:
            raise ValueError(f"tokens must hold at least one step (T >= 1), got {tuple(tokens.shape)}")
        checks.ids_in_range(tokens, self.vocab_size, "tokens")
        state = self.init_state(features)
        logits, alphas = [], []
        for t in range(tokens.shape[1]):
            step_logits, state, alpha = self._step(tokens[:, t], state)
            logits.append(step_logits)
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)

    def step_fn(self):
        """``step(tokens, state) -> (log_probs (N, V), state, alpha (N, W'))`` for
        :func:`~attnlib.sat.decode.greedy_decode` and :func:`~attnlib.sat.decode.beam_search`."""

        first = True

        def step(tokens: torch.Tensor, state: dict[str, torch.Tensor]):
            nonlocal first
            if first:  # the start token comes from the caller; later tokens are the decoder's own argmax
                checks.ids_in_range(tokens, self.vocab_size, "start")
                first = False
            logits, state, alpha = self._step(tokens, state)
            return torch.log_softmax(logits, -1), state, alpha

        return step
