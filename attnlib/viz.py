"""Plotting helpers shared by the chapters: image grids, attention overlays, boxes, learning curves.

Every function draws with matplotlib and returns the figure (or draws into
the axes it is given), so a notebook can add to it or save it.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from attnlib import checks

__all__ = [
    "draw_box",
    "overlay_heatmap",
    "plot_history",
    "animation_html",
    "show_code",
    "show_images",
    "source_code",
    "to_numpy_image",
]


def to_numpy_image(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(C, H, W)`` or ``(H, W)`` tensor -> ``(H, W)`` or ``(H, W, 3)`` array ready for ``imshow``."""
    if not isinstance(image, (torch.Tensor, np.ndarray)):
        raise ValueError(f"image must be a tensor or a numpy array, got {type(image).__name__}")
    if (isinstance(image, torch.Tensor) and (image.dtype == torch.bool or image.is_complex())) or (
        isinstance(image, np.ndarray) and (image.dtype == np.bool_ or not np.issubdtype(image.dtype, np.number))
    ):
        raise ValueError(f"image must hold numbers, got dtype {image.dtype}")
    array = image.detach().cpu().float().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.size == 0:
        raise ValueError(f"image must not be empty, got shape {array.shape}")
    if array.ndim == 3:
        if array.shape[0] == 1:
            return array[0]
        if array.shape[0] == 3:
            return np.clip(array.transpose(1, 2, 0), 0, 1)
    if array.ndim != 2:
        raise ValueError(f"image must be (H, W), (1, H, W) or (3, H, W), got shape {array.shape}")
    return array


def _cmap(cmap: object) -> None:
    import matplotlib

    if isinstance(cmap, matplotlib.colors.Colormap):
        return
    if not isinstance(cmap, str) or cmap not in matplotlib.colormaps:
        raise ValueError(f"cmap must name a matplotlib colormap (e.g. 'gray', 'inferno'), got {cmap!r}")


def _color(color: object) -> None:
    from matplotlib.colors import is_color_like

    if isinstance(color, str) and not color or not is_color_like(color):  # a name, '#rrggbb' or an RGB(A) tuple
        raise ValueError(f"color must name a matplotlib colour (e.g. 'lime', '#ff0000'), got {color!r}")


def show_images(
    images: torch.Tensor | Sequence[torch.Tensor],
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.6,
    cmap: str = "gray",
) -> Figure:
    """A grid of images ``(N, C, H, W)`` with optional titles."""
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim not in (3, 4):
        raise ValueError(f"images must be (N, C, H, W) or a list of images, got shape {tuple(images.shape)}")
    if not isinstance(images, (torch.Tensor, np.ndarray, list, tuple)):
        raise ValueError(f"images must be a tensor (N, C, H, W) or a list of images, got {type(images).__name__}")
    checks.positive_int(ncols, "ncols")
    checks.positive_float(size, "size")
    _cmap(cmap)
    if titles is not None and (isinstance(titles, str) or not hasattr(titles, "__len__")):
        raise ValueError(f"titles must be a list of str, one per image, got {titles!r}")
    n = len(images)
    if n == 0:
        raise ValueError("images must not be empty")
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have one entry per image ({n}), got {len(titles)}")
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.1), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_numpy_image(images[i]), cmap=cmap, vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def overlay_heatmap(
    ax: Axes,
    image: torch.Tensor | np.ndarray,
    heat: torch.Tensor | np.ndarray,
    alpha: float = 0.55,
    cmap: str = "inferno",
) -> None:
    """Draw ``image`` with an attention map ``heat (h, w)`` stretched over it.

    ``heat`` may be coarser than the image (a grid of attention weights); each
    weight covers its cell exactly (nearest-neighbour, no smoothing that would
    suggest a resolution the model does not have).
    """
    if not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    checks.probability(alpha, "alpha")
    _cmap(cmap)
    picture = to_numpy_image(image)
    if not isinstance(heat, (torch.Tensor, np.ndarray)):
        raise ValueError(f"heat must be a tensor or a numpy array, got {type(heat).__name__}")
    heat_np = heat.detach().cpu().float().numpy() if isinstance(heat, torch.Tensor) else np.asarray(heat, dtype=float)
    if heat_np.ndim != 2 or heat_np.size == 0:
        raise ValueError(f"heat must be (h, w), got shape {heat_np.shape}")
    if not np.isfinite(heat_np).all():
        raise ValueError("heat must be finite, got NaN or inf")
    height, width = picture.shape[:2]
    ax.imshow(picture, cmap="gray", vmin=0, vmax=1, extent=(0, width, height, 0))
    ax.imshow(heat_np, cmap=cmap, alpha=alpha, extent=(0, width, height, 0), interpolation="nearest")
    ax.axis("off")


