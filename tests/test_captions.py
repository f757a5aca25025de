"""Tests of attnlib.data.captions: the digit-caption scenes and the Karpathy-split loader."""

import json

import numpy as np
import pytest
import torch

from attnlib.data.captions import (
    DIGIT_CAPTION_VOCAB,
    DIGIT_WORDS,
    RELATIONS,
    KarpathyCaptions,
    Vocabulary,
    load_karpathy_captions,
    make_digit_captions,
)


@pytest.fixture(scope="module")
def scenes():
    return make_digit_captions(300, "train", seed=5)


def test_shapes_and_types(scenes):
    n = len(scenes)
    assert scenes.images.shape == (n, 1, 64, 64) and scenes.images.dtype == torch.float32
    assert scenes.images.min() >= 0 and scenes.images.max() <= 1
    assert scenes.tokens.dtype == torch.int64 and scenes.tokens.shape[0] == n
    assert scenes.boxes.shape == (n, 3, 4) and scenes.labels.shape == (n, 3)
    assert set(scenes.n_objects.tolist()) <= {2, 3}
    assert len(scenes.captions) == n


def test_deterministic_from_seed():
    a = make_digit_captions(40, "test", seed=3)
    b = make_digit_captions(40, "test", seed=3)
    c = make_digit_captions(40, "test", seed=4)
    assert torch.equal(a.images, b.images) and a.captions == b.captions
    assert not torch.equal(a.images, c.images)


def test_captions_match_labels_relations_and_tokens(scenes):
    for i in range(len(scenes)):
        k = int(scenes.n_objects[i])
        words = []
        for j in range(k):
            words.append(DIGIT_WORDS[int(scenes.labels[i, j])])
            if j < k - 1:
                words.extend(RELATIONS[int(scenes.relations[i, j])])
        assert scenes.captions[i] == " ".join(words)
        assert scenes.tokens[i, 0] == DIGIT_CAPTION_VOCAB.start
        assert DIGIT_CAPTION_VOCAB.decode(scenes.tokens[i]) == words
        assert (scenes.labels[i, k:] == -1).all()


def test_geometry_reading_order_relations_and_boxes(scenes):
    boxes = scenes.boxes
    for i in range(len(scenes)):
        k = int(scenes.n_objects[i])
        b = boxes[i, :k]
        assert (b[:, :2] >= 0).all() and (b[:, 2:] <= 64).all()
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        assert (cx[1:] > cx[:-1]).all(), "digits must be captioned left to right"
        for j in range(k - 1):
            dy = float(cy[j + 1] - cy[j])
            rel = RELATIONS[int(scenes.relations[i, j])]
            if rel == ("above",):
                assert dy >= 9
            elif rel == ("below",):
                assert dy <= -9
            else:
                assert abs(dy) <= 4
        for j in range(k):  # ink boxes do not overlap
            for m in range(j + 1, k):
                overlap_x = min(b[j, 2], b[m, 2]) - max(b[j, 0], b[m, 0])
                overlap_y = min(b[j, 3], b[m, 3]) - max(b[j, 1], b[m, 1])
                assert overlap_x <= 0 or overlap_y <= 0
        # every ink pixel lies in some object's box
        ys, xs = torch.nonzero(scenes.images[i, 0] > 0.3, as_tuple=True)
        inside = torch.zeros_like(xs, dtype=torch.bool)
        for j in range(k):
            inside |= (xs >= b[j, 0]) & (xs < b[j, 2]) & (ys >= b[j, 1]) & (ys < b[j, 3])
        assert inside.all()


def test_relations_are_balanced(scenes):
    counts = torch.bincount(scenes.relations[scenes.relations >= 0], minlength=3).float()
    assert (counts / counts.sum() > 0.2).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="n must"):
        make_digit_captions(0)
    with pytest.raises(ValueError, match="canvas_size"):
        make_digit_captions(4, canvas_size=20)
    with pytest.raises(ValueError, match="n_digits"):
        make_digit_captions(4, n_digits=(3, 2))
    with pytest.raises(ValueError, match="split"):
        make_digit_captions(4, split="validation")


