"""Training and evaluating the grounding network of chapter 8: losses per sample, steps, Acc@0.5, cost."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Literal

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attnlib import checks
from attnlib.boxes import acc_at_iou, box_convert, check_boxes, generalized_box_iou_loss
from attnlib.rec.selfpaced import FORMS, Form, SelfPacedLoss, _check_pair
from attnlib.train import fit, seed_everything

__all__ = [
    "box_losses",
    "Batches",
    "cell_loss",
    "make_step",
    "predict_boxes",
    "evaluate_rec",
    "train_rec",
    "sigma_descent",
    "cost",
]

LossName = Literal["l1", "l1+giou", "self_paced"]


def box_losses(pred_cxcywh: torch.Tensor, target_xyxy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``L_L1`` (Eq. (rec-l1), summed over cx, cy, w, h) and ``L_GIoU = 1 - GIoU`` (Eq. (rec-giou-loss)).

    Parameters
    ----------
    pred_cxcywh
        ``(N, 4)`` predicted normalised (cx, cy, w, h), ``w, h >= 0``.
    target_xyxy
        ``(N, 4)`` normalised xyxy boxes.

    Returns
    -------
    l1, giou
        ``(N,)`` each.
    """
    check_boxes(target_xyxy, "target_xyxy")
    checks.tensor(pred_cxcywh, "pred_cxcywh", dtype="float")
    if pred_cxcywh.shape != target_xyxy.shape:
        raise ValueError(f"pred_cxcywh must be {tuple(target_xyxy.shape)}, got {tuple(pred_cxcywh.shape)}")
    checks.finite(pred_cxcywh.detach(), "pred_cxcywh")
    l1 = (pred_cxcywh - box_convert(target_xyxy, "xyxy", "cxcywh")).abs().sum(-1)
    giou = generalized_box_iou_loss(box_convert(pred_cxcywh, "cxcywh", "xyxy"), target_xyxy)
    return l1, giou


class Batches:
    """Shuffled mini-batches of tensors held in memory (same first dimension), a new order each pass.

    Typically ``(visual, tokens, boxes)`` or ``(visual, tokens, boxes, cells)``, ``visual`` being images or
    cached cells.
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int = 0):
        for i, t in enumerate(tensors):
            checks.tensor(t, f"tensors[{i}]")
            if t.ndim == 0:
                raise ValueError(f"tensors[{i}] must have a first (sample) dimension, got a scalar")
        if len(tensors) < 3 or any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError("need at least (visual, tokens, boxes), all with the same number of samples")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        checks.non_negative_int(seed, "seed")
        if batch_size > tensors[0].shape[0]:
            raise ValueError(
                f"batch_size must be <= the number of samples ({tensors[0].shape[0]}), got {batch_size}: "
                "an epoch would take no step"
            )
        self.data, self.batch_size = tensors, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.data[0].shape[0] // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        order = torch.randperm(self.data[0].shape[0], generator=self.generator)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield tuple(t[idx] for t in self.data)


def cell_loss(cell_logits: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Auxiliary loss, Eq. (rec-aux): cross-entropy between the target's share of each cell and
    ``softmax(cell_logits)``, per sample.

    Parameters
    ----------
    cell_logits
        ``(N, G)`` one score per visual token.
    cells
        ``(N, G)`` rows summing to 1 (:func:`attnlib.data.refexp.target_cells`).

    Returns
    -------
    ``(N,)``
    """
    checks.tensor(cell_logits, "cell_logits", dtype="float")
    checks.tensor(cells, "cells", dtype="float")
    if cell_logits.shape != cells.shape or cells.ndim != 2:
        raise ValueError(
            f"cell_logits and cells must be (N, G) of one shape, got {tuple(cell_logits.shape)} and {tuple(cells.shape)}"
        )
    checks.finite(cell_logits.detach(), "cell_logits")
    checks.finite(cells, "cells")
    return _cell_loss(cell_logits, cells)


