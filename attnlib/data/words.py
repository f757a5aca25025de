"""Synthetic word images for attention OCR (Chapter 9), and a loader for scene-text crops.

Words are rendered offline with the TrueType fonts that matplotlib ships (DejaVu and STIX families), in
several sizes, with random letter spacing, a small rotation and shear, blur, background texture, contrast
and noise. Two sources of words separate vision from the language model a decoder learns:

* ``"english"``: a built-in list of about a thousand common English words of 3 to 8 letters
  (:func:`english_words`), split once into training, validation and held-out test words
  (:func:`split_words`);
* ``"random"``: uniformly random lower-case strings (no spelling regularities at all).

Rendering is fast: each glyph is drawn once per font and size (cached), words are composed by pasting
glyph masks, and the photometric augmentations run batched in torch. Everything is deterministic from
``seed``. :func:`load_scene_text` reads real crops listed in the published formats: IIIT5k / SVT-style
``path label`` lists, tab-separated lists, and the ICDAR 2013 / 2015 word ground truth (``word_1.png, "label"``).
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from attnlib import checks
from attnlib.data.splits import SPLITS, check_split, split_rng

__all__ = [
    "ALPHABET",
    "FONT_FILES",
    "LABEL_FORMATS",
    "SOURCES",
    "WordImages",
    "english_words",
    "font_paths",
    "load_scene_text",
    "make_words",
    "random_strings",
    "render_words",
    "split_words",
]

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
SOURCES = ("english", "random")
#: Fonts from ``matplotlib/mpl-data/fonts/ttf`` (sans, serif, mono; regular, bold, slanted).
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
)


@dataclass
class WordImages:
    """A set of word images: ``images (N, 1, H, W)`` in ``[0, 1]``, their ``words`` (lower case) and the
    ``fonts (N,)`` index into :data:`FONT_FILES` each was rendered with (``-1`` for loaded crops)."""

    images: torch.Tensor
    words: list[str]
    fonts: torch.Tensor

    def __post_init__(self) -> None:
        checks.tensor(self.images, "images", ndim=4, dtype="float")
        if self.images.shape[1] != 1:
            raise ValueError(f"images must be (N, 1, H, W) grayscale, got {tuple(self.images.shape)}")
        checks.finite(self.images, "images")
        _word_list(self.words, "words")
        checks.tensor(self.fonts, "fonts", ndim=1, dtype="int")
        checks.ids_in_range(self.fonts, len(FONT_FILES), "fonts", allow=(-1,))
        checks.same_length(images=self.images, words=self.words, fonts=self.fonts)

    def __len__(self) -> int:
        return len(self.words)


def font_paths() -> list[Path]:
    """Paths of :data:`FONT_FILES` inside matplotlib's data folder."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [folder / name for name in FONT_FILES]


def english_words(min_len: int = 3, max_len: int = 8) -> list[str]:
    """The built-in English word list (sorted, unique) restricted to ``min_len..max_len`` letters."""
    checks.positive_int(min_len, "min_len")
    checks.positive_int(max_len, "max_len")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"min_len and max_len must satisfy 1 <= min_len <= max_len, got {min_len}, {max_len}")
    return sorted({w for w in _WORDS.split() if min_len <= len(w) <= max_len})


def split_words(
    words: list[str], test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str], list[str]]:
    """Split a word list into disjoint ``(train, val, test)`` lists.

    ``test`` holds ``test_fraction`` of the words and ``val`` ``val_fraction`` of them, carved from the
    training side: the test words are the same whatever ``val_fraction`` is. Each list is sorted.
    """
    _word_list(words, "words")
    _seed(seed)
    checks.probability(test_fraction, "test_fraction")
    checks.probability(val_fraction, "val_fraction")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not 0.0 < val_fraction < 1.0 or test_fraction + val_fraction >= 1.0:
        raise ValueError(f"val_fraction must be in (0, 1 - test_fraction), got {val_fraction}")
    if len(words) < 3:
        raise ValueError(f"words must hold at least three words, got {len(words)}")
    order = np.random.default_rng(seed).permutation(len(words))
    n_test = max(1, round(test_fraction * len(words)))
    n_val = max(1, round(val_fraction * len(words)))
    if n_test + n_val >= len(words):
        raise ValueError(f"{len(words)} words leave none for training at these fractions")
    test = sorted(words[i] for i in order[:n_test])
    val = sorted(words[i] for i in order[n_test : n_test + n_val])
    train = sorted(words[i] for i in order[n_test + n_val :])
    return train, val, test