def test_vocabulary_roundtrip_and_specials():
    vocab = Vocabulary.from_captions([["a", "dog"], ["a", "cat"], ["a", "dog"]], min_count=2)
    assert vocab.itos[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert vocab.itos[4:] == ["a", "dog"]
    tokens = vocab.encode(["a", "cat", "dog"], max_len=5)
    assert tokens.tolist() == [1, 4, 3, 5, 2, 0, 0]
    assert vocab.decode(tokens) == ["a", "<unk>", "dog"]
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.from_captions([["a"]], min_count=0)
    with pytest.raises(ValueError, match="tokens"):
        vocab.decode_batch(tokens)


@pytest.fixture
def karpathy_fixture(tmp_path):
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    images = []
    for i, split in enumerate(["train", "restval", "val", "test"]):
        name = f"im{i}.png"
        Image.fromarray((np.random.default_rng(i).random((12, 16, 3)) * 255).astype(np.uint8)).save(
            tmp_path / "imgs" / name
        )
        images.append(
            {
                "filepath": "imgs",
                "filename": name,
                "split": split,
                "imgid": i,
                "sentences": [
                    {"tokens": ["a", "red", "dog"], "raw": "A red dog."},
                    {"tokens": ["a", "dog", "runs", "far", "away"], "raw": "A dog runs far away."},
                ],
            }
        )
    path = tmp_path / "dataset_tiny.json"
    path.write_text(json.dumps({"images": images, "dataset": "tiny"}))
    return path, tmp_path


def test_karpathy_loader(karpathy_fixture):
    path, root = karpathy_fixture
    train = load_karpathy_captions(path, root, "train", min_count=3, max_len=4, image_size=8)
    assert len(train) == 4  # train + restval images, two captions each
    assert train.vocab.itos[4:] == ["a", "dog"]  # the other words occur twice, under min_count
    image, tokens, index = train[0]
    assert tokens.tolist() == [1, 4, 3, 5, 2, 0]  # "a <unk> dog", padded to max_len + 2
    image, tokens, index = train[1]
    assert image.shape == (3, 8, 8) and 0 <= image.min() and image.max() <= 1
    assert tokens.shape == (6,) and tokens[0] == 1 and tokens[-1] == 2  # cut to 4 words, then <end>
    assert train.references[index] == ["a red dog", "a dog runs far away"]
    test = load_karpathy_captions(path, root, "test", vocab=train.vocab, image_size=8)
    assert len(test) == 2 and test.vocab is train.vocab


def test_karpathy_loader_bad_inputs(karpathy_fixture, tmp_path):
    path, root = karpathy_fixture
    with pytest.raises(ValueError, match="split"):
        load_karpathy_captions(path, root, "restval")
    with pytest.raises(ValueError, match="json_path"):
        load_karpathy_captions(tmp_path / "missing.json", root)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="images"):
        load_karpathy_captions(bad, root)


# ----------------------------------------------------------------------------- bad input (issue 24)


def _largest_digits(monkeypatch):
    """Make make_digit_captions draw only the 40 widest / tallest digits of the bundled set (20 x 20 ink)."""
    import attnlib.data.captions as captions
    from attnlib.data.mnist import load_mnist

    digits, labels = (torch.cat(parts) for parts in zip(*(load_mnist(s) for s in ("train", "val", "test"))))
    ink = captions._ink_boxes(digits[:, 0], 0.3)
    w, h = ink[:, 2] - ink[:, 0], ink[:, 3] - ink[:, 1]
    pick = torch.cat([(w * 100 + h).topk(20).indices, (h * 100 + w).topk(20).indices])
    assert int(w.max()) == 20 and int(h.max()) == 20
    monkeypatch.setattr(captions, "load_mnist", lambda split, source="bundled": (digits[pick], labels[pick]))
    return captions


