"""Tests of attnlib.draw (Chapter 4): the filterbank against its per-pixel formula, gradients,
the KL term and the bound against Monte Carlo, bad inputs, and two learning tests."""

from __future__ import annotations

import math

import pytest
import torch

from attnlib import draw


def _window(raw: list[list[float]], h: int, w: int, n: int, dtype=torch.float64) -> draw.Window:
    return draw.attention_window(torch.tensor(raw, dtype=dtype), h, w, n)


def test_window_parameters_follow_the_paper():
    # zero raw parameters: centre of the image, a grid spanning the image, sigma^2 = gamma = 1
    win = _window([[0.0] * 5], 20, 30, 4)
    assert win.gx.item() == pytest.approx(15.5)
    assert win.gy.item() == pytest.approx(10.5)
    assert win.delta.item() == pytest.approx((30 - 1) / (4 - 1))
    assert win.sigma2.item() == pytest.approx(1.0) and win.gamma.item() == pytest.approx(1.0)
    win = _window([[-1.0, 1.0, math.log(2.0), math.log(0.5), math.log(3.0)]], 20, 30, 4)
    assert win.gx.item() == pytest.approx(0.0) and win.gy.item() == pytest.approx(21.0)
    assert win.delta.item() == pytest.approx(0.5 * 29 / 3)
    assert win.sigma2.item() == pytest.approx(2.0) and win.gamma.item() == pytest.approx(3.0)


