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

import torch

__all__ = [
    "finite",
    "has_values",
    "ids_in_range",
    "non_negative_float",
    "non_negative_int",
    "one_of",
    "positive_float",
    "positive_int",
    "positive_ints",
    "probability",
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
    if value not in tuple(options):
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


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
        if dtype not in ok:
            raise ValueError(f"dtype must be 'float', 'int', 'bool' or None, got {dtype!r}")
        if not ok[dtype]:
            raise ValueError(f"{name} must have a {dtype} dtype, got {value.dtype}")
    return value


def has_values(value: torch.Tensor) -> bool:
    """Whether ``value`` holds numbers a check can read: ``False`` on the ``meta`` device (shapes only).

    Value checks (finiteness, ranges) pass meta tensors, so a model can run one step on ``meta`` to show
    that every tensor it makes follows its inputs' device (``tests/test_device.py``).
    """
    return value.device.type != "meta"


def finite(value: torch.Tensor, name: str) -> torch.Tensor:
    """``value`` if every element is finite (no NaN, no inf), else ValueError naming ``name``.

    Reads the values, so on a GPU it synchronises: use it at entry points, not inside ``forward``.
    A tensor on the ``meta`` device has no values: it passes (see :func:`has_values`).
    """
    if value.is_floating_point() and has_values(value) and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite, got a tensor with NaN or inf")
    return value


def ids_in_range(value: torch.Tensor, size: int, name: str, allow: Sequence[int] = ()) -> torch.Tensor:
    """``value`` if it is an integer tensor with every id in ``[0, size)`` (or in ``allow``, e.g. a padding
    id of -100), else ValueError naming ``name`` and the first id out of range."""
    tensor(value, name, dtype="int")
    if value.numel() == 0 or not has_values(value):
        return value
    bad = (value < 0) | (value >= size)
    for ok in allow:
        bad &= value != ok
    if bool(bad.any()):
        first = int(value[bad].flatten()[0])
        raise ValueError(f"{name} must hold ids in [0, {size}), got {first}")
    return value
