"""Referring expressions over CLEVR-like scenes, and a loader for RefCOCO-style annotations (chapter 8).

Scenes and pixels come from :mod:`attnlib.data.shapes` (``sample_scenes``,
``render_scenes``); this module adds what a referring-expression task needs:

* distractors that share the target's colour and shape, so one attribute is rarely enough;
* an expression that singles out exactly one object, of one of three kinds:
  ``attribute`` ("the red square": the smallest attribute set that is unique),
  ``superlative`` ("the leftmost small circle": the attributes match several objects, the spatial word decides),
  ``relation`` ("the red circle left of the blue square": the attributes match several objects,
  the relation to a uniquely described landmark decides);
* the target's box, exact from the shape geometry (normalised xyxy).

Generation is vectorised over scenes and deterministic given a ``torch.Generator``.
:func:`interpret` is an independent, per-sample reading of an expression used by the
tests to check that every expression names exactly its target.
"""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.ops import box_convert

from attnlib import checks
from attnlib.boxes import check_boxes
from attnlib.data.shapes import (
    COLOR_NAMES,
    SHAPES,
    SIZE_RADII,
    SIZES,
    Scenes,
    object_coverage,
    render_scenes,
    sample_scenes,
)
from attnlib.data.splits import check_split, split_generator

__all__ = [
    "VOCAB",
    "PAD",
    "CLS",
    "KINDS",
    "RefExp",
    "make_refexp",
    "decode",
    "interpret",
    "target_boxes",
    "target_cells",
    "expression_difficulty",
    "hardest",
    "load_refcoco",
]

RELATIONS: tuple[str, ...] = ("left", "right", "above", "below")
SUPERLATIVES: tuple[str, ...] = ("leftmost", "rightmost", "topmost", "bottommost")
VOCAB: tuple[str, ...] = (
    ("<pad>", "<cls>", "the", "object", "of") + SIZES + COLOR_NAMES + SHAPES + RELATIONS + SUPERLATIVES
)
_ID = {w: i for i, w in enumerate(VOCAB)}
PAD, CLS = _ID["<pad>"], _ID["<cls>"]
KINDS: tuple[str, ...] = ("attribute", "superlative", "relation")
#: Attribute subsets as (size, colour, shape) masks; the first three use one attribute.
_SUBSETS = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=torch.bool)
MAX_LEN = 11


@dataclass
class RefExp:
    """A batch of referring-expression samples.

    Attributes
    ----------
    images
        ``float32 (B, 3, H, W)`` in ``[0, 1]``.
    tokens
        ``int64 (B, L)`` word ids into :data:`VOCAB`, padded with :data:`PAD` at the end (no ``<cls>``).
    boxes
        ``float32 (B, 4)``: the target's box, normalised xyxy in ``[0, 1]``.
    target
        ``int64 (B,)``: slot of the target in ``scenes``.
    kind
        ``int64 (B,)``: index into :data:`KINDS`.
    scenes
        The scene attributes.
    """

    images: torch.Tensor
    tokens: torch.Tensor
    boxes: torch.Tensor
    target: torch.Tensor
    kind: torch.Tensor
    scenes: Scenes

    def __post_init__(self) -> None:
        checks.tensor(self.images, "images", ndim=4, dtype="float")
        if self.images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(self.images.shape)}")
        checks.finite(self.images, "images")
        checks.tensor(self.tokens, "tokens", ndim=2, dtype="int")
        checks.ids_in_range(self.tokens, len(VOCAB), "tokens")
        checks.tensor(self.boxes, "boxes", ndim=2, dtype="float")
        check_boxes(self.boxes, "boxes")
        checks.tensor(self.kind, "kind", ndim=1, dtype="int")
        checks.ids_in_range(self.kind, len(KINDS), "kind")
        checks.tensor(self.target, "target", ndim=1, dtype="int")
        if not isinstance(self.scenes, Scenes):
            raise ValueError(f"scenes must be a Scenes record, got {type(self.scenes).__name__}")
        checks.same_length(
            images=self.images, tokens=self.tokens, boxes=self.boxes, target=self.target, kind=self.kind,
            scenes=self.scenes.color,
        )  # fmt: skip
        checks.ids_in_range(self.target, self.scenes.valid.shape[1], "target")

    def __len__(self) -> int:
        return self.images.shape[0]

    def texts(self) -> list[str]:
        return decode(self.tokens)