def test_min_canvas_is_the_true_minimum_for_the_default_digits(monkeypatch):
    from attnlib.data.captions import MIN_CANVAS

    assert MIN_CANVAS[3] == 58  # the default n_digits=(2, 3); it was documented as 40, which cannot lay them out
    with pytest.raises(ValueError, match="canvas_size must be at least 58"):
        make_digit_captions(4, canvas_size=57)
    captions = _largest_digits(monkeypatch)
    scenes = captions.make_digit_captions(1000, canvas_size=58, seed=1)  # the largest digits fit at the minimum
    assert (scenes.boxes[..., 2:] <= 58).all()
    monkeypatch.setattr(captions, "MIN_CANVAS", {**MIN_CANVAS, 3: 1})
    with pytest.raises(RuntimeError, match="could not lay out"):  # ...and do not a few pixels below it
        captions.make_digit_captions(1000, canvas_size=52, seed=1)


_BAD_CAPTIONS = {
    "n float": (lambda: make_digit_captions(2.0), "n"),
    "canvas 40 for three digits": (lambda: make_digit_captions(4, canvas_size=40), "canvas_size"),
    "canvas 43 for two digits": (lambda: make_digit_captions(4, canvas_size=43, n_digits=(2, 2)), "canvas_size"),
    "canvas float": (lambda: make_digit_captions(4, canvas_size=64.0), "canvas_size"),
    "n_digits 5": (lambda: make_digit_captions(4, n_digits=(2, 5)), "n_digits"),
    "n_digits int": (lambda: make_digit_captions(4, n_digits=3), "n_digits"),
    "candidates 0": (lambda: make_digit_captions(4, candidates=0), "candidates"),
    "ink_threshold 1": (lambda: make_digit_captions(4, ink_threshold=1.0), "ink_threshold"),
    "ink_threshold nan": (lambda: make_digit_captions(4, ink_threshold=float("nan")), "ink_threshold"),
    "source typo": (lambda: make_digit_captions(4, source="mnsit"), "source"),
    "dataset record without split": (
        lambda: KarpathyCaptions([{"filename": "a.png", "sentences": []}], ".", DIGIT_CAPTION_VOCAB, 4, 8, None),
        "records",
    ),
    "dataset vocab list": (lambda: KarpathyCaptions([], ".", ["a"], 4, 8, None), "vocab"),
    "vocab words str": (lambda: Vocabulary("dog"), "words"),
    "captions of strings": (lambda: Vocabulary.from_captions(["a dog", "a cat"]), "captions"),
    "encode words str": (lambda: DIGIT_CAPTION_VOCAB.encode("one", 4), "words"),
    "encode max_len 0": (lambda: DIGIT_CAPTION_VOCAB.encode(["one"], 0), "max_len"),
    "decode negative id": (lambda: DIGIT_CAPTION_VOCAB.decode([1, -1, 2]), "tokens"),
    "decode id == size": (lambda: DIGIT_CAPTION_VOCAB.decode(torch.tensor([1, len(DIGIT_CAPTION_VOCAB)])), "tokens"),
    "decode float": (lambda: DIGIT_CAPTION_VOCAB.decode(torch.tensor([1.0, 2.0])), "tokens"),
    "decode_batch negative": (lambda: DIGIT_CAPTION_VOCAB.decode_batch(torch.tensor([[1, -3, 2]])), "tokens"),
    "decode_batch float": (lambda: DIGIT_CAPTION_VOCAB.decode_batch(torch.ones(2, 3)), "tokens"),
}


@pytest.mark.parametrize("case", sorted(_BAD_CAPTIONS))
def test_bad_input_is_refused_naming_the_argument(case):
    call, name = _BAD_CAPTIONS[case]
    with pytest.raises(ValueError, match=name):
        call()


