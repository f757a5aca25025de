"""Self-paced multi-grained cross-modal interaction for referring expression comprehension (chapter 6).

* :mod:`attnlib.rec.model`: CA2M, the visual and text encoders, the box head, :class:`RECModel`;
* :mod:`attnlib.rec.selfpaced`: the self-paced loss, in the form the notes write and the bounded form;
* :mod:`attnlib.rec.train`: per-sample box losses, the training step, evaluation, cost (parameters, FLOPs, latency).
"""

from attnlib.rec.model import CA2M, BoxHead, RECModel, TextEncoder, VisualEncoder
from attnlib.rec.selfpaced import SelfPacedLoss, difficulty, self_paced_loss
from attnlib.rec.train import box_losses, cost, evaluate_rec, make_step, predict_boxes, sigma_descent, train_rec

__all__ = [
    "CA2M",
    "BoxHead",
    "RECModel",
    "TextEncoder",
    "VisualEncoder",
    "SelfPacedLoss",
    "difficulty",
    "self_paced_loss",
    "box_losses",
    "cost",
    "evaluate_rec",
    "make_step",
    "predict_boxes",
    "sigma_descent",
    "train_rec",
]
