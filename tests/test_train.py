"""The shared training loop, device choice, and chapter 1's learning test (checkpoints: test_checkpoint.py)."""

import pytest
import torch
from torch import nn

from attnlib import foundations, reinforce, train
from attnlib.data import quadrant_mnist


def _toy_loader(generator, n=256):
    x = torch.randn(n, 2, generator=generator)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True, generator=generator
    )


def test_fit_learns_and_records_history(generator):
    loader = _toy_loader(generator)
    model = nn.Linear(2, 2)
    history = train.fit(
        model,
        loader,
        torch.optim.SGD(model.parameters(), lr=0.5),
        5,
        eval_fn=lambda m: {"acc_eval": train.evaluate(m, loader)},
        progress=False,
    )
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert len(history["loss"]) == 5 and history["loss"][-1] < history["loss"][0]
    assert history["acc_eval"][-1] > 0.9
    assert all(b >= a for a, b in zip(history["seconds"], history["seconds"][1:]))


def test_fit_keep_best_restores_the_weights_of_the_best_validation_epoch(generator):
    """The returned model is the one of the epoch with the best validation number, bit for bit."""
    model = nn.Linear(2, 2)
    snapshots, scores = [], iter([0.5, 0.9, 0.7, 0.6])

    def eval_fn(m):
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return {"val_acc": next(scores)}

    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    history = train.fit(model, _toy_loader(generator), opt, 4, eval_fn=eval_fn, keep_best="val_acc", progress=False)
    assert history["best_epoch"] == [2]
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshots[1][key])
    assert not torch.equal(snapshots[1]["weight"], snapshots[3]["weight"])
    scores = iter([3.0, 2.0, 1.0, 4.0])
    history = train.fit(
        model,
        _toy_loader(generator),
        opt,
        4,
        eval_fn=lambda m: {"val_loss": next(scores)},
        keep_best="val_loss",
        keep_best_mode="min",
        progress=False,
    )
    assert history["best_epoch"] == [3]
    with pytest.raises(ValueError, match="eval_fn"):
        train.fit(model, _toy_loader(generator), opt, 1, keep_best="val_acc", progress=False)
    with pytest.raises(ValueError, match="keep_best_mode"):
        train.fit(model, _toy_loader(generator), opt, 1, eval_fn=eval_fn, keep_best="val_acc", keep_best_mode="up")
    with pytest.raises(ValueError, match="not among"):
        train.fit(
            model, _toy_loader(generator), opt, 1, eval_fn=lambda m: {"acc": 1.0}, keep_best="val_acc", progress=False
        )


def test_fit_refuses_bad_epochs_and_nan_loss(generator):
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="epochs"):
        train.fit(model, _toy_loader(generator), torch.optim.SGD(model.parameters(), lr=0.1), 0)

    def nan_step(m, batch):
        return m(batch[0]).sum() * float("nan"), {}

    with pytest.raises(FloatingPointError, match="nan"):
        train.fit(
            model, _toy_loader(generator), torch.optim.SGD(model.parameters(), lr=0.1), 1, step=nan_step, progress=False
        )


@pytest.mark.parametrize("interval, expected_calls", [("epoch", 3), ("step", 3 * 8)])
def test_fit_steps_the_scheduler_per_epoch_or_per_step(generator, interval, expected_calls):
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 1.0)
    calls_before = scheduler.last_epoch
    train.fit(
        model, _toy_loader(generator), optimizer, 3, scheduler=scheduler, scheduler_interval=interval, progress=False
    )
    assert scheduler.last_epoch - calls_before == expected_calls  # 256 samples / 32 = 8 batches per epoch
    with pytest.raises(ValueError, match="scheduler_interval"):
        train.fit(model, _toy_loader(generator), optimizer, 1, scheduler=scheduler, scheduler_interval="batch")


