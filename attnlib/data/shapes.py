"""CLEVR-like scenes: objects with a colour, a shape, a size and a position, drawn into small RGB images.

Two steps, kept apart so that other chapters (visual question answering,
referring expressions) can reuse them:

* :func:`sample_scenes` draws the *attributes* of the objects of ``B`` scenes as
  tensors (no pixels): a :class:`Scenes` record.
* :func:`render_scenes` draws those scenes into images ``(B, 3, H, W)`` with
  tensor operations over the whole batch (no loop over scenes).

Everything is deterministic given a ``torch.Generator``. Objects never overlap,
so every attribute is visible and every question about them has one answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attnlib import checks

__all__ = [
    "COLORS",
    "COLOR_NAMES",
    "SHAPES",
    "SIZES",
    "SIZE_RADII",
    "Scenes",
    "sample_scenes",
    "render_scenes",
    "object_coverage",
    "cell_labels",
    "check_scenes",
]

COLOR_NAMES: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "cyan")
COLORS = torch.tensor(
    [
        [0.86, 0.16, 0.16],
        [0.16, 0.70, 0.24],
        [0.18, 0.32, 0.90],
        [0.95, 0.85, 0.15],
        [0.60, 0.22, 0.75],
        [0.15, 0.80, 0.85],
    ]
)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
SIZES: tuple[str, ...] = ("small", "large")
#: Radius of each size as a fraction of the image side.
SIZE_RADII: tuple[float, ...] = (0.075, 0.12)
BACKGROUND = (0.5, 0.5, 0.5)


@dataclass
class Scenes:
    """Attributes of the objects of ``B`` scenes with at most ``M`` objects each.

    Attributes
    ----------
    color, shape, size
        ``int64 (B, M)``: indices into :data:`COLOR_NAMES`, :data:`SHAPES`, :data:`SIZES`.
    position
        ``float32 (B, M, 2)``: centre ``(x, y)`` in ``[0, 1]`` (fraction of the image side; ``y`` down).
    valid
        ``bool (B, M)``: which slots hold an object (scenes have different numbers of objects).
    """

    color: torch.Tensor
    shape: torch.Tensor
    size: torch.Tensor
    position: torch.Tensor
    valid: torch.Tensor

    def __post_init__(self) -> None:
        _check_fields(self, "scenes")

    def __len__(self) -> int:
        return self.color.shape[0]

    def __getitem__(self, index: int | slice | torch.Tensor) -> Scenes:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Scenes(self.color[index], self.shape[index], self.size[index], self.position[index], self.valid[index])

    def describe(self, index: int) -> list[str]:
        """Human-readable objects of scene ``index``: ``["small red circle at (0.31, 0.72)", ...]``."""
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self):
            raise ValueError(f"index must be an int in [0, {len(self)}), got {index!r}")
        out = []
        for m in torch.nonzero(self.valid[index]).flatten().tolist():
            x, y = self.position[index, m].tolist()
            out.append(
                f"{SIZES[self.size[index, m]]} {COLOR_NAMES[self.color[index, m]]} "
                f"{SHAPES[self.shape[index, m]]} at ({x:.2f}, {y:.2f})"
            )
        return out


def sample_scenes(
    n: int,
    min_objects: int = 2,
    max_objects: int = 5,
    generator: torch.Generator | None = None,
    tries: int = 24,
) -> Scenes:
    """Sample ``n`` scenes of non-overlapping objects.

    Each object draws its colour, shape and size uniformly and its position
    uniformly inside the image. Objects are placed one slot at a time (a loop
    over the at most ``max_objects`` slots, vectorised over scenes): each slot
    tries ``tries`` random positions and keeps the first that clears every
    object already placed; a slot with no free position stays empty.

    Parameters
    ----------
    n
        Number of scenes, ``>= 1``.
    min_objects, max_objects
        Each scene asks for a number of objects uniform in ``[min_objects, max_objects]``.
    generator
        Source of randomness; the same seed gives the same scenes.

    Returns
    -------
    Scenes
        Attribute tensors with ``M = max_objects`` slots.
    """
    checks.positive_int(n, "n")
    checks.positive_int(min_objects, "min_objects")
    checks.positive_int(max_objects, "max_objects")
    checks.positive_int(tries, "tries")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if not (1 <= min_objects <= max_objects <= 8):
        raise ValueError(f"need 1 <= min_objects <= max_objects <= 8, got {min_objects}, {max_objects}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    m = max_objects
    color = torch.randint(len(COLOR_NAMES), (n, m), generator=generator)
    shape = torch.randint(len(SHAPES), (n, m), generator=generator)
    size = torch.randint(len(SIZES), (n, m), generator=generator)
    wanted = torch.randint(min_objects, max_objects + 1, (n, 1), generator=generator)
    radius = torch.tensor(SIZE_RADII)[size]  # (n, m)
    position = torch.zeros(n, m, 2)
    valid = torch.zeros(n, m, dtype=torch.bool)
    for slot in range(m):
        r = radius[:, slot]  # (n,)
        lo = r.unsqueeze(1) + 0.01
        candidates = lo.unsqueeze(-1) + torch.rand(n, tries, 2, generator=generator) * (1 - 2 * lo).unsqueeze(-1)
        # A gap of one radius' worth keeps objects apart in the CNN's cells too.
        gap = (r.view(n, 1, 1) + radius[:, :slot].unsqueeze(1)) * 1.15 + 0.02  # (n, 1, slot)
        dist = (candidates.unsqueeze(2) - position[:, :slot].unsqueeze(1)).norm(dim=-1)  # (n, tries, slot)
        free = ((dist > gap) | ~valid[:, :slot].unsqueeze(1)).all(dim=-1)  # (n, tries)
        has_free = free.any(dim=1) & (slot < wanted.squeeze(1))
        first = free.float().argmax(dim=1)
        position[:, slot] = candidates[torch.arange(n), first] * has_free.unsqueeze(1)
        valid[:, slot] = has_free
    return Scenes(color, shape, size, position, valid)


def render_scenes(scenes: Scenes, image_size: int = 48, antialias: bool = True) -> torch.Tensor:
    """Draw scenes into RGB images on a grey background.

    Circles are discs, squares axis-aligned, triangles point up; every object
    of the batch is drawn at once as a ``(B, M, H, W)`` coverage map.

    Parameters
    ----------
    scenes
        From :func:`sample_scenes` (or built by hand).
    image_size
        Side ``H = W`` of the images in pixels, ``>= 8``.
    antialias
        Soften edges over one pixel (coverage in ``[0, 1]``), so small shapes stay recognisable.

    Returns
    -------
    images
        ``float32 (B, 3, H, W)`` in ``[0, 1]``.
    """
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
    if not isinstance(antialias, bool):
        raise ValueError(f"antialias must be True or False, got {antialias!r}")
    check_scenes(scenes)
    # Chunks keep the (chunk, M, H, W) temporaries in cache; the work stays vectorised inside each chunk.
    chunk = 256
    return torch.cat(
        [_render_chunk(scenes[i : i + chunk], image_size, antialias) for i in range(0, len(scenes), chunk)]
    )


def check_scenes(scenes: Scenes, name: str = "scenes") -> None:
    """ValueError naming ``name`` unless ``scenes`` is a :class:`Scenes` of consistent shapes, attribute ids in
    range, ``bool`` validity and finite positions (a NaN position would paint NaN pixels)."""
    if not isinstance(scenes, Scenes):
        raise ValueError(f"{name} must be a Scenes record, got {type(scenes).__name__}")
    _check_fields(scenes, name)
    if scenes.color.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one scene, got 0")


def _check_fields(scenes: Scenes, name: str) -> None:
    """The checks of :func:`check_scenes` that also hold for an empty set (run when a Scenes is built)."""
    for field in ("color", "shape", "size", "position", "valid"):
        checks.tensor(getattr(scenes, field), f"{name}.{field}")
    if scenes.color.ndim != 2 or scenes.position.shape != scenes.color.shape + (2,):
        raise ValueError(
            f"{name}.color must be (B, M) and {name}.position (B, M, 2), got {tuple(scenes.color.shape)} "
            f"and {tuple(scenes.position.shape)}"
        )
    for field, values in (("color", COLOR_NAMES), ("shape", SHAPES), ("size", SIZES)):
        t = getattr(scenes, field)
        if t.shape != scenes.color.shape:
            raise ValueError(f"{name}.{field} must be {tuple(scenes.color.shape)}, got {tuple(t.shape)}")
        checks.ids_in_range(t, len(values), f"{name}.{field}")
    checks.tensor(scenes.valid, f"{name}.valid", shape=tuple(scenes.color.shape), dtype="bool")
    checks.tensor(scenes.position, f"{name}.position", dtype="float")
    checks.finite(scenes.position, f"{name}.position")


def _render_chunk(scenes: Scenes, image_size: int, antialias: bool) -> torch.Tensor:
    cover = _coverage(scenes, image_size, antialias)
    rgb = COLORS.to(cover.device)[scenes.color]  # (B, M, 3)
    background = torch.tensor(BACKGROUND, device=cover.device).view(1, 3, 1, 1)
    total = cover.sum(dim=1, keepdim=True).clamp(max=1)  # (B, 1, H, W)
    paint = torch.einsum("bmhw,bmc->bchw", cover, rgb)
    return (background * (1 - total) + paint).clamp(0, 1)


def object_coverage(scenes: Scenes, image_size: int = 48, antialias: bool = True) -> torch.Tensor:
    """How much of every pixel each object covers: ``float32 (B, M, H, W)`` in ``[0, 1]`` (0 for empty slots).

    The per-object masks :func:`render_scenes` paints with; useful as ground truth
    (which cells hold which object, the region a referring expression names).
    """
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
    if not isinstance(antialias, bool):
        raise ValueError(f"antialias must be True or False, got {antialias!r}")
    check_scenes(scenes)
    return torch.cat([_coverage(scenes[i : i + 256], image_size, antialias) for i in range(0, len(scenes), 256)])


def _coverage(scenes: Scenes, image_size: int, antialias: bool) -> torch.Tensor:
    device = scenes.position.device
    size_px = float(image_size)
    coords = (torch.arange(image_size, device=device, dtype=torch.float32) + 0.5) / size_px
    cx = scenes.position[..., 0, None, None]
    cy = scenes.position[..., 1, None, None]
    r = torch.tensor(SIZE_RADII, device=device)[scenes.size][..., None, None]  # (B, M, 1, 1)
    dx, dy = coords.view(1, 1, 1, -1) - cx, coords.view(1, 1, -1, 1) - cy  # (B, M, 1, W), (B, M, H, 1)
    # Signed distances (positive inside), per shape; only the object's own shape is kept.
    inside_circle = r - torch.sqrt(dx**2 + dy**2)
    inside_square = 0.85 * r - torch.maximum(dx.abs(), dy.abs())
    # Upward triangle: above the base line and inside the two slanted edges (normalised by sqrt(5)).
    inside_triangle = torch.minimum(0.8 * r - dy, (dy + r - 2 * dx.abs()) * 0.45)
    shape = scenes.shape[..., None, None]
    inside = torch.where(shape == 0, inside_circle, torch.where(shape == 1, inside_square, inside_triangle))
    inside = inside * size_px
    cover = (inside + 0.5).clamp(0, 1) if antialias else (inside > 0).float()
    return cover * scenes.valid[..., None, None]


def cell_labels(
    scenes: Scenes, image_size: int = 48, grid: int = 12, threshold: float = 0.3
) -> dict[str, torch.Tensor]:
    """Attributes of the object covering each cell of a ``grid x grid`` map, for dense supervision.

    A cell belongs to the object covering most of it if that object covers at
    least ``threshold`` of the cell; otherwise it is empty.

    Returns
    -------
    dict
        ``color``, ``shape``, ``size``: ``int64 (B, grid * grid)`` attribute indices, with the
        number of values of that attribute (``len(COLOR_NAMES)``, ...) meaning "empty";
        ``object``: ``int64 (B, grid * grid)`` slot of the covering object, -1 if empty.
    """
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
    if not isinstance(grid, int) or isinstance(grid, bool) or grid < 1 or image_size % grid:
        raise ValueError(f"grid must be a positive int dividing image_size={image_size}, got {grid!r}")
    if checks.probability(threshold, "threshold") == 0.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    cover = object_coverage(scenes, image_size)
    b, m = cover.shape[:2]
    cell = torch.nn.functional.avg_pool2d(cover.view(b * m, 1, image_size, image_size), image_size // grid)
    best, slot = cell.view(b, m, -1).max(dim=1)  # (B, N)
    empty = best < threshold
    out = {"object": torch.where(empty, -1, slot)}
    for name, values in (("color", COLOR_NAMES), ("shape", SHAPES), ("size", SIZES)):
        out[name] = torch.where(empty, len(values), getattr(scenes, name).gather(1, slot))
    return out