def test_filterbank_equals_the_per_pixel_formula():
    h, w, n = 7, 9, 3
    raw = [[0.3, -0.2, math.log(1.7), math.log(0.6), 0.1], [-0.5, 0.4, math.log(0.8), math.log(1.3), -0.2]]
    win = _window(raw, h, w, n)
    fx, fy = draw.filterbank(win, h, w, n)
    assert fx.shape == (2, n, w) and fy.shape == (2, n, h)
    for b in range(2):
        gx, gy, delta, s2 = (float(v[b]) for v in win[:4])
        for i in range(1, n + 1):
            mu_x = gx + (i - n / 2 - 0.5) * delta
            mu_y = gy + (i - n / 2 - 0.5) * delta
            zx = sum(math.exp(-((a - mu_x) ** 2) / (2 * s2)) for a in range(1, w + 1))
            zy = sum(math.exp(-((c - mu_y) ** 2) / (2 * s2)) for c in range(1, h + 1))
            for a in range(1, w + 1):
                want = math.exp(-((a - mu_x) ** 2) / (2 * s2)) / (zx + 1e-8)
                assert fx[b, i - 1, a - 1].item() == pytest.approx(want, rel=1e-9, abs=1e-12)
            for c in range(1, h + 1):
                want = math.exp(-((c - mu_y) ** 2) / (2 * s2)) / (zy + 1e-8)
                assert fy[b, i - 1, c - 1].item() == pytest.approx(want, rel=1e-9, abs=1e-12)
    # read and write against explicit sums over pixels
    img = torch.rand(2, 1, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    patch = torch.rand(2, 1, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    glimpse = draw.read(img, fx, fy, win.gamma)
    painted = draw.write(patch, fx, fy, win.gamma)
    for b in range(2):
        g = float(win.gamma[b])
        for i in range(n):
            for j in range(n):
                want = g * sum(fy[b, i, y] * img[b, 0, y, x] * fx[b, j, x] for y in range(h) for x in range(w))
                assert glimpse[b, 0, i, j].item() == pytest.approx(float(want), rel=1e-9)
        for y in range(h):
            for x in range(w):
                want = sum(fy[b, i, y] * patch[b, 0, i, j] * fx[b, j, x] for i in range(n) for j in range(n)) / g
                assert painted[b, 0, y, x].item() == pytest.approx(float(want), rel=1e-9)


def test_gradcheck_wrt_image_and_the_five_parameters():
    h, w, n = 6, 8, 3
    img = torch.rand(2, 1, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    raw = torch.tensor(
        [[0.2, -0.1, math.log(1.5), math.log(0.7), 0.2], [-0.3, 0.3, math.log(0.9), math.log(1.1), -0.1]],
        dtype=torch.float64,
        requires_grad=True,
    )
    patch = torch.rand(2, 1, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)

    def read_fn(image, params):
        win = draw.attention_window(params, h, w, n)
        fx, fy = draw.filterbank(win, h, w, n)
        return draw.read(image, fx, fy, win.gamma)

    def write_fn(p, params):
        win = draw.attention_window(params, h, w, n)
        fx, fy = draw.filterbank(win, h, w, n)
        return draw.write(p, fx, fy, win.gamma)

    assert torch.autograd.gradcheck(read_fn, (img, raw))
    assert torch.autograd.gradcheck(write_fn, (patch, raw))
    # every one of the five parameters moves the glimpse
    grad = torch.autograd.grad(read_fn(img, raw).sum(), raw)[0]
    assert (grad.abs() > 1e-6).all()


def test_full_coverage_grid_reads_the_image_back():
    h = w = n = 10
    img = torch.rand(3, 1, h, w, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # centre, stride 1 (delta~ = 1 with N = A), narrow filters: F_X and F_Y are almost the identity
    win = _window([[0.0, 0.0, math.log(0.05), 0.0, 0.0]] * 3, h, w, n)
    assert win.delta[0].item() == pytest.approx(1.0)
    fx, fy = draw.filterbank(win, h, w, n)
    assert torch.allclose(draw.read(img, fx, fy, win.gamma), img, atol=1e-3)
    assert torch.allclose(draw.write(img, fx, fy, win.gamma), img, atol=1e-3)
    # wider filters: the read is the image blurred by a normalised Gaussian, no longer the image itself
    win = _window([[0.0, 0.0, math.log(1.0), 0.0, 0.0]] * 3, h, w, n)
    fx, fy = draw.filterbank(win, h, w, n)
    blurred = draw.read(img, fx, fy, win.gamma)
    assert not torch.allclose(blurred, img, atol=1e-2)
    assert torch.allclose(blurred.mean(), img.mean(), atol=0.05)  # rows of F sum to 1: ink is kept
    assert blurred.std() < img.std()


def test_kl_matches_closed_form_and_monte_carlo():
    mu = torch.tensor([[0.5, -1.0, 0.0]], dtype=torch.float64)
    log_sigma = torch.tensor([[0.2, -0.5, 0.0]], dtype=torch.float64)
    sigma = log_sigma.exp()
    closed = sum(
        float(torch.log(1 / s) + (s**2 + m**2) / 2 - 0.5) for m, s in zip(mu[0], sigma[0])
    )  # KL(N(m, s^2) || N(0, 1)) per dimension
    assert draw.kl_standard_normal(mu, log_sigma).item() == pytest.approx(closed, rel=1e-12)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, sigma), torch.distributions.Normal(0.0, 1.0)
    ).sum()
    assert draw.kl_standard_normal(mu, log_sigma).item() == pytest.approx(ref.item(), rel=1e-12)
    g = torch.Generator().manual_seed(0)
    z = mu + sigma * torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mu, sigma).log_prob(z).sum(-1)
    p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    mc = (q - p).mean().item()
    assert mc == pytest.approx(closed, abs=0.02)


@pytest.mark.parametrize("attention", [True, False])
def test_bound_against_monte_carlo(attention):
    torch.manual_seed(0)
    model = draw.DRAW(height=8, width=8, steps=3, read_size=2, write_size=3, enc_size=16, dec_size=16, z_size=4,
                      attention=attention).double()  # fmt: skip
    x = (torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.3).double()
    k = 2000
    with torch.no_grad():
        xs = x.repeat(k, 1, 1, 1)
        out = model(xs, generator=torch.Generator().manual_seed(2))
        _, recon, kl = draw.draw_loss(xs, out)
        bound = (recon + kl).view(k, 4)
        lw = draw.log_weights(xs, out).view(k, 4)
    # the bound with the closed-form KL and the Monte Carlo estimate -log w have the same mean
    se = (bound.std(0) ** 2 / k + lw.std(0) ** 2 / k).sqrt()
    assert ((bound.mean(0) - (-lw.mean(0))).abs() < 4 * se + 1e-6).all()
    # the importance-weighted estimate of -log P(x) lies below the bound
    iw = -(torch.logsumexp(lw, 0) - math.log(k))
    assert (iw <= bound.mean(0) + 1e-9).all()
    assert out.canvases.shape == (4 * k, 3, 8, 8) and out.windows.shape == (4 * k, 3, 5)
    assert torch.isnan(out.windows).all() != attention


def test_same_seed_same_numbers_and_samples():
    model = draw.DRAW(height=8, width=8, steps=2, enc_size=8, dec_size=8, z_size=3)
    x = torch.rand(2, 1, 8, 8)
    a = model(x, torch.Generator().manual_seed(5)).canvases
    b = model(x, torch.Generator().manual_seed(5)).canvases
    assert torch.equal(a, b)
    canv, wins = model.sample(3, torch.Generator().manual_seed(0))
    assert canv.shape == (3, 2, 8, 8) and wins.shape == (3, 2, 5)
    assert ((canv >= 0) & (canv <= 1)).all()
    bits = draw.binarize(torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)), seed=3)
    assert torch.equal(bits, draw.binarize(torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)), 3))
    assert set(bits.unique().tolist()) <= {0.0, 1.0}


