"""Every data source has train / val / test splits that share no digit, seed stream or word (design.md)."""

import numpy as np
import pytest
import torch

from attnlib.data import load_mnist, quadrant_mnist
from attnlib.data.canvas import CanvasLoader, cluttered_mnist
from attnlib.data.captions import make_digit_captions
from attnlib.data.longrange import make_longrange
from attnlib.data.refexp import make_refexp
from attnlib.data.splits import SPLITS, check_split, split_generator, split_rng, split_seed
from attnlib.data.vqa import make_vqa_dataset
from attnlib.data.words import english_words, make_words, split_words


def _rows(images: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in images.flatten(1)}


def test_split_seeds_differ_across_splits_streams_and_seeds_and_are_stable():
    seeds = {(s, split, k): split_seed(s, split, k) for s in range(4) for split in SPLITS for k in range(3)}
    assert len(set(seeds.values())) == len(seeds)
    assert split_seed(0, "train") == split_seed(0, "train") and 0 <= split_seed(0, "test") < 2**63
    a = torch.rand(5, generator=split_generator(3, "val"))
    assert torch.equal(a, torch.rand(5, generator=split_generator(3, "val")))
    assert not torch.equal(a, torch.rand(5, generator=split_generator(3, "test")))
    assert split_rng(1, "train").integers(1 << 30) == split_rng(1, "train").integers(1 << 30)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: check_split("dev"), "split"),
        (lambda: split_seed(-1, "train"), "seed"),
        (lambda: split_seed(0, "train", stream=-2), "stream"),
        (lambda: split_generator(0, "Train"), "split"),
    ],
)
def test_bad_split_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mnist_built_tasks_use_their_own_digits_per_split():
    """Canvases and quadrants of one split hold only that split's digits, and equal seeds still differ."""
    digits = {split: _rows(load_mnist(split)[0]) for split in SPLITS}
    for split in SPLITS:
        canvases, _, quadrant = quadrant_mnist(split, seed=0)
        cells = canvases.view(-1, 1, 2, 28, 2, 28).permute(0, 2, 4, 1, 3, 5).reshape(-1, 4, 1, 28, 28)
        placed = cells[torch.arange(len(cells)), quadrant]
        assert _rows(placed) <= digits[split]
    q_train, q_val = quadrant_mnist("train", 0)[2], quadrant_mnist("val", 0)[2]
    assert not torch.equal(q_train[:500], q_val)
    a = cluttered_mnist("val", 60, seed=0)[2]
    b = cluttered_mnist("test", 60, seed=0)[2][:500]
    assert not torch.equal(a, b)
    assert len(CanvasLoader("val", 60, fresh=False).labels) == 500


def test_captions_of_equal_seeds_differ_across_splits():
    a = make_digit_captions(8, split="val", seed=0)
    b = make_digit_captions(8, split="test", seed=0)
    assert not torch.equal(a.images, b.images)


def test_generated_tasks_give_disjoint_streams_per_split():
    long = {split: make_longrange(64, seed=0, split=split)[0] for split in SPLITS}
    assert not torch.equal(long["train"], long["val"]) and not torch.equal(long["val"], long["test"])
    assert torch.equal(long["val"], make_longrange(64, seed=0, split="val")[0])
    ref = {split: make_refexp(16, split=split, seed=0).images for split in SPLITS}
    assert not torch.equal(ref["train"], ref["val"]) and not torch.equal(ref["val"], ref["test"])
    assert torch.equal(ref["test"], make_refexp(16, split="test", seed=0).images)
    vqa = {split: make_vqa_dataset(4, split, seed=0).images for split in SPLITS}
    assert not torch.equal(vqa["train"], vqa["val"]) and not torch.equal(vqa["val"], vqa["test"])
    for bad in (lambda: make_longrange(4, 0, split="dev"), lambda: make_refexp(4, split="dev")):
        with pytest.raises(ValueError, match="split"):
            bad()


def test_word_splits_share_no_word():
    train, val, test = split_words(english_words())
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    for split, pool in zip(SPLITS, (train, val, test)):
        assert set(make_words(30, "english", split, seed=0).words) <= set(pool)
    rand = [make_words(30, "random", split, seed=0).words for split in SPLITS]
    assert rand[0] != rand[1] != rand[2]
    assert np.isclose(len(val) / len(english_words()), 0.1, atol=0.01)
