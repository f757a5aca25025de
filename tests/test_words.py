"""attnlib.data.words: word lists, rendering, determinism, the scene-text loader."""

import numpy as np
import pytest
import torch
from PIL import Image

from attnlib.data.words import (
    ALPHABET,
    FONT_FILES,
    WordImages,
    _augment,
    english_words,
    font_paths,
    load_scene_text,
    make_words,
    random_strings,
    render_words,
    split_words,
)

CLEAN = dict(rotation=0.0, shear=0.0, blur=0.0, texture=0.0, noise=0.0)


def test_fonts_ship_with_matplotlib():
    paths = font_paths()
    assert len(paths) == len(FONT_FILES) and all(p.is_file() for p in paths)


def test_word_list_and_split():
    words = english_words()
    assert len(words) > 800 and words == sorted(set(words))
    assert all(3 <= len(w) <= 8 and set(w) <= set(ALPHABET) for w in words)
    assert all(len(w) <= 5 for w in english_words(3, 5))
    train, val, test = split_words(words, 0.2, 0.1)
    assert not set(train) & set(test) and not set(train) & set(val) and not set(val) & set(test)
    assert len(train) + len(val) + len(test) == len(words)
    assert abs(len(test) - 0.2 * len(words)) <= 1 and abs(len(val) - 0.1 * len(words)) <= 1
    assert split_words(words, 0.2, 0.1) == (train, val, test)  # fixed, not random per call
    # validation is carved from the training side: the test words do not depend on val_fraction
    assert split_words(words, 0.2, 0.05)[2] == test


def test_random_strings_lengths_and_determinism():
    strings = random_strings(500, 2, 6, seed=3)
    assert all(2 <= len(s) <= 6 and set(s) <= set(ALPHABET) for s in strings)
    assert {len(s) for s in strings} == set(range(2, 7))
    assert strings == random_strings(500, 2, 6, seed=3) and strings != random_strings(500, 2, 6, seed=4)


def test_make_words_is_deterministic_and_labels_come_from_the_split():
    a = make_words(40, seed=5)
    b = make_words(40, seed=5)
    c = make_words(40, seed=6)
    assert torch.equal(a.images, b.images) and a.words == b.words
    assert not torch.equal(a.images, c.images)
    assert a.images.shape == (40, 1, 32, 96) and a.images.dtype == torch.float32
    assert 0.0 <= a.images.min() and a.images.max() <= 1.0
    train, val, test = split_words(english_words())
    assert set(a.words) <= set(train)
    held_out = make_words(40, split="test", seed=5)
    assert set(held_out.words) <= set(test)
    assert set(make_words(40, split="val", seed=5).words) <= set(val)
    with pytest.raises(ValueError, match="split"):
        make_words(4, split="validation")
    rnd = make_words(40, source="random", height=24, width=72, seed=5)
    assert rnd.images.shape == (40, 1, 24, 72) and rnd.words != a.words
    assert ((rnd.fonts >= 0) & (rnd.fonts < len(FONT_FILES))).all()


def test_rendered_ink_matches_the_word():
    # Clean renderings: the label is what is drawn. Longer words cover more columns; different words
    # differ; the same word in the same font and seed gives the same image.
    kwargs = dict(fonts=(6,), sizes=(18,), spacing=(1.0, 1.0), **CLEAN)
    short, long = render_words(["ill", "mmmmmmm"], seed=0, **kwargs).images
    ink = lambda img: int(((img[0] - img[0].median()).abs() > 0.2).any(0).sum())  # noqa: E731
    assert ink(long) > 2 * ink(short)
    one = render_words(["cat", "dog", "cat"], seed=1, **kwargs)
    assert one.words == ["cat", "dog", "cat"]
    mask = lambda img: (img[0] - img[0].median()).abs() > 0.2  # noqa: E731
    assert (mask(one.images[0]) != mask(one.images[1])).sum() > 20


