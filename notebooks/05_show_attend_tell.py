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
# (ch-sat)=
# # Show, Attend and Tell: soft and stochastic hard attention
#
# A captioning model writes a sentence about an image one word at a time. Before Xu et al.
# {cite}`xu2015show`, the image entered the sentence generator as one vector, computed once. *Show,
# Attend and Tell* lets the generator look again before every word: an attention model weighs the
# cells of a convolutional feature map against what the sentence needs next, in the style that
# Bahdanau et al. introduced for translation {cite}`bahdanau2015neural`. The paper does it in two
# ways, from the same model:
#
# * **deterministic soft attention** feeds the generator the *expected* feature under the
#   attention weights, and trains end to end by backpropagation;
# * **stochastic hard attention** *samples* one cell and feeds only its feature; it maximises a
#   variational lower bound with a score-function (REINFORCE) gradient, a moving-average baseline
#   and an entropy bonus, the tools of {numref}`Chapter %s <ch-foundations>`.
#
# The popular PyTorch tutorials implement only the soft half. This chapter implements both with
# one code base (`attnlib.sat`), derives what each one optimises, and compares them on a captioning
# task where we *know* where the model should look: scenes of real MNIST digits captioned in a
# fixed reading order, such as "four above seven left of two". Because every object word names a
# digit with a known box, we can score not only the caption but also the attention.
#
# API reference for this chapter's code: {doc}`../book/api/sat`, {doc}`../book/api/data_captions`.

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
import functools
import math
import time

import matplotlib.pyplot as plt
import torch
from attnlib import budget, evidence, results, sat, train, viz
from attnlib.data import ink_centres, load_mnist
from attnlib.data.captions import DIGIT_CAPTION_VOCAB, DIGIT_WORDS, make_digit_captions
from attnlib.results import glue  # numbers quoted in the text are glued from this run
from IPython.display import Markdown, display
from matplotlib import animation

CHAPTER_START = time.perf_counter()
N_TRAIN = budget.size(smoke=256, book=8000, paper=60000)
N_TEST = budget.size(smoke=64, book=1000, paper=5000)
N_VAL = budget.size(smoke=32, book=300, paper=1000)
MNIST_SOURCE = budget.choose(smoke="bundled", book="bundled", paper="torchvision")
results.start(
    "05_show_attend_tell"
)  # this run's figures replace the last run's; none are left over
DEVICE = budget.announce(
    data=f"digit-caption scenes generated from MNIST ({MNIST_SOURCE}): {N_TRAIN:,} train scenes from training "
    f"digits, {N_VAL:,} validation scenes from validation digits, {N_TEST:,} test scenes from test digits, "
    "64 x 64 pixels, 2-3 digits each"
)
generator = train.seed_everything(0)
VOCAB = DIGIT_CAPTION_VOCAB

# %% [markdown]
# (sat-task)=
# ## The task: digit scenes captioned in reading order
#
# {py:func}`~attnlib.data.captions.make_digit_captions` places two or three MNIST digits on a 64 x 64
# canvas and captions them from left to right. Between two consecutive digits the caption says
# how the next one sits: `above` (the current digit is at least 10 pixels higher), `below`, or
# `left of` (the same height, within 3 pixels); layouts in between are never drawn, so no caption
# is ambiguous. The generator keeps each digit's ink box, drawn in green in {numref}`fig-sat-scenes`. The three sets of
# scenes share no digit: training scenes use only MNIST training digits, validation scenes only the
# validation digits (training digits set aside, never trained on; `split="val"`), test scenes only
# test digits. Every choice this page makes from data ({numref}`Section %s <sat-training>` lists them) is made on the training
# or validation scenes; the test scenes are read once, in {numref}`Section %s <sat-results>`, for the numbers the page reports.

# %%
train_set = make_digit_captions(N_TRAIN, "train", seed=1, source=MNIST_SOURCE)
val_set = make_digit_captions(N_VAL, "val", seed=3, source=MNIST_SOURCE)
test_set = make_digit_captions(N_TEST, "test", seed=2, source=MNIST_SOURCE)
print(f"vocabulary ({len(VOCAB)} tokens): {' '.join(VOCAB.itos)}")
print(
    f"caption length: {min(map(len, (c.split() for c in train_set.captions)))} to "
    f"{max(map(len, (c.split() for c in train_set.captions)))} words"
)

# %% tags=["remove-output", "hide-input"]
fig, axes = plt.subplots(2, 4, figsize=(11, 6))
for i, ax in enumerate(axes.flat):
    ax.imshow(train_set.images[i, 0], cmap="gray", vmin=0, vmax=1)
    for j in range(int(train_set.n_objects[i])):
        viz.draw_box(ax, train_set.boxes[i, j], label=str(j + 1))
    ax.set_title(train_set.captions[i], fontsize=8)
    ax.axis("off")
fig.suptitle("Training scenes: boxes numbered in reading order")
fig.tight_layout()
glue("fig-sat-scenes", fig)

# %% [markdown]
# ```{glue:figure} fig-sat-scenes
# :name: fig-sat-scenes
#
# Eight training scenes with their captions. The green boxes are the digits' ink boxes, numbered in
# the reading order the caption follows; each relation word describes how the next box sits relative
# to the current one.
# ```

# %% [markdown]
# (sat-model)=
# ## The model
#
# **Encoder.** A convolutional network turns the image into $L$ annotation vectors, one per cell
# of its last feature map:
#
# $$
# a = \{a_1, \dots, a_L\}, \qquad a_i \in \mathbb{R}^D .
# $$ (sat-annotations)
#
# Xu et al. take the $14 \times 14 \times 512$ map of an ImageNet-trained VGG network and keep it
# fixed. Our analogue is a small CNN ({py:class}`sat.SmallCNNEncoder <attnlib.sat.encoder.SmallCNNEncoder>`, stride 8, so $L = 8 \times 8$) that
# we pretrain to classify single training digits and then freeze. We append to each $a_i$ the
# coordinates of its cell: the captions are read in a positional order, and a CNN's features say
# what a cell holds far better than where the cell is.
#
# **Attention.** Before word $t$, an MLP scores each annotation against the previous hidden state
# $h_{t-1}$ of the decoder, and a softmax turns the scores into a distribution over locations:
#
# $$
# e_{ti} = w^\top \tanh(W_a a_i + W_h h_{t-1} + b),
# $$ (sat-score)
#
# $$
# \alpha_{ti} = \frac{\exp(e_{ti})}{\sum_{k=1}^{L} \exp(e_{tk})} .
# $$ (sat-alpha)
#
# This is {py:class}`sat.AdditiveAttention <attnlib.sat.attention.AdditiveAttention>`, a module of its
# own with a `mask` argument (padding cells get weight exactly zero), because the attention-OCR chapter
# ({numref}`Chapter %s <ch-ocr>`) reuses it. Its forward pass
# ({py:meth}`~attnlib.sat.attention.AdditiveAttention.forward`, from the scores on) is the explanation:

# %%
viz.show_code(sat.AdditiveAttention.forward, from_line="scores = ")

# %% [markdown]
# **Context.** The paper reads $\alpha_{ti}$ in two ways. As the probability that location $i$ is
# the right place to look, a location $s_t$ is *sampled*, $s_t \sim \text{Multinoulli}_L(\alpha_t)$,
# and its annotation is the context:
#
# $$
# \hat z_t = \sum_{i} s_{ti}\, a_i, \qquad s_t \in \{0, 1\}^L \text{ one-hot}, \quad p(s_{ti} = 1 \mid s_{<t}, a) = \alpha_{ti} .
# $$ (sat-hard)
#
# As the relative importance of location $i$, the context is the *expected* annotation under that
# distribution, a smooth function of the weights:
#
# $$
# \hat z_t = \mathbb{E}_{p(s_t \mid a)}[\hat z_t] = \sum_{i=1}^{L} \alpha_{ti}\, a_i .
# $$ (sat-soft)
#
# In both, a gating scalar predicted from the previous state lets the decoder turn the image down
# (the paper found that it makes the attention maps sharper and the words more object-centred):
#
# $$
# \beta_t = \sigma(f_\beta(h_{t-1})), \qquad \hat z_t \leftarrow \beta_t\, \hat z_t .
# $$ (sat-gate)
#
# **Decoder.** An LSTM reads the previous word's embedding $E y_{t-1}$ and the context; its
# initial state comes from the mean annotation; a "deep output" layer predicts the word:
#
# $$
# (h_t, c_t) = \mathrm{LSTM}\big([E y_{t-1}; \hat z_t], (h_{t-1}, c_{t-1})\big),
# $$ (sat-lstm)
#
# $$
# h_0 = \tanh\Big(f_{\text{init},h}\big(\tfrac1L \textstyle\sum_i a_i\big)\Big), \quad
# c_0 = \tanh\Big(f_{\text{init},c}\big(\tfrac1L \textstyle\sum_i a_i\big)\Big),
# $$ (sat-init)
#
# $$
# p(y_t \mid a, y_{<t}) \propto \exp\big(L_o \tanh(E y_{t-1} + L_h h_t + L_z \hat z_t)\big) .
# $$ (sat-output)
#
# (The paper writes the output layer without the $\tanh$; the authors' code has it.) One step of
# {py:class}`sat.SATDecoder <attnlib.sat.decoder.SATDecoder>` implements these equations
# ({py:meth}`~attnlib.sat.decoder.SATDecoder.step` checks its inputs, then calls `_step`, shown here
# from the attention on); the three ways of forming the context differ in a few lines, and everything
# else (the gate, the LSTM, the deep output) is shared:

# %%
viz.show_code(sat.SATDecoder._step, from_line="expected, alpha = ")

