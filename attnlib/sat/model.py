"""Show, Attend and Tell assembled: encoder + attention decoder, its training step, generation, evaluation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from attnlib import checks
from attnlib.data.captions import DIGIT_WORDS
from attnlib.reinforce import MovingAverageBaseline
from attnlib.sat.decode import beam_search, greedy_decode
from attnlib.sat.decoder import MODES, DecoderOutput, SATDecoder
from attnlib.sat.encoder import SmallCNNEncoder
from attnlib.sat.losses import caption_nll, doubly_stochastic_penalty, hard_attention_loss
from attnlib.sat.metrics import attention_localisation, bleu, exact_match

__all__ = ["ShowAttendTell", "encode_images", "make_train_step", "generate", "evaluate_captions"]


class ShowAttendTell(nn.Module):
    """A captioner with soft or hard attention; both variants have identical parameters.

    Parameters
    ----------
    vocab_size
        Size of the vocabulary, special tokens included.
    attention
        ``"soft"`` or ``"hard"``: how it trains and, by default, how it decodes (``hard`` decodes with
        the most likely location, ``argmax``).
    encoder
        Any module mapping ``images (B, C, H, W)`` to ``(features (B, L, D), (h, w))`` with an ``out_dim``
        attribute; default :class:`~attnlib.sat.encoder.SmallCNNEncoder`.
    **decoder_kwargs
        Passed to :class:`~attnlib.sat.decoder.SATDecoder`.
    """

    def __init__(
        self, vocab_size: int, attention: str = "soft", encoder: nn.Module | None = None, **decoder_kwargs
    ) -> None:
        super().__init__()
        checks.one_of(attention, ("soft", "hard"), "attention")
        if encoder is not None and (not isinstance(encoder, nn.Module) or not hasattr(encoder, "out_dim")):
            raise ValueError(f"encoder must be an nn.Module with an out_dim attribute, got {type(encoder).__name__}")
        self.attention = attention
        self.encoder = encoder if encoder is not None else SmallCNNEncoder()
        self.decoder = SATDecoder(vocab_size, self.encoder.out_dim, **decoder_kwargs)
        self.baseline = MovingAverageBaseline(momentum=0.9)
        # b_t for rewards-to-go (Eq. (sat-reward-to-go)): one average per word position, captions up to 64 words
        self.step_baseline = MovingAverageBaseline(momentum=0.9, steps=64)

    @property
    def eval_mode(self) -> str:
        return "soft" if self.attention == "soft" else "argmax"

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """``images (B, C, H, W)`` -> annotations ``(B, L, D)``; annotations computed beforehand (rank 3,
        see :func:`encode_images`) pass through unchanged."""
        if not isinstance(inputs, torch.Tensor) or inputs.ndim not in (3, 4):
            got = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
            raise ValueError(f"inputs must be images (B, C, H, W) or annotations (B, L, D), got {got}")
        if inputs.ndim == 3:
            if inputs.shape[-1] != self.decoder.feature_dim:
                raise ValueError(f"annotations must be (B, L, {self.decoder.feature_dim}), got {tuple(inputs.shape)}")
            return inputs
        return self.encoder(inputs)[0]

    def forward(
        self,
        inputs: torch.Tensor,
        tokens: torch.Tensor,
        mode: str | None = None,
        generator: torch.Generator | None = None,
        expected_prob: float = 0.5,
    ) -> DecoderOutput:
        """Teacher-forced pass: ``inputs`` (images ``(B, C, H, W)`` or annotations ``(B, L, D)``) and
        ``tokens (B, T)`` -> :class:`DecoderOutput`."""
        features = self.encode(inputs)
        return self.decoder(features, tokens, mode or self.attention, generator=generator, expected_prob=expected_prob)


@torch.no_grad()
def encode_images(encoder: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Run a (frozen) encoder over ``images (N, C, H, W)`` once: annotations ``(N, L, D)`` on the CPU.

    Xu et al. keep their pretrained encoder fixed; then its annotations can be computed once and the
    captioner trained on them, which makes every epoch far cheaper.
    """
    if not isinstance(encoder, nn.Module):
        raise ValueError(f"encoder must be an nn.Module, got {type(encoder).__name__}")
    checks.tensor(images, "images", ndim=4, dtype="float")
    if images.shape[0] < 1:
        raise ValueError(f"images must hold at least one image, got {tuple(images.shape)}")
    checks.finite(images, "images")
    checks.positive_int(batch_size, "batch_size")
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    out = torch.cat(
        [encoder(images[i : i + batch_size].to(device))[0].cpu() for i in range(0, len(images), batch_size)]
    )
    encoder.train(was_training)
    return out