def test_every_font_inks_the_same_share_of_the_height():
    """The text height is set by the alphabet's ink, not the font's line box: STIX's line box is 1.8x its
    ink (room for mathematical symbols), DejaVu's 1.3x, and scaling the line box drew STIX letters at about
    60 % of DejaVu's height. Same seed: the same height draw for every font."""
    heights = []
    for font in range(len(FONT_FILES)):
        image = render_words(["bdpqy"], height=32, width=96, seed=4, fonts=(font,), **CLEAN).images[0, 0]
        rows = ((image - image.median()).abs() > 0.2).any(1).nonzero().flatten()
        heights.append(int(rows.max() - rows.min() + 1))
    assert max(heights) - min(heights) <= 3, heights
    assert 0.55 * 32 <= min(heights) and max(heights) <= 0.9 * 32, heights


def test_shear_is_in_pixels_per_pixel():
    """A vertical stroke sheared by up to ``shear`` leans at most ``shear`` pixels per row, on wide images too."""
    ink = torch.zeros(200, 1, 32, 96)
    ink[..., 47:49] = 1.0
    images = _augment(ink, seed=0, rotation=0.0, shear=0.15, blur=0.0, texture=0.0, noise=0.0)
    rows = torch.arange(4, 28, dtype=torch.float32)  # away from the top and bottom edges
    deviation = (images[:, 0, 4:28] - images[:, 0, 4:28].median(-1, keepdim=True).values).abs()
    column = (deviation * torch.arange(96.0)).sum(-1) / deviation.sum(-1)  # (200, rows): centre of the stroke
    centred = rows - rows.mean()
    slope = ((column - column.mean(-1, keepdim=True)) * centred).sum(-1) / (centred**2).sum()
    assert slope.abs().max() <= 0.15 + 0.02
    assert slope.abs().max() >= 0.12  # the range is used, not shrunk


def test_blurred_words_keep_their_contrast():
    """Blur spreads a thin stroke but it keeps the contrast of a thick one (same seed: same grey levels)."""
    thin, thick = torch.zeros(8, 1, 32, 96), torch.zeros(8, 1, 32, 96)
    thin[..., 10:20, 30:31] = 1.0  # a 1-pixel stroke, which a blur of sigma ~1 alone would fade to ~0.4
    thick[..., 10:20, 30:40] = 1.0
    options = dict(seed=3, rotation=0.0, shear=0.0, blur=1.0, texture=0.0, noise=0.0)
    contrast = lambda img: (img - img[..., :, :5].mean((-1, -2), keepdim=True)).abs().amax((1, 2, 3))  # noqa: E731
    torch.testing.assert_close(contrast(_augment(thin, **options)), contrast(_augment(thick, **options)))


def test_generation_is_fast():
    import time

    start = time.perf_counter()
    make_words(1000, seed=0)
    assert time.perf_counter() - start < 15  # a few seconds on an idle core


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: make_words(4, source="klingon"), "source"),
        (lambda: make_words(4, split="dev"), "split"),
        (lambda: make_words(-1), "n"),
        (lambda: render_words(["Hello"]), "words"),
        (lambda: render_words(["ok"], noise=0.9), "noise"),
        (lambda: render_words(["ok"], fonts=(99,)), "fonts"),
        (lambda: render_words(["ok"], height=20, width=10), "width"),
        (lambda: split_words(["a", "b"], 1.5), "test_fraction"),
        (lambda: english_words(5, 3), "min_len"),
        (lambda: random_strings(3, 0, 2), "min_len"),
    ],
)
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_scene_text_loader_on_a_fixture(tmp_path):
    folder = tmp_path / "crops"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate([(40, 20), (120, 30), (64, 64)]):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{i}.png")
    labels = tmp_path / "labels.txt"
    labels.write_text("# IIIT5k-style crops\ncrops/0.png Hello\n\ncrops/1.png WORLD\ncrops/2.png  OCR \n")
    data = load_scene_text(labels, height=32, width=96)
    assert data.words == ["hello", "world", "ocr"]
    assert data.images.shape == (3, 1, 32, 96) and 0 <= data.images.min() and data.images.max() <= 1
    assert (data.fonts == -1).all()
    assert load_scene_text(labels, lowercase=False).words == ["Hello", "WORLD", "OCR"]
    other = tmp_path / "elsewhere.txt"
    other.write_text("0.png abc\n")
    assert load_scene_text(other, root=folder).words == ["abc"]
    bad = tmp_path / "bad.txt"
    bad.write_text("crops/0.png\n")
    with pytest.raises(ValueError, match="label_file .*line 1"):
        load_scene_text(bad)
    with pytest.raises(ValueError, match="label_file"):
        load_scene_text(tmp_path / "missing.txt")


