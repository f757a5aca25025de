"""attnlib.rec: CA2M, padding masks, the box head, the self-paced loss in its four forms, a learning test."""

import math

import pytest
import torch
from torch import nn

from attnlib.data.refexp import PAD, VOCAB, make_refexp, target_cells
from attnlib.data.shapes import sample_scenes
from attnlib.rec import (
    CA2M,
    BoxHead,
    CachedVisual,
    CellHeads,
    RECModel,
    SelfPacedLoss,
    TextEncoder,
    VisualEncoder,
    box_losses,
    cell_loss,
    cell_targets,
    cost,
    difficulty,
    encode_cells,
    evaluate_rec,
    make_step,
    predict_boxes,
    pretrain_visual,
    self_paced_loss,
    sigma_descent,
    standardise_cells,
    train_rec,
)
from attnlib.rec.train import Batches


def test_ca2m_shapes_and_attention():
    block = CA2M(d=16, heads=2, hidden=32)
    fv, fl = torch.randn(3, 9, 16), torch.randn(3, 5, 16)
    v, lang, w = block(fv, fl, need_weights=True)
    assert v.shape == fv.shape and lang.shape == fl.shape and w.shape == (3, 9, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 9))


def test_ca2m_masks_padded_words():
    torch.manual_seed(0)
    block = CA2M(d=16, heads=2, hidden=32).eval()
    fv, fl = torch.randn(2, 9, 16), torch.randn(2, 5, 16)
    pad = torch.tensor([[False, False, False, True, True], [False, False, False, False, True]])
    v, lang, w = block(fv, fl, pad, need_weights=True)
    garbage = fl.clone()
    garbage[pad] = 100 * torch.randn(int(pad.sum()), 16)
    v2, l2, _ = block(fv, garbage, pad)
    torch.testing.assert_close(v, v2)
    torch.testing.assert_close(lang[~pad], l2[~pad])
    assert (w.masked_select(pad.unsqueeze(1).expand_as(w)) == 0).all()


