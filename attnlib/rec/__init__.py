"""Self-paced multi-grained cross-modal interaction for referring expression comprehension (chapter 8).

* :mod:`attnlib.rec.model`: CA2M, the visual and text encoders, the box head, :class:`RECModel`;
* :mod:`attnlib.rec.pretrain`: the visual encoder's pretraining on dense cell targets, and its cached tokens;
* :mod:`attnlib.rec.selfpaced`: the self-paced loss in four forms (as written, floored, normalised, easy-first);
* :mod:`attnlib.rec.train`: per-sample box losses, the auxiliary cell loss, the training step, evaluation,
  cost (parameters, FLOPs, latency).
"""

from attnlib.rec.model import CA2M, BoxHead, CachedVisual, RECModel, TextEncoder, VisualEncoder
from attnlib.rec.pretrain import CellHeads, cell_targets, encode_cells, pretrain_visual, standardise_cells
from attnlib.rec.selfpaced import FORMS, SelfPacedLoss, difficulty, self_paced_loss
from attnlib.rec.train import (
    box_losses,
    cell_loss,
    cost,
    evaluate_rec,
    make_step,
    predict_boxes,
    sigma_descent,
    train_rec,
)

__all__ = [
    "CA2M",
    "BoxHead",
    "CachedVisual",
    "RECModel",
    "TextEncoder",
    "VisualEncoder",
    "CellHeads",
    "cell_targets",
    "encode_cells",
    "pretrain_visual",
    "standardise_cells",
    "FORMS",
    "SelfPacedLoss",
    "difficulty",
    "self_paced_loss",
    "box_losses",
    "cell_loss",
    "cost",
    "evaluate_rec",
    "make_step",
    "predict_boxes",
    "sigma_descent",
    "train_rec",
]
