"""The encoder's pretraining (Chapter 5, Section 4): shifts, offset targets (Eq. sat-offset), the step."""

import pytest
import torch

from attnlib import sat, train
from attnlib.data import ink_centres


def test_finer_grid_and_its_receptive_field():
    """stride=4 gives a 16 x 16 grid whose cells still see 34 x 34 pixels (the dilated last conv)."""
    enc = sat.SmallCNNEncoder(stride=4).eval()
    feats, grid = enc(torch.rand(2, 1, 64, 64))
    assert grid == (16, 16) and feats.shape == (2, 256, 66) and enc.stride == 4
    torch.testing.assert_close(feats[0, :, -2:], sat.coordinate_grid(16, 16))
    # receptive field: the pixels that reach one cell's features; a max-pool passes the gradient to
    # one pixel per window, so take the union over random images
    for stride, cell, expected in [(4, 8 * 16 + 8, 34), (8, 4 * 8 + 4, 38)]:
        encoder = sat.SmallCNNEncoder(stride=stride).eval()
        images = torch.rand(32, 1, 64, 64, requires_grad=True)
        encoder(images)[0][:, cell, :-2].sum().backward()
        reach = (images.grad.abs().sum((0, 1)) > 0).nonzero()
        span = reach.max(0).values - reach.min(0).values + 1
        assert span.tolist() == [expected, expected]
    with pytest.raises(ValueError, match="stride"):
        sat.SmallCNNEncoder(stride=2)


def test_shift_in_frame_equals_roll_and_moves_the_centre():
    torch.manual_seed(0)
    images = torch.rand(6, 1, 9, 7)
    shifts = torch.randint(-3, 4, (6, 2))
    out = sat.shift_in_frame(images, shifts, 3)
    padded = torch.nn.functional.pad(images, (3, 3, 3, 3))
    for i in range(6):
        dx, dy = shifts[i].tolist()
        torch.testing.assert_close(out[i], torch.roll(padded[i], (dy, dx), dims=(-2, -1)))
    # the ink centre moves by exactly (dx, dy) plus the padding
    torch.testing.assert_close(ink_centres(out), ink_centres(images) + 3 + shifts.float())
    with pytest.raises(ValueError, match="pad"):
        sat.shift_in_frame(images, shifts * 2, 3)
    with pytest.raises(ValueError, match="shifts"):
        sat.shift_in_frame(images, shifts.float(), 3)


def test_cell_offsets_against_a_loop():
    centres = torch.tensor([[10.0, 3.0], [0.0, 31.5]])
    got = sat.cell_offsets(centres, (3, 4), 8)
    assert got.shape == (2, 12, 2)
    for n in range(2):
        for r in range(3):
            for q in range(4):
                expected = (centres[n] - torch.tensor([(q + 0.5) * 8, (r + 0.5) * 8])) / 8
                torch.testing.assert_close(got[n, r * 4 + q], expected)
    # the cell that holds the centre has an offset within half a cell
    assert got[0, 1].abs().max() <= 0.5
    with pytest.raises(ValueError, match="centres"):
        sat.cell_offsets(torch.zeros(2, 3), (3, 4), 8)


def test_offset_loss_counts_only_nearby_cells():
    target = torch.tensor([[[0.2, -0.4], [3.0, 0.0], [1.5, -1.5]]])
    predicted = torch.tensor([[[0.0, 0.0], [100.0, 100.0], [0.5, -0.5]]])
    expected = ((0.2**2 + 0.4**2) + (1.0**2 + 1.0**2)) / 2  # the cell 3 cells away is ignored
    torch.testing.assert_close(sat.offset_loss(predicted, target, radius=1.5), torch.tensor(expected))
    with pytest.raises(ValueError, match="radius"):
        sat.offset_loss(predicted, target, radius=0.1)
    with pytest.raises(ValueError, match="predicted"):
        sat.offset_loss(predicted[..., :1], target)