@pytest.mark.parametrize("fusion", ["ca2m", "transformer"])
def test_model_padding_invariance_and_range(fusion):
    torch.manual_seed(0)
    model = RECModel(d=16, heads=2, hidden=32, grid=4, channels=(8, 8, 8), fusion=fusion).eval()
    data = make_refexp(4, image_size=32, generator=torch.Generator().manual_seed(0))
    boxes = model(data.images, data.tokens)
    assert boxes.shape == (4, 4) and (boxes > 0).all() and (boxes < 1).all()
    longer = torch.cat([data.tokens, torch.full((4, 3), PAD)], dim=1)
    torch.testing.assert_close(model(data.images, longer), boxes, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fusion", ["ca2m", "transformer"])
def test_cached_cells_and_grounding_readouts(fusion):
    torch.manual_seed(0)
    model = RECModel(d=16, heads=2, hidden=32, grid=4, in_features=10, fusion=fusion).eval()
    cells, tokens = torch.randn(3, 16, 10), torch.tensor([[2, 5, 7, 0], [2, 6, 0, 0], [2, 7, 8, 9]])
    out = model(cells, tokens)
    assert out.shape == (3, 4)
    assert model.cell_logits.shape == (3, 16) and model.cls_attention.shape == (3, 16)
    torch.testing.assert_close(model.cls_attention.sum(-1), torch.ones(3))
    with pytest.raises(ValueError, match="cells must be"):
        model(torch.randn(3, 9, 10), tokens)


def test_cell_loss_is_cross_entropy_and_step_uses_it():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    cells = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    expected = -(cells * logits.log_softmax(-1)).sum(-1)
    torch.testing.assert_close(cell_loss(logits, cells), expected)
    with pytest.raises(ValueError, match="one shape"):
        cell_loss(logits, cells[:, :2])
    torch.manual_seed(0)
    model = RECModel(d=16, heads=2, hidden=32, grid=4, in_features=10)
    data = make_refexp(4, image_size=32, generator=torch.Generator().manual_seed(0))
    cells_in, grid_cells = torch.randn(4, 16, 10), target_cells(data.scenes, data.target, 32, 4)
    batch = (cells_in, data.tokens, data.boxes, grid_cells)
    plain, _ = make_step("l1+giou")(model, batch)
    with_aux, logs = make_step("l1+giou", aux_weight=0.5)(model, batch)
    aux = (cell_loss(model.cell_logits, grid_cells) + cell_loss(model.cls_attention.log(), grid_cells)).mean()
    torch.testing.assert_close(with_aux, plain + 0.5 * aux)
    with pytest.raises(ValueError, match="fourth"):
        make_step("l1+giou", aux_weight=0.5)(model, batch[:3])


def test_pretraining_learns_cells_and_encodes_boxes():
    torch.set_num_threads(1)
    data = make_refexp(96, image_size=32, generator=torch.Generator().manual_seed(0))
    targets = cell_targets(data.scenes, 32, 4)
    assert targets["box"].shape == (96, 16, 4) and targets["has"].any()
    torch.manual_seed(0)
    encoder = VisualEncoder(d=8, channels=(8, 16, 16), grid=4)
    heads, history = pretrain_visual(encoder, data.images, data.scenes, epochs=6, batch_size=32, lr=5e-3)
    assert history[-1]["attr_acc"] > history[0]["attr_acc"] and history[-1]["box_l1"] < history[0]["box_l1"]
    cached = encode_cells(encoder, heads, data.images)
    assert cached.shape == (96, 16, encoder.cell_features + 18)
    # Probabilities sum to one per attribute; the absolute box of a cell holding an object covers that cell.
    torch.testing.assert_close(cached[..., -18:-11].sum(-1), torch.ones(96, 16))
    with pytest.raises(ValueError, match="S = len"):
        pretrain_visual(encoder, data.images[:5], data.scenes)
    train_std, test_std = standardise_cells(cached[:64], cached[64:])
    torch.testing.assert_close(train_std.mean((0, 1)), torch.zeros(cached.shape[-1]), atol=1e-4, rtol=0)
    assert test_std.shape == (32, 16, cached.shape[-1])
    with pytest.raises(ValueError, match="same N"):
        standardise_cells(cached, cached[:, :4])


def test_box_head_range():
    head = BoxHead(8)
    out = head(1e3 * torch.randn(50, 8))
    assert out.shape == (50, 4) and (out >= 0).all() and (out <= 1).all()


def test_model_bad_inputs():
    model = RECModel(d=16, heads=2, hidden=32, grid=4, channels=(8, 8, 8))
    with pytest.raises(ValueError, match="same B"):
        model(torch.rand(2, 3, 32, 32), torch.ones(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="fusion"):
        RECModel(fusion="mlp")
    with pytest.raises(ValueError, match="divisible"):
        CA2M(d=10, heads=3)
    with pytest.raises(ValueError, match="pad"):
        CA2M(d=8, heads=2)(torch.randn(1, 3, 8), torch.randn(1, 4, 8), torch.zeros(1, 5, dtype=torch.bool))


def _expected(form, l1, lg, s0, s1, lam, sigma_min):
    """Value, weights and gradients (wrt each loss and each sigma) of every form, written out from the chapter's
    equations with plain tensors (no autograd)."""
    sign = -1.0 if form == "easy_first" else 1.0
    if form in ("floored", "normalised"):
        s0, s1 = max(s0, sigma_min), max(s1, sigma_min)
    out = {}
    for k, (x, s) in enumerate(((l1, s0), (lg, s1))):
        d = torch.exp(sign * x**2 / s**2)
        # d/dsigma [(L - lam) d] = (L - lam) d (-2 s L^2 / sigma^3), Eq. (rec-dsigma)
        out[f"gs{k}"] = ((x - lam) * d * (-2 * sign * x**2 / s**3)).mean()
        if form in ("as_written", "floored"):  # gradient through d: d (1 + 2 L (L - lam) / sigma^2)
            out[f"w{k}"], out[f"gl{k}"] = d, d * (1 + 2 * x * (x - lam) / s**2) / len(x)
            out[f"v{k}"] = ((x - lam) * d).mean()
        elif form == "easy_first":  # detached scores: d dL
            out[f"w{k}"], out[f"gl{k}"] = d, d / len(x)
            out[f"v{k}"] = ((x - lam) * d).mean()
        else:  # normalised: w = d / mean(d), detached; sigma sees the paper's term on detached losses
            w = d / d.mean()
            out[f"w{k}"], out[f"gl{k}"] = w, w / len(x)
            out[f"v{k}"] = (w * x).mean() + ((x - lam) * d).mean()
    out["value"] = out["v0"] + out["v1"]
    return out


@pytest.mark.parametrize("form", ["as_written", "floored", "normalised", "easy_first"])
@pytest.mark.parametrize("sigmas", [(1.3, 0.8), (0.4, 2.0)])
def test_self_paced_value_and_gradients_match_the_formulas(form, sigmas):
    l1 = torch.tensor([0.1, 0.5, 1.2, 2.0], dtype=torch.float64, requires_grad=True)
    lg = torch.tensor([0.3, 0.9, 0.2, 1.5], dtype=torch.float64, requires_grad=True)
    s0 = torch.tensor(sigmas[0], dtype=torch.float64, requires_grad=True)
    s1 = torch.tensor(sigmas[1], dtype=torch.float64, requires_grad=True)
    lam, sigma_min = 0.75, 1.0
    total, w0, w1 = self_paced_loss(l1, lg, s0, s1, lam=lam, form=form, sigma_min=sigma_min)
    e = _expected(form, l1.detach(), lg.detach(), sigmas[0], sigmas[1], lam, sigma_min)
    torch.testing.assert_close(total, e["value"])
    torch.testing.assert_close(w0, e["w0"])
    torch.testing.assert_close(w1, e["w1"])
    total.backward()
    torch.testing.assert_close(l1.grad, e["gl0"])
    torch.testing.assert_close(lg.grad, e["gl1"])
    for s, value, key in ((s0, sigmas[0], "gs0"), (s1, sigmas[1], "gs1")):
        if form in ("floored", "normalised") and value < sigma_min:  # on the floor: sigma has no say
            assert s.grad is None or s.grad.item() == 0.0
        else:
            torch.testing.assert_close(s.grad, e[key])


@pytest.mark.parametrize("form", ["as_written", "floored", "normalised", "easy_first"])
def test_module_matches_the_function_and_stays_above_its_floor(form):
    sp = SelfPacedLoss(sigma_init=2.5, lam=0.75, form=form, sigma_min=1.0).double()
    torch.testing.assert_close(sp.sigma, torch.full((2,), 2.5, dtype=torch.float64))
    l1 = torch.tensor([0.2, 0.9, 1.7], dtype=torch.float64)
    lg = torch.tensor([0.5, 0.1, 1.1], dtype=torch.float64)
    total, _, _ = sp(l1, lg)
    ref, _, _ = self_paced_loss(l1, lg, sp.sigma[0], sp.sigma[1], form=form, sigma_min=1.0)
    torch.testing.assert_close(total, ref)
    with torch.no_grad():
        sp.rho.fill_(-50.0)  # any rho: sigma = floor + exp(rho)
    floor = 1.0 if form in ("floored", "normalised") else 0.0
    assert (sp.sigma >= floor).all() and (sp.sigma > 0).all()


def test_easy_samples_pull_sigma_down_as_written_and_up_easy_first():
    easy = torch.tensor([0.2], dtype=torch.float64)
    for form, down in (("as_written", True), ("floored", True), ("easy_first", False)):
        s = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
        self_paced_loss(easy, easy, s, s.detach(), form=form, sigma_min=1.0)[0].backward()
        assert (s.grad > 0) == down  # a positive gradient: descent shrinks sigma


@pytest.mark.parametrize("form", ["floored", "normalised", "easy_first"])
def test_bounded_forms_are_bounded_below_for_any_sigma(form):
    lam, sigma_min = 0.75, 1.0
    # Derived bounds: easy-first, each term >= -lam; floored, >= -lam exp(lam^2 / sigma_min^2) per term;
    # normalised, the weighted loss >= 0 plus the floored sigma term.
    bound = {"easy_first": -2 * lam, "floored": -2 * lam * math.exp(lam**2 / sigma_min**2)}
    bound["normalised"] = bound["floored"]
    losses = torch.linspace(0.0, 3.0, 61, dtype=torch.float64)
    for sigma in (1e-6, 1e-3, 0.1, 0.5, 1.0, 3.0, 1e3):
        s = torch.tensor(sigma, dtype=torch.float64)
        for x in (losses, torch.full((8,), 0.3, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)):
            total, _, _ = self_paced_loss(x, x.flip(0), s, s, lam=lam, form=form, sigma_min=sigma_min)
            assert math.isfinite(total.item()) and total.item() >= bound[form] - 1e-9
    # As written, the same easy losses go to minus infinity as sigma shrinks.
    easy = torch.full((8,), 0.3)
    written, _, _ = self_paced_loss(easy, easy, torch.tensor(0.05), torch.tensor(0.05), form="as_written")
    assert written.item() < -1e10 or not math.isfinite(written.item())


def test_floored_gradient_wrt_loss_stays_positive_above_lam_over_root_two():
    # d (1 + 2 L (L - lam) / sigma^2) >= d (1 - lam^2 / (2 sigma^2)) > 0 when sigma > lam / sqrt(2), Eq. (rec-floored).
    lam = 0.75
    x = torch.linspace(0.0, 2.0, 81, dtype=torch.float64, requires_grad=True)
    for sigma, positive in ((lam / math.sqrt(2) * 1.01, True), (0.3, False)):
        x.grad = None
        s = torch.tensor(sigma, dtype=torch.float64)
        self_paced_loss(x, x.detach(), s, s, lam=lam, form="floored", sigma_min=sigma)[0].backward()
        assert bool((x.grad > 0).all()) == positive


def test_sigma_descent_diverges_only_as_written():
    easy = torch.linspace(0.05, 0.6, 16)  # every sample below lambda = 0.75
    written = sigma_descent(easy, easy, "as_written", steps=400)
    assert (written["stopped"] or written["loss"][-1] < -1e12) and written["sigma0"][-1] < 0.1
    easy_first = sigma_descent(easy, easy, "easy_first", steps=400)
    assert not easy_first["stopped"] and min(easy_first["loss"]) >= -2 * 0.75 and easy_first["sigma0"][-1] > 2.5
    floored = sigma_descent(easy, easy, "floored", steps=400, sigma_min=1.0)
    assert not floored["stopped"] and 1.0 <= floored["sigma0"][-1] < 1.05  # settles on the floor
    assert min(floored["loss"]) >= -2 * 0.75 * math.exp(0.75**2)


def test_self_paced_bad_inputs():
    with pytest.raises(ValueError, match="form"):
        SelfPacedLoss(form="plus")
    with pytest.raises(ValueError, match="sigma_init"):
        SelfPacedLoss(sigma_init=0.0)
    with pytest.raises(ValueError, match="same size"):
        self_paced_loss(torch.ones(3), torch.ones(4), torch.tensor(1.0), torch.tensor(1.0))
    with pytest.raises(ValueError, match="scalar"):
        difficulty(torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="lam"):
        self_paced_loss(torch.ones(3), torch.ones(3), torch.tensor(1.0), torch.tensor(1.0), lam=-1.0)


def test_box_losses_match_formula():
    target = torch.tensor([[0.1, 0.2, 0.5, 0.4]])
    pred = torch.tensor([[0.3, 0.3, 0.4, 0.2]])  # cxcywh of exactly the target
    l1, giou = box_losses(pred, target)
    assert l1.item() == pytest.approx(0.0, abs=1e-5) and giou.item() == pytest.approx(0.0, abs=1e-5)
    l1, _ = box_losses(torch.tensor([[0.4, 0.3, 0.4, 0.3]]), target)
    assert l1.item() == pytest.approx(0.1 + 0.0 + 0.0 + 0.1, abs=1e-6)


def test_training_is_deterministic_and_learns():
    torch.set_num_threads(1)
    # The chapter's recipe at a tiny scale: pretrain the CNN on cells, cache its tokens, train the grounding
    # network with the auxiliary loss, and check on held-out scenes that [CLS] looks at the target's cells (chance is
    # about 2 cells in 16) and that its boxes improve.
    train = make_refexp(600, image_size=32, max_objects=3, split="train", seed=0)
    test = make_refexp(200, image_size=32, max_objects=3, split="test", seed=0)
    torch.manual_seed(0)
    encoder = VisualEncoder(d=8, channels=(8, 16, 16), grid=4)
    heads, _ = pretrain_visual(encoder, train.images[:300], train.scenes[:300], epochs=3, batch_size=32, lr=5e-3)
    cells_train, cells_test = standardise_cells(
        encode_cells(encoder, heads, train.images), encode_cells(encoder, heads, test.images)
    )
    data = (cells_train, train.tokens, train.boxes, target_cells(train.scenes, train.target, 32, 4))
    on_target = target_cells(test.scenes, test.target, 32, 4) > 0

    def run(epochs: int) -> tuple[float, float]:
        torch.manual_seed(0)
        model = RECModel(d=16, heads=2, hidden=32, grid=4, in_features=cells_train.shape[-1])
        train_rec(model, data, None, epochs=epochs, batch_size=32, lr=5e-3, seed=0, aux_weight=1.0, warmup=20)
        miou = evaluate_rec(model, cells_test, test.tokens, test.boxes)["miou"]
        found = on_target.gather(1, model.cls_attention.argmax(-1, keepdim=True)).float().mean().item()
        return found, miou

    found_a, miou_a = run(1)
    assert (found_a, miou_a) == run(1)
    found, miou = run(24)
    assert found >= 0.5 and found > found_a + 0.2 and miou > miou_a  # chance: about 0.125


def test_train_rec_keeps_the_best_validation_epoch():
    torch.set_num_threads(1)
    # With validation data, every epoch's validation Acc@0.5 and mean IoU join the history and the weights of the
    # best epoch are restored: evaluating the returned model on the validation set gives the best epoch's figures.
    train = make_refexp(96, image_size=32, max_objects=3, split="train", seed=0)
    val = make_refexp(48, image_size=32, max_objects=3, split="val", seed=0)
    cells = torch.randn(96, 16, 6, generator=torch.Generator().manual_seed(0))
    val_cells = torch.randn(48, 16, 6, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = RECModel(d=16, heads=2, hidden=32, grid=4, in_features=6)
    history, _ = train_rec(
        model, (cells, train.tokens, train.boxes), (val_cells, val.tokens, val.boxes), epochs=3, batch_size=32, lr=5e-3
    )
    assert len(history["val_acc"]) == len(history["val_miou"]) == 3
    best = history["best_epoch"][0]
    assert 1 <= best <= 3 and history["val_acc"][best - 1] == max(history["val_acc"])
    again = evaluate_rec(model, val_cells, val.tokens, val.boxes)
    assert again["acc"] == pytest.approx(history["val_acc"][best - 1])
    assert again["miou"] == pytest.approx(history["val_miou"][best - 1])
    with pytest.raises(ValueError, match="val"):
        train_rec(model, (cells, train.tokens, train.boxes), (val_cells, val.tokens), epochs=1)


# --- Bad input (issue 24): every public callable of attnlib.rec refuses it with a ValueError naming the argument.

_SCENES = sample_scenes(2, generator=torch.Generator().manual_seed(0))
_IMG = torch.rand(2, 3, 16, 16)
_TOK = torch.ones(2, 4, dtype=torch.long)
_BOX = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.6, 0.9]])
_ONE = torch.tensor(1.0)
_L = torch.rand(4)


