"""Valid examples for ``benchmarks/api_refusal.py``: one valid call of every public callable of attnlib.

``EXAMPLES[qualified name](tmp_folder)`` returns the keyword arguments of a valid, quick call: the required
arguments (a model, a data set, a file written into ``tmp_folder``) and any optional one a valid call
needs; ``"*"`` holds the values of ``*args``. A new public function whose required arguments cannot be
guessed from their annotation (an int or a float) needs an entry here to be measured.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

# --------------------------------------------------------------------------------------------------
# Valid examples for callables whose required arguments cannot be guessed from the annotation.
# Each builds the required arguments (and any optional one a valid call needs) in a temporary folder.
# --------------------------------------------------------------------------------------------------


def _scenes(n: int = 2):
    from attnlib.data.shapes import sample_scenes

    return sample_scenes(n, generator=torch.Generator().manual_seed(0))


def _vqa():
    from attnlib.data.vqa import make_vqa_dataset

    return make_vqa_dataset(2, per_scene=2, image_size=32)


def _loader():
    x, y = torch.randn(8, 2), torch.arange(8) % 2
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)


def _sat_state():
    from attnlib.sat import SATDecoder

    decoder = SATDecoder(7, 4, embed_dim=4, hidden_dim=4, attention_dim=4).eval()
    return decoder.step_fn("soft"), decoder.init_state(torch.rand(2, 3, 4))


def _karpathy(tmp: Path) -> dict:
    import json

    from PIL import Image

    (tmp / "img").mkdir(exist_ok=True)
    Image.new("RGB", (8, 8)).save(tmp / "img" / "a.jpg")
    rec = {"filename": "a.jpg", "split": "train", "sentences": [{"tokens": ["a", "dog"], "raw": "a dog"}]}
    (tmp / "k.json").write_text(json.dumps({"images": [rec]}))
    return {"json_path": tmp / "k.json", "image_root": tmp / "img", "min_count": 1}


def _clevr(tmp: Path) -> dict:
    import json

    q = {"question": "What color is the cube?", "answer": "red", "image_index": 0}
    (tmp / "q.json").write_text(json.dumps({"questions": [q]}))
    return {"path": tmp / "q.json"}


def _scene_text(tmp: Path) -> dict:
    from PIL import Image

    Image.new("L", (40, 16), 255).save(tmp / "w.png")
    (tmp / "labels.txt").write_text("w.png cat\n")
    return {"label_file": tmp / "labels.txt"}


def _ram_output():
    from attnlib.ram import RecurrentAttentionModel

    model = RecurrentAttentionModel(n_glimpses=2, glimpse_hidden=8, location_hidden=8, hidden=8).train()
    return model(torch.rand(2, 1, 28, 28), generator=torch.Generator().manual_seed(0))


def _r2am():
    from attnlib.r2am import R2AM

    return R2AM(hidden_dim=8, embed_dim=4, attention_dim=4, stem_channels=4, channels=4, depth=1, feature_dim=8)


def _sat_attention(features, query, W_a, W_h, b, w, mask=None):
    """Additive attention with given weights, through the library's module (the checker's signature)."""
    from attnlib.sat import AdditiveAttention

    module = AdditiveAttention(W_a.shape[1], W_h.shape[1], W_a.shape[0])
    with torch.no_grad():
        module.key.weight.copy_(W_a)
        module.key.bias.copy_(b)
        module.query.weight.copy_(W_h)
        module.score.weight.copy_(w[None])
        return module(features, query, mask)


def _sat_reinforce(log_probs, used, reward, baseline, momentum=0.9):
    """The REINFORCE term of hard attention through the library (the checker's signature)."""
    from attnlib.reinforce import score_function_surrogate

    surrogate = score_function_surrogate(log_probs * used.to(log_probs.dtype), reward.detach(), baseline)
    return surrogate, momentum * baseline + (1 - momentum) * reward.detach().mean()


def _sat_model():
    from attnlib.data.captions import DIGIT_CAPTION_VOCAB
    from attnlib.sat import ShowAttendTell

    return ShowAttendTell(len(DIGIT_CAPTION_VOCAB.itos))


def _rec_model():
    from attnlib.rec import RECModel

    return RECModel(d=16, heads=2, hidden=16, channels=(4, 4, 4), grid=4)


def _refexp_batch(n: int = 2):
    from attnlib.data.refexp import make_refexp

    data = make_refexp(n, image_size=32, seed=0)
    return data


def _box_pair(t):
    """A valid (pred, target) pair of xyxy boxes, the example of every paired box function."""
    return {"pred": torch.tensor([[0.0, 0.0, 2.0, 3.0]]), "target": torch.tensor([[1.0, 0.0, 2.0, 2.0]])}


def _double_attention_z(x, phi, theta, rho):
    """The double attention block's two steps on 1x1 convolutions, built from attnlib.a2net.attention_pool."""
    from attnlib.a2net import attention_pool

    G = attention_pool(phi(x).flatten(2), theta(x).flatten(2))
    return (G @ rho(x).flatten(2).softmax(dim=1)).view(x.shape[0], -1, *x.shape[2:])


EXAMPLES: dict[str, Callable[[Path], dict[str, Any]]] = {
    # checks: name the argument as the harness does, so the message can be matched
    "attnlib.checks.finite": lambda t: {"value": torch.ones(2), "name": "value"},
    "attnlib.checks.has_values": lambda t: {"value": torch.ones(2)},
    "attnlib.checks.device": lambda t: {"value": "cpu", "name": "value"},
    "attnlib.checks.flag": lambda t: {"value": True, "name": "value"},
    "attnlib.checks.module": lambda t: {"value": nn.Linear(1, 1), "name": "value"},
    "attnlib.checks.string": lambda t: {"value": "text", "name": "value"},
    "attnlib.checks.ids_in_range": lambda t: {"value": torch.tensor([0, 1]), "size": 3, "name": "value"},
    "attnlib.checks.non_negative_float": lambda t: {"value": 1.0, "name": "value"},
    "attnlib.checks.non_negative_int": lambda t: {"value": 1, "name": "value"},
    "attnlib.checks.one_of": lambda t: {"value": "a", "options": ("a", "b"), "name": "value"},
    "attnlib.checks.positive_float": lambda t: {"value": 1.0, "name": "value"},
    "attnlib.checks.positive_int": lambda t: {"value": 1, "name": "value"},
    "attnlib.checks.probability": lambda t: {"value": 0.5, "name": "value"},
    "attnlib.checks.tensor": lambda t: {"value": torch.ones(2, 3), "name": "value", "ndim": 2, "dtype": "float"},
    # a2net
    "attnlib.a2net.DoubleAttention": lambda t: {"in_channels": 4, "m": 2, "n": 2},
    "attnlib.a2net.NonLocal": lambda t: {"in_channels": 4, "inner": 2},
    "attnlib.a2net.SEBlock": lambda t: {"in_channels": 4, "reduction": 2},
    "attnlib.a2net.attention_pool": lambda t: {"A": torch.rand(2, 3, 5), "B": torch.rand(2, 4, 5).softmax(-1)},
    "attnlib.a2net.bilinear_pool": lambda t: {"A": torch.rand(2, 3, 5), "B": torch.rand(2, 4, 5)},
    "attnlib.a2net.make_block": lambda t: {"kind": "a2", "channels": 4, "m": 2, "n": 2, "inner": 2},
    "attnlib.a2net.receptive_field": lambda t: {"module": nn.Conv2d(1, 1, 3)},
    "attnlib.a2net.separating_distance": lambda t: {"field": 5, "pattern_size": 3},
    "attnlib.a2net_bench.a2_flops": lambda t: {"channels": 4, "m": 2, "n": 2, "positions": 9},
    "attnlib.a2net_bench.count_flops": lambda t: {"module": nn.Conv2d(1, 1, 3), "*": (torch.rand(1, 1, 5, 5),)},
    "attnlib.a2net_bench.loglog_slope": lambda t: {"xs": [1.0, 2.0, 4.0], "ys": [1.0, 4.0, 16.0]},
    "attnlib.a2net_bench.nonlocal_flops": lambda t: {"channels": 4, "inner": 2, "positions": 9},
    "attnlib.a2net_bench.saved_activation_bytes": lambda t: {"module": nn.Conv2d(1, 1, 3), "x": torch.rand(1, 1, 5, 5)},
    "attnlib.a2net_bench.time_forward": lambda t: {
        "module": nn.Identity(),
        "x": torch.rand(1, 2),
        "repeats": 1,
        "warmup": 0,
        "min_seconds": 0.001,
    },  # fmt: skip
    "attnlib.a2net_bench.compare_blocks": lambda t: {
        "side": 4,
        "channels": 4,
        "m": 2,
        "n": 2,
        "inner": 2,
        "batch": 1,
        "repeats": 1,
    },  # fmt: skip
    "attnlib.a2net_bench.matmul_gflops": lambda t: {"size": 8, "repeats": 1},
    "attnlib.a2net_bench.scaling_sweep": lambda t: {
        "sides": (4, 6),
        "channels": 4,
        "m": 2,
        "n": 2,
        "inner": 2,
        "batch": 1,
        "repeats": 1,
    },  # fmt: skip
    # adahan
    "attnlib.adahan.presence": lambda t: {"features": torch.rand(2, 5, 3)},
    "attnlib.adahan.topk_hard_attention": lambda t: {"features": torch.rand(2, 5, 3), "k": 2},
    "attnlib.adahan.adaptive_hard_attention": lambda t: {"features": torch.rand(2, 5, 3)},
    "attnlib.adahan.adaptive_mask": lambda t: {"presences": torch.rand(2, 5)},
    "attnlib.adahan.gather_kept": lambda t: {"features": torch.rand(2, 5, 3), "mask": torch.rand(2, 5) > 0.3},
    "attnlib.adahan.masked_sum_pool": lambda t: {"features": torch.rand(2, 5, 3), "mask": torch.rand(2, 5) > 0.3},
    "attnlib.adahan.PairwiseModule": lambda t: {"dim": 4},
    "attnlib.adahan.VQAModel": lambda t: {"vocab_size": 10, "n_answers": 4},
    "attnlib.adahan.QuestionOnlyModel": lambda t: {"vocab_size": 10, "n_answers": 4},
    "attnlib.adahan.count_flops": lambda t: {"fn": lambda: torch.rand(2, 2) @ torch.rand(2, 2)},
    # exercise checkers (issue 17): chapters 6 and 7, each given a correct function built from the library
    "attnlib.exercises.adahan.check_adaptive_hard_attention": lambda t: {
        "fn": __import__("attnlib.adahan", fromlist=["adaptive_hard_attention"]).adaptive_hard_attention,
        "verbose": False,
    },
    "attnlib.exercises.adahan.check_gather_kept": lambda t: {
        "fn": lambda features, mask: __import__("attnlib.adahan", fromlist=["gather_kept"]).gather_kept(features, mask)[
            :2
        ],
        "verbose": False,
    },
    "attnlib.exercises.a2net.check_attention_pool": lambda t: {
        "fn": __import__("attnlib.a2net", fromlist=["attention_pool"]).attention_pool,
        "verbose": False,
    },
    "attnlib.exercises.a2net.check_double_attention": lambda t: {"fn": _double_attention_z, "verbose": False},
    # boxes
    "attnlib.boxes.box_convert": lambda t: {
        "boxes": torch.tensor([[0.0, 0.0, 2.0, 3.0]]),
        "in_fmt": "xyxy",
        "out_fmt": "cxcywh",
    },  # fmt: skip
    "attnlib.boxes.check_boxes": lambda t: {"boxes": torch.tensor([[0.0, 0.0, 2.0, 3.0]]), "name": "boxes"},
    "attnlib.boxes.paired_iou": _box_pair,
    "attnlib.boxes.generalized_box_iou": _box_pair,
    "attnlib.boxes.generalized_box_iou_loss": _box_pair,
    "attnlib.boxes.acc_at_iou": _box_pair,
    # budget
    "attnlib.budget.announce": lambda t: {"data": "test data"},
    "attnlib.budget.choose": lambda t: {"smoke": 1, "book": 2},
    # catch, ram_agent, ram_stop (chapter 3)
    "attnlib.catch.random_policy_rate": lambda t: {
        "env": _catch(),
        "episodes": 4,
        "generator": torch.Generator().manual_seed(0),
    },
    "attnlib.ram_agent.play": lambda t: {"agent": _catch_agent(), "env": _catch(), "generator": _gen()},
    "attnlib.ram_agent.catch_rate": lambda t: {
        "agent": _catch_agent(),
        "env": _catch(),
        "episodes": 2,
        "generator": _gen(),
    },
    "attnlib.ram_agent.agent_loss": lambda t: {"episode": _episode()},
    "attnlib.ram_stop.anytime_loss": lambda t: {"output": _anytime_output(), "labels": torch.tensor([1, 2])},
    "attnlib.ram_stop.sample_stops": lambda t: {"stop_logits": torch.randn(3, 4), "generator": _gen()},
    "attnlib.ram_stop.stop_log_probs": lambda t: {"stop_logits": torch.randn(3, 4), "tau": torch.tensor([1, 2, 4])},
    "attnlib.ram_stop.stop_rewards": lambda t: {
        "correct": torch.tensor([[0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]]),
        "tau": torch.tensor([1, 2, 4]),
        "penalty": 0.1,
    },
    "attnlib.ram_stop.stop_loss": lambda t: {
        "stop_logits": torch.randn(3, 4),
        "correct": torch.tensor([[0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]]),
        "penalty": 0.1,
        "baseline": __import__("attnlib.reinforce").reinforce.MovingAverageBaseline(steps=4),
        "generator": _gen(),
    },
    # checkpoint
    "attnlib.checkpoint.save_checkpoint": lambda t: {"path": t / "m.pt", "model": nn.Linear(2, 2)},
    "attnlib.checkpoint.load_checkpoint": lambda t: {
        "path": __import__("attnlib.checkpoint").checkpoint.save_checkpoint(t / "l.pt", nn.Linear(2, 2)),
        "model": nn.Linear(2, 2),
    },
    # data
    "attnlib.data.ink_centres": lambda t: {"images": torch.rand(2, 1, 8, 8)},
    "attnlib.data.load_mnist": lambda t: {"split": "test"},
    "attnlib.data.place_in_quadrants": lambda t: {"digits": torch.rand(2, 1, 28, 28)},
    "attnlib.data.quadrant_mnist": lambda t: {"split": "test"},
    "attnlib.data.canvas.CanvasLoader": lambda t: {"split": "test", "batch_size": 4, "limit": 8},
    "attnlib.data.canvas.centered_mnist": lambda t: {"split": "test"},
    "attnlib.data.canvas.cluttered_mnist": lambda t: {"split": "test"},
    "attnlib.data.canvas.make_canvases": lambda t: {"digits": torch.rand(2, 1, 28, 28), "canvas_size": 40},
    "attnlib.data.canvas.translated_mnist": lambda t: {"split": "test"},
    "attnlib.data.captions.Vocabulary": lambda t: {"words": ["a", "b"]},
    "attnlib.data.captions.make_digit_captions": lambda t: {"n": 2, "split": "test"},
    "attnlib.data.captions.load_karpathy_captions": _karpathy,
    "attnlib.data.clevr.tokenize": lambda t: {"text": "What is it?"},
    "attnlib.data.clevr.load_clevr_questions": _clevr,
    "attnlib.data.longrange.make_longrange": lambda t: {"n": 2, "seed": 0},
    "attnlib.data.refexp.make_refexp": lambda t: {"n": 2, "image_size": 32},
    "attnlib.data.refexp.decode": lambda t: {"tokens": _refexp_batch().tokens},
    "attnlib.data.refexp.expression_difficulty": lambda t: (
        lambda d: {"scenes": d.scenes, "target": d.target, "kind": d.kind}
    )(_refexp_batch()),  # fmt: skip
    "attnlib.data.refexp.hardest": lambda t: {
        "difficulty": torch.tensor([0, 2, 1, 3]),
        "tiebreak": torch.tensor([0.1, 0.3, 0.2, 0.4]),
        "fraction": 0.5,
    },  # fmt: skip
    "attnlib.data.refexp.interpret": lambda t: {"expression": "the red circle", "scenes": _scenes(), "index": 0},
    "attnlib.data.refexp.target_boxes": lambda t: {"scenes": _scenes(), "target": torch.tensor([0, 0])},
    "attnlib.data.refexp.target_cells": lambda t: {
        "scenes": _scenes(),
        "target": torch.tensor([0, 0]),
        "image_size": 32,
        "grid": 4,
    },  # fmt: skip
    "attnlib.data.shapes.sample_scenes": lambda t: {"n": 2},
    "attnlib.data.shapes.render_scenes": lambda t: {"scenes": _scenes(), "image_size": 16},
    "attnlib.data.shapes.object_coverage": lambda t: {"scenes": _scenes(), "image_size": 16},
    "attnlib.data.shapes.cell_labels": lambda t: {"scenes": _scenes(), "image_size": 16, "grid": 4},
    "attnlib.data.shapes.check_scenes": lambda t: {"scenes": _scenes(), "name": "scenes"},
    "attnlib.data.splits.check_split": lambda t: {"split": "train", "name": "split"},
    "attnlib.data.splits.split_generator": lambda t: {"seed": 0, "split": "train"},
    "attnlib.data.splits.split_rng": lambda t: {"seed": 0, "split": "train"},
    "attnlib.data.splits.split_seed": lambda t: {"seed": 0, "split": "train"},
    "attnlib.data.vqa.generate_questions": lambda t: {"scenes": _scenes()},
    "attnlib.data.vqa.make_vqa_dataset": lambda t: {"n_scenes": 2, "image_size": 32},
    "attnlib.data.vqa.decode_questions": lambda t: {"questions": _vqa().questions},
    "attnlib.data.vqa.encode_text": lambda t: {
        "texts": [__import__("attnlib.data.vqa").data.vqa.decode_questions(_vqa().questions)[0]]
    },
    "attnlib.data.vqa.VQALoader": lambda t: {"data": _vqa(), "batch_size": 2},
    "attnlib.data.vqa.accuracy_by_type": lambda t: (lambda d: {"predictions": d.answers.clone(), "data": d})(_vqa()),
    "attnlib.data.words.load_scene_text": _scene_text,
    "attnlib.data.words.make_words": lambda t: {"n": 2, "height": 16, "width": 48},
    "attnlib.data.words.random_strings": lambda t: {"n": 2},
    "attnlib.data.words.render_words": lambda t: {"words": ["cat", "dog"], "height": 16, "width": 48},
    "attnlib.data.words.split_words": lambda t: {"words": ["ant", "bee", "cat", "dog", "eel", "fox"]},
    # draw
    "attnlib.draw.attention_window": lambda t: {"raw": torch.randn(2, 5), "height": 8, "width": 8, "n": 3},
    "attnlib.draw.filterbank": lambda t: {"window": _draw_window(), "height": 8, "width": 8, "n": 3},
    "attnlib.draw.read": lambda t: {"images": torch.rand(2, 1, 8, 8), **_draw_filters()},
    "attnlib.draw.write": lambda t: {"patch": torch.rand(2, 1, 3, 3), **_draw_filters()},
    "attnlib.draw.kl_standard_normal": lambda t: {"mu": torch.randn(2, 3), "log_sigma": torch.randn(2, 3)},
    "attnlib.draw.binarize": lambda t: {"images": torch.rand(2, 1, 4, 4)},
    "attnlib.draw.draw_loss": lambda t: _draw_batch(),
    "attnlib.draw.log_weights": lambda t: _draw_batch(),
    "attnlib.draw.decoder_gradient_estimates": lambda t: (
        lambda b: {
            "model": b["model"],
            "x": b["x"][:1],
            "mu": b["out"].mu[0],
            "log_sigma": b["out"].log_sigma[0],
            "n_repeats": 2,
            "method": "score",
        }  # fmt: skip
    )(_draw_batch(with_model=True)),
    # evidence
    "attnlib.evidence.compare": lambda t: {"a": [1.0, 2.0, 3.0], "b": [1.5, 2.5, 3.5]},
    "attnlib.evidence.summarize": lambda t: {"values": [1.0, 2.0, 3.0]},
    # foundations
    "attnlib.foundations.categorical_gradient_estimates": lambda t: {
        "logits": torch.zeros(4),
        "rewards": torch.arange(4.0),
        "n_samples": 2,
        "n_repeats": 2,
    },  # fmt: skip
    "attnlib.foundations.exact_policy_gradient": lambda t: {"logits": torch.zeros(4), "rewards": torch.arange(4.0)},
    "attnlib.foundations.gaussian_bump_gradient": lambda t: {
        "mu": torch.zeros(2),
        "sigma": 0.5,
        "center": torch.ones(2),
        "width": 1.0,
    },  # fmt: skip
    "attnlib.foundations.gaussian_bump_value": lambda t: {
        "mu": torch.zeros(2),
        "sigma": 0.5,
        "center": torch.ones(2),
        "width": 1.0,
    },  # fmt: skip
    "attnlib.foundations.gaussian_gradient_estimates": lambda t: {
        "mu": torch.zeros(2),
        "sigma": 0.5,
        "center": torch.ones(2),
        "width": 1.0,
        "n_samples": 2,
        "n_repeats": 2,
        "method": "score",
    },  # fmt: skip
    "attnlib.foundations.glance_and_look_step": lambda t: {
        "model": __import__("attnlib.foundations").foundations.GlanceAndLook("hard"),
        "batch": (torch.rand(2, 1, 56, 56), torch.tensor([1, 2])),
        "baseline": None,
    },  # fmt: skip
    "attnlib.foundations.hard_attention": lambda t: {"values": torch.rand(2, 4, 3), "scores": torch.rand(2, 4)},
    "attnlib.foundations.image_to_cells": lambda t: {"images": torch.rand(2, 1, 8, 8), "grid": 2},
    "attnlib.foundations.soft_attention": lambda t: {"values": torch.rand(2, 4, 3), "scores": torch.rand(2, 4)},
    # glimpse
    "attnlib.glimpse.GlimpseSensor": lambda t: {"size": 4},
    "attnlib.glimpse.extract_glimpses": lambda t: {
        "images": torch.rand(2, 1, 16, 16),
        "centers": torch.zeros(2, 2),
        "size": 4,
    },  # fmt: skip
    "attnlib.glimpse.glimpse_distances": lambda t: {
        "locations": torch.rand(2, 3, 2) * 2 - 1,
        "targets": torch.tensor([[4.0, 5.0], [10.0, 2.0]]),
        "image_size": (16, 16),
    },  # fmt: skip
    "attnlib.glimpse.glimpse_boxes": lambda t: {"centers": torch.zeros(2, 2), "image_size": (16, 16), "size": 4},
    # r2am
    "attnlib.r2am.RecursiveConvBlock": lambda t: {"channels": 4, "depth": 2},
    "attnlib.r2am.UntiedConvStack": lambda t: {"channels": 4, "depth": 2},
    "attnlib.r2am.block_parameters": lambda t: {"channels": 4, "depth": 2},
    "attnlib.r2am.receptive_field": lambda t: {"layers": [(3, 1), (3, 1)]},
    "attnlib.r2am.CharDecoder": lambda t: {"vocab_size": 10, "feature_dim": 8},
    "attnlib.r2am.attention_monotonicity": lambda t: {"alphas": [torch.softmax(torch.rand(3, 5), -1)]},
    "attnlib.r2am.character_error_rate": lambda t: {"predictions": ["cat"], "references": ["cab"]},
    "attnlib.r2am.word_accuracy": lambda t: {"predictions": ["cat"], "references": ["cab"]},
    "attnlib.r2am.ctc_loss": lambda t: {
        "column_logits": torch.rand(2, 6, 30),
        "tokens": __import__("attnlib.r2am").r2am.encode_words(["ab", "c"]),
    },  # fmt: skip
    "attnlib.r2am.decode_tokens": lambda t: {"tokens": __import__("attnlib.r2am").r2am.encode_words(["ab", "c"])},
    "attnlib.r2am.encode_words": lambda t: {"words": ["ab", "c"]},
    "attnlib.r2am.evaluate_ocr": lambda t: {
        "model": _r2am(),
        "images": torch.rand(2, 1, 32, 48),
        "words": ["ab", "c"],
    },  # fmt: skip
    "attnlib.r2am.recognise": lambda t: {"model": _r2am(), "images": torch.rand(2, 1, 32, 48), "max_len": 3},
    "attnlib.r2am.train_ocr": lambda t: {
        "model": _r2am(),
        "images": torch.rand(4, 1, 32, 48),
        "words": ["ab", "c", "d", "ef"],
        "epochs": 1,
        "batch_size": 2,
        "progress": False,
    },  # fmt: skip
    # ram
    "attnlib.ram.hybrid_loss": lambda t: {"output": _ram_output(), "labels": torch.tensor([1, 2])},
    "attnlib.ram.ram_predict": lambda t: {
        "model": _ram_model(),
        "batch": (torch.rand(2, 1, 28, 28), torch.tensor([1, 2])),
    },  # fmt: skip
    "attnlib.ram.ram_step": lambda t: {
        "model": _ram_model(),
        "batch": (torch.rand(2, 1, 28, 28), torch.tensor([1, 2])),
    },  # fmt: skip
    "attnlib.ram_baselines.FullyConnected": lambda t: {"in_features": 4},
    "attnlib.ram_baselines.count_flops": lambda t: {
        "model": nn.Sequential(nn.Flatten(), nn.Linear(4, 2)),
        "image_shape": (1, 2, 2),
    },  # fmt: skip
    "attnlib.ram_baselines.ram_flops": lambda t: {"model": _ram_model(), "image_shape": (1, 28, 28)},  # fmt: skip
    # rec
    "attnlib.rec.CachedVisual": lambda t: {"in_features": 8, "d": 16, "grid": 4},
    "attnlib.rec.CellHeads": lambda t: {"in_features": 8},
    "attnlib.rec.cell_targets": lambda t: {"scenes": _scenes(), "image_size": 32, "grid": 4},
    "attnlib.rec.standardise_cells": lambda t: {"train": torch.rand(4, 16, 8)},
    "attnlib.rec.difficulty": lambda t: {"loss": torch.rand(4), "sigma": torch.tensor(1.0)},
    "attnlib.rec.self_paced_loss": lambda t: {
        "l1": torch.rand(4),
        "giou": torch.rand(4),
        "sigma0": torch.tensor(1.0),
        "sigma1": torch.tensor(1.0),
    },  # fmt: skip
    "attnlib.rec.box_losses": lambda t: {
        "pred_cxcywh": torch.tensor([[0.5, 0.5, 0.2, 0.2]]),
        "target_xyxy": torch.tensor([[0.3, 0.3, 0.6, 0.7]]),
    },  # fmt: skip
    "attnlib.rec.sigma_descent": lambda t: {
        "l1": torch.rand(4),
        "giou": torch.rand(4),
        "form": "easy_first",
        "steps": 2,
    },  # fmt: skip
    # reinforce
    "attnlib.reinforce.LearnedBaseline": lambda t: {"in_features": 4},
    "attnlib.reinforce.baseline_loss": lambda t: {"baseline": torch.rand(4), "reward": torch.rand(4)},
    "attnlib.reinforce.rewards_to_go": lambda t: {"rewards": torch.rand(2, 3)},
    "attnlib.reinforce.score_function_surrogate": lambda t: {"log_prob": torch.rand(4).log(), "reward": torch.rand(4)},
    # results
    "attnlib.results.glue": lambda t: {"name": "x", "value": 1.0, "display": False},
    "attnlib.results.start": lambda t: {"chapter": "99_harness"},
    "attnlib.results.record": lambda t: {"chapter": "99_harness", "quantity": "q", "value": 1.0},
    "attnlib.results.load": lambda t: {"root": t},
    "attnlib.results.markdown_table": lambda t: {"results": {}},
    "attnlib.results.update_readme": lambda t: (lambda p: {"readme": p, "table": "| a |"})(
        (t / "README.md", (t / "README.md").write_text(f"x\n{_results().README_START}\n{_results().README_END}\n"))[0]
    ),
    # sat
    "attnlib.sat.AdditiveAttention": lambda t: {"feature_dim": 4, "query_dim": 4, "attention_dim": 4},
    "attnlib.sat.PretrainHead": lambda t: {"encoder": __import__("attnlib.sat").sat.SmallCNNEncoder()},
    "attnlib.sat.shift_in_frame": lambda t: {
        "images": torch.rand(2, 1, 16, 16),
        "shifts": torch.zeros(2, 2, dtype=torch.long),
        "pad": 2,
    },  # fmt: skip
    "attnlib.sat.cell_offsets": lambda t: {"centres": torch.rand(2, 2) * 16, "grid": (4, 4), "stride": 4},
    "attnlib.sat.offset_loss": lambda t: {"predicted": torch.rand(2, 16, 2), "target": torch.rand(2, 16, 2)},
    "attnlib.sat.coordinate_grid": lambda t: {"height": 3, "width": 4},
    "attnlib.sat.SATDecoder": lambda t: {"vocab_size": 10, "feature_dim": 8},
    "attnlib.sat.greedy_decode": lambda t: dict(zip(("step", "state"), _sat_state()), start=1, end=2, max_len=3),
    "attnlib.sat.beam_search": lambda t: dict(
        zip(("step", "state"), _sat_state()), start=1, end=2, max_len=3, beam_size=2
    ),  # fmt: skip
    "attnlib.sat.caption_nll": lambda t: {
        "logits": torch.rand(2, 3, 5),
        "targets": torch.tensor([[1, 2, 0], [3, 0, 0]]),
    },  # fmt: skip
    "attnlib.sat.doubly_stochastic_penalty": lambda t: {"alphas": torch.softmax(torch.rand(2, 3, 4), -1)},
    "attnlib.sat.exact_match": lambda t: {"predictions": ["a b"], "references": ["a b"]},
    "attnlib.sat.bleu": lambda t: {"predictions": ["a b c d"], "references": ["a b c d"]},
    "attnlib.sat.attention_peaks": lambda t: {
        "alphas": torch.softmax(torch.rand(2, 3, 16), -1),
        "grid": (4, 4),
        "image_size": (32, 32),
    },  # fmt: skip
    "attnlib.sat.ShowAttendTell": lambda t: {"vocab_size": 10},
    "attnlib.sat.encode_images": lambda t: {
        "encoder": __import__("attnlib.sat").sat.SmallCNNEncoder(),
        "images": torch.rand(2, 1, 32, 32),
    },  # fmt: skip
    "attnlib.sat.generate": lambda t: {"model": _sat_model(), "images": torch.rand(2, 1, 64, 64), "max_len": 3},
    "attnlib.sat.evaluate_captions": lambda t: {
        "model": _sat_model(),
        "max_len": 3,
        "data": __import__("attnlib.data.captions").data.captions.make_digit_captions(2, split="test"),
    },  # fmt: skip
    # exercise checkers (issue 17), Chapter 5: a correct function built from the library
    "attnlib.exercises.sat.check_doubly_stochastic_penalty": lambda t: {
        "fn": __import__("attnlib.sat").sat.doubly_stochastic_penalty,
        "verbose": False,
    },  # fmt: skip
    "attnlib.exercises.sat.check_additive_attention": lambda t: {"fn": _sat_attention, "verbose": False},
    "attnlib.exercises.sat.check_hard_attention_reinforce": lambda t: {"fn": _sat_reinforce, "verbose": False},
    # train
    "attnlib.train.accuracy": lambda t: {"logits": torch.rand(4, 3), "labels": torch.tensor([0, 1, 2, 0])},
    "attnlib.train.classification_step": lambda t: {
        "model": nn.Linear(2, 2),
        "batch": (torch.rand(4, 2), torch.tensor([0, 1, 1, 0])),
    },  # fmt: skip
    "attnlib.train.evaluate": lambda t: {"model": nn.Linear(2, 2), "loader": _loader()},
    "attnlib.train.fit": lambda t: (
        lambda m: {
            "model": m,
            "loader": _loader(),
            "epochs": 1,
            "progress": False,
            "optimizer": torch.optim.SGD(m.parameters(), lr=0.1),
        }
    )(nn.Linear(2, 2)),  # fmt: skip
    "attnlib.train.make_loader": lambda t: {"dataset": _loader().dataset, "batch_size": 4},
    "attnlib.train.seed_everything": lambda t: {"seed": 0},
    "attnlib.train.to_device": lambda t: {"batch": (torch.rand(2), torch.rand(2)), "device": "cpu"},
    # viz and widgets
    "attnlib.viz.draw_box": lambda t: {"ax": _axes(), "box": [0.0, 0.0, 2.0, 3.0]},
    "attnlib.viz.overlay_heatmap": lambda t: {"ax": _axes(), "image": torch.rand(8, 8), "heat": torch.rand(4, 4)},
    "attnlib.viz.plot_history": lambda t: {
        "histories": {"a": {"epoch": [1, 2], "loss": [1.0, 0.5]}},
        "keys": ["loss"],
    },  # fmt: skip
    "attnlib.viz.show_images": lambda t: {"images": torch.rand(2, 1, 8, 8)},
    "attnlib.viz.source_code": lambda t: {"obj": _loader},
    "attnlib.viz.show_code": lambda t: {"obj": _loader},
    "attnlib.viz.animation_html": lambda t: {"animation": _animation()},
    # the exercise checkers' shared core (issue 17)
    "attnlib.exercises.Case": lambda t: {
        "description": "a vector",
        "args": (torch.ones(2),),
        "expected": torch.ones(2),
    },
    "attnlib.exercises.Report": lambda t: {"exercise": "an exercise"},
    "attnlib.exercises.check_cases": lambda t: {
        "fn": torch.clone,
        "cases": [_case()],
        "exercise": "an exercise",
        "verbose": False,
    },
    "attnlib.exercises.compare": lambda t: {"expected": torch.ones(2), "got": torch.ones(2)},
    "attnlib.viz.to_numpy_image": lambda t: {"image": torch.rand(1, 8, 8)},
    # examples that need a model or a data set
    "attnlib.adahan.answer_step": lambda t: (lambda d: {"model": _vqa_model(), "batch": next(iter(_vqa_loader(d)))})(
        _vqa()
    ),
    "attnlib.adahan.encode_images": lambda t: {
        "encoder": _adahan().ImageEncoder(channels=4),
        "images": torch.rand(2, 3, 32, 32),
    },
    "attnlib.adahan.pairwise_cost": lambda t: {
        "module": _adahan().PairwiseModule(4),
        "cells": torch.rand(2, 5, 4),
        "mask": torch.rand(2, 5) > 0.3,
    },  # fmt: skip
    "attnlib.adahan.predict_answers": lambda t: {"model": _vqa_model(), "loader": _vqa_loader(_vqa())},
    "attnlib.adahan.pretrain_encoder": lambda t: _pretrain_encoder(),
    "attnlib.data.canvas.CurriculumLoader": lambda t: {"stages": [(_loader(), 1)], "final": _loader()},
    "attnlib.data.captions.DigitCaptions": lambda t: _fields(_captions()),
    "attnlib.data.captions.KarpathyCaptions": lambda t: _karpathy_dataset(t),
    "attnlib.data.refexp.RefExp": lambda t: _fields(_refexp_batch()),
    "attnlib.data.refexp.load_refcoco": lambda t: _refcoco(t),
    "attnlib.data.shapes.Scenes": lambda t: _fields(_scenes()),
    "attnlib.data.vqa.VQAData": lambda t: _fields(_vqa()),
    "attnlib.data.words.WordImages": lambda t: _fields(
        __import__("attnlib.data.words").data.words.make_words(2, height=16, width=48)
    ),  # fmt: skip
    "attnlib.rec.cell_loss": lambda t: {
        "cell_logits": torch.rand(2, 16),
        "cells": torch.softmax(torch.rand(2, 16), -1),
    },
    "attnlib.rec.cost": lambda t: {
        "model": _rec_model(),
        "images": torch.rand(2, 3, 32, 32),
        "tokens": _refexp_batch().tokens,
        "repeats": 1,
    },  # fmt: skip
    "attnlib.rec.encode_cells": lambda t: (
        lambda e: {"encoder": e, "heads": _rec().CellHeads(e.cell_features), "images": torch.rand(2, 3, 32, 32)}
    )(_rec_visual()),  # fmt: skip
    "attnlib.rec.evaluate_rec": lambda t: (
        lambda d: {"model": _rec_model(), "images": d.images, "tokens": d.tokens, "boxes": d.boxes}
    )(_refexp_batch()),  # fmt: skip
    "attnlib.rec.predict_boxes": lambda t: (lambda d: {"model": _rec_model(), "images": d.images, "tokens": d.tokens})(
        _refexp_batch()
    ),  # fmt: skip
    "attnlib.rec.pretrain_visual": lambda t: (
        lambda d: {"encoder": _rec_visual(), "images": d.images, "scenes": d.scenes, "epochs": 1, "batch_size": 2}
    )(_refexp_batch()),  # fmt: skip
    "attnlib.rec.train.Batches": lambda t: {
        "*": (torch.rand(4, 2), torch.rand(4, 3), torch.rand(4, 4)),
        "batch_size": 2,
    },
    "attnlib.rec.train_rec": lambda t: (
        lambda d: {"model": _rec_model(), "train": (d.images, d.tokens, d.boxes), "epochs": 1, "batch_size": 2}
    )(_refexp_batch()),  # fmt: skip
    "attnlib.sat.attention_localisation": lambda t: {
        "alphas": torch.softmax(torch.rand(2, 3, 16), -1),
        "tokens": torch.tensor([[3, 4, 2], [5, 2, 0]]),
        "boxes": torch.tensor([[[0.0, 0.0, 8.0, 8.0]], [[8.0, 8.0, 16.0, 16.0]]]),
        "n_objects": torch.tensor([1, 1]),
        "object_ids": [3, 4, 5],
        "grid": (4, 4),
        "image_size": (16, 16),
    },  # fmt: skip
    "attnlib.sat.hard_attention_loss": lambda t: {
        "logits": torch.rand(2, 3, 5),
        "targets": torch.tensor([[1, 2, 0], [3, 0, 0]]),
        "log_probs": -torch.rand(2, 3),
        "entropies": torch.rand(2, 3),
        "sampled": torch.ones(2, 3, dtype=torch.bool),
    },  # fmt: skip
    "attnlib.widgets.draw_glimpse_view": lambda t: {
        "model": _ram_model(),
        "image": torch.rand(1, 28, 28),
        "center": (0.0, 0.0),
    },  # fmt: skip
    "attnlib.widgets.glimpse_explorer": lambda t: {"model": _ram_model(), "images": torch.rand(2, 1, 28, 28)},
    # exercise checkers (issue 17): a correct fn built from the library
    "attnlib.exercises.ram_agent.check_catch_step": lambda t: {"fn": _catch_step_fn(), "verbose": False},
    "attnlib.exercises.ram_agent.check_two_head_surrogate": lambda t: {
        "fn": lambda alp, llp, rewards, baselines: _reinforce().score_function_surrogate(
            torch.stack([alp, llp], -1), _reinforce().rewards_to_go(rewards), baselines
        ),
        "verbose": False,
    },
    "attnlib.exercises.draw.check_filterbank": lambda t: {
        "fn": lambda gx, gy, delta, sigma2, height, width, n: _draw().filterbank(
            _draw().Window(gx, gy, delta, sigma2, torch.ones_like(gx)), height, width, n
        ),
        "verbose": False,
    },
    "attnlib.exercises.draw.check_kl": lambda t: {"fn": _draw().kl_standard_normal, "verbose": False},
    # exercise checkers (issue 17), chapters 8 and 9: a correct function built from the library
    "attnlib.exercises.rec.check_giou": lambda t: {
        "fn": __import__("attnlib.boxes").boxes.generalized_box_iou,
        "verbose": False,
    },  # fmt: skip
    "attnlib.exercises.rec.check_self_paced_loss": lambda t: {
        "fn": lambda l1, giou, s0, s1, lam: __import__("attnlib.rec").rec.self_paced_loss(l1, giou, s0, s1, lam=lam),
        "verbose": False,
    },  # fmt: skip
    "attnlib.exercises.r2am.check_recursive_block": lambda t: {
        "fn": lambda x, conv, norms: __import__("functools").reduce(lambda h, n: torch.relu(n(conv(h))), norms, x),
        "verbose": False,
    },  # fmt: skip
    "attnlib.exercises.r2am.check_receptive_field": lambda t: {
        "fn": __import__("attnlib.r2am").r2am.receptive_field,
        "verbose": False,
    },  # fmt: skip
    "attnlib.exercises.r2am.check_monotonicity": lambda t: {
        "fn": __import__("attnlib.r2am").r2am.attention_monotonicity,
        "verbose": False,
    },  # fmt: skip
    # exercise checkers (issue 17): each is given a correct function built from the library
    "attnlib.exercises.foundations.check_soft_attention": lambda t: {
        "fn": __import__("attnlib.foundations", fromlist=["soft_attention"]).soft_attention,
        "verbose": False,
    },
    "attnlib.exercises.foundations.check_score_function_estimate": lambda t: {"fn": _score_estimate, "verbose": False},
    "attnlib.exercises.ram.check_glimpse": lambda t: {
        "fn": __import__("attnlib.glimpse", fromlist=["extract_glimpses"]).extract_glimpses,
        "verbose": False,
    },
    "attnlib.exercises.ram.check_reinforce_surrogate": lambda t: {
        "fn": __import__("attnlib.reinforce", fromlist=["score_function_surrogate"]).score_function_surrogate,
        "verbose": False,
    },
}


def _score_estimate(logits: torch.Tensor, samples: torch.Tensor, rewards: torch.Tensor, baseline) -> torch.Tensor:
    """Chapter 1's score-function estimate, as the gradient of the library's surrogate (for the checker's example)."""
    from attnlib.reinforce import score_function_surrogate

    theta = logits.detach().clone().requires_grad_(True)
    loss = score_function_surrogate(theta.log_softmax(-1)[samples], rewards[samples], baseline)
    return -torch.autograd.grad(loss, theta)[0]


def _draw_window():
    from attnlib.draw import attention_window

    return attention_window(torch.randn(2, 5, generator=torch.Generator().manual_seed(0)), 8, 8, 3)


def _draw_filters() -> dict:
    from attnlib.draw import filterbank

    window = _draw_window()
    fx, fy = filterbank(window, 8, 8, 3)
    return {"fx": fx, "fy": fy, "gamma": window.gamma}


def _draw_batch(with_model: bool = False) -> dict:
    from attnlib.draw import DRAW

    torch.manual_seed(0)
    model = DRAW(height=8, width=8, steps=2, read_size=2, write_size=3, enc_size=8, dec_size=8, z_size=4)
    x = (torch.rand(2, 1, 8, 8) > 0.5).float()
    out = model(x, generator=torch.Generator().manual_seed(0))
    return {"x": x, "out": out, **({"model": model} if with_model else {})}


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _catch():
    from attnlib.catch import Catch

    return Catch(2, height=5, width=5)


def _catch_agent():
    from attnlib.ram_agent import CatchAgent

    torch.manual_seed(0)
    return CatchAgent(glimpse_size=2, n_scales=2, hidden=8, glimpse_hidden=8, location_hidden=8)


def _episode():
    from attnlib.ram_agent import play

    return play(_catch_agent(), _catch(), _gen())


def _anytime_output():
    from attnlib.ram_stop import AnytimeRAM

    torch.manual_seed(0)
    model = AnytimeRAM(n_glimpses=3, glimpse_hidden=8, location_hidden=8, hidden=8)
    return model(torch.rand(2, 1, 28, 28), generator=_gen())


def _results():
    import attnlib.results

    return attnlib.results


def _adahan():
    import attnlib.adahan

    return attnlib.adahan


def _rec():
    import attnlib.rec

    return attnlib.rec


def _rec_visual():
    return _rec().VisualEncoder(d=16, channels=(4, 4, 4), grid=4)


def _vqa_model():
    from attnlib.data.vqa import ANSWERS, VOCAB

    return _adahan().VQAModel(len(VOCAB), len(ANSWERS), dim=8, channels=4)


def _vqa_loader(data):
    from attnlib.data.vqa import VQALoader

    return VQALoader(data, batch_size=2, shuffle=False)


def _pretrain_encoder() -> dict:
    from attnlib.data.shapes import cell_labels, render_scenes

    scenes = _scenes()
    encoder = _adahan().ImageEncoder(channels=4)
    images = render_scenes(scenes, image_size=32)
    n = encoder(images)[0].shape[1]
    grid = int(round(n**0.5))
    return {"encoder": encoder, "images": images, "labels": cell_labels(scenes, image_size=32, grid=grid),
            "epochs": 1, "batch_size": 2}  # fmt: skip


def _captions():
    from attnlib.data.captions import make_digit_captions

    return make_digit_captions(2, split="test")


def _fields(obj) -> dict:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _karpathy_dataset(tmp: Path) -> dict:
    from attnlib.data.captions import Vocabulary

    _karpathy(tmp)
    rec = {"filename": "a.jpg", "split": "train", "sentences": [{"tokens": ["a", "dog"], "raw": "a dog"}]}
    return {"records": [rec], "image_root": tmp / "img", "vocab": Vocabulary(["a", "dog"]), "max_len": 5,
            "image_size": 8, "transform": None}  # fmt: skip


def _refcoco(tmp: Path) -> dict:
    import json

    refs = [{"ref_id": 0, "ann_id": 1, "image_id": 2, "split": "train", "sentences": [{"sent": "the red one"}]}]
    inst = {"images": [{"id": 2, "file_name": "x.jpg", "width": 10, "height": 10}],
            "annotations": [{"id": 1, "image_id": 2, "bbox": [1, 1, 4, 4]}]}  # fmt: skip
    (tmp / "refs.json").write_text(json.dumps(refs))
    (tmp / "instances.json").write_text(json.dumps(inst))
    return {"root": tmp, "split": "train", "refs_file": "refs.json"}


def _ram_model():
    from attnlib.ram import RecurrentAttentionModel

    return RecurrentAttentionModel(n_glimpses=2, glimpse_hidden=8, location_hidden=8, hidden=8)


def _animation():
    import matplotlib.pyplot as plt
    from matplotlib import animation

    plt.close("all")
    fig, ax = plt.subplots(figsize=(1, 1))
    return animation.FuncAnimation(fig, lambda k: None, frames=2)


def _case():
    from attnlib.exercises import Case

    return Case("a vector", (torch.ones(2),), expected=torch.ones(2))


def _axes():
    import matplotlib.pyplot as plt

    plt.close("all")
    return plt.subplots()[1]


def _reinforce():
    import attnlib.reinforce

    return attnlib.reinforce


def _draw():
    import attnlib.draw

    return attnlib.draw


def _catch_step_fn():
    """One step of Catch through the library's environment (the exercise's reference, built from attnlib)."""
    from attnlib.catch import Catch, CatchState

    def step(ball_col, dx, paddle, actions, width, paddle_width):
        env = Catch(len(ball_col), 8, width, paddle_width, max(1, int(dx.abs().max())))
        env.set_state(CatchState(torch.zeros_like(ball_col), ball_col, dx, paddle))
        env.step(actions)
        return env.state.ball_col, env.state.dx, env.state.paddle

    return step
