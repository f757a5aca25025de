"""Caption data: MNIST digit scenes captioned in reading order, and a loader for Karpathy-split JSON files.

The digit scenes are the captioning task of Chapter 5 (Show, Attend and Tell).
Two or three real MNIST digits lie on a canvas; the caption names them from
left to right and says how each one sits relative to the next::

    "four above seven left of two"

means: the leftmost digit is a 4, the next one to its right is a 7 and lies
lower than the 4, and the third is a 2 at the same height as the 7. Every
object word therefore denotes one digit whose box is known, so we can score
where the captioner looked when it said the word. Train scenes use
``load_mnist("train")`` digits, validation and test scenes those of ``"val"`` and ``"test"``.

For real photographs, :func:`load_karpathy_captions` reads the standard
caption format of Flickr8k, Flickr30k and COCO ("bring your own" data).
"""

from __future__ import annotations

import json
import numbers
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from attnlib import checks
from attnlib.data.mnist import SOURCES, load_mnist
from attnlib.data.splits import split_generator

__all__ = [
    "Vocabulary",
    "DIGIT_WORDS",
    "RELATIONS",
    "DIGIT_CAPTION_VOCAB",
    "MIN_CANVAS",
    "DigitCaptions",
    "make_digit_captions",
    "KarpathyCaptions",
    "load_karpathy_captions",
]

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Smallest ``canvas_size`` of :func:`make_digit_captions` for scenes of up to ``k`` digits (the key):
#: below it the widest and tallest MNIST digits (20 x 20 pixels of ink) cannot always be laid out.
#: Measured by laying out the 40 largest digits of the bundled set (``tests/test_captions.py``).
MIN_CANVAS = {1: 20, 2: 44, 3: 58, 4: 80}
#: Relation of a digit to the next one in reading order, by vertical offset of the next one.
RELATIONS = (("left", "of"), ("above",), ("below",))


def _words(words: object, name: str) -> None:
    """ValueError unless ``words`` is a sequence of strings: one string alone would be read letter by letter."""
    if isinstance(words, (str, bytes)) or not isinstance(words, Sequence):
        raise ValueError(f"{name} must be a list of word strings, got {type(words).__name__} {words!r:.40}")
    for i, w in enumerate(words):
        if not isinstance(w, str):
            raise ValueError(f"{name}[{i}] must be a string, got {type(w).__name__}")


class Vocabulary:
    """Words <-> token ids, with ``<pad>`` = 0, ``<start>`` = 1, ``<end>`` = 2, ``<unk>`` = 3."""

    def __init__(self, words: Sequence[str]) -> None:
        _words(words, "words")
        specials = [PAD, START, END, UNK]
        self.itos: list[str] = specials + [w for w in dict.fromkeys(words) if w not in specials]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        self.pad, self.start, self.end, self.unk = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def from_captions(cls, captions: Sequence[Sequence[str]], min_count: int = 1) -> Vocabulary:
        """Words seen at least ``min_count`` times in tokenised ``captions``, most frequent first."""
        checks.positive_int(min_count, "min_count")
        if isinstance(captions, (str, bytes)) or not isinstance(captions, Sequence):
            raise ValueError(f"captions must be a list of tokenised captions, got {type(captions).__name__}")
        for i, caption in enumerate(captions):
            _words(caption, f"captions[{i}]")
        counts = Counter(w for caption in captions for w in caption)
        return cls([w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count])

    def encode(self, words: Sequence[str], max_len: int) -> torch.Tensor:
        """``<start> w_1 ... w_n <end> <pad>...``: int64 ``(max_len + 2,)``; words past ``max_len`` are cut."""
        checks.positive_int(max_len, "max_len")
        _words(words, "words")
        ids = [self.start] + [self.stoi.get(w, self.unk) for w in words[:max_len]] + [self.end]
        return torch.tensor(ids + [self.pad] * (max_len + 2 - len(ids)), dtype=torch.int64)

    def decode(self, tokens: torch.Tensor | Sequence[int]) -> list[str]:
        """The words of one token sequence, skipping ``<start>``/``<pad>`` and stopping at ``<end>``.

        Every id must lie in ``[0, len(self))``: a negative id would otherwise wrap to a word from the end."""
        if isinstance(tokens, torch.Tensor):
            checks.tensor(tokens, "tokens", ndim=1, dtype="int")
            ids = tokens.tolist()
        elif isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
            raise ValueError(f"tokens must be a 1-D tensor or a list of int ids, got {type(tokens).__name__}")
        else:
            ids = list(tokens)
        for t in ids:
            if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t < len(self.itos):
                raise ValueError(f"tokens must hold ids in [0, {len(self.itos)}), got {t!r}")
        words = []
        for t in ids:
            if t == self.end:
                break
            if t not in (self.pad, self.start):
                words.append(self.itos[t])
        return words

    def decode_batch(self, tokens: torch.Tensor) -> list[str]:
        """``tokens (B, T)`` (ids in ``[0, len(self))``) -> B caption strings."""
        checks.tensor(tokens, "tokens", ndim=2, dtype="int")
        checks.ids_in_range(tokens, len(self.itos), "tokens")
        return [" ".join(self.decode(row)) for row in tokens.cpu()]


