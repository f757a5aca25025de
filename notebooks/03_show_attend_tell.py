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
# # Chapter 3: Show, Attend and Tell — soft and stochastic hard attention
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
#   and an entropy bonus, the tools of Chapter 1.
#
# The popular PyTorch tutorials implement only the soft half. This chapter implements both with
# one code base (`attnlib.sat`), derives what each one optimises, and compares them on a captioning
# task where we *know* where the model should look: scenes of real MNIST digits captioned in a
# fixed reading order, such as "four above seven left of two". Because every object word names a
# digit with a known box, we can score not only the caption but also the attention.
#
# API reference for this chapter's code: {doc}`../book/api/sat`, {doc}`../book/api/data_captions`.

# %% tags=["colab-setup"]
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
import inspect
import math
import time

import matplotlib.pyplot as plt
import torch
from attnlib import budget, results, sat, train, viz
from attnlib.data import ink_centres, load_mnist
from attnlib.data.captions import DIGIT_CAPTION_VOCAB, DIGIT_WORDS, make_digit_captions
from IPython.display import Markdown, display

CHAPTER_START = time.perf_counter()
N_TRAIN = budget.choose(smoke=256, book=8000, paper=60000)
N_TEST = budget.choose(smoke=64, book=1000, paper=5000)
N_VAL = budget.choose(smoke=32, book=300, paper=1000)
MNIST_SOURCE = budget.choose(smoke="bundled", book="bundled", paper="torchvision")
DEVICE = budget.announce(
    data=f"digit-caption scenes generated from MNIST ({MNIST_SOURCE}): {N_TRAIN:,} train scenes from training "
    f"digits, {N_TEST:,} test scenes from test digits, 64 x 64 pixels, 2-3 digits each"
)
generator = train.seed_everything(0)
VOCAB = DIGIT_CAPTION_VOCAB

# %% [markdown]
# ## 1. The task: digit scenes captioned in reading order
#
# `attnlib.data.captions.make_digit_captions` places two or three MNIST digits on a 64 x 64
# canvas and captions them from left to right. Between two consecutive digits the caption says
# how the next one sits: `above` (the current digit is at least 10 pixels higher), `below`, or
# `left of` (the same height, within 3 pixels); layouts in between are never drawn, so no caption
# is ambiguous. The generator keeps each digit's ink box, drawn in green below. Training scenes use
# only training digits, test scenes only test digits.

# %%
train_set = make_digit_captions(N_TRAIN, "train", seed=1, source=MNIST_SOURCE)
val_set = make_digit_captions(N_VAL, "test", seed=3, source=MNIST_SOURCE)
test_set = make_digit_captions(N_TEST, "test", seed=2, source=MNIST_SOURCE)
print(f"vocabulary ({len(VOCAB)} tokens): {' '.join(VOCAB.itos)}")
print(
    f"caption length: {min(map(len, (c.split() for c in train_set.captions)))} to "
    f"{max(map(len, (c.split() for c in train_set.captions)))} words"
)

fig, axes = plt.subplots(2, 4, figsize=(11, 6))
for i, ax in enumerate(axes.flat):
    ax.imshow(train_set.images[i, 0], cmap="gray", vmin=0, vmax=1)
    for j in range(int(train_set.n_objects[i])):
        viz.draw_box(ax, train_set.boxes[i, j], label=str(j + 1))
    ax.set_title(train_set.captions[i], fontsize=8)
    ax.axis("off")
fig.suptitle("Training scenes: boxes numbered in reading order")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The model
#
# **Encoder.** A convolutional network turns the image into $L$ annotation vectors, one per cell
# of its last feature map:
#
# $$
# a = \{a_1, \dots, a_L\}, \qquad a_i \in \mathbb{R}^D .
# $$ (sat-annotations)
#
# Xu et al. take the $14 \times 14 \times 512$ map of an ImageNet-trained VGG network and keep it
# fixed. Our analogue is a small CNN (`sat.SmallCNNEncoder`, stride 8, so $L = 8 \times 8$) that
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
# This is `sat.AdditiveAttention`, a module of its own with a `mask` argument (padding cells get
# weight exactly zero), because the attention-OCR chapter reuses it. Its forward pass is the
# explanation:

