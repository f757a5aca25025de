"""Tests of attnlib.data.canvas: placement, clutter, determinism, splits."""

from __future__ import annotations

import pytest
import torch

from attnlib.data import load_mnist
from attnlib.data.canvas import (
    CanvasLoader,
    CurriculumLoader,
    centered_mnist,
    cluttered_mnist,
    make_canvases,
    translated_mnist,
)


def test_translated_canvas_holds_the_digit_at_its_box():
    images, labels, boxes = translated_mnist("test", 60, seed=3)
    digits, digit_labels = load_mnist("test")
    assert images.shape == (1000, 1, 60, 60) and torch.equal(labels, digit_labels)
    for i in (0, 17, 999):
        x1, y1, x2, y2 = boxes[i].long().tolist()
        assert x2 - x1 == 28 and y2 - y1 == 28 and 0 <= x1 <= 32 and 0 <= y1 <= 32
        assert torch.equal(images[i, :, y1:y2, x1:x2], digits[i])
        # nothing but the digit on the canvas
        assert images[i].sum() == pytest.approx(digits[i].sum().item(), rel=1e-6)


def test_positions_cover_the_canvas_uniformly():
    _, _, boxes = translated_mnist("train", 60, seed=0)
    assert boxes[:, 0].min() == 0 and boxes[:, 0].max() == 32
    assert abs(boxes[:, :2].float().mean().item() - 16) < 1.0


def test_clutter_adds_ink_from_other_pieces_and_keeps_the_digit():
    clean, _, boxes_clean = translated_mnist("test", 60, seed=5)
    cluttered, _, boxes = cluttered_mnist("test", 60, seed=5)
    assert torch.equal(boxes, boxes_clean)  # same positions for the same seed
    digits, _ = load_mnist("test")
    for i in range(5):
        x1, y1, x2, y2 = boxes[i].long().tolist()
        # clutter combines by the maximum: the digit's pixels never get darker
        assert (cluttered[i, :, y1:y2, x1:x2] >= digits[i]).all()
    extra = (cluttered - clean).clamp(min=0).flatten(1).sum(1)
    assert (extra > 0).float().mean() > 0.9  # pieces are cut where the strokes are
    big, _, _ = cluttered_mnist("test", 100, seed=5)
    assert big.shape == (1000, 1, 100, 100)


def test_make_canvases_counts_pieces():
    digits = torch.zeros(3, 1, 28, 28)
    source = torch.ones(2, 1, 28, 28)
    images, _ = make_canvases(
        digits, 60, n_clutter=1, clutter_size=8, clutter_source=source, generator=torch.Generator().manual_seed(0)
    )
    # one 8x8 piece of ones per canvas (a single piece cannot overlap itself)
    assert torch.equal(images.flatten(1).sum(1), torch.full((3,), 64.0))


def test_deterministic_and_splits_differ():
    a = cluttered_mnist("train", 60, seed=7)[0]
    b = cluttered_mnist("train", 60, seed=7)[0]
    c = cluttered_mnist("train", 60, seed=8)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    centred, labels = centered_mnist("test")
    assert centred.shape == (1000, 1, 28, 28) and labels.shape == (1000,)


