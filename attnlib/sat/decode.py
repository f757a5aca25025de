"""Greedy and beam-search decoding, generic over a ``step`` function (Chapter 5, reused by attention OCR).

A decoder exposes ``step(tokens (N,), state) -> (log_probs (N, V), state, aux)`` where ``state`` is a
dict of tensors whose first dim is ``N`` (anything the model carries: LSTM state, annotations, keys)
and ``aux`` is a tensor ``(N, ...)`` to record per word (the attention weights) or ``None``. Nothing
here knows about images or LSTMs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from attnlib import checks

__all__ = ["greedy_decode", "beam_search"]

State = dict[str, torch.Tensor]
StepFn = Callable[[torch.Tensor, State], "tuple[torch.Tensor, State, torch.Tensor | None]"]


def _check(step: StepFn, state: State, start: int, end: int, pad: int, max_len: int) -> int:
    if not callable(step):
        raise ValueError(f"step must be a callable step(tokens, state), got {type(step).__name__}")
    if not isinstance(state, dict) or not state:
        raise ValueError("state must be a dict holding at least one tensor")
    for name, value in state.items():
        if not isinstance(value, torch.Tensor) or value.ndim < 1:
            raise ValueError(f"state[{name!r}] must be a tensor with a batch dim, got {type(value).__name__}")
    sizes = {v.shape[0] for v in state.values()}
    if len(sizes) != 1:
        raise ValueError(f"every state tensor must share the batch dim, got first dims {sorted(sizes)}")
    if sizes == {0}:
        raise ValueError("state must hold a batch of at least one input, got batch size 0")
    checks.positive_int(max_len, "max_len")
    for name, value in (("start", start), ("end", end), ("pad", pad)):
        checks.non_negative_int(value, name)
    if len({start, end, pad}) != 3:
        raise ValueError(f"start, end and pad must be distinct non-negative ids, got {start}, {end}, {pad}")
    return sizes.pop()


def _check_log_probs(log_probs: object, rows: int, start: int, end: int, pad: int) -> int:
    """The vocabulary size ``V`` of a step's ``log_probs (rows, V)``; the special ids must lie below it."""
    if not isinstance(log_probs, torch.Tensor) or log_probs.ndim != 2 or log_probs.shape[0] != rows:
        got = tuple(log_probs.shape) if isinstance(log_probs, torch.Tensor) else type(log_probs).__name__
        raise ValueError(f"step must return log_probs of shape ({rows}, V), got {got}")
    vocab = log_probs.shape[1]
    if max(start, end, pad) >= vocab:
        raise ValueError(f"start, end and pad must be ids below the vocabulary size {vocab}, got {start}, {end}, {pad}")
    return vocab


@torch.no_grad()
def greedy_decode(
    step: StepFn, state: State, start: int, end: int, pad: int = 0, max_len: int = 20
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pick the most likely word at every step until ``end`` or ``max_len`` words.

    Returns
    -------
    tokens
        ``(B, T)``, ``T <= max_len``: the words, ``end`` included, ``pad`` after it.
    aux
        ``(B, T, ...)``: the step's ``aux`` per word (``None`` if the step gives none).
    """
    batch = _check(step, state, start, end, pad, max_len)
    device = next(iter(state.values())).device
    tokens = torch.full((batch,), start, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    words, auxes = [], []
    for t in range(max_len):
        log_probs, state, aux = step(tokens, state)
        if t == 0:
            _check_log_probs(log_probs, batch, start, end, pad)
        tokens = torch.where(done, torch.full_like(tokens, pad), log_probs.argmax(-1))
        words.append(tokens)
        auxes.append(aux)
        done = done | (tokens == end)
        if done.all():
            break
    return torch.stack(words, 1), (torch.stack(auxes, 1) if auxes[0] is not None else None)


@torch.no_grad()
def beam_search(
    step: StepFn,
    state: State,
    start: int,
    end: int,
    pad: int = 0,
    max_len: int = 20,
    beam_size: int = 3,
    length_penalty: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Keep the ``beam_size`` most likely partial captions per input, vectorised over inputs and beams.

    A finished beam (it emitted ``end``) keeps its score and only extends with ``pad``. The best beam
    maximises ``log p / length ** length_penalty`` (``0``: plain log-probability; must be ``>= 0``).

    Returns
    -------
    tokens
        ``(B, T)`` best caption per input, ``end`` included, ``pad`` after it.
    scores
        ``(B,)`` its log-probability.
    aux
        ``(B, T, ...)`` the step's ``aux`` along the best beam, or ``None``.
    """
    batch = _check(step, state, start, end, pad, max_len)
    checks.positive_int(beam_size, "beam_size")
    checks.non_negative_float(length_penalty, "length_penalty")
    k = beam_size
    device = next(iter(state.values())).device
    state = {name: value.repeat_interleave(k, 0) for name, value in state.items()}
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    tokens = torch.full((batch, k), start, dtype=torch.long, device=device)
    done = torch.zeros(batch, k, dtype=torch.bool, device=device)
    seqs = torch.zeros(batch, k, 0, dtype=torch.long, device=device)
    aux_hist: torch.Tensor | None = None
    rows = torch.arange(batch, device=device)[:, None]
    for t in range(max_len):
        log_probs, state, aux = step(tokens.reshape(-1), state)
        vocab = _check_log_probs(log_probs, batch * k, start, end, pad) if t == 0 else log_probs.shape[-1]
        if k > vocab:
            raise ValueError(f"beam_size ({k}) must not exceed the vocabulary size ({vocab})")
        log_probs = log_probs.reshape(batch, k, vocab)
        finished = torch.full_like(log_probs, float("-inf"))
        finished[..., pad] = 0.0
        log_probs = torch.where(done[..., None], finished, log_probs)
        top, index = (scores[..., None] + log_probs).reshape(batch, -1).topk(k, -1)
        parent, word = index // vocab, index % vocab
        flat = (rows * k + parent).reshape(-1)
        state = {name: value.index_select(0, flat) for name, value in state.items()}
        seqs = torch.cat([seqs[rows, parent], word[..., None]], -1)
        if aux is not None:
            aux = aux.reshape(batch, k, 1, *aux.shape[1:])[rows, parent]
            aux_hist = aux if aux_hist is None else torch.cat([aux_hist[rows, parent], aux], 2)
        done = done[rows, parent] | (word == end)
        tokens, scores = word, top
        if done.all():
            break
    lengths = (seqs != pad).sum(-1).clamp(min=1).to(scores.dtype)
    best = (scores / lengths**length_penalty).argmax(-1)
    pick = torch.arange(batch, device=device)
    tokens_best = seqs[pick, best]
    used = (tokens_best != pad).any(0).nonzero()
    width = int(used.max()) + 1 if len(used) else 1  # drop the steps only unfinished losing beams needed
    aux_best = aux_hist[pick, best][:, :width] if aux_hist is not None else None
    return tokens_best[:, :width], scores[pick, best], aux_best
