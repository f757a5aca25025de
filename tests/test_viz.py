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


def _widget_bad():
    from attnlib.ram import RecurrentAttentionModel
    from attnlib.widgets import draw_glimpse_view, glimpse_explorer

    torch.manual_seed(0)
    model = RecurrentAttentionModel(glimpse_size=6, n_scales=2, n_glimpses=2)
    image = torch.rand(1, 28, 28)
    return [
        (lambda: draw_glimpse_view(torch.nn.Linear(2, 2), image, (0.0, 0.0)), "model"),
        (lambda: draw_glimpse_view(model, image.long(), (0.0, 0.0)), "image"),
        (lambda: draw_glimpse_view(model, image * float("nan"), (0.0, 0.0)), "image"),
        (lambda: draw_glimpse_view(model, image[:, :0], (0.0, 0.0)), "image"),
        (lambda: draw_glimpse_view(model, image, (float("nan"), 0.0)), "center"),
        (lambda: draw_glimpse_view(model, image, 0.5), "center"),
        (lambda: draw_glimpse_view(model, image, (0.0, 0.0, 0.0)), "center"),
        (lambda: draw_glimpse_view(model, image, (0.0, 0.0), label=-1), "label"),
        (lambda: glimpse_explorer(model, image), "images"),
        (lambda: glimpse_explorer(model, image[None][:0]), "images"),
        (lambda: glimpse_explorer(model, image[None], labels=torch.tensor([1, 2])), "labels"),
        (lambda: glimpse_explorer(None, image[None]), "model"),
    ]


def _ax():
    return plt.subplots()[1]


_VIZ_BAD = [
    (lambda: viz.to_numpy_image(torch.zeros(0, 4)), "image"),
    (lambda: viz.to_numpy_image(torch.ones(4, 4, dtype=torch.bool)), "image"),
    (lambda: viz.to_numpy_image("image.png"), "image"),
    (lambda: viz.to_numpy_image(torch.rand(4, 4, 4)), "image"),
    (lambda: viz.show_images(torch.rand(0, 1, 4, 4)), "images"),
    (lambda: viz.show_images(torch.rand(4, 4)), "images"),
    (lambda: viz.show_images(torch.rand(2, 1, 4, 4), ncols=0), "ncols"),
    (lambda: viz.show_images(torch.rand(2, 1, 4, 4), size=-1.0), "size"),
    (lambda: viz.show_images(torch.rand(2, 1, 4, 4), titles="ab"), "titles"),
    (lambda: viz.show_images(torch.rand(2, 1, 4, 4), titles=["a", "b", "c"]), "titles"),
    (lambda: viz.overlay_heatmap(_ax(), torch.rand(4, 4), torch.rand(2, 2), alpha=2.0), "alpha"),
    (lambda: viz.overlay_heatmap(_ax(), torch.rand(4, 4), torch.full((2, 2), float("nan"))), "heat"),
    (lambda: viz.overlay_heatmap(_ax(), torch.rand(4, 4), torch.zeros(0, 2)), "heat"),
    (lambda: viz.overlay_heatmap(_ax(), torch.rand(4, 4), [[0.1, 0.2]]), "heat"),
    (lambda: viz.overlay_heatmap(None, torch.rand(4, 4), torch.rand(2, 2)), "ax"),
    (lambda: viz.overlay_heatmap(_ax(), torch.rand(2, 2, 4, 4), torch.rand(2, 2)), "image"),
    (lambda: viz.draw_box(_ax(), [1, 2, 3]), "box"),
    (lambda: viz.draw_box(_ax(), [1, 2, float("nan"), 4]), "box"),
    (lambda: viz.draw_box(_ax(), [5, 2, 1, 4]), "box"),
    (lambda: viz.draw_box(_ax(), "box"), "box"),
    (lambda: viz.draw_box(_ax(), torch.rand(2, 4)), "box"),
    (lambda: viz.draw_box(_ax(), [1, 2, 3, 4], linewidth=0), "linewidth"),
    (lambda: viz.draw_box([], [1, 2, 3, 4]), "ax"),
    (lambda: viz.plot_history({"a": {"epoch": [1], "loss": [1.0]}}, "loss"), "keys"),
    (lambda: viz.plot_history({"a": {"epoch": [1], "loss": [1.0]}}, []), "keys"),
    (lambda: viz.plot_history({"a": {"epoch": [1], "loss": [1.0]}}, ["los"]), "keys"),
    (lambda: viz.plot_history({}, ["loss"]), "histories"),
    (lambda: viz.plot_history({"a": {"epoch": [1], "loss": [1.0]}}, ["loss"], x="epochs"), "x"),
    (lambda: viz.plot_history({"a": [1.0]}, ["loss"]), "histories"),
    (lambda: viz.plot_history({"a": {"epoch": [1], "loss": [1.0]}}, ["loss"], titles=["a", "b"]), "titles"),
    (lambda: viz.source_code(3), "obj"),
    *_widget_bad(),
]


@pytest.mark.parametrize("call, name", _VIZ_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_VIZ_BAD)])
def test_viz_and_widgets_refuse_bad_input(call, name):
    try:
        with pytest.raises(ValueError, match=name):
            call()
    finally:
        plt.close("all")


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: viz.show_images(torch.rand(2, 1, 8, 8), cmap="greys_typo"), "cmap"),
        (lambda: viz.overlay_heatmap(plt.subplots()[1], torch.rand(8, 8), torch.rand(4, 4), cmap=["gray"]), "cmap"),
        (lambda: viz.draw_box(plt.subplots()[1], [0, 0, 2, 2], color="limee"), "color"),
        (lambda: viz.plot_history({"a": {"epoch": [1], "loss": [1.0]}}, ["loss"], size=(4.0,)), "size"),
        (lambda: viz.plot_history({"a": {"epoch": [1], "loss": [1.0]}}, ["loss"], x=["epoch"]), "x"),
        (lambda: viz.source_code(viz.show_images, docstring="yes"), "docstring"),
    ],
)
def test_plot_options_are_checked_before_matplotlib_sees_them(call, name):
    with pytest.raises(ValueError, match=rf"^{name}"):
        call()
    plt.close("all")


def test_show_code_highlights_and_starts_where_asked():
    from attnlib import glimpse

    code = viz.show_code(glimpse.extract_glimpses, from_line="_validate(")
    assert code.data.startswith("_validate(")
    assert '<div class="highlight"' in code._repr_html_() or "highlight" in code._repr_html_()
    with pytest.raises(ValueError, match="from_line"):
        viz.show_code(glimpse.extract_glimpses, from_line="no such line")


def test_animation_html_is_self_contained():
    from matplotlib import animation

    fig, ax = plt.subplots(figsize=(2, 2))
    (line,) = ax.plot([0, 1])
    anim = animation.FuncAnimation(fig, lambda k: line.set_ydata([0, k]), frames=3)
    html = viz.animation_html(anim).data
    assert "http" not in html, "nothing may be fetched from the network"
    assert html.count("data:image/png;base64") == 3
    assert 'title="Next frame"' in html and "fa-" not in html.split('<div class="animation">')[1]
    assert not plt.fignum_exists(fig.number), "the figure is closed so it is not drawn twice"
    with pytest.raises(ValueError, match="animation"):
        viz.animation_html(fig)
    with pytest.raises(ValueError, match="default_mode"):
        viz.animation_html(animation.FuncAnimation(plt.figure(), lambda k: None, frames=2), default_mode="bounce")