def draw_box(
    ax: Axes,
    box: Sequence[float] | torch.Tensor,
    color: str = "lime",
    label: str | None = None,
    linewidth: float = 2.0,
) -> None:
    """Draw an ``(x1, y1, x2, y2)`` box in pixel coordinates, with an optional label above it."""
    if not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    if isinstance(box, torch.Tensor):
        box = box.detach().cpu().flatten().tolist() if box.numel() == 4 else box.tolist()
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError) as error:
        raise ValueError(f"box must be four numbers (x1, y1, x2, y2), got {box!r}") from error
    if not all(map(math.isfinite, (x1, y1, x2, y2))) or x2 < x1 or y2 < y1:
        raise ValueError(f"box must be finite (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, got {box!r}")
    checks.positive_float(linewidth, "linewidth")
    _color(color)
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=linewidth))
    if label:
        ax.text(x1, y1 - 1, label, color=color, fontsize=8, va="bottom")


def plot_history(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    keys: Sequence[str],
    x: str = "epoch",
    titles: Sequence[str] | None = None,
    size: tuple[float, float] = (4.2, 3.0),
) -> Figure:
    """Learning curves: one panel per ``key``, one line per named run.

    ``histories`` maps a run's name to the history returned by
    :func:`attnlib.train.fit`. Runs lacking a key are skipped in that panel.
    """
    if isinstance(keys, str):
        raise ValueError(f"keys must be a list of logged quantities, got the str {keys!r} (write [{keys!r}])")
    if not isinstance(keys, Sequence) or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"keys must be a list of logged quantities (str), got {keys!r}")
    if not isinstance(x, str):
        raise ValueError(f"x must name the logged quantity on the x axis (a str), got {x!r}")
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"size must be (width, height) in inches, got {size!r}")
    checks.positive_float(size[0], "size[0]")
    checks.positive_float(size[1], "size[1]")
    if not keys:
        raise ValueError("keys must name at least one logged quantity")
    if not isinstance(histories, Mapping) or not all(isinstance(h, Mapping) for h in histories.values()):
        raise ValueError("histories must map each run's name to its history (a dict of lists)")
    if not histories:
        raise ValueError("histories must hold at least one run, got an empty mapping")
    if not any(x in h for h in histories.values()):
        raise ValueError(
            f"x={x!r} is not logged by any history; they log {sorted({k for h in histories.values() for k in h})}"
        )
    if titles is not None and len(titles) != len(keys):
        raise ValueError(f"titles must have one entry per key ({len(keys)}), got {len(titles)}")
    if not any(key in h for key in keys for h in histories.values()):
        raise ValueError(
            f"keys {list(keys)} name no quantity of any history; they log {sorted({k for h in histories.values() for k in h})}"
        )
    fig, axes = plt.subplots(1, len(keys), figsize=(size[0] * len(keys), size[1]), squeeze=False)
    for panel, key in enumerate(keys):
        ax = axes[0, panel]
        for name, history in histories.items():
            if key in history and x in history:
                ax.plot(history[x][: len(history[key])], history[key], marker=".", label=name)
        ax.set_xlabel(x)
        ax.set_title(titles[panel] if titles else key)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def source_code(obj: object, docstring: bool = False) -> str:
    """The source of a library function or class, for a chapter to print where the code is the explanation.

    With ``docstring=False`` (default) the docstring is dropped, so what is
    shown is the signature and the code.
    """
    checks.flag(docstring, "docstring")
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (TypeError, OSError) as error:
        raise ValueError(f"obj must be a function, class or module defined in a source file, got {obj!r}") from error
    if docstring:
        return source
    tree = ast.parse(source)
    node = tree.body[0]
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        lines = source.splitlines()
        first, last = body[0].lineno - 1, body[0].end_lineno
        return "\n".join(lines[:first] + lines[last:])
    return source


