"""R^2AM put together: encoder + attention decoder, character vocabulary, training, recognition, metrics.

:func:`train_ocr` minimises the cross-entropy of the teacher-forced decoder (Eq. (r2am-nll)), averaged
over the batch's characters, plus an optional auxiliary CTC loss (Eq. (r2am-joint)), with
:func:`attnlib.train.fit`; :func:`recognise` decodes greedily or with beam search
(:mod:`attnlib.sat.decode`); :func:`evaluate_ocr` reports word accuracy, the character error rate of
torchmetrics, and how often the attention peak moves right from one character to the next.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import TensorDataset

from attnlib import checks
from attnlib.data.words import ALPHABET
from attnlib.r2am.decoder import CharDecoder
from attnlib.r2am.encoder import ENCODERS, WordEncoder
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
    "ctc_loss",
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


def _strings(values: object, name: str, allow_empty: bool = True) -> list[str]:
    """``list(values)`` if it is a sequence of strings (one string alone is refused: its letters would be read
    as words), else ValueError naming ``name`` and the first bad entry."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a list of strings, got {type(values).__name__}")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(f"{name}[{i}] must be a string, got {type(value).__name__}")
        if not allow_empty and not value:
            raise ValueError(f"{name}[{i}] must be a non-empty word, got ''")
    return list(values)


def encode_words(words: Sequence[str], max_len: int | None = None) -> torch.Tensor:
    """``words`` -> tokens ``(N, max_len + 2)``: ``<start> c_1 ... c_n <end>`` then ``<pad>``.

    ``words`` is a non-empty list of non-empty strings of the letters a-z (a word of length 0 would teach the
    decoder to stop at once)."""
    words = _strings(words, "words", allow_empty=False)
    if not words:
        raise ValueError("words must hold at least one word, got an empty list")
    longest = max((len(w) for w in words), default=0)
    if max_len is not None:
        checks.positive_int(max_len, "max_len")
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
    """Predicted tokens ``(N, T)`` (ids in ``[0, len(VOCAB))``) -> strings, read up to the first ``<end>``
    (specials skipped)."""
    checks.tensor(tokens, "tokens", ndim=2, dtype="int")
    checks.ids_in_range(tokens, len(VOCAB), "tokens")
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


