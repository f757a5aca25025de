"""R^2AM put together: encoder + attention decoder, character vocabulary, training, recognition, metrics.

:func:`train_ocr` minimises the per-character cross-entropy of the teacher-forced decoder (Eq. (r2am-nll))
with :func:`attnlib.train.fit`; :func:`recognise` decodes greedily or with beam search
(:mod:`attnlib.sat.decode`); :func:`evaluate_ocr` reports word accuracy, the character error rate of
torchmetrics, and how often the attention peak moves right from one character to the next.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import TensorDataset

from attnlib.data.words import ALPHABET
from attnlib.r2am.decoder import CharDecoder
from attnlib.r2am.encoder import WordEncoder
from attnlib.sat.decode import beam_search, greedy_decode
from attnlib.train import fit, make_loader

__all__ = [
    "END",
    "PAD",
    "START",
    "VOCAB",
    "R2AM",
    "attention_monotonicity",
    "character_error_rate",
    "decode_tokens",
    "encode_words",
    "evaluate_ocr",
    "recognise",
    "train_ocr",
    "word_accuracy",
]

PAD, START, END = 0, 1, 2
#: Token ``i`` is ``VOCAB[i]``: three special tokens, then the letters.
VOCAB = ("<pad>", "<start>", "<end>", *ALPHABET)
_INDEX = {ch: i for i, ch in enumerate(VOCAB)}


def encode_words(words: Sequence[str], max_len: int | None = None) -> torch.Tensor:
    """``words`` -> tokens ``(N, max_len + 2)``: ``<start> c_1 ... c_n <end>`` then ``<pad>``."""
    longest = max((len(w) for w in words), default=0)
    max_len = longest if max_len is None else max_len
    if longest > max_len:
        raise ValueError(f"max_len must be >= the longest word ({longest}), got {max_len}")
    tokens = torch.full((len(words), max_len + 2), PAD, dtype=torch.long)
    for i, word in enumerate(words):
        bad = set(word) - set(ALPHABET)
        if bad:
            raise ValueError(f"words must use the letters a-z only, got {word!r}")
        tokens[i, : len(word) + 2] = torch.tensor([START, *(_INDEX[ch] for ch in word), END])
    return tokens


def decode_tokens(tokens: torch.Tensor) -> list[str]:
    """Predicted tokens ``(N, T)`` -> strings, read up to the first ``<end>`` (specials skipped)."""
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be (N, T), got {tuple(tokens.shape)}")
    words = []
    for row in tokens.tolist():
        chars = []
        for token in row:
            if token == END:
                break
            if token > END:
                chars.append(VOCAB[token])
        words.append("".join(chars))
    return words


class R2AM(nn.Module):
    """Recursive recurrent net with attention modelling: :class:`~attnlib.r2am.encoder.WordEncoder` ->
    :class:`~attnlib.r2am.decoder.CharDecoder`. ``encoder`` and the ``encoder_kwargs`` go to the encoder."""

    def __init__(
        self,
        encoder: str = "recursive",
        hidden_dim: int = 128,
        embed_dim: int = 32,
        attention_dim: int = 64,
        **encoder_kwargs: int,
    ) -> None:
        super().__init__()
        self.encoder = WordEncoder(encoder, **encoder_kwargs)
        self.decoder = CharDecoder(len(VOCAB), self.encoder.feature_dim, embed_dim, hidden_dim, attention_dim)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images (B, 1, H, W)``, input ``tokens (B, T)`` -> ``logits (B, T, V)``, ``alphas (B, T, W')``."""
        return self.decoder(self.encoder(images), tokens)

    def loss(self, images: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. (r2am-nll): mean cross-entropy of ``tokens[:, 1:]`` given ``tokens[:, :-1]``, padding ignored;
        also returns the share of characters predicted right."""
        width = int((tokens != PAD).sum(1).max())  # drop all-padding columns
        tokens = tokens[:, :width]
        logits, _ = self(images, tokens[:, :-1])
        target = tokens[:, 1:]
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=PAD)
        valid = target != PAD
        char_acc = ((logits.argmax(-1) == target) & valid).sum() / valid.sum()
        return loss, char_acc


def train_ocr(
    model: R2AM,
    images: torch.Tensor,
    words: Sequence[str],
    epochs: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    clip_grad_norm: float = 5.0,
    progress: bool | None = None,
) -> dict[str, list[float]]:
    """Train with Adam and a cosine learning-rate decay over ``epochs``; return :func:`attnlib.train.fit`'s
    history (``loss``, ``char_acc``, ``seconds`` per epoch). ``images (N, 1, H, W)``, one word each."""
    if images.ndim != 4 or images.shape[0] != len(words):
        raise ValueError(f"images must be ({len(words)}, 1, H, W) for {len(words)} words, got {tuple(images.shape)}")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    loader = make_loader(TensorDataset(images, encode_words(words)), batch_size, shuffle=True, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=lr / 20)

    def step(net: nn.Module, batch):
        loss, char_acc = net.loss(*batch)
        return loss, {"loss": loss.item(), "char_acc": char_acc.item()}

    return fit(
        model,
        loader,
        optimizer,
        epochs,
        step=step,
        device=device,
        scheduler=scheduler,
        clip_grad_norm=clip_grad_norm,
        progress=progress,
        desc="r2am",
    )


@torch.no_grad()
def recognise(
    model: R2AM, images: torch.Tensor, beam_size: int = 1, max_len: int = 12, batch_size: int = 500
) -> tuple[list[str], list[torch.Tensor]]:
    """Read ``images (N, 1, H, W)``: the words, and per word its attention ``(n_i + 1, W')`` (one row per
    decoded character and one for ``<end>``). ``beam_size = 1`` is greedy decoding; words are cut at
    ``max_len`` characters."""
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    words: list[str] = []
    alphas: list[torch.Tensor] = []
    for chunk in images.split(batch_size):
        state = model.decoder.init_state(model.encoder(chunk.to(device)))
        step = model.decoder.step_fn()
        if beam_size == 1:
            tokens, aux = greedy_decode(step, state, START, END, PAD, max_len + 1)
        else:
            tokens, _, aux = beam_search(step, state, START, END, PAD, max_len + 1, beam_size)
        chunk_words = [w[:max_len] for w in decode_tokens(tokens)]  # no <end> within max_len + 1 steps: cut
        words += chunk_words
        alphas += [a[: len(w) + 1].cpu() for a, w in zip(aux, chunk_words)]
    model.train(was_training)
    return words, alphas


def word_accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of words read exactly (lexicon-free, case as given)."""
    if len(predictions) != len(references) or not predictions:
        raise ValueError(
            f"predictions and references must be non-empty and of equal length, got {len(predictions)} and "
            f"{len(references)}"
        )
    return sum(p == r for p, r in zip(predictions, references)) / len(predictions)


def character_error_rate(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus character error rate (edit distance over reference characters), from
    :class:`torchmetrics.text.CharErrorRate`."""
    from torchmetrics.text import CharErrorRate

    if len(predictions) != len(references) or not predictions:
        raise ValueError(
            f"predictions and references must be non-empty and of equal length, got {len(predictions)} and "
            f"{len(references)}"
        )
    return float(CharErrorRate()(list(predictions), list(references)))


def attention_monotonicity(alphas: Sequence[torch.Tensor]) -> tuple[float, int]:
    """Share of decoded characters whose attention peak lies strictly right of the previous character's.

    ``alphas``: per word ``(n + 1, W')`` as :func:`recognise` returns (the ``<end>`` row is ignored). Each
    character after the first is one comparison. Returns ``(share, count)``; ``share`` is ``nan`` if no word
    has two characters.
    """
    moves, count = 0, 0
    for i, alpha in enumerate(alphas):
        if alpha.ndim != 2:
            raise ValueError(f"alphas[{i}] must be (n + 1, W'), got {tuple(alpha.shape)}")
        peaks = alpha[:-1].argmax(-1)
        moves += int((peaks[1:] > peaks[:-1]).sum())
        count += max(len(peaks) - 1, 0)
    return (moves / count if count else float("nan")), count


def evaluate_ocr(model: R2AM, images: torch.Tensor, words: Sequence[str], beam_size: int = 1) -> dict[str, float]:
    """``accuracy`` and ``cer`` (fractions), ``monotonic`` (:func:`attention_monotonicity` share)."""
    predictions, alphas = recognise(model, images, beam_size)
    share, _ = attention_monotonicity(alphas)
    return {
        "accuracy": word_accuracy(predictions, words),
        "cer": character_error_rate(predictions, words),
        "monotonic": share,
    }
