"""Checkpoints: save a model (and optimiser) with plain metadata, load it back safely.

Split out of :mod:`attnlib.train`, which re-exports :func:`save_checkpoint` and :func:`load_checkpoint`
so ``train.save_checkpoint(...)`` keeps working. Loading uses ``torch.load(..., weights_only=True)``: a
checkpoint can never run code; every failure is a ``ValueError`` that names the file and what is wrong.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attnlib import checks

__all__ = ["load_checkpoint", "save_checkpoint"]


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _weights_only_readable(value: Any) -> bool:
    """Whether ``torch.load(..., weights_only=True)`` reads ``value`` back: tensors, plain numbers,
    strings, None, and lists, tuples and dicts of them. Exact types: a numpy float is a ``float``
    subclass that the loader refuses."""
    if type(value) in (type(None), bool, int, float, complex, str, bytes) or isinstance(value, torch.Tensor):
        return True
    if type(value) in (list, tuple):
        return all(_weights_only_readable(v) for v in value)
    if type(value) in (dict, OrderedDict):
        return all(_weights_only_readable(k) and _weights_only_readable(v) for k, v in value.items())
    return False


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    **metadata: float | str,
) -> Path:
    """Save the model (and optionally optimizer) state with plain metadata.

    Only tensors, numbers, strings, None, and lists/tuples/dicts of them are accepted as metadata,
    so :func:`load_checkpoint` can read the file back with ``torch.load(..., weights_only=True)``;
    anything else (a numpy scalar, a ``Path``, an object) is refused here, at save time, with the
    key's name, rather than by the loader later.
    """
    _check_model(model)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be None or a torch.optim.Optimizer, got {type(optimizer).__name__}")
    for key, value in metadata.items():
        if not _weights_only_readable(value):
            raise ValueError(
                f"metadata {key}={value!r} ({type(value).__name__}) could not be read back with weights_only=True: "
                "pass numbers, strings, None, tensors, or lists/dicts of them (float(x) for a numpy scalar)"
            )
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValueError(f"path must be a file path (str or Path), got {path!r}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory, not a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"model": model.state_dict(), "metadata": dict(metadata)}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    torch.save(payload, path)
    return path


def _state_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, Any], limit: int = 8) -> list[str]:
    """Human-readable differences between a model's state_dict and a checkpoint's: keys and shapes."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [
        f"{k}: model {tuple(expected[k].shape)}, checkpoint {tuple(found[k].shape)}"
        for k in expected
        if k in found and isinstance(found[k], torch.Tensor) and found[k].shape != expected[k].shape
    ]
    shapes += [
        f"{k}: checkpoint holds a {type(found[k]).__name__}, not a tensor"
        for k in expected
        if k in found and not isinstance(found[k], torch.Tensor)
    ]

    def some(items: list[str]) -> str:
        more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
        return ", ".join(items[:limit]) + more

    problems = []
    if missing:
        problems.append(f"missing keys [{some(missing)}]")
    if unexpected:
        problems.append(f"unexpected keys [{some(unexpected)}]")
    if shapes:
        problems.append(f"mismatched shapes [{some(shapes)}]")
    return problems


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: torch.device | str | None = "cpu",
) -> dict[str, Any]:
    """Load a file written by :func:`save_checkpoint` into ``model`` (and ``optimizer``).

    Uses ``weights_only=True``: a checkpoint can never run code on load. Every failure is a
    ``ValueError`` naming the file: missing, empty, truncated or corrupt, not a checkpoint written
    by :func:`save_checkpoint`, or a checkpoint of another model (the mismatched keys and shapes
    are listed). The model is only changed when the whole checkpoint fits it.

    Returns
    -------
    The metadata saved with the checkpoint.
    """
    _check_model(model)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be None or a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValueError(f"path must be a file path (str or Path), got {path!r}")
    if isinstance(map_location, (str, torch.device)):
        map_location = checks.device(map_location, "map_location")
    elif map_location is not None and not isinstance(map_location, dict) and not callable(map_location):
        raise ValueError(f"map_location must be None, a device, a dict or a function, got {map_location!r}")
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a checkpoint file")
    if path.stat().st_size == 0:
        raise ValueError(f"{where} is empty (0 bytes): the save was interrupted?")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise ValueError(
            f"{where} could not be read with weights_only=True (corrupt, or it holds objects "
            f"other than tensors and plain values): {first}"
        ) from err
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError) as err:
        raise ValueError(f"{where} is corrupt or truncated ({type(err).__name__}: {str(err)[:200]})") from err
    if not isinstance(payload, dict) or not isinstance(payload.get("model"), Mapping):
        keys = sorted(map(str, payload)) if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{where} is not a checkpoint written by save_checkpoint (expected a dict with a 'model' "
            f"state_dict, got {keys})"
        )
    problems = _state_mismatch(model.state_dict(), payload["model"])
    if problems:
        raise ValueError(
            f"{where} does not fit this {type(model).__name__} (a checkpoint of another model?): " + "; ".join(problems)
        )
    metadata = payload.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError(f"{where} has metadata of type {type(metadata).__name__}, expected a dict")
    if optimizer is not None:
        if "optimizer" not in payload:
            raise ValueError(f"checkpoint {str(path)!r} holds no optimizer state")
        try:
            # torch checks the parameter groups before it changes anything
            optimizer.load_state_dict(payload["optimizer"])
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise ValueError(f"{where} holds optimizer state that does not fit this optimizer: {err}") from err
    model.load_state_dict(payload["model"])
    return metadata
