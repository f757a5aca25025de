"""HAN / AdaHAN (attnlib.adahan): presence, masks, gathering, aggregators, FLOPs, model, learning."""

import pytest
import torch

from attnlib import adahan, train
from attnlib.data import shapes, vqa


def cells(b=3, n=10, d=4, seed=0):
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed))


def test_presence_is_the_l2_norm_not_its_square():
    x = cells()
    p = adahan.presence(x)
    assert p.shape == (3, 10)
    torch.testing.assert_close(p, x.pow(2).sum(-1).sqrt())
    torch.testing.assert_close(adahan.presence(2 * x), 2 * p)  # homogeneous of degree 1, not 2


def test_topk_mask_keeps_the_k_largest_presences():
    x = cells(n=20)
    mask = adahan.topk_hard_attention(x, 5)
    assert mask.dtype == torch.bool and mask.shape == (3, 20) and (mask.sum(1) == 5).all()
    p = adahan.presence(x)
    kept_min = p.masked_fill(~mask, float("inf")).min(1).values
    dropped_max = p.masked_fill(mask, float("-inf")).max(1).values
    assert (kept_min > dropped_max).all()


def test_adaptive_mask_is_softmax_against_uniform():
    x = cells(b=8, n=30) * 2
    mask = adahan.adaptive_hard_attention(x)
    p = adahan.presence(x).double()
    assert torch.equal(mask, p.softmax(dim=1) >= 1.0 / 30)
    assert mask.any(1).all() and not mask.all()
    # Equal presences: every probability is exactly 1/N, so every cell is kept.
    same = torch.ones(2, 7, 3)
    assert adahan.adaptive_hard_attention(same).all()
    # One dominant cell beats the uniform share alone.
    spike = torch.zeros(1, 6, 2)
    spike[0, 4, 0] = 10.0
    assert adahan.adaptive_hard_attention(spike).tolist() == [[False, False, False, False, True, False]]


def test_gather_kept_packs_kept_cells_in_order():
    x = cells(b=2, n=6, d=3)
    mask = torch.tensor([[True, False, True, False, False, True], [False, True, False, False, False, False]])
    kept, kept_mask, index = adahan.gather_kept(x, mask)
    assert kept.shape == (2, 3, 3) and kept_mask.tolist() == [[True, True, True], [True, False, False]]
    torch.testing.assert_close(kept[0], x[0, [0, 2, 5]])
    torch.testing.assert_close(kept[1, 0], x[1, 1])
    assert (kept[1, 1:] == 0).all() and index[0].tolist() == [0, 2, 5]


def test_sum_pool_matches_einsum():
    x = cells()
    mask = adahan.topk_hard_attention(x, 4)
    torch.testing.assert_close(adahan.masked_sum_pool(x, mask), torch.einsum("bnd,bn->bd", x, mask.float()))


def pairwise_by_hand(module, x):
    """Eq. (adahan-pairwise) for one example (K, D), written out."""
    q, k, v = module.query(x), module.key(x), module.value(x)
    att = torch.softmax(q @ k.T / x.shape[-1] ** 0.5, dim=-1)
    return torch.relu(x + module.out(att @ v))


def test_pairwise_matches_formula_and_padding_is_invisible():
    torch.manual_seed(0)
    module = adahan.PairwiseModule(4)
    x = cells(b=2, n=6, d=4)
    mask = torch.tensor([[True] * 6, [True, True, False, True, False, False]])
    kept, kept_mask, _ = adahan.gather_kept(x, mask)
    out = module(kept, kept_mask)
    torch.testing.assert_close(out[0], pairwise_by_hand(module, x[0]))
    torch.testing.assert_close(out[1, :3], pairwise_by_hand(module, x[1, [0, 1, 3]]))
    assert (out[1, 3:] == 0).all()


@pytest.mark.parametrize("aggregator", ["sum", "pairwise"])
def test_dropped_cells_change_nothing_and_get_no_gradient(aggregator):
    torch.manual_seed(0)
    module = adahan.PairwiseModule(4)

    def aggregate(x, mask):
        kept, kept_mask, _ = adahan.gather_kept(x, mask)
        o = module(kept, kept_mask) if aggregator == "pairwise" else kept
        return adahan.masked_sum_pool(o, kept_mask)

    x = cells(b=2, n=8, d=4).requires_grad_()
    mask = adahan.topk_hard_attention(x.detach(), 3)
    y = aggregate(x, mask)
    changed = x.detach().clone()
    changed[~mask] = 123.0
    torch.testing.assert_close(aggregate(changed, mask), y.detach())
    y.sum().backward()
    assert (x.grad[~mask] == 0).all()
    assert (x.grad[mask].abs().sum(-1) > 0).all()


