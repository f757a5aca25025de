"""The LSTM decoder of Show, Attend and Tell with soft or stochastic hard attention (Chapter 5).

One step (Eq. (sat-lstm)): from the previous word ``y_{t-1}`` and state ``(h_{t-1}, c_{t-1})``,

1. score the annotations with :class:`~attnlib.sat.attention.AdditiveAttention` -> ``alpha_t``;
2. form the context ``z_t``: the expectation ``sum_i alpha_ti a_i`` (soft, Eq. (sat-soft)), or the
   annotation ``a_s`` at a location ``s ~ Multinoulli(alpha_t)`` (hard, Eq. (sat-hard)), scaled by the
   gate ``beta_t = sigmoid(f_beta(h_{t-1}))`` (Eq. (sat-gate));
3. ``h_t, c_t = LSTM([E y_{t-1}, z_t], (h_{t-1}, c_{t-1}))``;
4. the deep output ``p(y_t) ∝ exp(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t))`` (Eq. (sat-output)).

Soft and hard share every parameter; only step 2 differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from attnlib import checks
from attnlib.sat.attention import AdditiveAttention

__all__ = ["MODES", "StepOutput", "DecoderOutput", "SATDecoder"]

#: ``soft``: expectation; ``hard``: sample (with the expectation instead, with probability ``expected_prob``);
#: ``argmax``: the most likely location (deterministic hard attention, for evaluation).
MODES = ("soft", "hard", "argmax")


@dataclass
class StepOutput:
    """One decoder step for a batch of ``B``: ``logits (B, V)``, ``alpha (B, L)``, ``h``/``c (B, H)``, gate ``beta (B,)``;
    for ``hard``: ``log_prob (B,)`` of the sampled location, ``entropy (B,)`` of ``alpha``, ``sampled (B,)``
    true where the sample (not the expectation) was used."""

    logits: torch.Tensor
    alpha: torch.Tensor
    h: torch.Tensor
    c: torch.Tensor
    beta: torch.Tensor | None = None
    log_prob: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    sampled: torch.Tensor | None = None


@dataclass
class DecoderOutput:
    """A teacher-forced pass: ``logits (B, T, V)``, ``alphas (B, T, L)``, ``betas (B, T)``; for ``hard``,
    ``log_probs``, ``entropies`` and ``sampled``, each ``(B, T)``."""

    logits: torch.Tensor
    alphas: torch.Tensor
    betas: torch.Tensor
    log_probs: torch.Tensor | None = None
    entropies: torch.Tensor | None = None
    sampled: torch.Tensor | None = None


class SATDecoder(nn.Module):
    """Attention LSTM decoder.

    Parameters
    ----------
    vocab_size
        ``V``, including the special tokens.
    feature_dim
        ``D`` of the annotation vectors.
    embed_dim, hidden_dim, attention_dim
        Sizes of the word embedding ``E``, the LSTM, and the attention MLP.
    dropout
        Dropout on the deep output layer's input.
    gate
        Use the gating scalar ``beta_t`` (Eq. (sat-gate)); otherwise ``beta_t = 1``.

    Shapes, dtypes and the word ids (they enter an embedding) are checked; the annotations' values are
    not (no finiteness check inside a forward, see :mod:`attnlib.checks`).
    """

    def __init__(
        self,
        vocab_size: int,
        feature_dim: int,
        embed_dim: int = 64,
        hidden_dim: int = 256,
        attention_dim: int = 128,
        dropout: float = 0.0,
        gate: bool = True,
    ) -> None:
        super().__init__()
        if checks.positive_int(vocab_size, "vocab_size") < 4:
            raise ValueError(f"vocab_size must be an int >= 4 (special tokens included), got {vocab_size!r}")
        checks.positive_ints(
            feature_dim=feature_dim, embed_dim=embed_dim, hidden_dim=hidden_dim, attention_dim=attention_dim
        )
        checks.flag(gate, "gate")
        if checks.probability(dropout, "dropout") == 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.vocab_size, self.feature_dim, self.hidden_dim = vocab_size, feature_dim, hidden_dim
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.attention = AdditiveAttention(feature_dim, hidden_dim, attention_dim)
        # The initial state is predicted from the mean annotation (Eq. (sat-init)).
        self.init_h = nn.Linear(feature_dim, hidden_dim)
        self.init_c = nn.Linear(feature_dim, hidden_dim)
        self.gate = nn.Linear(hidden_dim, 1) if gate else None
        self.lstm = nn.LSTMCell(embed_dim + feature_dim, hidden_dim)
        self.out_h = nn.Linear(hidden_dim, embed_dim)
        self.out_z = nn.Linear(feature_dim, embed_dim, bias=False)
        self.out = nn.Linear(embed_dim, vocab_size)
        self.dropout = nn.Dropout(dropout)

    def init_state(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """State before the first word: ``h_0``, ``c_0`` from the (masked) mean annotation, plus the
        annotations ``features (B, L, D)``, their attention keys and ``mask (B, L)`` if given.

        Every entry has the batch as its first dim, so the generic decoders of
        :mod:`attnlib.sat.decode` can repeat and reorder it.
        """
        checks.tensor(features, "features", shape=(None, None, self.feature_dim), dtype="float")
        if features.shape[0] < 1 or features.shape[1] < 1:
            raise ValueError(f"features must hold at least one image and one location, got {tuple(features.shape)}")
        if mask is None:
            mean = features.mean(1)
        else:
            checks.tensor(mask, "mask", shape=tuple(features.shape[:2]), dtype="bool")
            weights = mask.to(features.dtype).unsqueeze(-1)
            mean = (features * weights).sum(1) / weights.sum(1).clamp(min=1)
        state = {
            "h": torch.tanh(self.init_h(mean)),
            "c": torch.tanh(self.init_c(mean)),
            "features": features,
            "keys": self.attention.project(features),
        }
        if mask is not None:
            state["mask"] = mask
        return state

    def step(
        self,
        tokens: torch.Tensor,
        state: dict[str, torch.Tensor],
        mode: str = "soft",
        generator: torch.Generator | None = None,
        expected_prob: float = 0.5,
    ) -> StepOutput:
        """One word: ``tokens (B,)`` (the previous words) and the state -> :class:`StepOutput`.

        ``mode`` is one of :data:`MODES`. In ``hard`` mode the location is sampled with ``generator``
        and, independently per sequence with probability ``expected_prob``, replaced by the expectation
        (the authors' variance-reduction trick; the REINFORCE term then skips that step).
        ``tokens`` must be integer ids in ``[0, vocab_size)`` (checked here; :meth:`forward` checks all
        steps once and the decoding loops of :meth:`step_fn` skip the check).
        """
        checks.one_of(mode, MODES, "mode")
        checks.probability(expected_prob, "expected_prob")
        if not isinstance(state, dict) or not {"h", "c", "features", "keys"} <= state.keys():
            raise ValueError("state must be the dict of init_state (with 'h', 'c', 'features', 'keys')")
        checks.tensor(tokens, "tokens", shape=(state["h"].shape[0],))
        checks.ids_in_range(tokens, self.vocab_size, "tokens")
        return self._step(tokens, state, mode, generator, expected_prob)

    def _step(
        self,
        tokens: torch.Tensor,
        state: dict[str, torch.Tensor],
        mode: str,
        generator: torch.Generator | None,
        expected_prob: float,
    ) -> StepOutput:
        """:meth:`step` without its checks (the caller made them)."""
        h, c, features = state["h"], state["c"], state["features"]
        expected, alpha = self.attention(features, h, mask=state.get("mask"), keys=state["keys"])
        out = StepOutput(logits=torch.empty(0), alpha=alpha, h=h, c=c)
        if mode == "soft":
            context = expected
        else:
            if mode == "hard":
                where = torch.multinomial(alpha, 1, generator=generator).squeeze(1)
                log_alpha = torch.log(alpha.clamp(min=1e-12))
                out.log_prob = log_alpha.gather(1, where[:, None]).squeeze(1)
                out.entropy = -(alpha * log_alpha).sum(-1)
                coin = torch.rand(
                    alpha.shape[0],
                    generator=generator,
                    device=generator.device if generator is not None else alpha.device,
                ).to(alpha.device)
                out.sampled = coin >= expected_prob
            else:
                where = alpha.argmax(-1)
            picked = features[torch.arange(features.shape[0], device=features.device), where]
            context = picked if out.sampled is None else torch.where(out.sampled[:, None], picked, expected)
        beta = torch.sigmoid(self.gate(h)) if self.gate is not None else torch.ones_like(h[:, :1])
        context = beta * context
        embedded = self.embed(tokens)
        out.h, out.c = self.lstm(torch.cat([embedded, context], -1), (h, c))
        deep = torch.tanh(embedded + self.out_h(out.h) + self.out_z(context))
        out.logits = self.out(self.dropout(deep))
        out.beta = beta.squeeze(-1)
        return out

    def forward(
        self,
        features: torch.Tensor,
        tokens: torch.Tensor,
        mode: str = "soft",
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        expected_prob: float = 0.5,
    ) -> DecoderOutput:
        """Teacher forcing: ``features (B, L, D)``, input words ``tokens (B, T)`` (``<start> w_1 ...``)
        -> :class:`DecoderOutput` predicting ``w_1 ... <end>``.

        ``tokens`` must be integer ids in ``[0, vocab_size)`` with ``T >= 1`` (checked once here)."""
        checks.one_of(mode, MODES, "mode")
        checks.probability(expected_prob, "expected_prob")
        checks.tensor(features, "features", ndim=3)
        checks.tensor(tokens, "tokens", shape=(features.shape[0], None))
        if tokens.shape[1] < 1:
            raise ValueError(f"tokens must hold at least one step (T >= 1), got {tuple(tokens.shape)}")
        checks.ids_in_range(tokens, self.vocab_size, "tokens")
        state = self.init_state(features, mask)
        steps = []
        for t in range(tokens.shape[1]):
            out = self._step(tokens[:, t], state, mode, generator, expected_prob)
            state = {**state, "h": out.h, "c": out.c}
            steps.append(out)
        stack = lambda name: torch.stack([getattr(s, name) for s in steps], 1)  # noqa: E731
        result = DecoderOutput(stack("logits"), stack("alpha"), stack("beta"))
        if mode == "hard":
            result.log_probs, result.entropies, result.sampled = stack("log_prob"), stack("entropy"), stack("sampled")
        return result

    def step_fn(self, mode: str = "soft", generator: torch.Generator | None = None):
        """A ``step(tokens, state) -> (log_probs (N, V), state, alpha (N, L))`` for
        :func:`~attnlib.sat.decode.greedy_decode` and :func:`~attnlib.sat.decode.beam_search`."""
        checks.one_of(mode, MODES, "mode")
        first = True

        def step(tokens: torch.Tensor, state: dict[str, torch.Tensor]):
            nonlocal first
            if first:  # the start token comes from the caller; later tokens are the decoder's own argmax
                checks.ids_in_range(tokens, self.vocab_size, "start")
                first = False
            out = self._step(tokens, state, mode, generator, 0.0)
            return torch.log_softmax(out.logits, -1), {**state, "h": out.h, "c": out.c}, out.alpha

        return step