def _cell_loss(cell_logits: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """:func:`cell_loss` without its checks: the training step's path (values are not read at every step)."""
    return -(cells * cell_logits.log_softmax(-1)).sum(-1)


def make_step(
    loss: LossName = "l1+giou",
    self_paced: SelfPacedLoss | None = None,
    record: list | None = None,
    record_every: int = 10,
    trace: list | None = None,
    aux_weight: float = 0.0,
    on_step: Callable[[int], None] | None = None,
):
    """A ``step(model, batch) -> (loss, logs)`` for :func:`attnlib.train.fit`.

    ``"l1"``: mean L1; ``"l1+giou"``: mean L1 + mean GIoU loss (1:1, as TransVG);
    ``"self_paced"``: Eq. (rec-total) through ``self_paced``. With ``aux_weight > 0`` the batch's fourth
    tensor holds the target cells and ``aux_weight`` times the auxiliary grounding loss, Eq. (rec-aux), is
    added: :func:`cell_loss` of the model's ``cell_logits`` plus :func:`cell_loss` of the log of its
    ``cls_attention`` (where [CLS] looks), averaged over the batch.
    If ``record`` is a list, every ``record_every`` steps it receives ``(l1, giou, w0, w1)`` per sample
    (CPU tensors; ``w`` the weights of :func:`attnlib.rec.selfpaced.self_paced_loss`). If ``trace`` is a list, every step
    appends a dict of floats: ``sigma0, sigma1`` (before the step), the batch's mean and largest weights
    ``w0_mean, w0_max, w1_mean, w1_max``, the mean losses ``l1, giou`` and the self-paced ``total``. ``on_step(i)`` is called first at every step (the learning-rate schedule).
    """
    if loss not in ("l1", "l1+giou", "self_paced"):
        raise ValueError(f"loss must be 'l1', 'l1+giou' or 'self_paced', got {loss!r}")
    if (loss == "self_paced") != (self_paced is not None):
        raise ValueError("pass self_paced exactly when loss='self_paced'")
    checks.non_negative_float(aux_weight, "aux_weight")
    checks.positive_int(record_every, "record_every")
    for name, lst in (("record", record), ("trace", trace)):
        if lst is not None and not isinstance(lst, list):
            raise ValueError(f"{name} must be a list or None, got {type(lst).__name__}")
    if on_step is not None and not callable(on_step):
        raise ValueError(f"on_step must be callable or None, got {on_step!r}")
    count = [0]

    def step(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        if on_step is not None:
            on_step(count[0])
        visual, tokens, boxes = batch[:3]
        l1, giou = box_losses(model(visual, tokens), boxes)
        logs = {"l1": l1.mean().item(), "giou": giou.mean().item()}
        if loss == "l1":
            total = l1.mean()
        elif loss == "l1+giou":
            total = l1.mean() + giou.mean()
        else:
            total, d0, d1 = self_paced(l1, giou)
            sigma = self_paced.sigma.detach()
            logs.update(sigma0=sigma[0].item(), sigma1=sigma[1].item(), d0=d0.mean().item(), d1=d1.mean().item())
            if record is not None and count[0] % record_every == 0:
                record.append(tuple(t.detach().cpu() for t in (l1, giou, d0, d1)))
            if trace is not None:
                trace.append(
                    {
                        "sigma0": logs["sigma0"],
                        "sigma1": logs["sigma1"],
                        "w0_mean": logs["d0"],
                        "w0_max": d0.max().item(),
                        "w1_mean": logs["d1"],
                        "w1_max": d1.max().item(),
                        "l1": logs["l1"],
                        "giou": logs["giou"],
                        "total": total.item(),
                    }
                )
        if aux_weight > 0:
            if len(batch) < 4:
                raise ValueError("aux_weight > 0 needs the target cells as the batch's fourth tensor")
            net = getattr(model, "module", model)
            cls_log = net.cls_attention.clamp_min(1e-8).log()
            aux = (_cell_loss(net.cell_logits, batch[3]) + _cell_loss(cls_log, batch[3])).mean()
            logs["aux"] = aux.item()
            total = total + aux_weight * aux
        count[0] += 1
        logs["loss"] = total.item()
        return total, logs

    return step


def _check_inputs(images: torch.Tensor, tokens: torch.Tensor, names: tuple[str, str] = ("images", "tokens")) -> None:
    ni, nt = names
    checks.tensor(images, ni, ndim=(3, 4), dtype="float")
    checks.tensor(tokens, nt, ndim=2, dtype="int")
    if images.shape[0] != tokens.shape[0]:
        raise ValueError(f"{ni} and {nt} must have the same B, got {images.shape[0]} and {tokens.shape[0]}")
    if images.shape[0] == 0:
        raise ValueError(f"{ni} and {nt} must hold at least one sample, got an empty batch")


def _check_split(data: object, name: str, need: int) -> None:
    if not isinstance(data, (tuple, list)) or len(data) < need:
        got = f"{len(data)} tensors" if isinstance(data, (tuple, list)) else type(data).__name__
        what = "(visual, tokens, boxes, cells)" if need == 4 else "(visual, tokens, boxes)"
        raise ValueError(f"{name} must be {what}, got {got}")
    for i, t in enumerate(data):
        checks.tensor(t, f"{name}[{i}]")
    _check_inputs(data[0], data[1], (f"{name}[0]", f"{name}[1]"))
    check_boxes(data[2], f"{name}[2]")
    if any(t.shape[0] != data[0].shape[0] for t in data):
        raise ValueError(f"{name} tensors must have the same number of samples, got {[t.shape[0] for t in data]}")


@torch.no_grad()
def predict_boxes(model: nn.Module, images: torch.Tensor, tokens: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Predicted boxes, normalised xyxy ``(N, 4)``, in eval mode and batches.

    ``images`` (or cached cells) must be finite: they are read once here, the entry point, not in the model's
    forward."""
    checks.module(model, "model")
    _check_inputs(images, tokens)
    checks.finite(images, "images")
    checks.positive_int(batch_size, "batch_size")
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [
        box_convert(
            model(images[i : i + batch_size].to(device), tokens[i : i + batch_size].to(device)),
            "cxcywh",
            "xyxy",
            name="the model's predicted boxes",
        )
        for i in range(0, images.shape[0], batch_size)
    ]
    model.train(was)
    return torch.cat(out).cpu()


def evaluate_rec(model: nn.Module, images: torch.Tensor, tokens: torch.Tensor, boxes: torch.Tensor) -> dict[str, float]:
    """``{"acc": Acc@0.5, "miou": mean IoU}`` of ``model`` on the given samples."""
    checks.module(model, "model")
    check_boxes(boxes, "boxes")
    _check_inputs(images, tokens)
    checks.finite(images, "images")
    if boxes.shape[0] != images.shape[0]:
        raise ValueError(f"boxes must hold one box per image ({images.shape[0]}), got {boxes.shape[0]}")
    acc, miou = acc_at_iou(predict_boxes(model, images, tokens), boxes.cpu())
    return {"acc": acc, "miou": miou}


def train_rec(
    model: nn.Module,
    train: tuple[torch.Tensor, ...],
    val: tuple[torch.Tensor, ...] | None = None,
    loss: LossName = "l1+giou",
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    form: Form = "as_written",
    sigma_lr: float = 5e-5,
    sigma_init: float = 2.5,
    lam: float = 0.75,
    sigma_min: float = 1.0,
    record: list | None = None,
    trace: list | None = None,
    device: torch.device | str = "cpu",
    aux_weight: float = 0.0,
    warmup: int = 0,
    keep_best: bool = True,
) -> tuple[dict[str, list[float]], SelfPacedLoss | None]:
    """Train with AdamW, a linear warm-up over ``warmup`` steps and a cosine decay to 0 over all steps.

    ``train`` is ``(visual, tokens, boxes)``, plus the target cells as a fourth tensor when ``aux_weight > 0``
    (see :func:`make_step`). ``val`` is ``(visual, tokens, boxes)`` of the *validation* split (never the test
    split): after every epoch its Acc@0.5 and mean IoU join the history as ``"val_acc"`` and ``"val_miou"``, and
    with ``keep_best`` the weights of the epoch with the best ``val_acc`` are restored at the end
    (``history["best_epoch"]``, 1-based). Returns the history and the self-paced module (``None`` unless
    ``loss="self_paced"``).

    With ``loss="self_paced"``, ``form`` picks one of the four weightings of :mod:`attnlib.rec.selfpaced`
    (``sigma_init``, ``lam``, ``sigma_min`` as there; the paper: 2.5, 0.75) and ``sigma_lr`` is the widths'
    own learning rate (the paper: 5e-5; here on ``rho``, so a step moves ``sigma - floor`` by a factor
    ``exp(+-sigma_lr)``). ``record`` and ``trace`` are passed to :func:`make_step`.
    """
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup!r}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    checks.one_of(loss, ("l1", "l1+giou", "self_paced"), "loss")
    checks.one_of(form, FORMS, "form")
    checks.positive_int(epochs, "epochs")
    checks.positive_int(batch_size, "batch_size")
    checks.positive_float(lr, "lr")
    checks.positive_float(sigma_lr, "sigma_lr")
    # The self-paced settings are checked whatever the loss (a typo should not wait for loss="self_paced").
    checks.positive_float(sigma_init, "sigma_init")
    checks.non_negative_float(lam, "lam")
    checks.positive_float(sigma_min, "sigma_min")
    checks.non_negative_float(aux_weight, "aux_weight")
    checks.non_negative_int(seed, "seed")
    if not isinstance(keep_best, bool):
        raise ValueError(f"keep_best must be True or False, got {keep_best!r}")
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must name a torch device ('cpu', 'cuda', 'cuda:0', ...), got {device!r}") from error
    _check_split(train, "train", 4 if aux_weight > 0 else 3)
    if val is not None:
        _check_split(val, "val", 3)
    if batch_size > train[0].shape[0]:
        raise ValueError(
            f"batch_size must be <= the number of training samples ({train[0].shape[0]}), got {batch_size}: "
            "an epoch would take no step"
        )
    seed_everything(seed)
    model.to(device)
    sp = (
        SelfPacedLoss(sigma_init=sigma_init, lam=lam, form=form, sigma_min=sigma_min).to(device)
        if loss == "self_paced"
        else None
    )
    groups = [{"params": model.parameters(), "lr": lr}]
    if sp is not None:
        groups.append({"params": sp.parameters(), "lr": sigma_lr, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    batches = Batches(*train, batch_size=batch_size, seed=seed)
    total_steps = max(epochs * len(batches), 1)
    base = [g["lr"] for g in opt.param_groups]

    def schedule(i: int) -> None:
        factor = min(1.0, (i + 1) / warmup) if warmup else 1.0
        factor *= 0.5 * (1 + math.cos(math.pi * min(i, total_steps) / total_steps))
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * factor

    selection = {}
    eval_fn = None
    if val is not None:

        def eval_fn(m: nn.Module) -> dict[str, float]:
            return {f"val_{k}": v for k, v in evaluate_rec(m, *val[:3]).items()}

        if keep_best:
            selection = {"keep_best": "val_acc", "keep_best_mode": "max"}
    history = fit(
        model,
        batches,
        opt,
        epochs,
        step=make_step(loss, sp, record, trace=trace, aux_weight=aux_weight, on_step=schedule),
        device=device,
        eval_fn=eval_fn,
        clip_grad_norm=1.0,
        desc=loss,
        **selection,
    )
    return history, sp


def sigma_descent(
    l1: torch.Tensor,
    giou: torch.Tensor,
    form: Form,
    steps: int = 200,
    lr: float = 0.05,
    sigma_init: float = 2.5,
    lam: float = 0.75,
    sigma_min: float = 1.0,
) -> dict[str, list[float]]:
    """Gradient descent (Adam) on the two widths alone, the per-sample losses ``l1, giou (N,)`` held fixed.

    Isolates what Eq. (rec-dsigma) does to ``sigma``: logs the total loss and both sigmas per
    step and stops at the first non-finite loss or gradient (``"stopped"`` then holds that step).
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    _check_pair(l1, giou)
    checks.one_of(form, FORMS, "form")
    checks.positive_float(lr, "lr")
    # float64: Adam squares gradients that reach 1e21 here, which float32 would turn into inf.
    sp = SelfPacedLoss(sigma_init=sigma_init, lam=lam, form=form, sigma_min=sigma_min).double()
    opt = torch.optim.Adam(sp.parameters(), lr=lr)
    log: dict[str, list[float]] = {"loss": [], "sigma0": [], "sigma1": [], "stopped": []}
    l1, giou = l1.detach().double().cpu(), giou.detach().double().cpu()
    for step in range(steps):
        total, _, _ = sp(l1, giou)
        sigma = sp.sigma.detach()
        log["loss"].append(total.item())
        log["sigma0"].append(sigma[0].item())
        log["sigma1"].append(sigma[1].item())
        if not torch.isfinite(total):
            log["stopped"].append(float(step))
            break
        opt.zero_grad()
        total.backward()
        if not torch.isfinite(sp.rho.grad).all():  # exp overflowed in the gradient first
            log["stopped"].append(float(step))
            break
        opt.step()
    return log


@torch.no_grad()
def cost(model: nn.Module, images: torch.Tensor, tokens: torch.Tensor, repeats: int = 5) -> dict[str, float]:
    """Parameters, forward FLOPs per sample (``torch.utils.flop_counter``) and median latency per batch in ms."""
    checks.module(model, "model")
    _check_inputs(images, tokens)
    checks.finite(images, "images")
    checks.positive_int(repeats, "repeats")
    was = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter:
        model(images, tokens)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(images, tokens)
        times.append(time.perf_counter() - start)
    model.train(was)
    return {
        "params": float(sum(p.numel() for p in model.parameters())),
        "flops": counter.get_total_flops() / images.shape[0],
        "latency_ms": 1000 * sorted(times)[len(times) // 2],
    }
