"""attnlib.boxes: paired IoU, GIoU loss against torchvision, degenerate boxes, Acc@0.5."""

import pytest
import torch
import torchvision

from attnlib import boxes
from attnlib.boxes import acc_at_iou, check_boxes, generalized_box_iou, generalized_box_iou_loss, paired_iou


def random_boxes(n: int, g: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g)
    wh = torch.rand(n, 2, generator=g) * 0.5
    return torch.cat([xy, xy + wh], -1)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_giou_loss_matches_torchvision(reduction, generator):
    a, b = random_boxes(200, generator), random_boxes(200, generator)
    ours = generalized_box_iou_loss(a, b, reduction=reduction)
    ref = torchvision.ops.generalized_box_iou_loss(a, b, reduction=reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_giou_exact_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    # Identical: IoU = GIoU = 1.
    assert generalized_box_iou(a, a).item() == pytest.approx(1.0)
    # Overlap 1x2 of union 6, enclosing box 3x2 = union: GIoU = IoU = 1/3.
    b = torch.tensor([[1.0, 0.0, 3.0, 2.0]])
    assert generalized_box_iou(a, b).item() == pytest.approx(1 / 3, abs=1e-6)
    # Disjoint: IoU 0, C = 4x2 = 8, union 8 - 0 = 8 ... with a gap: [3, 5] -> C = 5x2 = 10, union 8.
    c = torch.tensor([[3.0, 0.0, 5.0, 2.0]])
    assert paired_iou(a, c)[0].item() == 0.0
    assert generalized_box_iou(a, c).item() == pytest.approx(0 - 2 / 10, abs=1e-6)


def test_iou_matches_box_iou_diagonal(generator):
    a, b = random_boxes(50, generator), random_boxes(50, generator)
    iou, _ = paired_iou(a, b)
    torch.testing.assert_close(iou, torchvision.ops.box_iou(a, b).diagonal(), rtol=1e-5, atol=1e-6)


def test_giou_gradient_nonzero_for_disjoint_boxes():
    pred = torch.tensor([[0.0, 0.0, 1.0, 1.0]], requires_grad=True)
    target = torch.tensor([[2.0, 2.0, 3.0, 3.0]])
    paired_iou(pred, target)[0].sum().backward()
    assert pred.grad.abs().sum().item() == 0.0  # IoU is flat for disjoint boxes
    pred.grad = None
    generalized_box_iou_loss(pred, target, reduction="sum").backward()
    assert pred.grad.abs().sum().item() > 0  # GIoU is not


@pytest.mark.parametrize(
    "pred,target",
    [
        ([[0.5, 0.5, 0.5, 0.5]], [[0.5, 0.5, 0.5, 0.5]]),  # two identical points
        ([[0.2, 0.2, 0.2, 0.6]], [[0.1, 0.1, 0.4, 0.4]]),  # zero-width prediction
        ([[0.1, 0.1, 0.4, 0.4]], [[0.1, 0.1, 0.4, 0.4]]),  # identical boxes
    ],
)
def test_degenerate_boxes_finite(pred, target):
    p = torch.tensor(pred, requires_grad=True)
    loss = generalized_box_iou_loss(p, torch.tensor(target), reduction="sum")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(p.grad).all()


def test_bad_inputs():
    good = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match="x2 < x1"):
        generalized_box_iou_loss(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), good)
    with pytest.raises(ValueError, match="x2 < x1"):
        generalized_box_iou_loss(good, torch.tensor([[0.0, 1.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        generalized_box_iou_loss(torch.zeros(4), good)
    with pytest.raises(ValueError, match="same number"):
        generalized_box_iou_loss(good, good.repeat(2, 1))
    with pytest.raises(ValueError, match="reduction"):
        generalized_box_iou_loss(good, good, reduction="max")
    with pytest.raises(ValueError, match="threshold"):
        acc_at_iou(good, good, threshold=1.5)


def test_acc_at_iou():
    target = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    pred = torch.tensor([[0.0, 0.0, 1.0, 0.8], [0.0, 0.0, 1.0, 0.4]])  # IoU 0.8 and 0.4
    acc, miou = acc_at_iou(pred, target)
    assert acc == pytest.approx(0.5) and miou == pytest.approx(0.6)


_GOOD = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
_NAN = torch.tensor([[0.0, 0.0, float("nan"), 1.0]])
_BOXES_BAD = [
    (lambda: generalized_box_iou_loss(_NAN, _GOOD), "pred"),
    (lambda: generalized_box_iou_loss(_GOOD, _NAN), "target"),
    (lambda: generalized_box_iou_loss(_GOOD, torch.tensor([[0.0, 0.0, float("inf"), 1.0]])), "target"),
    (lambda: generalized_box_iou_loss(_GOOD, _GOOD, reduction="avg"), "reduction"),
    (lambda: generalized_box_iou_loss(_GOOD, _GOOD, eps=-1.0), "eps"),
    (lambda: generalized_box_iou_loss(_GOOD.bool(), _GOOD), "pred"),
    (lambda: generalized_box_iou([[0, 0, 1, 1]], _GOOD), "pred"),
    (lambda: generalized_box_iou(_GOOD, _GOOD.repeat(2, 1)), "pred"),
    (lambda: paired_iou(_GOOD[0], _GOOD), "pred"),
    (lambda: paired_iou(_GOOD, _GOOD, eps=float("nan")), "eps"),
    (lambda: acc_at_iou(_NAN, _GOOD), "pred"),
    (lambda: acc_at_iou(_GOOD, _NAN), "target"),
    (lambda: acc_at_iou(_GOOD, _GOOD, threshold=1.0), "threshold"),
    (lambda: acc_at_iou(_GOOD, _GOOD, threshold=float("nan")), "threshold"),
    (lambda: acc_at_iou(_GOOD, _GOOD, threshold="0.5"), "threshold"),
    (lambda: acc_at_iou(_GOOD[:0], _GOOD[:0]), "pred"),
    (lambda: check_boxes(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), "my_boxes"), "my_boxes"),
    (lambda: check_boxes(torch.zeros(2, 4, dtype=torch.complex64), "my_boxes"), "my_boxes"),
]


@pytest.mark.parametrize("call, name", _BOXES_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_BOXES_BAD)])
def test_boxes_refuse_bad_input(call, name):
    """A NaN coordinate passes ``x2 >= x1`` (NaN comparisons are false): it must be refused, not scored."""
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: boxes.box_convert(torch.zeros(2, 3), "xyxy", "cxcywh", name="pred_cxcywh"), "^pred_cxcywh must"),
        (
            lambda: boxes.box_convert(torch.tensor([[0.0, float("nan"), 1, 1]]), "xyxy", "xywh", name="target"),
            "^target",
        ),
        (lambda: boxes.box_convert([[0.0, 0, 1, 1]], "xyxy", "xywh"), "^boxes must"),
        (lambda: boxes.box_convert(torch.zeros(1, 4), "xyxy", "cxcwh"), "^out_fmt must"),
        (lambda: boxes.box_convert(torch.zeros(1, 4), "XYXY", "xywh"), "^in_fmt must"),
    ],
)
def test_box_convert_names_the_callers_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_box_convert_agrees_with_torchvision():
    from torchvision.ops import box_convert as tv

    b = torch.tensor([[1.0, 2.0, 4.0, 6.0], [0.0, 0.0, 1.0, 1.0]])
    for out in ("xywh", "cxcywh"):
        assert torch.equal(boxes.box_convert(b, "xyxy", out), tv(b, "xyxy", out))
