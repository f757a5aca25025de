"""Recursive recurrent nets with attention modelling for OCR (Lee & Osindero 2016), Chapter 9.

* :mod:`~attnlib.r2am.encoder`: recursive (weight-shared), untied, plain and recurrent convolutional encoders that
  turn a word image into a feature sequence, with receptive-field and parameter-count helpers;
* :mod:`~attnlib.r2am.decoder`: the character GRU decoder over that sequence, built on the library's one
  :class:`~attnlib.sat.attention.AdditiveAttention`;
* :mod:`~attnlib.r2am.model`: :class:`R2AM`, the vocabulary, training, greedy/beam recognition (through
  :mod:`attnlib.sat.decode`), the auxiliary CTC loss, word accuracy, character error rate and attention
  monotonicity.

Data: :mod:`attnlib.data.words`.
"""

from attnlib.r2am.decoder import CharDecoder
from attnlib.r2am.encoder import (
    ENCODERS,
    RecurrentConvBlock,
    RecursiveConvBlock,
    UntiedConvStack,
    WordEncoder,
    block_parameters,
    receptive_field,
)
from attnlib.r2am.model import (
    END,
    PAD,
    R2AM,
    START,
    VOCAB,
    attention_monotonicity,
    character_error_rate,
    ctc_loss,
    decode_tokens,
    encode_words,
    evaluate_ocr,
    recognise,
    train_ocr,
    word_accuracy,
)

__all__ = [
    "ENCODERS",
    "RecurrentConvBlock",
    "RecursiveConvBlock",
    "UntiedConvStack",
    "WordEncoder",
    "block_parameters",
    "receptive_field",
    "CharDecoder",
    "END",
    "PAD",
    "START",
    "VOCAB",
    "R2AM",
    "attention_monotonicity",
    "character_error_rate",
    "ctc_loss",
    "decode_tokens",
    "encode_words",
    "evaluate_ocr",
    "recognise",
    "train_ocr",
    "word_accuracy",
]
