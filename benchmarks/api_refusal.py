"""Does every public callable of attnlib refuse bad input clearly? (issue 24)

Walks the package, collects every name in every module's ``__all__`` (so a new module is covered as soon
as it exists), and for each callable:

1. builds one *valid* call: defaults for optional parameters, a hand-written example from :data:`EXAMPLES`
   for required ones (or a small int / float when the annotation says so), and checks that it runs;
2. replaces one argument at a time by a mistake a new user makes, derived from the parameter's
   annotation, default and valid value: wrong type, wrong rank, wrong dtype, NaN / inf, negative or zero
   sizes, ids out of range, a misspelt option, an empty input, a string for a list, ...;
3. classifies what happened: ``refused`` (a ValueError whose message names the argument), ``unnamed``
   (a ValueError that does not name it), ``other`` (another exception: a deep torch error, a TypeError),
   ``accepted`` (it ran), ``nan`` (it ran and returned NaN), ``hang`` (it ran past the time limit).

A mistake that is legitimately acceptable for one parameter is listed in :data:`ACCEPTABLE` with the
reason and not counted; an empty tensor that gives a finite (empty) result is fine everywhere. Callables
without a valid example are reported as not covered, never counted as refused.

Run ``python benchmarks/api_refusal.py`` (``--cases`` lists every case not refused) to print the table;
``tests/test_api_refusal.py`` asserts the refused share.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import math
import os
import pkgutil
import re
import signal
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

OUTCOMES = ("refused", "unnamed", "other", "accepted", "nan", "hang")


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


EXAMPLES: dict[str, Callable[[Path], dict[str, Any]]] = {
    # checks: name the argument as the harness does, so the message can be matched
    "attnlib.checks.finite": lambda t: {"value": torch.ones(2), "name": "value"},
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
    # boxes
    "attnlib.boxes.box_convert": lambda t: {
        "boxes": torch.tensor([[0.0, 0.0, 2.0, 3.0]]),
        "in_fmt": "xyxy",
        "out_fmt": "cxcywh",
    },  # fmt: skip
    "attnlib.boxes.check_boxes": lambda t: {"boxes": torch.tensor([[0.0, 0.0, 2.0, 3.0]]), "name": "boxes"},
    "attnlib.boxes.paired_iou": lambda t: {
        "pred": torch.tensor([[0.0, 0.0, 2.0, 3.0]]),
        "target": torch.tensor([[1.0, 0.0, 2.0, 2.0]]),
    },  # fmt: skip
    "attnlib.boxes.generalized_box_iou": lambda t: {
        "pred": torch.tensor([[0.0, 0.0, 2.0, 3.0]]),
        "target": torch.tensor([[1.0, 0.0, 2.0, 2.0]]),
    },  # fmt: skip
    "attnlib.boxes.generalized_box_iou_loss": lambda t: {
        "pred": torch.tensor([[0.0, 0.0, 2.0, 3.0]]),
        "target": torch.tensor([[1.0, 0.0, 2.0, 2.0]]),
    },  # fmt: skip
    "attnlib.boxes.acc_at_iou": lambda t: {
        "pred": torch.tensor([[0.0, 0.0, 2.0, 3.0]]),
        "target": torch.tensor([[1.0, 0.0, 2.0, 2.0]]),
    },  # fmt: skip
    # budget
    "attnlib.budget.announce": lambda t: {"data": "test data"},
    "attnlib.budget.choose": lambda t: {"smoke": 1, "book": 2},
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
        "form": "bounded",
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
}


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


def _axes():
    import matplotlib.pyplot as plt

    plt.close("all")
    return plt.subplots()[1]


# Result containers that the library builds and returns; a user does not construct them. Not counted.
EXCLUDED: dict[str, str] = {
    "attnlib.ram.RAMOutput": "a NamedTuple the model returns, not built by users",
    "attnlib.sat.StepOutput": "a dataclass the decoder returns, not built by users",
    "attnlib.sat.DecoderOutput": "a dataclass the decoder returns, not built by users",
    "attnlib.evidence.Summary": "returned by evidence.summarize, not built by users",
    "attnlib.evidence.Comparison": "returned by evidence.compare, not built by users",
    "attnlib.results.Entry": "a TypedDict describing a results file record (no constructor checks possible)",
    "attnlib.results.main": "the command line entry point; its argument is argv",
    "attnlib.train.init_distributed": "no arguments",
}

# (callable, parameter, case) -> why this "mistake" is a legitimate input there; case "*" covers every case
# whose outcome is not a refusal. Kept short and explicit: each entry is a judgement a reviewer can check.
_FREE_TEXT = "free text (a label or a description): any string is right"
_NAME_ARG = "the name the message should use: any string is right"
_INT_BOXES = "integer pixel boxes are boxes (IoU is computed in float)"
_INT_REWARD = "integer rewards (0 / 1 for wrong / right) are rewards"
_BROADCAST = "documented: rewards broadcast over leading (sample) dims"
_ANY_SHAPE = "documented: any shape"
_PLOT = "a plot shows what it is given: matplotlib draws NaN / inf pixels blank"
ACCEPTABLE: dict[tuple[str, str, str], str] = {
    ("attnlib.budget.announce", "data", "*"): _FREE_TEXT,
    ("attnlib.budget.choose", "smoke", "*"): "any value: choose returns the one for the current budget",
    ("attnlib.budget.choose", "book", "*"): "any value: choose returns the one for the current budget",
    ("attnlib.data.clevr.tokenize", "text", "misspelt option"): "any question text is tokenised",
    ("attnlib.data.clevr.tokenize", "text", "empty string"): "an empty text has no tokens",
    ("attnlib.results.record", "note", "*"): _FREE_TEXT,
    ("attnlib.results.record", "unit", "*"): _FREE_TEXT,
    ("attnlib.results.record", "data", "*"): _FREE_TEXT,
    ("attnlib.results.record", "quantity", "misspelt option"): "a quantity's name is free",
    ("attnlib.results.record", "value", "negative"): "a measured value may be negative",
    ("attnlib.results.glue", "name", "misspelt option"): "a glue key is free",
    ("attnlib.results.glue", "value", "*"): "any value can be glued (shown as text)",
    ("attnlib.results.update_readme", "table", "*"): "the table is markdown text",
    ("attnlib.data.shapes.check_scenes", "name", "*"): _NAME_ARG,
    ("attnlib.data.splits.check_split", "name", "*"): _NAME_ARG,
    ("attnlib.boxes.check_boxes", "name", "*"): _NAME_ARG,
    ("attnlib.evidence.compare", "a", "negative entry"): "measured values may be negative",
    ("attnlib.evidence.compare", "b", "negative entry"): "measured values may be negative",
    ("attnlib.evidence.summarize", "values", "negative entry"): "measured values may be negative",
    ("attnlib.reinforce.MovingAverageBaseline", "initial", "negative"): "rewards, hence their average, may be negative",
    ("attnlib.widgets.draw_glimpse_view", "center", "negative entry"): "centres lie in [-1, 1]: negative is inside",
    ("attnlib.viz.show_images", "images", "NaN entry"): _PLOT,
    ("attnlib.viz.show_images", "images", "inf entry"): _PLOT,
    ("attnlib.viz.overlay_heatmap", "image", "NaN entry"): _PLOT,
    ("attnlib.viz.overlay_heatmap", "image", "inf entry"): _PLOT,
    ("attnlib.viz.overlay_heatmap", "heat", "NaN entry"): _PLOT,
    ("attnlib.viz.overlay_heatmap", "heat", "inf entry"): _PLOT,
    ("attnlib.viz.to_numpy_image", "image", "NaN entry"): _PLOT,
    ("attnlib.viz.to_numpy_image", "image", "inf entry"): _PLOT,
    ("attnlib.widgets.glimpse_explorer", "images", "NaN entry"): _PLOT,
    ("attnlib.widgets.glimpse_explorer", "images", "inf entry"): _PLOT,
    ("attnlib.viz.show_images", "images", "int dtype"): "uint8 / integer images are images",
    ("attnlib.viz.overlay_heatmap", "image", "int dtype"): "uint8 / integer images are images",
    ("attnlib.viz.overlay_heatmap", "heat", "int dtype"): "integer counts are a heat map",
    ("attnlib.viz.to_numpy_image", "image", "int dtype"): "uint8 / integer images are images",
    ("attnlib.viz.overlay_heatmap", "image", "extra leading dim"): "(1, H, W) is a grey image",
    ("attnlib.boxes.check_boxes", "boxes", "int dtype"): _INT_BOXES,
    ("attnlib.boxes.paired_iou", "pred", "int dtype"): _INT_BOXES,
    ("attnlib.boxes.paired_iou", "target", "int dtype"): _INT_BOXES,
    ("attnlib.boxes.generalized_box_iou", "pred", "int dtype"): _INT_BOXES,
    ("attnlib.boxes.generalized_box_iou", "target", "int dtype"): _INT_BOXES,
    ("attnlib.boxes.generalized_box_iou_loss", "pred", "int dtype"): _INT_BOXES,
    ("attnlib.boxes.generalized_box_iou_loss", "target", "int dtype"): _INT_BOXES,
    ("attnlib.boxes.acc_at_iou", "pred", "int dtype"): _INT_BOXES,
    ("attnlib.boxes.acc_at_iou", "target", "int dtype"): _INT_BOXES,
    ("attnlib.sat.shift_in_frame", "images", "int dtype"): "uint8 / integer images can be shifted",
    ("attnlib.glimpse.extract_glimpses", "centers", "int dtype"): "integer centres -1, 0, 1 are locations in [-1, 1]",
    ("attnlib.foundations.exact_policy_gradient", "rewards", "int dtype"): _INT_REWARD,
    ("attnlib.foundations.categorical_gradient_estimates", "rewards", "int dtype"): _INT_REWARD,
    ("attnlib.reinforce.baseline_loss", "reward", "int dtype"): _INT_REWARD,
    ("attnlib.reinforce.rewards_to_go", "rewards", "int dtype"): _INT_REWARD,
    ("attnlib.reinforce.score_function_surrogate", "reward", "int dtype"): _INT_REWARD,
    ("attnlib.reinforce.baseline_loss", "reward", "missing dim"): _BROADCAST,
    ("attnlib.reinforce.rewards_to_go", "rewards", "extra leading dim"): _BROADCAST,
    ("attnlib.reinforce.rewards_to_go", "rewards", "missing dim"): _BROADCAST,
    ("attnlib.reinforce.score_function_surrogate", "log_prob", "extra leading dim"): _BROADCAST,
    ("attnlib.reinforce.score_function_surrogate", "reward", "missing dim"): _BROADCAST,
    ("attnlib.reinforce.score_function_surrogate", "reward", "list for a tensor"): "a number or a list of numbers is "
    "a reward (documented: a float or a tensor)",
    ("attnlib.train.to_device", "batch", "empty"): "an empty batch has nothing to move",
    ("attnlib.train.to_device", "batch", "wrong type"): "documented: leaves that are not tensors pass through",
    ("attnlib.checks.finite", "value", "extra leading dim"): _ANY_SHAPE,
    ("attnlib.checks.finite", "value", "missing dim"): _ANY_SHAPE,
    ("attnlib.checks.finite", "value", "int dtype"): "integers are always finite",
    ("attnlib.checks.ids_in_range", "value", "extra leading dim"): _ANY_SHAPE,
    ("attnlib.checks.ids_in_range", "value", "missing dim"): _ANY_SHAPE,
    ("attnlib.checks.ids_in_range", "allow", "empty"): "no extra allowed id is the default case",
    ("attnlib.checks.non_negative_int", "value", "zero"): "0 is non-negative",
    ("attnlib.checks.string", "value", "misspelt option"): "any non-empty string is a string",
    ("attnlib.checks.tensor", "value", "NaN entry"): "tensor() checks type, rank and dtype; finite() checks values",
    ("attnlib.checks.tensor", "value", "inf entry"): "tensor() checks type, rank and dtype; finite() checks values",
    ("attnlib.checks.tensor", "ndim", "zero"): "0 dimensions (a scalar) is a rank",
    ("attnlib.checkpoint.save_checkpoint", "path", "missing file"): "documented: missing parent folders are created",
    ("attnlib.data.canvas.CurriculumLoader", "stages", "empty"): "no stage: every epoch reads the final loader",
    ("attnlib.a2net_bench.time_forward", "x", "*"): "the module decides what input it takes; timing reads no values",
    ("attnlib.boxes.box_convert", "boxes", "extra leading dim"): "documented: boxes (..., 4)",
    ("attnlib.boxes.box_convert", "boxes", "missing dim"): "documented: boxes (..., 4); one box (4,) is fine",
    ("attnlib.boxes.box_convert", "boxes", "int dtype"): _INT_BOXES,
    ("attnlib.boxes.box_convert", "name", "*"): _NAME_ARG,
    ("attnlib.checks.one_of", "options", "list of ints"): "options may be ints; the refusal names the value checked",
    ("attnlib.data.load_mnist", "root", "misspelt option"): "root is read only with source='torchvision'",
    ("attnlib.data.load_mnist", "root", "empty string"): "root is read only with source='torchvision'",
    ("attnlib.data.longrange.make_vocabulary", "min_hamming", "zero"): "documented range [0, S^2 / 2]: 0 drops the "
    "constraint",
    ("attnlib.foundations.gaussian_bump_gradient", "mu", "extra leading dim"): "documented: mu (..., d)",
    ("attnlib.foundations.gaussian_bump_value", "mu", "extra leading dim"): "documented: mu (..., d)",
    ("attnlib.glimpse.glimpse_boxes", "centers", "extra leading dim"): "documented: centers (..., 2)",
    ("attnlib.ram_baselines.FullyConnected", "hidden", "empty"): "no hidden layer: a linear classifier",
    ("attnlib.results.start", "chapter", "misspelt option"): "a chapter key is free ('NN_slug')",
    ("attnlib.results.record", "chapter", "misspelt option"): "a chapter key is free ('NN_slug')",
    ("attnlib.sat.shift_in_frame", "pad", "zero"): "pad 0 with zero shifts is no shift",
    ("attnlib.sat.make_pretrain_step", "max_shift", "zero"): "max_shift 0 turns the shift augmentation off",
    ("attnlib.data.captions.Vocabulary", "words", "empty"): "the four special tokens alone are a vocabulary "
    "(from_captions with a high min_count gives one)",
    ("attnlib.rec.box_losses", "target_xyxy", "int dtype"): _INT_BOXES,
    ("attnlib.rec.evaluate_rec", "boxes", "int dtype"): _INT_BOXES,
    ("attnlib.train.accuracy", "logits", "int dtype"): "integer scores have an argmax",
    ("attnlib.sat.attention_localisation", "tokens", "id far out of range"): "no vocabulary size is passed; an "
    "unknown id is simply not an object word",
}


# --------------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------------


def public_callables() -> list[tuple[str, str, Callable[..., Any]]]:
    """``(module name, public name, object)`` for every callable in every ``__all__`` of attnlib, once each
    (a name re-exported by a package is reported under the first module that lists it, in walk order)."""
    import attnlib

    names = ["attnlib"] + [m.name for m in pkgutil.walk_packages(attnlib.__path__, "attnlib.")]
    seen: dict[int, tuple[str, str, Any]] = {}
    for name in names:
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", ()):
            obj = getattr(module, public)
            if callable(obj) and id(obj) not in seen and getattr(obj, "__module__", "").startswith("attnlib"):
                seen[id(obj)] = (name, public, obj)
    return list(seen.values())


# --------------------------------------------------------------------------------------------------
# Bad values
# --------------------------------------------------------------------------------------------------


def _annotation(fn: Callable[..., Any], param: inspect.Parameter) -> str:
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        return ""
    return ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))


def _with_first(t: torch.Tensor, value: float) -> torch.Tensor:
    out = t.clone()
    out.view(-1)[0] = value
    return out


def bad_values(ann: str, value: Any) -> Iterator[tuple[str, Any]]:
    """``(case, bad value)`` pairs for a parameter whose valid value is ``value`` and annotation ``ann``."""
    optional = "None" in ann or "Optional" in ann
    if isinstance(value, bool):
        yield "string for a flag", "no"
        yield "int 2 for a flag", 2
        return
    if isinstance(value, int):
        yield "negative", -3
        if value != 0:  # a default of 0 says 0 is allowed
            yield "zero", 0
        yield "float for an int", value + 0.5
        yield "bool for an int", True
        yield "string for an int", str(value)
        if not optional:
            yield "None", None
        return
    if isinstance(value, float):
        yield "NaN", math.nan
        yield "inf", math.inf
        yield "negative", -1.0
        yield "string for a number", str(value)
        if not optional:
            yield "None", None
        return
    if isinstance(value, str):
        yield "misspelt option", value + "x" if value else "x"
        yield "empty string", ""
        yield "list for a string", [value]
        return
    if isinstance(value, torch.Tensor):
        yield "list for a tensor", value.tolist() if "Sequence" not in ann and "list" not in ann else object()
        if value.ndim >= 1:
            yield "extra leading dim", value.unsqueeze(0)
            yield "missing dim", value.reshape(-1)[0] if value.ndim == 1 else value.reshape(-1)
            yield "empty batch", value[:0]
        if value.is_floating_point():
            if value.numel():
                yield "NaN entry", _with_first(value, math.nan)
                yield "inf entry", _with_first(value, math.inf)
            yield "int dtype", value.long()
        elif value.dtype == torch.bool:
            yield "float for a mask", value.float()
        else:
            if value.numel():
                yield "id far out of range", _with_first(value, 10**6)
                yield "negative id", _with_first(value, -7)
            yield "float dtype", value.float()
        return
    if isinstance(value, nn.Module):
        yield "string for a module", "model"
        yield "state_dict for a module", value.state_dict()
        return
    if isinstance(value, Path):
        yield "missing file", value.parent / "does-not-exist" / value.name
        yield "empty path", ""
        return
    if type(value) in (list, tuple):
        if value and all(isinstance(v, str) for v in value):
            yield "a string for a list of strings", value[0]
            yield "list of ints", list(range(len(value)))
        if value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            yield "NaN in a list", [math.nan] + list(value[1:])
            yield "string for a list", "1, 2"
            yield "negative entry", [-abs(v) - 1 for v in value]
        yield "empty", type(value)()
        yield "wrong type", object()
        return
    if isinstance(value, dict):
        yield "wrong type", ["not", "a", "dict"]
        return
    if value is None:
        return  # an optional argument left at None: no generic mistake
    yield "wrong type", object()
    yield "None", None


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Timeout


def _has_nan(out: Any, depth: int = 0) -> bool:
    if depth > 3:
        return False
    if isinstance(out, torch.Tensor):
        return out.is_floating_point() and bool(torch.isnan(out).any())
    if isinstance(out, float):
        return math.isnan(out)
    if isinstance(out, (list, tuple)):
        return any(_has_nan(o, depth + 1) for o in list(out)[:64])
    if isinstance(out, dict):
        return any(_has_nan(o, depth + 1) for o in list(out.values())[:64])
    if hasattr(out, "__dataclass_fields__"):
        return any(_has_nan(getattr(out, f), depth + 1) for f in out.__dataclass_fields__)
    return False


def _is_empty(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.numel() == 0


@dataclass
class Case:
    callable: str
    param: str
    case: str
    outcome: str
    detail: str = ""


@dataclass
class Report:
    cases: list[Case] = field(default_factory=list)
    uncovered: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    acceptable: list[tuple[Case, str]] = field(default_factory=list)

    def counts(self) -> Counter:
        return Counter(c.outcome for c in self.cases)

    def refused_share(self) -> float:
        return self.counts()["refused"] / max(1, len(self.cases))


def _call(fn: Callable[..., Any], kwargs: dict[str, Any], timeout: float) -> tuple[str, str, Any]:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            out = fn(*_positional(fn, kwargs), **kwargs)
        return "ok", "", out
    except _Timeout:
        return "hang", f"ran past {timeout} s", None
    except ValueError as err:
        return "ValueError", str(err), None
    except Exception as err:  # noqa: BLE001 - classifying every failure is the point
        return "other", f"{type(err).__name__}: {str(err)[:200]}", None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _positional(fn: Callable[..., Any], kwargs: dict[str, Any]) -> list[Any]:
    """Move a ``"*"`` entry (the values of ``*args``) and the parameters before it out of ``kwargs``."""
    if "*" not in kwargs:
        return []
    rest = list(kwargs.pop("*"))
    head = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            break
        head.append(kwargs.pop(p.name))
    return head + rest


_SKIP_MARK = re.compile(r"finiteness is not|no finiteness check|values are not (read|checked)", re.IGNORECASE)


def _skips_finiteness(fn: Callable[..., Any]) -> bool:
    """Whether the docstring says that values are not checked for NaN / inf (a forward path, see attnlib.checks)."""
    docs = [fn.__doc__ or ""]
    if isinstance(fn, type):
        docs += [getattr(fn, m).__doc__ or "" for m in ("__init__", "forward") if hasattr(fn, m)]
    return any(_SKIP_MARK.search(d) for d in docs)


def _names(message: str, param: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(param)}(?![A-Za-z0-9_])", message) is not None


def _valid_kwargs(qual: str, fn: Callable[..., Any], tmp: Path) -> dict[str, Any] | str:
    kwargs = EXAMPLES[qual](tmp) if qual in EXAMPLES else {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in kwargs:
            continue
        if p.default is not p.empty:
            kwargs[p.name] = p.default
            continue
        ann = _annotation(fn, p)
        if ann == "int":
            kwargs[p.name] = 2
        elif ann == "float":
            kwargs[p.name] = 0.5
        else:
            return f"no valid example for the required argument {p.name!r} ({ann or 'no annotation'})"
    return kwargs


def run(timeout: float = 5.0, only: str | None = None) -> Report:
    """Feed every public callable its bad inputs; ``only`` restricts to qualified names starting with it."""
    torch.set_num_threads(1)
    report = Report()
    with tempfile.TemporaryDirectory() as tmp_dir:
        os.environ["ATTNLIB_RESULTS_DIR"] = tmp_dir
        os.environ.setdefault("ATTNLIB_PROGRESS", "0")
        os.environ.setdefault("MPLBACKEND", "Agg")
        for module, name, fn in public_callables():
            qual = f"{module}.{name}"
            if only and not qual.startswith(only):
                continue
            if qual in EXCLUDED:
                report.excluded[qual] = EXCLUDED[qual]
                continue
            try:
                sig = inspect.signature(fn)
            except (TypeError, ValueError):
                report.uncovered[qual] = "no signature"
                continue
            tmp = Path(tempfile.mkdtemp(dir=tmp_dir))
            try:
                valid = _valid_kwargs(qual, fn, tmp)
            except Exception as err:  # noqa: BLE001
                report.uncovered[qual] = f"building the example failed: {type(err).__name__}: {str(err)[:150]}"
                continue
            if isinstance(valid, str):
                report.uncovered[qual] = valid
                continue
            status, detail, _ = _call(fn, dict(valid), 10 * timeout)  # a first call may load data
            if status != "ok":
                report.uncovered[qual] = f"the valid example fails: {detail[:200]}"
                continue
            for p in sig.parameters.values():
                if p.name not in valid or p.name == "name" and "attnlib.checks" in qual:
                    continue
                ann = _annotation(fn, p)
                for case, bad in bad_values(ann, valid[p.name]):
                    kwargs = EXAMPLES[qual](tmp) if qual in EXAMPLES else {}
                    kwargs = {**valid, **kwargs, p.name: bad}
                    status, detail, out = _call(fn, kwargs, timeout)
                    if status == "ValueError":
                        named = _names(detail, p.name)
                        if case == "empty batch":  # one argument emptied is a batch mismatch: naming a partner is clear
                            named = named or any(_names(detail, q) for q in sig.parameters)
                        outcome = "refused" if named else "unnamed"
                    elif status == "ok":
                        outcome = "nan" if _has_nan(out) else "accepted"
                    else:
                        outcome = status
                    result = Case(qual, p.name, case, outcome, detail[:200])
                    reason = ACCEPTABLE.get((qual, p.name, case)) or ACCEPTABLE.get((qual, p.name, "*"))
                    if outcome == "accepted" and _is_empty(bad):
                        reason = reason or "an empty batch gives a finite, empty result"
                    if outcome in ("accepted", "nan") and case in ("NaN entry", "inf entry") and _skips_finiteness(fn):
                        reason = reason or "documented: finiteness is not checked on this forward path (attnlib.checks)"
                    if reason and outcome in ("accepted", "unnamed", "other", "nan"):
                        report.acceptable.append((result, reason))
                    else:
                        report.cases.append(result)
    return report


def table(report: Report) -> str:
    """Per-module counts of each outcome, and the total."""
    rows: dict[str, Counter] = {}
    for c in report.cases:
        module = c.callable.rsplit(".", 1)[0]
        rows.setdefault(module, Counter())[c.outcome] += 1
    head = f"{'module':<28}" + "".join(f"{o:>9}" for o in OUTCOMES) + f"{'total':>7}{'refused':>9}"
    lines = [head, "-" * len(head)]
    total: Counter = Counter()
    for module in sorted(rows):
        n = sum(rows[module].values())
        total.update(rows[module])
        share = f"{100 * rows[module]['refused'] / n:.0f} %"
        lines.append(f"{module:<28}" + "".join(f"{rows[module][o]:>9}" for o in OUTCOMES) + f"{n:>7}{share:>9}")
    n = sum(total.values())
    lines.append("-" * len(head))
    share = f"{100 * total['refused'] / max(1, n):.1f} %"
    lines.append(f"{'all':<28}" + "".join(f"{total[o]:>9}" for o in OUTCOMES) + f"{n:>7}{share:>9}")
    callables = {c.callable for c in report.cases}
    lines.append(
        f"{len(callables)} callables tested, {len(report.uncovered)} not covered, {len(report.excluded)} excluded, "
        f"{len(report.acceptable)} acceptable cases not counted"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", action="store_true", help="list every case not refused")
    parser.add_argument("--uncovered", action="store_true", help="list callables without a valid example")
    parser.add_argument("--only", help="qualified-name prefix, e.g. attnlib.boxes")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before a call counts as a hang")
    args = parser.parse_args(argv)
    report = run(args.timeout, args.only)
    print(table(report))
    if args.cases:
        for c in report.cases:
            if c.outcome != "refused":
                print(f"{c.outcome:>9}  {c.callable}({c.param}=<{c.case}>)  {c.detail[:140]}")
    if args.uncovered:
        for qual, why in sorted(report.uncovered.items()):
            print(f"not covered  {qual}: {why.splitlines()[0][:150]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