def test_loader_fresh_scenes_each_epoch_and_fixed_test_set():
    loader = CanvasLoader("train", 60, 4, batch_size=500, seed=0, limit=1000)
    first = torch.cat([x for x, _ in loader])
    second = torch.cat([x for x, _ in loader])
    assert first.shape == (1000, 1, 60, 60) and len(loader) == 2
    assert not torch.equal(first, second)
    again = CanvasLoader("train", 60, 4, batch_size=500, seed=0, limit=1000)
    assert torch.equal(torch.cat([x for x, _ in again]), first)
    test = CanvasLoader("test", 60, 4, batch_size=300, seed=0, fresh=False)
    x1, y1 = next(iter(test))
    x2, y2 = next(iter(test))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_loader_max_shift_moves_centred_digits_by_whole_pixels():
    plain = CanvasLoader("train", 28, batch_size=200, seed=0, limit=200)
    shifted = CanvasLoader("train", 28, batch_size=200, seed=0, limit=200, max_shift=2)
    (x0, y0), (x1, y1) = next(iter(plain)), next(iter(shifted))
    assert x1.shape == x0.shape and torch.equal(y0, y1)
    padded = torch.nn.functional.pad(x0, (2, 2, 2, 2))
    matched = 0
    for i in range(len(y0)):
        offsets = [(dy, dx) for dy in range(5) for dx in range(5)]
        matched += any(torch.equal(padded[i, :, dy : dy + 28, dx : dx + 28], x1[i]) for dy, dx in offsets)
    assert matched == len(y0)
    assert not torch.equal(x0, x1)
    with pytest.raises(ValueError, match="max_shift"):
        CanvasLoader("test", 28, fresh=False, max_shift=2)


def test_loader_pad_centres_scenes_on_a_larger_blank_canvas():
    plain = next(iter(CanvasLoader("test", 28, batch_size=50, fresh=False)))[0]
    padded = next(iter(CanvasLoader("test", 28, batch_size=50, fresh=False, pad=16)))[0]
    assert padded.shape == (50, 1, 60, 60)
    assert torch.equal(padded[:, :, 16:44, 16:44], plain)
    assert padded.sum().item() == pytest.approx(plain.sum().item(), rel=1e-6)  # only zeros added (float sums: order)
    with pytest.raises(ValueError, match="pad"):
        CanvasLoader("test", 28, fresh=False, pad=-1)


def test_bad_inputs_raise():
    digits = torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError, match="digits"):
        make_canvases(digits[0], 60)
    with pytest.raises(ValueError, match="canvas_size"):
        make_canvases(digits, 20)
    with pytest.raises(ValueError, match="n_clutter"):
        make_canvases(digits, 60, n_clutter=-1)
    with pytest.raises(ValueError, match="clutter_size"):
        make_canvases(digits, 60, n_clutter=2, clutter_size=40)
    with pytest.raises(ValueError, match="seed"):
        cluttered_mnist("train", seed=-1)
    with pytest.raises(ValueError, match="batch_size"):
        CanvasLoader("train", batch_size=0)
    with pytest.raises(ValueError, match="split"):
        translated_mnist("valid")


def test_curriculum_loader_walks_through_its_stages_then_stays_on_the_last():
    near = CanvasLoader("train", 36, batch_size=100, seed=0, limit=200, pad=12)  # digit within 4 px of the centre
    full = CanvasLoader("train", 60, batch_size=100, seed=0, limit=200)
    curriculum = CurriculumLoader([(near, 2)], full)
    assert len(curriculum) == len(full) == 2
    seen = []
    for _ in range(4):
        images = torch.cat([x for x, _ in curriculum])
        ink_cols = images.sum((0, 1, 2)).nonzero()
        seen.append((ink_cols.min().item(), ink_cols.max().item()))
    # the first two epochs keep the ink within the central 36 columns, later epochs spread over the canvas
    assert all(lo >= 12 and hi < 48 for lo, hi in seen[:2])
    assert all(lo < 12 and hi >= 48 for lo, hi in seen[2:])
    assert near.epoch == 2 and full.epoch == 2
    with pytest.raises(ValueError, match="stages"):
        CurriculumLoader([(near, -1)], full)


def test_curriculum_stages_last_their_epochs_under_fit():
    """fit's progress bar calls iter() more than once per epoch; each stage must still last its epochs."""
    from attnlib.train import fit

    easy = [(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))]
    full = [(torch.ones(2, 3), torch.zeros(2, dtype=torch.long))]
    seen = []
    model = torch.nn.Linear(3, 2)

    def step(net, batch):
        seen.append(batch[0][0, 0].item())
        return net(batch[0]).sum() * 0, {}

    fit(
        model,
        CurriculumLoader([(easy, 3)], full),
        torch.optim.SGD(model.parameters(), 0.1),
        5,
        step=step,
        progress=False,
    )
    assert seen == [0.0, 0.0, 0.0, 1.0, 1.0]


