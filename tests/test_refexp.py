"""attnlib.data.refexp: expressions name exactly their target, boxes, determinism, the RefCOCO loader."""

import json
import pickle

import pytest
import torch

from attnlib.data.refexp import (
    KINDS,
    PAD,
    VOCAB,
    RefExp,
    decode,
    expression_difficulty,
    hardest,
    interpret,
    load_refcoco,
    make_refexp,
    target_boxes,
    target_cells,
)
from attnlib.data.shapes import Scenes, object_coverage


@pytest.fixture(scope="module")
def data():
    return make_refexp(400, image_size=48, generator=torch.Generator().manual_seed(3))


def test_shapes_and_ranges(data):
    assert data.images.shape == (400, 3, 48, 48)
    assert data.tokens.ndim == 2 and data.tokens.dtype == torch.long
    assert data.boxes.shape == (400, 4)
    assert (data.boxes[:, 2:] > data.boxes[:, :2]).all() and data.boxes.min() >= 0 and data.boxes.max() <= 1
    # Padding only at the end of each row.
    pad = data.tokens == PAD
    assert (pad.long().diff(dim=1) >= 0).all()


def test_every_expression_names_exactly_its_target(data):
    texts = data.texts()
    for i, text in enumerate(texts):
        assert interpret(text, data.scenes, i) == [data.target[i].item()], text


def test_whole_expression_is_needed(data):
    # Without the spatial part, superlative and relation expressions match several objects.
    texts = data.texts()
    for i, text in enumerate(texts):
        kind = KINDS[data.kind[i]]
        if kind == "superlative":
            assert len(interpret(" ".join(["the"] + text.split()[2:]), data.scenes, i)) >= 2
        elif kind == "relation":
            head = text.split(" the ")[1] if text.count(" the ") else ""
            words = text.split()
            cut = next(j for j, w in enumerate(words) if w in ("left", "right", "above", "below"))
            assert len(interpret(" ".join(words[:cut]), data.scenes, i)) >= 2, (text, head)
    assert set(data.kind.tolist()) == {0, 1, 2}


def test_boxes_match_rendered_pixels(data):
    cover = object_coverage(data.scenes[:50], 48)[torch.arange(50), data.target[:50]] > 0.5  # (50, H, W)
    cols, rows = cover.any(1).float(), cover.any(2).float()
    idx = torch.arange(48).float()
    x1 = (idx + 48 * (1 - cols)).min(1).values / 48
    x2 = ((idx + 1) * cols).max(1).values / 48
    y1 = (idx + 48 * (1 - rows)).min(1).values / 48
    y2 = ((idx + 1) * rows).max(1).values / 48
    pixel = torch.stack([x1, y1, x2, y2], -1)
    assert (pixel - data.boxes[:50]).abs().max() <= 1.5 / 48


