"""Visual question answering on CLEVR-like scenes: templated questions in words, exact answers.

Scenes come from :mod:`attnlib.data.shapes`; questions are filled into word
templates of four types, and every answer is computed from the scene's
attribute tensors, so it is exact:

======== ================================================ =====================
type     template (family)                                answers
======== ================================================ =====================
query    what color is the <size> <shape> ?               a colour
query    what shape is the <size> <color> thing ?         a shape
query    what size is the <color> <shape> ?               a size
exist    is there a <color> <shape> ?                     yes / no (balanced)
count    how many <color> things are there ?              0 .. max objects
count    how many <shapes> are there ?                    0 .. max objects
spatial  is the <color> <shape> <relation> the <color>    yes / no
         <shape> ?
======== ================================================ =====================

Objects a question refers to are unique in their scene (candidates that
would be ambiguous are dropped). Generation is vectorised over scenes: each
scene gets a pool of candidate questions, the invalid ones are masked out, and
the first valid ones are kept. Train, validation and test scenes come from
disjoint random streams (the held-out split).

:func:`load_clevr_questions` (from :mod:`attnlib.data.clevr`, re-exported here) reads the question
files of CLEVR v1.0 (``CLEVR_{train,val,test}_questions.json``) for readers who bring the real data set.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from attnlib import checks
from attnlib.data.clevr import load_clevr_questions as load_clevr_questions  # re-exported
from attnlib.data.clevr import tokenize
from attnlib.data.shapes import COLOR_NAMES, SHAPES, SIZES, Scenes, render_scenes, sample_scenes
from attnlib.data.splits import check_split, split_generator

__all__ = [
    "QUESTION_TYPES",
    "FAMILIES",
    "FAMILY_TYPE",
    "VOCAB",
    "ANSWERS",
    "VQAData",
    "generate_questions",
    "make_vqa_dataset",
    "decode_questions",
    "encode_text",
    "VQALoader",
    "accuracy_by_type",
]

QUESTION_TYPES: tuple[str, ...] = ("query", "exist", "count", "spatial")
RELATIONS: tuple[tuple[str, ...], ...] = (("left", "of"), ("right", "of"), ("above",), ("below",))
PLURALS: tuple[str, ...] = tuple(s + "s" for s in SHAPES)
MAX_COUNT = 8

#: Word templates; ``<...>`` are slots filled from the scene.
FAMILIES: dict[str, tuple[str, ...]] = {
    "query_color": ("what", "color", "is", "the", "<size>", "<shape>", "?"),
    "query_shape": ("what", "shape", "is", "the", "<size>", "<color>", "thing", "?"),
    "query_size": ("what", "size", "is", "the", "<color>", "<shape>", "?"),
    "exist": ("is", "there", "a", "<color>", "<shape>", "?"),
    "count_color": ("how", "many", "<color>", "things", "are", "there", "?"),
    "count_shape": ("how", "many", "<shapes>", "are", "there", "?"),
    "spatial": ("is", "the", "<color>", "<shape>", "<rel>", "the", "<color2>", "<shape2>", "?"),
}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)
FAMILY_TYPE: tuple[int, ...] = (0, 0, 0, 1, 2, 2, 3)

_WORDS = sorted(
    {w for t in FAMILIES.values() for w in t if not w.startswith("<")}
    | set(COLOR_NAMES)
    | set(SHAPES)
    | set(SIZES)
    | set(PLURALS)
    | {w for r in RELATIONS for w in r}
)
#: Question vocabulary; index 0 is padding.
VOCAB: tuple[str, ...] = ("<pad>",) + tuple(_WORDS)
WORD_INDEX = {w: i for i, w in enumerate(VOCAB)}
#: Answer vocabulary.
ANSWERS: tuple[str, ...] = ("no", "yes") + tuple(str(i) for i in range(MAX_COUNT + 1)) + COLOR_NAMES + SHAPES + SIZES
_ANSWER_INDEX = {a: i for i, a in enumerate(ANSWERS)}
_COUNT0 = _ANSWER_INDEX["0"]
_COLOR0 = _ANSWER_INDEX[COLOR_NAMES[0]]
_SHAPE0 = _ANSWER_INDEX[SHAPES[0]]
_SIZE0 = _ANSWER_INDEX[SIZES[0]]


def _ids(words: Sequence[str]) -> torch.Tensor:
    return torch.tensor([WORD_INDEX[w] for w in words])


@dataclass
class VQAData:
    """A question set over rendered scenes.

    Attributes
    ----------
    images
        ``float32 (S, 3, H, W)``, one per scene.
    scenes
        The :class:`~attnlib.data.shapes.Scenes` the images were drawn from.
    questions
        ``int64 (Q, L)`` word indices into :data:`VOCAB`, padded with 0 at the end.
    lengths
        ``int64 (Q,)`` number of words.
    answers
        ``int64 (Q,)`` indices into :data:`ANSWERS`.
    family, qtype
        ``int64 (Q,)`` template family (into ``FAMILY_NAMES``) and type (into :data:`QUESTION_TYPES`).
    scene_index
        ``int64 (Q,)`` which scene each question asks about.
    """

    images: torch.Tensor
    scenes: Scenes
    questions: torch.Tensor
    lengths: torch.Tensor
    answers: torch.Tensor
    family: torch.Tensor
    qtype: torch.Tensor
    scene_index: torch.Tensor

    def __post_init__(self) -> None:
        checks.tensor(self.images, "images", ndim=4, dtype="float")
        checks.finite(self.images, "images")
        if not isinstance(self.scenes, Scenes):
            raise ValueError(f"scenes must be a Scenes record, got {type(self.scenes).__name__}")
        checks.same_length(images=self.images, scenes=self.scenes.color)
        checks.tensor(self.questions, "questions", ndim=2, dtype="int")
        checks.ids_in_range(self.questions, len(VOCAB), "questions")
        for name, size in (("answers", len(ANSWERS)), ("family", len(FAMILY_NAMES)),
                           ("qtype", len(QUESTION_TYPES)), ("scene_index", self.images.shape[0])):  # fmt: skip
            checks.tensor(getattr(self, name), name, ndim=1, dtype="int")
            checks.ids_in_range(getattr(self, name), size, name)
        checks.tensor(self.lengths, "lengths", ndim=1, dtype="int")
        checks.same_length(questions=self.questions, lengths=self.lengths, answers=self.answers, family=self.family,
                           qtype=self.qtype, scene_index=self.scene_index)  # fmt: skip
        if self.lengths.numel() and not bool(((self.lengths >= 1) & (self.lengths <= self.questions.shape[1])).all()):
            raise ValueError(f"lengths must lie in [1, {self.questions.shape[1]}] (the padded question length)")

    def __len__(self) -> int:
        return self.questions.shape[0]

    def subset(self, keep: torch.Tensor) -> VQAData:
        """The questions where ``keep (Q,)`` (bool) is true, over the same scenes."""
        if not isinstance(keep, torch.Tensor) or keep.dtype != torch.bool or keep.shape != self.answers.shape:
            raise ValueError(f"keep must be a bool tensor of shape {tuple(self.answers.shape)}")
        return VQAData(self.images, self.scenes, self.questions[keep], self.lengths[keep], self.answers[keep],
                       self.family[keep], self.qtype[keep], self.scene_index[keep])  # fmt: skip

    def texts(self, index: Sequence[int] | torch.Tensor | None = None) -> list[str]:
        """The questions as strings (all, or those at ``index``)."""
        if index is not None:
            index = torch.as_tensor(index)
            if index.is_floating_point() or index.dtype == torch.bool and index.shape != (len(self),):
                raise ValueError(f"index must hold int question indices (or a ({len(self)},) bool mask)")
            if index.dtype != torch.bool and bool(((index < -len(self)) | (index >= len(self))).any()):
                raise ValueError(f"index must hold question indices in [-{len(self)}, {len(self)})")
        rows = self.questions if index is None else self.questions[index]
        return decode_questions(rows)


def _pick(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Index of the largest random score among allowed entries, along the last dim."""
    return torch.where(allowed, scores, torch.full_like(scores, -1.0)).argmax(dim=-1)