# %%
source = inspect.getsource(sat.AdditiveAttention.forward)
print(source[source.index("        scores = ") :])

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
# `sat.SATDecoder` implements these equations; the three ways of forming the context differ in a
# few lines, and everything else is shared:

# %%
source = inspect.getsource(sat.SATDecoder.step)
print(
    source[
        source.index("        expected, alpha = ") : source.index("        embedded = ")
    ]
)

# %% [markdown]
# ## 3. What each variant optimises
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
# and one for the attention (the score function, Eq. {eq}`foundations-score` of Chapter 1). With
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
# which does not depend on the current sample, so the estimate stays unbiased (Chapter 1) while its
# variance drops. The authors add one more trick: with probability 0.5 they replace the sample by
# its expectation, i.e. take a soft step. At such a step the caption does not depend on the sample,
# so our estimator drops that step's score term (it would only add noise).
#
# **Reward-to-go** (our departure from the paper, a standard variance reduction for REINFORCE).
# Write $\log p(y \mid \tilde s, a) = \sum_{t'} r_{t'}$ with $r_{t'} = \log p(y_{t'} \mid y_{<t'}, \tilde s_{\le t'}, a)$
# and $\log p(\tilde s \mid a) = \sum_t \log p(\tilde s_t \mid \dots)$. Eq. {eq}`sat-hard-grad` weights the
# score of *every* location $\tilde s_t$ by the whole caption's log-likelihood. But with teacher
# forcing the words before $t$ were predicted before $\tilde s_t$ was drawn, so for $t' < t$,
# $\mathbb{E}\big[r_{t'}\, \nabla \log p(\tilde s_t \mid \dots)\big] = \mathbb{E}\big[r_{t'}\,
# \mathbb{E}_{\tilde s_t}[\nabla \log p(\tilde s_t \mid \dots)]\big] = 0$: those terms have mean zero and only
# add noise. Dropping them leaves the same expected gradient,
#
# $$
# \lambda_r \sum_t \big(R_t - b_t\big) \frac{\partial \log p(\tilde s_t \mid \dots)}{\partial W},
# \qquad R_t = \sum_{t' \ge t} r_{t'},
# $$ (sat-reward-to-go)
#
# with a baseline $b_t$ per step (the same moving average, kept separately for each word position,
# because $R_t$ shrinks as $t$ grows). `tests/test_reinforce.py` checks by enumerating every path
# of a two-step problem that the expected reward-to-go estimate equals the exact gradient. Our hard
# runs below use Eq. {eq}`sat-reward-to-go` (`reward_to_go=True`); one run keeps the paper's
# whole-caption weight, Eq. {eq}`sat-hard-grad`, for comparison.
#
# `sat.hard_attention_loss` builds a surrogate whose gradient is exactly Eq. {eq}`sat-hard-grad`,
# with `attnlib.reinforce.score_function_surrogate` for the REINFORCE term and
# `attnlib.reinforce.MovingAverageBaseline` for $b$ (it returns the value *before* folding in the
# batch, so a batch never baselines itself):

# %%
source = inspect.getsource(sat.hard_attention_loss)
print(source[source.index("    nll = caption_nll") : source.index("    logs = {")])

# %% [markdown]
# **The doubly stochastic penalty.** By construction $\sum_i \alpha_{ti} = 1$ at every step. The
# penalty in Eq. {eq}`sat-soft-loss` (`sat.doubly_stochastic_penalty`) also pushes
# $\sum_t \alpha_{ti}$, the total attention that location $i$ receives over the caption, towards 1:
# it asks the model to look at every part of the image at some point. Xu et al. report that it
# improves BLEU and makes the captions richer on photographs. Notice what it asks for when the
# caption is much shorter than the number of locations ($C \ll L$): the coverages sum to $C$, so the
# penalty is smallest when every location gets $C/L$, i.e. when attention is *spread out*. On our
# scenes (about 6 steps, 64 locations) we should expect it to fight localisation; Section 6
# measures it.