def test_bad_inputs_raise_value_errors_naming_the_argument():
    with pytest.raises(ValueError, match="raw"):
        draw.attention_window(torch.zeros(2, 4), 8, 8, 2)
    with pytest.raises(ValueError, match="n must"):
        draw.attention_window(torch.zeros(2, 5), 8, 8, 0)
    with pytest.raises(ValueError, match="window"):
        draw.filterbank((1, 2, 3, 4, 5), 8, 8, 2)
    win = draw.attention_window(torch.zeros(2, 5), 8, 8, 3)
    fx, fy = draw.filterbank(win, 8, 8, 3)
    with pytest.raises(ValueError, match="images"):
        draw.read(torch.zeros(2, 1, 8, 9), fx, fy, win.gamma)
    with pytest.raises(ValueError, match="patch"):
        draw.write(torch.zeros(2, 1, 2, 2), fx, fy, win.gamma)
    with pytest.raises(ValueError, match="gamma"):
        draw.read(torch.zeros(2, 1, 8, 8), fx, fy, win.gamma[:1])
    with pytest.raises(ValueError, match="mu and log_sigma"):
        draw.kl_standard_normal(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="steps"):
        draw.DRAW(steps=0)
    with pytest.raises(ValueError, match="attention"):
        draw.DRAW(attention="yes")
    model = draw.DRAW(height=8, width=8, steps=2, enc_size=8, dec_size=8, z_size=3)
    with pytest.raises(ValueError, match="x must"):
        model(torch.zeros(2, 1, 9, 8))
    out = model(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="Bernoulli"):
        draw.draw_loss(torch.full((2, 1, 8, 8), 2.0), out)
    with pytest.raises(ValueError, match="out must"):
        draw.draw_loss(torch.zeros(2, 1, 8, 8), (1, 2))
    with pytest.raises(ValueError, match="images"):
        draw.DifferentiableRAM(height=20, width=20)(torch.zeros(2, 1, 20, 21))
    with pytest.raises(ValueError, match="glimpses"):
        draw.DifferentiableRAM(glimpses=0)
    with pytest.raises(ValueError, match="stride"):
        draw.DifferentiableRAM(start_stride=0.0)
    with pytest.raises(ValueError, match="method"):
        model = draw.DRAW(height=8, width=8, steps=2, enc_size=8, dec_size=8, z_size=3)
        draw.decoder_gradient_estimates(
            model, torch.zeros(1, 1, 8, 8), torch.zeros(2, 3), torch.zeros(2, 3), 4, "pathwise"
        )
    with pytest.raises(ValueError, match="images"):
        draw.binarize(torch.full((1, 1, 2, 2), 1.5))


def test_decoder_gradient_estimators_agree_in_mean():
    torch.manual_seed(0)
    model = draw.DRAW(height=8, width=8, steps=2, read_size=2, write_size=3, enc_size=8, dec_size=8, z_size=2).double()
    x = (torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.3).double()
    mu = torch.zeros(2, 2, dtype=torch.float64)
    log_sigma = torch.full((2, 2), math.log(0.5), dtype=torch.float64)
    est = {
        m: draw.decoder_gradient_estimates(model, x, mu, log_sigma, 20000, m, torch.Generator().manual_seed(2))
        for m in ("reparam", "score")
    }
    se = ((est["reparam"].var(0) + est["score"].var(0)) / 20000).sqrt()
    assert ((est["reparam"].mean(0) - est["score"].mean(0)).abs() < 5 * se).all()
    assert est["score"].var(0).sum() > est["reparam"].var(0).sum()