# %% [markdown]
# (sat-objectives)=
# ## What each variant optimises
#
# **Soft attention** is a deterministic network, so it maximises the log-likelihood of the caption
# $y$ directly, with a penalty described below:
#
# $$
# \mathcal{L}_d = -\log p(y \mid a) + \lambda \sum_{i=1}^{L} \Big(1 - \sum_{t=1}^{C} \alpha_{ti}\Big)^2 .
# $$ (sat-soft-loss)
#
# **Hard attention** has a latent variable, the sequence of locations $s$. Its log-likelihood
# $\log p(y \mid a) = \log \sum_s p(s \mid a)\, p(y \mid s, a)$ sums over $L^C$ paths; Jensen's
# inequality gives a lower bound that an expectation can estimate:
#
# $$
# L_s = \sum_s p(s \mid a) \log p(y \mid s, a) \;\le\; \log \sum_s p(s \mid a)\, p(y \mid s, a) = \log p(y \mid a) .
# $$ (sat-bound)
#
# Its gradient has two parts, one for the decoder (backpropagation through $\log p(y \mid s, a)$)
# and one for the attention (the score function, {eq}`foundations-score` of {numref}`Chapter %s <ch-foundations>`). With
# $N$ sampled paths $\tilde s^n$, a baseline $b$ and an entropy bonus on the attention:
#
# $$
# \frac{\partial L_s}{\partial W} \approx \frac1N \sum_{n=1}^{N} \Big[
# \frac{\partial \log p(y \mid \tilde s^n, a)}{\partial W}
# + \lambda_r \big(\log p(y \mid \tilde s^n, a) - b\big) \frac{\partial \log p(\tilde s^n \mid a)}{\partial W}
# + \lambda_e \frac{\partial H[\tilde s^n]}{\partial W} \Big] .
# $$ (sat-hard-grad)
#
# The baseline is the moving average of the log-likelihood over mini-batches,
#
# $$
# b_k = 0.9\, b_{k-1} + 0.1 \log p(y \mid \tilde s_k, a),
# $$ (sat-baseline)
#
# which does not depend on the current sample, so the estimate stays unbiased ({numref}`Chapter %s <ch-foundations>`) while its
# variance drops. The authors add one more trick: with probability 0.5 they replace the sample by
# its expectation, i.e. take a soft step. At such a step the caption does not depend on the sample,
# so our estimator drops that step's score term (it would only add noise).
#
# **Reward-to-go** (our departure from the paper, a standard variance reduction for REINFORCE).
# Write $\log p(y \mid \tilde s, a) = \sum_{t'} r_{t'}$ with $r_{t'} = \log p(y_{t'} \mid y_{<t'}, \tilde s_{\le t'}, a)$
# and $\log p(\tilde s \mid a) = \sum_t \log p(\tilde s_t \mid \dots)$. {eq}`sat-hard-grad` weights the
# score of *every* location $\tilde s_t$ by the whole caption's log-likelihood. Part of that weight
# cannot matter:
#
# ```{prf:proposition} Reward-to-go leaves the expected gradient unchanged
# :label: prop-sat-reward-to-go
#
# With teacher forcing, dropping from the score term of {eq}`sat-hard-grad` every product
# $r_{t'}\, \nabla \log p(\tilde s_t \mid \dots)$ with $t' < t$, i.e. weighting the score of
# $\tilde s_t$ by $R_t = \sum_{t' \ge t} r_{t'}$ instead of $\sum_{t'} r_{t'}$, leaves the expected
# gradient unchanged.
# ```
#
# ```{prf:proof}
# With teacher forcing the words before $t$ were predicted before $\tilde s_t$ was drawn, so for
# $t' < t$ the term $r_{t'}$ does not depend on $\tilde s_t$ given what came before it, and
# $\mathbb{E}\big[r_{t'}\, \nabla \log p(\tilde s_t \mid \dots)\big] = \mathbb{E}\big[r_{t'}\,
# \mathbb{E}_{\tilde s_t}[\nabla \log p(\tilde s_t \mid \dots)]\big] = 0$, because the expected score of
# a distribution is zero ({numref}`Chapter %s <ch-foundations>`). The dropped terms have mean zero.
# ```
#
# Those terms only add noise. Dropping them leaves the same expected gradient,
#
# $$
# \lambda_r \sum_t \big(R_t - b_t\big) \frac{\partial \log p(\tilde s_t \mid \dots)}{\partial W},
# \qquad R_t = \sum_{t' \ge t} r_{t'},
# $$ (sat-reward-to-go)
#
# with a baseline $b_t$ per step (the same moving average, kept separately for each word position,
# because $R_t$ shrinks as $t$ grows). `tests/test_reinforce.py` checks by enumerating every path
# of a two-step problem that the expected reward-to-go estimate equals the exact gradient. Our hard
# runs below use {eq}`sat-reward-to-go` (`reward_to_go=True`); one run keeps the paper's
# whole-caption weight, {eq}`sat-hard-grad`, for comparison.
#
# {py:func}`sat.hard_attention_loss <attnlib.sat.losses.hard_attention_loss>` builds a surrogate whose
# gradient is exactly {eq}`sat-hard-grad`, with {py:func}`attnlib.reinforce.score_function_surrogate`
# for the REINFORCE term and {py:class}`attnlib.reinforce.MovingAverageBaseline` for $b$ (it returns the
# value *before* folding in the batch, so a batch never baselines itself). Here it is from the
# log-likelihood on ({numref}`ex-sat-reinforce-code` asks you to write its REINFORCE term):

# %%
viz.show_code(sat.hard_attention_loss, from_line="nll = caption_nll")

# %% [markdown]
# **The doubly stochastic penalty.** By construction $\sum_i \alpha_{ti} = 1$ at every step. The
# penalty in {eq}`sat-soft-loss` ({py:func}`sat.doubly_stochastic_penalty <attnlib.sat.losses.doubly_stochastic_penalty>`) also pushes
# $\sum_t \alpha_{ti}$, the total attention that location $i$ receives over the caption, towards 1:
# it asks the model to look at every part of the image at some point. Xu et al. report that it
# improves BLEU and makes the captions richer on photographs. Notice what it asks for when the
# caption is much shorter than the number of locations ($C \ll L$):
#
# ```{prf:proposition} The penalty prefers spread-out attention
# :label: prop-sat-penalty-spread
#
# For one caption of $C$ steps over $L$ locations, write $c_i = \sum_{t=1}^{C} \alpha_{ti}$ for the
# coverage of location $i$. Then $\sum_{i=1}^{L} (1 - c_i)^2 \ge (L - C)^2 / L$, with equality exactly
# when every location gets $c_i = C/L$ (uniform attention at every step attains it). Attention that
# looks at one cell per step, at $C$ distinct cells, pays $L - C$, which is $C(L - C)/L$ more.
# ```
#
# ```{prf:proof}
# The coverages sum to $C$, since every step's weights sum to one; so $\sum_i (1 - c_i) = L - C$. By the
# Cauchy-Schwarz inequality, $\big(\sum_i (1 - c_i)\big)^2 \le L \sum_i (1 - c_i)^2$, with equality
# exactly when all the $1 - c_i$ are equal, i.e. $c_i = C/L$. One-hot attention on $C$ distinct cells gives
# $C$ coverages of 1 and $L - C$ of 0, so a penalty of $L - C = (L - C)^2/L + C(L - C)/L$.
# ```
#
# So the penalty is smallest when attention is *spread out*. On our
# scenes (about 6 steps, 64 locations) we should expect it to fight localisation; {numref}`Section %s <sat-coverage>`
# shows one run with the penalty next to the three soft seeds without it. ({numref}`ex-sat-penalty-code`
# asks you to write the penalty yourself, and {numref}`ex-sat-additive-code` the attention of
# {eq}`sat-score` and {eq}`sat-alpha`.)

# %% [markdown]
# (sat-pretrain)=
# ## Pretraining and freezing the encoder
#
# As Xu et al. do with VGG, we train the encoder on labelled images first and freeze it. The
# images are the MNIST training digits (the cell below prints how many), each shifted at random by up to 4 pixels inside a
# 36 x 36 frame ({py:func}`sat.shift_in_frame <attnlib.sat.pretrain.shift_in_frame>`) so that the features do not depend on where a digit falls
# relative to the 8-pixel grid. Two tasks share the encoder ({py:class}`sat.PretrainHead <attnlib.sat.pretrain.PretrainHead>`,
# {py:func}`sat.make_pretrain_step <attnlib.sat.pretrain.make_pretrain_step>`):
#
# * **what**: a max-pool over the cells and a linear layer classify the digit, with the
#   cross-entropy
#
# $$
# \mathcal{L}_{\text{class}} = -\log \operatorname{softmax}\big(W_c \max_i a_i\big)_{k} ,
# $$ (sat-pretrain)
#
# * **where**: a linear layer $W_o$ reads, from every cell $i$ near the digit, the offset of the
#   digit's centre $c$ (its centre of ink, `attnlib.data.ink_centres`) from the cell's own centre $g_i$, in
#   cells of $s = 8$ pixels:
#
# $$
# t_i = \frac{c - g_i}{s}, \qquad
# \mathcal{L}_{\text{offset}} = \frac{1}{|N|} \sum_{i \in N} \big\lVert W_o a_i - t_i \big\rVert^2,
# \qquad N = \{ i : \lVert t_i \rVert_\infty \le 1.5 \} .
# $$ (sat-offset)
#
# The loss is $\mathcal{L}_{\text{class}} + \mathcal{L}_{\text{offset}}$ (Adam with a one-cycle
# learning-rate schedule peaking at $10^{-2}$). The second task is ours, not the paper's, and it is
# there for hard attention. A hard-attention step reads *one* annotation vector, and the cell
# coordinates appended to it place the digit only to within 8 pixels, while the captions' relations
# turn on a few pixels ("above" needs 10, "left of" at most 3). Classification alone rewards
# features that do not depend on where inside the frame a digit sits (that is what the random shifts
# are for), so our hypothesis is that, without the offset task, one cell says less about where its
# digit is than it could. Soft attention should need it less: an average over several cells and
# their coordinates already locates a digit between cell centres. To measure what the task is worth,
# we also pretrain a second encoder on classification alone (`offsets=False`) and train the hard
# captioner on it, with three seeds, in {numref}`Section %s <sat-training>`.
#
# Frozen, an encoder's annotations can be computed once for the whole training set
# ({py:func}`sat.encode_images <attnlib.sat.model.encode_images>`), which makes every epoch of the captioners below cheap.

