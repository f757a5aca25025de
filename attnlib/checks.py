"""One validation layer for every public entry point of attnlib (``design.md``, "Code style").

Each check raises a ``ValueError`` whose message starts with the *caller's* argument name and says what
was expected and what was given, so that a student who passes ``glimpse_size=0`` reads
``glimpse_size must be a positive int, got 0`` and not an error from deep inside torch. Checks return
the value they accept (converted where that is the point, e.g. :func:`positive_float` returns a float),
so they read as ``lr = checks.positive_float(lr, "lr")``.

Where checks are skipped. Argument checks (numbers, options, shapes, dtypes) run everywhere: they cost
nanoseconds. Checks that read tensor *values* (finiteness, id ranges) synchronise a GPU, so they run at
the library's entry points (data generators, losses, loaders, ``fit``), not inside a model's
``forward``, whose docstring says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "device",
    "finite",
    "flag",
    "has_values",
    "ids_in_range",
    "same_length",
    "module",
    "non_negative_float",
    "non_negative_int",
    "one_of",
    "positive_float",
    "positive_int",
    "positive_ints",
    "probability",
    "string",
    "tensor",
]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any, name: str) -> int:
    """``value`` if it is an int ``>= 1`` (not a bool), else ValueError naming ``name``."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def positive_ints(**values: Any) -> None:
    """:func:`positive_int` for each keyword: ``positive_ints(embed_dim=32, hidden_dim=128)``."""
    for name, value in values.items():
        positive_int(value, name)