def _tiny() -> RECModel:
    return RECModel(d=8, heads=2, hidden=16, grid=2, channels=(4, 4, 4))


def _train_set(n: int = 4) -> tuple[torch.Tensor, ...]:
    return (torch.rand(n, 3, 16, 16), torch.ones(n, 4, dtype=torch.long), _BOX[:1].repeat(n, 1))


_REC_BAD = [
    # self-paced loss: sigma <= 0, NaN, empty, options, hyper-parameters
    (lambda: self_paced_loss(_L, _L, torch.tensor(0.0), _ONE), "sigma0"),
    (lambda: self_paced_loss(_L, _L, _ONE, torch.tensor(-1.0)), "sigma1"),
    (lambda: self_paced_loss(_L, _L, _ONE, torch.tensor(float("nan"))), "sigma1"),
    (lambda: self_paced_loss(torch.tensor([float("nan")] * 4), _L, _ONE, _ONE), "l1"),
    (lambda: self_paced_loss(torch.zeros(0), torch.zeros(0), _ONE, _ONE), "l1"),
    (lambda: self_paced_loss(_L, _L, _ONE, _ONE, lam=float("inf")), "lam"),
    (lambda: self_paced_loss(_L, _L, _ONE, _ONE, mu=float("nan")), "mu"),
    (lambda: self_paced_loss(_L, _L, _ONE, _ONE, form="bounded"), "form"),
    (lambda: self_paced_loss(_L, _L, _ONE, _ONE, sigma_min=0.0), "sigma_min"),
    (lambda: SelfPacedLoss(sigma_init=0.5, form="floored", sigma_min=1.0), "sigma_init"),
    (lambda: difficulty(_L, torch.tensor(0.0)), "sigma"),
    (lambda: difficulty(_L.long(), _ONE), "loss"),
    (lambda: difficulty(_L, 2.5), "sigma"),
    (lambda: SelfPacedLoss(sigma_init=-2.5), "sigma_init"),
    (lambda: SelfPacedLoss(lam=-1), "lam"),
    (lambda: SelfPacedLoss(form="as-written"), "form"),
    (lambda: SelfPacedLoss()(torch.zeros(0), torch.zeros(0)), "l1"),
    (lambda: SelfPacedLoss()(_L.long(), _L.long()), "l1"),
    # box losses and the cell loss
    (lambda: box_losses(torch.rand(2, 4), _BOX.clone().index_fill_(1, torch.tensor([2]), float("nan"))), "target_xyxy"),
    (lambda: box_losses(torch.full((2, 4), float("nan")), _BOX), "pred_cxcywh"),
    (lambda: box_losses(torch.rand(3, 4), _BOX), "pred_cxcywh"),
    (lambda: box_losses(torch.ones(2, 4, dtype=torch.long), _BOX), "pred_cxcywh"),
    (lambda: cell_loss(torch.rand(2, 4), torch.ones(2, 4, dtype=torch.long)), "cells"),
    (lambda: cell_loss(torch.rand(2, 4), torch.rand(2, 5)), "cell_logits"),
    # steps
    (lambda: make_step(loss="giou"), "loss"),
    (lambda: make_step(aux_weight=-0.5), "aux_weight"),
    (lambda: make_step(aux_weight=float("nan")), "aux_weight"),
    (lambda: make_step(record_every=0), "record_every"),
    (lambda: make_step(record=()), "record"),
    # training: learning rates, epochs, batch sizes, schedules, data
    (lambda: train_rec(_tiny(), _train_set(), lr=-1e-3), "lr"),
    (lambda: train_rec(_tiny(), _train_set(), lr=0.0), "lr"),
    (lambda: train_rec(_tiny(), _train_set(), lr=float("nan")), "lr"),
    (lambda: train_rec(_tiny(), _train_set(), loss="self_paced", sigma_lr=-1.0), "sigma_lr"),
    (lambda: train_rec(_tiny(), _train_set(), epochs=0), "epochs"),
    (lambda: train_rec(_tiny(), _train_set(), epochs=2.5), "epochs"),
    (lambda: train_rec(_tiny(), _train_set(), batch_size=0), "batch_size"),
    (lambda: train_rec(_tiny(), _train_set(), batch_size=8), "batch_size"),
    (lambda: train_rec(_tiny(), _train_set(), warmup=-1), "warmup"),
    (lambda: train_rec(_tiny(), _train_set(), loss="L1"), "loss"),
    (lambda: train_rec(_tiny(), _train_set(), form="plus"), "form"),
    (lambda: train_rec(_tiny(), _train_set(), aux_weight=1.0), "train"),
    (lambda: train_rec(_tiny(), _train_set()[:2]), "train"),
    (lambda: train_rec(_tiny(), (_train_set()[0][:0], _TOK[:0], _BOX[:0])), "train"),
    (lambda: train_rec(_tiny(), (*_train_set()[:2], _BOX[:1].repeat(4, 1).flip(1))), "train"),
    (lambda: train_rec(_tiny(), _train_set(), val=_train_set()[:2]), "val"),
    (lambda: train_rec(_tiny(), _train_set(), seed=-1), "seed"),
    (lambda: Batches(*_train_set(), batch_size=5), "batch_size"),
    (lambda: Batches(*_train_set(), batch_size=2, seed=-1), "seed"),
    (lambda: Batches(*_train_set(), [1, 2], batch_size=2), "tensors"),
    (lambda: train_rec(_tiny(), _train_set(), device="gpu"), "device"),
    (lambda: sigma_descent(_L, _L, "easy_first", steps=0), "steps"),
    (lambda: sigma_descent(_L, _L, "easy_first", lr=-0.05), "lr"),
    (lambda: sigma_descent(_L, _L, "easy_first", sigma_init=0.0), "sigma_init"),
    (lambda: sigma_descent(_L, _L, "minus"), "form"),
    (lambda: sigma_descent(_L, _L[:3], "easy_first"), "l1"),
    # model inputs: ids out of range (== vocabulary size, negative), dtypes, ranks, sizes
    (lambda: _tiny()(_IMG, torch.full((2, 4), len(VOCAB))), "tokens"),
    (lambda: _tiny()(_IMG, torch.full((2, 4), -1)), "tokens"),
    (lambda: _tiny()(_IMG, _TOK.float()), "tokens"),
    (lambda: _tiny()(_IMG.long(), _TOK), "images"),
    (lambda: _tiny()(_IMG[:, :1], _TOK), "images"),
    (lambda: _tiny()(_IMG[:0], _TOK[:0]), "images"),
    (lambda: RECModel(d=0), "d"),
    (lambda: RECModel(d=8, heads=3), "heads"),
    (lambda: RECModel(grid=0), "grid"),
    (lambda: RECModel(in_features=0), "in_features"),
    (lambda: RECModel(granularities=-1), "granularities"),
    (lambda: RECModel(channels=(8, 8)), "channels"),
    (lambda: CA2M(d=8, heads=2, dropout=1.5), "dropout"),
    (lambda: CA2M(d=8, heads=2)(torch.randn(1, 3, 8), torch.randn(1, 4, 8), torch.zeros(1, 4)), "pad"),
    (lambda: CA2M(d=8, heads=2)(torch.randn(1, 3, 8).long(), torch.randn(1, 4, 8)), "fv"),
    (lambda: VisualEncoder(d=8, channels=(4, 0, 4), grid=2), "channels"),
    (lambda: TextEncoder(d=8, heads=2, max_len=0), "max_len"),
    (lambda: TextEncoder(d=8, heads=2)(torch.ones(2, 4)), "tokens"),
    (lambda: BoxHead(d=8)(torch.rand(2, 9)), "cls"),
    (lambda: CachedVisual(0, 8, 2), "in_features"),
    (lambda: CachedVisual(5, 8, 2)(torch.ones(2, 4, 5, dtype=torch.long)), "cells"),
    (lambda: predict_boxes(_tiny(), _IMG, _TOK, batch_size=0), "batch_size"),
    (lambda: predict_boxes(_tiny(), _IMG, _TOK[:1]), "tokens"),
    (lambda: evaluate_rec(_tiny(), _IMG, _TOK, _BOX[:1]), "boxes"),
    (lambda: evaluate_rec(_tiny(), _IMG, _TOK, torch.full((2, 4), float("nan"))), "boxes"),
    (lambda: cost(_tiny(), _IMG, _TOK, repeats=0), "repeats"),
    # pretraining and the cached cells
    (lambda: CellHeads(0), "in_features"),
    (lambda: CellHeads(5)(torch.rand(2, 4, 6)), "cells"),
    (lambda: pretrain_visual(VisualEncoder(8, (4, 4, 4), 2), _IMG, _SCENES, lr=-1.0), "lr"),
    (lambda: pretrain_visual(VisualEncoder(8, (4, 4, 4), 2), _IMG, _SCENES, batch_size=0), "batch_size"),
    (lambda: pretrain_visual(VisualEncoder(8, (4, 4, 4), 2), _IMG.long(), _SCENES), "images"),
    (lambda: pretrain_visual(VisualEncoder(8, (4, 4, 4), 2), _IMG * float("nan"), _SCENES), "images"),
    (lambda: pretrain_visual(nn.Linear(2, 2), _IMG, _SCENES), "encoder"),
    (lambda: pretrain_visual(VisualEncoder(8, (4, 4, 4), 2), _IMG, _IMG), "scenes"),
    (lambda: encode_cells(VisualEncoder(8, (4, 4, 4), 2), CellHeads(12), _IMG, batch_size=0), "batch_size"),
    (lambda: encode_cells(VisualEncoder(8, (4, 4, 4), 2), nn.Identity(), _IMG), "heads"),
    (lambda: cell_targets(_IMG, 16, 2), "scenes"),
    (lambda: cell_targets(_SCENES, 16, 3), "grid"),
    (lambda: standardise_cells(torch.rand(1, 1, 4)), "train"),
    (lambda: standardise_cells(torch.ones(2, 3, 4, dtype=torch.long)), "train"),
    (lambda: standardise_cells(torch.rand(2, 3, 4), torch.rand(2, 3, 5)), "others"),
    # issue 24 follow-up: a model that is not a module, NaN images at the entry points, NaN cell losses
    (lambda: cost("model", _IMG, _TOK), "model"),
    (lambda: evaluate_rec(_tiny().state_dict(), _IMG, _TOK, _BOX), "model"),
    (lambda: predict_boxes("model", _IMG, _TOK), "model"),
    (lambda: predict_boxes(_tiny(), _IMG * float("nan"), _TOK), "images"),
    (lambda: evaluate_rec(_tiny(), _IMG * float("inf"), _TOK, _BOX), "images"),
    (lambda: cost(_tiny(), _IMG * float("nan"), _TOK), "images"),
    (lambda: predict_boxes(_NanBoxes(), _IMG, _TOK), "predicted boxes"),
    (lambda: cell_loss(torch.full((2, 4), float("nan")), torch.full((2, 4), 0.25)), "cell_logits"),
    (lambda: cell_loss(torch.rand(2, 4), torch.full((2, 4), float("nan"))), "cells"),
    (lambda: encode_cells(VisualEncoder(8, (4, 4, 4), 2), CellHeads(12), _IMG * float("nan")), "images"),
    (lambda: pretrain_visual(VisualEncoder(8, (4, 4, 4), 2), _IMG, _SCENES, epochs=True), "epochs"),
    (lambda: train_rec(_tiny(), _train_set(), sigma_init=float("nan")), "sigma_init"),
    (lambda: train_rec(_tiny(), _train_set(), lam=-1.0), "lam"),
    (lambda: train_rec(_tiny(), _train_set(), sigma_min="1"), "sigma_min"),
]


