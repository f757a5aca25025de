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
# # Chapter 9: Attention OCR with recursive recurrent nets (R²AM)
#
# The last chapter reads text. Lee and Osindero {cite}`lee2016recursive` recognise a cropped word image without a
# dictionary: a convolutional encoder turns the image into a sequence of feature columns, and a recurrent decoder
# emits one character at a time while a soft attention slides along those columns. Two ideas give the model its name.
# The encoder is *recursive*: one convolution is applied several times with the same weights, which enlarges the
# receptive field without adding parameters. The decoder is *recurrent*: its state summarises the characters read so
# far, so it learns a character-level language model as a by-product of reading.
#
# Everything from chapter 5 returns in a new role: the additive attention of Show, Attend and Tell now aligns a
# character with a few columns of a word, and the generic greedy and beam decoders run unchanged. This chapter derives
# the receptive field and parameter count of a recursive encoder against an untied one, writes the decoder as a soft
# alignment and as a conditional language model, and tests each claim on word images rendered from the fonts that
# matplotlib ships.
#
# API reference for this chapter's code: {doc}`../book/api/r2am`, {doc}`../book/api/data_words`,
# {doc}`../book/api/sat` (the attention and the decoders it reuses).

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
import inspect
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from attnlib import budget, results
from attnlib.data.words import (
    FONT_FILES,
    WordImages,
    english_words,
    make_words,
    split_words,
)
from attnlib.evidence import compare, summarize
from attnlib.r2am import (
    R2AM,
    RecursiveConvBlock,
    WordEncoder,
    attention_monotonicity,
    block_parameters,
    character_error_rate,
    evaluate_ocr,
    receptive_field,
    recognise,
    train_ocr,
    word_accuracy,
)
from attnlib.results import glue  # numbers quoted in the text are glued from this run
from IPython.display import Markdown, display

CHAPTER_START = time.perf_counter()
# The main model (section 4.2): training images per epoch, drawn anew every epoch, and epochs; the epoch whose
# weights are kept is chosen on validation words
N_TRAIN = budget.size(smoke=256, book=8000, paper=200000)
EPOCHS = budget.choose(smoke=1, book=12, paper=30)
# The encoder comparison (section 4.1): SEEDS per encoder, each a shorter run (see "What was traded")
SEEDS = (0, 1, 2)
N_TRAIN_CMP = budget.size(smoke=64, book=8000, paper=200000)
EPOCHS_CMP = budget.choose(smoke=1, book=4, paper=30)
COMPARED = (
    "recursive",
    "untied",
)  # trained with SEEDS; the plain encoder is built and counted, not trained
# Experiment (b): one seed per training set
N_TRAIN_LM = N_TRAIN // 2
EPOCHS_LM = budget.choose(smoke=1, book=8, paper=30)
N_VAL = budget.size(
    smoke=32, book=300, paper=2000
)  # validation images (English words), for choosing the epoch
N_TEST = budget.size(smoke=64, book=1000, paper=5000)  # test images per test set
HEIGHT, WIDTH = 32, 96
DEPTH = 4  # T, applications of the block's convolution
MODEL = dict(
    height=HEIGHT, stem_channels=16, depth=DEPTH, feature_dim=128, hidden_dim=192
)
# C, the width of the block under study, per encoder (section 4): a shared convolution can afford to be wider
CHANNELS = {"recursive": 64, "untied": 48, "plain": 64}
CTC_WEIGHT = (
    1.0  # lambda_CTC, weight of the auxiliary CTC loss in the joint loss (r2am-joint)
)
TRAIN = dict(epochs=EPOCHS, batch_size=64, lr=6e-3, ctc_weight=CTC_WEIGHT)
DATA = (
    f"words rendered offline with {len(FONT_FILES)} matplotlib TrueType fonts (attnlib.data.words), "
    f"{HEIGHT}x{WIDTH} px; main model {N_TRAIN:,} new training images per epoch for {EPOCHS} epochs, "
    f"encoder comparison {len(SEEDS)} seeds x {N_TRAIN_CMP:,} x {EPOCHS_CMP}, (b) {N_TRAIN_LM:,} x {EPOCHS_LM}; "
    f"{N_VAL:,} validation and {N_TEST:,} test images per test set"
)
results.start(
    "09_attention_ocr"
)  # this run's figures replace the last run's; none are left over
DEVICE = budget.announce(data=DATA)
torch.set_num_threads(budget.choose(smoke=1, book=2, paper=torch.get_num_threads()))
GOALS = {}

# %% [markdown]
# ## 1. Word images
#
# `attnlib.data.words` renders lower-case words of 3 to 8 letters. Each word gets a font (DejaVu Sans, Serif and Mono,
# STIX; regular, bold, italic), a point size, a letter spacing, a random height and position, a small rotation and
# shear, blur, a smooth background texture, random grey levels (a quarter light on dark) and pixel noise. The height is
# that of the alphabet's ink, from the top of "b" to the bottom of "p", and not the font's line box: STIX's line box
# leaves room for tall mathematical symbols and is 1.8 times its letters, so scaling line boxes to the image would draw
# STIX words at 60 % of the size of DejaVu words. An earlier version of this chapter did exactly that. (It was noticed
# in per-font accuracies measured on held-out words; the fix itself rests on the glyph measurement, not on an
# accuracy, and the page quotes no accuracy from that time.) Glyphs are drawn once per font and
# size and pasted, and the photometric part runs batched in torch, so thousands of images take seconds. Two sources of
# words keep vision and language apart:
#
# * **English**: a built-in list of about a thousand common words, split once into three disjoint lists: training
#   words, *validation* words and *held-out* (test) words. Every choice this chapter makes from data (which epoch's
#   weights to keep) is made on validation words; the test words are read once per reported number, at the end, and
#   every English test word is a word the model never saw and that no choice looked at;
# * **random**: uniformly random letter strings, with no spelling regularity to exploit, drawn from a separate random
#   stream per split.
#
# Because rendering is this cheap, the models below never see an image twice: `train_ocr(..., fresh=...)` renders a
# new training set at the start of every epoch (new words, fonts, positions and noise; English words still only from
# the training side of the split). With a fixed set of a few thousand images the models first memorise them; with
# fresh images every update is a new example, as with the paper's 8 million synthetic words.
#
# Readers with real crops (IIIT5k, SVT, ICDAR) can load them with `attnlib.data.words.load_scene_text`, which reads
# the usual image folder plus a label file of `path label` lines.

# %%
words = english_words()
train_words, val_words, test_words = split_words(words)
print(
    f"English list: {len(words)} words; {len(train_words)} for training, {len(val_words)} for validation, "
    f"{len(test_words)} held out for testing"
)
glue("ocr_n_train_words", f"{len(train_words):,}", display=False)
start = time.perf_counter()


