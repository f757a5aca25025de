"""Scenes, renderer and templated questions of chapter 6 (attnlib.data.shapes, attnlib.data.vqa)."""

import json

import pytest
import torch

from attnlib.data import clevr, shapes, vqa
from attnlib.data.shapes import COLOR_NAMES, SHAPES, SIZES, Scenes


def hand_scene() -> Scenes:
    """small red circle top-left, large blue square bottom-right, small blue triangle top-right."""
    return Scenes(
        color=torch.tensor([[0, 2, 2]]),
        shape=torch.tensor([[0, 1, 2]]),
        size=torch.tensor([[0, 1, 0]]),
        position=torch.tensor([[[0.2, 0.2], [0.7, 0.7], [0.75, 0.2]]]),
        valid=torch.tensor([[True, True, True]]),
    )


def answer_by_hand(text: str, objects: list[dict]) -> str:
    """An independent evaluator: parse the words, loop over the objects."""
    w = text.replace("?", "").split()

    def find(**attrs: str) -> list[dict]:
        return [o for o in objects if all(o[k] == v for k, v in attrs.items())]

    if w[:2] == ["what", "color"]:
        (o,) = find(size=w[4], shape=w[5])
        return o["color"]
    if w[:2] == ["what", "shape"]:
        (o,) = find(size=w[4], color=w[5])
        return o["shape"]
    if w[:2] == ["what", "size"]:
        (o,) = find(color=w[4], shape=w[5])
        return o["size"]
    if w[:2] == ["is", "there"]:
        return "yes" if find(color=w[3], shape=w[4]) else "no"
    if w[:2] == ["how", "many"] and w[3] == "things":
        return str(len(find(color=w[2])))
    if w[:2] == ["how", "many"]:
        return str(len(find(shape=w[2][:-1])))
    assert w[:2] == ["is", "the"]
    (a,) = find(color=w[2], shape=w[3])
    rest = w[4:]
    relation = rest[0]
    (b,) = find(color=rest[-2], shape=rest[-1])
    truth = {
        "left": a["x"] < b["x"],
        "right": a["x"] > b["x"],
        "above": a["y"] < b["y"],
        "below": a["y"] > b["y"],
    }[relation]
    return "yes" if truth else "no"


def objects_of(scenes: Scenes, i: int) -> list[dict]:
    out = []
    for m in range(scenes.color.shape[1]):
        if scenes.valid[i, m]:
            out.append({
                "color": COLOR_NAMES[scenes.color[i, m]], "shape": SHAPES[scenes.shape[i, m]],
                "size": SIZES[scenes.size[i, m]], "x": scenes.position[i, m, 0].item(),
                "y": scenes.position[i, m, 1].item(),
            })  # fmt: skip
    return out


def test_scenes_shapes_determinism_and_no_overlap():
    a = shapes.sample_scenes(64, generator=torch.Generator().manual_seed(3))
    b = shapes.sample_scenes(64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.position, b.position) and torch.equal(a.color, b.color)
    assert a.color.shape == (64, 5) and a.position.shape == (64, 5, 2)
    assert (a.valid.sum(1) >= 2).all()
    r = torch.tensor(shapes.SIZE_RADII)[a.size]
    d = (a.position.unsqueeze(2) - a.position.unsqueeze(1)).norm(dim=-1)
    both = a.valid.unsqueeze(2) & a.valid.unsqueeze(1) & ~torch.eye(5, dtype=torch.bool)
    assert (d[both] > (r.unsqueeze(2) + r.unsqueeze(1))[both]).all()
    inside = (a.position - r.unsqueeze(-1) >= 0) & (a.position + r.unsqueeze(-1) <= 1)
    assert inside.all(-1)[a.valid].all()


def test_render_colours_and_background():
    scene = hand_scene()
    image = shapes.render_scenes(scene, 48)
    assert image.shape == (1, 3, 48, 48) and image.min() >= 0 and image.max() <= 1
    for m in range(3):
        x, y = (scene.position[0, m] * 48).long().tolist()
        assert torch.allclose(image[0, :, y, x], shapes.COLORS[scene.color[0, m]], atol=1e-6)
    assert torch.allclose(image[0, :, 47, 0], torch.tensor(shapes.BACKGROUND))
    cover = shapes.object_coverage(scene, 48)
    assert cover.shape == (1, 3, 48, 48)
    # A large object covers more pixels than a small one of the same shape family.
    assert cover[0, 1].sum() > cover[0, 0].sum()


