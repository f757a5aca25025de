"""Chapter 1: the estimators against exact gradients, the attention operators against their definitions."""

import pytest
import torch

from attnlib import foundations as F


@pytest.fixture
def problem(generator):
    logits = torch.randn(16, generator=generator)
    rewards = torch.rand(16, generator=generator)
    return logits, rewards


def test_exact_gradient_matches_closed_form(problem):
    logits, rewards = problem
    p = logits.softmax(-1)
    # d/dtheta_j sum_i p_i r_i = p_j (r_j - sum_i p_i r_i)
    torch.testing.assert_close(F.exact_policy_gradient(logits, rewards), p * (rewards - (p * rewards).sum()))


@pytest.mark.parametrize("baseline", ["none", "expected", "leave_one_out"])
def test_score_function_is_unbiased(problem, generator, baseline):
    logits, rewards = problem
    est = F.categorical_gradient_estimates(logits, rewards, 4, 20000, baseline, generator)
    exact = F.exact_policy_gradient(logits, rewards)
    stderr = est.std(0) / est.shape[0] ** 0.5
    z = (est.mean(0) - exact).abs() / stderr.clamp_min(1e-8)
    assert z.max() < 5.0, f"estimate deviates by {z.max():.1f} standard errors"


def test_baselines_reduce_variance(problem, generator):
    logits, rewards = problem
    rewards = rewards + 5.0  # a large common offset is what a baseline removes
    var = {
        b: F.categorical_gradient_estimates(logits, rewards, 8, 4000, b, generator).var(0).sum()
        for b in ("none", "expected", "leave_one_out")
    }
    assert var["expected"] < 0.1 * var["none"]
    assert var["leave_one_out"] < 0.1 * var["none"]


def test_variance_falls_as_one_over_n(problem, generator):
    logits, rewards = problem
    v4 = F.categorical_gradient_estimates(logits, rewards, 4, 4000, "none", generator).var(0).sum()
    v64 = F.categorical_gradient_estimates(logits, rewards, 64, 4000, "none", generator).var(0).sum()
    assert 10 < v4 / v64 < 25  # 16 in expectation