# %% [markdown]
# ## 4. Pretraining and freezing the encoder
#
# As Xu et al. do with VGG, we train the encoder on labelled images first and freeze it. The
# images are the 4,000 training digits, each shifted at random by up to 4 pixels inside a
# 36 x 36 frame (`sat.shift_in_frame`) so that the features do not depend on where a digit falls
# relative to the 8-pixel grid. Two tasks share the encoder (`sat.PretrainHead`,
# `sat.make_pretrain_step`):
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
# turn on a few pixels ("above" needs 10, "left of" at most 3). Classification alone trains the
# features to ignore where inside the frame a digit sits; that is what the random shifts are for. So,
# without the offset task, one cell says less about where its digit is than it could. Soft attention does not
# need it as much: an average over several cells and their coordinates already locates a digit
# between cell centres. To measure what the task is worth, we also pretrain a second encoder on
# classification alone (`offsets=False`) and train one hard captioner on it in Section 5.
#
# Frozen, an encoder's annotations can be computed once for the whole training set
# (`sat.encode_images`), which makes every epoch of the captioners below cheap.

# %%
PRETRAIN_EPOCHS = budget.choose(smoke=1, book=12, paper=20)
MAX_SHIFT = 4
digits, digit_labels = load_mnist("train", source=MNIST_SOURCE)
test_digits, test_labels = load_mnist("test", source=MNIST_SOURCE)
if budget.current() == "smoke":
    digits, digit_labels = digits[:512], digit_labels[:512]


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
    """Root-mean-square error (pixels) of the offsets read from the cells near each test digit."""
    shifts = torch.randint(
        -MAX_SHIFT,
        MAX_SHIFT + 1,
        (len(test_digits), 2),
        generator=torch.Generator().manual_seed(9),
    )
    framed = sat.shift_in_frame(test_digits, shifts, MAX_SHIFT).to(DEVICE)
    with torch.no_grad():
        _, predicted, grid = head.forward_all(framed)
    centres = ink_centres(test_digits) + MAX_SHIFT + shifts.float()
    target = sat.cell_offsets(centres, grid, head.encoder.stride).to(DEVICE)
    mse = sat.offset_loss(predicted, target)  # in cells^2, summed over x and y
    return head.encoder.stride * (mse / 2).sqrt().item()


start = time.perf_counter()
head, pretrain_history = pretrain_encoder(offsets=True)
encoder = head.encoder
class_only_head, _ = pretrain_encoder(offsets=False)
framed_test = torch.nn.functional.pad(test_digits, (MAX_SHIFT,) * 4)
for name, h in [("class + offset", head), ("class only", class_only_head)]:
    print(
        f"encoder pretrained on {name}: accuracy on the {len(test_digits):,} test digits "
        f"{train.evaluate(h, [(framed_test, test_labels)]):.1%}"
    )