def test_cell_labels_of_hand_scene():
    labels = shapes.cell_labels(hand_scene(), 48, 12)
    colour = labels["color"].view(12, 12)
    assert colour[2, 2] == 0 and colour[8, 8] == 2  # red circle at (0.2, 0.2); blue square at (0.7, 0.7)
    assert colour[11, 0] == len(COLOR_NAMES)  # empty corner
    assert labels["object"].view(12, 12)[8, 8] == 1


def test_hand_scene_answers():
    scenes = hand_scene()
    questions, lengths = vqa.encode_text([
        "what color is the large square?", "what shape is the small red thing?", "what size is the blue square?",
        "is there a blue triangle?", "is there a red square?", "how many blue things are there?",
        "how many circles are there?", "is the red circle left of the blue square?",
        "is the blue triangle above the blue square?", "is the red circle right of the blue triangle?",
    ])  # fmt: skip
    expected = ["blue", "circle", "large", "yes", "no", "2", "1", "yes", "yes", "no"]
    for text, want in zip(vqa.decode_questions(questions), expected):
        assert answer_by_hand(text, objects_of(scenes, 0)) == want
    assert lengths.tolist()[0] == 7


def test_generated_answers_match_an_independent_evaluator():
    scenes = shapes.sample_scenes(150, generator=torch.Generator().manual_seed(1))
    q = vqa.generate_questions(scenes, per_scene=5, generator=torch.Generator().manual_seed(2))
    texts = vqa.decode_questions(q["questions"])
    assert len(texts) > 600
    for text, answer, scene in zip(texts, q["answers"].tolist(), q["scene_index"].tolist()):
        assert answer_by_hand(text, objects_of(scenes, scene)) == vqa.ANSWERS[answer], text
    assert (q["lengths"] == (q["questions"] != 0).sum(1)).all()
    assert set(q["qtype"].tolist()) == {0, 1, 2, 3}
    exist = q["answers"][q["family"] == 3]
    assert 0.4 < (exist == vqa.ANSWERS.index("yes")).float().mean() < 0.6


def test_dataset_splits_are_deterministic_and_disjoint():
    a = vqa.make_vqa_dataset(20, "train", seed=0)
    b = vqa.make_vqa_dataset(20, "train", seed=0)
    c = vqa.make_vqa_dataset(20, "test", seed=0)
    assert torch.equal(a.images, b.images) and torch.equal(a.questions, b.questions)
    assert not torch.equal(a.scenes.position, c.scenes.position)
    assert a.images.shape == (20, 3, 48, 48) and len(a) == a.answers.shape[0]


def test_loader_groups_questions_by_scene():
    data = vqa.make_vqa_dataset(30, "train")
    seen = 0
    for images, questions, _lengths, answers, scene_index in vqa.VQALoader(data, 16, shuffle=True, seed=1):
        assert images.shape[0] <= questions.shape[0] and scene_index.max() < images.shape[0]
        seen += answers.shape[0]
        # every question's image is its own scene's image
        rows = [(data.questions == row).all(1).nonzero().flatten() for row in questions]
        for r, img in zip(rows, images[scene_index]):
            assert any(torch.equal(data.images[data.scene_index[i]], img) for i in r)
    assert seen == len(data)
    preds = data.answers.clone()
    assert vqa.accuracy_by_type(preds, data)["all"] == 1.0


