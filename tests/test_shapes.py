"""attnlib.data.shapes refuses bad input with a ValueError naming the argument (issue 24).

The scenes' and renderer's behaviour on valid input is tested in ``tests/test_vqa.py``.
"""

import pytest
import torch

from attnlib.data.shapes import Scenes, cell_labels, check_scenes, object_coverage, render_scenes, sample_scenes

_S = sample_scenes(2, generator=torch.Generator().manual_seed(0))


def _with(**fields) -> Scenes:
    values = {f: getattr(_S, f).clone() for f in ("color", "shape", "size", "position", "valid")}
    values.update(fields)
    return Scenes(**values)


_NAN_POSITION = _S.position.clone()
_NAN_POSITION[0, 0, 0] = float("nan")
_SHAPES_BAD = [
    (lambda: sample_scenes(0), "n"),
    (lambda: sample_scenes(2.0), "n"),
    (lambda: sample_scenes(2, min_objects=0), "min_objects"),
    (lambda: sample_scenes(2, min_objects=2.5), "min_objects"),
    (lambda: sample_scenes(2, max_objects=9), "max_objects"),
    (lambda: sample_scenes(2, min_objects=4, max_objects=3), "min_objects"),
    (lambda: sample_scenes(2, tries=0), "tries"),
    (lambda: sample_scenes(2, generator=0), "generator"),
    (lambda: render_scenes(_S, 4), "image_size"),
    (lambda: render_scenes(_S, 48.0), "image_size"),
    (lambda: render_scenes(_S.color), "scenes"),
    (lambda: render_scenes(_with(position=_NAN_POSITION)), "scenes.position"),
    (lambda: render_scenes(_with(color=torch.full_like(_S.color, 6))), "scenes.color"),
    (lambda: render_scenes(_with(shape=torch.full_like(_S.shape, -1))), "scenes.shape"),
    (lambda: render_scenes(_with(size=torch.full_like(_S.size, 2))), "scenes.size"),
    (lambda: render_scenes(_with(color=_S.color.float())), "scenes.color"),
    (lambda: render_scenes(_with(valid=_S.valid.long())), "scenes.valid"),
    (lambda: render_scenes(_with(position=_S.position[:, :, :1])), "scenes"),
    (lambda: render_scenes(_S[torch.zeros(0, dtype=torch.long)]), "scenes"),
    (lambda: object_coverage(_with(size=torch.full_like(_S.size, -1))), "scenes.size"),
    (lambda: object_coverage(_S, 0), "image_size"),
    (lambda: cell_labels(_S, 48, 5), "grid"),
    (lambda: cell_labels(_S, "48", 4), "image_size"),
    (lambda: cell_labels(_S, 48, 4, threshold=0.0), "threshold"),
    (lambda: cell_labels(_S, 48, 4, threshold=float("nan")), "threshold"),
    (lambda: _S.describe(5), "index"),
    (lambda: sample_scenes(True), "n"),
    (lambda: render_scenes(_S, antialias="yes"), "antialias"),
    (lambda: object_coverage(_S, antialias=None), "antialias"),
    (lambda: cell_labels(_S, 48, True), "grid"),
    (lambda: check_scenes(None, "my_scenes"), "my_scenes"),
]


@pytest.mark.parametrize("call, name", _SHAPES_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_SHAPES_BAD)])
def test_shapes_refuse_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_valid_scenes_pass_the_checks():
    check_scenes(_S)
    assert render_scenes(_S).shape == (2, 3, 48, 48)


@pytest.mark.parametrize(
    "fields, name",
    [
        ({"color": torch.full_like(_S.color, 99)}, "color"),
        ({"position": _NAN_POSITION}, "position"),
        ({"valid": _S.valid.long()}, "valid"),
        ({"shape": _S.shape[:1]}, "shape"),
    ],
)
def test_a_scenes_record_checks_its_fields_when_built(fields, name):
    """Scenes validate in __post_init__, so a bad record fails where it is made, not where it is drawn."""
    with pytest.raises(ValueError, match=rf"scenes\.{name}"):
        _with(**fields)


def test_an_empty_scenes_record_can_be_built_but_not_drawn():
    empty = _S[torch.zeros(0, dtype=torch.long)]
    assert len(empty) == 0