def random_strings(n: int, min_len: int = 3, max_len: int = 8, seed: int = 0) -> list[str]:
    """``n >= 1`` strings of uniformly random lengths ``min_len..max_len`` and uniformly random letters."""
    checks.positive_int(n, "n")
    _seed(seed)
    checks.positive_int(min_len, "min_len")
    checks.positive_int(max_len, "max_len")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"min_len and max_len must satisfy 1 <= min_len <= max_len, got {min_len}, {max_len}")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    letters = rng.integers(0, len(ALPHABET), size=(n, max_len))
    return ["".join(ALPHABET[j] for j in row[:length]) for row, length in zip(letters, lengths)]


def _seed(seed: object) -> None:
    """ValueError unless ``seed`` is a non-negative int (``None`` would draw a fresh, irreproducible stream;
    numpy refuses a negative seed without naming it)."""
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def _word_list(words: object, name: str) -> None:
    """ValueError unless ``words`` is a list of strings (one string alone would be read letter by letter)."""
    if isinstance(words, (str, bytes)) or not isinstance(words, (list, tuple)):
        raise ValueError(f"{name} must be a list of strings, got {type(words).__name__}")
    for i, w in enumerate(words):
        if not isinstance(w, str):
            raise ValueError(f"{name}[{i}] must be a string, got {type(w).__name__}")


@functools.lru_cache(maxsize=128)
def _glyphs(font: int, size: int) -> tuple[dict[str, tuple[np.ndarray, float]], int]:
    """Per letter: its mask ``(ink_height, w)`` (uint8, drawn at x = 2) and its advance; and ``ink_height``.

    Every mask spans the rows the lower-case alphabet inks, from the top of the tallest ascender to the
    bottom of the lowest descender, not the font's line box: fonts with large line metrics (STIX reserves
    room for tall mathematical symbols, so its letters fill only 18 of 32 rows at 20 pt, DejaVu's 19 of 24)
    would otherwise be drawn much smaller than the others once the line is scaled to the image height.
    """
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(font_paths()[font]), size)
    ascent, descent = face.getmetrics()
    line = ascent + descent
    _, top, _, bottom = face.getbbox(ALPHABET)  # the alphabet's ink rows, in the same frame as text((x, 0))
    top, bottom = max(int(top), 0), min(int(math.ceil(bottom)), line)
    glyphs = {}
    for ch in ALPHABET:
        left, _, right, _ = face.getbbox(ch)
        canvas = Image.new("L", (int(math.ceil(right - min(left, 0))) + 4, line))
        ImageDraw.Draw(canvas).text((2 - min(left, 0), 0), ch, font=face, fill=255)
        glyphs[ch] = (np.asarray(canvas)[top:bottom], float(face.getlength(ch)))
    return glyphs, bottom - top