def _crops(tmp_path, names):
    """Write small random crops of different sizes under ``tmp_path``; return their folder."""
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (20 + 5 * i, 40 + 10 * i, 3), dtype=np.uint8)).save(path)
    return tmp_path


def test_scene_text_loader_reads_icdar_word_ground_truth(tmp_path):
    # ICDAR 2013 / 2015 word recognition: "word_N.png, "label"", a UTF-8 byte-order mark (2015), CRLF line ends,
    # commas and escaped quotes inside the label, labels with spaces and punctuation
    _crops(tmp_path, [f"word_{i}.png" for i in range(1, 7)])
    gt = tmp_path / "gt.txt"
    lines = [
        'word_1.png, "Tiredness"',
        'word_2.png, "kills"',
        'word_3.png, "A,B"',
        'word_4.png, "\\"QUOTED\\""',
        'word_5.png, "say ""hi"""',
        'word_6.png, "New York"',
    ]
    gt.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    assert gt.read_bytes().startswith(b"\xef\xbb\xbf")
    data = load_scene_text(gt, lowercase=False)
    assert data.words == ["Tiredness", "kills", "A,B", '"QUOTED"', 'say "hi"', "New York"]
    assert data.images.shape == (6, 1, 32, 96)
    assert load_scene_text(gt, format="icdar").words[0] == "tiredness"
    assert load_scene_text(gt).words[:2] == ["tiredness", "kills"]  # auto-detected
    # the whitespace reader would have kept the comma in the path: forcing it fails on the path, naming the line
    with pytest.raises(ValueError, match="line 1: image .*word_1.png,"):
        load_scene_text(gt, format="space")


def test_scene_text_loader_reads_tab_separated_lists(tmp_path):
    _crops(tmp_path, ["img/a b.png", "img/c.png"])
    labels = tmp_path / "list.tsv"
    labels.write_text("img/a b.png\tTwo Words\nimg/c.png\tx-ray\n")
    data = load_scene_text(labels)
    assert data.words == ["two words", "x-ray"]
    assert load_scene_text(labels, format="tab").words == data.words


def test_scene_text_loader_reads_iiit5k_style_lists_with_a_bom(tmp_path):
    _crops(tmp_path, ["test/1_1.png", "test/1_2.png"])
    labels = tmp_path / "test.txt"
    labels.write_bytes("test/1_1.png YOU\ntest/1_2.png HOUSE\n".encode("utf-8-sig"))
    assert load_scene_text(labels).words == ["you", "house"]