class _NanBoxes(nn.Module):
    """A model whose boxes are NaN whatever its (finite) input: the message names the predicted boxes."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, images, tokens):
        return torch.full((images.shape[0], 4), float("nan")) + self.w


@pytest.mark.parametrize("call, name", _REC_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_REC_BAD)])
def test_rec_refuses_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("form", ["as_written", "floored", "normalised", "easy_first"])
def test_train_rec_traces_every_self_paced_step(form):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    trace, record = [], []
    history, sp = train_rec(
        _tiny(),
        _train_set(8),
        loss="self_paced",
        form=form,
        epochs=2,
        batch_size=4,
        sigma_lr=0.1,
        sigma_init=2.0,
        lam=0.5,
        sigma_min=1.5,
        trace=trace,
        record=record,
    )
    assert len(trace) == 4 and len(record) == 1  # 2 epochs x 2 steps; record every 10th step
    assert set(trace[0]) == {"sigma0", "sigma1", "w0_mean", "w0_max", "w1_mean", "w1_max", "l1", "giou", "total"}
    assert trace[0]["sigma0"] == pytest.approx(2.0) and sp.form == form and sp.lam == 0.5
    assert all(t["w0_max"] >= t["w0_mean"] > 0 for t in trace)
    assert trace[-1]["sigma0"] != pytest.approx(2.0)  # sigma learns at its own rate
    if form in ("floored", "normalised"):
        assert float(sp.sigma.detach().min()) >= 1.5
