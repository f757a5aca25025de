"""Interactive explorers for the chapters (ipywidgets); each has a static twin that draws one view.

:func:`glimpse_explorer` (Chapter 2): move the first glimpse of a trained RAM over an
image with two sliders and see what the retina sees at each scale, the path the policy
then follows and the model's class probabilities. :func:`draw_glimpse_view` draws the
same view for one location (what the rendered book shows).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from attnlib import checks
from attnlib.glimpse import extract_glimpses, glimpse_boxes

__all__ = ["draw_glimpse_view", "glimpse_explorer"]

_SCALE_COLOURS = ("lime", "gold", "tomato", "violet")


def _check_model(model: object) -> None:
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "sensor"):
        raise ValueError(f"model must be a RecurrentAttentionModel (with a glimpse sensor), got {type(model).__name__}")


@torch.no_grad()
def draw_glimpse_view(model, image: torch.Tensor, center: tuple[float, float], label: int | None = None) -> Figure:
    """One view of the explorer: image with the retina's squares and the path, the scales, the class probabilities.

    Parameters
    ----------
    model
        A :class:`~attnlib.ram.RecurrentAttentionModel`.
    image
        ``(C, H, W)``.
    center
        ``(x, y)`` in ``[-1, 1]``: the first glimpse; the policy's mean chooses the rest.
    """
    _check_model(model)
    checks.tensor(image, "image")
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}")
    checks.tensor(image, "image", dtype="float")
    if image.numel() == 0:
        raise ValueError(f"image must not be empty, got shape {tuple(image.shape)}")
    checks.finite(image, "image")
    try:
        x, y = (float(v) for v in center)
    except (TypeError, ValueError) as error:
        raise ValueError(f"center must be two numbers (x, y) in [-1, 1], got {center!r}") from error
    if not (-1 <= x <= 1 and -1 <= y <= 1):
        raise ValueError(f"center must lie in [-1, 1]^2, got {center}")
    if label is not None and (not isinstance(label, int) or isinstance(label, bool) or label < 0):
        raise ValueError(f"label must be a non-negative int or None, got {label!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batch = image[None].to(device)
    start = torch.tensor([[x, y]], device=device, dtype=batch.dtype)
    out = model(batch, sample=False, start=start)
    model.train(was_training)
    probs = out.logits.softmax(-1)[0].cpu()
    sensor = model.sensor
    scales = extract_glimpses(batch, start, sensor.size, sensor.n_scales, sensor.scale_factor)[0].cpu()
    height, width = image.shape[-2:]
    fig, axes = plt.subplots(
        1,
        sensor.n_scales + 2,
        figsize=(2.4 * (sensor.n_scales + 2), 2.6),
        gridspec_kw={"width_ratios": [1.4] + [1] * sensor.n_scales + [1.6]},
    )
    ax = axes[0]
    ax.imshow(image[0].cpu().numpy(), cmap="gray", vmin=0, vmax=1, extent=(0, width, height, 0))
    boxes = glimpse_boxes(start.cpu(), (height, width), sensor.size, sensor.n_scales, sensor.scale_factor)[0]
    for k, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.2, ec=_SCALE_COLOURS[k % 4]))
    path = out.locations[0].cpu()
    ax.plot((path[:, 0] + 1) / 2 * width, (path[:, 1] + 1) / 2 * height, "c.-", lw=1, ms=4)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_title("image, retina, path", fontsize=9)
    ax.axis("off")
    for k in range(sensor.n_scales):
        axes[k + 1].imshow(scales[k, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        axes[k + 1].set_title(f"scale {k} ({sensor.size * sensor.scale_factor**k}px)", fontsize=9)
        axes[k + 1].axis("off")
    bar = axes[-1]
    colours = ["tab:green" if label is not None and c == label else "tab:blue" for c in range(len(probs))]
    bar.barh(range(len(probs)), probs.numpy(), color=colours)
    bar.set_yticks(range(len(probs)))
    bar.set_xlim(0, 1)
    bar.invert_yaxis()
    bar.set_title("p(class)", fontsize=9)
    fig.tight_layout()
    return fig


def glimpse_explorer(model, images: torch.Tensor, labels: torch.Tensor | None = None):
    """An ipywidgets explorer over ``images (N, C, H, W)``: sliders for the image index and the first glimpse.

    Returns the widget (display it as the last expression of a cell).
    """
    import ipywidgets as widgets

    _check_model(model)
    checks.tensor(images, "images")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    checks.tensor(images, "images", dtype="float")
    if images.shape[0] == 0:
        raise ValueError("images must hold at least one image, got 0")
    if labels is not None:
        checks.tensor(labels, "labels", shape=(images.shape[0],), dtype="int")
    index = widgets.IntSlider(0, 0, len(images) - 1, description="image")
    x = widgets.FloatSlider(0.0, min=-1, max=1, step=0.05, description="x")
    y = widgets.FloatSlider(0.0, min=-1, max=1, step=0.05, description="y")

    def show(i: int, x: float, y: float) -> None:
        label = None if labels is None else int(labels[i])
        draw_glimpse_view(model, images[i], (x, y), label)
        plt.show()

    output = widgets.interactive_output(show, {"i": index, "x": x, "y": y})
    return widgets.VBox([widgets.HBox([index, x, y]), output])
