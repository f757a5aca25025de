"""A small training loop shared by every chapter: device, seeding, fit, evaluate, checkpoints.

The loop is deliberately plain. A chapter whose model needs more than
cross-entropy (RAM's hybrid loss, a captioner's teacher forcing) passes its own
``step`` function, which maps ``(model, batch)`` to a scalar loss and a dict of
numbers to log; everything else (device moves, progress bars, history,
gradient clipping) stays here, written once.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

__all__ = [
    "accuracy",
    "classification_step",
    "default_device",
    "evaluate",
    "fit",
    "init_distributed",
    "is_main_process",
    "load_checkpoint",
    "make_loader",
    "save_checkpoint",
    "seed_everything",
    "to_device",
]

Batch = Any
StepFn = Callable[[nn.Module, Batch], "tuple[torch.Tensor, Mapping[str, float]]"]


def init_distributed() -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes, if there is one; return ``(rank, world_size)``.

    Outside ``torchrun`` (no ``WORLD_SIZE`` > 1 in the environment) this does
    nothing and returns ``(0, 1)``, so a notebook can call it unconditionally.
    The backend is NCCL on GPUs and gloo on CPUs.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    use_cuda = torch.cuda.is_available() and os.environ.get("ATTNLIB_DEVICE", "cuda").startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def is_main_process() -> bool:
    """True outside distributed training and on rank 0 inside it (the process that prints and saves)."""
    return not _distributed() or dist.get_rank() == 0


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = True, seed: int = 0, **kwargs: Any) -> DataLoader:
    """A DataLoader whose ``batch_size`` is the *global* batch, in one process or many.

    Under distributed training each of the ``world_size`` processes reads a
    disjoint ``1 / world_size`` of the data through a ``DistributedSampler``
    and takes ``batch_size // world_size`` samples per step, so that averaging
    the gradients across processes (what DDP does) gives the gradient of the
    same global batch as a single process would use.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if not _distributed():
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, **kwargs)
    world = dist.get_world_size()
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} must be divisible by the world size {world}")
    sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_size=batch_size // world, sampler=sampler, **kwargs)


