"""Chapter 4: DRAW (Gregor et al., 2015): differentiable read and write attention.

An ``N x N`` grid of Gaussian filters is placed on an ``A x B`` image (``A`` columns, ``B`` rows)
by five numbers that one linear layer reads off a recurrent state (Eq. (draw-params)):
the grid centre ``(g_X, g_Y)`` (Eq. (draw-centre)), the stride ``delta`` (Eq. (draw-stride)),
the filters' variance ``sigma^2`` and an intensity ``gamma``. Filter ``i`` of the ``X`` grid is
centred at ``mu_X^i = g_X + (i - N/2 - 1/2) delta`` (Eq. (draw-grid)) and is a Gaussian over the
columns ``a = 1 .. A``, normalised to sum to one (Eq. (draw-filters)). Reading is
``gamma F_Y x F_X^T`` (Eq. (draw-read)); writing is ``(1 / gamma) F_Y^T w F_X`` (Eq. (draw-write)).
Every step is a smooth function of the five numbers, so gradients reach the layer that
predicts them: attention trained by backpropagation, not REINFORCE (Chapter 2).

:class:`~attnlib.draw.vae.DRAW` is the sequential variational auto-encoder (Eqs. (draw-enc) to (draw-canvas)), with
attention (read ``2 x 2``, write ``5 x 5`` in the paper) or without (read the whole image and the
whole error image, write the whole canvas) on the same code (``attention=False``). Its loss
:func:`~attnlib.draw.vae.draw_loss` is the negative variational bound in nats (Eq. (draw-bound)): the Bernoulli
reconstruction term plus the summed KL terms :func:`~attnlib.draw.vae.kl_standard_normal` (Eq. (draw-kl)).
:class:`~attnlib.draw.classifier.DifferentiableRAM` keeps the read attention alone, feeds the glimpses to an LSTM and
classifies from its last state (the paper's "differentiable RAM").

Coordinates: columns and rows are numbered from 1, as in the paper, so ``g_X = (A + 1) / 2`` is the
centre of the image; a pixel's column ``a`` in this module is column ``a - 1`` of the tensor.

The pieces, one idea per file: :mod:`~attnlib.draw.filters` (window, filterbank, read, write),
:mod:`~attnlib.draw.vae` (the DRAW model, its bound and estimators), :mod:`~attnlib.draw.classifier`
(the differentiable RAM).
"""

from attnlib.draw.classifier import DifferentiableRAM
from attnlib.draw.filters import Window, attention_window, filterbank, read, window_layer, write
from attnlib.draw.vae import (
    DRAW,
    DRAWOutput,
    binarize,
    decoder_gradient_estimates,
    draw_loss,
    kl_standard_normal,
    log_weights,
)

__all__ = [
    "DRAW",
    "DRAWOutput",
    "DifferentiableRAM",
    "Window",
    "attention_window",
    "binarize",
    "decoder_gradient_estimates",
    "draw_loss",
    "filterbank",
    "kl_standard_normal",
    "log_weights",
    "read",
    "window_layer",
    "write",
]