DIGIT_CAPTION_VOCAB = Vocabulary(list(DIGIT_WORDS) + [w for rel in RELATIONS for w in rel])


@dataclass
class DigitCaptions:
    """A set of captioned digit scenes.

    Attributes
    ----------
    images : ``float32 (N, 1, S, S)`` in [0, 1].
    tokens : ``int64 (N, T)``: ``<start>`` caption ``<end>`` ``<pad>``..., ids of ``vocab``.
    boxes : ``float32 (N, K, 4)``: ink box ``(x1, y1, x2, y2)`` of each digit in reading order (pixels,
        ``x2``/``y2`` exclusive); rows past ``n_objects`` are zero.
    labels : ``int64 (N, K)``: the digits in reading order, ``-1`` past ``n_objects``.
    n_objects : ``int64 (N,)``.
    relations : ``int64 (N, K - 1)``: index into :data:`RELATIONS` between consecutive digits, ``-1`` if none.
    captions : the N caption strings.
    """

    images: torch.Tensor
    tokens: torch.Tensor
    boxes: torch.Tensor
    labels: torch.Tensor
    n_objects: torch.Tensor
    relations: torch.Tensor
    captions: list[str]
    vocab: Vocabulary = field(default_factory=lambda: DIGIT_CAPTION_VOCAB)

    def __post_init__(self) -> None:
        if not isinstance(self.vocab, Vocabulary):
            raise ValueError(f"vocab must be a Vocabulary, got {type(self.vocab).__name__}")
        checks.tensor(self.images, "images", ndim=4, dtype="float")
        if self.images.shape[1] != 1:
            raise ValueError(f"images must be (N, 1, S, S), got {tuple(self.images.shape)}")
        checks.finite(self.images, "images")
        checks.tensor(self.tokens, "tokens", ndim=2, dtype="int")
        checks.ids_in_range(self.tokens, len(self.vocab), "tokens")
        checks.tensor(self.boxes, "boxes", ndim=3, dtype="float")
        if self.boxes.shape[-1] != 4:
            raise ValueError(f"boxes must be (N, K, 4), got {tuple(self.boxes.shape)}")
        checks.finite(self.boxes, "boxes")
        k = self.boxes.shape[1]
        checks.tensor(self.labels, "labels", ndim=2, dtype="int")
        checks.ids_in_range(self.labels, 10, "labels", allow=(-1,))
        checks.tensor(self.n_objects, "n_objects", ndim=1, dtype="int")
        checks.ids_in_range(self.n_objects, k + 1, "n_objects")
        checks.tensor(self.relations, "relations", ndim=2, dtype="int")
        checks.ids_in_range(self.relations, len(RELATIONS), "relations", allow=(-1,))
        if isinstance(self.captions, (str, bytes)) or not isinstance(self.captions, Sequence):
            raise ValueError(f"captions must be a list of N strings, got {type(self.captions).__name__}")
        _words(self.captions, "captions")
        checks.same_length(images=self.images, tokens=self.tokens, boxes=self.boxes, labels=self.labels,
                           n_objects=self.n_objects, relations=self.relations, captions=self.captions)  # fmt: skip
        if self.labels.shape[1] != k or self.relations.shape[1] != max(k - 1, 0):
            raise ValueError(
                f"labels must be (N, K) and relations (N, K - 1) for boxes (N, K, 4), got labels "
                f"{tuple(self.labels.shape)}, relations {tuple(self.relations.shape)}, boxes {tuple(self.boxes.shape)}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    def dataset(self) -> torch.utils.data.TensorDataset:
        """``(images, tokens)`` pairs for a :class:`~torch.utils.data.DataLoader`."""
        return torch.utils.data.TensorDataset(self.images, self.tokens)


def _ink_boxes(patches: torch.Tensor, threshold: float) -> torch.Tensor:
    """``patches (..., h, w)`` -> ``(..., 4)`` tight box ``(x1, y1, x2, y2)`` of pixels above ``threshold``."""
    ink = patches > threshold
    cols, rows = ink.any(-2), ink.any(-1)
    w, h = cols.shape[-1], rows.shape[-1]
    x1 = cols.float().argmax(-1)
    x2 = w - cols.flip(-1).float().argmax(-1)
    y1 = rows.float().argmax(-1)
    y2 = h - rows.flip(-1).float().argmax(-1)
    return torch.stack([x1, y1, x2, y2], -1)


def _randint(low: torch.Tensor, high: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniform integers in ``[low, high]`` (inclusive), elementwise; ``high < low`` gives ``low``."""
    u = torch.rand(low.shape, generator=generator)
    return low + (u * (high - low + 1).clamp(min=1).float()).floor().long()


def make_digit_captions(
    n: int,
    split: str = "train",
    canvas_size: int = 64,
    n_digits: tuple[int, int] = (2, 3),
    seed: int = 0,
    source: str = "bundled",
    candidates: int = 32,
    ink_threshold: float = 0.3,
) -> DigitCaptions:
    """Generate ``n`` captioned scenes of MNIST digits (the data of Chapter 5).

    Each scene holds between ``n_digits[0]`` and ``n_digits[1]`` digits whose ink
    boxes do not touch. Digits are read from left to right; between two
    consecutive digits the caption says ``above`` (the next one is at least 10
    pixels lower), ``below`` (at least 10 pixels higher) or ``left of`` (within 3
    pixels of the same height), so no caption is ambiguous. Layouts are drawn
    relation first, then positions, with ``candidates`` tries per scene at a time
    (vectorised); scenes without a valid layout are redrawn.

    Parameters
    ----------
    n
        Number of scenes.
    split
        ``"train"``, ``"val"`` or ``"test"``: which MNIST digits to use (and which random stream).
    canvas_size
        Side of the square canvas in pixels, at least :data:`MIN_CANVAS` ``[n_digits[1]]``: 58 for the
        default three digits (44 for two). Below that, scenes of the widest and tallest MNIST digits (20 x 20
        pixels of ink) find no layout.
    n_digits
        Inclusive range of the number of digits per scene, within ``1..4``.
    seed
        Everything is drawn from :func:`~attnlib.data.splits.split_generator` ``(seed, split)``, so the
        three splits never share a layout stream, even with equal seeds.
    source
        Passed to :func:`~attnlib.data.mnist.load_mnist`.

    Returns
    -------
    DigitCaptions
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if (
        isinstance(n_digits, (str, bytes))
        or not isinstance(n_digits, Sequence)
        or len(n_digits) != 2
        or not all(isinstance(k, int) and not isinstance(k, bool) for k in n_digits)
        or not 1 <= n_digits[0] <= n_digits[1] <= 4
    ):
        raise ValueError(f"n_digits must be a range (lo, hi) with 1 <= lo <= hi <= 4, got {n_digits!r}")
    lo, hi = n_digits
    checks.positive_int(canvas_size, "canvas_size")
    if canvas_size < MIN_CANVAS[hi]:
        raise ValueError(
            f"canvas_size must be at least {MIN_CANVAS[hi]} pixels for up to {hi} digits, got {canvas_size}"
        )
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    checks.positive_int(candidates, "candidates")
    if checks.probability(ink_threshold, "ink_threshold") == 1.0:
        raise ValueError(f"ink_threshold must be in [0, 1), got {ink_threshold!r}")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    digits, digit_labels = load_mnist(split, source=source)
    gen = split_generator(seed, split)
    count = torch.randint(lo, hi + 1, (n,), generator=gen)
    which = torch.randint(0, len(digits), (n, hi), generator=gen)
    patches = digits[which, 0]  # (n, K, 28, 28)
    ink = _ink_boxes(patches, ink_threshold)  # (n, K, 4) within the patch
    ink_w, ink_h = ink[..., 2] - ink[..., 0], ink[..., 3] - ink[..., 1]
    active = torch.arange(hi) < count[:, None]  # (n, K)

    pos = torch.zeros(n, hi, 2, dtype=torch.long)  # top-left of each ink box on the canvas
    rel = torch.full((n, max(hi - 1, 1)), -1, dtype=torch.long)
    todo = torch.ones(n, dtype=torch.bool)
    rounds = 0
    while todo.any():
        rounds += 1
        if rounds > 200:
            raise RuntimeError("could not lay out the digits; use a larger canvas_size or fewer digits")
        idx = todo.nonzero().squeeze(1)
        m, c = len(idx), candidates
        w = ink_w[idx][:, None].expand(m, c, hi)
        h = ink_h[idx][:, None].expand(m, c, hi)
        act = active[idx][:, None].expand(m, c, hi)
        # Horizontal: ink centres sorted left to right, so slot order is reading order.
        cx2 = torch.rand(m, c, hi, generator=gen) * canvas_size * 2
        cx2 = torch.where(act, cx2, torch.full_like(cx2, 1e9)).sort(-1).values
        x1 = torch.where(act, (cx2.round().long() - w) // 2, torch.zeros_like(w))
        # Vertical: the first digit anywhere, each next one placed by a relation drawn uniformly.
        r = torch.randint(0, len(RELATIONS), (m, c, max(hi - 1, 1)), generator=gen)
        cy = [_randint(h[..., 0] // 2, canvas_size - (h[..., 0] + 1) // 2, gen)]
        for j in range(1, hi):
            step = (
                torch.stack(
                    [
                        _randint(torch.full_like(cy[0], -3), torch.full_like(cy[0], 3), gen),
                        _randint(torch.full_like(cy[0], 10), torch.full_like(cy[0], canvas_size // 2), gen),
                        -_randint(torch.full_like(cy[0], 10), torch.full_like(cy[0], canvas_size // 2), gen),
                    ],
                    -1,
                )
                .gather(-1, r[..., j - 1 : j])
                .squeeze(-1)
            )
            cy.append(cy[-1] + step)
        y1 = torch.stack(cy, -1) - h // 2
        y1 = torch.where(act, y1, torch.zeros_like(y1))
        x2, y2 = x1 + w, y1 + h
        inside = (x1 >= 0) & (y1 >= 0) & (x2 <= canvas_size) & (y2 <= canvas_size)
        ok = (inside | ~act).all(-1)
        # Ink boxes at least 2 pixels apart, and reading order clear (centres 4+ pixels apart).
        gap = 2
        sep = (
            (x1[..., :, None] >= x2[..., None, :] + gap)
            | (x2[..., :, None] + gap <= x1[..., None, :])
            | (y1[..., :, None] >= y2[..., None, :] + gap)
            | (y2[..., :, None] + gap <= y1[..., None, :])
        )
        pair = act[..., :, None] & act[..., None, :] & ~torch.eye(hi, dtype=torch.bool)
        ok &= (sep | ~pair).all(-1).all(-1)
        if hi > 1:
            both = act[..., 1:] & act[..., :-1]
            ok &= ((cx2[..., 1:] - cx2[..., :-1] >= 8) | ~both).all(-1)
        first = ok.float().argmax(-1)  # first valid candidate (if any)
        found = ok.any(-1)
        rows = torch.arange(m)
        done = idx[found]
        pos[done] = torch.stack([x1[rows, first], y1[rows, first]], -1)[found]
        rel_pick = r[rows, first][found]
        if hi > 1:
            rel_pick = torch.where(active[done, 1:], rel_pick, torch.full_like(rel_pick, -1))
        else:
            rel_pick = torch.full_like(rel_pick, -1)
        rel[done] = rel_pick
        todo[done] = False

    # Paste each slot's 28 x 28 patch so that its ink box lands on ``pos`` (a loop over slots, not scenes).
    size = patches.shape[-1]
    big = torch.zeros(n, canvas_size + 2 * size, canvas_size + 2 * size)
    rows_n = torch.arange(n)[:, None, None]
    offsets = pos - ink[..., :2] + size  # top-left of the patch on the padded canvas
    for j in range(hi):
        r_idx = (offsets[:, j, 1, None] + torch.arange(size))[:, :, None]
        c_idx = (offsets[:, j, 0, None] + torch.arange(size))[:, None, :]
        patch = patches[:, j] * active[:, j, None, None]
        big[rows_n, r_idx, c_idx] = torch.maximum(big[rows_n, r_idx, c_idx], patch)
    images = big[:, size : size + canvas_size, size : size + canvas_size].unsqueeze(1).contiguous()

    boxes = torch.cat([pos, pos + torch.stack([ink_w, ink_h], -1)], -1).float() * active[..., None]
    labels = torch.where(active, digit_labels[which], torch.full_like(which, -1))
    tokens = _caption_tokens(labels, rel, DIGIT_CAPTION_VOCAB)
    captions = DIGIT_CAPTION_VOCAB.decode_batch(tokens)
    return DigitCaptions(images, tokens, boxes, labels, count, rel[:, : max(hi - 1, 0)], captions)


def _caption_tokens(labels: torch.Tensor, rel: torch.Tensor, vocab: Vocabulary) -> torch.Tensor:
    """Token ids ``(N, T)`` of ``digit relation digit ...`` built without a loop over scenes."""
    n, k = labels.shape
    hole = -1
    digit_ids = torch.tensor([vocab.stoi[w] for w in DIGIT_WORDS])
    width = max(len(r) for r in RELATIONS)
    rel_table = torch.tensor([[vocab.stoi[w] for w in r] + [hole] * (width - len(r)) for r in RELATIONS])
    parts = [torch.full((n, 1), vocab.start)]
    for j in range(k):
        parts.append(torch.where(labels[:, j : j + 1] >= 0, digit_ids[labels[:, j : j + 1].clamp(min=0)], hole))
        if j < k - 1:
            parts.append(torch.where(rel[:, j : j + 1] >= 0, rel_table[rel[:, j].clamp(min=0)], hole))
    raw = torch.cat(parts, 1)
    # Move holes to the end (stable sort keeps word order), then write <end> after the last word.
    order = (raw == hole).long().sort(dim=1, stable=True).indices
    packed = raw.gather(1, order)
    length = (packed != hole).sum(1)
    packed = torch.where(packed == hole, vocab.pad, packed)
    packed = torch.cat([packed, torch.full((n, 1), vocab.pad)], 1)
    packed[torch.arange(n), length] = vocab.end
    return packed[:, : int(length.max()) + 1]


# --------------------------------------------------------------------------- Karpathy-split JSON


def _image_root(image_root: object) -> Path:
    """``Path(image_root)`` if it names a folder, else ValueError: a wrong root would fail only at the first image."""
    if not isinstance(image_root, (str, Path)) or str(image_root) == "" or not Path(image_root).is_dir():
        raise ValueError(f"image_root must be the folder holding the images, got {image_root!r}")
    return Path(image_root)


class KarpathyCaptions(torch.utils.data.Dataset):
    """One (image, caption) pair per item from a Karpathy-split JSON file.

    Items are ``(image (3, size, size) float in [0, 1], tokens (max_len + 2,) int64, image_index)``;
    ``references[image_index]`` lists all of that image's captions as strings, for BLEU.
    """

    def __init__(
        self,
        records: list[dict],
        image_root: Path,
        vocab: Vocabulary,
        max_len: int,
        image_size: int,
        transform: Callable[[torch.Tensor], torch.Tensor] | None,
    ) -> None:
        if not isinstance(vocab, Vocabulary):
            raise ValueError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
        if not isinstance(records, list) or not records:
            got = f"{len(records)} records" if isinstance(records, list) else type(records).__name__
            raise ValueError(f"records must be a non-empty list of image records, got {got}")
        _image_root(image_root)
        for i, rec in enumerate(records):
            _check_karpathy_record(rec, i, Path("records"))
        checks.positive_int(max_len, "max_len")
        checks.positive_int(image_size, "image_size")
        self.records, self.image_root, self.vocab = records, Path(image_root), vocab
        self.max_len, self.image_size, self.transform = max_len, image_size, transform
        self.pairs = [(i, s) for i, rec in enumerate(records) for s in range(len(rec["sentences"]))]
        self.references = [[" ".join(s["tokens"]) for s in rec["sentences"]] for rec in records]
        self.paths = [self.image_root / rec.get("filepath", "") / rec["filename"] for rec in records]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        from PIL import Image
        from torchvision.transforms.functional import pil_to_tensor, resize

        image_index, sentence = self.pairs[item]
        try:
            with Image.open(self.paths[image_index]) as img:
                image = pil_to_tensor(img.convert("RGB")).float() / 255.0
        except OSError as error:  # missing, truncated or not an image (PIL's UnidentifiedImageError is an OSError)
            raise ValueError(
                f"image {str(self.paths[image_index])!r} (record {image_index} of the split) cannot be read: {error}"
            ) from None
        image = resize(image, [self.image_size, self.image_size], antialias=True)
        if self.transform is not None:
            image = self.transform(image)
        tokens = self.vocab.encode(self.records[image_index]["sentences"][sentence]["tokens"], self.max_len)
        return image, tokens, image_index


def _check_karpathy_record(rec: object, i: int, path: Path) -> None:
    """ValueError naming the file, the record and the key unless ``rec`` is a well-formed image record."""
    where = f"{str(path)!r}: images[{i}]"
    if not isinstance(rec, dict):
        raise ValueError(f"{where} must be an object, got {type(rec).__name__}")
    for key in ("filename", "split", "sentences"):
        if key not in rec:
            raise ValueError(f"{where} has no {key!r} key")
    for key in ("filename", "split") + (("filepath",) if "filepath" in rec else ()):
        if not isinstance(rec[key], str):
            raise ValueError(f"{where}[{key!r}] must be a string, got {type(rec[key]).__name__}")
    if not isinstance(rec["sentences"], list) or not rec["sentences"]:
        raise ValueError(f"{where}['sentences'] must be a non-empty list, got {rec['sentences']!r:.40}")
    for j, sentence in enumerate(rec["sentences"]):
        if not isinstance(sentence, dict) or "tokens" not in sentence:
            raise ValueError(f"{where}['sentences'][{j}] must be an object with a 'tokens' list")
        tokens = sentence["tokens"]
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"{where}['sentences'][{j}]['tokens'] must be a list of word strings, got {tokens!r:.40}")
        if not tokens:
            raise ValueError(f"{where}['sentences'][{j}]['tokens'] is empty: a caption needs at least one word")


def load_karpathy_captions(
    json_path: str | Path,
    image_root: str | Path,
    split: str = "train",
    vocab: Vocabulary | None = None,
    min_count: int = 5,
    max_len: int = 50,
    image_size: int = 224,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> KarpathyCaptions:
    """Read Flickr8k / Flickr30k / COCO captions in Karpathy's ``dataset_*.json`` format.

    The file holds ``{"images": [{"filename", "filepath"?, "split", "sentences": [{"tokens": [...]}, ...]}]}``;
    images are read from ``image_root / filepath / filename``. ``"restval"`` images count as ``"train"``,
    as in Karpathy's split.

    Every record is checked: a malformed one (a missing key, ``tokens`` given as a string rather than a list
    of words, an empty caption) raises a ValueError naming the file, the record and the key.

    Parameters
    ----------
    split
        ``"train"``, ``"val"`` or ``"test"``.
    vocab
        Reuse a vocabulary (pass the training set's ``.vocab`` to the validation and test sets). When
        ``None`` it is built from this split's captions, keeping words seen at least ``min_count`` times.
    max_len
        Captions are cut to this many words.
    """
    for name, value in (("json_path", json_path), ("image_root", image_root)):
        if not isinstance(value, (str, Path)):
            raise ValueError(f"{name} must be a str or a Path, got {type(value).__name__}")
    json_path, image_root = Path(json_path), _image_root(image_root)
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    if not json_path.is_file():
        raise ValueError(f"json_path {str(json_path)!r} is not a file")
    checks.positive_int(max_len, "max_len")
    checks.positive_int(image_size, "image_size")
    checks.positive_int(min_count, "min_count")
    if vocab is not None and not isinstance(vocab, Vocabulary):
        raise ValueError(f"vocab must be a Vocabulary or None, got {type(vocab).__name__}")
    if transform is not None and not callable(transform):
        raise ValueError(f"transform must be callable or None, got {type(transform).__name__}")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{str(json_path)!r} is not valid JSON (empty, truncated or corrupt): {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{str(json_path)!r} has no 'images' list: not a Karpathy-split file")
    for i, rec in enumerate(data["images"]):
        _check_karpathy_record(rec, i, json_path)
    records = [rec for rec in data["images"] if {"restval": "train"}.get(rec["split"], rec["split"]) == split]
    if not records:
        raise ValueError(f"{str(json_path)!r} holds no {split!r} images")
    if vocab is None:
        vocab = Vocabulary.from_captions([s["tokens"] for rec in records for s in rec["sentences"]], min_count)
    dataset = KarpathyCaptions(records, image_root, vocab, max_len, image_size, transform)
    dataset.vocab = vocab
    return dataset