def test_flop_counter_matches_the_cost_formula():
    b, k, d = 2, 7, 8
    module = adahan.PairwiseModule(d)
    x, mask = torch.randn(b, k, d), torch.ones(b, k, dtype=torch.bool)
    # 4 linear maps (K x D x D each) and two batched products (K x K x D each); a multiply-add is 2 FLOPs.
    expected = 2 * b * (4 * k * d * d + 2 * k * k * d)
    assert adahan.count_flops(module, x, mask) == expected


@pytest.mark.parametrize("attention", adahan.ATTENTIONS)
@pytest.mark.parametrize("aggregator", adahan.AGGREGATORS)
def test_model_shapes(attention, aggregator):
    torch.manual_seed(0)
    model = adahan.VQAModel(len(vqa.VOCAB), len(vqa.ANSWERS), attention, aggregator, k=0.25, dim=16, channels=8)
    images = torch.rand(2, 3, 48, 48)
    questions, lengths = vqa.encode_text(["is there a red circle?", "how many squares are there?",
                                          "what color is the small circle?"])  # fmt: skip
    scene_index = torch.tensor([0, 0, 1])
    logits = model(images, questions, lengths, scene_index)
    assert logits.shape == (3, len(vqa.ANSWERS))
    out = model.attend(images, questions, lengths, scene_index)
    assert out["mask"].shape == (3, 144) and out["cells"].shape == (3, 144, 16) and out["grid"] == (12, 12)
    if attention == "han":
        assert (out["mask"].sum(1) == 36).all()
    if attention == "soft":
        torch.testing.assert_close(out["weights"].sum(1), torch.ones(3))


def test_model_on_pre_encoded_cells_is_deterministic():
    def run():
        train.seed_everything(0)
        model = adahan.VQAModel(len(vqa.VOCAB), len(vqa.ANSWERS), "adahan", "pairwise", dim=8, cell_dim=5)
        feats = torch.randn(2, 16, 5, generator=torch.Generator().manual_seed(1))
        q, lengths = vqa.encode_text(["is there a red circle?", "is there a blue circle?"])
        return model(feats, q, lengths)

    torch.testing.assert_close(run(), run())