# %%
PRETRAIN_EPOCHS = budget.choose(smoke=1, book=12, paper=20)
MAX_SHIFT = 4
digits, digit_labels = load_mnist("train", source=MNIST_SOURCE)
# the encoders are checked on validation digits: the test digits are kept for the results section
val_digits, val_labels = load_mnist("val", source=MNIST_SOURCE)
if budget.current() == "smoke":
    digits, digit_labels = digits[:512], digit_labels[:512]
print(
    f"pretraining on {len(digits):,} training digits; checking on {len(val_digits):,} validation digits"
)


def pretrain_encoder(offsets):
    """Pretrain a fresh encoder (Eq. sat-pretrain, plus Eq. sat-offset if ``offsets``) and freeze it."""
    train.seed_everything(0)
    encoder = sat.SmallCNNEncoder()
    head = sat.PretrainHead(encoder, offsets=offsets).to(DEVICE)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(digits, digit_labels, ink_centres(digits)),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.Adam(head.parameters(), 1e-2)
    history = train.fit(
        head,
        loader,
        optimizer,
        PRETRAIN_EPOCHS,
        step=sat.make_pretrain_step(
            MAX_SHIFT, generator=torch.Generator().manual_seed(4)
        ),
        scheduler=torch.optim.lr_scheduler.OneCycleLR(
            optimizer, 1e-2, total_steps=PRETRAIN_EPOCHS * len(loader)
        ),
        scheduler_interval="step",
        desc="pretrain" + (" (class + offset)" if offsets else " (class only)"),
    )
    head.eval()
    encoder.eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return head, history


def offset_error_pixels(head):
    """Root-mean-square error (pixels) of the offsets read from the cells near each validation digit."""
    shifts = torch.randint(
        -MAX_SHIFT,
        MAX_SHIFT + 1,
        (len(val_digits), 2),
        generator=torch.Generator().manual_seed(9),
    )
    framed = sat.shift_in_frame(val_digits, shifts, MAX_SHIFT).to(DEVICE)
    with torch.no_grad():
        _, predicted, grid = head.forward_all(framed)
    centres = ink_centres(val_digits) + MAX_SHIFT + shifts.float()
    target = sat.cell_offsets(centres, grid, head.encoder.stride).to(DEVICE)
    mse = sat.offset_loss(predicted, target)  # in cells^2, summed over x and y
    return head.encoder.stride * (mse / 2).sqrt().item()


start = time.perf_counter()
head, pretrain_history = pretrain_encoder(offsets=True)
encoder = head.encoder
class_only_head, _ = pretrain_encoder(offsets=False)
framed_val = torch.nn.functional.pad(val_digits, (MAX_SHIFT,) * 4)
for name, h in [("class + offset", head), ("class only", class_only_head)]:
    print(
        f"encoder pretrained on {name}: accuracy on the {len(val_digits):,} validation digits "
        f"{train.evaluate(h, [(framed_val, val_labels)]):.1%}"
    )
print(
    f"offset of the digit's centre read from one cell (validation digits, random shifts): "
    f"RMS error {offset_error_pixels(head):.2f} pixels per axis (cells are {encoder.stride} pixels)"
)
train_features = sat.encode_images(encoder, train_set.images)
val_features = sat.encode_images(encoder, val_set.images)
class_only_features = sat.encode_images(class_only_head.encoder, train_set.images)
class_only_val_features = sat.encode_images(class_only_head.encoder, val_set.images)
print(
    f"both encoders pretrained in {time.perf_counter() - start:.0f} s; "
    f"annotations: {tuple(train_features.shape)} (scenes, L, D)"
)

# %% [markdown]
# (sat-training)=
# ## Training soft and hard attention
#
# The captioners share the frozen encoder (pretrained on both tasks; the class-only runs take the
# class-only encoder instead) and the decoder architecture (LSTM with 128 units,
# 32-dimensional embeddings, a 64-unit attention MLP) and train with the same optimiser (Adam with
# a one-cycle learning-rate schedule: a warm-up over the first 15 % of the updates to $10^{-2}$,
# then a cosine decay; in short trials, not part of this page, it learned clearly faster than a
# constant rate of $3 \cdot 10^{-3}$), batches and number of updates:
#
# | run | attention | doubly stochastic $\lambda$ | baseline | seeds |
# |---|---|---|---|---|
# | soft | expectation, {eq}`sat-soft` | 0 | — | 0, 1, 2 |
# | soft + penalty | expectation | 1 (the paper's value) | — | 0 |
# | hard | sample, or the expectation with a probability that falls from 1 to 0.5 (below), {eq}`sat-hard`; reward-to-go, {eq}`sat-reward-to-go` | 0 | moving average per step | 0, 1, 2 |
# | hard, whole caption | the same, weighted as in the paper, {eq}`sat-hard-grad` | 0 | moving average, {eq}`sat-baseline` | 0 |
# | hard, no baseline | as "hard" | 0 | none | 0 |
# | hard, class-only encoder | as "hard", on the encoder pretrained without {eq}`sat-offset` | 0 | moving average per step | 0, 1, 2 |
#
# A run's outcome depends on its random seed: the decoder's initial weights, the order of batches
# and, for hard attention, the sampled locations. The comparisons the page draws conclusions from
# (soft against hard; the offset task against none) therefore rest on three seeds per setting, and
# {numref}`Section %s <sat-results>` reports them as mean ± standard deviation with a verdict that asks whether the gap
# exceeds twice its standard error. The three single-seed runs (the penalty, the paper's
# whole-caption weight, no baseline) are illustrations: the page shows them and, with one seed
# each, draws no conclusion from their differences; the spread of the three-seed settings gives the
# scale of seed noise to read them against. Three seeds for them as well would take the chapter
# over its time budget.
#
# Hard attention is a stochastic search, and we expect its outcome to depend more on the seed than
# soft attention's ({numref}`Section %s <sat-results>` prints both spreads). Two things in this chapter address that. The
# first is a **soft-to-hard schedule** (our departure from the paper): the probability of using the
# expectation instead of the sample starts at 1, so that the first updates train plain soft
# attention, and falls linearly to the authors' 0.5 over the first half of the updates
# (`soft_to_hard`, passed as `expected_prob` to {py:func}`sat.make_train_step <attnlib.sat.model.make_train_step>`). The intent is that the
# attention learns roughly where to look from exact gradients before the score-function term has to
# refine it; every hard run below uses it. The second is the offset task of {numref}`Section %s <sat-pretrain>`, aimed at the
# kind of failure seen in an earlier version of this chapter (with the schedule but without that
# task and with a differently initialised encoder; not part of this page), whose three seeds of the
# "hard" run ended at 54 %, 79 % and 81 % exact match, the weakest with a third of its captions'
# relations wrong.
#
# The hard runs use the authors' entropy weight $\lambda_e = 0.002$ and a REINFORCE weight
# $\lambda_r = 0.05$ (`HARD_REINFORCE_WEIGHT`): the paper sets $\lambda_r$ by cross-validation;
# in short trials on these scenes (not part of this page; judged on the training curves, 8 epochs)
# larger weights learned more slowly, $\lambda_r = 0.2$ clearly and $\lambda_r = 1$ hardly at all.
# {numref}`ex-sat-reinforce-weight` asks you to vary it, on the validation scenes. Each run logs its training loss and,
# after every epoch, the exact-match rate of greedy captions on the validation scenes; at the end
# `train.fit` restores the weights of the epoch with the best validation exact match
# (`keep_best="val_exact"`). At test time a hard-attention model looks at the single most likely
# location (`mode="argmax"`): it stays hard.
#
# **What was chosen, and on what data.** Nothing on this page is chosen on the test scenes.
#
# | choice | how | data |
# |---|---|---|
# | the epoch whose weights each captioner keeps | best validation exact match (`keep_best`) | validation scenes (validation digits) |
# | epochs (12), batch (64), learning-rate schedule, $\lambda_r = 0.05$ | short trials, not part of this page | training curves |
# | $\lambda_e = 0.002$, penalty $\lambda = 1$, baseline decay 0.9, expectation probability 0.5 | the paper's values | — |
# | the soft-to-hard schedule and the offset task | adopted after trials of earlier versions of this chapter in which hard runs got stuck (not part of this page) | held-out scenes of MNIST test digits, the only held-out scenes the chapter then had: these two design choices predate the validation split |
# | the encoders' pretraining (12 epochs, one-cycle to $10^{-2}$, shifts up to 4 pixels) | fixed in advance; checked on validation digits ({numref}`Section %s <sat-pretrain>`) | validation digits |
# | greedy decoding, argmax location for hard attention | fixed in advance | — |

# %%
EPOCHS = budget.choose(smoke=1, book=12, paper=30)
BATCH = budget.choose(smoke=32, book=64, paper=128)
LEARNING_RATE = 1e-2
HARD_REINFORCE_WEIGHT = 0.05
SEEDS = (0, 1, 2)  # for the settings that are compared
STEPS = EPOCHS * math.ceil(N_TRAIN / BATCH)  # updates per run


def soft_to_hard(step):
    """Probability of using the expectation at update ``step``: 1, falling linearly to 0.5 at mid-training."""
    return 1.0 - 0.5 * min(1.0, step / (0.5 * STEPS))


