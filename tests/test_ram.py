"""Tests of attnlib.ram (and its baselines): shapes, the policy, the hybrid loss's gradients, detaching, learning."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal
from torch.nn import functional as F

from attnlib import train
from attnlib.data.canvas import CanvasLoader
from attnlib.ram import RAMOutput, RecurrentAttentionModel, hybrid_loss, ram_predict, ram_step
from attnlib.ram_baselines import FullyConnected, SmallCNN, count_flops, ram_flops
from attnlib.reinforce import baseline_loss, score_function_surrogate


def small_model(**kw) -> RecurrentAttentionModel:
    torch.manual_seed(0)
    args = {
        "glimpse_size": 6,
        "n_scales": 2,
        "n_glimpses": 4,
        "glimpse_hidden": 16,
        "location_hidden": 16,
        "hidden": 32,
    }
    args.update(kw)
    return RecurrentAttentionModel(**args)


def test_forward_shapes_and_conventions():
    model = small_model()
    images = torch.rand(5, 1, 28, 28)
    out = model(images, sample=True, generator=torch.Generator().manual_seed(0))
    assert out.logits.shape == (5, 10)
    assert out.locations.shape == (5, 4, 2) and out.means.shape == (5, 4, 2)
    assert out.log_probs.shape == (5, 4) and out.baselines.shape == (5, 4)
    assert torch.equal(out.locations[:, 0], torch.zeros(5, 2))  # the first glimpse is at the centre
    assert torch.equal(out.log_probs[:, 0], torch.zeros(5))
    assert out.locations.abs().max() <= 1


def test_evaluation_follows_the_mean_and_sampling_is_seeded():
    model = small_model(core="lstm")
    images = torch.rand(4, 1, 28, 28)
    model.eval()
    a, b = model(images), model(images)
    assert torch.equal(a.logits, b.logits)
    torch.testing.assert_close(a.locations[:, 1:], a.means[:, 1:].clamp(-1, 1))
    s1 = model(images, sample=True, generator=torch.Generator().manual_seed(3))
    s2 = model(images, sample=True, generator=torch.Generator().manual_seed(3))
    s3 = model(images, sample=True, generator=torch.Generator().manual_seed(4))
    assert torch.equal(s1.locations, s2.locations) and not torch.equal(s1.locations, s3.locations)


def test_log_prob_is_the_gaussian_density_of_the_location():
    # Eq. (ram-policy): log N(l; mu, sigma^2 I) = -|l - mu|^2 / (2 sigma^2) - log(2 pi sigma^2)
    model = small_model(std=0.2)
    images = torch.rand(3, 1, 28, 28)
    forced = torch.rand(3, 4, 2) * 1.6 - 0.8
    out = model(images, locations=forced)
    assert torch.equal(out.locations, forced)
    expected = -((forced[:, 1:] - out.means[:, 1:]) ** 2).sum(-1) / (2 * 0.2**2) - math.log(2 * math.pi * 0.2**2)
    torch.testing.assert_close(out.log_probs[:, 1:], expected)


def test_hybrid_loss_gradients_match_the_formulas():
    # Build the output from leaves so every gradient has a closed form (Eq. (ram-hybrid)).
    gen = torch.Generator().manual_seed(0)
    batch, steps, std = 6, 3, 0.3
    logits = torch.randn(batch, 10, generator=gen, requires_grad=True)
    labels = torch.randint(0, 10, (batch,), generator=gen)
    labels[:3] = logits.detach()[:3].argmax(-1)  # some right, some (likely) wrong
    mu = torch.randn(batch, steps, 2, generator=gen).mul(0.3).requires_grad_()
    locations = torch.randn(batch, steps, 2, generator=gen).mul(0.3)
    baselines = torch.rand(batch, steps, generator=gen).requires_grad_()
    log_probs = torch.distributions.Normal(mu, std).log_prob(locations).sum(-1)
    out = RAMOutput(logits, locations, log_probs, baselines, mu)
    loss, logs = hybrid_loss(out, labels)
    g_logits, g_mu, g_b = torch.autograd.grad(loss, (logits, mu, baselines))
    reward = (logits.argmax(-1) == labels).float()
    # REINFORCE: d/dmu of -(1/B) sum_t (R - b_t) log pi = -(1/B) (R - b_t) (l - mu) / sigma^2
    expected_mu = -((reward[:, None] - baselines.detach())[..., None] * (locations - mu.detach()) / std**2) / batch
    torch.testing.assert_close(g_mu, expected_mu)
    # the baseline learns only from its squared error (it is detached inside the REINFORCE term)
    torch.testing.assert_close(g_b, 2 * (baselines.detach() - reward[:, None]) / (batch * steps))
    # the reward is detached: logits learn only from cross-entropy
    torch.testing.assert_close(g_logits, (F.softmax(logits.detach(), -1) - F.one_hot(labels, 10)) / batch)
    # the value is the sum of the three attnlib pieces
    reference = (
        F.cross_entropy(logits, labels)
        + score_function_surrogate(log_probs, reward, baselines)
        + baseline_loss(baselines, reward)
    )
    torch.testing.assert_close(loss, reference)
    assert set(logs) == {"loss", "ce", "reinforce", "baseline", "reward"}


def _policy_grad(model, loss_of):
    out = model(torch.rand(4, 1, 28, 28), sample=True, generator=torch.Generator().manual_seed(1))
    model.zero_grad()
    loss_of(out).backward()
    return model.policy.weight.grad


def test_what_is_detached():
    labels = torch.arange(4)

    def ce(out):
        return F.cross_entropy(out.logits, labels)

    # the sampled location is detached: cross-entropy cannot reach the policy
    grad = _policy_grad(small_model(), ce)
    assert grad is None or torch.count_nonzero(grad) == 0
    # without the detach it can, through the sensor's sub-pixel interpolation and the location encoder
    grad = _policy_grad(small_model(detach_location=False), ce)
    assert grad is not None and torch.count_nonzero(grad) > 0
    # the baseline reads a detached state: its loss trains only the baseline
    model = small_model()
    out = model(torch.rand(4, 1, 28, 28), sample=True)
    model.zero_grad()
    baseline_loss(out.baselines, torch.ones(4)).backward()
    assert all(
        p.grad is None or torch.count_nonzero(p.grad) == 0
        for n, p in model.named_parameters()
        if not n.startswith("baseline")
    )
    # the policy's input is detached by default, so REINFORCE stops at the policy layer ...
    model = small_model()
    out = model(torch.rand(4, 1, 28, 28), sample=True)
    model.zero_grad()
    score_function_surrogate(out.log_probs, torch.ones(4)).backward()
    assert model.core.weight_hh.grad is None or torch.count_nonzero(model.core.weight_hh.grad) == 0
    assert torch.count_nonzero(model.policy.weight.grad) > 0
    # ... unless asked otherwise (the paper's variant): then it reaches the core
    model = small_model(detach_policy_input=False)
    out = model(torch.rand(4, 1, 28, 28), sample=True)
    model.zero_grad()
    score_function_surrogate(out.log_probs, torch.ones(4)).backward()
    assert torch.count_nonzero(model.core.weight_hh.grad) > 0


def test_random_glimpses_take_no_decisions():
    model = small_model(random_glimpses=True)
    out = model(torch.rand(8, 1, 28, 28), sample=False, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.log_probs, torch.zeros(8, 4))
    assert out.locations[:, 0].abs().sum() > 0 and out.locations.abs().max() <= 1


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="n_glimpses"):
        RecurrentAttentionModel(n_glimpses=0)
    with pytest.raises(ValueError, match="core"):
        RecurrentAttentionModel(core="gru")
    with pytest.raises(ValueError, match="std"):
        RecurrentAttentionModel(std=0.0)
    model = small_model()
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="locations"):
        model(torch.rand(2, 1, 28, 28), locations=torch.zeros(2, 3, 2))
    out = model(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="labels"):
        hybrid_loss(out, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="image_shape"):
        count_flops(SmallCNN(), (28, 28))


def test_flops_ram_is_flat_cnn_grows():
    model = small_model(glimpse_size=12, n_scales=3)
    assert ram_flops(model, (1, 60, 60)) == ram_flops(model, (1, 100, 100))
    cnn = SmallCNN()
    small, large = count_flops(cnn, (1, 60, 60)), count_flops(cnn, (1, 100, 100))
    assert large > 2.5 * small
    fc = FullyConnected(784)
    assert count_flops(fc, (1, 28, 28)) == 2 * (784 * 256 + 256 * 256 + 256 * 10)


def test_learns_centred_digits_well_above_chance():
    train.seed_everything(0)
    loader = CanvasLoader("train", 28, batch_size=32, seed=0, limit=2000)
    test = CanvasLoader("test", 28, batch_size=500, seed=0, fresh=False)
    model = RecurrentAttentionModel(
        glimpse_size=8, n_scales=2, n_glimpses=4, glimpse_hidden=64, location_hidden=32, hidden=128
    )
    # 3 epochs of 2,000 digits reach about 0.75 here
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    train.fit(model, loader, optimizer, epochs=3, step=ram_step, progress=False)
    acc = train.evaluate(model, test, ram_predict)
    assert acc > 0.5, acc


def test_explorer_view_draws_and_validates():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attnlib.widgets import draw_glimpse_view, glimpse_explorer

    model = small_model(glimpse_size=12, n_scales=3)
    image = torch.rand(1, 60, 60)
    fig = draw_glimpse_view(model, image, (0.3, -0.2), label=4)
    assert len(fig.axes) == 3 + 2
    plt.close(fig)
    with pytest.raises(ValueError, match="center"):
        draw_glimpse_view(model, image, (1.5, 0.0))
    with pytest.raises(ValueError, match="image"):
        draw_glimpse_view(model, image[0], (0.0, 0.0))
    assert glimpse_explorer(model, image[None].repeat(3, 1, 1, 1)) is not None
    out = model(image[None], sample=False, start=torch.tensor([[0.5, 0.5]]))
    assert torch.equal(out.locations[0, 0], torch.tensor([0.5, 0.5]))


def test_log_prob_is_of_the_unclamped_sample_and_the_sensor_sees_the_clamped_one():
    # The clamp belongs to the environment (chapter 2, section 1): log pi is the Gaussian density of the
    # raw sample l_t ~ N(mu_t, sigma^2), even where l_t leaves [-1, 1]^2 and the sensor looks at the clamp.
    torch.manual_seed(0)
    model = small_model(std=0.5)
    with torch.no_grad():
        model.policy.bias.fill_(3.0)  # tanh(3) ~ 0.995: about half of the samples leave the image
    images = torch.rand(64, 1, 28, 28)
    out = model(images, sample=True, generator=torch.Generator().manual_seed(7))
    replay = torch.Generator().manual_seed(7)
    raw = torch.stack(
        [out.means[:, t] + 0.5 * torch.randn(64, 2, generator=replay) for t in range(1, out.means.shape[1])], 1
    )
    assert (raw.abs() > 1).any()
    torch.testing.assert_close(out.locations[:, 1:], raw.clamp(-1, 1))
    expected = Normal(out.means[:, 1:], 0.5).log_prob(raw).sum(-1)
    torch.testing.assert_close(out.log_probs[:, 1:], expected)
    assert torch.all(out.log_probs[:, 0] == 0)


def _bad_ram_calls():
    """(call, argument the message must name): the mistakes a new user makes, for RAM and its baselines."""
    model = small_model()
    images, labels = torch.rand(2, 1, 28, 28), torch.tensor([3, 7])
    out = model(images)
    steps = model.n_glimpses
    return [
        (lambda: RecurrentAttentionModel(glimpse_size=0), "glimpse_size"),  # was reported as "size"
        (lambda: RecurrentAttentionModel(glimpse_size=8.0), "glimpse_size"),
        (lambda: RecurrentAttentionModel(n_scales=0), "n_scales"),
        (lambda: RecurrentAttentionModel(scale_factor=0), "scale_factor"),
        (lambda: RecurrentAttentionModel(n_glimpses=2.5), "n_glimpses"),
        (lambda: RecurrentAttentionModel(in_channels=0), "in_channels"),
        (lambda: RecurrentAttentionModel(n_classes=0), "n_classes"),
        (lambda: RecurrentAttentionModel(hidden=-4), "hidden"),
        (lambda: RecurrentAttentionModel(glimpse_hidden=0), "glimpse_hidden"),
        (lambda: RecurrentAttentionModel(location_hidden=0), "location_hidden"),
        (lambda: RecurrentAttentionModel(core="LSTM"), "core"),
        (lambda: RecurrentAttentionModel(std=-0.1), "std"),
        (lambda: RecurrentAttentionModel(std=float("nan")), "std"),
        (lambda: RecurrentAttentionModel(std=float("inf")), "std"),
        (lambda: RecurrentAttentionModel(random_glimpses="yes"), "random_glimpses"),
        (lambda: RecurrentAttentionModel(detach_location=None), "detach_location"),
        (lambda: model(images[0]), "images"),
        (lambda: model(images.numpy()), "images"),
        (lambda: model((images * 255).to(torch.uint8)), "images"),
        (lambda: model(images, sample="yes"), "sample"),
        (lambda: model(images, generator=0), "generator"),
        (lambda: model(images, locations=torch.zeros(2, steps)), "locations"),
        (lambda: model(images, locations=torch.full((2, steps, 2), 1.5)), "locations"),
        (lambda: model(images, locations=torch.full((2, steps, 2), float("nan"))), "locations"),
        (lambda: model(images, start=torch.zeros(3, 2)), "start"),
        (lambda: model(images, start=torch.full((2, 2), -2.0)), "start"),
        (lambda: model(images, start=[0.0, 0.0]), "start"),
        (lambda: hybrid_loss(out, labels.float()), "labels"),
        (lambda: hybrid_loss(out, torch.tensor([3, 10])), "labels"),  # id == n_classes
        (lambda: hybrid_loss(out, torch.tensor([-1, 3])), "labels"),
        (lambda: hybrid_loss(out, labels[:, None]), "labels"),
        (lambda: hybrid_loss(out, [3, 7]), "labels"),
        (lambda: hybrid_loss(model(images[:0]), labels[:0]), "labels"),  # empty batch: NaN before
        (lambda: hybrid_loss(out.logits, labels), "output"),
        (lambda: hybrid_loss(out, labels, reinforce_weight=-1.0), "reinforce_weight"),
        (lambda: hybrid_loss(out, labels, baseline_weight=float("nan")), "baseline_weight"),
        (lambda: hybrid_loss(out, labels, use_baseline="no"), "use_baseline"),
        (lambda: ram_step(model, images), "batch"),
        (lambda: ram_predict(model, (images,)), "batch"),
        (lambda: FullyConnected(0), "in_features"),
        (lambda: FullyConnected(784, hidden=256), "hidden"),
        (lambda: FullyConnected(784, hidden=(256, 0)), "hidden"),
        (lambda: FullyConnected(784, n_classes=0), "n_classes"),
        (lambda: FullyConnected(784)(torch.rand(2, 1, 60, 60)), "images"),
        (lambda: FullyConnected(784)(torch.rand(2, 784)), "images"),
        (lambda: SmallCNN(width=0), "width"),
        (lambda: SmallCNN(in_channels=0), "in_channels"),
        (lambda: SmallCNN(n_classes=2.0), "n_classes"),
        (lambda: SmallCNN()(torch.rand(2, 3, 28, 28)), "images"),
        (lambda: SmallCNN()(torch.rand(2, 1, 3, 3)), "images"),
        (lambda: SmallCNN()(torch.zeros(2, 1, 28, 28, dtype=torch.long)), "images"),
        (lambda: count_flops(SmallCNN(), (1, 0, 28)), "image_shape"),
        (lambda: count_flops(SmallCNN(), "1x28x28"), "image_shape"),
        (lambda: count_flops("cnn", (1, 28, 28)), "model"),
        (lambda: count_flops(torch.nn.Identity(), (1, 28, 28)), "model"),
        (lambda: ram_flops(SmallCNN(), (1, 28, 28)), "model"),
        (lambda: ram_flops(model, (1, 28)), "image_shape"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_ram_calls())))
def test_bad_inputs_are_refused_naming_the_argument(case):
    """Each mistake is a ValueError naming the caller's argument, never a deep torch error or a NaN loss."""
    call, match = _bad_ram_calls()[case]
    with pytest.raises(ValueError, match=match):
        call()