def default_device() -> torch.device:
    """The best device available: CUDA, then Apple's MPS, then the CPU.

    ``ATTNLIB_DEVICE`` (for example ``cpu``) overrides the choice. Under
    ``torchrun`` on GPUs each process takes the GPU of its ``LOCAL_RANK``.
    """
    forced = os.environ.get("ATTNLIB_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        if _distributed():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a CPU generator seeded alike.

    The returned generator is what library functions with a ``generator``
    argument expect, so a chapter can thread one source of randomness through
    data generation and sampling.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_device(batch: Batch, device: torch.device | str) -> Batch:
    """Move a tensor, or a tuple/list/dict of tensors, to ``device``; other leaves pass through."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def classification_step(model: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
    """Default step: ``batch = (inputs, labels)``, ``model(inputs)`` gives logits ``(B, K)``."""
    inputs, labels = batch
    logits = model(inputs)
    loss = nn.functional.cross_entropy(logits, labels)
    acc = (logits.argmax(-1) == labels).float().mean().item()
    return loss, {"loss": loss.item(), "acc": acc}


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows of ``logits (N, K)`` whose argmax equals ``labels (N,)``."""
    if logits.ndim != 2 or labels.ndim != 1 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits must be (N, K) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    return (logits.argmax(-1) == labels).float().mean().item()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[Batch],
    predict: Callable[[nn.Module, Batch], tuple[torch.Tensor, torch.Tensor]] | None = None,
    device: torch.device | str | None = None,
) -> float:
    """Accuracy of ``model`` over ``loader``.

    Parameters
    ----------
    predict
        ``predict(model, batch) -> (logits (B, K), labels (B,))``. The default
        calls ``model(inputs)`` on ``batch = (inputs, labels)``.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct, total = 0, 0
    for batch in loader:
        batch = to_device(batch, device)
        if predict is None:
            inputs, labels = batch
            logits = model(inputs)
        else:
            logits, labels = predict(model, batch)
        correct += (logits.argmax(-1) == labels).sum().item()
        total += labels.numel()
    model.train(was_training)
    if total == 0:
        raise ValueError("loader yielded no samples")
    return correct / total


def fit(
    model: nn.Module,
    loader: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    step: StepFn = classification_step,
    device: torch.device | str | None = None,
    eval_fn: Callable[[nn.Module], Mapping[str, float]] | None = None,
    scheduler: Any | None = None,
    clip_grad_norm: float | None = None,
    max_seconds: float | None = None,
    progress: bool | None = None,
    desc: str = "train",
    scheduler_interval: str = "epoch",
    keep_best: str | None = None,
    keep_best_mode: str = "max",
) -> dict[str, list[float]]:
    """Train ``model`` for ``epochs`` passes over ``loader``.

    Parameters
    ----------
    step
        ``step(model, batch) -> (loss, logs)``; the loss is back-propagated, the
        logs (floats) are averaged per epoch into the returned history.
    eval_fn
        Called with the model after each epoch (in eval mode, without grad);
        its numbers join the history (for example ``{"test_acc": 0.97}``).
    max_seconds
        Stop after the epoch in which this much wall time has passed.
    scheduler_interval
        ``"epoch"`` (default: ``scheduler.step()`` after every epoch, e.g. cosine annealing over
        epochs) or ``"step"`` (after every optimiser step, e.g. ``OneCycleLR`` with
        ``total_steps = epochs * len(loader)``).
    keep_best
        Early stopping on validation data: the name of a number ``eval_fn`` returns (say
        ``"val_acc"``). After the last epoch the model gets back the weights of the epoch where it
        was best (largest for ``keep_best_mode="max"``, smallest for ``"min"``), and the history
        gains ``"best_epoch": [e]`` (1-based). ``eval_fn`` must then evaluate on the validation
        split: choosing the epoch on test data would make the test figure a selected one.

    Under ``torchrun`` (after :func:`init_distributed`) the model is wrapped in
    ``DistributedDataParallel`` for the training steps, so ``step`` receives
    the wrapper and must call it (``model(inputs)``) for gradients to be
    averaged; use :func:`make_loader` so each process reads its own shard.
    Logged numbers are those of the local process; only rank 0 shows progress.
    progress
        Show a tqdm bar (``tqdm.auto``: a widget in notebooks). ``None`` reads
        ``ATTNLIB_PROGRESS`` (``0`` turns bars off, as ``make`` does for the
        executed book and the tests).

    Returns
    -------
    history
        ``{name: [value per epoch]}``, plus ``"epoch"`` and ``"seconds"``
        (cumulative training time, evaluation excluded).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
    if keep_best is not None and eval_fn is None:
        raise ValueError(f"keep_best={keep_best!r} needs an eval_fn that returns it")
    if keep_best_mode not in ("max", "min"):
        raise ValueError(f"keep_best_mode must be 'max' or 'min', got {keep_best_mode!r}")
    best_value, best_epoch, best_state = None, 0, None
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    if progress is None:
        progress = os.environ.get("ATTNLIB_PROGRESS", "1") != "0"
    progress = progress and is_main_process()
    train_model: nn.Module = model
    if _distributed():
        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = getattr(loader, "sampler", None)
    history: dict[str, list[float]] = {"epoch": [], "seconds": []}
    train_seconds = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        sums: dict[str, float] = {}
        n_batches = 0
        start = time.perf_counter()
        bar = tqdm(loader, desc=f"{desc} {epoch}/{epochs}", leave=False, disable=not progress)
        for batch in bar:
            batch = to_device(batch, device)
            loss, logs = step(train_model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
            if scheduler is not None and scheduler_interval == "step":
                scheduler.step()
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            n_batches += 1
            if n_batches % 10 == 0:
                bar.set_postfix({k: f"{v / n_batches:.3f}" for k, v in sums.items()})
        if scheduler is not None and scheduler_interval == "epoch":
            scheduler.step()
        train_seconds += time.perf_counter() - start
        history["epoch"].append(epoch)
        history["seconds"].append(train_seconds)
        for key, total in sums.items():
            history.setdefault(key, []).append(total / max(n_batches, 1))
        if eval_fn is not None:
            model.eval()
            with torch.no_grad():
                for key, value in eval_fn(model).items():
                    history.setdefault(key, []).append(float(value))
            if keep_best is not None:
                if keep_best not in history:
                    raise ValueError(f"keep_best={keep_best!r} is not among eval_fn's keys {sorted(history)}")
                current = history[keep_best][-1]
                better = best_value is None or (
                    current > best_value if keep_best_mode == "max" else current < best_value
                )
                if better:
                    # a copy on the CPU: the weights of the best epoch so far
                    best_value, best_epoch = current, epoch
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if max_seconds is not None and train_seconds >= max_seconds:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
        history["best_epoch"] = [best_epoch]
    model.eval()
    return history


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    **metadata: float | str,
) -> Path:
    """Save the model (and optionally optimizer) state with plain metadata.

    Only tensors, numbers and strings are stored, so :func:`load_checkpoint`
    can read the file back with ``torch.load(..., weights_only=True)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"model": model.state_dict(), "metadata": dict(metadata)}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    torch.save(payload, path)
    return path


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: torch.device | str | None = "cpu",
) -> dict[str, Any]:
    """Load a file written by :func:`save_checkpoint` into ``model`` (and ``optimizer``).

    Uses ``weights_only=True``: a checkpoint can never run code on load.

    Returns
    -------
    The metadata saved with the checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a checkpoint file")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(payload["model"])
    if optimizer is not None:
        if "optimizer" not in payload:
            raise ValueError(f"checkpoint {str(path)!r} holds no optimizer state")
        optimizer.load_state_dict(payload["optimizer"])
    return payload.get("metadata", {})