# each sequence uses the expectation with the schedule's probability: its mean over the run is the share
expected_share = sum(soft_to_hard(s) for s in range(STEPS)) / STEPS
print(
    f"under the soft-to-hard schedule, a hard run feeds the expectation to {expected_share:.1%} of its "
    f"training sequences (in expectation, over its {STEPS:,} updates); a constant 0.5 would feed it to half"
)
glue("sat_expected_share", f"{expected_share:.1%}".replace("%", " %"), display=False)

HARD = dict(  # the "hard" run; the other hard runs change one thing each
    attention="hard",
    doubly_stochastic=0.0,
    use_baseline=True,
    reinforce_weight=HARD_REINFORCE_WEIGHT,
    reward_to_go=True,
    expected_prob=soft_to_hard,
)
SOFT = dict(attention="soft", doubly_stochastic=0.0)
CLASS_ONLY = {**HARD, "class_only_encoder": True}


def seeded(name, options):
    """The runs of one setting, one per seed: "name" for seed 0, "name (seed s)" for the others."""
    return {
        (name if seed == 0 else f"{name} (seed {seed})"): {**options, "seed": seed}
        for seed in SEEDS
    }


RUNS = {
    **seeded("soft", SOFT),
    "soft + penalty": dict(attention="soft", doubly_stochastic=1.0),
    **seeded("hard", HARD),
    "hard, whole caption": {**HARD, "reward_to_go": False},
    "hard, no baseline": {**HARD, "use_baseline": False},
    **seeded("hard, class-only encoder", CLASS_ONLY),
}
SOFT_SEEDS = list(seeded("soft", SOFT))
HARD_SEEDS = list(seeded("hard", HARD))
CLASS_ONLY_SEEDS = list(seeded("hard, class-only encoder", CLASS_ONLY))


def val_exact_match(model, features):
    tokens, _, _ = sat.generate(
        model, features.to(DEVICE), VOCAB.start, VOCAB.end, VOCAB.pad, max_len=10
    )
    return {"val_exact": sat.exact_match(VOCAB.decode_batch(tokens), val_set.captions)}


models, histories, train_seconds = {}, {}, {}
for name, options in RUNS.items():
    options = dict(options)
    seed = options.pop("seed", 0)
    class_only = options.pop("class_only_encoder", False)
    features = class_only_features if class_only else train_features
    validation_features = class_only_val_features if class_only else val_features
    train.seed_everything(seed)
    model = sat.ShowAttendTell(
        len(VOCAB),
        options["attention"],
        encoder=copy.deepcopy(class_only_head.encoder if class_only else encoder),
        hidden_dim=128,
        embed_dim=32,
        attention_dim=64,
    ).to(DEVICE)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(features, train_set.tokens),
        batch_size=BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, LEARNING_RATE, total_steps=EPOCHS * len(loader), pct_start=0.15
    )
    step = sat.make_train_step(
        **options, generator=torch.Generator(device=DEVICE).manual_seed(5 + seed)
    )
    histories[name] = train.fit(
        model,
        loader,
        optimizer,
        EPOCHS,
        step=step,
        eval_fn=functools.partial(val_exact_match, features=validation_features),
        keep_best="val_exact",
        keep_best_mode="max",
        scheduler=scheduler,
        scheduler_interval="step",
        clip_grad_norm=5.0,
        desc=name,
    )
    models[name] = model
    train_seconds[name] = histories[name]["seconds"][-1]
    best = histories[name]["best_epoch"][0]
    print(
        f"{name:>34}: {EPOCHS} epochs, {train_seconds[name]:.0f} s; kept epoch {best} "
        f"(validation exact match {histories[name]['val_exact'][best - 1]:.1%})"
    )

# %% tags=["remove-output", "hide-input"]
fig = viz.plot_history(
    {name: h for name, h in histories.items() if "(seed" not in name},
    ["nll", "train_exact", "val_exact"],
    titles=[
        "-log p(y | a) per caption (training)",
        "exact match, training batches",
        "exact match, validation scenes",
    ],
)
glue("fig-sat-history", fig)

# %% [markdown]
# ```{glue:figure} fig-sat-history
# :name: fig-sat-history
#
# Training of the seed-0 run of every setting: the caption's negative log-likelihood on training
# batches, the exact match of the captions produced on training batches, and the exact match of greedy
# captions on the validation scenes after each epoch (the epoch kept is the best of the last panel).
# ```
#
# (The runs with seeds 1 and 2 are left out of {numref}`fig-sat-history` to keep it readable; their
# results are in {numref}`Section %s <sat-results>`.) The hard runs' training curves measure the
# captions produced *with sampled attention* (from mid-training on, half the updates) and so are
# expected to sit below their validation curves, which use the most likely location.

# %% [markdown]
# (sat-results)=
# ## Results on held-out scenes
#
# Three numbers per model on the test scenes, with greedy decoding, each measured once, here:
#
# * **exact match**: the share of captions generated word for word right;
# * **BLEU-4** {cite}`papineni2002bleu`, from `torchmetrics.functional.text.bleu_score`
#   ({py:func}`sat.bleu <attnlib.sat.metrics.bleu>`), so that it can be set next to the paper's figures;
# * **localisation**: the share of generated digit words whose attention peak (the centre of the
#   most attended cell) lies inside the box of the digit that word names
#   ({py:func}`sat.attention_localisation <attnlib.sat.metrics.attention_localisation>`; the $j$-th digit word names the $j$-th digit in reading order).
#
# For the settings trained with three seeds, the second table gives each seed's value and the mean ±
# standard deviation over the seeds ({py:func}`attnlib.evidence.summarize`). A comparison between two settings
# ({py:func}`attnlib.evidence.compare`) reports the gap between their means and its standard error; it counts
# only when the gap exceeds twice its standard error, and otherwise the page says it is not
# distinguishable at this budget.

# %%
evaluations = {
    name: sat.evaluate_captions(model, test_set) for name, model in models.items()
}
rows = [
    "| run | exact match | BLEU-4 | localisation | kept epoch | training time |",
    "|---|---|---|---|---|---|",
]
for name, ev in evaluations.items():
    rows.append(
        f"| {name} | {ev['exact_match']:.1%} | {100 * ev['bleu4']:.1f} | {ev['localisation']:.1%} "
        f"| {histories[name]['best_epoch'][0]} | {train_seconds[name]:.0f} s |"
    )
display(Markdown("\n".join(rows)))


def per_seed(names, key):
    """One test figure (in %, or BLEU x 100) for each seed of a setting.

    A run that generates no digit word has no localisation (nan): it is left out, and the summary's n
    says so; if no run has one (possible only at the smoke budget) the figure counts as 0.
    """
    values = [100 * evaluations[name][key] for name in names]
    return [value for value in values if math.isfinite(value)] or [0.0]


SETTINGS = {
    "soft": SOFT_SEEDS,
    "hard": HARD_SEEDS,
    "hard, class-only encoder": CLASS_ONLY_SEEDS,
}
seed_rows = [
    "| setting | exact match per seed | exact match | localisation | BLEU-4 |",
    "|---|---|---|---|---|",
]
for setting, names in SETTINGS.items():
    exact = evidence.summarize(per_seed(names, "exact_match"))
    seed_rows.append(
        f"| {setting} | {' / '.join(f'{v:.1f}' for v in exact.values)} | {exact.format(unit='%')} "
        f"| {evidence.summarize(per_seed(names, 'localisation')).format(unit='%')} "
        f"| {evidence.summarize(per_seed(names, 'bleu4')).format()} |"
    )
display(Markdown("\n".join(seed_rows)))

soft, hard = evaluations["soft"], evaluations["hard"]  # seed 0, for the figures below
soft_exact = evidence.summarize(per_seed(SOFT_SEEDS, "exact_match"))
soft_localisation = evidence.summarize(per_seed(SOFT_SEEDS, "localisation"))
hard_exact = evidence.summarize(per_seed(HARD_SEEDS, "exact_match"))
soft_vs_hard = evidence.compare(soft_exact.values, hard_exact.values)
soft_vs_hard_verdict = soft_vs_hard.verdict(soft_vs_hard.gap > 0)
print(
    f"exact match, soft minus hard: {soft_vs_hard.format(unit=' points')}; "
    f"'soft attention is more accurate than hard': {soft_vs_hard_verdict}"
)
# "hard within 10 points of soft": the margin hard + 10 - soft must be positive by more than 2 SE
within_ten = evidence.compare([v + 10 for v in hard_exact.values], soft_exact.values)
goals = [
    (
        "soft exact match >= 85 %",
        soft_exact,
        soft_exact.mean >= 85,
    ),
    (
        "soft localisation >= 80 %",
        soft_localisation,
        soft_localisation.mean >= 80,
    ),
    (
        "hard exact match within 10 points of soft (margin above 2 SE)",
        hard_exact,
        within_ten.verdict(within_ten.gap > 0) == "met",
    ),
]
for goal, summary, met in goals:
    print(
        f"{goal}: measured {summary.format(unit='%')} -> {'goal met' if met else 'goal NOT met'}"
    )
print(
    f"margin of hard + 10 points over soft: {within_ten.format(unit=' points')} "
    f"({within_ten.verdict(within_ten.gap > 0)})"
)
whole = evaluations["hard, whole caption"]
print(
    f"seed 0 only: hard attention with reward-to-go {hard['exact_match']:.1%} vs whole-caption "
    f"reward (the paper's) {whole['exact_match']:.1%}; with one seed of the whole-caption run "
    f"the gap is not a measured comparison"
)
glue("sat_soft_hard_gap", soft_vs_hard.format(unit=" points"), display=False)
glue("sat_soft_hard_verdict", soft_vs_hard_verdict, display=False)