def test_glimpse_distances_in_pixels():
    """The retina's convention: (-1, -1) is the top-left corner, (1, 1) the bottom-right, x along the width."""
    from attnlib.glimpse import glimpse_distances

    locations = torch.tensor([[[0.0, 0.0], [-1.0, -1.0], [1.0, 1.0], [0.5, -0.5]]])
    target = torch.tensor([[30.0, 20.0]])  # the centre of a 40-high, 60-wide image
    d = glimpse_distances(locations, target, (40, 60))
    expected = torch.tensor([[0.0, math.hypot(30, 20), math.hypot(30, 20), math.hypot(15, 10)]])
    torch.testing.assert_close(d, expected)
    for bad, name in [
        (lambda: glimpse_distances(locations[0], target, (40, 60)), "locations"),
        (lambda: glimpse_distances(locations * 2, target, (40, 60)), "locations"),
        (lambda: glimpse_distances(locations, target[:, :1], (40, 60)), "targets"),
        (lambda: glimpse_distances(locations, torch.full((1, 2), float("nan")), (40, 60)), "targets"),
        (lambda: glimpse_distances(locations, target, (40,)), "image_size"),
        (lambda: glimpse_distances(locations, target, (40, 0)), "image_size"),
    ]:
        with pytest.raises(ValueError, match=name):
            bad()
