"""Checkpoints (attnlib.checkpoint): round trip, and every bad file or argument refused naming the file or argument."""

import numpy as np
import pytest
import torch
from torch import nn

from attnlib import checkpoint, train


def test_train_reexports_the_checkpoint_functions():
    assert train.save_checkpoint is checkpoint.save_checkpoint
    assert train.load_checkpoint is checkpoint.load_checkpoint


def test_checkpoint_round_trip(tmp_path, generator):
    model = nn.Linear(3, 2)
    optimiser = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3, generator=generator)).sum().backward()
    optimiser.step()
    path = checkpoint.save_checkpoint(tmp_path / "ck" / "m.pt", model, optimiser, epoch=3, note="x")
    fresh = nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters())
    meta = checkpoint.load_checkpoint(path, fresh, fresh_opt)
    assert meta == {"epoch": 3, "note": "x"}
    for a, b in zip(model.parameters(), fresh.parameters()):
        assert torch.equal(a, b)
    assert fresh_opt.state_dict()["state"]
    with pytest.raises(ValueError, match="not a checkpoint"):
        checkpoint.load_checkpoint(tmp_path / "missing.pt", fresh)


def _bad_checkpoints(tmp_path):
    """Files a user might hand to load_checkpoint by mistake: each must be a ValueError naming the file."""
    model = nn.Linear(3, 2)
    good = checkpoint.save_checkpoint(tmp_path / "good.pt", model, epoch=1)
    data = good.read_bytes()
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(b"\x00\x01not a checkpoint at all" * 10)
    torch.save({"weights": model.state_dict()}, tmp_path / "other_dict.pt")
    torch.save([1, 2, 3], tmp_path / "a_list.pt")
    checkpoint.save_checkpoint(tmp_path / "other_model.pt", nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)))
    checkpoint.save_checkpoint(tmp_path / "other_shape.pt", nn.Linear(5, 2))
    return tmp_path


def _bad_checkpoint_calls():
    """(call(tmp_path), what the message must name)."""
    model = nn.Linear(2, 2)
    load, save = checkpoint.load_checkpoint, checkpoint.save_checkpoint

    def sgd():
        return torch.optim.SGD(nn.Linear(3, 2).parameters(), lr=0.1)

    def ck(name):
        return lambda p: load(_bad_checkpoints(p) / name, nn.Linear(3, 2))

    return [
        (ck("missing.pt"), "missing.pt"),
        (ck("empty.pt"), "empty.pt"),
        (ck("truncated.pt"), "truncated.pt"),
        (ck("garbage.pt"), "garbage.pt"),
        (ck("other_dict.pt"), "other_dict.pt"),
        (ck("a_list.pt"), "a_list.pt"),
        (ck("other_model.pt"), r"other_model.pt.*unexpected keys \[0.weight"),
        (ck("other_shape.pt"), r"other_shape.pt.*weight: model \(2, 3\), checkpoint \(2, 5\)"),
        (lambda p: load(_bad_checkpoints(p) / "good.pt", nn.Linear(3, 2), sgd()), "good.pt"),
        (lambda p: load(_bad_checkpoints(p), nn.Linear(3, 2)), "path"),
        (lambda p: load(_bad_checkpoints(p) / "good.pt", "linear"), "model"),
        (lambda p: save(p / "m.pt", model, acc=np.float64(0.5)), "acc"),
        (lambda p: save(p / "m.pt", model, where=p), "where"),
        (lambda p: save(p / "m.pt", model, cfg={"f": object()}), "cfg"),
        (lambda p: save(p, model), "path"),
        (lambda p: save(p / "m.pt", model.state_dict()), "model"),
        (lambda p: save(p / "m.pt", model, optimizer="sgd"), "optimizer"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_checkpoint_calls())))
def test_bad_checkpoints_are_refused_naming_the_file_or_argument(tmp_path, case):
    call, match = _bad_checkpoint_calls()[case]
    with pytest.raises(ValueError, match=match):
        call(tmp_path)


def test_a_refused_checkpoint_leaves_the_model_unchanged(tmp_path):
    path = checkpoint.save_checkpoint(tmp_path / "m.pt", nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 5)))
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"1.weight: model \(4, 2\), checkpoint \(5, 2\)"):
        checkpoint.load_checkpoint(path, model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