def _check_target(scenes: Scenes, target: torch.Tensor) -> None:
    if not isinstance(scenes, Scenes):
        raise ValueError(f"scenes must be a Scenes record, got {type(scenes).__name__}")
    checks.tensor(target, "target", dtype="int")
    if target.shape != (len(scenes),):
        raise ValueError(f"target must be ({len(scenes)},), got {tuple(target.shape)}")
    checks.ids_in_range(target, scenes.valid.shape[1], "target")


def target_boxes(scenes: Scenes, target: torch.Tensor) -> torch.Tensor:
    """Exact box of object ``target`` of every scene, normalised xyxy ``(B, 4)``.

    Follows the shapes' geometry in :mod:`attnlib.data.shapes`: a circle of radius ``r``;
    a square of half side ``0.85 r``; an upward triangle spanning ``dy`` in ``[-r, 0.8 r]``
    with half base ``0.9 r``.
    """
    _check_target(scenes, target)
    b = torch.arange(len(scenes))
    cx, cy = scenes.position[b, target].unbind(-1)
    r = torch.tensor(SIZE_RADII)[scenes.size[b, target]]
    shape = scenes.shape[b, target]
    half_w = torch.where(shape == 0, r, torch.where(shape == 1, 0.85 * r, 0.9 * r))
    top = torch.where(shape == 0, r, torch.where(shape == 1, 0.85 * r, r))
    bottom = torch.where(shape == 0, r, torch.where(shape == 1, 0.85 * r, 0.8 * r))
    return torch.stack([cx - half_w, cy - top, cx + half_w, cy + bottom], dim=-1).clamp(0, 1)