def _compose(word: str, font: int, size: int, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Paste the glyphs of ``word`` along a baseline; return the ink mask cropped to its columns."""
    glyphs, ink_rows = _glyphs(font, size)
    steps = [glyphs[ch][1] + spacing + rng.normal(0.0, 0.4) for ch in word]
    xs = np.concatenate([[0.0], np.cumsum(steps[:-1])])
    width = int(math.ceil(xs[-1] + glyphs[word[-1]][0].shape[1])) + 2
    canvas = np.zeros((ink_rows, width), dtype=np.uint8)
    for ch, x in zip(word, xs):
        mask = glyphs[ch][0]
        x0 = max(int(round(x)), 0)
        np.maximum(canvas[:, x0 : x0 + mask.shape[1]], mask[:, : width - x0], out=canvas[:, x0 : x0 + mask.shape[1]])
    cols = np.flatnonzero(canvas.max(0) > 0)
    return canvas[:, cols[0] : cols[-1] + 1] if len(cols) else canvas


def _check_size(height: int, width: int) -> None:
    checks.positive_int(height, "height")
    checks.positive_int(width, "width")
    if height < 8:
        raise ValueError(f"height must be >= 8, got {height}")
    if width < height:
        raise ValueError(f"width must be >= height ({height}), got {width}")


def render_words(
    words: list[str],
    height: int = 32,
    width: int = 96,
    seed: int = 0,
    *,
    fonts: tuple[int, ...] | None = None,
    sizes: tuple[int, ...] | None = None,
    spacing: tuple[float, float] = (-0.5, 3.0),
    rotation: float = 3.0,
    shear: float = 0.15,
    blur: float = 1.0,
    texture: float = 0.25,
    noise: float = 0.06,
) -> WordImages:
    """Render ``words`` as grayscale images ``(N, 1, height, width)`` in ``[0, 1]``.

    Per word: a font from ``fonts`` (indices into :data:`FONT_FILES`, default all) and a size from
    ``sizes`` (points; default about half to three quarters of ``height``), letter spacing drawn from
    ``spacing`` (pixels, plus a small per-letter jitter), a random text height (the alphabet's ink, ascender
    to descender, fills 60 to 85 % of ``height`` in every font) and position (the word is squeezed
    horizontally when it would not fit). Then, batched: a rotation up to ``rotation`` degrees and
    a shear up to ``shear``, Gaussian blur with sigma up to ``blur`` pixels, a smooth background texture of
    amplitude ``texture``, random text/background grey levels (a quarter of the images light on dark), and
    pixel noise with standard deviation up to ``noise``. Deterministic from ``seed``.
    """
    from PIL import Image

    _word_list(words, "words")
    if not words:
        raise ValueError("words must hold at least one word, got an empty list")
    _check_size(height, width)
    _seed(seed)
    fonts = tuple(range(len(FONT_FILES))) if fonts is None else tuple(fonts)
    if not fonts or any(not isinstance(f, int) or isinstance(f, bool) or not 0 <= f < len(FONT_FILES) for f in fonts):
        raise ValueError(f"fonts must be non-empty indices into FONT_FILES (0..{len(FONT_FILES) - 1}), got {fonts}")
    sizes = tuple(range(height // 2, 3 * height // 4 + 1, 2)) if sizes is None else tuple(sizes)
    if not sizes or any(not isinstance(z, int) or isinstance(z, bool) for z in sizes) or min(sizes) < 4:
        raise ValueError(f"sizes must be non-empty int point sizes >= 4, got {sizes}")
    if (
        not isinstance(spacing, (tuple, list))
        or len(spacing) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in spacing)
        or spacing[0] > spacing[1]
    ):
        raise ValueError(f"spacing must be a finite range (low, high) with low <= high, got {spacing!r}")
    for name, value in (("rotation", rotation), ("shear", shear), ("blur", blur), ("texture", texture)):
        checks.non_negative_float(value, name)  # NaN or inf would make NaN images
    if checks.non_negative_float(noise, "noise") >= 0.5:
        raise ValueError(f"noise must be in [0, 0.5), got {noise}")
    bad = [w for w in words if not w or set(w) - set(ALPHABET)]
    if bad:
        raise ValueError(f"words must be non-empty strings of lower-case letters a-z, got {bad[:3]!r}")
    rng = np.random.default_rng(seed)
    n = len(words)
    ink = np.zeros((n, height, width), dtype=np.float32)
    font_ids = rng.choice(fonts, size=n)
    for i, word in enumerate(words):
        mask = _compose(word, int(font_ids[i]), int(rng.choice(sizes)), rng.uniform(*spacing), rng)
        ink_rows, w = mask.shape
        sy = height * rng.uniform(0.6, 0.85) / ink_rows  # the alphabet's ink fills 60-85 % of the height
        sx = min(sy * rng.uniform(0.85, 1.15), (width - 2) / w)
        new_w, new_h = max(1, round(w * sx)), max(1, round(ink_rows * sy))
        small = np.asarray(Image.fromarray(mask).resize((new_w, new_h), Image.BILINEAR), dtype=np.float32)
        x0 = rng.integers(0, width - new_w + 1)
        y0 = rng.integers(0, height - new_h + 1)
        ink[i, y0 : y0 + new_h, x0 : x0 + new_w] = small / 255.0
    images = _augment(torch.from_numpy(ink)[:, None], seed, rotation, shear, blur, texture, noise)
    return WordImages(images, list(words), torch.from_numpy(font_ids.astype(np.int64)))


def _augment(
    ink: torch.Tensor, seed: int, rotation: float, shear: float, blur: float, texture: float, noise: float
) -> torch.Tensor:
    """Geometric and photometric augmentation of ink masks ``(N, 1, H, W)``, batched."""
    g = torch.Generator().manual_seed(seed)
    n, _, height, width = ink.shape
    if n == 0:
        return ink
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    angle = (2 * u(n) - 1) * math.radians(rotation)
    sh = (2 * u(n) - 1) * shear
    cos, sin, aspect = torch.cos(angle), torch.sin(angle), width / height
    # A rotation and a shear in pixels (x moves by sh pixels per pixel of y), written in affine_grid's
    # normalised coordinates (x spans W, y spans H): both y-terms of the x-row are divided by the aspect.
    theta = torch.stack(
        [
            torch.stack([cos, (sh - sin) / aspect, torch.zeros(n)], -1),
            torch.stack([sin * aspect, cos, torch.zeros(n)], -1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(ink.shape), align_corners=False)
    ink = F.grid_sample(ink, grid, align_corners=False, padding_mode="zeros")
    if blur > 0:
        sigma = 0.3 + u(n) * blur
        taps = torch.arange(-2, 3, dtype=torch.float32)
        kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
        kernel = kernel / kernel.sum(-1, keepdim=True)  # (N, 5)
        flat = ink.reshape(1, n, height, width)
        flat = F.conv2d(F.pad(flat, (2, 2, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=n)
        flat = F.conv2d(F.pad(flat, (0, 0, 2, 2), mode="replicate"), kernel[:, None, :, None], groups=n)
        # Blur spreads thin strokes: rescale so that the darkest stroke keeps its full contrast (a
        # blurred word stays legible instead of fading into the background texture).
        ink = flat.reshape(n, 1, height, width)
        ink = ink / ink.amax((1, 2, 3), keepdim=True).clamp(min=1e-6)
    background = 0.55 + 0.4 * u(n, 1, 1, 1)
    foreground = background - (0.35 + (background - 0.35) * u(n, 1, 1, 1))
    images = background + (foreground - background) * ink.clamp(0, 1)
    if texture > 0:
        smooth = F.interpolate(
            u(n, 1, 3, max(3, width // 8)), size=(height, width), mode="bilinear", align_corners=False
        )
        images = images + texture * (smooth - 0.5)
    invert = u(n, 1, 1, 1) < 0.25
    images = torch.where(invert, 1 - images, images)
    images = images + noise * u(n, 1, 1, 1) * torch.randn(n, 1, height, width, generator=g)
    return images.clamp(0, 1)


def make_words(
    n: int,
    source: str = "english",
    split: str = "train",
    height: int = 32,
    width: int = 96,
    min_len: int = 3,
    max_len: int = 8,
    test_fraction: float = 0.2,
    seed: int = 0,
    val_fraction: float = 0.1,
    **render: float,
) -> WordImages:
    """``n >= 1`` rendered words from ``source`` (one of :data:`SOURCES`) for ``split`` (``"train"``, ``"val"``
    or ``"test"``).

    English words are drawn uniformly from the ``split`` list of :func:`split_words` (a fixed split, the
    same for every ``seed``, so validation and test words are never seen in training); random strings,
    word choice and rendering come from a stream keyed by ``(seed, source, split)``
    (:func:`attnlib.data.splits.split_rng`). ``render`` goes to :func:`render_words`.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    check_split(split)
    checks.positive_int(n, "n")
    _seed(seed)
    allowed = ("fonts", "sizes", "spacing", "rotation", "shear", "blur", "texture", "noise")
    for key in render:
        if key not in allowed:
            raise ValueError(f"{key} is not a rendering option; render must be among {allowed}")
    rng = split_rng(seed, split, stream=SOURCES.index(source))
    if source == "english":
        pool = split_words(english_words(min_len, max_len), test_fraction, val_fraction)[SPLITS.index(split)]
        words = [pool[i] for i in rng.integers(0, len(pool), size=n)]
    else:
        words = random_strings(n, min_len, max_len, seed=int(rng.integers(2**31)))
    return render_words(words, height, width, seed=int(rng.integers(2**31)), **render)


#: Label-file formats of :func:`load_scene_text`.
LABEL_FORMATS = ("auto", "space", "tab", "icdar")
_EXPECTED = {
    "space": "'path label' (IIIT5k / SVT style: the path, white space, the label)",
    "tab": "'path<TAB>label' (tab-separated list)",
    "icdar": "'path, \"label\"' (ICDAR 2013 / 2015 word ground truth: the path, a comma, the quoted label)",
}


def _unquote(text: str) -> tuple[str, str] | None:
    """Read a double-quoted label at the start of ``text``: ``(label, rest)``, or ``None`` if no closing quote.

    Inside the quotes ``\\"`` and ``""`` stand for a quote and ``\\\\`` for a backslash (ICDAR files use the
    backslash; CSV writers double the quote); a comma is an ordinary character."""
    chars, i = [], 1
    while i < len(text):
        ch = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if ch == "\\" and nxt in ('"', "\\"):
            chars.append(nxt)
            i += 2
        elif ch == '"' and nxt == '"' and i + 2 < len(text):
            chars.append('"')
            i += 2
        elif ch == '"':
            return "".join(chars), text[i + 1 :]
        else:
            chars.append(ch)
            i += 1
    return None


def _parse_record(line: str, fmt: str) -> tuple[str, str] | None:
    """``(path, label)`` of one label-file line in format ``fmt`` (not ``auto``), or ``None`` if malformed."""
    if fmt == "tab":
        path, sep, label = line.partition("\t")
        path, label = path.strip(), label.strip()
        return (path, label) if sep and path and label else None
    if fmt == "space":
        parts = line.split(maxsplit=1)
        return (parts[0], parts[1].strip()) if len(parts) == 2 else None
    path, sep, rest = line.partition(",")
    path, rest = path.strip(), rest.strip()
    if not sep or not path or not rest:
        return None
    if not rest.startswith('"'):  # an unquoted label: the rest of the line
        return path, rest
    quoted = _unquote(rest)
    if quoted is None or quoted[1].strip() or not quoted[0]:
        return None  # no closing quote, text after it, or an empty label
    return path, quoted[0]


def _detect_format(line: str) -> str:
    """The format of a label file, guessed from its first record: a tab makes it ``tab``, a first field ending
    in a comma (``word_1.png, "label"``) ``icdar``, anything else ``space``."""
    if "\t" in line:
        return "tab"
    first = line.split(maxsplit=1)[0] if line.split() else ""
    return "icdar" if "," in first and not first.startswith(",") else "space"


def load_scene_text(
    label_file: str | Path,
    root: str | Path | None = None,
    height: int = 32,
    width: int = 96,
    lowercase: bool = True,
    format: str = "auto",
) -> WordImages:
    """Load cropped word images listed in a label file, in one of the published list formats.

    ``format`` (one of :data:`LABEL_FORMATS`) says how a line reads:

    * ``"space"``: ``path label``, the path, white space, the label (IIIT5k / SVT crop lists);
    * ``"tab"``: ``path<TAB>label``, so that a label may hold spaces;
    * ``"icdar"``: ``path, "label"``, the ICDAR 2013 / 2015 word-recognition ground truth
      (``word_1.png, "Tiredness"``). The label is quoted; inside the quotes a comma is part of the label and
      ``\\"`` (or ``""``) is a quote, ``\\\\`` a backslash. An unquoted label is read to the end of the line;
    * ``"auto"`` (default): guessed from the first record (a tab: ``tab``; a first field ending in a comma:
      ``icdar``; otherwise ``space``), then applied to every line.

    A UTF-8 byte-order mark at the start of the file (the ICDAR 2015 files carry one) is skipped, Windows line
    ends are accepted, and empty lines and lines starting with ``#`` are ignored. Paths are relative to ``root``
    (default: the label file's folder). Images are converted to grayscale and resized to ``(height, width)``;
    labels are lower-cased when ``lowercase``. Labels are kept as written (digits and punctuation included);
    models of this package read only ``a-z``, so filter the words before training or scoring.

    A line that does not read as the format expects, an image that is missing or cannot be decoded, or a file
    that lists no image raises a ValueError naming the file, the line number and what was expected.

    Returns
    -------
    WordImages
        ``images (N, 1, height, width)`` in ``[0, 1]``, the labels, and ``fonts`` all ``-1``.
    """
    from PIL import Image

    _check_size(height, width)
    lowercase = checks.flag(lowercase, "lowercase")
    if not isinstance(label_file, (str, Path)) or root is not None and not isinstance(root, (str, Path)):
        raise ValueError(f"label_file and root must be paths, got {label_file!r} and {root!r}")
    checks.one_of(format, LABEL_FORMATS, "format")
    label_file = Path(label_file)
    if not label_file.is_file():
        raise ValueError(f"label_file {str(label_file)!r} does not exist")
    folder = Path(root) if root is not None else label_file.parent
    try:
        lines = label_file.read_text(encoding="utf-8-sig").splitlines()  # -sig: drop a byte-order mark
    except UnicodeDecodeError as error:
        raise ValueError(f"label_file {str(label_file)!r} is not UTF-8 text: {error}") from None
    images, words = [], []
    for number, raw in enumerate(lines, 1):
        line = raw.strip(" \r\n\ufeff")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if format == "auto":
            format = _detect_format(line)
        record = _parse_record(line, format)
        if record is None:
            raise ValueError(f"label_file {str(label_file)!r} line {number} must read {_EXPECTED[format]}, got {raw!r}")
        path, label = record
        try:
            with Image.open(folder / path) as image:
                gray = image.convert("L").resize((width, height), Image.BILINEAR)
        except OSError as error:  # missing, truncated or not an image (UnidentifiedImageError is an OSError)
            raise ValueError(
                f"label_file {str(label_file)!r} line {number}: image {str(folder / path)!r} cannot be read: {error}"
            ) from None
        images.append(torch.from_numpy(np.asarray(gray, dtype=np.float32) / 255.0))
        words.append(label.lower() if lowercase else label)
    if not images:
        raise ValueError(f"label_file {str(label_file)!r} lists no images (every line is empty or a comment)")
    return WordImages(torch.stack(images)[:, None], words, torch.full((len(words),), -1, dtype=torch.long))


# The built-in English word list: common words of 3 to 8 letters.
_WORDS = """
able about above across act add after again against age ago agree air all allow almost alone along already also
always among amount and angle animal answer any appear apple are area argue arm army around arrive art ask attack
author autumn avoid away baby back bad bag bakery ball banana band bank bar base basic basket bath bear beat beauty
became because become bed been before began begin behind being bell below best better between big bird birth bit
black blood blow blue board boat body bone book born both bottle bottom bought box boy brain branch bread break
bridge bright bring broad broke brother brown build burn busy but buy cake call came camp can candle capital captain
car card care carpet carry case castle cat catch cause cell cent center century chain chair chance change chart
check cherry chief child choose church circle circus city claim class clean clear climb clock close cloth cloud
coast coat coffee cold collect colony color column come common company compare complete contain control cook cookie
cool copper copy corn corner correct cost cotton could count country course cover cow crayon create crop cross crowd
cry current cut dance danger dark daughter day dead deal dear death decide deep degree depend desert design desk
detail develop did die differ dinner direct discuss distant divide doctor does dog dollar done door double down
dragon draw dream dress drink drive drop dry duck during dust duty each eagle ear early earth east easy eat edge
effect egg eight either electric element else end enemy energy engine enough enter equal even evening event ever
every exact example except excite exercise expect fabric face fact fair falcon fall family famous far farm fast fat
father favor fear feed feel feet fell felt few field fig fight figure fill final find fine finger finish fire first
fish fit five flat floor flow flower fly follow food foot for force forest form forward found four free fresh friend
from front frozen fruit full fun galaxy game garden garlic gas gather gave general gentle get ginger girl give glad
glass gold gone good got govern grand grass gray great green grew ground group grow guess guide guitar gun hair half
hall hammer hand happen happy harbor hard has hat have head hear heard heart heat heavy held helmet help her here
high hill him his history hit hold hole home honey hope horse hot hotel hour house how huge human hundred hunt hurry
ice idea inch include indeed industry insect instant iron island its jacket job join joy judge jump jungle just keep
kept kettle key kill kind king kitchen knew know ladder lady lake land language large last late laugh law lay lead
learn least leave led left leg lemon length less let letter level lie life lift light like line liquid list listen
little live lizard locate log lone long look lost lot loud love low machine made magic magnet main major make man
many map marble mark market mass master match matter may meadow mean measure meat meet melody member memory men
metal method middle might mile milk million mind mine minute mirror miss mix modern moment money monkey month moon
more morning most mother motion mount mouth move much muffin museum music must name napkin nation nature near neck
need needle neighbor never new next night nine noise noon nor north nose not note nothing notice noun now number
object observe ocean off offer office often oil old once one only open orange order organ other our out over own
oxygen oyster page paint pair palace panda paper parent park parrot part party pass past path pay peace peanut
pencil people pepper perhaps period person pick picture piece pillow pirate place plain plan plane planet plant play
please plural pocket poem point poor popular port pose position possible post potato pound power practice prepare
present press pretty print probable problem process produce product protect proud prove provide pull push put puzzle
quart queen question quick quiet quite rabbit race radio rail rain raise ran range rather reach read ready real
reason receive record red region remember repeat reply report rest result rich ride right ring rise river road rock
rocket roll room root rope rose round row rub rule run saddle safe said sail salmon salt same sand sat save saw say
scale school science score sea search season seat second secret section see seed seem segment select self sell send
sense sent separate serve set settle seven several shadow shall shape share sharp she sheet shell shine ship shoe
shop shore short should shoulder shout show side sight sign silent silk silver similar simple since sing single
sister sit six size skill skin sky sleep slip slow small smell smile snow soft soil soldier solve some son song soon
sound south space speak special speech speed spell spend spider spoke sponge spot spread spring square stable stand
star start state station stay stead steam steel step stick still stone stood stop store story straight strange
stream street stretch string strong student study subject success such sudden suffix sugar suit summer summit sun
supply support sure surface surprise swim syllable symbol system table tablet tail take talk tall teach team teeth
tell temple ten term test than thank that the thick thin thing think third this those though thought thousand three
through throw thus ticket tie tiger time tiny tire together told tomato tone too took tool top total touch toward
town track trade train travel tree triangle trip trouble truck true try tube tunnel turn turtle twenty two type
under unit until upon use usual valley value vary velvet verb very view village violin visit voice vowel wait walk
wall wallet walnut want war warm was wash watch water wave way weather week weight well went were west whale what
wheel when where which while white who whole whose why wide wife wild will win wind window wing winter wire wise
wish with wizard woman women wonder wood word work world would write written wrong wrote yard year yellow yes yet
yogurt you young your zebra zero
"""
