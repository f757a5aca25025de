"""Data-parallel training: 2 CPU processes (gloo) match 1 process with the same global batch."""

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from attnlib import train

GLOBAL_BATCH, STEPS_DATA, EPOCHS = 16, 64, 2


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS_DATA, 5, generator=g)
    return torch.utils.data.TensorDataset(x, (x.sum(1) > 0).long())


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))


def _worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), ATTNLIB_DEVICE="cpu")
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    assert train.init_distributed() == (rank, world)
    model = _model()
    loader = train.make_loader(_data(), GLOBAL_BATCH, shuffle=False)
    assert loader.batch_size == GLOBAL_BATCH // world
    train.fit(model, loader, torch.optim.SGD(model.parameters(), lr=0.5), EPOCHS, progress=False)
    if train.is_main_process():
        torch.save(model.state_dict(), out_file)
    dist.destroy_process_group()


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    ddp_state = torch.load(out, weights_only=True)

    single = _model()
    loader = train.make_loader(_data(), GLOBAL_BATCH, shuffle=False)
    train.fit(single, loader, torch.optim.SGD(single.parameters(), lr=0.5), EPOCHS, progress=False)
    initial = _model().state_dict()
    for name, value in single.state_dict().items():
        assert not torch.allclose(value, initial[name]), "training did not move the parameters"
        torch.testing.assert_close(ddp_state[name], value, rtol=1e-5, atol=1e-6)


def test_single_process_helpers():
    assert train.init_distributed() == (0, 1)
    assert train.is_main_process()
    import pytest

    with pytest.raises(ValueError, match="batch_size"):
        train.make_loader(_data(), 0)