def test_bad_inputs():
    with pytest.raises(ValueError, match="features"):
        adahan.presence(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="k must"):
        adahan.topk_hard_attention(cells(), 11)
    with pytest.raises(ValueError, match="k must"):
        adahan.topk_hard_attention(cells(), 0)
    with pytest.raises(ValueError, match="mask"):
        adahan.gather_kept(cells(), torch.ones(3, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        adahan.masked_sum_pool(cells(), torch.ones(3, 10))
    with pytest.raises(ValueError, match="attention"):
        adahan.VQAModel(10, 5, attention="hard")
    with pytest.raises(ValueError, match="aggregator"):
        adahan.VQAModel(10, 5, aggregator="max")
    with pytest.raises(ValueError, match="k must"):
        adahan.VQAModel(10, 5, k=1.5)
    model = adahan.VQAModel(len(vqa.VOCAB), 4, dim=8, channels=4)
    q, lengths = vqa.encode_text(["is there a red circle?"])
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(1, 1, 48, 48), q, lengths)
    with pytest.raises(ValueError, match="match"):
        model(torch.rand(2, 3, 48, 48), q, lengths)
    with pytest.raises(ValueError, match="scene_index"):
        model(torch.rand(2, 3, 48, 48), q, lengths, torch.tensor([0, 1]))


def test_encoder_pretraining_learns_cell_attributes():
    data = vqa.make_vqa_dataset(192, "train")
    train.seed_everything(0)
    encoder = adahan.ImageEncoder(16)
    labels = shapes.cell_labels(data.scenes)
    history = adahan.pretrain_encoder(encoder, data.images, labels, epochs=6, batch_size=32)
    constant = sum((labels[n] == labels[n].max()).float().mean().item() for n in ("color", "shape", "size")) / 3
    assert history[-1] > constant + 0.02  # beats always answering "empty"
    feats = adahan.encode_images(encoder, data.images)
    assert feats.shape == (192, 144, 18)


def one_hot_cells(data):
    """Ground-truth cell attributes as features: a perfect pretrained encoder (16 = 7 + 4 + 3 + 2 coordinates)."""
    labels = shapes.cell_labels(data.scenes)
    parts = [torch.nn.functional.one_hot(labels[n], k) for n, k in (("color", 7), ("shape", 4), ("size", 3))]
    grid = torch.linspace(-1, 1, 12)
    ys, xs = torch.meshgrid(grid, grid, indexing="ij")
    coords = torch.stack([xs, ys], -1).view(1, 144, 2).expand(len(data.images), -1, -1)
    return torch.cat(parts + [coords], -1).float()


@pytest.mark.parametrize("attention", ["adahan", "han"])
def test_learning_to_name_a_colour(attention):
    """One object per scene, 'what color is ...': chance is 1/6 and the question alone says nothing."""
    full = vqa.make_vqa_dataset(400, "train", min_objects=1, max_objects=1)
    test_full = vqa.make_vqa_dataset(100, "test", min_objects=1, max_objects=1)
    data, test = full.subset(full.family == 0), test_full.subset(test_full.family == 0)
    feats, test_feats = one_hot_cells(full), one_hot_cells(test_full)
    train.seed_everything(0)
    model = adahan.VQAModel(len(vqa.VOCAB), len(vqa.ANSWERS), attention, "sum", k=0.1, dim=16, cell_dim=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    loader = vqa.VQALoader(data, 32, shuffle=True, images=feats)
    train.fit(model, loader, optimizer, 12, step=adahan.answer_step, progress=False)
    out = adahan.predict_answers(model, vqa.VQALoader(test, 64, images=test_feats))
    assert vqa.accuracy_by_type(out["predictions"], test)["all"] > 0.6


def test_pairwise_cost_counts_padding_and_bucketing_removes_it():
    d = 4
    module = adahan.PairwiseModule(d)
    x = torch.randn(4, 10, d)
    mask = torch.zeros(4, 10, dtype=torch.bool)
    mask[0, :2] = mask[1, :9] = mask[2, :2] = mask[3, :9] = True

    def cost(b, k):
        return 2 * b * (4 * k * d * d + 2 * k * k * d)

    # Batches of two: unsorted = {2, 9} + {2, 9}, each padded to 9; bucketed = {2, 2} + {9, 9}.
    assert adahan.pairwise_cost(module, x, mask, batch_size=2, bucket=False) == 2 * cost(2, 9)
    assert adahan.pairwise_cost(module, x, mask, batch_size=2, bucket=True) == cost(2, 2) + cost(2, 9)
    assert adahan.pairwise_cost(module, x, torch.ones_like(mask), batch_size=2) == 2 * cost(2, 10)


def test_adaptive_mask_on_scores_is_shift_invariant_and_validated():
    p = adahan.presence(cells(b=4, n=12) * 3)
    mask = adahan.adaptive_mask(p)
    assert torch.equal(mask, adahan.adaptive_hard_attention(cells(b=4, n=12) * 3))
    assert torch.equal(adahan.adaptive_mask(p + 5.0), mask)
    # Exercise 3: for presences >= 0 the mask of the squared presences is a subset of the mask of the
    # presences (Jensen on the convex y -> exp(log(y)^2)), at every scale, below 1/2 as well as above.
    for scale in (0.1, 0.5, 1.0, 4.0):
        q = torch.rand(500, 8, generator=torch.Generator().manual_seed(1)) * scale
        assert not (adahan.adaptive_mask(q.pow(2)) & ~adahan.adaptive_mask(q)).any()
    with pytest.raises(ValueError, match="presences"):
        adahan.adaptive_mask(torch.zeros(3))


# ----------------------------------------------------------------------------- bad input (issue 24)


def test_pairwise_row_with_no_kept_cell_is_zero_not_nan():
    torch.manual_seed(0)
    module = adahan.PairwiseModule(4)
    x = cells(3, 5, 4).requires_grad_()
    mask = torch.tensor([[True, True, False, False, False], [False] * 5, [True] * 5])
    out = module(x, mask)
    assert torch.isfinite(out).all() and (out[1] == 0).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in module.parameters())
    torch.testing.assert_close(out[[0, 2]], module(x[[0, 2]], mask[[0, 2]]), rtol=0, atol=0)


def _adahan_bad_calls():
    torch.manual_seed(0)
    model = adahan.VQAModel(vocab_size=10, n_answers=5, cell_dim=6, dim=8)
    blind = adahan.QuestionOnlyModel(10, 5, dim=8)
    encoder = adahan.ImageEncoder(channels=4)
    images, cellsx = torch.rand(2, 3, 16, 16), torch.rand(2, 16, 6)
    questions, lengths = torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2])
    x, mask = cells(2, 5, 4), torch.ones(2, 5, dtype=torch.bool)
    labels = {k: torch.zeros(2, 16, dtype=torch.long) for k in ("color", "shape", "size")}
    answers = torch.tensor([0, 4])
    return {
        "presence rank": (lambda: adahan.presence(x[0]), "features"),
        "presence int": (lambda: adahan.presence(x.long()), "features"),
        "topk k 0": (lambda: adahan.topk_hard_attention(x, 0), "k"),
        "topk k > N": (lambda: adahan.topk_hard_attention(x, 6), "k"),
        "topk k float": (lambda: adahan.topk_hard_attention(x, 2.0), "k"),
        "adaptive presences rank": (lambda: adahan.adaptive_mask(torch.rand(5)), "presences"),
        "adaptive presences int": (lambda: adahan.adaptive_mask(torch.ones(2, 5, dtype=torch.long)), "presences"),
        "gather mask float": (lambda: adahan.gather_kept(x, mask.float()), "mask"),
        "pool mask shape": (lambda: adahan.masked_sum_pool(x, mask[:, :4]), "mask"),
        "pairwise dim 0": (lambda: adahan.PairwiseModule(0), "dim"),
        "pairwise cells dim": (lambda: adahan.PairwiseModule(3)(x, mask), "cells"),
        "cost batch_size 0": (lambda: adahan.pairwise_cost(adahan.PairwiseModule(4), x, mask, 0), "batch_size"),
        "cost module": (lambda: adahan.pairwise_cost(torch.nn.Identity(), x, mask), "module"),
        "count_flops fn": (lambda: adahan.count_flops(3), "fn"),
        "model attention typo": (lambda: adahan.VQAModel(10, 5, attention="ada"), "attention"),
        "model aggregator typo": (lambda: adahan.VQAModel(10, 5, aggregator="mean"), "aggregator"),
        "model k 0": (lambda: adahan.VQAModel(10, 5, k=0), "k"),
        "model k 1.5": (lambda: adahan.VQAModel(10, 5, k=1.5), "k"),
        "model vocab_size 0": (lambda: adahan.VQAModel(0, 5), "vocab_size"),
        "model n_answers 0": (lambda: adahan.VQAModel(10, 0), "n_answers"),
        "encoder channels 1": (lambda: adahan.ImageEncoder(1), "channels"),
        "encoder images rank": (lambda: encoder(images[0]), "images"),
        "question id == vocab": (lambda: model(cellsx, questions + 5, lengths), "questions"),
        "question id -1": (lambda: model(cellsx, -questions, lengths), "questions"),
        "questions float": (lambda: model(cellsx, questions.float(), lengths), "questions"),
        "length 0": (lambda: model(cellsx, questions, torch.tensor([3, 0])), "lengths"),
        "length > L": (lambda: model(cellsx, questions, torch.tensor([4, 2])), "lengths"),
        "lengths shape": (lambda: model(cellsx, questions, lengths[:1]), "lengths"),
        "batch mismatch": (lambda: model(cellsx[:1], questions, lengths), "images"),
        "cells dim": (lambda: model(torch.rand(2, 16, 5), questions, lengths), "images"),
        "scene_index out of range": (lambda: model(cellsx, questions, lengths, torch.tensor([0, 2])), "scene_index"),
        "scene_index float": (lambda: model(cellsx, questions, lengths, torch.tensor([0.0, 1.0])), "scene_index"),
        "blind length 0": (lambda: blind(None, questions, torch.tensor([0, 2])), "lengths"),
        "blind id == vocab": (lambda: blind(None, questions + 10, lengths), "questions"),
        "pretrain epochs 0": (lambda: adahan.pretrain_encoder(encoder, images, labels, epochs=0), "epochs"),
        "pretrain lr -1": (lambda: adahan.pretrain_encoder(encoder, images, labels, lr=-1.0), "lr"),
        "pretrain batch_size 0": (lambda: adahan.pretrain_encoder(encoder, images, labels, batch_size=0), "batch_size"),
        "pretrain labels missing key": (
            lambda: adahan.pretrain_encoder(encoder, images, {"color": labels["color"]}),
            "labels",
        ),
        "pretrain labels negative": (
            lambda: adahan.pretrain_encoder(encoder, images, {**labels, "size": labels["size"] - 1}),
            "labels",
        ),
        "pretrain labels cells": (
            lambda: adahan.pretrain_encoder(encoder, images, {k: v[:, :9] for k, v in labels.items()}),
            "labels",
        ),
        "pretrain empty": (lambda: adahan.pretrain_encoder(encoder, images[:0], labels), "images"),
        "encode batch_size 0": (lambda: adahan.encode_images(encoder, images, batch_size=0), "batch_size"),
        "encode empty": (lambda: adahan.encode_images(encoder, images[:0]), "images"),
        "answer id == n_answers": (
            lambda: adahan.answer_step(model, (cellsx, questions, lengths, torch.tensor([0, 5]), torch.tensor([0, 1]))),
            "answers",
        ),
        "answer id -1": (
            lambda: adahan.answer_step(model, (cellsx, questions, lengths, -answers - 1, torch.tensor([0, 1]))),
            "answers",
        ),
        "predict empty loader": (lambda: adahan.predict_answers(model, []), "loader"),
    }


_ADAHAN_BAD = _adahan_bad_calls()


@pytest.mark.parametrize("case", sorted(_ADAHAN_BAD))
def test_bad_input_is_refused_naming_the_argument(case):
    call, name = _ADAHAN_BAD[case]
    with pytest.raises(ValueError, match=name):
        call()