def test_device_choice_and_override(monkeypatch):
    monkeypatch.setenv("ATTNLIB_DEVICE", "cpu")
    assert train.default_device() == torch.device("cpu")
    monkeypatch.delenv("ATTNLIB_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert train.default_device().type == "cuda"


def test_seeding_is_reproducible():
    g1 = train.seed_everything(5)
    a = torch.randn(3), torch.randn(3, generator=g1)
    g2 = train.seed_everything(5)
    b = torch.randn(3), torch.randn(3, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="seed"):
        train.seed_everything(-1)


def test_to_device_handles_nested_batches():
    batch = {"x": torch.zeros(2), "rest": [torch.ones(1), "label"]}
    moved = train.to_device(batch, "cpu")
    assert moved["rest"][1] == "label" and torch.equal(moved["x"], batch["x"])


def test_accuracy_validates_shapes():
    assert train.accuracy(torch.tensor([[0.0, 1.0], [2.0, 0.0]]), torch.tensor([1, 1])) == 0.5
    with pytest.raises(ValueError, match="logits"):
        train.accuracy(torch.zeros(3), torch.zeros(3))


def test_glance_and_look_learns_where_to_look():
    """Chapter 1's learning test: hard attention trained by REINFORCE finds the digit's quadrant."""
    train.seed_everything(0)
    x, y, _ = quadrant_mnist("train", seed=0)
    xt, yt, qt = quadrant_mnist("test", seed=1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)
    model = foundations.GlanceAndLook("hard")
    baseline = reinforce.MovingAverageBaseline()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    train.fit(
        model, loader, optimiser, 3, step=lambda m, b: foundations.glance_and_look_step(m, b, baseline), progress=False
    )
    model.eval()
    with torch.no_grad():
        logits, _, index, _ = model(xt)
    assert (index == qt).float().mean() > 0.9  # it looks where the digit is (random: 0.25)
    assert (logits.argmax(-1) == yt).float().mean() > 0.6  # and reads it (chance: 0.1)


def test_glance_and_look_modes():
    with pytest.raises(ValueError, match="mode"):
        foundations.GlanceAndLook("sometimes")
    images = torch.rand(5, 1, 56, 56)
    model = foundations.GlanceAndLook("soft")
    logits, weights, index, log_prob = model(images)
    assert logits.shape == (5, 10) and weights.shape == (5, 4) and index is None and log_prob is None
    hard = foundations.GlanceAndLook("hard").train()
    _, _, index, log_prob = hard(images, torch.Generator().manual_seed(0))
    assert index.shape == (5,) and log_prob.shape == (5,) and log_prob.requires_grad


def _bad_train_calls():
    """(call(tmp_path), argument the message must name): the mistakes a new user makes."""
    x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    data = torch.utils.data.TensorDataset(x, y)
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    model = nn.Linear(2, 2)

    def sgd(lr=0.1):  # a per-group learning rate: torch checks only the default one
        return torch.optim.SGD([{"params": list(model.parameters()), "lr": lr}], lr=0.1)

    def fit(**kw):
        args = {"model": model, "loader": loader, "optimizer": sgd(), "epochs": 1, "progress": False}
        args.update(kw)
        return lambda p: train.fit(**args)

    drop_last = torch.utils.data.DataLoader(data, batch_size=16, drop_last=True)
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:0], y[:0]), batch_size=4)
    no_len = (b for b in [])  # an iterable without a length that yields nothing
    return [
        (fit(optimizer=sgd(-0.1)), "lr"),
        (fit(optimizer=sgd(0.0)), "lr"),
        (fit(optimizer=sgd(float("nan"))), "lr"),
        (fit(optimizer="adam"), "optimizer"),
        (fit(clip_grad_norm=-1.0), "clip_grad_norm"),
        (fit(clip_grad_norm=0.0), "clip_grad_norm"),
        (fit(clip_grad_norm=float("inf")), "clip_grad_norm"),
        (fit(clip_grad_norm=float("nan")), "clip_grad_norm"),
        (fit(max_seconds=0), "max_seconds"),
        (fit(max_seconds=-5.0), "max_seconds"),
        (fit(max_seconds=float("nan")), "max_seconds"),
        (fit(epochs=0), "epochs"),
        (fit(epochs=2.5), "epochs"),
        (fit(epochs=True), "epochs"),
        (fit(loader=empty), "loader"),
        (fit(loader=drop_last), "loader"),
        (fit(loader=no_len), "loader"),
        (fit(loader=torch.zeros(3)), "loader"),
        (fit(model="linear"), "model"),
        (fit(step="classification"), "step"),
        (fit(step=lambda m, b: m(b[0]).sum()), "step"),
        (fit(step=lambda m, b: (m(b[0]), {})), "step"),
        (fit(scheduler_interval="batch"), "scheduler_interval"),
        (fit(keep_best_mode="largest", eval_fn=lambda m: {"a": 1.0}, keep_best="a"), "keep_best_mode"),
        (fit(eval_fn="val"), "eval_fn"),
        (fit(scheduler=0.5), "scheduler"),
        (fit(device="gpu0"), "device"),
        (lambda p: train.evaluate(model, empty), "loader"),
        (lambda p: train.evaluate(model, [x]), "loader"),
        (lambda p: train.evaluate(model, [(x, y[:3])]), "labels"),
        (lambda p: train.evaluate(model, [(x, y.float())]), "labels"),
        (lambda p: train.evaluate(model, loader, predict=lambda m, b: m(b[0])), "predict"),
        (lambda p: train.evaluate(model, loader, predict="mean"), "predict"),
        (lambda p: train.accuracy(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), "labels"),
        (lambda p: train.accuracy(torch.zeros(2, 2), torch.zeros(2)), "labels"),
        (lambda p: train.make_loader(data, 0), "batch_size"),
        (lambda p: train.make_loader(data, 2.0), "batch_size"),
        (lambda p: train.make_loader(data, 4, seed=-1), "seed"),
        (lambda p: train.make_loader(torch.utils.data.TensorDataset(x[:0]), 4), "dataset"),
        (lambda p: train.make_loader(data, 16, drop_last=True), "batch_size"),
        (lambda p: train.seed_everything(1.5), "seed"),
        (fit(loader=[(x, y.float())]), "labels"),
        (fit(loader=[(x, torch.full((8,), 2))]), "labels"),  # id == number of classes: deep IndexError before
        (fit(loader=[(x, torch.full((8,), -1))]), "labels"),
        (fit(loader=[(x, y[:5])]), "labels"),
        (fit(loader=[x]), "batch"),
        (fit(eval_fn=lambda m: [0.5]), "eval_fn"),
        (fit(eval_fn=lambda m: {"acc": "high"}), "eval_fn"),
        (lambda p: train.classification_step(model, (x[:0], y[:0])), "labels"),
        (lambda p: train.to_device(x, "gpu0"), "device"),
        (fit(progress="no"), "progress"),
        (fit(progress=2), "progress"),
        (fit(desc=["train"]), "desc"),
        (fit(desc=""), "desc"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_train_calls())))
