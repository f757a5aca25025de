"""The long-range matching task: determinism, labels, geometry, bad inputs."""

import pytest
import torch

from attnlib.data.longrange import make_longrange, make_vocabulary


def test_vocabulary_is_distinct_and_deterministic():
    v1 = make_vocabulary(8, 4, min_hamming=4, seed=0)
    v2 = make_vocabulary(8, 4, min_hamming=4, seed=0)
    assert v1.shape == (8, 4, 4)
    assert torch.equal(v1, v2)
    flat = v1.flatten(1)
    distances = (flat[:, None] != flat[None]).sum(-1)
    off_diagonal = distances[~torch.eye(8, dtype=torch.bool)]
    assert off_diagonal.min() >= 4
    assert set(v1.unique().tolist()) <= {0.0, 1.0}


def test_same_seed_same_data_other_seed_other_data():
    a = make_longrange(64, seed=3)
    b = make_longrange(64, seed=3)
    c = make_longrange(64, seed=4)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a[0], c[0])


def test_shapes_labels_and_balance():
    images, labels, corners = make_longrange(2000, seed=0, size=32)
    assert images.shape == (2000, 1, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (2000,) and labels.dtype == torch.int64
    assert corners.shape == (2000, 2, 2)
    assert 0.45 < labels.float().mean().item() < 0.55


def test_patterns_are_far_apart_and_labels_say_whether_they_match():
    vocab = make_vocabulary()
    s = vocab.shape[1]
    images, labels, corners = make_longrange(500, seed=1, size=32, min_distance=20, vocabulary=vocab)
    assert corners.min() >= 0 and corners.max() <= 32 - s
    gaps = (corners[:, 0] - corners[:, 1]).abs().max(dim=1).values
    assert gaps.min() >= 20
    # Cut both patterns back out (vectorised) and compare them with the label.
    idx = torch.arange(s)
    sample = torch.arange(500)[:, None, None]
    crops = []
    for slot in range(2):
        r = corners[:, slot, 0, None, None] + idx[None, :, None]
        c = corners[:, slot, 1, None, None] + idx[None, None, :]
        crops.append(images[:, 0][sample, r, c])
    same = (crops[0] == crops[1]).flatten(1).all(1).long()
    assert torch.equal(same, labels)
    # Each crop is a vocabulary pattern, and the canvas holds nothing else.
    in_vocab = (crops[0].flatten(1)[:, None] == vocab.flatten(1)[None]).all(-1).any(-1)
    assert in_vocab.all()
    assert torch.allclose(images.sum((1, 2, 3)), crops[0].sum((1, 2)) + crops[1].sum((1, 2)))


def test_noise_is_seeded():
    a, _, _ = make_longrange(8, seed=0, noise=0.1)
    b, _, _ = make_longrange(8, seed=0, noise=0.1)
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"n": 0}, "n"),
        ({"min_distance": 40}, "min_distance"),
        ({"noise": -1.0}, "noise"),
        ({"vocabulary": torch.zeros(1, 4, 4)}, "vocabulary"),
    ],
)
def test_bad_inputs_raise(kwargs, word):
    args = {"n": 4, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=word):
        make_longrange(**args)


def test_bad_vocabulary_arguments_raise():
    with pytest.raises(ValueError, match="num_patterns"):
        make_vocabulary(num_patterns=1)
    with pytest.raises(ValueError, match="pattern_size"):
        make_vocabulary(pattern_size=1)
    with pytest.raises(ValueError, match="min_hamming"):
        make_vocabulary(pattern_size=2, min_hamming=5)


_VOCAB = make_vocabulary()
_LONGRANGE_BAD = [
    (lambda: make_vocabulary(num_patterns=1), "num_patterns"),
    (lambda: make_vocabulary(num_patterns=2.0), "num_patterns"),
    (lambda: make_vocabulary(pattern_size=1), "pattern_size"),
    (lambda: make_vocabulary(min_hamming=9), "min_hamming"),
    (lambda: make_vocabulary(min_hamming=-1), "min_hamming"),
    (lambda: make_vocabulary(min_hamming=2.5), "min_hamming"),
    (lambda: make_vocabulary(seed=-1), "seed"),
    (lambda: make_longrange(0, 0), "n"),
    (lambda: make_longrange(4.0, 0), "n"),
    (lambda: make_longrange(4, -1), "seed"),
    (lambda: make_longrange(4, 0, size=0), "size"),
    (lambda: make_longrange(4, 0, size=32.0), "size"),
    (lambda: make_longrange(4, 0, min_distance=0), "min_distance"),
    (lambda: make_longrange(4, 0, min_distance=29), "min_distance"),
    (lambda: make_longrange(4, 0, min_distance=20.5), "min_distance"),
    (lambda: make_longrange(4, 0, noise=-0.1), "noise"),
    (lambda: make_longrange(4, 0, noise=float("nan")), "noise"),
    (lambda: make_longrange(4, 0, noise=float("inf")), "noise"),
    (lambda: make_longrange(4, 0, vocabulary=_VOCAB[:1]), "vocabulary"),
    (lambda: make_longrange(4, 0, vocabulary=_VOCAB[:, :3]), "vocabulary"),
    (lambda: make_longrange(4, 0, vocabulary=_VOCAB.long()), "vocabulary"),
    (lambda: make_longrange(4, 0, vocabulary=_VOCAB * float("nan")), "vocabulary"),
    (lambda: make_longrange(4, 0, split="dev"), "split"),
]


@pytest.mark.parametrize("call, name", _LONGRANGE_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_LONGRANGE_BAD)])
def test_longrange_refuses_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()
