"""Tests of attnlib.glimpse: the retina's semantics against a naive per-sample reference."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from attnlib.glimpse import GlimpseSensor, extract_glimpses, extract_glimpses_loop, glimpse_boxes


def naive_glimpses(images: torch.Tensor, centers: torch.Tensor, size: int, n_scales: int, factor: int) -> torch.Tensor:
    """One sample and one scale at a time: pad with zeros, slice the integer patch, average blocks.

    Valid for centres whose patch corners fall on pixel boundaries.
    """
    _, _, height, width = images.shape
    out = []
    for b in range(images.shape[0]):
        scales = []
        for k in range(n_scales):
            block = factor**k
            side = size * block
            c0 = (centers[b, 0].item() + 1) / 2 * width - side / 2
            r0 = (centers[b, 1].item() + 1) / 2 * height - side / 2
            assert abs(c0 - round(c0)) < 1e-4 and abs(r0 - round(r0)) < 1e-4
            c0, r0 = round(c0), round(r0)
            pad = side + 2
            padded = F.pad(images[b], (pad, pad, pad, pad))
            patch = padded[:, r0 + pad : r0 + pad + side, c0 + pad : c0 + pad + side]
            scales.append(patch.reshape(-1, size, block, size, block).mean((2, 4)))
        out.append(torch.stack(scales))
    return torch.stack(out)


def area_reference(images: torch.Tensor, centers: torch.Tensor, size: int, n_scales: int, factor: int, sub: int):
    """Exact area averages for centres on a 1/sub pixel grid: upsample each pixel to sub x sub, then cut."""
    fine = images.repeat_interleave(sub, -1).repeat_interleave(sub, -2)
    _, _, height, width = images.shape
    out = []
    for b in range(images.shape[0]):
        scales = []
        for k in range(n_scales):
            block = factor**k
            side = size * block * sub
            c0 = round(((centers[b, 0].item() + 1) / 2 * width - size * block / 2) * sub)
            r0 = round(((centers[b, 1].item() + 1) / 2 * height - size * block / 2) * sub)
            pad = side + 2
            padded = F.pad(fine[b], (pad, pad, pad, pad))
            patch = padded[:, r0 + pad : r0 + pad + side, c0 + pad : c0 + pad + side]
            scales.append(patch.reshape(-1, size, block * sub, size, block * sub).mean((2, 4)))
        out.append(torch.stack(scales))
    return torch.stack(out)


def boundary_centers(n: int, width: int, gen: torch.Generator, half: bool = False) -> torch.Tensor:
    """Centres at integer (or half-integer) pixel positions u, inside and beyond the borders."""
    u = torch.randint(-3, width + 4, (n, 2), generator=gen).double() + (0.5 if half else 0.0)
    return (u / width * 2 - 1).clamp(-1, 1).float()


@pytest.mark.parametrize("size,n_scales,factor,width", [(12, 3, 2, 60), (8, 1, 2, 28), (4, 4, 2, 100), (6, 2, 3, 30)])
def test_matches_naive_reference_on_pixel_boundaries(size, n_scales, factor, width):
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(9, 2, width, width, generator=gen)
    centers = boundary_centers(9, width, gen)
    fast = extract_glimpses(images, centers, size, n_scales, factor)
    assert fast.shape == (9, n_scales, 2, size, size)
    torch.testing.assert_close(fast, naive_glimpses(images, centers, size, n_scales, factor), atol=1e-6, rtol=0)


def test_odd_size_single_scale_half_pixel_centres_cut_exact_pixels():
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(7, 1, 28, 28, generator=gen)
    centers = boundary_centers(7, 28, gen, half=True)
    centers = centers.clamp(-1 + 1 / 28, 1 - 1 / 28)  # stay on half-integer positions after clamping
    fast = extract_glimpses(images, centers, 5, 1)
    assert torch.equal(fast, naive_glimpses(images, centers, 5, 1, 2))


def test_corner_semantics_and_zero_outside():
    image = torch.arange(1.0, 17.0).view(1, 1, 4, 4)
    # (-1, -1) is the top-left corner: a 2x2 glimpse there sees pixel (0, 0) and zeros
    top_left = extract_glimpses(image, torch.tensor([[-1.0, -1.0]]), 2)[0, 0, 0]
    assert torch.equal(top_left, torch.tensor([[0.0, 0.0], [0.0, 1.0]]))
    # x runs along the width: centre (0, -1) -> pixels (row 0, cols 1..2) in the bottom row of the glimpse
    top_mid = extract_glimpses(image, torch.tensor([[0.0, -1.0]]), 2)[0, 0, 0]
    assert torch.equal(top_mid, torch.tensor([[0.0, 0.0], [2.0, 3.0]]))
    bottom_right = extract_glimpses(image, torch.tensor([[1.0, 1.0]]), 2)[0, 0, 0]
    assert torch.equal(bottom_right, torch.tensor([[16.0, 0.0], [0.0, 0.0]]))
    centre = extract_glimpses(image, torch.tensor([[0.0, 0.0]]), 2, n_scales=2)[0, :, 0]
    assert torch.equal(centre[0], torch.tensor([[6.0, 7.0], [10.0, 11.0]]))
    assert torch.equal(centre[1], image[0, 0].reshape(2, 2, 2, 2).mean((1, 3)))


def test_fractional_centres_are_exact_area_averages():
    gen = torch.Generator().manual_seed(2)
    images = torch.rand(6, 1, 20, 20, generator=gen)
    sub = 4
    u = torch.randint(-8, 20 * sub + 8, (6, 2), generator=gen).double() / sub
    centers = (u / 20 * 2 - 1).clamp(-1, 1).float()
    fast = extract_glimpses(images, centers, 4, 3)
    torch.testing.assert_close(fast, area_reference(images, centers, 4, 3, 2, sub), atol=1e-5, rtol=0)


def test_differentiable_with_respect_to_images():
    gen = torch.Generator().manual_seed(3)
    images = torch.rand(3, 1, 16, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    centers = torch.tensor([[0.13, -0.4], [0.9, 0.9], [-0.77, 0.21]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: extract_glimpses(x, centers, 4, 2), (images,))
    # the gradient of the summed scale-0 glimpse is the coverage of each pixel: it sums to the covered area
    out = extract_glimpses(images, torch.zeros(3, 2, dtype=torch.float64), 4, 1)
    (grad,) = torch.autograd.grad(out.sum(), images)
    torch.testing.assert_close(grad.sum(), torch.tensor(3 * 16.0, dtype=torch.float64))


def test_sensor_module_matches_function():
    gen = torch.Generator().manual_seed(4)
    images = torch.rand(5, 1, 60, 60, generator=gen)
    sensor = GlimpseSensor(12, 3)
    centers = torch.rand(5, 2, generator=gen) * 2 - 1
    assert torch.equal(sensor(images, centers), extract_glimpses(images, centers, 12, 3))
    assert sensor.output_features(1) == 3 * 144


def test_rectangular_images():
    gen = torch.Generator().manual_seed(5)
    images = torch.rand(4, 1, 20, 36, generator=gen)
    u = torch.stack(
        [torch.randint(-2, 39, (4,), generator=gen), torch.randint(-2, 23, (4,), generator=gen)], 1
    ).double()
    centers = (u / torch.tensor([36.0, 20.0], dtype=torch.float64) * 2 - 1).clamp(-1, 1).float()
    torch.testing.assert_close(
        extract_glimpses(images, centers, 6, 2), naive_glimpses(images, centers, 6, 2, 2), atol=1e-6, rtol=0
    )


def test_loop_reference_agrees_on_pixel_boundaries():
    gen = torch.Generator().manual_seed(6)
    images = torch.rand(5, 1, 60, 60, generator=gen)
    centers = boundary_centers(5, 60, gen)
    torch.testing.assert_close(
        extract_glimpses_loop(images, centers, 12, 3), extract_glimpses(images, centers, 12, 3), atol=1e-6, rtol=0
    )


def test_glimpse_boxes():
    boxes = glimpse_boxes(torch.tensor([[0.0, 0.0]]), (60, 60), 12, 3)
    torch.testing.assert_close(boxes[0], torch.tensor([[24.0, 24, 36, 36], [18, 18, 42, 42], [6, 6, 54, 54]]))


def test_bad_inputs_raise():
    images = torch.rand(2, 1, 10, 10)
    with pytest.raises(ValueError, match="images"):
        extract_glimpses(images[0], torch.zeros(2, 2), 4)
    with pytest.raises(ValueError, match="centers"):
        extract_glimpses(images, torch.zeros(2, 3), 4)
    with pytest.raises(ValueError, match="batch"):
        extract_glimpses(images, torch.zeros(3, 2), 4)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        extract_glimpses(images, torch.full((2, 2), 1.5), 4)
    with pytest.raises(ValueError, match="size"):
        extract_glimpses(images, torch.zeros(2, 2), 0)
    with pytest.raises(ValueError, match="n_scales"):
        extract_glimpses(images, torch.zeros(2, 2), 4, n_scales=0)
    with pytest.raises(ValueError, match="scale_factor"):
        extract_glimpses(images, torch.zeros(2, 2), 4, scale_factor=0)
    with pytest.raises(ValueError, match="size"):
        GlimpseSensor(-1)


def _bad_glimpse_calls():
    """(call, argument the message must name): the mistakes a new user makes."""
    images, centers = torch.rand(2, 1, 10, 10), torch.zeros(2, 2)
    return [
        (lambda: extract_glimpses(images, centers, 0), "size"),
        (lambda: extract_glimpses(images, centers, 4.0), "size"),
        (lambda: extract_glimpses(images, centers, True), "size"),
        (lambda: extract_glimpses(images, centers, 4, n_scales=-1), "n_scales"),
        (lambda: extract_glimpses(images, centers, 4, scale_factor=1.5), "scale_factor"),
        (lambda: extract_glimpses(images.numpy(), centers, 4), "images"),
        (lambda: extract_glimpses((images * 255).to(torch.uint8), centers, 4), "images"),  # silently wrong before
        (lambda: extract_glimpses(images[:, 0], centers, 4), "images"),
        (lambda: extract_glimpses(images, centers[:1], 4), "batch"),
        (lambda: extract_glimpses(images, torch.zeros(2), 4), "centers"),
        (lambda: extract_glimpses(images, torch.full((2, 2), float("nan")), 4), "centers"),
        (lambda: extract_glimpses(images, torch.full((2, 2), -float("inf")), 4), "centers"),
        (lambda: extract_glimpses(images, torch.full((2, 2), -1.01), 4), "centers"),
        (lambda: extract_glimpses(images, torch.zeros(2, 2, dtype=torch.bool), 4), "centers"),
        (lambda: extract_glimpses(images, [[0.0, 0.0], [0.0, 0.0]], 4), "centers"),
        (lambda: GlimpseSensor(0), "size"),
        (lambda: GlimpseSensor(4, n_scales=0), "n_scales"),
        (lambda: GlimpseSensor(4, scale_factor=0), "scale_factor"),
        (lambda: GlimpseSensor(4)(images, torch.ones(2, 2) * 2), "centers"),
        (lambda: GlimpseSensor(4).output_features(0), "channels"),
        (lambda: glimpse_boxes(torch.zeros(3), (10, 10), 4), "centers"),
        (lambda: glimpse_boxes(torch.zeros(2, 2), (10,), 4), "image_size"),
        (lambda: glimpse_boxes(torch.zeros(2, 2), (0, 10), 4), "image_size"),
        (lambda: glimpse_boxes(torch.zeros(2, 2), (10, 10), 0), "size"),
        (lambda: glimpse_boxes(torch.zeros(2, 2), (10, 10), 4, n_scales=0), "n_scales"),
        (lambda: glimpse_boxes(torch.zeros(2, 2), (10, 10), 4, scale_factor=-2), "scale_factor"),
        (lambda: glimpse_boxes(torch.full((2, 2), float("nan")), (10, 10), 4), "centers"),
        (lambda: glimpse_boxes([0.0, 0.0], (10, 10), 4), "centers"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_glimpse_calls())))
def test_bad_inputs_are_refused_naming_the_argument(case):
    call, match = _bad_glimpse_calls()[case]
    with pytest.raises(ValueError, match=match):
        call()