# %% tags=["remove-cell"]
# bookkeeping: the numbers above go to results/ (the book's results table)
data_note = (
    f"{N_TEST} test scenes of MNIST test digits, 2-3 digits, 64 x 64; "
    f"epoch kept by exact match on {N_VAL} validation scenes"
)
for (goal, summary, met), quantity, note in zip(
    goals,
    [
        "soft attention exact match",
        "soft attention localisation",
        "hard attention exact match",
    ],
    [
        "",
        "",
        f"soft minus hard {soft_vs_hard.format(unit=' points')}; "
        f"hard + 10 points minus soft {within_ten.format(unit=' points')}",
    ],
):
    results.record(
        "05_show_attend_tell",
        quantity,
        values=summary.values,
        unit="%",
        goal=goal,
        met=met,
        data=data_note,
        note=note,
    )
results.record(
    "05_show_attend_tell",
    "hard attention localisation",
    values=per_seed(HARD_SEEDS, "localisation"),
    unit="%",
    data=data_note,
)
results.record(
    "05_show_attend_tell",
    "hard attention exact match, whole-caption reward (paper's estimator)",
    values=[100 * whole["exact_match"]],
    unit="%",
    data=data_note,
    note="one seed: an illustration, not compared",
)
results.record(
    "05_show_attend_tell",
    "soft attention BLEU-4",
    values=per_seed(SOFT_SEEDS, "bleu4"),
    paper="19.5 Flickr8k, 24.3 COCO (soft, on photographs)",
    data=data_note,
)
_ = results.record(
    "05_show_attend_tell",
    "hard attention BLEU-4",
    values=per_seed(HARD_SEEDS, "bleu4"),
    paper="21.3 Flickr8k, 25.0 COCO (hard, on photographs)",
    data=data_note,
)

# %% [markdown]
# For reference, **the paper's figures** (Xu et al. 2015, Table 1; BLEU-1/2/3/4 and METEOR on
# photographs). They are not comparable to ours: real photographs with five human captions each,
# a 14 x 14 VGG feature map, vocabularies of about 10,000 words and days of GPU training, against
# synthetic scenes with one exact caption, an 18-word vocabulary and minutes on a CPU. Our BLEU-4
# is high because the language is tiny and fully determined by the image.
#
# | data set (paper) | soft attention | hard attention |
# |---|---|---|
# | Flickr8k | 67 / 44.8 / 29.9 / 19.5, 18.93 | 67 / 45.7 / 31.4 / 21.3, 20.30 |
# | Flickr30k | 66.7 / 43.4 / 28.8 / 19.1, 18.49 | 66.9 / 43.9 / 29.6 / 19.9, 18.46 |
# | COCO | 70.7 / 49.2 / 34.4 / 24.3, 23.90 | 71.8 / 50.4 / 35.7 / 25.0, 23.04 |
#
# In the paper hard attention edges out soft attention on BLEU. On our scenes, soft minus hard exact
# match over three seeds each is {glue:text}`sat_soft_hard_gap`. The verdict on "soft attention is
# more accurate than hard attention", by the rule above: {glue:text}`sat_soft_hard_verdict`.
#
# **Where the captions go wrong.** A caption is right when both its digits and its relation words are.
# Splitting each caption into the sequence of digit words and the phrases between them separates the two kinds
# of error: reading a digit, and judging where the next digit sits.

# %%
DIGIT_SET = set(DIGIT_WORDS)


def caption_parts(caption):
    """The digit words of a caption, and the relation phrases between them."""
    digits, relations, phrase = [], [], []
    for word in caption.split():
        if word in DIGIT_SET:
            if digits:
                relations.append(" ".join(phrase))
            digits.append(word)
            phrase = []
        else:
            phrase.append(word)
    return digits, relations


error_rows = [
    "| run | exact match | captions with a wrong digit word | captions with a wrong relation |",
    "|---|---|---|---|",
]
wrong_relation_share = {}
for name, ev in evaluations.items():
    wrong_digit = wrong_relation = 0
    for prediction, reference in zip(ev["predictions"], test_set.captions):
        (pd, pr), (rd, rr) = caption_parts(prediction), caption_parts(reference)
        wrong_digit += pd != rd
        wrong_relation += pr != rr
    wrong_relation_share[name] = wrong_relation / len(test_set)
    error_rows.append(
        f"| {name} | {ev['exact_match']:.1%} | {wrong_digit / len(test_set):.1%} | "
        f"{wrong_relation_share[name]:.1%} |"
    )
display(Markdown("\n".join(error_rows)))
STUCK_BELOW = 70.0  # % exact match; a run below it has, in the trials described in the training section, got stuck on the relations
stuck = {}
for label, names in [
    ("offset task", HARD_SEEDS),
    ("class only", CLASS_ONLY_SEEDS),
]:
    exact = evidence.summarize(per_seed(names, "exact_match"))
    relation = evidence.summarize([100 * wrong_relation_share[name] for name in names])
    stuck[label] = sum(value < STUCK_BELOW for value in exact.values)
    print(
        f"hard attention, encoder pretrained with {label:>11}: exact match "
        + " / ".join(f"{v:.1f}" for v in exact.values)
        + f" ({exact.format(unit='%')}); captions with a wrong relation "
        + " / ".join(f"{v:.1f}" for v in relation.values)
        + f" ({relation.format(unit='%')}); below {STUCK_BELOW:.0f} %: {stuck[label]} of {exact.n}"
    )
offset_exact = evidence.compare(
    per_seed(HARD_SEEDS, "exact_match"), per_seed(CLASS_ONLY_SEEDS, "exact_match")
)
offset_relation = evidence.compare(
    [100 * wrong_relation_share[name] for name in CLASS_ONLY_SEEDS],
    [100 * wrong_relation_share[name] for name in HARD_SEEDS],
)
offset_exact_verdict = offset_exact.verdict(offset_exact.gap > 0)
offset_relation_verdict = offset_relation.verdict(offset_relation.gap > 0)
print(
    f"exact match, offset task minus class only: {offset_exact.format(unit=' points')} "
    f"('the offset task raises exact match': {offset_exact_verdict})"
)
print(
    f"wrong relations, class only minus offset task: {offset_relation.format(unit=' points')} "
    f"('the offset task reduces relation errors': {offset_relation_verdict})"
)
glue("sat_offset_exact_gap", offset_exact.format(unit=" points"), display=False)
glue("sat_offset_exact_verdict", offset_exact_verdict, display=False)
glue("sat_offset_relation_gap", offset_relation.format(unit=" points"), display=False)
glue("sat_offset_relation_verdict", offset_relation_verdict, display=False)
glue("sat_stuck_offset", str(stuck["offset task"]), display=False)
glue("sat_stuck_class_only", str(stuck["class only"]), display=False)

# %% tags=["remove-cell"]
_ = results.record(
    "05_show_attend_tell",
    "hard attention exact match, class-only encoder (no offset task)",
    values=per_seed(CLASS_ONLY_SEEDS, "exact_match"),
    unit="%",
    data=data_note,
    note=f"offset task minus class only {offset_exact.format(unit=' points')}: "
    f"'offset task raises exact match' {offset_exact_verdict}",
)

# %% [markdown]
# Compare the last column across the rows. A hard-attention step reads a single cell of the $8 \times 8$
# grid, whose coordinates are quantised to 8 pixels, while "above" and "left of" differ by a few pixels;
# soft attention sees an average of several cells and of their coordinates, which can locate a digit
# between cell centres. The encoder trained with the offset task ({eq}`sat-offset`) hands each cell
# the digit's position within it ({numref}`Section %s <sat-pretrain>` measured how precisely, on validation digits). The lines above
# compare three hard runs on each encoder. The share of captions with a wrong relation, class only minus
# offset task, is {glue:text}`sat_offset_relation_gap`; the verdict on "the offset task reduces relation
# errors": {glue:text}`sat_offset_relation_verdict`. For exact match, offset task minus class only, the
# gap is {glue:text}`sat_offset_exact_gap`; the verdict on "the offset task raises exact match":
# {glue:text}`sat_offset_exact_verdict`. The wrong-digit column is the
# other half of the story: a single cell is also a narrower view of the digit than an average of several,
# and we expect the offset task, which is about positions, to do little for that part of the gap (the table
# lets you check it).
#
# Why did an earlier version of this chapter fail on one seed in three? Call a run *stuck* when it ends
# below 70 % exact match (`STUCK_BELOW`; the stuck runs of the earlier trials ended at 54 % and 65 %, the
# others near 80 %). On this page, by that definition, {glue:text}`sat_stuck_class_only` of 3 class-only
# runs are stuck, and {glue:text}`sat_stuck_offset` of 3 runs with the offset task (the per-seed values
# are printed above). In our trials (not part of this page), 3 of 8 class-only runs on
# other pretrained encoders got stuck, and none of 8 with the offset task. Our hypothesis is that whether a
# run gets stuck depends on the encoder as well as on the seed; three seeds per setting are too few to
# measure a rate of failure. {numref}`ex-sat-finer-grid` asks about a finer grid, the other way to give hard attention finer
# positions.

# %% [markdown]
# (sat-where)=
# ## Where the models look
#
# For the first three test scenes, {numref}`fig-sat-attention-1`, {numref}`fig-sat-attention-2` and
# {numref}`fig-sat-attention-3` show the attention behind every generated word, soft (top row) and
# hard (bottom row), for the seed-0 model of each. Each map is the $8 \times 8$ grid of $\alpha_{ti}$
# stretched over the image without smoothing; green boxes are the digits.