def training_words(source, n, seed):
    """``n`` training images of ``source``: "english", "random", or "mixed" (half of each)."""
    if source != "mixed":
        return make_words(n, source, "train", HEIGHT, WIDTH, seed=seed)
    english = make_words(n // 2, "english", "train", HEIGHT, WIDTH, seed=seed)
    rand = make_words(n - n // 2, "random", "train", HEIGHT, WIDTH, seed=seed)
    return WordImages(
        torch.cat([english.images, rand.images]),
        english.words + rand.words,
        torch.cat([english.fonts, rand.fonts]),
    )


english, rand = (
    training_words("english", N_TRAIN // 2, 0),
    training_words("random", N_TRAIN // 2, 0),
)
val_english = make_words(N_VAL, "english", "val", HEIGHT, WIDTH, seed=0)
test_english = make_words(N_TEST, "english", "test", HEIGHT, WIDTH, seed=0)
test_random = make_words(N_TEST, "random", "test", HEIGHT, WIDTH, seed=0)
n_images = len(english) + len(rand) + N_VAL + 2 * N_TEST
print(f"rendered {n_images:,} images in {time.perf_counter() - start:.1f} s")
assert not set(test_english.words) & (set(train_words) | set(val_words)), (
    "test words leaked"
)
assert not set(val_english.words) & set(train_words), "validation words leaked"

fig, axes = plt.subplots(4, 4, figsize=(11, 4.2))
for ax, image, word in zip(
    axes.flat,
    torch.cat([english.images[:8], rand.images[:8]]),
    english.words[:8] + rand.words[:8],
):
    ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(word, fontsize=9)
    ax.axis("off")
fig.suptitle(
    "Training images: English words (top two rows) and random strings (bottom two rows)"
)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The recursive encoder
#
# The encoder maps an image $I$ of $H \times W$ pixels to a sequence of $W' = W/4$ column features. A stem
# (two $3 \times 3$ convolutions with stride 2 and a max-pool over the height only) brings the image to $C$ maps of
# $H/8 \times W/4$. Then comes the block under study. A **recursive**
# convolution applies one kernel $W$ (with bias $b$) $T$ times:
#
# $$
# x_t = \operatorname{ReLU}\big(\mathrm{BN}_t(W * x_{t-1} + b)\big), \qquad t = 1, \dots, T,
# $$ (r2am-recursive)
#
# where only the batch normalisation $\mathrm{BN}_t$ (a scale and a shift per channel) belongs to step $t$; the
# paper's recursive layers likewise share the convolution and not the normalisation. The **untied** stack has a kernel
# $W_t$ per step, and the **plain** encoder has $T = 1$. A convolution over the remaining height turns every column into
# a vector, and its horizontal position $x_j \in [-1, 1]$ is appended: $a_j \in \mathbb{R}^D$, $j = 1, \dots, W'$.
#
# **Receptive field.** Along the width, a chain of layers with kernels $k_l$ and strides $s_l$ sees
#
# $$
# r_l = r_{l-1} + (k_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1}\, s_l, \qquad r_0 = j_0 = 1
# $$ (r2am-rf)
#
# input pixels, where $j_l$ (the *jump*) is the distance in pixels between neighbouring units of layer $l$. The stem
# ends with $r = 7$ and $j = 4$; every application of a $k \times k$ block convolution adds $(k - 1) j = 8$ pixels,
# tied or not. So $T$ recursive steps see $7 + 8T$ pixels, the same as $T$ untied layers.
#
# **Parameters.** A $k \times k$ convolution from $C$ to $C$ channels has $k^2 C^2 + C$ parameters, so
#
# $$
# P_{\text{recursive}} = k^2 C^2 + C + 2 C T, \qquad P_{\text{untied}} = T\,(k^2 C^2 + C) + 2 C T .
# $$ (r2am-params)
#
# The recursive block buys the receptive field of depth $T$ at the price of depth 1; the ratio tends to $T$ as $C$
# grows. `block_parameters` and `receptive_field` implement the two formulas:

# %%
C, K = CHANNELS["recursive"], 3
rows = [
    "| T | receptive field (px) | recursive block params | untied block params | ratio |",
    "|---|---|---|---|---|",
]
for depth in range(1, 7):
    enc = WordEncoder("recursive", HEIGHT, channels=C, depth=depth, context=False)
    tied, untied = (
        block_parameters(C, depth, K, tied=True),
        block_parameters(C, depth, K, tied=False),
    )
    rows.append(
        f"| {depth} | {receptive_field(enc.width_layers())} | {tied:,} | {untied:,} | {untied / tied:.2f} |"
    )
display(Markdown("\n".join(rows)))
print(inspect.getsource(RecursiveConvBlock.forward))

# %% [markdown]
# The receptive field can also be *measured*: back-propagate one output column to the input and see which input
# columns receive a gradient. Max-pooling routes the gradient to one pixel per window, so we take the union over a
# batch of random images (batch normalisation in evaluation mode, so that images do not mix).

# %%
torch.manual_seed(0)
rf_rows = [
    "| encoder | T | derived, formula (r2am-rf) | measured by gradients |",
    "|---|---|---|---|",
]
for kind, depth in [
    ("plain", 1),
    ("recursive", 2),
    ("recursive", DEPTH),
    ("untied", DEPTH),
]:
    probe = WordEncoder(
        kind,
        HEIGHT,
        stem_channels=4,
        channels=4,
        depth=depth,
        feature_dim=4,
        context=False,
    ).eval()
    images = torch.rand(32, 1, HEIGHT, WIDTH, requires_grad=True)
    probe(images)[:, WIDTH // 8, :-1].sum().backward()
    support = images.grad.abs().sum((0, 1, 2)).nonzero().flatten()
    measured = int(support.max() - support.min() + 1)
    rf_rows.append(
        f"| {kind} | {probe.depth} | {receptive_field(probe.width_layers())} | {measured} |"
    )
display(Markdown("\n".join(rf_rows)))

# %% [markdown]
# With $T = 4$ a column sees 39 pixels, three to four letters at our sizes; a plain encoder sees 15, about one letter.
#
# One departure from the paper: on top of the convolutions, every encoder here adds (residually) a small
# bidirectional GRU along the columns, so that each column also knows where it sits in the word (a common aid to
# alignment in later attention-OCR models; we did not measure its effect at this budget, and exercise 3 removes it).
# It gives every column a view of the whole word, so experiment (a) below compares what the convolutional block adds
# on top of that, with the same GRU for every encoder.
#
# ## 3. The decoder: soft alignment and an implicit language model
#
# The decoder is a GRU with state $s_t$. Before emitting character $t$ it scores every column against its previous
# state with the additive attention of chapter 5 (`attnlib.sat.AdditiveAttention`, the library's one implementation):
#
# $$
# e_{tj} = w^\top \tanh(W_a a_j + W_s s_{t-1} + b), \qquad \alpha_{tj} = \frac{\exp e_{tj}}{\sum_{j'} \exp e_{tj'}},
# \qquad c_t = \sum_{j=1}^{W'} \alpha_{tj}\, a_j ,
# $$ (r2am-align)
#
# then updates its state from the previous character $y_{t-1}$ (embedded by $E$) and the context, and predicts:
#
# $$
# s_t = \operatorname{GRU}\big([E y_{t-1};\, c_t],\ s_{t-1}\big), \qquad
# p(y_t \mid y_{<t}, I) = \operatorname{softmax}\big(W_o [s_t;\, c_t] + b_o\big) .
# $$ (r2am-output)
#
# **Soft alignment.** $\alpha_t$ is a distribution over the columns: a soft version of the alignment "character $t$
# is written at column $j$". Nothing in the loss mentions positions; the model is trained only to maximise the
# likelihood of the label,
#
# $$
# \mathcal{L} = -\sum_{t=1}^{n+1} \log p(y_t \mid y_{<t}, I), \qquad y_{n+1} = \langle\mathrm{end}\rangle ,
# $$ (r2am-nll)
#
# with teacher forcing. If reading is to succeed, $\alpha_t$ has to find character $t$; a text line is read left to
# right, so we expect the peak of $\alpha_t$ to move right from one character to the next. Experiment (c) measures it.
#
# **An implicit language model.** By the chain rule, the model factorises the word's probability as
#
# $$
# p(y_1, \dots, y_n, \langle\mathrm{end}\rangle \mid I) = \prod_{t=1}^{n+1} p(y_t \mid y_{<t}, I),
# \qquad s_{t-1} = f(y_1, \dots, y_{t-1};\ c_1, \dots, c_{t-1}) .
# $$ (r2am-lm)
#
# Take the image away (set every $c_t$ to a constant) and Eqs. {eq}`r2am-output` and {eq}`r2am-lm`
# are exactly a character-level
# recurrent language model: $s_{t-1}$ summarises the prefix, $W_o$ turns it into a distribution over the next letter.
# With the image present the decoder is a *conditional* language model, and nothing stops it from using the prefix
# as evidence: after "qu" it can guess "e" from spelling statistics alone. That helps when the training words look
# like the test words and the image is ambiguous, and it hurts when they do not. Experiment (b) trains on English and
# on random strings and crosses the test sets to see both effects.
#
# **Helping the alignment along: an auxiliary CTC loss.** Trained with Eq. {eq}`r2am-nll` alone, an attention decoder
# first sits on a plateau: until $\alpha_t$ finds character $t$, the context $c_t$ carries no information about
# $y_t$, so the decoder can only learn letter frequencies, and the gradient that would move the attention is weak.
# On a CPU budget that plateau eats several epochs. We shorten it with a second, alignment-free loss on the encoder
# alone, connectionist temporal classification {cite}`graves2006ctc`, trained jointly with the attention decoder as
# Kim, Hori and Watanabe do for speech {cite}`kim2017joint` (a departure from Lee and Osindero, who train the
# decoder's loss only). A linear layer scores every column against the alphabet plus a *blank* symbol
# $\varnothing$, $p(k \mid a_j) = \operatorname{softmax}(V a_j + d)_k$. A *path* $\pi = (\pi_1, \dots, \pi_{W'})$
# assigns
# one symbol to every column; the map $\mathcal{B}$ merges repeated symbols and then removes blanks
# ($\mathcal{B}(\text{cc}\varnothing\text{aat}) = \text{cat}$). CTC maximises the probability of all paths that
# read the word,
#
# $$
# \mathcal{L}_{\text{CTC}} = -\log \sum_{\pi \,:\, \mathcal{B}(\pi) = y}\ \prod_{j=1}^{W'} p(\pi_j \mid a_j),
# $$ (r2am-ctc)
#
# a sum over exponentially many paths that a forward recursion computes in $O(W' n)$ steps
# (`torch.nn.functional.ctc_loss`; `tests/test_r2am.py` checks it against enumerating every path). Because every
# path reads the columns left to right, Eq. {eq}`r2am-ctc` can only be small if the columns carry the letters *in order
# and in place*, which is exactly what the attention needs to find. On a batch of $B$ words $y^{(1)}, \dots, y^{(B)}$
# with $n_b$ letters each, where $\mathcal{L}^{(b)}$ and $\mathcal{L}^{(b)}_{\text{CTC}}$
# are the two losses of word $b$,
# we minimise
#
# $$
# \mathcal{L}_{\text{joint}} = \frac{\sum_{b=1}^{B} \mathcal{L}^{(b)}}{\sum_{b=1}^{B} (n_b + 1)}
# + \lambda_{\text{CTC}}\, \frac{1}{B} \sum_{b=1}^{B} \frac{\mathcal{L}^{(b)}_{\text{CTC}}}{n_b} .
# $$ (r2am-joint)
#
# Both terms are per character, but they average differently, as the code does: the decoder's term is the mean over
# every character of the batch (the $\langle\mathrm{end}\rangle$ tokens included), so a long word weighs more than a
# short one (`torch.nn.functional.cross_entropy` with padding ignored); the CTC term divides each word's loss by its own
# length first and then averages over words, so every word weighs the same. We use $\lambda_{\text{CTC}} = 1$
# (`CTC_WEIGHT`; `R2AM.loss`, `attnlib.r2am.ctc_loss`). The CTC
# head is used only in training: every word below is read by the attention decoder, greedily.

# %% [markdown]
# ## 4. Experiment (a): recursive, untied and plain encoders
#
# The three encoders differ only in the block: recursive ($T$ applications of one convolution), untied ($T$
# convolutions, same receptive field) and plain (one convolution, same parameters as the recursive block). Their widths
# $C$ (`CHANNELS`) follow the paper's argument for sharing weights: at a given parameter budget a shared convolution can
# be wider. By Eq. {eq}`r2am-params` the untied block at $C = 48$ has $4 \cdot 9 \cdot 48^2 \approx 83{,}000$
# convolution weights, the recursive block at $C = 64$ only $9 \cdot 64^2 \approx 37{,}000$, so the recursive *encoder*
# is both wider and smaller (the table below counts every parameter). The plain encoder has the recursive one's width
# and parameters but one step, so it would isolate what depth adds at equal parameters. Every model trains on fresh
# images, half English training words and half random strings (our expectation, not tested here, is that the random
# half keeps the decoder reading rather than guessing from spelling; experiment (b) looks at the two halves apart),
# with the same optimiser (Adam, cosine decay, batches of 64) and loss (Eq. {eq}`r2am-joint`). Test sets: held-out
# English words and fresh random strings; decoding is greedy.
#
# The section has two parts, because one run is not evidence and the chapter's time budget does not afford several
# long runs:
#
# 1. **The comparison** (section 4.1): the recursive and the untied encoder, the pair the paper's argument for sharing
#    is about, are each trained with three seeds (the seed sets the initial weights, the training images and their
#    order), each run *shorter* than the main model's; we report the mean and standard deviation of held-out English
#    word accuracy over the seeds and judge a gap only when it exceeds twice its standard error
#    (`attnlib.evidence.compare`). Each run keeps its last epoch: nothing is selected, so the test set is read once per
#    run, after training. Three more seeds of the plain encoder do not fit the chapter's budget, and one run would be
#    no evidence, so the plain encoder is built and counted below but not trained (exercise 8 trains it).
# 2. **The main model** (section 4.2): one longer run of the recursive model (one seed), whose epoch is chosen on the
#    validation words; it carries the accuracy goal, and experiments (b) and (c) and the beam search below use it.


# %%
def run(kind, source, n, epochs, seed=0, select=False, read_random=True):
    """Train one model on ``n`` fresh images of ``source`` per epoch; return it, its history and its test scores.

    With ``select``, the weights of the epoch with the best word accuracy on the *validation* words are kept
    (``keep_best``); otherwise the last epoch's. The test sets are read once, after training.
    """
    torch.manual_seed(seed)
    model = R2AM(kind, channels=CHANNELS[kind], **MODEL).to(DEVICE)
    data = training_words(source, n, 1000 * (seed + 1))

    def fresh(epoch):  # a new training set every epoch (Section 1)
        new = training_words(source, n, 1000 * (seed + 1) + epoch)
        return new.images, new.words

    def validate(net):
        scores = evaluate_ocr(net, val_english.images.to(DEVICE), val_english.words)
        return {"val_acc": scores["accuracy"]}

    history = train_ocr(
        model,
        data.images,
        data.words,
        seed=seed,
        fresh=fresh,
        eval_fn=validate if select else None,
        keep_best="val_acc" if select else None,
        **{**TRAIN, "epochs": epochs},
    )
    scores = {
        "english": evaluate_ocr(
            model, test_english.images.to(DEVICE), test_english.words
        )
    }
    if read_random:
        scores["random"] = evaluate_ocr(
            model, test_random.images.to(DEVICE), test_random.words
        )
    return model, history, scores


def parameters(module):
    return sum(p.numel() for p in module.parameters())


# %% [markdown]
# ### 4.1 Three seeds per encoder
#
# What was traded to fit three seeds of two encoders into the chapter's budget: each comparison run sees
# {glue:text}`ocr_cmp_images` fresh training images in all ({glue:text}`ocr_cmp_schedule`), against
# {glue:text}`ocr_main_images` for the main model, its test scores are of held-out English words only, and the plain
# encoder is not trained. The comparison is therefore made *earlier in training* than the paper's, or than our main
# model's: it asks which encoder reads better after a short schedule, and its accuracies are lower than section 4.2's.

# %%
glue("ocr_cmp_images", f"{N_TRAIN_CMP * EPOCHS_CMP:,}", display=False)
glue(
    "ocr_cmp_schedule",
    f"{N_TRAIN_CMP:,} per epoch for {EPOCHS_CMP} epochs",
    display=False,
)
glue("ocr_main_images", f"{N_TRAIN * EPOCHS:,}", display=False)
comparison = {}


def compare_encoder(kind):
    """Train ``kind`` once per seed in ``SEEDS`` and keep what the table and the verdicts need."""
    comparison[kind] = []
    for seed in SEEDS:
        model, history, scores = run(
            kind, "mixed", N_TRAIN_CMP, EPOCHS_CMP, seed=seed, read_random=False
        )
        comparison[kind].append(
            dict(
                depth=model.encoder.depth,
                field=receptive_field(model.encoder.width_layers()),
                encoder_params=parameters(model.encoder),
                model_params=parameters(model),
                seconds=history["seconds"][-1],
                nll=history["nll"],
                epoch=history["epoch"],
                accuracy=100 * scores["english"]["accuracy"],
                cer=100 * scores["english"]["cer"],
            )
        )
    accs = [r["accuracy"] for r in comparison[kind]]
    print(
        f"{kind:9s}: held-out English word accuracy per seed "
        f"{', '.join(f'{a:.1f}' for a in accs)} %; {summarize(accs).format('%')}"
    )


# One encoder per cell (the book's executor limits the time of a cell).
compare_encoder("recursive")

# %%
compare_encoder("untied")

# %%
rows = [
    "| encoder | T | receptive field (px) | encoder params | model params | train time per run (s) | "
    "English acc | English CER |",
    "|---|---|---|---|---|---|---|---|",
]
acc = {kind: [r["accuracy"] for r in runs] for kind, runs in comparison.items()}
for kind in CHANNELS:
    if kind in comparison:
        runs = comparison[kind]
        first = runs[0]
        seconds = f"{summarize([r['seconds'] for r in runs]).mean:.0f}"
        scores = (
            f"{summarize(acc[kind]).format('%')} | "
            f"{summarize([r['cer'] for r in runs]).format('%')}"
        )
    else:  # built and counted, not trained on this page
        built = R2AM(kind, channels=CHANNELS[kind], **MODEL)
        first = dict(
            depth=built.encoder.depth,
            field=receptive_field(built.encoder.width_layers()),
            encoder_params=parameters(built.encoder),
            model_params=parameters(built),
        )
        seconds, scores = "not trained", "— | —"
    rows.append(
        f"| {kind} | {first['depth']} | {first['field']} | {first['encoder_params']:,} | "
        f"{first['model_params']:,} | {seconds} | {scores} |"
    )
display(Markdown("\n".join(rows)))

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
for color, (kind, runs) in zip(("C0", "C1"), comparison.items()):
    for i, r in enumerate(runs):
        ax.plot(
            r["epoch"],
            r["nll"],
            marker="o",
            color=color,
            alpha=0.7,
            label=kind if i == 0 else None,
        )
ax.set_xlabel("epoch")
ax.set_ylabel("decoder loss (r2am-nll) per character")
ax.set_yscale("log")
ax.set_title(f"Training loss, {len(SEEDS)} seeds per encoder", fontsize=10)
ax.legend()
fig.tight_layout()
plt.show()

# %%
params_rec = comparison["recursive"][0]["encoder_params"]
params_untied = comparison["untied"][0]["encoder_params"]
rec_vs_untied = compare(acc["recursive"], acc["untied"])
# The goal is a margin: recursive at most 2 points below untied. It is met when the gap lies above -2 points by more
# than twice its standard error, i.e. when recursive + 2 points is distinguishably better than untied.
margin = compare([a + 2 for a in acc["recursive"]], acc["untied"])
verdict_rec_untied = margin.verdict(margin.gap > 0)
GOALS["recursive vs untied"] = (
    verdict_rec_untied == "met" and params_rec < params_untied
)
print(
    f"recursive minus untied: {rec_vs_untied.format()}, with {params_rec:,} vs {params_untied:,} encoder parameters"
)
print(
    f"goal 'recursive within 2 points of untied, with fewer parameters': {verdict_rec_untied}"
)
glue("ocr_rec_untied_gap", rec_vs_untied.format(), display=False)
glue("ocr_rec_untied_verdict", verdict_rec_untied, display=False)

# %% [markdown]
# The table reads against Eqs. {eq}`r2am-rf` and {eq}`r2am-params`: the recursive and the untied encoder see the same
# number of pixels per column, and the recursive one, although wider, stores fewer weights; the plain encoder has the
# recursive encoder's parameters (less the per-step normalisations) and a receptive field of one letter.
#
# Whether sharing costs accuracy at this budget is what the accuracy column says, judged by the rule of
# `attnlib.evidence`: recursive minus untied is {glue:text}`ocr_rec_untied_gap`, and the goal that the recursive encoder
# be at most 2 points worse with fewer parameters (met only if the gap lies above $-2$ points by more than twice its
# standard error) is: {glue:text}`ocr_rec_untied_verdict`. What depth adds at equal parameters (recursive against
# plain) is not measured here. We would not expect the plain encoder to fall far behind in this architecture (a
# hypothesis): the bidirectional GRU on top of every encoder (section 2) already gives each column a view of the whole
# word, so a deep convolution has little context left to add; exercise 3 removes the GRU, which is where depth should
# matter. Whether sharing costs accuracy at *equal width* is exercise 6.
#
# ### 4.2 The main model: choosing the epoch on validation words
#
# The model the rest of the chapter reads with is the recursive one, trained longer with one seed (seed 0). After every
# epoch it reads the validation words; at the end it gets back the weights of the epoch where it read them best
# (`train_ocr(..., eval_fn=..., keep_best="val_acc")`). Only then is it tested, once, on the held-out English words
# and on random strings.

# %%
main_model, main_history, main_scores = run(
    "recursive", "mixed", N_TRAIN, EPOCHS, seed=0, select=True
)
rec = dict(model=main_model, history=main_history, scores=main_scores)
best_epoch = main_history["best_epoch"][0]
acc_rec = 100 * main_scores["english"]["accuracy"]
cer_rec = 100 * main_scores["english"]["cer"]
GOALS["accuracy"] = acc_rec >= 90
print(
    f"main model: {main_history['seconds'][-1]:.0f} s of training; validation word accuracy per epoch "
    f"{', '.join(f'{100 * a:.1f}' for a in main_history['val_acc'])} %; epoch {best_epoch} kept"
)
print(
    f"recursive encoder (main model, 1 seed): {acc_rec:.1f} % word accuracy on held-out English words "
    f"(goal >= 90 %: {'met' if GOALS['accuracy'] else 'not met'}), CER {cer_rec:.1f} %; "
    f"random strings {100 * main_scores['random']['accuracy']:.1f} %"
)

fig, ax = plt.subplots(figsize=(6, 3.0))
ax.plot(
    main_history["epoch"],
    [100 * a for a in main_history["val_acc"]],
    marker="o",
    label="validation words",
)
ax.axvline(best_epoch, color="gray", linestyle="--", label=f"kept: epoch {best_epoch}")
ax.set_xlabel("epoch")
ax.set_ylabel("word accuracy (%)")
ax.set_title("Main model: validation accuracy per epoch", fontsize=10)
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The accuracy goal ($\ge 90$ % of held-out English words) rests on this one run: one seed, the epoch chosen on
# validation words, the test words read once. Its run-to-run spread is not measured here; the spread of the shorter
# runs in section 4.1 gives an idea of it at lower accuracy.
#
# ## 5. Experiment (b): the implicit language model
#
# Same recursive model, two more training sets: only English training words, and only random strings. To keep the
# chapter within its CPU budget they see half of the main model's images per epoch and fewer epochs (`N_TRAIN_LM`,
# `EPOCHS_LM`), keep their last epoch, and run **one seed each**. Their length was set on the *validation* curve of the
# main model in an earlier run (trial, not from this page): it leaves its initial plateau after about 24,000 images,
# and (b)'s runs at 6 epochs of 4,000 had ended right there (one of them still reading almost nothing); at 8 epochs
# they see 32,000. A run that still reads almost nothing is flagged below. These two models read less well than the
# main model, and this section is an illustration of what Eq. {eq}`r2am-lm` predicts, not a measured comparison: the page
# draws no verdict from it. With the main model of section 4.2, each is tested on held-out English words and on random
# strings.

# %%
lm, lm_models = {"mixed (main)": rec["scores"]}, {"mixed (main)": rec["model"]}
for name, source in (("English only", "english"), ("random only", "random")):
    lm_models[name], _, lm[name] = run("recursive", source, N_TRAIN_LM, EPOCHS_LM)
rows = [
    "| trained on | held-out English acc | English CER | random acc | random CER |",
    "|---|---|---|---|---|",
]
for name, s in lm.items():
    rows.append(
        f"| {name} | {100 * s['english']['accuracy']:.1f} % | {100 * s['english']['cer']:.1f} % | "
        f"{100 * s['random']['accuracy']:.1f} % | {100 * s['random']['cer']:.1f} % |"
    )
display(Markdown("\n".join(rows)))
gap_english = 100 * (
    lm["English only"]["english"]["accuracy"] - lm["English only"]["random"]["accuracy"]
)
gap_random = 100 * (
    lm["random only"]["english"]["accuracy"] - lm["random only"]["random"]["accuracy"]
)
print(
    f"English-trained model: English minus random accuracy = {gap_english:+.1f} points"
)
print(
    f"random-trained model:  English minus random accuracy = {gap_random:+.1f} points"
)
for name in ("English only", "random only"):
    best_read = 100 * max(
        lm[name]["english"]["accuracy"], lm[name]["random"]["accuracy"]
    )
    if best_read < 20:
        print(
            f"{name}: reads {best_read:.1f} % at best: this run did not leave the initial plateau, so it "
            "cannot illustrate the prediction below"
        )
# What the misreadings of held-out English words are: how many of them are words of the training vocabulary?
vocabulary = set(train_words)
for name, net in lm_models.items():
    read, _ = recognise(net, test_english.images.to(DEVICE))
    wrong = [
        (word, guess) for word, guess in zip(test_english.words, read) if guess != word
    ]
    known = [(word, guess) for word, guess in wrong if guess in vocabulary]
    examples = ", ".join(f"{word} -> {guess}" for word, guess in known[:4])
    print(
        f"{name:12s}: {len(wrong)} of {len(read)} held-out words misread, {len(known)} of them as a "
        f"training word{' (' + examples + ')' if examples else ''}"
    )

# %% [markdown]
# What Eq. {eq}`r2am-lm` predicts, to hold against the table (predictions, which one seed per model can illustrate
# but not establish). A decoder trained only on English sees the same {glue:text}`ocr_n_train_words` words over and
# over, so its language model is a model of *those words* rather than of English, and when the image is ambiguous it
# can write what its vocabulary suggests. On random strings that can only hurt: we expect its English column to beat
# its random column by a wide margin. On held-out English words it cuts both ways: English spelling helps, but a
# held-out word is by construction not in the vocabulary, and a sharp model of {glue:text}`ocr_n_train_words` words may
# pull an unseen word towards a seen one. The last lines count how often a misread held-out word came out as a training
# word. A model trained on random strings cannot lean on spelling, so we expect the gap between its two columns to be
# small; random strings are harder for any model (no redundancy, and all lengths equally likely). The mixed main model
# trained on more images and is not directly comparable. The share of English words in its training set (one half) is
# the symmetric default, fixed in advance and not tuned: an earlier version of this chapter compared shares in trials
# scored on the words that now form the test split, so the page no longer quotes them, and exercise 7 makes that
# choice on validation words instead. Measuring these effects with seeds and longer training is left to a later
# version of the chapter.
#
# ## 6. Experiment (c): where the attention looks
#
# For each decoded character we plot $\alpha_t$ over the word image (the columns stretched back to pixel width) and
# measure how often the peak of $\alpha_t$ lies strictly to the right of the peak for the previous character.

# %%
model = rec["model"]
predictions, alphas = recognise(model, test_english.images.to(DEVICE))
share, count = attention_monotonicity(alphas)
GOALS["monotonic"] = share >= 0.95
print(
    f"attention peak moves right for {100 * share:.1f} % of {count:,} decoded characters after the first "
    f"(goal >= 95 %: {'met' if GOALS['monotonic'] else 'not met'})"
)
print(
    f"greedy word accuracy on held-out English: {100 * word_accuracy(predictions, test_english.words):.1f} %"
)

show = list(range(4))
fig, axes = plt.subplots(len(show), 9, figsize=(13, 1.1 * len(show) + 0.6))
for row, i in enumerate(show):
    image, alpha = test_english.images[i, 0], alphas[i]
    axes[row, 0].imshow(image, cmap="gray", vmin=0, vmax=1)
    axes[row, 0].set_title(f"read: {predictions[i]}", fontsize=8)
    for col in range(1, 9):
        ax = axes[row, col]
        ax.axis("off")
        t = col - 1
        if t < len(alpha):
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            heat = np.repeat(alpha[t].numpy()[None], HEIGHT, 0)
            ax.imshow(
                heat,
                cmap="inferno",
                alpha=0.6,
                extent=(-0.5, WIDTH - 0.5, HEIGHT - 0.5, -0.5),
            )
            label = predictions[i][t] if t < len(predictions[i]) else "<end>"
            ax.set_title(label, fontsize=9)
    axes[row, 0].axis("off")
fig.suptitle("Per-character attention on held-out English words (recursive encoder)")
fig.tight_layout()
plt.show()

# %%
peak_x = [(a[:-1].argmax(-1).float() + 0.5) / a.shape[1] for a in alphas]
fig, ax = plt.subplots(figsize=(6, 3.2))
for n in range(3, 9):
    rows_n = [p for p, w in zip(peak_x, predictions) if len(w) == n]
    if rows_n:
        ax.plot(
            range(1, n + 1),
            torch.stack(rows_n).mean(0),
            marker="o",
            label=f"{n} letters ({len(rows_n)})",
        )
ax.set_xlabel("character t")
ax.set_ylabel("mean attention peak (fraction of width)")
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# Where the model reads well, the attention behaves like an alignment: one band per character, stepping left to right,
# with the $\langle\mathrm{end}\rangle$ token looking at or past the last letter; the printed share counts how often the
# peak really moves right. Averaged by word length, the peaks should advance in roughly equal steps; words sit at
# random horizontal offsets, so the averages start and stop inside the image.
#
# ## 7. Greedy and beam search
#
# The decoder exposes a `step_fn`, so `attnlib.sat.greedy_decode` and `attnlib.sat.beam_search` from chapter 5 decode
# it unchanged.

# %%
beam_predictions, _ = recognise(model, test_english.images.to(DEVICE), beam_size=4)
acc_beam = 100 * word_accuracy(beam_predictions, test_english.words)
cer_beam = 100 * character_error_rate(beam_predictions, test_english.words)
print(
    f"greedy: {acc_rec:.1f} % (CER {cer_rec:.1f} %); beam of 4: {acc_beam:.1f} % (CER {cer_beam:.1f} %)"
)

# %% [markdown]
# ## 8. The paper's numbers and ours
#
# Lee and Osindero train on about 8 million synthetic word images and report lexicon-free word accuracy of
# **80.7 %** on Street View Text and **90.0 %** on ICDAR 2013 (the paper's figures, as quoted on the benchmarks'
# leaderboards; other figures in those listings use a lexicon). Our models read clean-ish synthetic words of 3 to 8
# lower-case letters, rendered from eleven fonts, after a few minutes on a CPU; the two sets of numbers measure the same
# kind of thing (exact word match without a dictionary) on very different data and are not comparable. Readers with
# real crops can load them with `load_scene_text` and evaluate a model trained at the `paper` budget.

# %%
NOTE = (
    f"main model: {N_TRAIN:,} new synthetic training images per epoch, {EPOCHS} epochs, epoch {best_epoch} kept "
    f"by validation word accuracy ({N_VAL:,} validation images), 1 seed; C = {CHANNELS['recursive']}, "
    f"CTC weight {CTC_WEIGHT}, {N_TEST:,} test words, greedy"
)
NOTE_CMP = (
    f"{len(SEEDS)} seeds per encoder, each {N_TRAIN_CMP:,} new images per epoch x {EPOCHS_CMP} epochs, last epoch; "
    f"C = {CHANNELS['recursive']} (recursive) / {CHANNELS['untied']} (untied), CTC weight {CTC_WEIGHT}, "
    f"{N_TEST:,} held-out English test words, greedy"
)
results.record(
    "09_attention_ocr",
    "word accuracy, held-out English words (recursive encoder, main model)",
    acc_rec,
    unit="%",
    paper="lexicon-free: SVT 80.7, ICDAR 2013 90.0 (real data)",
    goal=">= 90 %",
    met=GOALS["accuracy"],
    data=NOTE,
    note="one seed (the longer run); the encoder comparison below has 3 seeds",
)
results.record(
    "09_attention_ocr",
    "character error rate, held-out English (recursive, main model)",
    cer_rec,
    unit="%",
    data=NOTE,
)
results.record(
    "09_attention_ocr",
    "recursive minus untied word accuracy (shorter runs)",
    values=[a - b for a, b in zip(acc["recursive"], acc["untied"])],
    unit="points",
    goal=">= -2 points with fewer parameters",
    met=GOALS["recursive vs untied"],
    data=f"{params_rec:,} vs {params_untied:,} encoder parameters; " + NOTE_CMP,
    note=(
        f"{rec_vs_untied.format()}; verdict on the margin (gap above -2 by more than 2 se): "
        f"{verdict_rec_untied}; per-seed differences pair seed i of each encoder"
    ),
)
for kind in COMPARED:
    results.record(
        "09_attention_ocr",
        f"word accuracy, held-out English ({kind} encoder, shorter runs)",
        values=acc[kind],
        unit="%",
        data=NOTE_CMP,
    )
results.record(
    "09_attention_ocr",
    "word accuracy on random strings, English-trained model",
    100 * lm["English only"]["random"]["accuracy"],
    unit="%",
    data=f"{N_TRAIN_LM:,} images per epoch, {EPOCHS_LM} epochs, last epoch, 1 seed",
    note="one seed: an illustration, no verdict drawn",
)
# no word of two or more decoded characters (an untrained model): nothing to record
if count:
    results.record(
        "09_attention_ocr",
        "attention peak advances for decoded characters",
        100 * share,
        unit="%",
        goal=">= 95 %",
        met=GOALS["monotonic"],
        data=NOTE,
    )
elapsed = time.perf_counter() - CHAPTER_START
results.record(
    "09_attention_ocr",
    "chapter execution time",
    elapsed / 60,
    unit="min",
    goal="<= 10 min",
    met=elapsed <= 600,
)
print(f"chapter execution time: {elapsed / 60:.1f} min")

# %%
glue("ocr_best_epoch", f"{best_epoch} of {EPOCHS}", display=False)
glue("ocr_n_val", f"{N_VAL:,}", display=False)

# %% [markdown]
# ## 9. What was chosen, and on what data
#
# | choice | value | chosen on |
# |---|---|---|
# | epoch of the main model whose weights are kept | epoch {glue:text}`ocr_best_epoch` | word accuracy on {glue:text}`ocr_n_val` images of *validation* words, after every epoch (`keep_best`) |
# | epochs of the comparison runs and of experiment (b) | the last | nothing is selected |
# | images per epoch, epochs, number of seeds | `N_TRAIN`, `EPOCHS`, `N_TRAIN_CMP`, `EPOCHS_CMP`, `SEEDS`, ... | the chapter's time budget (timings only, no accuracy) |
# | share of English words in the training mix | one half | fixed in advance, not tuned (earlier trials that compared shares were scored on words now in the test split and are no longer quoted; exercise 7 makes the choice on validation words) |
# | glyph scale (alphabet ink height, not line box) | section 1 | a measurement of the fonts' glyphs: a rendering bug fix, not a tuned setting |
# | learning rate, batch size, CTC weight, widths $C$, depth $T$ | `TRAIN`, `CTC_WEIGHT`, `CHANNELS`, `DEPTH` | kept from the chapter's development and not tuned on this page; exercises 5 and 6 vary the CTC weight and the width on validation words |
#
# The test words (held-out English) and the test random strings are read only after training, once per reported
# number; section 6 and section 7 read them again with the same main model to report different quantities
# (attention monotonicity, beam search), not to choose anything.
#
# ## Departures from the paper
#
# | | Lee and Osindero {cite}`lee2016recursive` | this chapter | why |
# |---|---|---|---|
# | data | about 8 million synthetic word images for training; real crops (SVT, ICDAR, IIIT5k) for testing | 32 x 96 words of 3 to 8 lower-case letters rendered from matplotlib's fonts, half English training words and half random strings, fresh images every epoch; held-out synthetic English words and random strings for testing; a validation list of words for choosing the epoch | runs offline on a CPU in minutes; random strings separate reading from spelling; real crops can be loaded with `load_scene_text` |
# | architecture | recursive CNN (shared convolutions) feeding an RNN decoder with soft attention | small stem, one recursive block ($T = 4$, shared convolution, per-step batch normalisation), a residual bidirectional GRU over the columns, each column's position appended; GRU decoder with chapter 5's additive attention | the context GRU and the position help the attention align on a small budget (not measured here; exercise 3 removes the GRU) |
# | loss | negative log-likelihood of the label under the attention decoder | the same, averaged over the batch's characters, plus an auxiliary CTC loss on the encoder's columns, Eq. {eq}`r2am-joint` ($\lambda_{\text{CTC}} = 1$) | the CTC term shortens the plateau before the attention finds the letters, which a CPU budget cannot wait out (exercise 5) |
# | optimiser | the paper's own setting for its 8 million images (not reproduced) | Adam, learning rate 6e-3, gradient clipping at norm 5, batches of 64 | a standard choice that trains the small model in a few epochs |
# | schedule | the paper's, over millions of images | cosine decay over `EPOCHS` epochs; the main model keeps the epoch with the best validation accuracy, the comparison runs are shorter and keep their last epoch | the chapter's ten-minute budget; three seeds per encoder only fit as shorter runs |
# | evaluation | lexicon-free (and lexicon-constrained) word accuracy on real benchmarks | exact-match word accuracy and character error rate on held-out synthetic words, greedy (beam of 4 shown once); encoder comparison as mean ± std over 3 seeds with a two-standard-error verdict | the paper's benchmarks are not bundled; the seeds make the comparison's noise visible |
# | encoder comparison | recursive against untied and against shallower CNNs at the paper's scale | recursive ($C = 64$) against untied ($C = 48$), both with the context GRU, three seeds each on short runs; the plain encoder ($T = 1$) is built and counted but not trained | what fits the budget; with the GRU every encoder already sees the whole word, so depth may have little left to add (a hypothesis; exercises 3 and 8) |

# %% [markdown]
# ## Exercises
#
# 1. Using Eq. {eq}`r2am-rf`, how many applications $T$ of the recursive $3 \times 3$ convolution does a column need to see
#    a whole $96$-pixel word? How many parameters would an untied stack of that depth need for $C = 32$?
# 2. Show that a recursive block whose convolution is linear and has no normalisation or non-linearity computes a single
#    convolution with a $(1 + T(k-1))$-wide kernel. Why does the recursive block still benefit from the ReLU and
#    $\mathrm{BN}_t$ in Eq. {eq}`r2am-recursive`?
# 3. Train the recursive model with `context=False` (add it to `MODEL`), so that the encoder is purely convolutional as
#    in the paper, and compare its accuracy and the monotonicity of its attention on the *validation* words
#    (`val_english`) with section 4's, with three seeds each.
# 4. Replace $c_t$ by zeros in `CharDecoder.step` for a trained model and decode: what does it write, and for which
#    training set (English or random) do you expect the output to look like words? Relate the answer to Eq. {eq}`r2am-lm`.
# 5. Train the recursive model without the auxiliary loss (`TRAIN = {**TRAIN, "ctc_weight": 0.0}`) and plot its
#    `history["nll"]` and its validation accuracy against section 4's. Why can the CTC head not be used to *read* a repeated letter ("ll") unless a
#    blank separates the two copies, and what does that require of $W'$ for a word of $n$ letters?
# 6. Train the recursive encoder at the untied encoder's width (`CHANNELS = {**CHANNELS, "recursive": 48}`, then
#    `run("recursive", "mixed", N_TRAIN_CMP, EPOCHS_CMP, seed=s)` for three seeds) and compare its parameters and its
#    accuracy on the validation words (`evaluate_ocr(model, val_english.images, val_english.words)`) with the untied
#    encoder's, trained and read the same way. Which comparison is fair, equal width or equal parameters, and how would
#    you spend a fixed parameter budget?
# 7. The training mix is half English words and half random strings, a default that this page does not tune. Choose
#    the share on validation data: train the main model with a quarter, a half and three quarters of English words
#    (change `training_words`), three seeds each, and compare their accuracy on `val_english` with
#    `attnlib.evidence.compare`. Only the share you pick gets a test figure, read once.
# 8. Train the plain encoder as section 4.1 trains the other two (`compare_encoder("plain")`, three seeds) and compare it
#    with the recursive encoder using `compare(acc["recursive"], acc["plain"])`. Does depth add anything when the
#    context GRU is there? Then repeat with `context=False` (exercise 3).
#
# ```{admonition} Solution
# :class: dropdown
# 1. The stem gives $r = 7$ at jump $j = 4$ and each step adds $(k - 1) j = 8$ pixels, so $7 + 8T \ge 96$ needs
#    $T = 12$. Untied: $12 \cdot (9 \cdot 32^2 + 32) + 2 \cdot 32 \cdot 12 = 111{,}744$ parameters against
#    $9{,}248 + 768 = 10{,}016$ for the recursive block (`block_parameters(32, 12, tied=False)` and `tied=True`).
# 2. Without the non-linearity, $x_T = W * (W * (\cdots (W * x_0))) = (W * W * \cdots * W) * x_0$ plus bias terms,
#    and the $T$-fold self-convolution of a $k$-wide kernel is $1 + T(k-1)$ wide: the same receptive field, but a kernel
#    constrained to be a convolution power, far less expressive than a free one. The ReLU between applications makes
#    the composition non-linear (it can detect parts, then configurations of parts), and the per-step $\mathrm{BN}_t$
#    lets each unrolled step rescale its input, so the shared kernel need not serve identical statistics at every depth.
# 3. `MODEL = {**MODEL, "context": False}` and `run("recursive", "mixed", N_TRAIN_CMP, EPOCHS_CMP, seed=s)` for each
#    seed `s`, reading `val_english` with `evaluate_ocr`. Without the GRU a column describes only
#    its 39-pixel neighbourhood (Eq. {eq}`r2am-rf`), so the attention must find character $t$ from local content alone:
#    after "ca" it must find a column whose left context looks like "a". Compare the loss curves (does the plateau
#    before the attention locks on last longer?), the accuracies and the monotonic share; repeated letters ("cotton")
#    are where a purely local encoder can lose its place.
# 4. With $c_t = 0$ the decoder is the unconditional character model of Eq. {eq}`r2am-lm`: $s_t$ depends only on the
#    prefix. Greedy decoding then writes the same string for every image, a frequent prefix of the training words for
#    the English-trained model (English-like), and an arbitrary string for the random-trained one, whose language model
#    is nearly uniform over letters.
# 5. Without Eq. {eq}`r2am-ctc` the decoder loss stays near the letter-frequency plateau for several epochs before the
#    attention locks on, and the shorter remaining schedule shows in the final accuracy (trial, not from this page: one
#    seed of an earlier version of the main model without the CTC loss spent about three epochs on the plateau and
#    ended about ten points of word accuracy lower; one seed, so only indicative).
#    $\mathcal{B}$ merges neighbouring copies of a symbol, so "ll" must be written as $l \varnothing l$: a word with
#    $r$ adjacent repeats needs $W' \ge n + r$ columns, at most $2n - 1$; our $W' = W/4 = 24$ columns leave room for
#    8 letters. The attention decoder has no such constraint: it emits one letter per step wherever it looks.
# 6. At $C = 48$ the recursive encoder has 127,616 parameters against the untied one's 189,968 (the block alone:
#    $9 \cdot 48^2 + 48 + 2 \cdot 48 \cdot 4 = 21{,}168$ against $83{,}520$, Eq. {eq}`r2am-params`). Trial, not from
#    this page: one seed each of an earlier version of the main model (9 epochs, scored on held-out words) read 80.5 %
#    at $C = 48$ against the untied encoder's 88.7 %; one seed per encoder cannot separate that gap from the noise, so
#    run three seeds on the validation words before concluding.
#    If the gap holds up, a plausible reason (a hypothesis): one kernel reused four times must serve edges, strokes and
#    letter parts at once, which four kernels need not.
#    Neither comparison alone is fair: at equal width the untied stack simply has more weights, at equal depth and
#    no more parameters the recursive block is wider. The paper's case for sharing is the second: for a fixed budget,
#    recursion buys receptive field for free and leaves the parameters for width, the trade section 4 measures.
# 7. Select on `val_english` only (and, if you care about unseen strings too, on a validation set of random strings,
#    `make_words(n, "random", "val", ...)`); the test words must not influence the choice, or the test figure of the
#    chosen share is a selected maximum and overstates what a new word would see. Expect a trade (a hypothesis to
#    test): more English helps the decoder's spelling prior on English words and weakens its reading of strings it
#    cannot predict. With three seeds per share, call a share better only where `compare` finds the gap outside
#    twice its standard error.
# 8. The three rows then have equal training; the plain encoder has the recursive one's parameters and a receptive
#    field of one letter (Eq. {eq}`r2am-rf`). With the GRU, each column already summarises the whole word, so expect
#    (a hypothesis) a gap inside the noise; without it, the plain encoder's columns know one letter each and the
#    attention must find character $t$ from local evidence alone, which is where depth should show. Each run costs as
#    much as one of section 4.1's, so budget a few minutes per encoder on a CPU.
# ```
