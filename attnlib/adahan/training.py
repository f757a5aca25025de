"""Training pieces: pretraining the image encoder on cell attributes, caching its features, answering.

The paper starts from a pretrained CNN; :func:`pretrain_encoder` is our stand-in
(dense per-cell attribute labels, no questions), :func:`encode_images` runs the
frozen encoder once so that every attention model trains only its cheap head,
and :func:`answer_step` / :func:`predict_answers` train and read out a model.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from attnlib import budget, checks
from attnlib.adahan.model import ImageEncoder, VQAModel

__all__ = ["pretrain_encoder", "encode_images", "answer_step", "predict_answers"]


def pretrain_encoder(
    encoder: ImageEncoder,
    images: torch.Tensor,
    labels: dict[str, torch.Tensor],
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[float]:
    """Teach ``encoder`` what is in every cell (colour, shape, size or empty) before any question.

    The stand-in for the paper's pretrained CNN: dense per-cell labels from
    :func:`attnlib.data.shapes.cell_labels` train three linear heads on the
    cells. Questions, answers and attention play no part.

    Parameters
    ----------
    images
        ``(S, 3, H, W)``.
    labels
        ``color``, ``shape``, ``size``: ``int64 (S, N)`` with ``N`` the encoder's number of cells.

    Returns
    -------
    list of float
        Mean per-cell accuracy (over the three attributes) of each epoch.
    """
    if not isinstance(encoder, ImageEncoder):
        raise ValueError(f"encoder must be an ImageEncoder, got {type(encoder).__name__}")
    checks.tensor(images, "images", shape=(None, 3, None, None), dtype="float")
    if images.shape[0] < 1:
        raise ValueError(f"images must hold at least one image, got {tuple(images.shape)}")
    checks.finite(images, "images")
    checks.non_negative_int(seed, "seed")
    checks.positive_int(epochs, "epochs")
    checks.positive_int(batch_size, "batch_size")
    checks.positive_float(lr, "lr")
    names = ("color", "shape", "size")
    if not isinstance(labels, dict) or any(n not in labels for n in names):
        got = sorted(labels) if isinstance(labels, dict) else type(labels).__name__
        raise ValueError(f"labels must be a dict with keys {names}, got {got}")
    for n in names:
        checks.tensor(labels[n], f"labels[{n!r}]", ndim=2, dtype="int")
        if labels[n].shape[0] != images.shape[0]:
            raise ValueError(f"labels[{n!r}] must be (S, N) with S = {images.shape[0]}, got {tuple(labels[n].shape)}")
        if bool((labels[n] < 0).any()):
            raise ValueError(f"labels[{n!r}] must hold non-negative class ids, got {int(labels[n].min())}")
    with torch.no_grad():
        was_training = encoder.training
        encoder.eval()
        n_cells = encoder(images[:1].to(next(encoder.parameters()).device))[0].shape[1]
        encoder.train(was_training)
    for n in names:
        if labels[n].shape[1] != n_cells:
            raise ValueError(f"labels[{n!r}] must be (S, N) with N = {n_cells} cells, got {tuple(labels[n].shape)}")
    device = next(encoder.parameters()).device
    heads = nn.ModuleDict({n: nn.Linear(encoder.out_dim, int(labels[n].max()) + 1) for n in names}).to(device)
    optimizer = torch.optim.Adam([*encoder.parameters(), *heads.parameters()], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    encoder.train()
    taken = 0  # optimiser steps, for the dry-run cap (attnlib.budget.steps_exhausted)
    for _ in range(epochs):
        order = torch.randperm(images.shape[0], generator=generator)
        right, total = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            cells, _ = encoder(images[idx].to(device))
            loss = torch.zeros((), device=device)
            for n in names:
                logits, target = heads[n](cells), labels[n][idx].to(device)
                loss = loss + F.cross_entropy(logits.flatten(0, 1), target.flatten())
                right += (logits.argmax(-1) == target).float().mean().item() / len(names)
            total += 1
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            taken += 1
            if budget.steps_exhausted(taken):
                break
        history.append(right / total)
        if budget.steps_exhausted(taken):
            break
    encoder.eval()
    return history


@torch.no_grad()
def encode_images(encoder: ImageEncoder, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Run a (frozen) encoder over ``images (S, 3, H, W)`` once: cells ``(S, N, encoder.out_dim)`` on the CPU."""
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"encoder must be an nn.Module, got {type(encoder).__name__}")
    checks.tensor(images, "images", shape=(None, 3, None, None), dtype="float")
    if images.shape[0] < 1:
        raise ValueError(f"images must hold at least one image, got {tuple(images.shape)}")
    checks.finite(images, "images")
    checks.positive_int(batch_size, "batch_size")
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = torch.cat(
        [encoder(images[i : i + batch_size].to(device))[0].cpu() for i in range(0, len(images), batch_size)]
    )
    encoder.train(was_training)
    return out


def answer_step(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy step for :func:`attnlib.train.fit` on batches of :class:`attnlib.data.vqa.VQALoader`."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 5:
        raise ValueError("batch must be (images, questions, lengths, answers, scene_index) from a VQALoader")
    checks.module(model, "model")
    images, questions, lengths, answers, scene_index = batch
    logits = model(images, questions, lengths, scene_index)
    checks.tensor(answers, "answers", shape=(logits.shape[0],), dtype="int")
    checks.ids_in_range(answers, logits.shape[-1], "answers")
    loss = F.cross_entropy(logits, answers)
    return loss, {"loss": loss.item(), "acc": (logits.argmax(-1) == answers).float().mean().item()}


@torch.no_grad()
def predict_answers(model: nn.Module, loader: object) -> dict[str, torch.Tensor]:
    """Predictions over a (non-shuffled) :class:`~attnlib.data.vqa.VQALoader`, in the data's question order.

    Returns
    -------
    dict
        ``predictions (Q,)``; for a :class:`VQAModel` also ``mask bool (Q, N)``, ``weights (Q, N)``,
        ``presence (Q, N)`` and ``kept (Q,)`` (cells kept; ``N`` for soft attention).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    if not hasattr(loader, "__iter__"):
        raise ValueError(f"loader must be an iterable of batches such as a VQALoader, got {type(loader).__name__}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: dict[str, list[torch.Tensor]] = {}
    for images, questions, lengths, _, scene_index in loader:
        args = [t.to(device) for t in (images, questions, lengths, scene_index)]
        if isinstance(model, VQAModel):
            att = model.attend(*args)
            logits = model.classifier(torch.cat([model.aggregate(att), att["question"]], dim=-1))
            for key in ("mask", "weights", "presence"):
                out.setdefault(key, []).append(att[key].cpu())
        else:
            logits = model(*args)
        out.setdefault("predictions", []).append(logits.argmax(-1).cpu())
    model.train(was_training)
    result = {k: torch.cat(v) for k, v in out.items()}
    if not result:
        raise ValueError("loader must yield at least one batch, got none")
    if "mask" in result:
        result["kept"] = result["mask"].sum(1)
    return result