# %% tags=["remove-output", "hide-input"]
def show_attention(index, names=("soft", "hard")):
    image = test_set.images[index]
    n_words = max(
        len(evaluations[name]["predictions"][index].split()) + 1 for name in names
    )
    fig, axes = plt.subplots(
        len(names), n_words, figsize=(1.6 * n_words, 1.9 * len(names)), squeeze=False
    )
    for row, name in enumerate(names):
        ev = evaluations[name]
        words = (ev["predictions"][index].split() + ["<end>"])[: ev["alphas"].shape[1]]
        h, w = ev["grid"]
        for col in range(n_words):
            ax = axes[row, col]
            ax.axis("off")
            if col < len(words):
                viz.overlay_heatmap(ax, image, ev["alphas"][index, col].reshape(h, w))
                for j in range(int(test_set.n_objects[index])):
                    viz.draw_box(ax, test_set.boxes[index, j], linewidth=1)
                ax.set_title(
                    f"{name}: {words[col]}" if col == 0 else words[col], fontsize=8
                )
    fig.suptitle(f"reference: {test_set.captions[index]}", fontsize=9)
    fig.tight_layout()
    return fig


for index in range(3):
    glue(f"fig-sat-attention-{index + 1}", show_attention(index))

# %% [markdown]
# ```{glue:figure} fig-sat-attention-1
# :name: fig-sat-attention-1
#
# The first test scene: the attention map behind each word of the caption generated by soft attention
# (top row) and by hard attention (bottom row, the most likely location at test time); the reference
# caption is above. Look for each digit word's map to sit on the box of the digit it names.
# ```
#
# ```{glue:figure} fig-sat-attention-2
# :name: fig-sat-attention-2
#
# The second test scene, as in {numref}`fig-sat-attention-1`. Relation words (`above`, `below`,
# `left of`) have no box of their own: see where each model looks while it writes them.
# ```
#
# ```{glue:figure} fig-sat-attention-3
# :name: fig-sat-attention-3
#
# The third test scene, as in {numref}`fig-sat-attention-1`.
# ```
#
# The same maps as a step-by-step animation, for the first two test scenes: each frame is one
# generated word, with soft attention on the left and hard attention on the right (words come from
# each model's own caption, so the two may differ). Use the slider or the buttons below it to step
# through the words; it runs in the page without Python.

# %% tags=["hide-input"]
ANIMATION_SCENES = (0, 1)
frames = []  # (scene, step): one frame per generated word (and <end>) of either model, at most 24
for index in ANIMATION_SCENES:
    n_steps = max(
        min(
            len(evaluations[name]["predictions"][index].split()) + 1,
            evaluations[name]["alphas"].shape[1],
        )
        for name in ("soft", "hard")
    )
    frames += [(index, step) for step in range(n_steps)]
frames = frames[:24]

anim_fig, anim_axes = plt.subplots(1, 2, figsize=(6, 3), dpi=72)


def draw_frame(k):
    index, step = frames[k]
    for ax, name in zip(anim_axes, ("soft", "hard")):
        ev = evaluations[name]
        words = (ev["predictions"][index].split() + ["<end>"])[: ev["alphas"].shape[1]]
        h, w = ev["grid"]
        ax.clear()
        if step < len(words):
            viz.overlay_heatmap(
                ax, test_set.images[index], ev["alphas"][index, step].reshape(h, w)
            )
            for j in range(int(test_set.n_objects[index])):
                viz.draw_box(ax, test_set.boxes[index, j], linewidth=1)
            ax.set_title(f"{name}, word {step + 1}: {words[step]}", fontsize=9)
        else:  # this model's caption ended earlier
            ax.axis("off")
            ax.set_title(f"{name}: caption ended", fontsize=9)
    anim_fig.suptitle(
        f"test scene {index + 1}; reference: {test_set.captions[index]}", fontsize=9
    )
    return []


attention_animation = animation.FuncAnimation(
    anim_fig, draw_frame, frames=len(frames), interval=900, blit=False
)
viz.animation_html(attention_animation, default_mode="once")

# %% [markdown]
# Per-word attention of soft (left) and hard (right) attention on the first two test scenes, one
# frame per generated word. Words that name a digit should light up that digit's box; the relation
# words show where each model looks while it decides how the next digit sits.

# %% [markdown]
# (sat-coverage)=
# ## What the doubly stochastic penalty does to coverage
#
# Summing the attention over the words of a caption gives the *coverage* of each cell,
# $\sum_t \alpha_{ti}$, the quantity {eq}`sat-soft-loss` pulls towards 1. {numref}`fig-sat-coverage`
# shows the coverage of the first four test scenes without and with the penalty, and the distribution of
# the largest single attention weight per word (1 means the word looked at one cell only).

# %% tags=["remove-output", "hide-input"]
fig, axes = plt.subplots(2, 5, figsize=(11, 4.8))
for row, name in enumerate(["soft", "soft + penalty"]):
    ev = evaluations[name]
    h, w = ev["grid"]
    steps = (ev["tokens"] != VOCAB.pad).float()
    for col in range(4):
        coverage = (ev["alphas"][col] * steps[col, :, None]).sum(0).reshape(h, w)
        viz.overlay_heatmap(
            axes[row, col], test_set.images[col], coverage / coverage.max()
        )
        axes[row, col].set_title(f"{name}: max {coverage.max():.2f}", fontsize=8)
    peaks = ev["alphas"].amax(-1)[steps.bool()]
    axes[row, 4].hist(peaks.numpy(), bins=20, range=(0, 1))
    axes[row, 4].set_title(f"{name}: peak weight per word", fontsize=8)
fig.tight_layout()
glue("fig-sat-coverage", fig)

# %% [markdown]
# ```{glue:figure} fig-sat-coverage
# :name: fig-sat-coverage
#
# Coverage $\sum_t \alpha_{ti}$ of each cell over the generated caption, scaled to its maximum (printed
# above each map), for four test scenes: soft attention without the penalty (top row) and with it,
# $\lambda = 1$ (bottom row). The last column is the histogram, over all generated words of the test
# scenes, of the largest attention weight of the word.
# ```
#
# The table sets the localisation and the mean peak weight of the three soft seeds without the penalty
# next to the run with it, with the penalty each run pays on the test scenes.

# %%
penalty_rows = [
    "| run | localisation | mean peak weight | mean penalty on test | exact match |",
    "|---|---|---|---|---|",
]
for name in [*SOFT_SEEDS, "soft + penalty"]:
    ev = evaluations[name]
    steps = ev["tokens"] != VOCAB.pad
    penalty = sat.doubly_stochastic_penalty(ev["alphas"], steps, 1.0).item()
    penalty_rows.append(
        f"| {name} | {ev['localisation']:.1%} | {ev['alphas'].amax(-1)[steps].mean():.2f} "
        f"| {penalty:.1f} | {ev['exact_match']:.1%} |"
    )
display(Markdown("\n".join(penalty_rows)))

# %% [markdown]
# With 64 cells and about six words, no attention pattern can give every cell a coverage of 1; the
# penalty is smallest when every cell gets $C/L \approx 0.1$ ({prf:ref}`prop-sat-penalty-spread`). So the derivation predicts that the
# penalty spreads the attention out: lower peak weights, and lower localisation. The rows above test
# that prediction, but only as an illustration: the penalty run has one seed, so the page cannot
# separate its difference from seed noise by the rule of {numref}`Section %s <sat-results>`; the three soft seeds give the
# scale of that noise to read it against. On photographs with 196 cells and long captions the same
# pull encourages the model to mention more of the scene, which is what Xu et al. wanted; on a task
# where each word has one place to look we expect it to work against the task ({numref}`ex-sat-short-penalty` asks how
# to fix that).

# %% [markdown]
# (sat-beam)=
# ## Beam search
#
# Greedy decoding commits to the most likely word at each step. {py:func}`sat.beam_search <attnlib.sat.decode.beam_search>` keeps the $k$
# most likely partial captions instead; like {py:func}`sat.greedy_decode <attnlib.sat.decode.greedy_decode>` it only needs a
# `step(tokens, state) -> (log_probs, state, aux)` function, so the OCR chapter reuses it.

# %%
beam = sat.evaluate_captions(models["soft"], test_set, beam_size=3)
print(
    f"soft attention (seed 0), exact match: greedy {soft['exact_match']:.1%}, beam search (k = 3) "
    f"{beam['exact_match']:.1%}; BLEU-4: greedy {100 * soft['bleu4']:.1f}, beam {100 * beam['bleu4']:.1f} "
    "(one model: an illustration, not a comparison)"
)
chapter_minutes = (time.perf_counter() - CHAPTER_START) / 60
print(
    f"whole chapter ran in {chapter_minutes:.1f} min ({budget.current()} budget, {DEVICE})"
)

# %% tags=["remove-cell"]
_ = results.record(
    "05_show_attend_tell",
    "chapter execution time",
    chapter_minutes,
    unit="min",
    goal="<= 10 min",
    met=chapter_minutes <= 10,
    data=f"{torch.get_num_threads()} CPU thread(s)"
    if DEVICE.type == "cpu"
    else str(DEVICE),
)