def test_learning_the_bound_falls():
    """A few hundred steps on 64 binarised digits: the bound falls well below its start."""
    from attnlib.data import load_mnist

    torch.manual_seed(0)
    x = draw.binarize(load_mnist("train")[0][:64], seed=0)
    model = draw.DRAW(steps=4, enc_size=64, dec_size=64, z_size=10)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        start = draw.draw_loss(x, model(x, g))[0].item()
    for _ in range(200):
        loss = draw.draw_loss(x, model(x, g))[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        end = draw.draw_loss(x, model(x, g))[0].item()
    assert end < 0.6 * start, (start, end)


def test_learning_differentiable_ram_moves_its_window_and_classifies():
    """Digits at random places on a 40x40 canvas: the classifier beats chance after a short run,
    and the read windows leave their initial place (the gradient reaches the window layer)."""
    from attnlib.data import canvas

    torch.manual_seed(0)
    loader = canvas.CanvasLoader("train", 40, 0, batch_size=64, seed=0, limit=640)
    model = draw.DifferentiableRAM(height=40, width=40, glimpses=3, read_size=8, hidden_size=64, start_stride=0.6)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(6):
        for images, labels in loader:
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
    images, labels, _ = canvas.translated_mnist("val", 40, seed=0)
    with torch.no_grad():
        logits, windows = model.forward_windows(images[:300])
    acc = (logits.argmax(-1) == labels[:300]).float().mean().item()
    assert acc > 0.4, acc
    assert windows[:, 1:, :2].std(0).mean() > 0.1  # later windows depend on the image


def _bad_draw_calls():
    """Issue 24 follow-up: (call, argument the ValueError must name)."""
    nan = float("nan")
    model = draw.DRAW(height=8, width=8, steps=2, enc_size=8, dec_size=8, z_size=3)
    x = torch.zeros(2, 1, 8, 8)
    out = model(x)
    mu, log_sigma = torch.zeros(2, 3), torch.zeros(2, 3)
    return {
        "ram start_stride nan": (lambda: draw.DifferentiableRAM(start_stride=nan), "start_stride"),
        "ram start_stride str": (lambda: draw.DifferentiableRAM(start_stride="1.0"), "start_stride"),
        "ram start_sigma -1": (lambda: draw.DifferentiableRAM(start_sigma=-1.0), "start_sigma"),
        "window_layer write str": (lambda: draw.window_layer(8, 8, 8, 3, write="no"), "write"),
        "window_layer write 2": (lambda: draw.window_layer(8, 8, 8, 3, write=2), "write"),
        "kl mu nan": (lambda: draw.kl_standard_normal(torch.full((2, 3), nan), log_sigma), "mu"),
        "kl log_sigma inf": (lambda: draw.kl_standard_normal(mu, torch.full((2, 3), float("inf"))), "log_sigma"),
        "loss x nan": (lambda: draw.draw_loss(x * nan, out), "x"),
        "log_weights x nan": (lambda: draw.log_weights(x * nan, out), "x"),
        "binarize nan": (lambda: draw.binarize(torch.full((1, 1, 2, 2), nan)), "images"),
        "estimates x nan": (
            lambda: draw.decoder_gradient_estimates(model, x[:1] * nan, mu, log_sigma, 2, "score"),
            "x",
        ),
        "estimates mu inf": (
            lambda: draw.decoder_gradient_estimates(model, x[:1], mu + float("inf"), log_sigma, 2, "reparam"),
            "mu",
        ),
        "estimates log_sigma nan": (
            lambda: draw.decoder_gradient_estimates(model, x[:1], mu, log_sigma * nan, 2, "score"),
            "log_sigma",
        ),
    }


_DRAW_BAD = _bad_draw_calls()


@pytest.mark.parametrize("case", sorted(_DRAW_BAD))
def test_bad_input_is_refused_naming_the_argument(case):
    call, name = _DRAW_BAD[case]
    with pytest.raises(ValueError, match=name):
        call()