print(
    f"offset of the digit's centre read from one cell (test digits, random shifts): "
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
# ## 5. Training soft and hard attention
#
# The captioners share the frozen encoder (pretrained on both tasks; one run takes the class-only
# encoder instead) and the decoder architecture (LSTM with 128 units,
# 32-dimensional embeddings, a 64-unit attention MLP) and train with the same optimiser (Adam with
# a one-cycle learning-rate schedule: a warm-up over the first 15 % of the updates to $10^{-2}$,
# then a cosine decay; in short trials, not part of this page, it learned clearly faster than a
# constant rate of $3 \cdot 10^{-3}$), batches and number of updates:
#
# | run | attention | doubly stochastic $\lambda$ | baseline |
# |---|---|---|---|
# | soft | expectation, Eq. {eq}`sat-soft` | 0 | — |
# | soft + penalty | expectation | 1 (the paper's value) | — |
# | hard | sample, or the expectation with a probability that falls from 1 to 0.5 (below), Eq. {eq}`sat-hard`; reward-to-go, Eq. {eq}`sat-reward-to-go` | 0 | moving average per step |
# | hard, whole caption | the same, weighted as in the paper, Eq. {eq}`sat-hard-grad` | 0 | moving average, Eq. {eq}`sat-baseline` |
# | hard, no baseline | as "hard" | 0 | none |
# | hard, class-only encoder | as "hard" (seeds 0, 1 and 2), on the encoder pretrained without Eq. {eq}`sat-offset` | 0 | moving average per step |
#
# Hard attention is a stochastic search, and its outcome can depend far more on the random seed (the
# decoder's initial weights, the order of batches and the sampled locations) than soft attention's.
# Two things in this chapter address that. The first is a **soft-to-hard schedule** (our departure
# from the paper): the probability of using the expectation instead of the sample starts at 1, so
# that the first updates train plain soft attention, and falls linearly to the authors' 0.5 over the
# first half of the updates (`soft_to_hard`, passed as `expected_prob` to `sat.make_train_step`).
# The attention thus learns roughly where to look from exact gradients before the score-function
# term has to refine it; every hard run below uses it. The second is the offset task of Section 4,
# aimed at the kind of failure we saw: in an earlier version of this chapter, with the schedule but
# without that task and with a differently initialised encoder (not part of this page), three seeds of
# the "hard" run ended at 54 %, 79 % and 81 % exact match, and the weakest got a third of its captions'
# relations wrong. The "hard" run and the "hard,
# class-only encoder" run are therefore each trained three times, with seeds 0, 1 and 2, and judged
# on the mean of the three (Section 6 prints their spread); every other run is trained once, with
# seed 0, so differences of a few points between single runs are within the noise.
#
# The hard runs use the authors' entropy weight $\lambda_e = 0.002$ and a REINFORCE weight
# $\lambda_r = 0.05$ (`HARD_REINFORCE_WEIGHT`): the paper sets $\lambda_r$ by cross-validation;
# in short trials on these scenes (not part of this page; training scenes only, 8 epochs) larger
# weights learned more slowly, $\lambda_r = 0.2$ clearly and $\lambda_r = 1$ hardly at all: the
# noise of the score term outweighs its signal at this budget. Exercise 5 asks you to vary it. Each run
# logs its training loss and, after every epoch, the exact-match rate of greedy captions on 300
# held-out validation scenes (built from test digits, never used to pick anything). At test time a
# hard-attention model looks at the single most likely location (`mode="argmax"`): it stays hard.

# %%
EPOCHS = budget.choose(smoke=1, book=12, paper=30)
BATCH = budget.choose(smoke=32, book=64, paper=128)
LEARNING_RATE = 1e-2
HARD_REINFORCE_WEIGHT = 0.05
STEPS = EPOCHS * math.ceil(N_TRAIN / BATCH)  # updates per run


def soft_to_hard(step):
    """Probability of using the expectation at update ``step``: 1, falling linearly to 0.5 at mid-training."""
    return 1.0 - 0.5 * min(1.0, step / (0.5 * STEPS))


HARD = dict(  # the "hard" run; the other hard runs change one thing each
    attention="hard",
    doubly_stochastic=0.0,
    use_baseline=True,
    reinforce_weight=HARD_REINFORCE_WEIGHT,
    reward_to_go=True,
    expected_prob=soft_to_hard,
)
RUNS = {
    "soft": dict(attention="soft", doubly_stochastic=0.0),
    "soft + penalty": dict(attention="soft", doubly_stochastic=1.0),
    "hard": HARD,
    "hard (seed 1)": {**HARD, "seed": 1},
    "hard (seed 2)": {**HARD, "seed": 2},
    "hard, whole caption": {**HARD, "reward_to_go": False},
    "hard, no baseline": {**HARD, "use_baseline": False},
    "hard, class-only encoder": {**HARD, "class_only_encoder": True},
    "hard, class-only encoder (seed 1)": {
        **HARD,
        "class_only_encoder": True,
        "seed": 1,
    },
    "hard, class-only encoder (seed 2)": {
        **HARD,
        "class_only_encoder": True,
        "seed": 2,
    },
}


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
        scheduler=scheduler,
        scheduler_interval="step",
        clip_grad_norm=5.0,
        desc=name,
    )
    models[name] = model
    train_seconds[name] = histories[name]["seconds"][-1]
    print(
        f"{name:>18}: {EPOCHS} epochs, {train_seconds[name]:.0f} s, "
        f"validation exact match {histories[name]['val_exact'][-1]:.1%}"
    )