def non_negative_int(value: Any, name: str) -> int:
    """``value`` if it is an int ``>= 0`` (not a bool), else ValueError naming ``name``."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def _real(value: Any, name: str, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        and not (isinstance(value, torch.Tensor) and value.numel() == 1)
    ):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return out


def positive_float(value: Any, name: str) -> float:
    """``float(value)`` if it is a finite number ``> 0``, else ValueError naming ``name``."""
    out = _real(value, name, "a finite number > 0")
    if out <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return out


def non_negative_float(value: Any, name: str) -> float:
    """``float(value)`` if it is a finite number ``>= 0``, else ValueError naming ``name``."""
    out = _real(value, name, "a finite number >= 0")
    if out < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return out


def probability(value: Any, name: str) -> float:
    """``float(value)`` if it lies in ``[0, 1]``, else ValueError naming ``name``."""
    out = _real(value, name, "a probability in [0, 1]")
    if not 0.0 <= out <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return out


def one_of(value: Any, options: Sequence[Any], name: str) -> Any:
    """``value`` if it is one of ``options``, else ValueError listing them."""
    if isinstance(options, (str, bytes)) or not isinstance(options, Sequence) or not options:
        raise ValueError(f"options must be a non-empty sequence of the allowed values, got {options!r}")
    if value not in tuple(options):
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def flag(value: Any, name: str) -> bool:
    """``bool(value)`` if it is a bool (Python or numpy), else ValueError naming ``name``: ``progress="no"``
    would otherwise be true."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def string(value: Any, name: str) -> str:
    """``value`` if it is a non-empty str, else ValueError naming ``name``."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty str, got {value!r}")
    return value


def module(value: Any, name: str) -> Any:
    """``value`` if it is a ``torch.nn.Module``, else ValueError naming ``name`` (e.g. a state_dict passed
    where the model was meant)."""
    if not isinstance(value, torch.nn.Module):
        raise ValueError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def device(value: Any, name: str) -> torch.device:
    """``torch.device(value)`` if ``value`` names a device (``"cpu"``, ``"cuda:0"``, a ``torch.device``),
    else ValueError naming ``name``."""
    if not isinstance(value, (str, torch.device)):
        raise ValueError(f"{name} must name a torch device ('cpu', 'cuda', 'cuda:0'), got {value!r}")
    try:
        return torch.device(value)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{name} must name a torch device ('cpu', 'cuda', 'cuda:0'), got {value!r}") from err


def tensor(
    value: Any,
    name: str,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    dtype: str | None = None,
) -> torch.Tensor:
    """Check that ``value`` is a tensor of the expected rank, shape and kind of dtype.

    Parameters
    ----------
    ndim
        Allowed number(s) of dimensions.
    shape
        Expected shape, ``None`` for a free dimension (``(None, 1, 28, 28)``); implies ``ndim``.
    dtype
        ``"float"`` (any floating dtype), ``"int"`` (any integer dtype, not bool), ``"bool"``, or ``None``.
    """
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        dims = (ndim,) if not isinstance(ndim, (tuple, list)) else tuple(ndim)
        if not dims or not all(_is_int(d) and d >= 0 for d in dims):
            raise ValueError(f"ndim must be a non-negative int or a sequence of them, got {ndim!r}")
    if shape is not None:
        if value.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, value.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {tuple(value.shape)}")
    elif ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got {tuple(value.shape)}")
    if dtype is not None:
        ok = {
            "float": value.is_floating_point(),
            "int": not value.is_floating_point() and not value.is_complex() and value.dtype != torch.bool,
            "bool": value.dtype == torch.bool,
        }
        if not isinstance(dtype, str) or dtype not in ok:
            raise ValueError(f"dtype must be 'float', 'int', 'bool' or None, got {dtype!r}")
        if not ok[dtype]:
            raise ValueError(f"{name} must have a {dtype} dtype, got {value.dtype}")
    return value


def same_length(**values: Any) -> int:
    """The common first dimension (``len``) of the keyword arguments, else ValueError naming each with its length:
    ``same_length(images=images, tokens=tokens)``."""
    sizes = {name: (v.shape[0] if isinstance(v, torch.Tensor) and v.ndim else len(v)) for name, v in values.items()}
    if len(set(sizes.values())) > 1:
        got = ", ".join(f"{name} {size}" for name, size in sizes.items())
        raise ValueError(f"{', '.join(sizes)} must have the same first dimension, got {got}")
    return next(iter(sizes.values()), 0)


def has_values(value: torch.Tensor) -> bool:
    """Whether ``value`` holds numbers a check can read: ``False`` on the ``meta`` device (shapes only).

    Value checks (finiteness, ranges) pass meta tensors, so a model can run one step on ``meta`` to show
    that every tensor it makes follows its inputs' device (``tests/test_device.py``).
    """
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"value must be a torch.Tensor, got {type(value).__name__}")
    return value.device.type != "meta"


def finite(value: torch.Tensor, name: str) -> torch.Tensor:
    """``value`` if every element is finite (no NaN, no inf), else ValueError naming ``name``.

    Reads the values, so on a GPU it synchronises: use it at entry points, not inside ``forward``.
    A tensor on the ``meta`` device has no values: it passes (see :func:`has_values`).
    """
    tensor(value, name)
    if value.is_floating_point() and has_values(value) and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite, got a tensor with NaN or inf")
    return value


def ids_in_range(value: torch.Tensor, size: int, name: str, allow: Sequence[int] = ()) -> torch.Tensor:
    """``value`` if it is an integer tensor with every id in ``[0, size)`` (or in ``allow``, e.g. a padding
    id of -100), else ValueError naming ``name`` and the first id out of range."""
    tensor(value, name, dtype="int")
    positive_int(size, "size")
    if isinstance(allow, (str, bytes)) or not isinstance(allow, Sequence) or not all(_is_int(a) for a in allow):
        raise ValueError(f"allow must be a sequence of int ids, got {allow!r}")
    if value.numel() == 0 or not has_values(value):
        return value
    bad = (value < 0) | (value >= size)
    for ok in allow:
        bad &= value != ok
    if bool(bad.any()):
        first = int(value[bad].flatten()[0])
        raise ValueError(f"{name} must hold ids in [0, {size}), got {first}")
    return value