def test_estimates_are_deterministic_given_generator(problem):
    logits, rewards = problem
    a = F.categorical_gradient_estimates(logits, rewards, 4, 10, "none", torch.Generator().manual_seed(3))
    b = F.categorical_gradient_estimates(logits, rewards, 4, 10, "none", torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_gaussian_closed_form_against_monte_carlo(generator):
    mu, center = torch.tensor([0.2, -0.1]), torch.tensor([0.5, 0.3])
    locations = mu + 0.3 * torch.randn(400000, 2, generator=generator)
    mc = torch.exp(-((locations - center) ** 2).sum(-1) / (2 * 0.25**2)).mean()
    torch.testing.assert_close(F.gaussian_bump_value(mu, 0.3, center, 0.25), mc, atol=2e-3, rtol=0)
    # the gradient formula against autograd of the closed form
    m = mu.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(F.gaussian_bump_value(m, 0.3, center, 0.25), m)
    torch.testing.assert_close(F.gaussian_bump_gradient(mu, 0.3, center, 0.25), auto)


@pytest.mark.parametrize("method", ["score", "reparam"])
def test_gaussian_estimators_are_unbiased(generator, method):
    mu, center = torch.tensor([0.2, -0.1]), torch.tensor([0.5, 0.3])
    est = F.gaussian_gradient_estimates(mu, 0.3, center, 0.25, 8, 20000, method, generator)
    exact = F.gaussian_bump_gradient(mu, 0.3, center, 0.25)
    z = (est.mean(0) - exact).abs() / (est.std(0) / est.shape[0] ** 0.5)
    assert z.max() < 5.0


def test_reparameterisation_has_lower_variance_here(generator):
    mu, center = torch.tensor([0.2, -0.1]), torch.tensor([0.5, 0.3])
    score = F.gaussian_gradient_estimates(mu, 0.3, center, 0.25, 8, 4000, "score", generator).var(0).sum()
    reparam = F.gaussian_gradient_estimates(mu, 0.3, center, 0.25, 8, 4000, "reparam", generator).var(0).sum()
    assert reparam < score


def test_image_to_cells_reading_order():
    image = torch.arange(16.0).view(1, 1, 4, 4)
    cells = F.image_to_cells(image, 2)
    assert cells.shape == (1, 4, 4)
    torch.testing.assert_close(cells[0, 1], torch.tensor([2.0, 3.0, 6.0, 7.0]))  # top-right cell
    with pytest.raises(ValueError, match="grid"):
        F.image_to_cells(image, 3)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        F.image_to_cells(image[0], 2)


def test_soft_attention_is_a_convex_combination(generator):
    values = torch.randn(3, 5, 7, generator=generator)
    scores = torch.randn(3, 5, generator=generator)
    context, weights = F.soft_attention(values, scores)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    torch.testing.assert_close(context, torch.einsum("bn,bnd->bd", scores.softmax(-1), values))


def test_hard_attention_samples_from_the_softmax(generator):
    values = torch.eye(4).expand(20000, 4, 4)
    scores = torch.tensor([0.0, 1.0, 2.0, -1.0]).expand(20000, 4).clone().requires_grad_(True)
    context, index, log_prob = F.hard_attention(values, scores, generator)
    torch.testing.assert_close(context, torch.nn.functional.one_hot(index, 4).float())
    freq = index.bincount(minlength=4).float() / 20000
    torch.testing.assert_close(freq, scores.detach()[0].softmax(-1), atol=0.015, rtol=0)
    log_prob.sum().backward()  # the selection is not differentiable; its log-probability is
    assert scores.grad is not None and torch.isfinite(scores.grad).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="values must be"):
        F.soft_attention(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="baseline"):
        F.categorical_gradient_estimates(torch.zeros(3), torch.zeros(3), 2, 2, "mean")
    with pytest.raises(ValueError, match="leave_one_out"):
        F.categorical_gradient_estimates(torch.zeros(3), torch.zeros(3), 1, 2, "leave_one_out")
    with pytest.raises(ValueError, match="sigma"):
        F.gaussian_bump_value(torch.zeros(2), 0.0, torch.zeros(2), 1.0)
    with pytest.raises(ValueError, match="method"):
        F.gaussian_gradient_estimates(torch.zeros(2), 1.0, torch.zeros(2), 1.0, 2, 2, "pathwise")