def test_clevr_loader_on_fixture(tmp_path):
    fixture = {
        "info": {"split": "val", "version": "1.0"},
        "questions": [
            {"image_index": 0, "image_filename": "CLEVR_val_000000.png", "question_family_index": 3,
             "question": "Are there any other things that are the same shape as the big metallic object?",
             "answer": "no", "split": "val"},
            {"image_index": 1, "image_filename": "CLEVR_val_000001.png", "question_family_index": 12,
             "question": "How many cylinders are there?", "answer": 2, "split": "val"},
        ],
    }  # fmt: skip
    path = tmp_path / "CLEVR_val_questions.json"
    path.write_text(json.dumps(fixture))
    assert vqa.load_clevr_questions is clevr.load_clevr_questions  # re-exported for the notebook
    assert clevr.tokenize("How many cylinders, Red ones?") == ["how", "many", "cylinders", ",", "red", "ones", "?"]
    out = vqa.load_clevr_questions(path)
    assert out["questions"].shape == (2, 16) and out["lengths"].tolist() == [16, 6]
    assert out["answers"].tolist() == [0, 1] and out["answer_vocab"] == {"no": 0, "2": 1}
    assert out["image_index"].tolist() == [0, 1] and out["family"].tolist() == [3, 12]
    assert out["vocab"]["<pad>"] == 0 and out["image_filename"][1] == "CLEVR_val_000001.png"
    test_file = tmp_path / "CLEVR_test_questions.json"
    test_file.write_text(json.dumps({"questions": [{"question": "How many spheres?", "image_index": 5}]}))
    again = vqa.load_clevr_questions(test_file, vocab=out["vocab"], answers=out["answer_vocab"])
    assert again["answers"].tolist() == [-1] and again["questions"][0, 2] == 1  # unknown word -> <unk>


def test_bad_inputs():
    with pytest.raises(ValueError, match="n"):
        shapes.sample_scenes(0)
    with pytest.raises(ValueError, match="image_size"):
        shapes.render_scenes(hand_scene(), 4)
    with pytest.raises(ValueError, match="grid"):
        shapes.cell_labels(hand_scene(), 48, 7)
    with pytest.raises(ValueError, match="per_scene"):
        vqa.generate_questions(hand_scene(), per_scene=0)
    with pytest.raises(ValueError, match="split"):
        vqa.make_vqa_dataset(2, "dev")
    with pytest.raises(ValueError, match="VOCAB"):
        vqa.encode_text(["what colour is the zebra?"])
    with pytest.raises(ValueError, match="batch_size"):
        vqa.VQALoader(vqa.make_vqa_dataset(2), 0)
    with pytest.raises(ValueError, match="questions"):
        vqa.decode_questions(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="path"):
        vqa.load_clevr_questions("/nonexistent/CLEVR.json")


# ----------------------------------------------------------------------------- bad input (issue 24)


def _vqa_bad_calls():
    data = vqa.make_vqa_dataset(2, per_scene=2, image_size=24)
    return {
        "decode negative id": (lambda: vqa.decode_questions(torch.tensor([[1, -1, 0]])), "questions"),
        "decode id == vocab": (lambda: vqa.decode_questions(torch.tensor([[1, len(vqa.VOCAB)]])), "questions"),
        "decode float": (lambda: vqa.decode_questions(torch.ones(2, 3)), "questions"),
        "encode str": (lambda: vqa.encode_text("is there a red circle?"), "texts"),
        "encode empty list": (lambda: vqa.encode_text([]), "texts"),
        "encode empty question": (lambda: vqa.encode_text(["is there a red circle?", ""]), "texts"),
        "encode non-str": (lambda: vqa.encode_text([3]), "texts"),
        "tokenize non-str": (lambda: clevr.tokenize(["a"]), "text"),
        "dataset n_scenes 0": (lambda: vqa.make_vqa_dataset(0), "n_scenes"),
        "dataset per_scene 0": (lambda: vqa.make_vqa_dataset(2, per_scene=0), "per_scene"),
        "dataset image_size float": (lambda: vqa.make_vqa_dataset(2, image_size=24.0), "image_size"),
        "dataset seed -1": (lambda: vqa.make_vqa_dataset(2, seed=-1), "seed"),
        "generate scenes type": (lambda: vqa.generate_questions(data.images), "scenes"),
        "generate pool 0": (lambda: vqa.generate_questions(hand_scene(), pool=0), "pool"),
        "loader data type": (lambda: vqa.VQALoader(data.questions), "data"),
        "loader images rows": (lambda: vqa.VQALoader(data, images=data.images[:1]), "images"),
        "loader empty data": (lambda: vqa.VQALoader(data.subset(torch.zeros(len(data), dtype=torch.bool))), "data"),
        "texts index out of range": (lambda: data.texts([len(data)]), "index"),
        "texts index float": (lambda: data.texts(torch.tensor([0.0])), "index"),
        "clevr path None": (lambda: vqa.load_clevr_questions(None), "path"),
        "subset keep int": (lambda: data.subset(torch.ones(len(data), dtype=torch.long)), "keep"),
        "accuracy float predictions": (lambda: vqa.accuracy_by_type(data.answers.float(), data), "predictions"),
        "accuracy shape": (lambda: vqa.accuracy_by_type(data.answers[:1], data), "predictions"),
    }