def show_code(obj: object, docstring: bool = False, from_line: str | None = None) -> Any:
    """Display the source of a library function or class, syntax-highlighted, in a notebook or the book.

    The chapter's markdown beside it links to the object's API page; this shows the code itself, as
    :func:`source_code` extracts it (docstring dropped by default).

    Parameters
    ----------
    obj
        A function, method or class of the library.
    docstring
        Keep the docstring.
    from_line
        Show the code from the first line that contains this text (skipping argument checks, say);
        ``None`` shows it all.

    Returns
    -------
    IPython.display.Code
        Rendered with highlighting in Jupyter, Colab and the HTML book (no JavaScript needed).
    """
    from IPython.display import Code

    source = source_code(obj, docstring=docstring)
    if from_line is not None:
        from_line = checks.string(from_line, "from_line")
        lines = source.splitlines()
        start = next((k for k, line in enumerate(lines) if from_line in line), None)
        if start is None:
            raise ValueError(f"from_line: no line of {getattr(obj, '__qualname__', obj)!r} contains {from_line!r}")
        source = textwrap.dedent("\n".join(lines[start:]))
    return Code(source, language="python")


# matplotlib's player draws its buttons with Font Awesome icons fetched from a CDN; offline they would be blank.
_PLAYER_SYMBOLS = {
    "fa-minus": "\u2212",  # slower
    "fa-fast-backward": "\u23ee",  # first frame
    "fa-step-backward": "\u23f4",  # previous frame
    "fa-play fa-flip-horizontal": "\u25c0",  # play backwards
    "fa-pause": "\u23f8",
    "fa-play": "\u25b6",
    "fa-step-forward": "\u23f5",  # next frame
    "fa-fast-forward": "\u23ed",  # last frame
    "fa-plus": "+",  # faster
}


def animation_html(animation: Any, default_mode: str = "loop") -> Any:
    """A matplotlib animation as a self-contained HTML player that works in the static book, offline.

    The frames are embedded as images and the player (slider, step and play buttons) is inline JavaScript, so it
    runs without a kernel, in the HTML book as in Jupyter and Colab. Unlike ``animation.to_jshtml()`` as
    matplotlib writes it, nothing is fetched from a CDN: the buttons' icons are plain characters. The figure
    is closed, so it is not drawn a second time below the player.

    Parameters
    ----------
    animation
        A ``matplotlib.animation.Animation`` (``FuncAnimation``, ``ArtistAnimation``).
    default_mode
        What the player does at the last frame: ``"loop"``, ``"once"`` or ``"reflect"``.

    Returns
    -------
    IPython.display.HTML
    """
    from IPython.display import HTML
    from matplotlib import animation as mpl_animation

    if not isinstance(animation, mpl_animation.Animation):
        raise ValueError(f"animation must be a matplotlib.animation.Animation, got {type(animation).__name__}")
    default_mode = checks.one_of(default_mode, ("loop", "once", "reflect"), "default_mode")
    html = animation.to_jshtml(default_mode=default_mode)
    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", html)

    def symbol(match: re.Match) -> str:
        icon = match.group(1).removeprefix("fa ").strip()
        return f'<span aria-hidden="true">{_PLAYER_SYMBOLS.get(icon, "?")}</span>'

    html = re.sub(r'<i class="(fa [^"]*)"></i>', symbol, html)
    plt.close(animation._fig)
    return HTML(html)
