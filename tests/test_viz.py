import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from attnlib import reinforce, viz


def test_plots_draw_without_error():
    fig = viz.show_images(torch.rand(3, 1, 8, 8), titles=["a", "b", "c"], ncols=2)
    assert len(fig.axes) == 4
    fig, ax = plt.subplots()
    viz.overlay_heatmap(ax, torch.rand(1, 28, 28), torch.rand(4, 4))
    viz.draw_box(ax, [1, 2, 10, 12], label="x")
    assert len(ax.images) == 2 and len(ax.patches) == 1
    fig = viz.plot_history({"a": {"epoch": [1, 2], "loss": [1.0, 0.5]}}, ["loss"])
    assert fig.axes[0].lines
    plt.close("all")


def test_bad_inputs():
    with pytest.raises(ValueError, match="titles"):
        viz.show_images(torch.rand(2, 1, 4, 4), titles=["a"])
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="heat"):
        viz.overlay_heatmap(ax, torch.rand(4, 4), torch.rand(4))
    with pytest.raises(ValueError, match="image"):
        viz.to_numpy_image(torch.rand(2, 2, 4, 4))
    plt.close("all")


def test_source_code_drops_the_docstring():
    code = viz.source_code(reinforce.score_function_surrogate)
    assert code.startswith("def score_function_surrogate(") and '"""' not in code
    assert '"""' in viz.source_code(reinforce.score_function_surrogate, docstring=True)