def _bad_foundations_calls():
    """(call, argument the message must name): the mistakes a new user makes."""
    cells, scores, z = torch.rand(2, 4, 5), torch.zeros(2, 4), torch.zeros(3)
    mu, c = torch.zeros(2), torch.zeros(2)
    nan = float("nan")
    model = F.GlanceAndLook("hard")
    images, labels = torch.rand(2, 1, 56, 56), torch.tensor([1, 2])
    return [
        (lambda: F.image_to_cells(torch.rand(1, 28, 28), 2), "images"),
        (lambda: F.image_to_cells(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), 2), "images"),
        (lambda: F.image_to_cells(torch.rand(1, 1, 28, 28), 0), "grid"),
        (lambda: F.image_to_cells(torch.rand(1, 1, 28, 28), 2.0), "grid"),
        (lambda: F.image_to_cells(torch.rand(1, 1, 28, 28), 3), "grid"),
        (lambda: F.soft_attention(cells, scores[:1]), "values"),
        (lambda: F.soft_attention(cells[:, :0], scores[:, :0]), "scores"),
        (lambda: F.soft_attention(cells.long(), scores), "values"),
        (lambda: F.soft_attention(cells, scores.long()), "scores"),
        (lambda: F.hard_attention(cells, torch.full((2, 4), nan)), "scores"),
        (lambda: F.hard_attention(cells, scores, generator=0), "generator"),
        (lambda: F.hard_attention(cells.numpy(), scores), "values"),
        (lambda: F.exact_policy_gradient(torch.zeros(0), torch.zeros(0)), "logits"),
        (lambda: F.exact_policy_gradient(torch.zeros(3, dtype=torch.long), z), "logits"),
        (lambda: F.exact_policy_gradient(torch.tensor([0.0, nan, 0.0]), z), "logits"),
        (lambda: F.exact_policy_gradient(z, torch.tensor([0.0, float("inf"), 0.0])), "rewards"),
        (lambda: F.exact_policy_gradient(z, [1.0, 0.0, 0.0]), "rewards"),
        (lambda: F.categorical_gradient_estimates(z, z, 0, 2), "n_samples"),
        (lambda: F.categorical_gradient_estimates(z, z, 2, 0), "n_repeats"),
        (lambda: F.categorical_gradient_estimates(z, z, 2.0, 2), "n_samples"),
        (lambda: F.categorical_gradient_estimates(z, z, 2, 2, "Expected"), "baseline"),
        (lambda: F.categorical_gradient_estimates(z, torch.tensor([1.0, nan, 0.0]), 2, 2), "rewards"),
        (lambda: F.categorical_gradient_estimates(z, z, 2, 2, generator=1), "generator"),
        (lambda: F.gaussian_bump_value(mu, -1.0, c, 1.0), "sigma"),
        (lambda: F.gaussian_bump_value(mu, nan, c, 1.0), "sigma"),  # passed `sigma <= 0` before
        (lambda: F.gaussian_bump_value(mu, 1.0, c, float("inf")), "width"),
        (lambda: F.gaussian_bump_value(mu, 1.0, c, 0), "width"),
        (lambda: F.gaussian_bump_value(torch.tensor([nan, 0.0]), 1.0, c, 1.0), "mu"),
        (lambda: F.gaussian_bump_value(mu, 1.0, torch.zeros(3), 1.0), "center"),
        (lambda: F.gaussian_bump_value([0.0, 0.0], 1.0, c, 1.0), "mu"),
        (lambda: F.gaussian_bump_gradient(mu, "1", c, 1.0), "sigma"),
        (lambda: F.gaussian_gradient_estimates(mu, 1.0, c, 1.0, 0, 2, "score"), "n_samples"),
        (lambda: F.gaussian_gradient_estimates(mu, 1.0, c, 1.0, 2, -1, "score"), "n_repeats"),
        (lambda: F.gaussian_gradient_estimates(mu, 1.0, c, 1.0, 2, 2, "Score"), "method"),
        (lambda: F.gaussian_gradient_estimates(torch.zeros(2, 2), 1.0, c, 1.0, 2, 2, "score"), "mu"),
        (lambda: F.GlanceAndLook("Hard"), "mode"),
        (lambda: F.GlanceAndLook(grid=0), "grid"),
        (lambda: F.GlanceAndLook(cell_pixels=0), "cell_pixels"),
        (lambda: F.GlanceAndLook(glance=-8), "glance"),
        (lambda: F.GlanceAndLook(hidden=1.5), "hidden"),
        (lambda: model(torch.rand(2, 1, 28, 28)), "images"),
        (lambda: model(torch.rand(2, 3, 56, 56)), "images"),
        (lambda: model(torch.zeros(2, 1, 56, 56, dtype=torch.uint8)), "images"),
        (lambda: F.glance_and_look_step(model, (images, torch.tensor([1, 10])), None), "labels"),
        (lambda: F.glance_and_look_step(model, (images, torch.tensor([-1, 2])), None), "labels"),
        (lambda: F.glance_and_look_step(model, (images, labels.float()), None), "labels"),
        (lambda: F.glance_and_look_step(model, (images, labels[:1]), None), "labels"),
        (lambda: F.glance_and_look_step(model, (images[:0], labels[:0]), None), "labels"),
        (lambda: F.glance_and_look_step(model, images, None), "batch"),
        (lambda: F.glance_and_look_step(model, (images, labels), 0.5), "baseline"),
        (lambda: F.glance_and_look_step(torch.nn.Linear(2, 2), (images, labels), None), "model"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_foundations_calls())))
def test_bad_inputs_are_refused_naming_the_argument(case):
    """Each mistake is a ValueError naming the caller's argument, never a NaN or a deep torch error."""
    call, match = _bad_foundations_calls()[case]
    with pytest.raises(ValueError, match=match):
        call()
