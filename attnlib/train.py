"""A small training loop shared by every chapter: device, seeding, fit, evaluate.

Checkpoints live in :mod:`attnlib.checkpoint`; ``train.save_checkpoint`` and ``train.load_checkpoint``
are the same functions, re-exported so existing code keeps working.

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
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from attnlib import budget, checks
from attnlib.checkpoint import load_checkpoint, save_checkpoint  # noqa: F401  (re-exported; moved there)

__all__ = [
    "accuracy",
    "classification_step",
    "default_device",
    "evaluate",
    "fit",
    "init_distributed",
    "is_main_process",
    "make_loader",
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
    batch_size = checks.positive_int(batch_size, "batch_size")
    seed = checks.non_negative_int(seed, "seed")
    shuffle = checks.flag(shuffle, "shuffle")
    if not isinstance(dataset, Dataset) and not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise ValueError(f"dataset must be a torch Dataset (indexable, with a length), got {type(dataset).__name__}")
    size = len(dataset) if hasattr(dataset, "__len__") else None
    if size == 0:
        raise ValueError("dataset must hold at least one sample, got an empty dataset")
    if size is not None and kwargs.get("drop_last") and size < batch_size:
        raise ValueError(
            f"batch_size {batch_size} exceeds the dataset's {size} samples with drop_last=True: no batch at all"
        )
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
        try:
            return torch.device(forced)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"ATTNLIB_DEVICE must name a torch device ('cpu', 'cuda', 'mps'), got {forced!r}") from err
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
    seed = checks.non_negative_int(seed, "seed")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_device(batch: Batch, device: torch.device | str) -> Batch:
    """Move a tensor, or a tuple/list/dict of tensors, to ``device``; other leaves pass through."""
    if not isinstance(device, torch.device):
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must name a torch device ('cpu', 'cuda', 'cuda:0'), got {device!r}") from err
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def classification_step(model: nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
    """Default step: ``batch = (inputs, labels)``, ``model(inputs)`` gives logits ``(B, K)``.

    The labels are checked to be integer class ids in ``[0, K)`` (the loss reads them anyway).
    """
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(f"batch must be an (inputs, labels) pair, got a {type(batch).__name__}")
    checks.module(model, "model")
    inputs, labels = batch
    logits = model(inputs)
    checks.tensor(logits, "model(inputs) (the logits)", ndim=2)
    checks.tensor(labels, "labels", shape=(logits.shape[0],))
    if labels.numel() == 0:
        raise ValueError("labels must hold at least one label, got an empty batch")
    checks.ids_in_range(labels, logits.shape[1], "labels")
    loss = nn.functional.cross_entropy(logits, labels)
    acc = (logits.argmax(-1) == labels).float().mean().item()
    return loss, {"loss": loss.item(), "acc": acc}


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows of ``logits (N, K)`` whose argmax equals ``labels (N,)``."""
    checks.tensor(logits, "logits", ndim=2)
    checks.tensor(labels, "labels", ndim=1, dtype="int")
    if logits.ndim != 2 or labels.ndim != 1 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits must be (N, K) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if labels.numel() == 0:
        raise ValueError("labels must hold at least one label, got an empty batch")
    checks.ids_in_range(labels, logits.shape[1], "labels")
    checks.finite(logits, "logits")
    return (logits.argmax(-1) == labels).float().mean().item()


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _check_loader(loader: Any) -> None:
    if isinstance(loader, (torch.Tensor, str, bytes)) or not hasattr(loader, "__iter__"):
        raise ValueError(f"loader must be an iterable of batches (a DataLoader), got {type(loader).__name__}")
    try:
        size = len(loader)
    except TypeError:  # an iterable without a length: its emptiness shows after the first pass
        return
    if size == 0:
        raise ValueError("loader must yield at least one batch, got an empty loader")