def test_bad_inputs_are_refused_naming_the_argument(tmp_path, case):
    """Every mistake is a ValueError that names the caller's argument (or the file), never a deep torch error,
    a NaN, a history after zero steps, or a silently flipped gradient (clip_grad_norm < 0)."""
    call, match = _bad_train_calls()[case]
    with pytest.raises(ValueError, match=match):
        call(tmp_path)


def test_a_misspelled_device_override_is_named(monkeypatch):
    monkeypatch.setenv("ATTNLIB_DEVICE", "gpu")
    with pytest.raises(ValueError, match="ATTNLIB_DEVICE"):
        train.default_device()


def test_fit_accepts_a_warm_up_that_starts_the_learning_rate_at_zero(generator):
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: i / 4)
    assert optimizer.param_groups[0]["lr"] == 0.0
    train.fit(
        model, _toy_loader(generator), optimizer, 1, scheduler=scheduler, scheduler_interval="step", progress=False
    )


def test_fit_honours_the_dry_run_step_cap(generator, monkeypatch):
    """ATTNLIB_MAX_STEPS: the run stops inside the epoch of the last allowed step, which is still evaluated."""
    monkeypatch.setenv("ATTNLIB_MAX_STEPS", "3")
    loader = _toy_loader(generator)
    assert len(loader) > 3
    model = nn.Linear(2, 2)
    steps = []
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    optimizer.register_step_post_hook(lambda *args: steps.append(1))
    history = train.fit(model, loader, optimizer, 5, eval_fn=lambda m: {"val_acc": 0.5}, keep_best="val_acc")
    assert len(steps) == 3 and history["epoch"] == [1] and history["val_acc"] == [0.5]
