"""The validation layer: each check accepts what it documents and names the caller's argument otherwise."""

import pytest
import torch

from attnlib import checks


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: checks.positive_int(0, "epochs"), "epochs"),
        (lambda: checks.positive_int(True, "epochs"), "epochs"),
        (lambda: checks.positive_int(2.0, "batch_size"), "batch_size"),
        (lambda: checks.non_negative_int(-1, "warmup"), "warmup"),
        (lambda: checks.positive_ints(embed_dim=32, hidden_dim=0), "hidden_dim"),
        (lambda: checks.positive_float(0.0, "lr"), "lr"),
        (lambda: checks.positive_float(-1, "clip_grad_norm"), "clip_grad_norm"),
        (lambda: checks.positive_float(float("inf"), "min_seconds"), "min_seconds"),
        (lambda: checks.positive_float(float("nan"), "sigma"), "sigma"),
        (lambda: checks.positive_float("1e-3", "lr"), "lr"),
        (lambda: checks.non_negative_float(-0.1, "noise"), "noise"),
        (lambda: checks.probability(1.5, "p_share"), "p_share"),
        (lambda: checks.one_of("avg", ("sum", "mean"), "reduction"), "reduction"),
        (lambda: checks.tensor([1, 2], "images"), "images"),
        (lambda: checks.tensor(torch.zeros(2, 3), "images", ndim=4), "images"),
        (lambda: checks.tensor(torch.zeros(2, 3, 28, 27), "images", shape=(None, 3, 28, 28)), "images"),
        (lambda: checks.tensor(torch.zeros(2), "tokens", dtype="int"), "tokens"),
        (lambda: checks.tensor(torch.zeros(2, dtype=torch.long), "images", dtype="float"), "images"),
        (lambda: checks.finite(torch.tensor([1.0, float("nan")]), "boxes"), "boxes"),
        (lambda: checks.ids_in_range(torch.tensor([0, 5]), 5, "tokens"), "tokens"),
        (lambda: checks.ids_in_range(torch.tensor([-1, 2]), 5, "labels"), "labels"),
    ],
)
def test_bad_values_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_good_values_pass_through():
    assert checks.positive_int(3, "n") == 3 and checks.non_negative_int(0, "n") == 0
    assert checks.positive_float(1, "lr") == 1.0 and isinstance(checks.positive_float(1, "lr"), float)
    assert checks.positive_float(torch.tensor(0.5), "sigma") == 0.5
    assert checks.probability(0, "p") == 0.0 and checks.one_of("sum", ("sum", "mean"), "r") == "sum"
    x = torch.zeros(2, 1, 28, 28)
    assert checks.tensor(x, "images", shape=(None, 1, 28, 28), dtype="float") is x
    assert checks.tensor(x, "images", ndim=(3, 4)) is x
    ids = torch.tensor([0, 4, -100])
    assert checks.ids_in_range(ids, 5, "targets", allow=(-100,)) is ids
    assert checks.finite(torch.tensor([1.0]), "v").item() == 1.0


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: checks.flag("no", "progress"), "progress"),
        (lambda: checks.flag(1, "shuffle"), "shuffle"),
        (lambda: checks.string("", "desc"), "desc"),
        (lambda: checks.string(["a"], "desc"), "desc"),
        (lambda: checks.module({"weight": torch.zeros(1)}, "model"), "model"),
        (lambda: checks.device("gpu0", "device"), "device"),
        (lambda: checks.device(["cpu"], "device"), "device"),
        (lambda: checks.same_length(images=torch.zeros(3, 1), tokens=torch.zeros(2, 4)), "images, tokens"),
        (lambda: checks.finite([1.0, float("nan")], "rewards"), "rewards"),
        (lambda: checks.ids_in_range(torch.tensor([0]), 0, "tokens"), "size"),
        (lambda: checks.ids_in_range(torch.tensor([0]), 3, "tokens", allow=-100), "allow"),
        (lambda: checks.one_of("a", "abc", "mode"), "options"),
        (lambda: checks.tensor(torch.zeros(2), "x", ndim=2.0), "ndim"),
        (lambda: checks.tensor(torch.zeros(2), "x", dtype=["float"]), "dtype"),
        (lambda: checks.has_values([1.0, 2.0]), "value"),
    ],
)
def test_the_newer_checks_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_the_newer_checks_pass_good_values_through():
    import numpy as np

    assert checks.flag(np.bool_(True), "f") is True and checks.string("x", "s") == "x"
    linear = torch.nn.Linear(1, 1)
    assert checks.module(linear, "m") is linear and checks.device("cpu", "d") == torch.device("cpu")
    assert checks.same_length(a=torch.zeros(3), b=[1, 2, 3]) == 3