def _resolve_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must name a torch device ('cpu', 'cuda', 'cuda:0'), got {device!r}") from err
    first = next(model.parameters(), None)
    if first is None:
        raise ValueError("model has no parameters to take the device from: pass device")
    return first.device


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    for i, group in enumerate(optimizer.param_groups):
        if "lr" not in group:
            continue
        name = f"optimizer.param_groups[{i}]['lr'] (the learning rate)"
        if "initial_lr" in group:  # a scheduler is attached; its warm-up may start the current lr at 0
            checks.positive_float(group["initial_lr"], f"optimizer.param_groups[{i}]['initial_lr']")
            checks.non_negative_float(group["lr"], name)
        else:
            checks.positive_float(group["lr"], name)


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
    _check_model(model)
    _check_loader(loader)
    if predict is not None and not callable(predict):
        raise ValueError(f"predict must be a callable (model, batch) -> (logits, labels), got {predict!r}")
    device = _resolve_device(model, device)
    was_training = model.training
    model.eval()
    correct, total = 0, 0
    try:
        for batch in loader:
            batch = to_device(batch, device)
            if predict is None:
                if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                    raise ValueError(
                        f"loader must yield (inputs, labels) pairs when predict is None, got a {type(batch).__name__}"
                    )
                inputs, labels = batch
                logits = model(inputs)
            else:
                out = predict(model, batch)
                if not isinstance(out, (tuple, list)) or len(out) != 2:
                    raise ValueError(f"predict must return (logits, labels), got a {type(out).__name__}")
                logits, labels = out
            name = "labels" if predict is None else "predict's labels"
            checks.tensor(logits, "logits" if predict is None else "predict's logits")
            checks.tensor(labels, name, dtype="int")
            if logits.shape[:-1] != labels.shape:
                raise ValueError(
                    f"{name} must have the shape of the logits without their last (class) dim "
                    f"{tuple(logits.shape[:-1])}, got {tuple(labels.shape)}"
                )
            correct += (logits.argmax(-1) == labels).sum().item()
            total += labels.numel()
    finally:
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
        In a dry run, ``ATTNLIB_MAX_STEPS`` (:mod:`attnlib.budget`) caps the optimiser steps of the
        whole run: the epoch in which the last allowed step happens ends there, is evaluated, and
        is the last.
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
    Raises
    ------
    ValueError
        Before any step, for a learning rate (of any of ``optimizer.param_groups``) that is not a
        finite number > 0 (with a scheduler attached: its ``initial_lr`` > 0, the current ``lr``
        >= 0 so a warm-up may start at 0), a ``clip_grad_norm`` or ``max_seconds`` that is not a
        finite number > 0 (a negative clip norm would flip every gradient), ``epochs`` < 1, an empty
        loader, or a misspelled option; after the first epoch, if the loader yielded no batch (a run
        of zero steps). Labels of the default step must be ids in ``[0, K)``.
    FloatingPointError
        When the loss becomes NaN or infinite.
    """
    _check_model(model)
    _check_loader(loader)
    _check_optimizer(optimizer)
    epochs = checks.positive_int(epochs, "epochs")
    if not callable(step):
        raise ValueError(f"step must be a callable (model, batch) -> (loss, logs), got {step!r}")
    if eval_fn is not None and not callable(eval_fn):
        raise ValueError(f"eval_fn must be a callable model -> dict of numbers, got {eval_fn!r}")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise ValueError(f"scheduler must have a step() method (a torch LR scheduler), got {type(scheduler).__name__}")
    if clip_grad_norm is not None:
        clip_grad_norm = checks.positive_float(clip_grad_norm, "clip_grad_norm")
    if max_seconds is not None:
        max_seconds = checks.positive_float(max_seconds, "max_seconds")
    checks.one_of(scheduler_interval, ("epoch", "step"), "scheduler_interval")
    if progress is not None:
        progress = checks.flag(progress, "progress")
    checks.string(desc, "desc")
    if keep_best is not None and not isinstance(keep_best, str):
        raise ValueError(f"keep_best must be None or the name of a number eval_fn returns, got {keep_best!r}")
    if keep_best is not None and eval_fn is None:
        raise ValueError(f"keep_best={keep_best!r} needs an eval_fn that returns it")
    checks.one_of(keep_best_mode, ("max", "min"), "keep_best_mode")
    best_value, best_epoch, best_state = None, 0, None
    device = _resolve_device(model, device)
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
    taken = 0  # optimiser steps of this run, for the dry-run cap ATTNLIB_MAX_STEPS
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
            out = step(train_model, batch)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise ValueError(f"step must return (loss, logs), got a {type(out).__name__}")
            loss, logs = out
            if not isinstance(logs, Mapping):
                raise ValueError(
                    f"step must return (loss, logs) with logs a dict of numbers, got {type(logs).__name__}"
                )
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError(
                    f"step must return a scalar loss tensor, got {getattr(loss, 'shape', type(loss).__name__)}"
                )
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
            taken += 1
            if n_batches % 10 == 0:
                bar.set_postfix({k: f"{v / n_batches:.3f}" for k, v in sums.items()})
            if budget.steps_exhausted(taken):
                break
        if n_batches == 0:
            raise ValueError(
                f"loader yielded no batches in epoch {epoch}: an empty dataset, or drop_last with a "
                "batch_size larger than the data? fit would take zero steps"
            )
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
                numbers = eval_fn(model)
            if not isinstance(numbers, Mapping):
                raise ValueError(f"eval_fn must return a dict of numbers, got a {type(numbers).__name__}")
            for key, value in numbers.items():
                try:
                    value = float(value)
                except (TypeError, ValueError, RuntimeError) as err:
                    raise ValueError(f"eval_fn must return numbers, got {key}={value!r}") from err
                history.setdefault(key, []).append(value)
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
        if budget.steps_exhausted(taken):
            break
    if best_state is not None:
        model.load_state_dict(best_state)
        history["best_epoch"] = [best_epoch]
    model.eval()
    return history