def test_target_cells_follow_the_target(data):
    cells = target_cells(data.scenes, data.target, 48, 6)
    assert cells.shape == (400, 36) and (cells >= 0).all()
    torch.testing.assert_close(cells.sum(1), torch.ones(400))
    # The cell holding the target's centre carries weight; cells far from it (beyond the farthest triangle corner plus
    # half a cell diagonal) carry none.
    centre = data.scenes.position[torch.arange(400), data.target]  # (400, 2)
    col, row = (centre * 6).long().clamp(max=5).unbind(-1)
    assert (cells[torch.arange(400), row * 6 + col] > 0.05).all()
    i = torch.arange(36)
    cell_centre = torch.stack([(i % 6 + 0.5) / 6, (i // 6 + 0.5) / 6], -1)  # (36, 2)
    far = (cell_centre.unsqueeze(0) - centre.unsqueeze(1)).norm(dim=-1) > 1.25 * 0.12 + 0.5 * 2**0.5 / 6 + 0.02
    assert (cells[far] == 0).all() and far.any()
    with pytest.raises(ValueError, match="grid"):
        target_cells(data.scenes, data.target, 48, 5)
    with pytest.raises(ValueError, match="target"):
        target_cells(data.scenes, data.target[:3], 48, 6)


def test_deterministic():
    a = make_refexp(20, generator=torch.Generator().manual_seed(7))
    b = make_refexp(20, generator=torch.Generator().manual_seed(7))
    c = make_refexp(20, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n must"):
        make_refexp(0)
    with pytest.raises(ValueError, match="min_objects"):
        make_refexp(4, min_objects=1)
    with pytest.raises(ValueError, match="margin"):
        make_refexp(4, margin=0.7)


def _write_fixture(root, as_json: bool = False):
    instances = {
        "images": [{"id": 1, "file_name": "COCO_1.jpg", "width": 200, "height": 100}],
        "annotations": [{"id": 10, "image_id": 1, "bbox": [20.0, 10.0, 40.0, 30.0], "category_id": 3}],
    }
    refs = [
        {
            "ref_id": 0,
            "ann_id": 10,
            "image_id": 1,
            "split": "train",
            "category_id": 3,
            "sentences": [
                {"sent": "left car", "raw": "Left car", "tokens": ["left", "car"], "sent_id": 0},
                {"sent": "the red car", "raw": "the red car", "tokens": ["the", "red", "car"], "sent_id": 1},
            ],
        },
        {
            "ref_id": 1,
            "ann_id": 10,
            "image_id": 1,
            "split": "val",
            "category_id": 3,
            "sentences": [{"sent": "car", "raw": "car", "tokens": ["car"], "sent_id": 2}],
        },
    ]
    (root / "instances.json").write_text(json.dumps(instances))
    if as_json:
        (root / "refs.json").write_text(json.dumps(refs))
    else:
        (root / "refs(unc).p").write_bytes(pickle.dumps(refs))


@pytest.mark.parametrize("as_json", [False, True])
def test_refcoco_loader(tmp_path, as_json):
    _write_fixture(tmp_path, as_json)
    recs = load_refcoco(tmp_path, "train", refs_file="refs.json" if as_json else "refs(unc).p")
    assert [r["sentence"] for r in recs] == ["left car", "the red car"]
    torch.testing.assert_close(recs[0]["box"], torch.tensor([20.0, 10.0, 60.0, 40.0]))
    torch.testing.assert_close(recs[0]["box_norm"], torch.tensor([0.1, 0.1, 0.3, 0.4]))
    assert len(load_refcoco(tmp_path, "val", refs_file="refs.json" if as_json else "refs(unc).p")) == 1


def test_refcoco_loader_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_refcoco(tmp_path, "train")
    _write_fixture(tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_refcoco(tmp_path, "testZ")
    # a misspelt or empty file name names its argument; a list is refused, not a TypeError from Path
    with pytest.raises(ValueError, match="refs_file.*not found"):
        load_refcoco(tmp_path, "train", refs_file="refs(unk).p")
    with pytest.raises(ValueError, match="instances_file.*not found"):
        load_refcoco(tmp_path, "train", instances_file="instance.json")
    for name in ("refs_file", "instances_file"):
        for bad in ("", ["refs(unc).p"]):
            with pytest.raises(ValueError, match=name):
                load_refcoco(tmp_path, "train", **{name: bad})
    (tmp_path / "refs(unc).p").write_bytes(pickle.dumps(torch.nn.Identity))
    with pytest.raises(pickle.UnpicklingError):
        load_refcoco(tmp_path, "train")


_DATA = make_refexp(3, generator=torch.Generator().manual_seed(0))
_REFEXP_BAD = [
    (lambda: make_refexp(2.5), "n"),
    (lambda: make_refexp(True), "n"),
    (lambda: target_cells(_DATA.scenes, _DATA.target, 48, True), "grid"),
    (lambda: make_refexp(4, p_share=1.5), "p_share"),
    (lambda: make_refexp(4, p_share=float("nan")), "p_share"),
    (lambda: make_refexp(4, margin=float("nan")), "margin"),
    (lambda: make_refexp(4, min_objects=2.0), "min_objects"),
    (lambda: make_refexp(4, max_objects=9), "max_objects"),
    (lambda: make_refexp(4, image_size=4), "image_size"),
    (lambda: make_refexp(4, split="training"), "split"),
    (lambda: make_refexp(4, seed=-1), "seed"),
    (lambda: make_refexp(4, generator=7), "generator"),
    (lambda: decode(torch.tensor([[2, -1]])), "tokens"),
    (lambda: decode(torch.tensor([[2, len(VOCAB)]])), "tokens"),
    (lambda: decode(torch.tensor([[2.0, 3.0]])), "tokens"),
    (lambda: decode(torch.tensor([2, 3])), "tokens"),
    (lambda: decode([[2, 3]]), "tokens"),
    (lambda: interpret("the purple dragon", _DATA.scenes, 0), "expression"),
    (lambda: interpret("the", _DATA.scenes, 0), "expression"),
    (lambda: interpret("a red circle", _DATA.scenes, 0), "expression"),
    (lambda: interpret(["the", "circle"], _DATA.scenes, 0), "expression"),
    (lambda: interpret("the circle", _DATA.scenes, 3), "index"),
    (lambda: interpret("the circle", _DATA.scenes, -1), "index"),
    (lambda: interpret("the circle", _DATA.scenes, 0, margin=-0.1), "margin"),
    (lambda: target_boxes(_DATA.scenes, torch.tensor([0, 1, 9])), "target"),
    (lambda: target_boxes(_DATA.scenes, torch.tensor([0, 1, -1])), "target"),
    (lambda: target_boxes(_DATA.scenes, torch.tensor([0.0, 1.0, 0.0])), "target"),
    (lambda: target_boxes(_DATA.images, _DATA.target), "scenes"),
    (lambda: target_cells(_DATA.scenes, torch.tensor([0, 1, 9]), 48, 6), "target"),
    (lambda: target_cells(_DATA.scenes, _DATA.target, "48", 6), "image_size"),
    # issue 24 follow-up: the RefExp record checks its fields
    (lambda: _refexp(images=_DATA.images.tolist()), "images"),
    (lambda: _refexp(images=_DATA.images[:, :1]), "images"),
    (lambda: _refexp(images=_DATA.images.clone().fill_(float("nan"))), "images"),
    (lambda: _refexp(images=_DATA.images.long()), "images"),
    (lambda: _refexp(tokens=_DATA.tokens.float()), "tokens"),
    (lambda: _refexp(tokens=_DATA.tokens.clone().fill_(len(VOCAB))), "tokens"),
    (lambda: _refexp(tokens=_DATA.tokens[:2]), "tokens"),
    (lambda: _refexp(boxes=_DATA.boxes.clone().fill_(float("nan"))), "boxes"),
    (lambda: _refexp(boxes=_DATA.boxes[:, :2]), "boxes"),
    (lambda: _refexp(target=_DATA.target + 9), "target"),
    (lambda: _refexp(target=_DATA.target.float()), "target"),
    (lambda: _refexp(kind=_DATA.kind - 7), "kind"),
    (lambda: _refexp(kind=_DATA.kind[0]), "kind"),
    (lambda: _refexp(scenes=None), "scenes"),
    (lambda: hardest(torch.tensor([0.0, float("nan")])), "difficulty"),
]


def _refexp(**fields):
    """A RefExp with ``fields`` replacing those of ``_DATA``."""
    return RefExp(**{**{f: getattr(_DATA, f) for f in ("images", "tokens", "boxes", "target", "kind", "scenes")},
                     **fields})  # fmt: skip


@pytest.mark.parametrize("call, name", _REFEXP_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_REFEXP_BAD)])
def test_refexp_refuses_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _corrupt(root, what: str) -> None:
    """Spoil the fixture written by ``_write_fixture`` in one way."""
    inst_path = root / "instances.json"
    refs = pickle.loads((root / "refs(unc).p").read_bytes())
    inst = json.loads(inst_path.read_text())
    if what == "empty refs":
        (root / "refs(unc).p").write_bytes(b"")
        return
    if what == "truncated refs":
        (root / "refs(unc).p").write_bytes(pickle.dumps(refs)[:20])
        return
    if what == "corrupt instances":
        inst_path.write_text('{"images": [')
        return
    if what == "refs not a list":
        refs = {"refs": refs}
    elif what == "ref without split":
        del refs[0]["split"]
    elif what == "ref without ann_id":
        del refs[0]["ann_id"]
    elif what == "unknown ann_id":
        refs[0]["ann_id"] = 99893
    elif what == "unknown image_id":
        refs[0]["image_id"] = 99893
    elif what == "sentences a str":
        refs[0]["sentences"] = "left car"
    elif what == "sentence not a dict":
        refs[0]["sentences"] = ["left car"]
    elif what == "no annotations":
        del inst["annotations"]
    elif what == "bbox of 3":
        inst["annotations"][0]["bbox"] = [1.0, 2.0, 3.0]
    elif what == "bbox negative":
        inst["annotations"][0]["bbox"] = [1.0, 2.0, -3.0, 4.0]
    elif what == "width zero":
        inst["images"][0]["width"] = 0
    elif what == "no file_name":
        del inst["images"][0]["file_name"]
    (root / "refs(unc).p").write_bytes(pickle.dumps(refs))
    inst_path.write_text(json.dumps(inst))


@pytest.mark.parametrize(
    "what, expected",
    [
        ("empty refs", r"refs\(unc\).p is not a readable pickle"),
        ("truncated refs", r"refs\(unc\).p is not a readable pickle"),
        ("corrupt instances", "instances.json is not a readable JSON"),
        ("refs not a list", "list of refs"),
        ("ref without split", "ref 0 has no key 'split'"),
        ("ref without ann_id", "ref 0 has no key 'ann_id'"),
        ("unknown ann_id", "ref 0: ann_id 99893 is not an annotation id"),
        ("unknown image_id", "ref 0: image_id 99893 is not an image id"),
        ("sentences a str", r"ref 0\['sentences'\] must be a list"),
        ("sentence not a dict", r"sentences\[0\] must be a dict"),
        ("no annotations", "instances.json has no key 'annotations'"),
        ("bbox of 3", r"annotation 10\['bbox'\] must be 4 numbers"),
        ("bbox negative", r"annotation 10\['bbox'\] must be finite with w, h >= 0"),
        ("width zero", r"image 1\['width'\] must be > 0"),
        ("no file_name", "image 1 has no key 'file_name'"),
    ],
)
def test_refcoco_loader_refuses_malformed_files(tmp_path, what, expected):
    """A malformed file or record is a ValueError naming the file, the record and the key."""
    _write_fixture(tmp_path)
    _corrupt(tmp_path, what)
    with pytest.raises(ValueError, match=expected):
        load_refcoco(tmp_path, "train")


def _scene(objects):
    """One hand-built scene per row: objects as (colour, shape, size, x, y); the first is the target."""
    m = max(len(o) for o in objects)
    color = torch.zeros(len(objects), m, dtype=torch.long)
    shape, size = color.clone(), color.clone()
    position = torch.zeros(len(objects), m, 2)
    valid = torch.zeros(len(objects), m, dtype=torch.bool)
    for b, row in enumerate(objects):
        for k, (c, s, z, x, y) in enumerate(row):
            color[b, k], shape[b, k], size[b, k] = c, s, z
            position[b, k] = torch.tensor([x, y])
            valid[b, k] = True
    return Scenes(color, shape, size, position, valid)


def test_expression_difficulty_on_hand_built_scenes():
    scenes = _scene(
        [
            # a large red circle among objects of other colours and shapes, named by its attributes: 0
            [(0, 0, 1, 0.2, 0.2), (1, 1, 1, 0.7, 0.7), (2, 2, 0, 0.5, 0.2)],
            # a small red circle (+1), named by a relation (+2), with one large red circle (+1 twin): 4
            [(0, 0, 0, 0.2, 0.2), (0, 0, 1, 0.7, 0.7), (2, 2, 0, 0.5, 0.2)],
            # a large blue square, superlative (+1), two twins (+2), and an invalid slot that also matches
            # (it must not count): 3
            [(1, 1, 1, 0.1, 0.5), (1, 1, 0, 0.5, 0.5), (1, 1, 0, 0.9, 0.5), (1, 1, 0, 0.3, 0.3)],
        ]
    )
    scenes.valid[0, 3] = scenes.valid[1, 3] = False
    scenes.valid[2, 3] = False
    target = torch.zeros(3, dtype=torch.long)
    kind = torch.tensor([0, 2, 1])
    assert expression_difficulty(scenes, target, kind).tolist() == [0, 4, 3]
    # The target need not be the first slot: the same scene read with the second object as the target.
    assert expression_difficulty(scenes[1], torch.tensor([1]), torch.tensor([0])).tolist() == [1]


def test_hardest_quarter_orders_by_difficulty_then_tiebreak():
    d = torch.tensor([0, 3, 1, 3, 2, 0, 3, 1])
    assert hardest(d).tolist() == [
        False,
        True,
        False,
        True,
        False,
        False,
        False,
        False,
    ]  # ceil(8/4) = 2, ties by position
    area = torch.tensor([0.1, 0.05, 0.1, 0.09, 0.1, 0.1, 0.01, 0.1])
    assert hardest(d, -area).nonzero().flatten().tolist() == [1, 6]  # smallest targets among the hardest
    assert hardest(d, fraction=0.5).sum() == 4 and hardest(d, fraction=1.0).all()
    # A tiebreak never overrides a difference in difficulty, however small.
    assert hardest(torch.tensor([1.0, 1.01]), torch.tensor([10.0, 0.0]), fraction=0.5).tolist() == [False, True]
    data = make_refexp(200, image_size=48, split="test", seed=0)
    score = expression_difficulty(data.scenes, data.target, data.kind)
    mask = hardest(score)
    assert mask.sum() == 50 and score[mask].min() >= score[~mask].max()


@pytest.mark.parametrize(
    "call,name",
    [
        (
            lambda s: expression_difficulty(s, torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long)),
            "target",
        ),
        (lambda s: expression_difficulty(s, torch.zeros(1, dtype=torch.long), torch.tensor([3])), "kind"),
        (
            lambda s: expression_difficulty(s, torch.zeros(1, dtype=torch.long), torch.zeros(2, dtype=torch.long)),
            "kind",
        ),
        (lambda s: hardest(torch.zeros(0)), "difficulty"),
        (lambda s: hardest(torch.zeros(4), fraction=0.0), "fraction"),
        (lambda s: hardest(torch.zeros(4), torch.zeros(3)), "tiebreak"),
    ],
)
def test_difficulty_refuses_bad_input(call, name):
    scenes = _scene([[(0, 0, 1, 0.2, 0.2), (1, 1, 1, 0.7, 0.7)]])
    with pytest.raises(ValueError, match=name):
        call(scenes)