_VQA_BAD = _vqa_bad_calls()


@pytest.mark.parametrize("case", sorted(_VQA_BAD))
def test_bad_input_is_refused_naming_the_argument(case):
    call, name = _VQA_BAD[case]
    with pytest.raises(ValueError, match=name):
        call()


_GOOD_QUESTION = {"question": "How many cylinders?", "answer": "2", "image_index": 0}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "not valid JSON"),
        ('{"questions": [{"question": ', "not valid JSON"),
        ("[]", "expected a 'questions' list"),
        ({"questions": []}, "holds no questions"),
        ({"questions": [_GOOD_QUESTION, 3]}, r"questions\[1\] must be an object"),
        ({"questions": [{"answer": "2"}]}, r"questions\[0\] has no 'question' key"),
        ({"questions": [{"question": ["how", "many"]}]}, r"questions\[0\]\['question'\] must be a string"),
        ({"questions": [{"question": "   "}]}, r"questions\[0\]\['question'\] has no words"),
        ({"questions": [{**_GOOD_QUESTION, "answer": ["2"]}]}, r"questions\[0\]\['answer'\]"),
        ({"questions": [{**_GOOD_QUESTION, "image_index": "7"}]}, r"questions\[0\]\['image_index'\] must be an int"),
        (
            {"questions": [_GOOD_QUESTION, {**_GOOD_QUESTION, "question_family_index": 1.5}]},
            r"questions\[1\]\['question_family_index'\]",
        ),
        ({"questions": [{**_GOOD_QUESTION, "image_filename": 3}]}, r"questions\[0\]\['image_filename'\]"),
    ],
)
def test_clevr_loader_names_file_record_and_key(tmp_path, payload, message):
    path = tmp_path / "CLEVR_bad_questions.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    with pytest.raises(ValueError, match="CLEVR_bad_questions.json") as info:
        vqa.load_clevr_questions(path)
    assert info.match(message)


def test_clevr_loader_refuses_bad_tables(tmp_path):
    path = tmp_path / "CLEVR_val_questions.json"
    path.write_text(json.dumps({"questions": [_GOOD_QUESTION]}))
    with pytest.raises(ValueError, match="vocab"):
        vqa.load_clevr_questions(path, vocab=["how"])
    with pytest.raises(ValueError, match="vocab"):
        vqa.load_clevr_questions(path, vocab={"<pad>": 0, "<unk>": 5})
    with pytest.raises(ValueError, match="answers"):
        vqa.load_clevr_questions(path, answers={"2": "two"})


def _vqa_fields(**change):
    import dataclasses

    data = vqa.make_vqa_dataset(2, per_scene=2, image_size=32)
    values = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    values.update(change)
    return lambda: vqa.VQAData(**values)


@pytest.mark.parametrize(
    "name, value",
    [
        ("images", torch.full((2, 3, 32, 32), float("nan"))),
        ("images", torch.rand(3, 32, 32)),
        ("scenes", "scenes"),
        ("questions", torch.full((4, 12), len(vqa.VOCAB))),  # an id equal to the vocabulary size
        ("questions", torch.zeros(4, 12)),
        ("lengths", torch.zeros(4, dtype=torch.long)),  # a length of 0 would read word 0
        ("answers", torch.full((4,), -1)),
        ("family", torch.full((4,), 10**3)),
        ("qtype", torch.full((4,), len(vqa.QUESTION_TYPES))),
        ("scene_index", torch.full((4,), 2)),  # two scenes
        ("answers", torch.zeros(3, dtype=torch.long)),  # one answer short
    ],
)
def test_vqa_data_validates_its_fields(name, value):
    with pytest.raises(ValueError, match=name):
        _vqa_fields(**{name: value})()


def test_an_empty_subset_is_still_a_vqa_data():
    data = vqa.make_vqa_dataset(2, per_scene=2, image_size=32)
    assert len(data.subset(torch.zeros(len(data), dtype=torch.bool))) == 0