def make_train_step(
    attention: str = "soft",
    doubly_stochastic: float = 1.0,
    entropy_weight: float = 0.002,
    reinforce_weight: float = 1.0,
    use_baseline: bool = True,
    expected_prob: float | Callable[[int], float] = 0.5,
    generator: torch.Generator | None = None,
    pad: int = 0,
    reward_to_go: bool = False,
) -> Callable[[ShowAttendTell, tuple[torch.Tensor, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]:
    """A ``step(model, (inputs, tokens))`` for :func:`attnlib.train.fit`; ``inputs`` are images or annotations.

    ``tokens (B, T + 1)`` hold ``<start> caption <end> <pad>...``; the model reads ``tokens[:, :-1]`` and
    predicts ``tokens[:, 1:]``. Soft: Eq. (sat-soft-loss). Hard: :func:`hard_attention_loss` with the
    model's moving-average baseline (or none), ``entropy_weight`` (``lambda_e``), ``reinforce_weight``
    (``lambda_r``) and ``expected_prob``; with ``reward_to_go`` each location is scored by the words from
    its step on (Eq. (sat-reward-to-go)) against the model's per-step baseline ``step_baseline``.
    ``expected_prob`` may be a schedule: a function of the number of steps taken so far (0, 1, ...), for
    example one that starts at 1 (soft attention) and falls to the authors' 0.5.
    """
    checks.one_of(attention, ("soft", "hard"), "attention")
    checks.flag(use_baseline, "use_baseline")
    checks.flag(reward_to_go, "reward_to_go")
    checks.non_negative_float(doubly_stochastic, "doubly_stochastic")
    checks.non_negative_float(entropy_weight, "entropy_weight")
    checks.non_negative_float(reinforce_weight, "reinforce_weight")
    if not callable(expected_prob):
        checks.probability(expected_prob, "expected_prob")
    checks.non_negative_int(pad, "pad")

    calls = 0

    def step(model: ShowAttendTell, batch: tuple[torch.Tensor, torch.Tensor]):
        nonlocal calls
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("batch must be a pair (inputs, tokens)")
        images, tokens = batch
        checks.tensor(tokens, "tokens", ndim=2, dtype="int")
        if tokens.shape[1] < 2:
            raise ValueError(f"tokens must be (B, T + 1) with T >= 1 (<start> ... <end>), got {tuple(tokens.shape)}")
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        prob = expected_prob(calls) if callable(expected_prob) else expected_prob
        if callable(expected_prob):
            checks.probability(prob, f"expected_prob({calls})")
        calls += 1
        out = model(images, inputs, mode=attention, generator=generator, expected_prob=prob)
        steps = targets != pad
        penalty = doubly_stochastic_penalty(out.alphas, steps, doubly_stochastic)
        if attention == "soft":
            nll = caption_nll(out.logits, targets, pad).mean()
            loss, logs = nll + penalty, {"nll": nll.item()}
        else:
            loss, logs = hard_attention_loss(
                out.logits,
                targets,
                out.log_probs,
                out.entropies,
                out.sampled,
                baseline=(model.step_baseline if reward_to_go else model.baseline) if use_baseline else None,
                entropy_weight=entropy_weight,
                reinforce_weight=reinforce_weight,
                pad=pad,
                reward_to_go=reward_to_go,
            )
            loss = loss + penalty
        correct = ((out.logits.argmax(-1) == targets) | ~steps).all(1).float().mean().item()
        logs.update(penalty=penalty.item(), loss=loss.item(), train_exact=correct)
        return loss, logs

    return step


@torch.no_grad()
def generate(
    model: ShowAttendTell,
    images: torch.Tensor,
    start: int = 1,
    end: int = 2,
    pad: int = 0,
    max_len: int = 12,
    beam_size: int = 1,
    mode: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Caption ``images (B, C, H, W)`` (or annotations ``(B, L, D)``): greedy (``beam_size=1``) or beam search.

    Returns ``tokens (B, T)`` (``end`` included), ``alphas (B, T, L)`` (the attention behind each word)
    and the grid ``(h, w)`` (``None`` when given annotations). ``mode`` defaults to the model's (``soft`` or ``argmax``).
    """
    if not isinstance(model, ShowAttendTell):
        raise ValueError(f"model must be a ShowAttendTell, got {type(model).__name__}")
    mode = mode or model.eval_mode
    checks.positive_int(beam_size, "beam_size")
    checks.positive_int(max_len, "max_len")
    if mode not in MODES or mode == "hard" and beam_size > 1:
        raise ValueError(f"mode must be one of {MODES} (not 'hard' with beam search), got {mode!r}")
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4) or images.shape[0] < 1:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a non-empty batch (B, C, H, W) or annotations (B, L, D), got {got}")
    checks.tensor(images, "images", dtype="float")
    checks.finite(images, "images")  # once per call, not per decoding step
    vocab_size = model.decoder.vocab_size
    for name, value in (("start", start), ("end", end), ("pad", pad)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < vocab_size:
            raise ValueError(f"{name} must be a token id in [0, {vocab_size}), got {value!r}")
    was_training = model.training
    model.eval()
    if images.ndim == 4:
        features, grid = model.encoder(images)
    else:  # annotations computed beforehand: the grid is not known here
        features, grid = model.encode(images), None
    state = model.decoder.init_state(features)
    step = model.decoder.step_fn(mode)
    if beam_size == 1:
        tokens, alphas = greedy_decode(step, state, start, end, pad, max_len)
    else:
        tokens, _, alphas = beam_search(step, state, start, end, pad, max_len, beam_size)
    model.train(was_training)
    return tokens, alphas, grid


@torch.no_grad()
def evaluate_captions(
    model: ShowAttendTell, data, batch_size: int = 256, beam_size: int = 1, mode: str | None = None, max_len: int = 12
) -> dict:
    """Exact match, BLEU-4 and attention localisation of ``model`` on a
    :class:`~attnlib.data.captions.DigitCaptions` set.

    Returns a dict with the three numbers (``exact_match``, ``bleu4``, ``localisation``) and, for plots,
    ``predictions`` (strings), ``tokens (N, T)``, ``alphas (N, T, L)`` and ``grid``.
    """
    if not isinstance(model, ShowAttendTell):
        raise ValueError(f"model must be a ShowAttendTell, got {type(model).__name__}")
    if not all(hasattr(data, a) for a in ("vocab", "images", "boxes", "n_objects", "captions")):
        raise ValueError(f"data must be a DigitCaptions set, got {type(data).__name__}")
    if len(data) < 1:
        raise ValueError("data must hold at least one scene, got 0")
    checks.positive_int(batch_size, "batch_size")
    device = next(model.parameters()).device
    vocab = data.vocab
    chunks = []
    for i in range(0, len(data), batch_size):
        images = data.images[i : i + batch_size].to(device)
        chunks.append(generate(model, images, vocab.start, vocab.end, vocab.pad, max_len, beam_size, mode))
    width = max(t.shape[1] for t, _, _ in chunks)
    tokens = torch.cat([nn.functional.pad(t, (0, width - t.shape[1]), value=vocab.pad) for t, _, _ in chunks])
    alphas = torch.cat([nn.functional.pad(a, (0, 0, 0, width - a.shape[1])) for _, a, _ in chunks])
    grid = chunks[0][2]
    predictions = vocab.decode_batch(tokens)
    object_ids = [vocab.stoi[w] for w in vocab.itos if w in DIGIT_WORDS]
    share, _ = attention_localisation(
        alphas.cpu(), tokens.cpu(), data.boxes, data.n_objects, object_ids, grid, tuple(data.images.shape[-2:])
    )
    return {
        "exact_match": exact_match(predictions, data.captions),
        "bleu4": bleu(predictions, data.captions, 4),
        "localisation": share,
        "predictions": predictions,
        "tokens": tokens.cpu(),
        "alphas": alphas.cpu(),
        "grid": grid,
    }