def _karpathy_variants():
    ok = {"filepath": "imgs", "filename": "im0.png", "split": "train", "sentences": [{"tokens": ["a", "dog"]}]}
    return {
        "record not an object": ([3], r"images\[0\] must be an object"),
        "no split": ([{k: v for k, v in ok.items() if k != "split"}], r"images\[0\] has no 'split'"),
        "no filename": ([ok, {k: v for k, v in ok.items() if k != "filename"}], r"images\[1\] has no 'filename'"),
        "split a list": ([{**ok, "split": ["train"]}], r"images\[0\]\['split'\] must be a string"),
        "tokens a string": (
            [{**ok, "sentences": [{"tokens": "a dog"}]}],
            r"images\[0\]\['sentences'\]\[0\]\['tokens'\] must be a list",
        ),
        "sentence without tokens": ([{**ok, "sentences": [{"raw": "a dog"}]}], r"\['sentences'\]\[0\]"),
        "no sentences": ([{**ok, "sentences": []}], r"\['sentences'\] must be a non-empty list"),
        "empty caption": ([{**ok, "sentences": [{"tokens": []}]}], "empty"),
        "no train image": ([{**ok, "split": "val"}], "no 'train' images"),
    }


@pytest.mark.parametrize("case", sorted(_karpathy_variants()))
def test_karpathy_loader_names_file_record_and_key(karpathy_fixture, tmp_path, case):
    path, root = karpathy_fixture
    records, message = _karpathy_variants()[case]
    bad = tmp_path / "malformed.json"
    bad.write_text(json.dumps({"images": records}))
    with pytest.raises(ValueError, match="malformed.json") as info:
        load_karpathy_captions(bad, root, "train")
    assert info.match(message)


@pytest.mark.parametrize(
    ("text", "kwargs", "name"),
    [
        ("", {}, "not valid JSON"),
        ('{"images": [', {}, "not valid JSON"),
        ("[1, 2]", {}, "images"),
        (None, {"max_len": 0}, "max_len"),
        (None, {"image_size": -1}, "image_size"),
        (None, {"min_count": 0}, "min_count"),
        (None, {"vocab": ["a"]}, "vocab"),
        (None, {"transform": 3}, "transform"),
    ],
)
def test_karpathy_loader_refuses_bad_files_and_options(karpathy_fixture, tmp_path, text, kwargs, name):
    path, root = karpathy_fixture
    if text is not None:
        path = tmp_path / "broken.json"
        path.write_text(text)
    with pytest.raises(ValueError, match=name):
        load_karpathy_captions(path, root, "train", **kwargs)


def test_karpathy_unreadable_image_names_the_file(karpathy_fixture):
    path, root = karpathy_fixture
    data = load_karpathy_captions(path, root, "train", image_size=8)
    (root / "imgs" / "im0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="im0.png"):
        data[0]


def _digit_caption_fields(**change):
    import dataclasses

    from attnlib.data.captions import DigitCaptions

    data = make_digit_captions(3, "test", seed=0)
    values = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    values.update(change)
    return lambda: DigitCaptions(**values)


@pytest.mark.parametrize(
    "name, value",
    [
        ("images", torch.rand(3, 28, 28)),  # a missing channel dim
        ("images", torch.full((3, 1, 64, 64), float("nan"))),
        ("tokens", torch.full((3, 7), 10**6)),  # an id past the vocabulary
        ("tokens", torch.zeros(3, 7)),  # float ids
        ("boxes", torch.full((3, 3, 4), float("nan"))),
        ("labels", torch.full((3, 3), 10)),  # no digit 10
        ("n_objects", torch.full((3,), 9)),  # more objects than boxes
        ("relations", torch.full((3, 2), 7)),
        ("captions", "one two"),  # a string, not a list
        ("captions", ["one"]),  # one caption for three scenes
        ("vocab", ["zero", "one"]),
    ],
)
def test_digit_captions_validates_its_fields(name, value):
    with pytest.raises(ValueError, match=name):
        _digit_caption_fields(**{name: value})()