@pytest.mark.parametrize(
    ("fmt", "content", "expected"),
    [
        # (auto-detection reads these two as 'path label' lists, so only the explicit format refuses them)
        ("icdar only", 'word_1.png "no comma"\n', "line 1 must read 'path, \"label\"'"),
        ("icdar only", ', "label"\n', "line 1 must read 'path, \"label\"'"),
        ("icdar", 'word_1.png, "Tiredness"\nword_1.png, "open\n', "line 2 must read 'path, \"label\"'"),
        ("icdar", 'word_1.png, "ok"\n\nword_1.png, "a" extra\n', "line 3 must read 'path, \"label\"'"),
        ("icdar", 'word_1.png, ""\n', "line 1 must read 'path, \"label\"'"),
        ("tab", "word_1.png\tok\nword_1.png no-tab\n", "line 2 must read 'path<TAB>label'"),
        ("tab", "word_1.png\t \n", "line 1 must read 'path<TAB>label'"),
        ("space", "word_1.png ok\nword_1.png\n", "line 2 must read 'path label'"),
    ],
)
def test_scene_text_loader_names_file_line_and_format_of_a_bad_record(tmp_path, fmt, content, expected):
    _crops(tmp_path, ["word_1.png"])
    labels = tmp_path / "gt.txt"
    labels.write_text(content)
    for chosen in [fmt.split()[0]] if fmt.endswith("only") else ["auto", fmt]:
        with pytest.raises(ValueError, match="gt.txt") as info:
            load_scene_text(labels, format=chosen)
        assert expected in str(info.value)


def test_scene_text_loader_refuses_an_unknown_format(tmp_path):
    _crops(tmp_path, ["word_1.png"])
    (tmp_path / "gt.txt").write_text("word_1.png a\n")
    with pytest.raises(ValueError, match="format"):
        load_scene_text(tmp_path / "gt.txt", format="csv")


# ----------------------------------------------------------------------------- bad input (issue 24)

_NAN = float("nan")

_BAD_WORDS = {
    "english min_len 0": (lambda: english_words(0, 4), "min_len"),
    "english max_len float": (lambda: english_words(3, 4.5), "max_len"),
    "split words str": (lambda: split_words("abcdef"), "words"),
    "split test_fraction nan": (lambda: split_words(["ab", "cd", "ef", "gh"], test_fraction=_NAN), "test_fraction"),
    "split val_fraction 1": (lambda: split_words(["ab", "cd", "ef", "gh"], val_fraction=1.0), "val_fraction"),
    "split seed None": (lambda: split_words(["ab", "cd", "ef", "gh"], seed=None), "seed"),
    "random seed float": (lambda: random_strings(3, seed=0.5), "seed"),
    "random n -1": (lambda: random_strings(-1), "n"),
    "random n float": (lambda: random_strings(2.0), "n"),
    "render words str": (lambda: render_words("hello"), "words"),
    "render word int": (lambda: render_words(["ab", 3]), "words"),
    "render empty word": (lambda: render_words(["ab", ""]), "words"),
    "render upper case": (lambda: render_words(["Ab"]), "words"),
    "render rotation nan": (lambda: render_words(["ab"], rotation=_NAN), "rotation"),
    "render shear nan": (lambda: render_words(["ab"], shear=_NAN), "shear"),
    "render shear inf": (lambda: render_words(["ab"], shear=float("inf")), "shear"),
    "render blur -1": (lambda: render_words(["ab"], blur=-1.0), "blur"),
    "render texture nan": (lambda: render_words(["ab"], texture=_NAN), "texture"),
    "render noise nan": (lambda: render_words(["ab"], noise=_NAN), "noise"),
    "render noise 0.5": (lambda: render_words(["ab"], noise=0.5), "noise"),
    "render spacing nan": (lambda: render_words(["ab"], spacing=(0.0, _NAN)), "spacing"),
    "render spacing reversed": (lambda: render_words(["ab"], spacing=(3.0, 0.0)), "spacing"),
    "render fonts out of range": (lambda: render_words(["ab"], fonts=(len(FONT_FILES),)), "fonts"),
    "render sizes float": (lambda: render_words(["ab"], sizes=(12.5,)), "sizes"),
    "render height 4": (lambda: render_words(["ab"], height=4), "height"),
    "render width < height": (lambda: render_words(["ab"], height=32, width=16), "width"),
    "render height float": (lambda: render_words(["ab"], height=32.0), "height"),
    "make source typo": (lambda: make_words(2, source="englsh"), "source"),
    "make split typo": (lambda: make_words(2, split="validation"), "split"),
    "make n -1": (lambda: make_words(-1), "n"),
    "load label_file None": (lambda: load_scene_text(None), "label_file"),
    "make render option typo": (lambda: make_words(2, rotaton=3.0), "rotaton"),
    "make rotation nan": (lambda: make_words(2, rotation=_NAN), "rotation"),
    # issue 24 follow-up
    "make n 0": (lambda: make_words(0), "n"),
    "random n 0": (lambda: random_strings(0), "n"),
    "random seed -1": (lambda: random_strings(3, seed=-1), "seed"),
    "render seed -1": (lambda: render_words(["ab"], seed=-1), "seed"),
    "split seed -1": (lambda: split_words(["ab", "cd", "ef", "gh"], seed=-1), "seed"),
    "make seed -1": (lambda: make_words(2, seed=-1), "seed"),
    "render empty list": (lambda: render_words([]), "words"),
    "load lowercase str": (lambda: load_scene_text("labels.txt", lowercase="no"), "lowercase"),
    "load lowercase 2": (lambda: load_scene_text("labels.txt", lowercase=2), "lowercase"),
    "record images list": (lambda: _word_images(images=_WORDS.images.tolist()), "images"),
    "record images rgb": (lambda: _word_images(images=_WORDS.images.expand(-1, 3, -1, -1)), "images"),
    "record images nan": (lambda: _word_images(images=_WORDS.images * _NAN), "images"),
    "record images int": (lambda: _word_images(images=_WORDS.images.long()), "images"),
    "record words str": (lambda: _word_images(words="ab"), "words"),
    "record words ints": (lambda: _word_images(words=[0, 1]), "words"),
    "record words short": (lambda: _word_images(words=["ab"]), "words"),
    "record fonts out of range": (lambda: _word_images(fonts=_WORDS.fonts + len(FONT_FILES)), "fonts"),
    "record fonts -2": (lambda: _word_images(fonts=_WORDS.fonts * 0 - 2), "fonts"),
    "record fonts float": (lambda: _word_images(fonts=_WORDS.fonts.float()), "fonts"),
}