# %%
fig = viz.plot_history(
    {name: h for name, h in histories.items() if "(seed" not in name},
    ["nll", "train_exact", "val_exact"],
    titles=[
        "-log p(y | a) per caption (training)",
        "exact match, training batches",
        "exact match, validation scenes",
    ],
)
plt.show()

# %% [markdown]
# (The runs with seeds 1 and 2 are left out of the plot to keep it readable; their results are in Section 6.)
# The hard runs' training curves measure the captions produced *with sampled attention* (from
# mid-training on, half the steps) and so sit below their validation curves, which use the most likely
# location.
#
# ## 6. Results on held-out scenes
#
# Three numbers per model on the test scenes, with greedy decoding:
#
# * **exact match**: the share of captions generated word for word right;
# * **BLEU-4** {cite}`papineni2002bleu`, from `torchmetrics.functional.text.bleu_score`
#   (`sat.bleu`), so that it can be set next to the paper's figures;
# * **localisation**: the share of generated digit words whose attention peak (the centre of the
#   most attended cell) lies inside the box of the digit that word names
#   (`sat.attention_localisation`; the $j$-th digit word names the $j$-th digit in reading order).

# %%
evaluations = {
    name: sat.evaluate_captions(model, test_set) for name, model in models.items()
}
rows = [
    "| run | exact match | BLEU-4 | localisation | training time |",
    "|---|---|---|---|---|",
]
for name, ev in evaluations.items():
    rows.append(
        f"| {name} | {ev['exact_match']:.1%} | {100 * ev['bleu4']:.1f} | {ev['localisation']:.1%} "
        f"| {train_seconds[name]:.0f} s |"
    )
display(Markdown("\n".join(rows)))

soft, hard = evaluations["soft"], evaluations["hard"]
HARD_SEEDS = ["hard", "hard (seed 1)", "hard (seed 2)"]
hard_exact = torch.tensor([evaluations[name]["exact_match"] for name in HARD_SEEDS])
hard_localisation = torch.tensor(
    [evaluations[name]["localisation"] for name in HARD_SEEDS]
)
print(
    f"hard attention over {len(HARD_SEEDS)} seeds: exact match {hard_exact.mean():.1%} "
    f"(std {hard_exact.std():.1%}, from {hard_exact.min():.1%} to {hard_exact.max():.1%}), "
    f"localisation {hard_localisation.mean():.1%}"
)
goals = [
    ("soft exact match >= 85 %", soft["exact_match"], soft["exact_match"] >= 0.85),
    ("soft localisation >= 80 %", soft["localisation"], soft["localisation"] >= 0.80),
    (
        "hard exact match (mean of 3 seeds) within 10 points of soft",
        hard_exact.mean().item(),
        hard_exact.mean().item() >= soft["exact_match"] - 0.10,
    ),
]
for goal, value, met in goals:
    print(f"{goal}: measured {value:.1%} -> {'goal met' if met else 'goal NOT met'}")
whole = evaluations["hard, whole caption"]
print(
    f"seed 0: hard attention with reward-to-go (Eq. sat-reward-to-go) {hard['exact_match']:.1%} vs "
    f"whole-caption reward (Eq. sat-hard-grad, the paper's) {whole['exact_match']:.1%}: "
    f"{100 * (hard['exact_match'] - whole['exact_match']):+.1f} points (one seed each)"
)

data_note = f"{N_TEST} test scenes of MNIST test digits, 2-3 digits, 64 x 64"
for (goal, value, met), quantity in zip(
    goals,
    [
        "soft attention exact match",
        "soft attention localisation",
        "hard attention exact match (mean of 3 seeds)",
    ],
):
    results.record(
        "03_show_attend_tell",
        quantity,
        100 * value,
        unit="%",
        goal=goal,
        met=met,
        data=data_note,
    )
