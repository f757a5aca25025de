"""Hard attention without REINFORCE: HAN and AdaHAN (Malinowski et al., 2018), chapter 6.

A cell of the fused image-question map is kept or dropped by the L2 norm of its
feature, its presence. The selection itself has no gradient, but the kept
features do, and the loss can raise their norms: the network bootstraps its own
attention. The pieces, one idea per file:

* :mod:`~attnlib.adahan.attention`: presence, HAN's top-k and AdaHAN's adaptive masks, gathering, sum pooling;
* :mod:`~attnlib.adahan.pairwise`: the non-local pairwise module and its FLOPs;
* :mod:`~attnlib.adahan.model`: the image encoder, :class:`VQAModel` and the question-only baseline;
* :mod:`~attnlib.adahan.training`: encoder pretraining, cached features, the answer step, predictions.
"""

from attnlib.adahan.attention import (
    adaptive_hard_attention,
    adaptive_mask,
    gather_kept,
    masked_sum_pool,
    presence,
    topk_hard_attention,
)
from attnlib.adahan.model import AGGREGATORS, ATTENTIONS, ImageEncoder, QuestionOnlyModel, VQAModel
from attnlib.adahan.pairwise import PairwiseModule, count_flops, pairwise_cost
from attnlib.adahan.training import answer_step, encode_images, predict_answers, pretrain_encoder

__all__ = [
    "presence",
    "topk_hard_attention",
    "adaptive_hard_attention",
    "adaptive_mask",
    "gather_kept",
    "masked_sum_pool",
    "PairwiseModule",
    "VQAModel",
    "QuestionOnlyModel",
    "count_flops",
    "pairwise_cost",
    "answer_step",
    "predict_answers",
    "ATTENTIONS",
    "ImageEncoder",
    "pretrain_encoder",
    "encode_images",
    "AGGREGATORS",
]