_WORDS = render_words(["ab", "cd"], height=16, width=32, seed=0)


def _word_images(**fields):
    """A WordImages with ``fields`` replacing those of ``_WORDS``."""
    return WordImages(**{"images": _WORDS.images, "words": _WORDS.words, "fonts": _WORDS.fonts, **fields})


def test_word_images_accept_loaded_crops_and_empty_sets():
    crops = WordImages(torch.rand(2, 1, 8, 16), ["ab", "Hi!"], torch.full((2,), -1))  # loaded crops: font -1
    assert len(crops) == 2
    assert len(WordImages(torch.rand(0, 1, 8, 16), [], torch.zeros(0, dtype=torch.long))) == 0


@pytest.mark.parametrize("case", sorted(_BAD_WORDS))
def test_bad_input_is_refused_naming_the_argument(case):
    call, name = _BAD_WORDS[case]
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "lists no images"),
        ("# only a comment\n\n", "lists no images"),
        ("crops/0.png\n", "line 1 must read 'path label'"),
        ("crops/0.png ok\ncrops/missing.png word\n", "line 2: image .*missing.png"),
        ("crops/corrupt.png word\n", "line 1: image .*corrupt.png"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_scene_text_loader_names_the_file_and_line(tmp_path, content, message):
    folder = tmp_path / "crops"
    folder.mkdir()
    Image.fromarray(np.zeros((20, 40), dtype=np.uint8)).save(folder / "0.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG truncated")
    labels = tmp_path / "labels.txt"
    labels.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match="labels.txt") as info:
        load_scene_text(labels)
    assert info.match(message)
