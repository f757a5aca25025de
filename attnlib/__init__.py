"""attnlib: the library of the executable course on visual attention.

One module per paper (``ram``, ``ram_agent`` with ``catch`` and ``ram_stop``, ``draw``, ``sat``, ``adahan``, ``a2net``, ``rec``,
``r2am``) and shared pieces (``budget``, ``data``, ``train``, ``reinforce``,
``glimpse``, ``boxes``, ``viz``). Submodules load on first use, so
``import attnlib`` stays quick and ``attnlib.data.load_mnist`` just works.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = (
    "budget",
    "data",
    "train",
    "checkpoint",
    "reinforce",
    "viz",
    "foundations",
    "glimpse",
    "ram",
    "catch",
    "ram_agent",
    "ram_stop",
    "draw",
    "sat",
    "adahan",
    "a2net",
    "rec",
    "boxes",
    "r2am",
    "widgets",
)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        module = importlib.import_module(f"attnlib.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'attnlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_SUBMODULES))
