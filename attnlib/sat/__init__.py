"""Show, Attend and Tell (Xu et al. 2015): soft and stochastic hard attention for captioning (Chapter 5).

The pieces, one idea per file:

* :mod:`~attnlib.sat.attention`: :class:`AdditiveAttention`, reusable with a mask (attention OCR uses it);
* :mod:`~attnlib.sat.encoder`: images -> ``L x D`` annotation vectors;
* :mod:`~attnlib.sat.pretrain`: pretraining the encoder to classify digits and locate them within a cell;
* :mod:`~attnlib.sat.decoder`: the LSTM decoder, soft / hard / argmax attention, one step at a time;
* :mod:`~attnlib.sat.decode`: greedy and beam search over any ``step(tokens, state)``;
* :mod:`~attnlib.sat.losses`: caption NLL, the doubly stochastic penalty, the hard-attention estimator;
* :mod:`~attnlib.sat.metrics`: exact match, BLEU (torchmetrics), attention localisation;
* :mod:`~attnlib.sat.model`: :class:`ShowAttendTell`, its training step, generation, evaluation.
"""

from attnlib.sat.attention import AdditiveAttention
from attnlib.sat.decode import beam_search, greedy_decode
from attnlib.sat.decoder import MODES, DecoderOutput, SATDecoder, StepOutput
from attnlib.sat.encoder import SmallCNNEncoder, TorchvisionEncoder, coordinate_grid
from attnlib.sat.losses import caption_nll, doubly_stochastic_penalty, hard_attention_loss
from attnlib.sat.metrics import attention_localisation, attention_peaks, bleu, exact_match
from attnlib.sat.model import ShowAttendTell, encode_images, evaluate_captions, generate, make_train_step
from attnlib.sat.pretrain import (
    PretrainHead,
    cell_offsets,
    make_pretrain_step,
    offset_loss,
    shift_in_frame,
)

__all__ = [
    "AdditiveAttention",
    "SmallCNNEncoder",
    "PretrainHead",
    "shift_in_frame",
    "cell_offsets",
    "offset_loss",
    "make_pretrain_step",
    "TorchvisionEncoder",
    "coordinate_grid",
    "SATDecoder",
    "StepOutput",
    "DecoderOutput",
    "MODES",
    "greedy_decode",
    "beam_search",
    "caption_nll",
    "doubly_stochastic_penalty",
    "hard_attention_loss",
    "exact_match",
    "bleu",
    "attention_peaks",
    "attention_localisation",
    "ShowAttendTell",
    "encode_images",
    "make_train_step",
    "generate",
    "evaluate_captions",
]