_D = torch.rand(3, 1, 28, 28)
_NAN_D = _D.clone()
_NAN_D[0, 0, 0, 0] = float("nan")
_CANVAS_BAD = [
    (lambda: make_canvases(_D[:0], 60), "digits"),
    (lambda: make_canvases(_D.long(), 60), "digits"),
    (lambda: make_canvases(_NAN_D, 60), "digits"),
    (lambda: make_canvases(_D[0], 60), "digits"),
    (lambda: make_canvases(_D, 27), "canvas_size"),
    (lambda: make_canvases(_D, 60.0), "canvas_size"),
    (lambda: make_canvases(_D, True), "canvas_size"),
    (lambda: make_canvases(_D, 60, n_clutter=-1), "n_clutter"),
    (lambda: make_canvases(_D, 60, n_clutter=True), "n_clutter"),
    (lambda: make_canvases(_D, 60, n_clutter=2, clutter_size=0), "clutter_size"),
    (lambda: make_canvases(_D, 60, n_clutter=2, clutter_source=_D[:0]), "clutter_source"),
    (lambda: make_canvases(_D, 60, n_clutter=2, clutter_source=_NAN_D), "clutter_source"),
    (lambda: make_canvases(_D, 60, n_clutter=2, clutter_source=_D.long()), "clutter_source"),
    (lambda: make_canvases(_D, 60, generator=3), "generator"),
    (lambda: cluttered_mnist("train", seed=-1), "seed"),
    (lambda: cluttered_mnist("train", n_clutter=-2), "n_clutter"),
    (lambda: cluttered_mnist("train", canvas_size="60"), "canvas_size"),
    (lambda: cluttered_mnist("Train"), "split"),
    (lambda: translated_mnist("train", canvas_size=20), "canvas_size"),
    (lambda: centered_mnist("train", source="web"), "source"),
    (lambda: CanvasLoader("train", batch_size=0), "batch_size"),
    (lambda: CanvasLoader("train", batch_size=True), "batch_size"),
    (lambda: CanvasLoader("train", limit=0), "limit"),
    (lambda: CanvasLoader("test", limit=10**6), "limit"),
    (lambda: CanvasLoader("train", seed=-1), "seed"),
    (lambda: CanvasLoader("train", fresh="yes"), "fresh"),
    (lambda: CanvasLoader("train", max_shift=-1), "max_shift"),
    (lambda: CanvasLoader("train", pad=-1), "pad"),
    (lambda: CanvasLoader("train", pad=True), "pad"),
    (lambda: CanvasLoader("train", max_shift=True), "max_shift"),
    (lambda: CanvasLoader("train", clutter_size=-1), "clutter_size"),
    (lambda: make_canvases(_D, 60, n_clutter=1, clutter_size=True), "clutter_size"),
    (lambda: CanvasLoader("train", canvas_size=20), "canvas_size"),
    (lambda: CanvasLoader("train", n_clutter=-1), "n_clutter"),
    (lambda: CanvasLoader("valid"), "split"),
    (lambda: CurriculumLoader([(None, 2)], [1]), "stages"),
    (lambda: CurriculumLoader([([1], -1)], [1]), "stages"),
    (lambda: CurriculumLoader([([1], True)], [1]), "stages"),
    (lambda: CurriculumLoader(([1], 2), [1]), "stages"),
    (lambda: CurriculumLoader("abc", [1]), "stages"),
    (lambda: CurriculumLoader([], None), "final"),
]


@pytest.mark.parametrize("call, name", _CANVAS_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_CANVAS_BAD)])
def test_canvas_refuses_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()