# %% [markdown]
# ## Departures from the paper
#
# | | Xu et al. {cite}`xu2015show` | this chapter | why |
# |---|---|---|---|
# | data | Flickr8k, Flickr30k and COCO photographs, five human captions each, a vocabulary of 10,000 words | synthetic 64 x 64 scenes of two or three MNIST digits with one exact caption in reading order, an 18-word vocabulary; train / validation / test scenes from disjoint digits | we know where each word should look, so attention can be scored; a run takes minutes on a CPU |
# | encoder | VGG pretrained on ImageNet, its $14 \times 14 \times 512$ convolutional map, not fine-tuned | a small CNN (stride 8, an $8 \times 8$ map) pretrained on shifted single digits, frozen; cell coordinates appended to each annotation | scale; the captions' relations are positional |
# | encoder pretraining | ImageNet classification | digit classification plus the offset regression of {eq}`sat-offset` | to give a single cell its digit's position, for hard attention ({numref}`Section %s <sat-pretrain>`) |
# | decoder | LSTM, gate $\beta_t$, initial state from the mean annotation, deep output | the same equations, 128 LSTM units, 32-dimensional embeddings, a 64-unit attention MLP; $\tanh$ in the deep output as in the authors' code | scale |
# | loss, soft | log-likelihood plus the doubly stochastic penalty | the main soft runs without the penalty; one run with it ($\lambda = 1$) | with $C \ll L$ the penalty asks for spread-out attention ({numref}`Sections %s <sat-objectives>` and {numref}`%s <sat-coverage>`) |
# | loss, hard | the lower bound with the whole caption's log-likelihood as reward, a moving-average baseline, an entropy bonus; the expectation instead of the sample with probability 0.5 | reward-to-go with a baseline per step (one run keeps the whole caption); the probability of the expectation falls from 1 to 0.5 over the first half of training | variance reduction without bias ({eq}`sat-reward-to-go`); hard runs got stuck without the schedule in trials |
# | $\lambda_r$ | chosen by cross-validation | 0.05, from short trials on training curves (not part of this page) | the time budget; {numref}`ex-sat-reinforce-weight` varies it on validation scenes |
# | optimiser | RMSProp (Flickr8k), Adam (Flickr30k, COCO); dropout | Adam, gradient norm clipped at 5; no dropout | short CPU runs |
# | schedule | early stopping on validation BLEU | a one-cycle learning rate over 12 epochs; the weights of the epoch with the best validation exact match | the same idea (selection on validation), with a fixed number of epochs |
# | evaluation | BLEU-1 to 4 and METEOR on the test images, one model per variant | exact match, BLEU-4 and attention localisation on test scenes; soft, hard and hard on the class-only encoder over three seeds each (mean ± standard deviation), other runs one seed | the captions are exact and the digits' boxes known; seeds because hard attention varies from run to run |
# | decoding | — | greedy; hard attention reads the most likely location at test time; beam search shown once | a hard model stays hard at test time |

# %% [markdown]
# ## Summary
#
# * Soft and hard attention are two readings of one distribution $\alpha_t$ over locations: its
#   expectation ({eq}`sat-soft`), trained by backpropagation, or a sample from it
#   ({eq}`sat-hard`), trained through the lower bound {eq}`sat-bound` with the
#   score-function gradient {eq}`sat-hard-grad`; the baseline and the reward-to-go
#   ({eq}`sat-reward-to-go`, {prf:ref}`prop-sat-reward-to-go`) leave its mean unchanged and are there
#   to reduce its noise.
# * In `attnlib.sat` both share every parameter; the difference is a few lines of
#   {py:meth}`SATDecoder.step <attnlib.sat.decoder.SATDecoder.step>` and the loss
#   ({py:func}`hard_attention_loss <attnlib.sat.losses.hard_attention_loss>` builds on
#   {py:mod}`attnlib.reinforce`).
# * On scenes where we know where each word should look we can measure attention, not only
#   captions: the results table above gives both, for both variants.
# * A hard-attention step sees one annotation vector, so what a single cell knows matters more
#   than for soft attention. Pretraining the encoder to also say where its digit sits inside each
#   cell ({eq}`sat-offset`) targets the relation errors this causes; {numref}`Section %s <sat-results>` measures what it
#   is worth, over three seeds per encoder.
# * The evidence follows the course's rule: each captioner keeps the epoch chosen on validation
#   scenes, the test scenes are read once, and a conclusion drawn from a gap between two settings
#   rests on three seeds each and a gap larger than twice its standard error.
#
# ## Exercises
#
# The first three exercises are coding exercises: you write a piece of the chapter's library yourself and a
# checker from `attnlib.exercises.sat` tries it on small cases, including the edge cases that catch the
# usual mistakes. The checker says which case fails, what differs and gives a hint; it never shows the
# answer. The cells below call each checker on an unfinished skeleton, so that you see what its report
# looks like.

# %% [markdown]
# ```{exercise-start} The doubly stochastic penalty
# :label: ex-sat-penalty-code
# ```
#
# Write `my_penalty(alphas, step_mask, weight)`, the penalty term of {eq}`sat-soft-loss`:
# $\lambda \sum_{i=1}^{L} \big(1 - \sum_t \alpha_{ti}\big)^2$ for each caption, averaged over the captions
# of the batch, returned as a 0-dimensional tensor. `alphas` is `(B, T, L)`, the attention weights of every
# step; `step_mask` is `None` or a bool `(B, T)` that is false on padding steps (a padded batch runs the
# decoder for the longest caption's steps, and the weights of the extra steps must not count); `weight` is
# $\lambda$. Compare your function with
# {py:func}`sat.doubly_stochastic_penalty <attnlib.sat.losses.doubly_stochastic_penalty>` only after the
# checker passes it.

# %%
from attnlib.exercises import sat as sat_exercises


def my_penalty(alphas, step_mask, weight):
    raise NotImplementedError("write this function")


_ = sat_exercises.check_doubly_stochastic_penalty(my_penalty)

# %% [markdown]
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-sat-penalty-code
# :class: dropdown
# ```
#
# **A common mistake** is to forget the padding: every step attends, padding steps included, so their
# weights inflate the coverage of the short captions of a batch. The checker catches it on the padded case:

# %%
from attnlib.exercises import sat as sat_exercises


def penalty_ignoring_padding(alphas, step_mask, weight):
    coverage = alphas.sum(1)  # (B, L), padding steps included: wrong
    return weight * ((1.0 - coverage) ** 2).sum(-1).mean()


_ = sat_exercises.check_doubly_stochastic_penalty(penalty_ignoring_padding)

# %% [markdown]
# **The solution.** Zero the weights of the padding steps, sum over the steps (dimension 1) to get each
# location's coverage, then sum the squared gaps over the locations and average over the batch:

# %%
from attnlib.exercises import sat as sat_exercises


def my_penalty(alphas, step_mask, weight):
    if step_mask is not None:
        alphas = alphas * step_mask[..., None].to(alphas.dtype)
    # (B, L): the total attention each location receives over the caption
    coverage = alphas.sum(1)
    return weight * ((1.0 - coverage) ** 2).sum(-1).mean()


_ = sat_exercises.check_doubly_stochastic_penalty(my_penalty)

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise-start} Additive attention with a mask
# :label: ex-sat-additive-code
# ```
#
# Write `my_attention(features, query, W_a, W_h, b, w, mask)`, the attention of {eq}`sat-score` and
# {eq}`sat-alpha` with the expected annotation of {eq}`sat-soft`: the score of location $i$ is
# $e_i = w^\top \tanh(W_a a_i + W_h h + b)$, the weights $\alpha$ are the softmax of the scores over the
# locations that `mask` allows (exactly zero on the others), and the context is $\sum_i \alpha_i a_i$.
# Shapes: `features (B, L, D)` holds the $a_i$, `query (B, Q)` the hidden state $h$; `W_a (A, D)`,
# `W_h (A, Q)` (laid out as `nn.Linear.weight`), `b (A,)`, `w (A,)`; `mask` is `None` or a bool `(B, L)`,
# true where a location may be attended. Return `(context, alpha)` with shapes `(B, D)` and `(B, L)`. The
# checker compares with {py:class}`sat.AdditiveAttention <attnlib.sat.attention.AdditiveAttention>` given
# the same weights.

# %%
from attnlib.exercises import sat as sat_exercises


def my_attention(features, query, W_a, W_h, b, w, mask=None):
    raise NotImplementedError("write this function")


_ = sat_exercises.check_additive_attention(my_attention)

# %% [markdown]
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-sat-additive-code
# :class: dropdown
# ```
#
# **A common mistake** is to apply the mask after the softmax, by zeroing the weights of the masked
# locations: the remaining weights then no longer sum to one, and the context shrinks. The checker
# catches it on the masked cases:

# %%
import torch
from attnlib.exercises import sat as sat_exercises


def attention_masked_after_softmax(features, query, W_a, W_h, b, w, mask=None):
    # (B, L): the scores e_i, as in the solution
    scores = torch.tanh(features @ W_a.T + (query @ W_h.T)[:, None, :] + b) @ w
    alpha = torch.softmax(scores, dim=-1)
    if mask is not None:
        alpha = alpha * mask  # wrong: the rows no longer sum to one
    return (alpha[..., None] * features).sum(1), alpha


_ = sat_exercises.check_additive_attention(attention_masked_after_softmax)

# %% [markdown]
# **The solution.** Score every location against its image's query, set the masked scores to $-\infty$,
# and let `torch.softmax` normalise (it subtracts each row's maximum, so large scores do not overflow):

# %%
import torch
from attnlib.exercises import sat as sat_exercises


def my_attention(features, query, W_a, W_h, b, w, mask=None):
    keys = features @ W_a.T  # (B, L, A): W_a a_i for every location
    scores = torch.tanh(keys + (query @ W_h.T)[:, None, :] + b) @ w  # (B, L): e_i
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    alpha = torch.softmax(scores, dim=-1)
    context = (alpha[..., None] * features).sum(1)  # (B, D): sum_i alpha_i a_i
    return context, alpha