def target_cells(scenes: Scenes, target: torch.Tensor, image_size: int, grid: int) -> torch.Tensor:
    """Where the target lies on a ``grid x grid`` map: ``float32 (B, grid * grid)``, each row summing to 1.

    Entry ``n`` is the share of the target's drawn area (:func:`attnlib.data.shapes.object_coverage`)
    that falls in cell ``n`` (row-major): the distribution the auxiliary cell loss of chapter 8 matches.
    """
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
    if not isinstance(grid, int) or isinstance(grid, bool) or grid < 1 or image_size % grid:
        raise ValueError(f"grid must be a positive int dividing image_size={image_size}, got {grid!r}")
    _check_target(scenes, target)
    parts = []
    for i in range(0, len(scenes), 256):
        cover = object_coverage(scenes[i : i + 256], image_size)  # (b, M, H, W)
        own = cover[torch.arange(cover.shape[0]), target[i : i + 256]].unsqueeze(1)  # (b, 1, H, W)
        parts.append(torch.nn.functional.avg_pool2d(own, image_size // grid).flatten(1))
    cells = torch.cat(parts)
    return cells / cells.sum(1, keepdim=True).clamp_min(1e-8)


def expression_difficulty(scenes: Scenes, target: torch.Tensor, kind: torch.Tensor) -> torch.Tensor:
    """A difficulty of each sample read from the scene and the expression alone (no model): ``int64 (B,)``.

    ``difficulty = spatial + twins + small`` where ``spatial`` is 0 for an attribute expression, 1 for a
    superlative (one spatial word decides) and 2 for a relation (a second object must be found first);
    ``twins`` counts the other objects with the target's colour *and* shape (they differ only in size or
    place); ``small`` is 1 when the target is small (fewer pixels, a tighter box to hit).

    Parameters
    ----------
    scenes
        The scenes (:class:`attnlib.data.shapes.Scenes`), ``B`` of them.
    target
        ``int64 (B,)``: slot of the target.
    kind
        ``int64 (B,)``: index into :data:`KINDS`.
    """
    _check_target(scenes, target)
    checks.tensor(kind, "kind", dtype="int")
    if kind.shape != target.shape:
        raise ValueError(f"kind must be ({len(scenes)},), got {tuple(kind.shape)}")
    checks.ids_in_range(kind, len(KINDS), "kind")
    b = torch.arange(len(scenes))
    twin = (
        (scenes.color == scenes.color[b, target].unsqueeze(1))
        & (scenes.shape == scenes.shape[b, target].unsqueeze(1))
        & scenes.valid
    )
    twins = twin.sum(1) - 1  # the target matches itself
    small = (scenes.size[b, target] == 0).long()
    return kind + twins + small


def hardest(difficulty: torch.Tensor, tiebreak: torch.Tensor | None = None, fraction: float = 0.25) -> torch.Tensor:
    """``bool (B,)``: the ``ceil(fraction * B)`` samples of largest ``difficulty``, ties broken by larger
    ``tiebreak`` (for example minus the target's box area), then by position.

    Parameters
    ----------
    difficulty
        ``(B,)`` finite numbers, int or float (:func:`expression_difficulty`, or any score).
    tiebreak
        ``(B,)`` float or None.
    fraction
        In ``(0, 1]``.
    """
    checks.tensor(difficulty, "difficulty", ndim=1)
    if difficulty.shape[0] == 0:
        raise ValueError("difficulty must hold at least one sample, got (0,)")
    checks.finite(difficulty, "difficulty")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    order = torch.arange(difficulty.shape[0])
    if tiebreak is not None:
        checks.tensor(tiebreak, "tiebreak", shape=tuple(difficulty.shape), dtype="float")
        checks.finite(tiebreak, "tiebreak")
        order = torch.sort(-tiebreak.double(), stable=True).indices  # larger tiebreak first, then position
    # A stable sort by difficulty keeps the tiebreak's order among equal difficulties.
    order = order[torch.sort(-difficulty[order].double(), stable=True).indices]
    mask = torch.zeros(difficulty.shape[0], dtype=torch.bool)
    mask[order[: math.ceil(fraction * difficulty.shape[0])]] = True
    return mask


def _attrs(scenes: Scenes) -> torch.Tensor:
    return torch.stack([scenes.size, scenes.color, scenes.shape], dim=-1)  # (B, M, 3)


def _unique_counts(scenes: Scenes) -> torch.Tensor:
    """``(B, M, 7)``: how many objects match object m on each attribute subset."""
    a = _attrs(scenes)
    same = (a.unsqueeze(2) == a.unsqueeze(1)) & scenes.valid.unsqueeze(1).unsqueeze(-1)  # (B, M, M', 3)
    # A subset matches when every attribute in it is equal; attributes outside it are ignored.
    match = (same.unsqueeze(3) | ~_SUBSETS.view(1, 1, 1, 7, 3)).all(-1)  # (B, M, M', 7)
    return match.sum(2)


def _phrase(attrs: torch.Tensor, subset: torch.Tensor) -> torch.Tensor:
    """``(B, 3)`` tokens ``[size?] [colour?] [shape | object]``; PAD where an attribute is left out."""
    size = torch.where(subset[:, 0], _ID[SIZES[0]] + attrs[:, 0], PAD)
    color = torch.where(subset[:, 1], _ID[COLOR_NAMES[0]] + attrs[:, 1], PAD)
    shape = torch.where(subset[:, 2], _ID[SHAPES[0]] + attrs[:, 2], _ID["object"])
    return torch.stack([size, color, shape], dim=-1)


def _pick(mask: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform choice of a True entry per row of ``mask (B, K)``; returns (index, any)."""
    score = torch.rand(mask.shape, generator=generator) + mask.float() * 2
    return score.argmax(-1), mask.any(-1)


def _generate(n: int, min_objects: int, max_objects: int, margin: float, p_share: float, g: torch.Generator):
    scenes = sample_scenes(n, min_objects, max_objects, generator=g)
    m = scenes.color.shape[1]
    bi = torch.arange(n)
    target, _ = _pick(scenes.valid, g)
    # Distractors copy the target's colour and/or shape (size would change their footprint and overlap).
    for name in ("color", "shape"):
        copy = (torch.rand(n, m, generator=g) < p_share) & scenes.valid
        attr = getattr(scenes, name)
        setattr(scenes, name, torch.where(copy, attr[bi, target].unsqueeze(1), attr))
    attrs = _attrs(scenes)
    counts = _unique_counts(scenes)  # (B, M, 7)
    n_attr = _SUBSETS.sum(-1)  # (7,)
    t_counts = counts[bi, target]  # (B, 7)

    # Kind 0, attribute: the smallest unique subsets of the target.
    unique = t_counts == 1
    smallest = torch.where(unique, n_attr, 99).min(-1, keepdim=True).values
    s0, ok0 = _pick(unique & (n_attr == smallest), g)

    same = attrs == attrs[bi, target].unsqueeze(1)  # (B, M, 3): equal to the target's attribute
    s_match = (same.unsqueeze(2) | ~_SUBSETS.view(1, 1, 7, 3)).all(-1) & scenes.valid.unsqueeze(-1)  # (B, M, 7)
    ambiguous = t_counts >= 2  # the attributes alone do not decide
    pos = scenes.position  # (B, M, 2)
    others = s_match & (torch.arange(m).view(1, m) != target.view(n, 1)).unsqueeze(-1)  # (B, M, 7)
    # Signed coordinate per direction, larger = further that way: left, right, up, down.
    direc = torch.stack([-pos[..., 0], pos[..., 0], -pos[..., 1], pos[..., 1]], dim=-1)  # (B, M, 4)
    t_dir = direc[bi, target]  # (B, 4)

    # Kind 1, superlative: target beats every other match of the subset by the margin.
    beaten = (t_dir.view(n, 1, 1, 4) - direc.unsqueeze(2) >= margin) | ~others.unsqueeze(-1)  # (B, M, 7, 4)
    sup_ok = beaten.all(1) & ambiguous.unsqueeze(-1)  # (B, 7, 4)
    k1, ok1 = _pick(sup_ok.view(n, 28), g)

    # Kind 2, relation: landmark l has a unique description; the target is on side r of l by the margin,
    # and no other match of the subset is on that side.
    l_unique = counts == 1  # (B, M, 7)
    l_small = torch.where(l_unique, n_attr, 99).min(-1, keepdim=True).values
    ls, l_ok = _pick(l_unique & (n_attr == l_small), g)  # (B, M)
    l_ok = l_ok & scenes.valid & (torch.arange(m).view(1, m) != target.view(n, 1))
    # "target left of landmark": the landmark is further right than the target.
    opp = direc[..., [1, 0, 3, 2]]  # (B, M, 4): how far each object lies in the opposite direction
    t_side = opp - opp[bi, target].unsqueeze(1) >= margin  # (B, M(l), 4): landmark beyond the target
    o_side = (opp.unsqueeze(2) - opp.unsqueeze(1)) > 0  # (B, M(l), M(o), 4)
    clash = (o_side.unsqueeze(3) & others.unsqueeze(1).unsqueeze(-1)).any(2)  # (B, M(l), 7, 4)
    # The landmark is never one of the subset's matches (it would be an ambiguous reading).
    l_in = s_match.unsqueeze(-1)  # (B, M(l), 7, 1)
    rel_ok = t_side.unsqueeze(2) & ~clash & ~l_in & l_ok.view(n, m, 1, 1) & ambiguous.view(n, 1, 7, 1)
    k2, ok2 = _pick(rel_ok.view(n, m * 28), g)

    kind, any_kind = _pick(torch.stack([ok0, ok1, ok2], -1), g)
    tokens = torch.full((n, MAX_LEN), PAD, dtype=torch.long)
    tokens[:, 0] = _ID["the"]
    t_attrs = attrs[bi, target]
    s1, r1 = k1 // 4, k1 % 4
    l2, s2, r2 = k2 // 28, (k2 % 28) // 4, k2 % 4
    subset = torch.where(
        kind.view(n, 1) == 0, _SUBSETS[s0], torch.where(kind.view(n, 1) == 1, _SUBSETS[s1], _SUBSETS[s2])
    )
    tokens[:, 2:5] = _phrase(t_attrs, subset)
    tokens[:, 1] = torch.where(kind == 1, _ID[SUPERLATIVES[0]] + r1, PAD)
    is_rel = kind == 2
    tokens[:, 5] = torch.where(is_rel, _ID[RELATIONS[0]] + r2, PAD)
    tokens[:, 6] = torch.where(is_rel & (r2 < 2), _ID["of"], PAD)
    tokens[:, 7] = torch.where(is_rel, _ID["the"], PAD)
    l_phrase = _phrase(attrs[bi, l2], _SUBSETS[ls[bi, l2]])
    tokens[:, 8:11] = torch.where(is_rel.view(n, 1), l_phrase, PAD)
    # Compact: words to the front, padding to the end, order kept.
    order = torch.sort((tokens == PAD).long(), dim=1, stable=True).indices
    tokens = tokens.gather(1, order)
    return scenes, target, kind, tokens, any_kind


def make_refexp(
    n: int,
    image_size: int = 48,
    min_objects: int = 3,
    max_objects: int = 5,
    margin: float = 0.08,
    p_share: float = 0.5,
    generator: torch.Generator | None = None,
    split: str = "train",
    seed: int = 0,
) -> RefExp:
    """Generate ``n`` referring-expression samples.

    Parameters
    ----------
    n
        Number of samples, ``>= 1``.
    image_size
        Side of the square images in pixels.
    min_objects, max_objects
        Objects per scene (passed to :func:`attnlib.data.shapes.sample_scenes`).
    margin
        Spatial words need a gap of at least this (fraction of the side) between the target and the rest.
    p_share
        Probability that a distractor copies the target's colour (and, independently, its shape).
    generator
        Source of randomness. ``None`` (the usual choice) draws from a stream keyed by ``(seed, split)``
        (:func:`attnlib.data.splits.split_generator`), so the splits never share scenes' randomness; a
        generator passed here is used as it is and ``split`` and ``seed`` are then ignored.
    split
        ``"train"``, ``"val"`` or ``"test"``.
    seed
        Non-negative int: the same ``(seed, split)`` gives the same samples.

    Returns
    -------
    RefExp
    """
    checks.positive_int(n, "n")
    checks.positive_int(min_objects, "min_objects")
    checks.positive_int(max_objects, "max_objects")
    checks.non_negative_float(margin, "margin")
    checks.probability(p_share, "p_share")
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if not 2 <= min_objects <= max_objects:
        raise ValueError(f"need 2 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
    if not 0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin!r}")
    if not 0 <= p_share <= 1:
        raise ValueError(f"p_share must be in [0, 1], got {p_share!r}")
    check_split(split)
    g = generator if generator is not None else split_generator(seed, split)
    parts, have = [], 0
    # A few scenes admit no expression (identical twins side by side); draw more until n are kept.
    while have < n:
        scenes, target, kind, tokens, ok = _generate(n - have + 8, min_objects, max_objects, margin, p_share, g)
        keep = ok.nonzero().flatten()[: n - have]
        parts.append((scenes[keep], target[keep], kind[keep], tokens[keep]))
        have += keep.numel()
    scenes = Scenes(
        *(torch.cat([getattr(p[0], f) for p in parts]) for f in ("color", "shape", "size", "position", "valid"))
    )
    target = torch.cat([p[1] for p in parts])
    kind = torch.cat([p[2] for p in parts])
    tokens = torch.cat([p[3] for p in parts])
    images = render_scenes(scenes, image_size)
    return RefExp(images, tokens, target_boxes(scenes, target), target, kind, scenes)


def decode(tokens: torch.Tensor) -> list[str]:
    """Word ids ``(B, L)`` -> expressions (padding and ``<cls>`` dropped); an id outside ``[0, len(VOCAB))``
    is a ValueError (a negative id would otherwise wrap around to the end of the vocabulary)."""
    checks.tensor(tokens, "tokens")
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be (B, L), got {tuple(tokens.shape)}")
    checks.ids_in_range(tokens, len(VOCAB), "tokens")
    return [" ".join(VOCAB[i] for i in row if i not in (PAD, CLS)) for row in tokens.tolist()]


def interpret(expression: str, scenes: Scenes, index: int, margin: float = 0.0) -> list[int]:
    """Slots of scene ``index`` that ``expression`` can refer to (a plain, per-sample reading for checking).

    Reads "the [sup] [size] [colour] shape|object [rel [of] the [size] [colour] shape|object]"; any other
    wording is a ValueError naming the expression.
    """
    if not isinstance(expression, str):
        raise ValueError(f"expression must be a str, got {type(expression).__name__}")
    if not isinstance(scenes, Scenes):
        raise ValueError(f"scenes must be a Scenes record, got {type(scenes).__name__}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(scenes):
        raise ValueError(f"index must be an int in [0, {len(scenes)}), got {index!r}")
    checks.non_negative_float(margin, "margin")
    try:
        return _interpret(expression, scenes, index, margin)
    except (IndexError, ValueError) as error:
        if isinstance(error, ValueError) and repr(expression) in str(error):
            raise
        raise ValueError(f"expression {expression!r} does not follow the grammar of make_refexp") from error


def _interpret(expression: str, scenes: Scenes, index: int, margin: float) -> list[int]:
    words = expression.split()
    unknown = [w for w in words if w not in _ID or w in ("<pad>", "<cls>")]
    if unknown:
        raise ValueError(f"expression {expression!r} has words outside the vocabulary: {unknown}")
    if not words or words[0] != "the":
        raise ValueError(f"expression must start with 'the', got {expression!r}")
    valid = [m for m in range(scenes.valid.shape[1]) if scenes.valid[index, m]]
    pos = scenes.position[index]

    def take(ws: list[str]) -> tuple[list[int], list[str]]:
        cands = list(valid)
        while ws and ws[0] in SIZES + COLOR_NAMES:
            w = ws.pop(0)
            attr, val = (scenes.size, SIZES.index(w)) if w in SIZES else (scenes.color, COLOR_NAMES.index(w))
            cands = [m for m in cands if attr[index, m] == val]
        w = ws.pop(0)
        if w != "object":
            cands = [m for m in cands if scenes.shape[index, m] == SHAPES.index(w)]
        return cands, ws

    def coord(m: int, r: int) -> float:  # larger = further in direction r (left, right, up, down)
        return [-pos[m, 0], pos[m, 0], -pos[m, 1], pos[m, 1]][r].item()

    ws = words[1:]
    sup = None
    if ws[0] in SUPERLATIVES:
        sup = SUPERLATIVES.index(ws.pop(0))
    cands, ws = take(ws)
    if sup is not None:
        best = max(coord(m, sup) for m in cands)
        return [m for m in cands if coord(m, sup) >= best - 1e-9]
    if not ws:
        return cands
    rel = RELATIONS.index(ws.pop(0))
    if ws[0] == "of":
        ws.pop(0)
    if ws.pop(0) != "the":
        raise ValueError(f"expected 'the' before the landmark in {expression!r}")
    landmarks, _ = take(ws)
    opposite = [1, 0, 3, 2][rel]
    return [m for m in cands if any(coord(lm, opposite) - coord(m, opposite) > margin and lm != m for lm in landmarks)]


class RefusedPickle(pickle.UnpicklingError, ValueError):
    """A refs file that asks to load a class: refused (both an ``UnpicklingError`` and a ``ValueError``)."""


class _SafeUnpickler(pickle.Unpickler):
    """RefCOCO's ``refs(unc).p`` holds only lists, dicts, strings and numbers: refuse anything else."""

    def find_class(self, module: str, name: str):  # noqa: ANN201
        raise RefusedPickle(f"refs file tries to load {module}.{name}; only plain data is allowed")


def _read(path: Path) -> object:
    """The JSON or (restricted) pickle content of ``path``; a corrupt, truncated or empty file is a ValueError."""
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        with path.open("rb") as fh:
            return _SafeUnpickler(fh).load()
    except RefusedPickle as error:
        raise RefusedPickle(f"{path}: {error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError, pickle.UnpicklingError, EOFError, ValueError) as error:
        kind = "JSON" if path.suffix == ".json" else "pickle"
        raise ValueError(f"{path} is not a readable {kind} file (empty, truncated or corrupt): {error}") from error


def _field(record: object, key: str, kinds: type | tuple[type, ...], where: str) -> object:
    """``record[key]`` if ``record`` is a dict holding it with a value of type ``kinds``, else a ValueError."""
    if not isinstance(record, dict):
        raise ValueError(f"{where} must be a dict, got {type(record).__name__}")
    if key not in record:
        raise ValueError(f"{where} has no key {key!r}")
    value = record[key]
    if not isinstance(value, kinds) or isinstance(value, bool):
        names = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
        raise ValueError(f"{where}[{key!r}] must be a {names}, got {value!r}")
    return value


def load_refcoco(
    root: str | Path, split: str, refs_file: str = "refs(unc).p", instances_file: str = "instances.json"
) -> list[dict]:
    """Read RefCOCO / RefCOCO+ / RefCOCOg annotations (the ``refer`` toolkit's layout) for one split.

    ``root`` holds ``refs_file`` (the pickled list of refs, or the same list as ``.json``)
    and ``instances_file`` (COCO instances with ``images`` and ``annotations``).
    Bring your own copy; nothing is downloaded.

    Returns
    -------
    list of dict
        One record per sentence: ``image_id``, ``file_name``, ``width``, ``height``, ``sentence``,
        ``box`` (pixel xyxy ``float32 (4,)``) and ``box_norm`` (xyxy divided by the image size).
    """
    if not isinstance(root, (str, Path)):
        raise ValueError(f"root must be a path, got {type(root).__name__}")
    if not isinstance(split, str):
        raise ValueError(f"split must be a str, got {split!r}")
    checks.string(refs_file, "refs_file")
    checks.string(instances_file, "instances_file")
    root = Path(root)
    refs_path, inst_path = root / refs_file, root / instances_file
    for name, path in (("refs_file", refs_path), ("instances_file", inst_path)):
        if not path.is_file():
            raise ValueError(f"{name}: {path} not found; expected the refer toolkit's files under root={str(root)!r}")
    refs = _read(refs_path)
    if not isinstance(refs, list):
        raise ValueError(f"{refs_path} must hold a list of refs, got {type(refs).__name__}")
    inst = _read(inst_path)
    if not isinstance(inst, dict):
        raise ValueError(f"{inst_path} must hold a dict with 'images' and 'annotations', got {type(inst).__name__}")
    images, anns = {}, {}
    for key, table in (("images", images), ("annotations", anns)):
        for i, entry in enumerate(_field(inst, key, list, str(inst_path))):
            table[_field(entry, "id", (int, str), f"{inst_path}: {key}[{i}]")] = entry
    splits = {_field(r, "split", str, f"{refs_path}: ref {i}") for i, r in enumerate(refs)}
    if split not in splits:
        raise ValueError(f"split must be one of {sorted(splits)}, got {split!r}")
    records = []
    for i, ref in enumerate(refs):
        if ref["split"] != split:
            continue
        where = f"{refs_path}: ref {i}"
        ann_id = _field(ref, "ann_id", (int, str), where)
        image_id = _field(ref, "image_id", (int, str), where)
        if ann_id not in anns:
            raise ValueError(f"{where}: ann_id {ann_id!r} is not an annotation id of {inst_path}")
        if image_id not in images:
            raise ValueError(f"{where}: image_id {image_id!r} is not an image id of {inst_path}")
        ann, im = anns[ann_id], images[image_id]
        ann_where, im_where = f"{inst_path}: annotation {ann_id!r}", f"{inst_path}: image {image_id!r}"
        bbox = _field(ann, "bbox", (list, tuple), ann_where)
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            raise ValueError(f"{ann_where}['bbox'] must be 4 numbers (x, y, w, h), got {bbox!r}")
        if not all(map(math.isfinite, bbox)) or bbox[2] < 0 or bbox[3] < 0:
            raise ValueError(f"{ann_where}['bbox'] must be finite with w, h >= 0, got {bbox!r}")
        for key in ("width", "height"):
            if _field(im, key, (int, float), im_where) <= 0:
                raise ValueError(f"{im_where}[{key!r}] must be > 0, got {im[key]!r}")
        file_name = _field(im, "file_name", str, im_where)
        sentences = _field(ref, "sentences", list, where)
        box = box_convert(torch.tensor([bbox], dtype=torch.float32), "xywh", "xyxy")[0]
        scale = torch.tensor([im["width"], im["height"]] * 2, dtype=torch.float32)
        for j, sent in enumerate(sentences):
            if not isinstance(sent, dict):
                raise ValueError(f"{where}: sentences[{j}] must be a dict with 'sent' or 'raw', got {sent!r}")
            text = sent.get("sent", sent.get("raw", ""))
            if not isinstance(text, str):
                raise ValueError(f"{where}: sentences[{j}]['sent'] must be a str, got {text!r}")
            records.append(
                {
                    "image_id": image_id,
                    "file_name": file_name,
                    "width": im["width"],
                    "height": im["height"],
                    "sentence": text,
                    "box": box,
                    "box_norm": box / scale,
                }
            )
    return records
