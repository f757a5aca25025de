"""Checkers for the coding exercises of chapter 9 (attention OCR with recursive recurrent nets).

* :func:`check_recursive_block`: one convolution applied ``T`` times with shared weights and a batch
  normalisation per step, Eq. (r2am-recursive), against :class:`attnlib.r2am.encoder.RecursiveConvBlock` given
  the same weights;
* :func:`check_receptive_field`: the receptive field of a chain of ``(kernel, stride)`` layers, Eq. (r2am-rf),
  against :func:`attnlib.r2am.encoder.receptive_field`;
* :func:`check_monotonicity`: the share of decoded characters whose attention peak lies strictly right of the
  previous character's, against :func:`attnlib.r2am.model.attention_monotonicity`.

Each checker runs the student's function on small seeded cases and prints, for a failing case, what differs and
a hint, never the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from attnlib.exercises.core import Case, Report, check_cases, require_function
from attnlib.r2am.encoder import RecursiveConvBlock, receptive_field
from attnlib.r2am.model import attention_monotonicity

__all__ = ["check_recursive_block", "check_receptive_field", "check_monotonicity"]


def _block_case(description: str, batch: int, channels: int, height: int, width: int, depth: int, kernel: int,
                seed: int, hint: str) -> Case:  # fmt: skip
    """A block with random weights and random batch-norm statistics (evaluation mode), its modules and input."""
    with torch.random.fork_rng(devices=[]):  # nn.Conv2d draws from the global generator: leave the caller's alone
        torch.manual_seed(seed)
        block = RecursiveConvBlock(channels, depth, kernel).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in block.norms:
            norm.weight.copy_(0.5 + torch.rand(channels, generator=g))
            norm.bias.copy_(0.5 * torch.randn(channels, generator=g))
            norm.running_mean.copy_(0.3 * torch.randn(channels, generator=g))
            norm.running_var.copy_(0.5 + torch.rand(channels, generator=g))
        x = torch.randn(batch, channels, height, width, generator=g)
        expected = block(x)
    return Case(description, (x, block.conv, list(block.norms)), expected=expected, hint=hint)


def _block_cases() -> list[Case]:
    return [
        _block_case(
            "T = 1 (a plain convolution step), 1 image of 4 channels, 6 x 8",
            1,
            4,
            6,
            8,
            depth=1,
            kernel=3,
            seed=0,
            hint="one step is relu(norm(conv(x))): the normalisation comes before the ReLU",
        ),  # fmt: skip
        _block_case(
            "T = 3, 2 images of 4 channels, 5 x 12",
            2,
            4,
            5,
            12,
            depth=3,
            kernel=3,
            seed=1,
            hint="apply the same conv T = len(norms) times, each time to the previous step's output, with "
            "norms[t] at step t (not norms[0] every time)",
        ),  # fmt: skip
        _block_case(
            "T = 4 with a 5 x 5 kernel, 3 images of 2 channels, 7 x 7",
            3,
            2,
            7,
            7,
            depth=4,
            kernel=5,
            seed=2,
            hint="the conv module pads by kernel // 2 itself: call it, do not pad again or change the shape",
        ),  # fmt: skip
    ]


def check_recursive_block(
    fn: Callable[[torch.Tensor, nn.Conv2d, Sequence[nn.BatchNorm2d]], torch.Tensor], *, verbose: bool = True
) -> Report:
    """Check a recursive convolution block, Eq. (r2am-recursive) of chapter 9: ``fn(x, conv, norms) -> x_T``.

    ``x_t = relu(BN_t(W * x_{t-1} + b))`` for ``t = 1, ..., T`` with ``T = len(norms)``: ``conv`` (``W`` and
    ``b``) is shared by every step, ``norms[t - 1]`` belongs to step ``t``. The modules come from a
    :class:`~attnlib.r2am.encoder.RecursiveConvBlock` with random weights and normalisation statistics, in
    evaluation mode; the expected output is that block's.

    Parameters
    ----------
    fn
        The student's function: ``x`` is ``(B, C, h, w)``, ``conv`` an ``nn.Conv2d(C, C, k, padding=k // 2)``,
        ``norms`` a list of ``T`` ``nn.BatchNorm2d(C)``; it returns ``(B, C, h, w)``.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case agrees.
    """
    require_function(fn)

    def run(x: torch.Tensor, conv: nn.Conv2d, norms: list[nn.BatchNorm2d]) -> torch.Tensor:
        with torch.no_grad():
            return fn(x, conv, norms)

    return check_cases(
        run, _block_cases(), exercise="a recursive convolution block (Eq. r2am-recursive)", verbose=verbose
    )


def _field_cases() -> list[Case]:
    def case(description: str, layers: list[tuple[int, int]], hint: str) -> Case:
        return Case(description, (layers,), expected=receptive_field(layers), hint=hint)

    stem = [(3, 2), (3, 2)]
    return [
        case("no layer at all", [], "with no layer a unit sees one pixel: start from r = 1, j = 1"),
        case("one 3-wide convolution, stride 1", [(3, 1)], "a k-wide kernel at jump 1 sees k pixels"),
        case(
            "three 3-wide convolutions, stride 1",
            [(3, 1)] * 3,
            "every layer adds (k - 1) times the jump of the layer *before* it",
        ),
        case(
            "two 3-wide convolutions with stride 2 (a stem)",
            stem,
            "the jump multiplies by the stride *after* the layer's (k - 1) j term is added",
        ),
        case(
            "the stem, then four applications of a 3-wide convolution",
            [*stem, (1, 1), *[(3, 1)] * 4],
            "a 1-wide layer adds nothing; the block's convolutions each add (3 - 1) times the stem's jump",
        ),
        case(
            "mixed kernels and strides",
            [(7, 2), (3, 2), (5, 1), (2, 2), (3, 3), (1, 1)],
            "r_l = r_(l-1) + (k_l - 1) j_(l-1) and j_l = j_(l-1) s_l, layer by layer in order",
        ),
    ]


def check_receptive_field(fn: Callable[[list[tuple[int, int]]], int], *, verbose: bool = True) -> Report:
    """Check the receptive field of a chain of layers, Eq. (r2am-rf) of chapter 9: ``fn(layers) -> r``.

    Parameters
    ----------
    fn
        The student's function: ``layers`` is a list of ``(kernel, stride)`` pairs from the input up; it returns
        the number of input pixels (along one axis) that one unit of the last layer sees, an int.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case agrees (expected values from
        :func:`attnlib.r2am.encoder.receptive_field`).
    """
    return check_cases(fn, _field_cases(), exercise="the receptive field of a stack (Eq. r2am-rf)", verbose=verbose)


def _peaks_to_alpha(peaks: Sequence[int], width: int) -> torch.Tensor:
    """``(len(peaks), width)`` rows of attention, each a softmax with its maximum at the given column."""
    logits = torch.zeros(len(peaks), width)
    for t, p in enumerate(peaks):
        logits[t, p] = 3.0
        if p + 1 < width:
            logits[t, p + 1] = 1.5  # a shoulder, so the row is not one-hot
    return logits.softmax(-1)


def _monotonicity_cases() -> list[Case]:
    def case(description: str, alphas: list[torch.Tensor], hint: str) -> Case:
        return Case(description, (alphas,), expected=attention_monotonicity(alphas), hint=hint)

    g = torch.Generator().manual_seed(9)
    random_words = [
        (torch.randn(n + 1, 12, generator=g) * 2).softmax(-1) for n in torch.randint(1, 9, (20,), generator=g).tolist()
    ]
    return [
        case(
            "one 4-letter word whose peaks step right, <end> last",
            [_peaks_to_alpha([1, 3, 5, 7, 9], 12)],
            "return (share, count): the share a float in [0, 1], count an int, the number of characters after the "
            "first (the <end> row is not a character)",
        ),
        case(
            "the <end> row looks back to column 0",
            [_peaks_to_alpha([2, 4, 6, 0], 10)],
            "the last row of each word is the <end> token, not a character: leave it out",
        ),
        case(
            "a peak that stays put and one that moves back",
            [_peaks_to_alpha([2, 2, 5, 3, 6, 8], 10)],
            "only a peak *strictly* right of the previous one counts as moving right; staying in the same column "
            "does not",
        ),
        case(
            "three words of different lengths and widths, one of a single letter",
            [_peaks_to_alpha([0, 3, 6], 8), _peaks_to_alpha([4, 9], 12), _peaks_to_alpha([5, 1, 2, 6, 7], 8)],
            "compare characters within a word only, never the last of one word with the first of the next; a word "
            "of n letters gives n - 1 comparisons (none for one letter)",
        ),
        case(
            "20 words of random attention",
            random_words,
            "the peak of a row is its argmax over the columns",
        ),
    ]


def check_monotonicity(fn: Callable[[list[torch.Tensor]], tuple[float, int]], *, verbose: bool = True) -> Report:
    """Check a measure of monotonic attention, as experiment (c) of chapter 9 uses it: ``fn(alphas) -> (share,
    count)``.

    For every decoded word the attention ``alphas[i]`` is ``(n + 1, W')``: one row per character, then one for
    ``<end>``. Over all words, ``count`` is the number of characters after the first (``n - 1`` per word) and
    ``share`` the fraction of them whose attention peak (argmax over the ``W'`` columns, Eq. (r2am-align)) lies
    strictly right of the previous character's. Expected values:
    :func:`attnlib.r2am.model.attention_monotonicity`.

    Parameters
    ----------
    fn
        The student's function: ``alphas`` a list of ``(n + 1, W')`` tensors (``n`` and ``W'`` may differ per
        word); it returns ``(share, count)``.
    verbose
        Print the report.

    Returns
    -------
    Report
        ``report.passed`` is True when every case agrees.
    """
    return check_cases(
        fn, _monotonicity_cases(), exercise="monotonic attention (experiment (c))", atol=1e-9, rtol=0.0,
        verbose=verbose,
    )  # fmt: skip