def generate_questions(
    scenes: Scenes, per_scene: int = 4, generator: torch.Generator | None = None, pool: int = 4
) -> dict[str, torch.Tensor]:
    """Ask ``per_scene`` questions about every scene, with exact answers.

    Types are drawn uniformly (then the family uniformly within the type), so
    each type is about a quarter of the set. Existence questions are yes for
    half of the candidates (an object of the scene) and no for the other half
    (a colour-shape pair absent from the scene).

    Parameters
    ----------
    scenes
        ``S`` scenes from :func:`~attnlib.data.shapes.sample_scenes`.
    per_scene
        Questions per scene, ``>= 1``.
    pool
        Candidates drawn per kept question (ambiguous candidates are dropped).

    Returns
    -------
    dict
        ``questions (Q, L)``, ``lengths (Q,)``, ``answers (Q,)``, ``family (Q,)``, ``qtype (Q,)``,
        ``scene_index (Q,)`` with ``Q <= S * per_scene`` (a scene with too few valid candidates gets fewer).
    """
    if not isinstance(scenes, Scenes):
        raise ValueError(f"scenes must be a Scenes from sample_scenes, got {type(scenes).__name__}")
    if not isinstance(per_scene, int) or isinstance(per_scene, bool) or per_scene < 1:
        raise ValueError(f"per_scene must be a positive int, got {per_scene!r}")
    checks.positive_int(pool, "pool")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if scenes.color.shape[0] < 1:
        raise ValueError("scenes must hold at least one scene, got 0")
    if scenes.valid.shape[1] > MAX_COUNT:
        raise ValueError(f"scenes may hold at most {MAX_COUNT} objects, got {scenes.valid.shape[1]} slots")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    s, m = scenes.color.shape
    c = per_scene * pool
    qtype = torch.randint(len(QUESTION_TYPES), (s, c), generator=generator)
    within = torch.randint(3, (s, c), generator=generator)
    family = torch.tensor([0, 3, 4, 6])[qtype] + torch.where(qtype == 0, within, torch.where(qtype == 2, within % 2, 0))

    def attr(a: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        return a.gather(1, j)  # (s, m) x (s, c) -> (s, c)

    valid = scenes.valid
    j = _pick(torch.rand(s, c, m, generator=generator), valid.unsqueeze(1).expand(s, c, m))
    j2 = _pick(torch.rand(s, c, m, generator=generator), valid.unsqueeze(1) & (torch.arange(m) != j.unsqueeze(-1)))
    color, shape, size = attr(scenes.color, j), attr(scenes.shape, j), attr(scenes.size, j)
    color2, shape2 = attr(scenes.color, j2), attr(scenes.shape, j2)

    def matches(**wanted: torch.Tensor) -> torch.Tensor:
        """Number of objects per candidate whose attributes equal ``wanted`` ``(s, c)``."""
        hit = valid.unsqueeze(1).expand(s, c, m)
        for name, value in wanted.items():
            hit = hit & (getattr(scenes, name).unsqueeze(1) == value.unsqueeze(-1))
        return hit.sum(-1)

    # Existence: half from an object of the scene (yes), half an absent colour-shape pair (no).
    combos = torch.nn.functional.one_hot(scenes.color * len(SHAPES) + scenes.shape, len(COLOR_NAMES) * len(SHAPES))
    present = (combos.bool() & valid.unsqueeze(-1)).any(dim=1)  # (s, colours * shapes)
    absent = _pick(torch.rand(s, c, present.shape[1], generator=generator), ~present.unsqueeze(1))
    ask_yes = torch.rand(s, c, generator=generator) < 0.5
    ex_color = torch.where(ask_yes, color, absent // len(SHAPES))
    ex_shape = torch.where(ask_yes, shape, absent % len(SHAPES))
    # Counting: mostly an attribute of the scene, sometimes any (so 0 occurs).
    from_scene = torch.rand(s, c, generator=generator) < 0.75
    ct_color = torch.where(from_scene, color, torch.randint(len(COLOR_NAMES), (s, c), generator=generator))
    ct_shape = torch.where(from_scene, shape, torch.randint(len(SHAPES), (s, c), generator=generator))
    rel = torch.randint(len(RELATIONS), (s, c), generator=generator)

    pos = scenes.position.gather(1, j.unsqueeze(-1).expand(s, c, 2))
    pos2 = scenes.position.gather(1, j2.unsqueeze(-1).expand(s, c, 2))
    relation_true = (
        torch.stack(
            [
                pos[..., 0] < pos2[..., 0],
                pos[..., 0] > pos2[..., 0],
                pos[..., 1] < pos2[..., 1],
                pos[..., 1] > pos2[..., 1],
            ],
            dim=-1,
        )
        .gather(-1, rel.unsqueeze(-1))
        .squeeze(-1)
    )

    yes, no = _ANSWER_INDEX["yes"], _ANSWER_INDEX["no"]
    answers = (
        torch.stack(
            [
                _COLOR0 + color,
                _SHAPE0 + shape,
                _SIZE0 + size,
                torch.where(matches(color=ex_color, shape=ex_shape) > 0, yes, no),
                _COUNT0 + matches(color=ct_color),
                _COUNT0 + matches(shape=ct_shape),
                torch.where(relation_true, yes, no),
            ],
            dim=-1,
        )
        .gather(-1, family.unsqueeze(-1))
        .squeeze(-1)
    )
    n_objects = valid.sum(1, keepdim=True)
    ok = (
        torch.stack(
            [
                matches(size=size, shape=shape) == 1,
                matches(size=size, color=color) == 1,
                matches(color=color, shape=shape) == 1,
                torch.ones_like(ask_yes),
                torch.ones_like(ask_yes),
                torch.ones_like(ask_yes),
                (matches(color=color, shape=shape) == 1)
                & (matches(color=color2, shape=shape2) == 1)
                & (n_objects >= 2),
            ],
            dim=-1,
        )
        .gather(-1, family.unsqueeze(-1))
        .squeeze(-1)
    )

    # Fill every family's template, then keep each candidate's own family's row.
    slots = {
        "<size>": _ids(SIZES)[size],
        "<shape>": _ids(SHAPES)[torch.where(family == 3, ex_shape, shape)],
        "<color>": _ids(COLOR_NAMES)[torch.where(family == 3, ex_color, torch.where(family == 4, ct_color, color))],
        "<shapes>": _ids(PLURALS)[ct_shape],
        "<color2>": _ids(COLOR_NAMES)[color2],
        "<shape2>": _ids(SHAPES)[shape2],
    }
    rel_ids = torch.tensor([[WORD_INDEX[w] for w in r] + [0] * (2 - len(r)) for r in RELATIONS])[rel]  # (s, c, 2)
    width = max(len(t) for t in FAMILIES.values()) + 1
    tokens = torch.zeros(s, c, width, dtype=torch.long)
    for f, template in enumerate(FAMILIES.values()):
        row = []
        for w in template:
            if w == "<rel>":
                row.extend([rel_ids[..., 0], rel_ids[..., 1]])
            elif w.startswith("<"):
                row.append(slots[w])
            else:
                row.append(torch.full((s, c), WORD_INDEX[w]))
        filled = torch.stack(row, dim=-1)
        filled = torch.nn.functional.pad(filled, (0, width - filled.shape[-1]))
        tokens = torch.where((family == f).unsqueeze(-1), filled, tokens)
    # Squeeze out the padding a one-word relation leaves inside the question.
    order = torch.sort((tokens == 0).to(torch.int8), dim=-1, stable=True).indices
    tokens = tokens.gather(-1, order)
    lengths = (tokens != 0).sum(-1)

    keep = ok & (ok.long().cumsum(dim=1) <= per_scene)
    scene_index = torch.arange(s).unsqueeze(1).expand(s, c)
    tokens = tokens[keep]
    length_max = int(lengths[keep].max()) if keep.any() else 1
    return {
        "questions": tokens[:, :length_max].contiguous(),
        "lengths": lengths[keep],
        "answers": answers[keep],
        "family": family[keep],
        "qtype": qtype[keep],
        "scene_index": scene_index[keep],
    }


def make_vqa_dataset(
    n_scenes: int,
    split: str = "train",
    per_scene: int = 4,
    image_size: int = 48,
    seed: int = 0,
    min_objects: int = 2,
    max_objects: int = 5,
) -> VQAData:
    """Render ``n_scenes`` scenes and ask ``per_scene`` questions about each.

    ``split`` (``"train"``, ``"val"`` or ``"test"``) selects a disjoint random
    stream, so the same ``seed`` never gives a test scene that was trained on.
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    checks.positive_int(n_scenes, "n_scenes")
    checks.positive_int(per_scene, "per_scene")
    checks.positive_int(image_size, "image_size")
    generator = split_generator(seed, check_split(split))
    scenes = sample_scenes(n_scenes, min_objects, max_objects, generator=generator)
    images = render_scenes(scenes, image_size)
    q = generate_questions(scenes, per_scene, generator=generator)
    return VQAData(images=images, scenes=scenes, **q)


def decode_questions(questions: torch.Tensor) -> list[str]:
    """Word indices ``(Q, L)``, ids in ``[0, len(VOCAB))`` (a negative id would wrap to a word from the end)
    -> strings (padding dropped)."""
    checks.tensor(questions, "questions", ndim=2, dtype="int")
    checks.ids_in_range(questions, len(VOCAB), "questions")
    return [" ".join(VOCAB[i] for i in row if i != 0).replace(" ?", "?") for row in questions.tolist()]


def encode_text(texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Strings -> ``(questions (Q, L), lengths (Q,))`` in :data:`VOCAB`; unknown words raise ValueError.

    ``texts`` is a non-empty list of strings, each with at least one word (a question of length 0 would be
    read as its padding)."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence) or not texts:
        raise ValueError(f"texts must be a non-empty list of strings, got {texts!r:.40}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"texts[{i}] must be a string, got {type(t).__name__}")
    rows = [tokenize(t) for t in texts]
    for i, r in enumerate(rows):
        if not r:
            raise ValueError(f"texts[{i}] has no words, got {texts[i]!r}")
    unknown = sorted({w for r in rows for w in r if w not in WORD_INDEX})
    if unknown:
        raise ValueError(f"texts use words outside VOCAB: {unknown}")
    length = max(len(r) for r in rows)
    out = torch.zeros(len(rows), length, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = _ids(r)
    return out, torch.tensor([len(r) for r in rows])


class VQALoader:
    """Batches ``(images (S, 3, H, W), questions (B, L), lengths (B,), answers (B,), scene_index (B,))``.

    Questions about the same scene travel in the same batch and their image
    appears once (``scene_index`` points into ``images``), so a model encodes
    each image once per batch instead of once per question. With ``shuffle``,
    scenes are reshuffled every epoch by the loader's own generator (same seed,
    same batches). ``images`` replaces ``data.images`` by any per-scene tensor
    ``(S, ...)``, for example cells pre-encoded by a frozen CNN.
    """

    def __init__(
        self,
        data: VQAData,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int = 0,
        images: torch.Tensor | None = None,
    ) -> None:
        if not isinstance(data, VQAData):
            raise ValueError(f"data must be a VQAData, got {type(data).__name__}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if len(data) < 1:
            raise ValueError("data must hold at least one question, got 0")
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        checks.flag(shuffle, "shuffle")
        if images is not None and not isinstance(images, torch.Tensor):
            raise ValueError(f"images must be a tensor (S, ...) or None, got {type(images).__name__}")
        if images is not None and images.shape[0] != data.images.shape[0]:
            raise ValueError(f"images must have one entry per scene ({data.images.shape[0]}), got {images.shape[0]}")
        self.images = data.images if images is None else images
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (len(self.data) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        d = self.data
        n_scenes = self.images.shape[0]
        rank = torch.randperm(n_scenes, generator=self.generator) if self.shuffle else torch.arange(n_scenes)
        order = torch.sort(rank[d.scene_index], stable=True).indices  # questions grouped by shuffled scene
        for start in range(0, len(d), self.batch_size):
            idx = order[start : start + self.batch_size]
            scenes, local = torch.unique(d.scene_index[idx], return_inverse=True)
            yield self.images[scenes], d.questions[idx], d.lengths[idx], d.answers[idx], local


def accuracy_by_type(predictions: torch.Tensor, data: VQAData) -> dict[str, float]:
    """Accuracy overall and per question type, from predicted answer indices ``(Q,)``."""
    if not isinstance(data, VQAData):
        raise ValueError(f"data must be a VQAData, got {type(data).__name__}")
    checks.tensor(predictions, "predictions", dtype="int")
    if len(data) < 1:
        raise ValueError("data must hold at least one question, got 0")
    if predictions.shape != data.answers.shape:
        raise ValueError(f"predictions must be {tuple(data.answers.shape)}, got {tuple(predictions.shape)}")
    checks.ids_in_range(predictions, len(ANSWERS), "predictions")
    right = (predictions.cpu() == data.answers).float()
    out = {"all": right.mean().item()}
    for t, name in enumerate(QUESTION_TYPES):
        sel = data.qtype == t
        if sel.any():
            out[name] = right[sel].mean().item()
    return out