def test_pretraining_learns_class_and_offset():
    """A few hundred steps on two synthetic 'digits' teach both the class and the within-cell offset."""
    torch.manual_seed(0)
    n = 512
    labels = torch.randint(0, 2, (n,))
    images = torch.zeros(n, 1, 16, 16)
    images[labels == 0, 0, 6:10, 4:12] = 1.0  # a bar
    images[labels == 1, 0, 4:12, 6:10] = 1.0  # a column
    centres = ink_centres(images)
    enc = sat.SmallCNNEncoder(channels=(8, 8, 16, 16))
    head = sat.PretrainHead(enc, num_classes=2, offsets=True)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, labels, centres), batch_size=64, shuffle=True
    )
    step = sat.make_pretrain_step(max_shift=4, generator=torch.Generator().manual_seed(1))
    history = train.fit(head, loader, torch.optim.Adam(head.parameters(), 1e-2), 12, step=step, progress=False)
    assert history["acc"][-1] > 0.95
    # offsets known to within about a quarter of a cell (2 pixels) on each axis; the first epoch averages ~0.8
    assert history["offset_mse"][-1] < 0.25**2 * 2
    assert history["offset_mse"][-1] < history["offset_mse"][0] / 3
    with pytest.raises(ValueError, match="max_shift"):
        sat.make_pretrain_step(max_shift=-1)


# ----------------------------------------------------------------------------- bad input (issue 24)


def _pretrain_bad_calls():
    torch.manual_seed(0)
    head = sat.PretrainHead(sat.SmallCNNEncoder(channels=(4, 4, 4, 4)), offsets=True)
    images, labels, centres = torch.rand(2, 1, 28, 28), torch.tensor([3, 7]), torch.full((2, 2), 14.0)
    step = sat.make_pretrain_step(max_shift=2)
    return {
        "num_classes 1": (lambda: sat.PretrainHead(head.encoder, num_classes=1), "num_classes"),
        "encoder without out_dim": (lambda: sat.PretrainHead(torch.nn.Identity()), "encoder"),
        "shift pad -1": (lambda: sat.shift_in_frame(images, torch.zeros(2, 2, dtype=torch.long), -1), "pad"),
        "shifts float": (lambda: sat.shift_in_frame(images, torch.zeros(2, 2), 2), "shifts"),
        "shift beyond pad": (lambda: sat.shift_in_frame(images, torch.full((2, 2), 3), 2), "pad"),
        "offsets stride 0": (lambda: sat.cell_offsets(centres, (4, 4), 0), "stride"),
        "offsets grid 0": (lambda: sat.cell_offsets(centres, (0, 4), 8), "grid"),
        "offsets nan centre": (lambda: sat.cell_offsets(torch.full((2, 2), float("nan")), (4, 4), 8), "centres"),
        "offsets centres rank": (lambda: sat.cell_offsets(centres[0], (4, 4), 8), "centres"),
        "offset_loss radius 0": (lambda: sat.offset_loss(torch.zeros(1, 4, 2), torch.zeros(1, 4, 2), 0.0), "radius"),
        "offset_loss radius nan": (
            lambda: sat.offset_loss(torch.zeros(1, 4, 2), torch.zeros(1, 4, 2), float("nan")),
            "radius",
        ),
        "step max_shift -1": (lambda: sat.make_pretrain_step(max_shift=-1), "max_shift"),
        "step max_shift float": (lambda: sat.make_pretrain_step(max_shift=2.5), "max_shift"),
        "step offset_weight nan": (lambda: sat.make_pretrain_step(offset_weight=float("nan")), "offset_weight"),
        "step label == classes": (lambda: step(head, (images, torch.tensor([3, 10]), centres)), "labels"),
        "step label -1": (lambda: step(head, (images, torch.tensor([-1, 0]), centres)), "labels"),
        "step labels float": (lambda: step(head, (images, labels.float(), centres)), "labels"),
        "step labels batch": (lambda: step(head, (images, labels[:1], centres)), "labels"),
        "step batch pair": (lambda: step(head, (images, labels)), "batch"),
    }


_PRETRAIN_BAD = _pretrain_bad_calls()


@pytest.mark.parametrize("case", sorted(_PRETRAIN_BAD))
def test_bad_input_is_refused_naming_the_argument(case):
    call, name = _PRETRAIN_BAD[case]
    with pytest.raises(ValueError, match=name):
        call()