results.record(
    "03_show_attend_tell",
    "hard attention exact match, spread over 3 seeds (std)",
    100 * hard_exact.std().item(),
    unit="points",
    data=data_note,
)
results.record(
    "03_show_attend_tell",
    "hard attention localisation (mean of 3 seeds)",
    100 * hard_localisation.mean().item(),
    unit="%",
    data=data_note,
)
results.record(
    "03_show_attend_tell",
    "hard attention exact match, whole-caption reward (paper's estimator)",
    100 * whole["exact_match"],
    unit="%",
    data=data_note,
)
results.record(
    "03_show_attend_tell",
    "soft attention BLEU-4",
    100 * soft["bleu4"],
    paper="19.5 Flickr8k, 24.3 COCO (soft, on photographs)",
    data=data_note,
)
results.record(
    "03_show_attend_tell",
    "hard attention BLEU-4 (mean of 3 seeds)",
    100 * sum(evaluations[name]["bleu4"] for name in HARD_SEEDS) / len(HARD_SEEDS),
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
# In the paper hard attention edges out soft attention on BLEU; which one wins on our scenes, and
# by how much, the table above says for this run.
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
CLASS_ONLY_SEEDS = [
    "hard, class-only encoder",
    "hard, class-only encoder (seed 1)",
    "hard, class-only encoder (seed 2)",
]
for label, names in [
    ("offset task", HARD_SEEDS),
    ("class only", CLASS_ONLY_SEEDS),
]:
    exact = [evaluations[name]["exact_match"] for name in names]
    relation = [wrong_relation_share[name] for name in names]
    print(
        f"hard attention, encoder pretrained with {label:>11}: exact match "
        + " / ".join(f"{e:.1%}" for e in exact)
        + f" (mean {sum(exact) / 3:.1%}); captions with a wrong relation "
        + " / ".join(f"{r:.1%}" for r in relation)
        + f" (mean {sum(relation) / 3:.1%})"
    )
results.record(
    "03_show_attend_tell",
    "hard attention exact match, class-only encoder (no offset task, mean of 3 seeds)",
    100 * sum(evaluations[name]["exact_match"] for name in CLASS_ONLY_SEEDS) / 3,
    unit="%",
    data=data_note,
)

# %% [markdown]
# Compare the last column across the rows. A hard-attention step reads a single cell of the $8 \times 8$
# grid, whose coordinates are quantised to 8 pixels, while "above" and "left of" differ by a few pixels;
# soft attention sees an average of several cells and of their coordinates, which locates a digit between
# cell centres. The encoder trained with the offset task (Eq. {eq}`sat-offset`) hands each cell the digit's
# position within it, and the two lines above compare the same three hard runs on the two encoders: its
# effect on the relations is there to read, and so is how much of the gap to soft attention it leaves.
# The wrong-digit column is the other half of the story: a single cell is also a narrower view of the digit
# than an average of several, and the offset task does nothing for that part of the gap.
#
# Why did the earlier version of this chapter fail on one seed in three? Not for want of the offset task
# alone: on this page none of the three class-only runs got stuck. In our trials (not part of this page),
# 3 of 8 class-only runs on other pretrained encoders did, and none of 8 with the offset task; whether a
# run gets stuck depends on the encoder as well as the seed, and three seeds per setting are a small
# sample. Exercise 6 asks about a finer grid, the other way to give hard attention finer positions.

# %% [markdown]
# ## 7. Where the models look
#
# For a few test scenes, the attention behind every generated word, soft (top row of each pair)
# and hard (bottom row). Each map is the $8 \times 8$ grid of $\alpha_{ti}$ stretched over the
# image without smoothing; green boxes are the digits.


# %%
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
    plt.show()


for index in range(3):
    show_attention(index)

# %% [markdown]
# ## 8. What the doubly stochastic penalty does to coverage
#
# Summing the attention over the words of a caption gives the *coverage* of each cell,
# $\sum_t \alpha_{ti}$, the quantity Eq. {eq}`sat-soft-loss` pulls towards 1. Below, the coverage of
# the same test scenes without and with the penalty, and the distribution of the largest single
# attention weight per word (1 means the word looked at one cell only).

# %%
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
plt.show()

penalty_rows = [
    "| run | localisation | mean peak weight | mean penalty on test | exact match |",
    "|---|---|---|---|---|",
]
for name in ["soft", "soft + penalty"]:
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
# penalty is smallest when every cell gets $C/L \approx 0.1$. Compare the rows above: the penalty's
# pull towards spread-out attention is visible in the peak weights and in localisation. On
# photographs with 196 cells and long captions the same pull encourages the model to mention more
# of the scene, which is what Xu et al. wanted; on a task where each word has one place to look it
# works against the task (exercise 2 asks how to fix that).

# %% [markdown]
# ## 9. Beam search
#
# Greedy decoding commits to the most likely word at each step. `sat.beam_search` keeps the $k$
# most likely partial captions instead; like `sat.greedy_decode` it only needs a
# `step(tokens, state) -> (log_probs, state, aux)` function, so the OCR chapter reuses it.

# %%
beam = sat.evaluate_captions(models["soft"], test_set, beam_size=3)
print(
    f"soft attention, exact match: greedy {soft['exact_match']:.1%}, beam search (k = 3) "
    f"{beam['exact_match']:.1%}; BLEU-4: greedy {100 * soft['bleu4']:.1f}, beam {100 * beam['bleu4']:.1f}"
)
chapter_minutes = (time.perf_counter() - CHAPTER_START) / 60
print(
    f"whole chapter ran in {chapter_minutes:.1f} min ({budget.current()} budget, {DEVICE})"
)
results.record(
    "03_show_attend_tell",
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
# ## Summary
#
# * Soft and hard attention are two readings of one distribution $\alpha_t$ over locations: its
#   expectation (Eq. {eq}`sat-soft`), trained by backpropagation, or a sample from it
#   (Eq. {eq}`sat-hard`), trained through the lower bound Eq. {eq}`sat-bound` with the
#   score-function gradient Eq. {eq}`sat-hard-grad`, whose noise the baseline and the reward-to-go
#   (Eq. {eq}`sat-reward-to-go`) reduce without changing its mean.
# * In `attnlib.sat` both share every parameter; the difference is a few lines of
#   `SATDecoder.step` and the loss (`hard_attention_loss` builds on `attnlib.reinforce`).
# * On scenes where we know where each word should look we can measure attention, not only
#   captions: the results table above gives both, for both variants.
# * A hard-attention step sees one annotation vector, so what a single cell knows matters more
#   than for soft attention. Pretraining the encoder to also say where its digit sits inside each
#   cell (Eq. {eq}`sat-offset`) targets the relation errors this causes; Section 6 measures what it
#   is worth.
#
# ## Exercises
#
# 1. **The baseline.** Compare the "hard" and "hard, no baseline" runs in the table and the
#    learning curves. Then explain why the moving average must be read *before* it is updated with
#    the current batch.
#
# ```{admonition} Solution
# :class: dropdown
# Without a baseline the REINFORCE term multiplies $\nabla \log p(s \mid a)$ by the log-likelihood
# itself, which is always negative: every sampled location is pushed down, and only *relative*
# differences between samples carry signal, buried in noise. Subtracting the running average
# centres the reward, so locations that did better than usual are reinforced and worse ones are
# discouraged; the curves above show how much faster (or whether) each run learns. If the baseline
# included the current batch's rewards, it would depend on the sampled actions and the estimate
# would be biased (Chapter 1, Eq. {eq}`foundations-baseline`). `MovingAverageBaseline.update`
# therefore returns the old value.
# ```
#
# 2. **A penalty for short captions.** Rewrite the doubly stochastic penalty so that it does not
#    fight localisation when $C \ll L$, and say what it then encourages.
#
# ```{admonition} Solution
# :class: dropdown
# One option penalises only *over*-coverage, $\lambda \sum_i \max(0, \sum_t \alpha_{ti} - 1)^2$: it
# stops the model from attending to the same cell for several words (useful against repeated
# words) and leaves cells that no word needs alone. Another pulls coverage towards $C/L$ only on
# cells that contain something. With `sat.doubly_stochastic_penalty` as a template:
# `weight * (torch.relu(coverage - 1) ** 2).sum(-1).mean()`.
# ```
#
# 3. **Test-time hard attention.** We decode hard-attention models with the most likely location.
#    Evaluate `models["hard"]` with `sat.evaluate_captions(..., mode="soft")` (the expectation) and
#    with sampled locations (write a loop over `sat.generate(..., mode="hard")`). Which is best, and
#    why does the expectation work at all for a model trained with samples?
#
# ```{admonition} Solution
# :class: dropdown
# Half of the training steps used the expectation (the authors' trick), so the decoder has seen
# soft contexts and handles them; when $\alpha_t$ is peaked, the expectation and the argmax
# context are nearly the same vector. Sampling adds noise at test time and usually loses a few
# points: a sampled location occasionally falls on the wrong digit.
# ```
#
# 4. **Photographs.** Use `attnlib.data.captions.load_karpathy_captions` with Flickr8k (Karpathy's
#    `dataset_flickr8k.json` and the image folder) and `sat.TorchvisionEncoder("resnet50",
#    weights="DEFAULT")` on Colab. What must change in this notebook?
#
# ```{admonition} Solution
# :class: dropdown
# The vocabulary comes from the training split (`train.vocab`, passed to the validation and test
# splits); BLEU uses all references of an image (`dataset.references`); the encoder's `out_dim`
# (2048 for ResNet-50) sets the decoder's `feature_dim`; captions are longer (`max_len` around 20)
# and localisation cannot be measured (there are no boxes). With the encoder frozen, computing the
# annotations once per image with `sat.encode_images` is again the main saving.
# ```
#
# 5. **The REINFORCE weight.** Train the "hard" run again with $\lambda_r \in \{0, 0.2, 1\}$
#    (`reinforce_weight` of `sat.make_train_step`) and compare validation curves and localisation.
#    What does $\lambda_r = 0$ train, and why can it still learn where to look?
#
# ```{admonition} Solution
# :class: dropdown
# With $\lambda_r = 0$ the attention weights receive no score-function gradient; they still learn
# through the half of the sequences that use the expected context (the authors' mixing), which is
# soft attention, and the sampled half only trains the decoder to read single cells. Larger
# $\lambda_r$ adds an unbiased but very noisy signal: the log-likelihood of the rest of the caption
# (minus the baseline) multiplies the score of each sampled location, so one wrong word blames every
# location sampled before it (with the paper's whole-caption weight, every location of the caption).
# With few updates the noise dominates and learning slows; with many updates and a good baseline
# the score term is what makes the sampled attention itself sharp.
# ```
#
# 6. **A finer grid instead of the offset task.** Section 4 gives a single cell finer positions by
#    pretraining it to regress its digit's offset. The other way is a finer grid:
#    `sat.SmallCNNEncoder(stride=4)` drops one pooling (a $16 \times 16$ grid of 4-pixel cells; its
#    last convolution is dilated so that a cell still sees 34 x 34 pixels). Pretrain it on
#    classification alone, train the "hard" captioner on it, and compare the error table, the
#    training time per epoch and the spread over seeds with this page's. What does each approach cost?
#
# ```{admonition} Solution
# :class: dropdown
# With 4-pixel cells, the coordinates of one cell place a digit to within 4 pixels, and the
# relations ("above": at least 10 pixels; "left of": at most 3) become far easier to read from two
# attended cells, so the relation errors fall as with the offset task. The price is paid at every
# decoding step instead of once: there are 256 locations instead of 64, so the attention MLP
# (Eq. {eq}`sat-score`), which dominates the decoder's cost here, does four times the work, and
# an epoch takes roughly two to three times as long on a CPU; the frozen annotations take four
# times the memory; and a sample has 256 places to go wrong, which makes the score-function
# gradient noisier. The offset task costs a linear layer during pretraining and nothing
# afterwards, which is why this chapter uses it. (A finer grid is still the natural choice when
# objects are small relative to a cell, because then one cell may hold two of them.)
# ```