def ctc_loss(column_logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Eq. (r2am-ctc): ``-log sum_{pi in B^-1(y)} prod_j p(pi_j | a_j)`` per word, divided by the word's
    length ``n`` (a per-letter loss, on the scale of Eq. (r2am-nll)) and then averaged over the words of the
    batch (every word weighs the same; the CTC term of Eq. (r2am-joint)).

    ``column_logits (B, W', V)`` score every column against the vocabulary, with ``<pad>`` (index 0)
    playing the CTC *blank*; ``tokens (B, T)`` are :func:`encode_words` rows (``<start>``, ``<end>`` and
    padding are dropped). ``B`` collapses a column path by merging repeats and removing blanks; the sum
    runs over every path that collapses to the word, by dynamic programming in
    :func:`torch.nn.functional.ctc_loss`. A word needs ``W' >= 2n - 1`` columns in the worst case
    (``n`` letters, all repeated); paths that cannot exist count as zero loss rather than infinity.
    """
    checks.tensor(column_logits, "column_logits", ndim=3, dtype="float")
    checks.tensor(tokens, "tokens", ndim=2, dtype="int")
    if column_logits.shape[0] != tokens.shape[0]:
        raise ValueError(
            f"column_logits must be (B, W', V) and tokens (B, T) for the same B, got "
            f"{tuple(column_logits.shape)} and {tuple(tokens.shape)}"
        )
    if tokens.shape[0] < 1 or column_logits.shape[1] < 1:
        raise ValueError(f"column_logits must hold at least one word and one column, got {tuple(column_logits.shape)}")
    checks.ids_in_range(tokens, column_logits.shape[-1], "tokens")
    checks.finite(column_logits.detach(), "column_logits")
    return _ctc_loss(column_logits, tokens)


def _ctc_loss(column_logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """:func:`ctc_loss` without its checks: the training step's path (:meth:`R2AM.loss` has checked the tokens;
    the logits' values are not read at every step)."""
    letters = tokens > END
    lengths = letters.sum(1)
    targets = tokens[letters]  # the letters of every word, concatenated
    log_probs = torch.log_softmax(column_logits.float(), -1).transpose(0, 1)  # (W', B, V)
    columns = torch.full((tokens.shape[0],), log_probs.shape[0], dtype=torch.long)
    loss = nn.functional.ctc_loss(log_probs, targets, columns, lengths, blank=PAD, reduction="none", zero_infinity=True)
    return (loss / lengths.clamp(min=1)).mean()


class R2AM(nn.Module):
    """Recursive recurrent net with attention modelling: :class:`~attnlib.r2am.encoder.WordEncoder` ->
    :class:`~attnlib.r2am.decoder.CharDecoder`. ``encoder`` and the ``encoder_kwargs`` go to the encoder.

    ``column_head`` is a linear map from each encoder column to the vocabulary, used only by the auxiliary
    CTC loss (Eq. (r2am-ctc)) during training; recognition reads with the attention decoder alone.
    """

    def __init__(
        self,
        encoder: str = "recursive",
        hidden_dim: int = 128,
        embed_dim: int = 32,
        attention_dim: int = 64,
        **encoder_kwargs: int,
    ) -> None:
        super().__init__()
        checks.one_of(encoder, ENCODERS, "encoder")
        allowed = [p for p in inspect.signature(WordEncoder).parameters if p != "kind"]
        for key in encoder_kwargs:
            if key not in allowed:
                raise ValueError(f"{key} is not an encoder option; encoder_kwargs must be among {allowed}")
        for name, value in (("hidden_dim", hidden_dim), ("embed_dim", embed_dim), ("attention_dim", attention_dim)):
            checks.positive_int(value, name)
        self.encoder = WordEncoder(encoder, **encoder_kwargs)
        self.decoder = CharDecoder(len(VOCAB), self.encoder.feature_dim, embed_dim, hidden_dim, attention_dim)
        self.column_head = nn.Linear(self.encoder.feature_dim, len(VOCAB))

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images (B, 1, H, W)``, input ``tokens (B, T)`` -> ``logits (B, T, V)``, ``alphas (B, T, W')``."""
        return self.decoder(self.encoder(images), tokens)

    def loss(
        self, images: torch.Tensor, tokens: torch.Tensor, ctc_weight: float = 0.0
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss and its parts for logging.

        Eq. (r2am-joint): Eq. (r2am-nll) averaged over every character of the batch (the cross-entropy
        of ``tokens[:, 1:]`` given ``tokens[:, :-1]``, ``<end>`` included, padding ignored: the sum of the
        words' losses divided by the sum of their ``n + 1``), plus ``ctc_weight`` times the auxiliary CTC
        loss of the encoder's columns, Eq. (r2am-ctc), divided by each word's ``n`` and then averaged over
        the words (:func:`ctc_loss`). Logs: ``loss`` (the total), ``nll``, ``ctc`` (0 when
        ``ctc_weight`` is 0) and ``char_acc``, the share of characters the decoder predicted right.
        """
        checks.non_negative_float(ctc_weight, "ctc_weight")
        checks.tensor(tokens, "tokens", ndim=2, dtype="int")
        checks.tensor(images, "images", ndim=4)
        if images.shape[0] != tokens.shape[0] or tokens.shape[0] < 1:
            raise ValueError(
                f"images and tokens must hold the same non-zero number of words, got {images.shape[0]} and "
                f"{tokens.shape[0]}"
            )
        checks.ids_in_range(tokens, len(VOCAB), "tokens")
        if bool((tokens[:, 0] != START).any()):
            raise ValueError("tokens must be encode_words rows, starting with <start>")
        width = int((tokens != PAD).sum(1).max())  # drop all-padding columns
        tokens = tokens[:, :width]
        features = self.encoder(images)
        logits, _ = self.decoder(features, tokens[:, :-1])
        target = tokens[:, 1:]
        nll = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=PAD)
        ctc = _ctc_loss(self.column_head(features), tokens) if ctc_weight > 0 else torch.zeros_like(nll)
        loss = nll + ctc_weight * ctc
        valid = target != PAD
        char_acc = ((logits.argmax(-1) == target) & valid).sum() / valid.sum()
        logs = {"loss": loss.item(), "nll": nll.item(), "ctc": ctc.item(), "char_acc": char_acc.item()}
        return loss, logs


class _EpochData:
    """Batches of ``(images, tokens)``: the given set in the first epoch, then ``fresh(epoch)`` per epoch."""

    def __init__(self, images, words, fresh, batch_size: int, seed: int) -> None:
        self.first, self.fresh, self.batch_size, self.seed, self.epoch = (images, words), fresh, batch_size, seed, 0

    def __len__(self) -> int:
        return math.ceil(len(self.first[1]) / self.batch_size)

    def __iter__(self):
        # A generator: its body (which draws the data) runs only when iterated, not when tqdm merely calls iter().
        images, words = self.first if self.epoch == 0 or self.fresh is None else self.fresh(self.epoch)
        if len(words) != len(self.first[1]) or images.shape[1:] != self.first[0].shape[1:]:
            raise ValueError(
                f"fresh({self.epoch}) must return {len(self.first[1])} images of shape "
                f"{tuple(self.first[0].shape[1:])} and their words, got {tuple(images.shape)} and {len(words)}"
            )
        loader = make_loader(
            TensorDataset(images, encode_words(words)), self.batch_size, shuffle=True, seed=self.seed + self.epoch
        )
        self.epoch += 1
        yield from loader


def train_ocr(
    model: R2AM,
    images: torch.Tensor,
    words: Sequence[str],
    epochs: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    clip_grad_norm: float | None = 5.0,
    progress: bool | None = None,
    ctc_weight: float = 0.0,
    fresh: Callable[[int], tuple[torch.Tensor, Sequence[str]]] | None = None,
    eval_fn: Callable[[nn.Module], Mapping[str, float]] | None = None,
    keep_best: str | None = None,
    keep_best_mode: str = "max",
) -> dict[str, list[float]]:
    """Train with Adam and a cosine learning-rate decay over ``epochs``; return :func:`attnlib.train.fit`'s
    history (``loss``, ``nll``, ``ctc``, ``char_acc``, ``seconds`` per epoch, and ``eval_fn``'s numbers).

    ``images (N, 1, H, W)``, one word each, are the first epoch's data. ``fresh``, if given, is called at
    the start of every later epoch with the epoch index (1, 2, ...) and returns a new ``(images, words)``
    of the same size: with a fast generator such as :func:`attnlib.data.words.make_words` the model never
    sees an image twice, which removes over-fitting to the training images. ``ctc_weight`` adds the
    auxiliary CTC loss (Eq. (r2am-joint)). ``clip_grad_norm=None`` turns gradient clipping off. ``images`` must be
    finite (read once here; the data ``fresh`` returns is not read).

    ``eval_fn(model) -> {name: value}`` runs after every epoch; with ``keep_best`` (one of its names) the
    weights of the epoch whose value was best (``keep_best_mode`` ``"max"`` or ``"min"``) are restored at
    the end and ``history["best_epoch"] = [e]`` (1-based), as :func:`attnlib.train.fit` does. Choose epochs
    this way on *validation* data only; evaluate the test set once, afterwards.
    """
    if not isinstance(model, R2AM):
        raise ValueError(f"model must be an R2AM, got {type(model).__name__}")
    words = _strings(words, "words", allow_empty=False)
    checks.tensor(images, "images", ndim=4, dtype="float")
    if images.shape[0] != len(words) or not words:
        raise ValueError(f"images must be ({len(words)}, 1, H, W) for {len(words)} words, got {tuple(images.shape)}")
    checks.finite(images, "images")
    encode_words(words)  # refuses letters outside a-z before any training
    checks.positive_int(epochs, "epochs")
    checks.positive_int(batch_size, "batch_size")
    checks.positive_float(lr, "lr")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if clip_grad_norm is not None:
        checks.positive_float(clip_grad_norm, "clip_grad_norm")
    if progress is not None:
        checks.flag(progress, "progress")
    checks.non_negative_float(ctc_weight, "ctc_weight")
    for name, fn in (("fresh", fresh), ("eval_fn", eval_fn)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{name} must be callable or None, got {type(fn).__name__}")
    checks.one_of(keep_best_mode, ("max", "min"), "keep_best_mode")
    if keep_best is not None and eval_fn is None:
        raise ValueError("keep_best needs an eval_fn whose numbers it reads")
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    loader = _EpochData(images, list(words), fresh, batch_size, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=lr / 20)

    def step(net: nn.Module, batch):
        return net.loss(*batch, ctc_weight=ctc_weight)

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
        eval_fn=eval_fn,
        keep_best=keep_best,
        keep_best_mode=keep_best_mode,
    )


@torch.no_grad()
def recognise(
    model: R2AM, images: torch.Tensor, beam_size: int = 1, max_len: int = 12, batch_size: int = 500
) -> tuple[list[str], list[torch.Tensor]]:
    """Read ``images (N, 1, H, W)``: the words, and per word its attention ``(n_i + 1, W')`` (one row per
    decoded character and one for ``<end>``). ``beam_size = 1`` is greedy decoding; words are cut at
    ``max_len`` characters."""
    if not isinstance(model, R2AM):
        raise ValueError(f"model must be an R2AM, got {type(model).__name__}")
    checks.tensor(images, "images", ndim=4, dtype="float")
    if images.shape[0] < 1:
        raise ValueError(f"images must hold at least one image, got {tuple(images.shape)}")
    checks.finite(images, "images")
    checks.positive_int(beam_size, "beam_size")
    checks.positive_int(max_len, "max_len")
    checks.positive_int(batch_size, "batch_size")
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
    _strings(predictions, "predictions")
    _strings(references, "references")
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

    _strings(predictions, "predictions")
    _strings(references, "references")
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
    has two characters. An empty list is a ValueError.
    """
    if isinstance(alphas, torch.Tensor) or not isinstance(alphas, Sequence):
        raise ValueError(f"alphas must be a list of (n + 1, W') tensors, got {type(alphas).__name__}")
    if not alphas:
        raise ValueError("alphas must hold at least one word's attention, got an empty list")
    moves, count = 0, 0
    for i, alpha in enumerate(alphas):
        if not isinstance(alpha, torch.Tensor) or alpha.ndim != 2:
            got = tuple(alpha.shape) if isinstance(alpha, torch.Tensor) else type(alpha).__name__
            raise ValueError(f"alphas[{i}] must be (n + 1, W'), got {got}")
        peaks = alpha[:-1].argmax(-1)
        moves += int((peaks[1:] > peaks[:-1]).sum())
        count += max(len(peaks) - 1, 0)
    return (moves / count if count else float("nan")), count


def evaluate_ocr(model: R2AM, images: torch.Tensor, words: Sequence[str], beam_size: int = 1) -> dict[str, float]:
    """``accuracy`` and ``cer`` (fractions), ``monotonic`` (:func:`attention_monotonicity` share)."""
    words = _strings(words, "words")
    checks.tensor(images, "images", ndim=4, dtype="float")
    if images.shape[0] != len(words) or not words:
        raise ValueError(f"images must be ({len(words)}, 1, H, W) for {len(words)} words, got {tuple(images.shape)}")
    predictions, alphas = recognise(model, images, beam_size)  # checks the model and the images' values
    share, _ = attention_monotonicity(alphas)
    return {
        "accuracy": word_accuracy(predictions, words),
        "cer": character_error_rate(predictions, words),
        "monotonic": share,
    }