_ = sat_exercises.check_additive_attention(my_attention)

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise-start} The REINFORCE term of hard attention, with its baseline
# :label: ex-sat-reinforce-code
# ```
#
# Write `my_reinforce(log_probs, used, reward, baseline, momentum)`, the score-function part of
# {eq}`sat-hard-grad` as a surrogate loss, with the moving-average baseline of {eq}`sat-baseline`.
# `log_probs (B, T)` holds $\log \alpha_{t, \tilde s_t}$, the log-probability of the location sampled at each
# step; `used (B, T)` is true on the steps that belong to the caption and fed the sample to the decoder
# (false on padding and where the expectation replaced the sample); `reward (B,)` is
# $\log p(y \mid \tilde s, a)$ of each caption; `baseline` is the moving average $b$ so far (a
# 0-dimensional tensor) and `momentum` its decay, 0.9. Return `(surrogate, new_baseline)`: the scalar
# $-\frac1B \sum_b (R_b - b) \sum_{t \text{ used}} \log \alpha_{t, \tilde s_t}$, whose gradient is minus the
# score term (the reward is a constant in it), and the updated average
# $0.9\, b + 0.1 \cdot \text{mean}(R)$. (The library's version is inside
# {py:func}`sat.hard_attention_loss <attnlib.sat.losses.hard_attention_loss>`, through
# {py:func}`attnlib.reinforce.score_function_surrogate` and
# {py:class}`attnlib.reinforce.MovingAverageBaseline`.)

# %%
from attnlib.exercises import sat as sat_exercises


def my_reinforce(log_probs, used, reward, baseline, momentum=0.9):
    raise NotImplementedError("write this function")


_ = sat_exercises.check_hard_attention_reinforce(my_reinforce)

# %% [markdown]
# ```{exercise-end}
# ```
#
# ```{solution-start} ex-sat-reinforce-code
# :class: dropdown
# ```
#
# **A common mistake** is to update the moving average first and baseline the batch with the new value.
# The new value contains this batch's rewards, so it depends on the sampled locations, and the estimate is
# no longer unbiased ({numref}`ex-sat-baseline` asks why). The checker catches it as soon as the old and
# new averages differ:

# %%
from attnlib.exercises import sat as sat_exercises


def reinforce_with_updated_baseline(log_probs, used, reward, baseline, momentum=0.9):
    reward = reward.detach()
    new_baseline = momentum * baseline + (1 - momentum) * reward.mean()
    # (B,): log p(s | a), summed over the used steps
    score = (log_probs * used.to(log_probs.dtype)).sum(1)
    # wrong: the batch baselines itself
    return -((reward - new_baseline) * score).mean(), new_baseline


_ = sat_exercises.check_hard_attention_reinforce(reinforce_with_updated_baseline)

# %% [markdown]
# **The solution.** Detach the reward, weight the summed log-probabilities of the used steps by
# $R - b$ with the old $b$, average over the captions and change the sign; then fold the batch's mean
# reward into the average:

# %%
from attnlib.exercises import sat as sat_exercises


def my_reinforce(log_probs, used, reward, baseline, momentum=0.9):
    # the reward is a weight in the score term, not something to differentiate
    reward = reward.detach()
    # (B,): log p(s | a), summed over the used steps
    score = (log_probs * used.to(log_probs.dtype)).sum(1)
    surrogate = -((reward - baseline) * score).mean()
    new_baseline = momentum * baseline + (1 - momentum) * reward.mean()
    return surrogate, new_baseline


_ = sat_exercises.check_hard_attention_reinforce(my_reinforce)

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise} The baseline
# :label: ex-sat-baseline
#
# Compare the "hard" and "hard, no baseline" runs in the table and the learning curves
# ({numref}`fig-sat-history`; one seed each: to tell their gap from seed noise, train seeds 1 and 2 of
# "hard, no baseline" and compare the validation exact match with {py:func}`attnlib.evidence.compare`).
# Then explain why the moving average must be read *before* it is updated with the current batch.
# ```
#
# ```{solution} ex-sat-baseline
# :class: dropdown
#
# Without a baseline the REINFORCE term multiplies $\nabla \log p(s \mid a)$ by the log-likelihood
# itself, which is always negative: every sampled location is pushed down, and only *relative*
# differences between samples carry signal, buried in noise. Subtracting the running average
# centres the reward, so locations that did better than usual are reinforced and worse ones are
# discouraged; the curves above show how much faster (or whether) each run learns. If the baseline
# included the current batch's rewards, it would depend on the sampled actions and the estimate
# would be biased ({numref}`Chapter %s <ch-foundations>`, {eq}`foundations-baseline`).
# {py:meth}`MovingAverageBaseline.update <attnlib.reinforce.MovingAverageBaseline.update>` therefore
# returns the old value.
# ```
#
# ```{exercise} A penalty for short captions
# :label: ex-sat-short-penalty
#
# Rewrite the doubly stochastic penalty so that it does not fight localisation when $C \ll L$, and say
# what it then encourages.
# ```
#
# ```{solution} ex-sat-short-penalty
# :class: dropdown
#
# One option penalises only *over*-coverage, $\lambda \sum_i \max(0, \sum_t \alpha_{ti} - 1)^2$: it
# stops the model from attending to the same cell for several words (useful against repeated
# words) and leaves cells that no word needs alone. Another pulls coverage towards $C/L$ only on
# cells that contain something. With `sat.doubly_stochastic_penalty` (or your `my_penalty` of
# {numref}`ex-sat-penalty-code`) as a template: `weight * (torch.relu(coverage - 1) ** 2).sum(-1).mean()`.
# ```
#
# ```{exercise} Test-time hard attention
# :label: ex-sat-test-time
#
# We decode hard-attention models with the most likely location. Evaluate `models["hard"]` on the
# validation scenes (`val_set`: choosing a decoding is a choice, so it is made on validation data) with
# `sat.evaluate_captions(..., mode="soft")` (the expectation) and with sampled locations (write a loop
# over `sat.generate(..., mode="hard")`). Which is best, and why does the expectation work at all for a
# model trained with samples?
# ```
#
# ```{solution} ex-sat-test-time
# :class: dropdown
#
# Under the soft-to-hard schedule, {glue:text}`sat_expected_share` of the training sequences used the
# expectation ({numref}`Section %s <sat-training>` prints the share; with the authors' constant
# probability it would be half), so the decoder has seen soft contexts and handles them; when
# $\alpha_t$ is peaked, the expectation and the argmax context are nearly the same vector. We expect
# sampling to lose a few points, since a sampled location occasionally falls on the wrong digit; the
# exercise measures whether it does.
# ```
#
# ```{exercise} Photographs
# :label: ex-sat-photographs
#
# Use {py:func}`attnlib.data.captions.load_karpathy_captions` with Flickr8k (Karpathy's
# `dataset_flickr8k.json` and the image folder) and `sat.TorchvisionEncoder("resnet50",
# weights="DEFAULT")` on Colab. What must change in this notebook?
# ```
#
# ```{solution} ex-sat-photographs
# :class: dropdown
#
# The vocabulary comes from the training split (`train.vocab`, passed to the validation and test
# splits); BLEU uses all references of an image (`dataset.references`); the encoder's `out_dim`
# (2048 for ResNet-50) sets the decoder's `feature_dim`; captions are longer (`max_len` around 20)
# and localisation cannot be measured (there are no boxes). With the encoder frozen, computing the
# annotations once per image with `sat.encode_images` is again the main saving.
# ```
#
# ```{exercise} The REINFORCE weight
# :label: ex-sat-reinforce-weight
#
# Train the "hard" run again with $\lambda_r \in \{0, 0.2, 1\}$ (`reinforce_weight` of
# `sat.make_train_step`) and compare validation curves and localisation on the validation scenes
# (`sat.evaluate_captions(model, val_set)`), which is where such a choice is made; read the test scenes
# only for the weight you keep. What does $\lambda_r = 0$ train, and why can it still learn where to look?
# ```
#
# ```{solution} ex-sat-reinforce-weight
# :class: dropdown
#
# With $\lambda_r = 0$ the attention weights receive no score-function gradient; they still learn
# through the sequences that use the expected context ({glue:text}`sat_expected_share` of them under
# the soft-to-hard schedule), which is soft attention, and the sampled ones only train the decoder to
# read single cells. Larger $\lambda_r$ adds an unbiased but very noisy signal: the log-likelihood of
# the rest of the caption (minus the baseline) multiplies the score of each sampled location, so one
# wrong word blames every location sampled before it (with the paper's whole-caption weight, every
# location of the caption). In the trials behind $\lambda_r = 0.05$ ({numref}`Section %s <sat-training>`)
# larger weights learned more slowly at this budget, as if the noise dominated; with many updates and a
# good baseline we would expect the score term to be what makes the sampled attention itself sharp. Your
# validation curves test both statements.
# ```
#
# ```{exercise} A finer grid instead of the offset task
# :label: ex-sat-finer-grid
#
# {numref}`Section %s <sat-pretrain>` gives a single cell finer positions by pretraining it to regress
# its digit's offset. The other way is a finer grid: `sat.SmallCNNEncoder(stride=4)` drops one pooling
# (a $16 \times 16$ grid of 4-pixel cells; its last convolution is dilated so that a cell still sees
# 34 x 34 pixels). Pretrain it on classification alone, train the "hard" captioner on it (three seeds),
# and compare, on the validation scenes, the error table, the training time per epoch and the spread
# over seeds with this page's settings. What does each approach cost?
# ```
#
# ```{solution} ex-sat-finer-grid
# :class: dropdown
#
# With 4-pixel cells, the coordinates of one cell place a digit to within 4 pixels, and the
# relations ("above": at least 10 pixels; "left of": at most 3) become far easier to read from two
# attended cells, so we expect the relation errors to fall as with the offset task. The price is paid
# at every decoding step instead of once: there are 256 locations instead of 64, so the attention MLP
# ({eq}`sat-score`), which we expect to dominate the decoder's cost here, does four times the
# work, and an epoch should take several times as long on a CPU (the exercise measures it); the
# frozen annotations take four times the memory; and a sample has 256 places to go wrong, which we
# expect to make the score-function gradient noisier. The offset task costs a linear layer during
# pretraining and nothing afterwards, which is why this chapter uses it. (A finer grid is still the
# natural choice when objects are small relative to a cell, because then one cell may hold two of them.)
# ```
