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
# # Chapter 5: A$^2$-Nets, Double Attention Networks
#
# A convolution sees a small window. To relate two things at opposite ends of an image a
# convolutional network stacks layers until its receptive field covers both, which is slow and
# wasteful. The **double attention block** of A$^2$-Nets {cite}`chen2018a2nets` does it in one
# step: it **gathers** the whole feature map into a handful of global descriptors by attention
# pooling, then **distributes** them back, each position taking the mixture it needs. Its cost is
# linear in the number of positions, where a non-local block {cite}`wang2018nonlocal`, which lets
# every position attend to every other, is quadratic.
#
# This chapter
#
# 1. derives the block from first-order pooling (average pooling, squeeze-and-excitation
#    {cite}`hu2018squeeze`) through bilinear pooling to attention pooling;
# 2. pins down the two softmax axes that public re-implementations keep getting wrong;
# 3. derives the FLOPs of the block and of a non-local block and checks them with
#    `torch.utils.flop_counter`;
# 4. trains a small CNN with no block, with SE, with a non-local block and with a double attention
#    block on a task that needs long-range relations;
# 5. measures latency and memory against the number of positions, on log-log axes.
#
# The code is `attnlib.a2net` (the blocks and the classifier), `attnlib.a2net_bench` (costs and
# timings) and `attnlib.data.longrange` (the task).
#
# API reference for this chapter's code: {doc}`../book/api/a2net`, {doc}`../book/api/a2net_bench`, {doc}`../book/api/data_longrange`.

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
from attnlib import a2net, a2net_bench, budget, results, train, viz
from attnlib.data.longrange import make_longrange, make_vocabulary
from IPython.display import Markdown, display

CHAPTER_START = time.perf_counter()
N_TRAIN = budget.choose(smoke=256, book=4000, paper=20000)
N_TEST = budget.choose(smoke=128, book=1000, paper=5000)
DEVICE = budget.announce(
    data=f"procedural long-range matching task (attnlib.data.longrange), 32x32, "
    f"{N_TRAIN:,} train / {N_TEST:,} test images, generated offline from seeds"
)
# Small convolutions gain little from a second CPU thread and lose a great deal when another
# process holds the other core (every operation then waits for it), so on a CPU we use one.
if DEVICE.type == "cpu":
    torch.set_num_threads(budget.choose(smoke=1, book=1, paper=torch.get_num_threads()))
print(f"torch threads: {torch.get_num_threads()}")
generator = train.seed_everything(0)

# %% [markdown]
# ## 1. From first-order pooling to attention pooling
#
# Write a feature map with $c$ channels and $L = h w$ positions (for a video, $L = t h w$) as
# $X = [x_1, \dots, x_L] \in \mathbb{R}^{c \times L}$. The simplest global descriptor is the
# average, a **first-order** statistic,
#
# $$
# \bar{x} = \frac{1}{L} \sum_{i=1}^{L} x_i .
# $$ (a2-avg)
#
# Squeeze-and-excitation {cite}`hu2018squeeze` turns it into a per-channel gate and hands the *same*
# gate to every position:
#
# $$
# y_i = \sigma\!\big(W_2\, \mathrm{ReLU}(W_1 \bar{x})\big) \odot x_i .
# $$ (a2-se)
#
# Two limits: one descriptor for the whole image, and the same message for every position.
#
# **Bilinear pooling** keeps second-order statistics. With two maps
# $A = [a_1, \dots, a_L] \in \mathbb{R}^{m \times L}$ and $B = [b_1, \dots, b_L] \in \mathbb{R}^{n \times L}$
# (two $1 \times 1$ convolutions of $X$),
#
# $$
# G_{\text{bilinear}}(A, B) = A B^\top = \sum_{i=1}^{L} a_i b_i^\top \in \mathbb{R}^{m \times n}.
# $$ (a2-bilinear)
#
# Read $A B^\top$ by columns: with $\bar{b}_j \in \mathbb{R}^{L}$ the $j$-th **row** of $B$ (one map
# over all positions), column $j$ of $G$ is $g_j = A \bar{b}_j^\top = \sum_i \bar{b}_{ji} a_i$, a
# weighted sum of the $a$-features with weights given by map $j$. Make each map a distribution over
# positions with a softmax and $g_j$ becomes an attention-pooled descriptor, one "visual primitive":
#
# $$
# g_j = A\, \mathrm{softmax}(\bar{b}_j)^\top, \qquad
# \mathrm{softmax}(\bar{b}_j)_i = \frac{e^{\bar{b}_{ji}}}{\sum_{k=1}^{L} e^{\bar{b}_{jk}}} .
# $$ (a2-gather)
#
# The softmax runs over the $L$ **positions**, separately for each of the $n$ maps and each sample.
# That is the **gather** step, $G = A\, \mathrm{softmax}(B)^\top \in \mathbb{R}^{m \times n}$.
#
# The **distribute** step gives position $i$ its own mixture of the $n$ descriptors, with weights
# from a third $1 \times 1$ convolution $V = \rho(X) \in \mathbb{R}^{n \times L}$ normalised over the
# $n$ **descriptors**:
#
# $$
# z_i = \sum_{j=1}^{n} \mathrm{softmax}(v_i)_j\, g_j = G\, \mathrm{softmax}(v_i), \qquad
# \sum_{j=1}^{n} \mathrm{softmax}(v_i)_j = 1 .
# $$ (a2-distribute)
#
# Together, the double attention block is
#
# $$
# Z = \big[\phi(X)\, \mathrm{softmax}_{\text{positions}}(\theta(X))^\top\big]\,
#     \mathrm{softmax}_{\text{descriptors}}(\rho(X)) \in \mathbb{R}^{m \times L},
#     \qquad Y = X + W Z + b\,\mathbf{1}^\top ,
# $$ (a2-block)
#
# with a last $1 \times 1$ convolution $(W, b)$ back to $c$ channels and a residual connection. If
# every map of $\theta$ is constant, {eq}`a2-gather` is the average {eq}`a2-avg`: first-order pooling
# is the special case the attention learns its way out of. Here is `DoubleAttention.attend`, which
# implements {eq}`a2-block` line for line:

# %%
print(inspect.getsource(a2net.DoubleAttention.attend))
print(inspect.getsource(a2net.attention_pool))

# %% [markdown]
# Because each position's distribution weights sum to one, the projection can be applied to the
# $n$ descriptors instead of the $L$ positions:
#
# $$
# W Z + b\,\mathbf{1}^\top = W G\, S + b\,\mathbf{1}_n^\top S = \big(W G + b\,\mathbf{1}_n^\top\big)\, S,
# \qquad S = \mathrm{softmax}_{\text{descriptors}}(V), \quad \mathbf{1}_n^\top S = \mathbf{1}^\top .
# $$ (a2-fold)
#
# `DoubleAttention.forward` computes this folded form (the $c \times n$ matrix $WG + b\mathbf{1}^\top$
# is tiny); `attend` keeps $Z$ for inspection. Three checks on random inputs, in float64: `attend`
# against the einsum formula {eq}`a2-block`, `forward` against $X + WZ + b$, and the two softmax axes.

# %%
torch.manual_seed(0)
block = a2net.DoubleAttention(6, m=4, n=3).double()
x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
A, logits_b, logits_v = block.maps(x)  # (B, m, L), (B, n, L), (B, n, L)
G = torch.einsum("bml,bnl->bmn", A, logits_b.softmax(-1))
Z = torch.einsum("bmn,bnl->bml", G, logits_v.softmax(1)).view(2, 4, 5, 7)
W, b = block.proj.weight[:, :, 0], block.proj.bias
print("attend == einsum formula:", torch.allclose(block.attend(x), Z))
print(
    "forward == X + W Z + b:",
    torch.allclose(
        block(x), x + torch.einsum("cm,bmhw->bchw", W, Z) + b[:, None, None]
    ),
)
print(
    "gather maps sum to one over positions:",
    torch.allclose(
        block.gather_attention(x).sum((2, 3)), torch.ones(2, 3, dtype=torch.float64)
    ),
)
alone = block(x[1:])
print(
    "a sample's output ignores the rest of the batch:",
    torch.allclose(block(x)[1:], alone),
)

# %% [markdown]
# The tests in `tests/test_a2net.py` pin the axes more sharply: replace the rest of the batch by
# large random values and a sample's output must not move (a softmax over the batch, which is what
# an implicit `dim` on a 3-D tensor gives, fails this); set the $\theta$ weights to zero and every
# position must receive exactly the average of $A$, whatever $V$ is (true only if the distribution
# softmax runs over descriptors). The block also accepts video, `(B, C, T, H, W)`: the $1\times1$
# convolutions act on channels only, so the $L = THW$ positions are flattened and the paper's
# spatio-temporal block is the same code.

# %%
video = torch.randn(2, 6, 3, 4, 5, dtype=torch.float64)
print(
    "video in:",
    tuple(video.shape),
    "-> Z:",
    tuple(block.attend(video).shape),
    "-> out:",
    tuple(block(video).shape),
)

# %% [markdown]
# ## 2. What each block costs
#
# Count multiply-adds as 2 FLOPs, for a batch of $B$ maps with $c$ channels and $L$ positions. The
# double attention block computes three $1 \times 1$ convolutions ($c \to m + 2n$), the gather
# ($m \times L$ times $L \times n$), the distribution and the projection. With the fold
# {eq}`a2-fold` the last two become ($c \times n$ times $n \times L$) plus a tiny $c \times m \times n$:
#
# $$
# F_{A^2} = 2BL\big[c(m + 2n) + mn + cn\big] + 2Bcmn \;\;=\;\; O(L).
# $$ (a2-flops)
#
# A non-local block with $d$ inner channels computes queries, keys and values ($c \to 3d$), the
# $L \times L$ affinities $QK^\top$, their product with the values and the projection:
#
# $$
# F_{\text{NL}} = 2BL\big[3cd + 2Ld + dc\big] \;\;=\;\; O(L^2).
# $$ (a2-nl-flops)
#
# {cite}`wang2018nonlocal` define the block as $y_i = \sum_j \mathrm{softmax}_j(q_i^\top k_j)\, v_j$,
#
# $$
# y_i = \sum_{j=1}^{L} \frac{\exp(s\, q_i^\top k_j)}{\sum_{k} \exp(s\, q_i^\top k_k)}\, v_j ,
# $$ (a2-nonlocal)
#
# which `attnlib.a2net.NonLocal` computes with `torch.nn.functional.scaled_dot_product_attention`
# ($s = 1/\sqrt{d}$ by default). A non-local block makes $L$ messages, one per position, from all
# $L$ positions; a double attention block makes $n$ messages from all positions and lets each
# position pick among them. Softmaxes, biases and the residual are $O(L)$ and left out of both
# counts, as `FlopCounterMode` leaves them out. The formulas (`a2net_bench.a2_flops`,
# `a2net_bench.nonlocal_flops`) against the counter:

# %%
rows = [
    "| $c$ | $m = n$ | $d$ | positions | $F_{A^2}$ formula | counted | $F_{NL}$ formula | counted | ratio NL / A$^2$ |",
    "|---|---|---|---|---|---|---|---|---|",
]
for c, m, d, side in [(64, 16, 32, 14), (256, 64, 128, 28), (256, 64, 128, 56)]:
    x = torch.randn(1, c, side, side)
    fa, fn = (
        a2net_bench.a2_flops(c, m, m, side * side),
        a2net_bench.nonlocal_flops(c, d, side * side),
    )
    ca = a2net_bench.count_flops(a2net.DoubleAttention(c, m, m), x)
    cn = a2net_bench.count_flops(a2net.NonLocal(c, d), x)
    rows.append(
        f"| {c} | {m} | {d} | {side}x{side} | {fa / 1e6:,.1f} M | {ca / 1e6:,.1f} M | "
        f"{fn / 1e6:,.1f} M | {cn / 1e6:,.1f} M | {fn / fa:.1f} |"
    )
display(Markdown("\n".join(rows)))

# %% [markdown]
# At 56x56 positions with $c = 256$, $m = n = 64$, $d = 128$ the non-local block does an order of
# magnitude more work (last row). Section 6 measures what that means in time.
#
# ## 3. A task that needs long-range relations
#
# `attnlib.data.longrange.make_longrange` draws two $4 \times 4$ binary patterns from a vocabulary of
# eight on a $32 \times 32$ canvas, at least 20 pixels apart along a random axis. The label says
# whether they are the same pattern; half the images are matches.

# %%
vocab = make_vocabulary()
x_train, y_train, corners_train = make_longrange(N_TRAIN, seed=1, vocabulary=vocab)
x_test, y_test, corners_test = make_longrange(N_TEST, seed=2, vocabulary=vocab)
print(
    f"train {tuple(x_train.shape)}, share of matches {y_train.float().mean():.3f}; "
    f"test {tuple(x_test.shape)}, share of matches {y_test.float().mean():.3f}"
)
fig = viz.show_images(
    x_test[:8], titles=["match" if int(v) else "different" for v in y_test[:8]]
)
plt.show()

# %% [markdown]
# The classifier, `a2net.LongRangeNet`, is a small ResNet: a $3\times3$ stem, a stride-2
# convolution, a residual block, **the block under test**, a second residual block, global average
# pooling and a linear layer. Without a global block its receptive field is 21 pixels, less than the
# distance between the patterns, so no unit ever sees both. Global average pooling followed by a
# linear layer then scores the image as a *sum* of local scores, $f(p_1) + f(p_2)$ plus background,
# and no such sum separates "same" from "different" (exercise 2). A plain CNN should sit at chance.

# %%
print(inspect.getsource(a2net.LongRangeNet.forward))

# %% [markdown]
# ## 4. Training: no block, SE, non-local, double attention
#
# Same network, data, batches, seed, optimiser (AdamW, learning rate $3 \cdot 10^{-3}$, cosine schedule) and
# number of epochs for all four; blocks at the defaults of `a2net.make_block`
# ($m = n = d = c/2$, SE reduction 4).

# %%
EPOCHS = budget.choose(smoke=1, book=5, paper=20)
WIDTH = budget.choose(smoke=8, book=32, paper=64)
BATCH = 64
test_loader = torch.utils.data.DataLoader(
    torch.utils.data.TensorDataset(x_test, y_test), batch_size=500
)
NAMES = {"none": "plain CNN", "se": "+ SE", "nonlocal": "+ non-local", "a2": "+ A$^2$"}
models, histories, train_seconds = {}, {}, {}
for kind in ("none", "se", "nonlocal", "a2"):
    train.seed_everything(0)
    # A fresh loader per network: all four see the same batches in the same order.
    train_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x_train, y_train),
        batch_size=BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    model = a2net.LongRangeNet(kind, width=WIDTH).to(DEVICE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
    history = train.fit(
        model,
        train_loader,
        optimizer,
        EPOCHS,
        scheduler=scheduler,
        device=DEVICE,
        desc=kind,
        eval_fn=lambda mdl: {
            "test_acc": train.evaluate(mdl, test_loader, device=DEVICE)
        },
    )
    models[kind], histories[NAMES[kind]] = model, history
    print(
        f"{NAMES[kind]:12s} test accuracy {history['test_acc'][-1]:.3f}  "
        f"({history['seconds'][-1]:.0f} s of training)"
    )

fig = viz.plot_history(
    histories, ["loss", "test_acc"], titles=["training loss", "test accuracy"]
)
plt.show()

# %% [markdown]
# Accuracy, size, cost and speed of the four networks. FLOPs are counted by `FlopCounterMode` for one
# image; latency is the median forward time of a batch of 64 test images on this machine.

# %%
probe = x_test[:1].to(DEVICE)
batch64 = x_test[:64].to(DEVICE)
summary = {}
for kind, model in models.items():
    summary[kind] = {
        "acc": histories[NAMES[kind]]["test_acc"][-1],
        "params": sum(p.numel() for p in model.parameters()),
        "flops": a2net_bench.count_flops(model, probe),
        "ms": 1e3
        * a2net_bench.time_forward(
            model, batch64, repeats=budget.choose(smoke=1, book=10), warmup=1
        ),
    }
rows = [
    "| network | test accuracy | parameters | MFLOPs / image | ms / batch of 64 |",
    "|---|---|---|---|---|",
]
for kind, r in summary.items():
    rows.append(
        f"| {NAMES[kind]} | {100 * r['acc']:.1f} % | {r['params']:,} | {r['flops'] / 1e6:.2f} | {r['ms']:.1f} |"
    )
display(Markdown("\n".join(rows)))


def verdict(ok: bool) -> str:
    return "goal met" if ok else "goal NOT met"


plain_acc, a2_acc = summary["none"]["acc"], summary["a2"]["acc"]
results_acc = {kind: r["acc"] for kind, r in summary.items()}
display(
    Markdown(
        f"Plain CNN: {100 * plain_acc:.1f} % (goal <= 65 %: **{verdict(plain_acc <= 0.65)}**). "
        f"With the double attention block: {100 * a2_acc:.1f} % (goal >= 90 %: **{verdict(a2_acc >= 0.90)}**). "
        f"Non-local: {100 * summary['nonlocal']['acc']:.1f} %; SE: {100 * summary['se']['acc']:.1f} %."
        + (
            " (Smoke budget: one epoch on a few hundred images, the numbers mean nothing.)"
            if budget.current() == "smoke"
            else ""
        )
    )
)

# %% [markdown]
# The SE gate is a function of the channel averages, so in principle it could compute products of
# pattern counts; in practice it stays near the plain CNN. The non-local and double attention blocks
# both let the position of one pattern read the other. How fast each gets there differs: the
# non-local block starts from near-uniform attention over 256 positions and has to discover the
# query-key pairs that link the two patterns, and on this task its training is sensitive to the
# seed and the order of the batches (exercise 5 asks you to measure that).
#
# ## 5. What the global descriptors gather
#
# Each of the $n$ gather maps $\mathrm{softmax}(\bar{b}_j)$ is a distribution over the $16 \times 16$
# feature positions. Below, for test images, the maps of the descriptors that concentrate most
# (highest average peak weight over the test set), drawn over the input.

# %%
a2_model = models["a2"].eval()
with torch.no_grad():
    feats = a2_model.features(x_test.to(DEVICE))
    maps = a2_model.block.gather_attention(feats).cpu()  # (N, n, 16, 16)
n_desc, fh, fw = maps.shape[1:]
peak = maps.flatten(2).max(-1).values.mean(0)  # (n,)
order = peak.argsort(descending=True)
SHOW = min(4, n_desc)
fig, axes = plt.subplots(4, SHOW + 1, figsize=(1.9 * (SHOW + 1), 1.9 * 4))
for row in range(4):
    axes[row, 0].imshow(x_test[row, 0], cmap="gray", vmin=0, vmax=1)
    axes[row, 0].set_title("match" if int(y_test[row]) else "different", fontsize=9)
    axes[row, 0].axis("off")
    for col in range(SHOW):
        j = int(order[col])
        viz.overlay_heatmap(axes[row, col + 1], x_test[row], maps[row, j])
        if row == 0:
            axes[row, col + 1].set_title(f"descriptor {j}", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# How much of each map's weight lands on the two patterns? A pattern covers $2 \times 2$ or
# $3 \times 3$ feature cells (stride 2), together a few per cent of the 256 cells.

# %%
stride = x_test.shape[-1] // fh
cells = torch.arange(fh)
mask = torch.zeros(N_TEST, fh, fw)
s = vocab.shape[1]
for slot in range(2):
    r0, c0 = corners_test[:, slot, 0], corners_test[:, slot, 1]
    rows_in = (cells[None] >= (r0 // stride)[:, None]) & (
        cells[None] <= ((r0 + s - 1) // stride)[:, None]
    )
    cols_in = (cells[None] >= (c0 // stride)[:, None]) & (
        cells[None] <= ((c0 + s - 1) // stride)[:, None]
    )
    mask = torch.maximum(mask, (rows_in[:, :, None] & cols_in[:, None, :]).float())
on_patterns = (maps * mask[:, None]).sum((2, 3)).mean(0)  # (n,)
area = mask.mean().item()
top = on_patterns.argsort(descending=True)[:3]
display(
    Markdown(
        f"The patterns cover {100 * area:.1f} % of the feature cells. Share of gather weight on them, "
        f"averaged over the test set: the top three descriptors "
        + ", ".join(f"{int(j)}: {100 * on_patterns[j]:.1f} %" for j in top)
        + f"; median over all {n_desc} descriptors {100 * on_patterns.median():.1f} %."
    )
)

# %% [markdown]
# ## 6. Latency and memory against the number of positions
#
# Now the blocks alone, at the sizes of a ResNet stage: batch 2, $c = 256$ channels, 56x56
# positions, $m = n = 64$ for the double attention block and $d = 128$ for the non-local block
# (`a2net_bench.compare_blocks`, also run by `benchmarks/bench_a2.py`). Beside each block's achieved
# GFLOP/s is this machine's float32 matrix-multiply speed (a $1024^2$ product), the practical limit.

# %%
if budget.current() == "smoke":
    cmp = a2net_bench.compare_blocks(
        side=16, channels=32, m=8, n=8, inner=16, repeats=1
    )
else:
    cmp = a2net_bench.compare_blocks(repeats=10)
display(
    Markdown(
        "\n".join(
            [
                "| block | forward (ms) | GFLOP | achieved GFLOP/s | matmul GFLOP/s |",
                "|---|---|---|---|---|",
                f"| A$^2$ | {cmp['a2_s'] * 1e3:.1f} | {cmp['a2_flops'] / 1e9:.2f} | {cmp['a2_gflops']:.1f} | {cmp['matmul_gflops']:.1f} |",
                f"| non-local (SDPA) | {cmp['nl_s'] * 1e3:.1f} | {cmp['nl_flops'] / 1e9:.2f} | {cmp['nl_gflops']:.1f} | {cmp['matmul_gflops']:.1f} |",
                "",
                f"Speed-up of A$^2$ over non-local: **{cmp['speedup']:.1f}x** (goal >= 20x: **{verdict(cmp['speedup'] >= 20)}**); "
                f"FLOP ratio {cmp['nl_flops'] / cmp['a2_flops']:.1f}x. The A$^2$ block runs at "
                f"{100 * cmp['a2_gflops'] / cmp['matmul_gflops']:.0f} % of the matmul speed "
                f"({torch.get_num_threads()} thread(s), {DEVICE}).",
                ""
                if cmp["nl_flops"] / cmp["a2_flops"] >= 20
                else f"At equal GFLOP/s the speed-up would equal the FLOP ratio, {cmp['nl_flops'] / cmp['a2_flops']:.1f}x, "
                "so a 20x speed-up at this size needs the non-local block to run less efficiently per FLOP than "
                "the double attention block; here it runs "
                + ("more" if cmp["nl_gflops"] > cmp["a2_gflops"] else "less")
                + " efficiently.",
            ]
        )
    )
)

# %% [markdown]
# The speed-up and the FLOP ratio differ by how efficiently each block turns FLOPs into time (the
# GFLOP/s column). `NonLocal` lays queries, keys and values out positions-major so that
# `scaled_dot_product_attention` runs its fused kernel; with channels-major views it silently falls
# back to a reference path that builds the $L \times L$ matrix and runs about twice as slowly on this
# CPU, which would flatter the double attention block.
#
# The sweep below goes from 14x14 to 112x112 positions (batch 1). Memory is the size of the
# activations autograd saves for the backward pass (`a2net_bench.saved_activation_bytes`), what
# training holds. The fused attention kernel never stores the $L \times L$ attention matrix, so the
# dashed line shows what an implementation that does store it (as the original non-local block did)
# would keep for the matrix alone: $4L^2$ bytes per sample in float32.

# %%
SIDES = budget.choose(smoke=(8, 12, 16), book=(14, 20, 28, 40, 56, 80, 112))
if budget.current() == "smoke":
    sweep = a2net_bench.scaling_sweep(SIDES, channels=32, m=8, n=8, inner=16, repeats=1)
else:
    sweep = a2net_bench.scaling_sweep(SIDES, repeats=3)
L = np.asarray(sweep["positions"])
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for key, label, marker in (("a2", "A$^2$", "o"), ("nl", "non-local", "s")):
    axes[0].loglog(
        L,
        1e3 * np.asarray(sweep[f"{key}_s"]),
        marker=marker,
        label=f"{label}, slope {sweep[f'{key}_slope']:.2f}",
    )
    axes[1].loglog(
        L,
        np.asarray(sweep[f"{key}_bytes"]) / 2**20,
        marker=marker,
        label=f"{label}, slope {sweep[f'{key}_mem_slope']:.2f}",
    )
axes[1].loglog(
    L, 4.0 * L**2 / 2**20, "k--", label="explicit $L \\times L$ matrix (slope 2)"
)
axes[0].set(xlabel="positions L", ylabel="forward time (ms)", title="latency")
axes[1].set(
    xlabel="positions L", ylabel="saved activations (MiB)", title="training memory"
)
for ax in axes:
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
upper = slice(len(L) // 2, None)
nl_upper = a2net_bench.loglog_slope(L[upper], np.asarray(sweep["nl_s"])[upper])
display(
    Markdown(
        f"Fitted latency slopes over all sizes: A$^2$ **{sweep['a2_slope']:.2f}** "
        f"(goal <= 1.2: **{verdict(sweep['a2_slope'] <= 1.2)}**), non-local **{sweep['nl_slope']:.2f}** "
        f"(over the larger half of the sizes {nl_upper:.2f}; goal near 2: "
        f"**{verdict(abs(sweep['nl_slope'] - 2) <= 0.3 or abs(nl_upper - 2) <= 0.3)}**, read as within 0.3). "
        f"Memory slopes: A$^2$ {sweep['a2_mem_slope']:.2f}, non-local {sweep['nl_mem_slope']:.2f}."
    )
)

# %% [markdown]
# At small sizes both blocks are dominated by their $1\times1$ convolutions, which are linear in $L$,
# so the non-local curve bends up only once $2Ld$ outgrows $4c$ in {eq}`a2-nl-flops`, around
# $L = 2c$ = 512 positions for $c = 256$, $d = 128$.
#
# ## 7. The paper's results and ours
#
# | | the paper {cite}`chen2018a2nets` | this chapter |
# |---|---|---|
# | data | ImageNet-1k; Kinetics and UCF-101 (video) | the procedural matching task above, 32x32 |
# | network | ResNet-50 with double attention blocks | a 4-layer ResNet of width 32 (book budget) |
# | claim | beats ResNet-152 on ImageNet-1k with over 40 % fewer parameters and FLOPs; state of the art on Kinetics and UCF-101 | printed in sections 4 and 6: accuracy with and without the block, cost against a non-local block |
#
# The paper's figures are the paper's: we do not train on ImageNet or Kinetics. What we reproduce is
# the mechanism (a small CNN that cannot relate distant parts can, with one block) and the cost
# argument (linear against quadratic in the number of positions).
#
# ## Goals of this chapter, measured

# %%
elapsed = time.perf_counter() - CHAPTER_START
goal_rows = [
    "| goal | measured | |",
    "|---|---|---|",
    f"| plain CNN <= 65 % | {100 * plain_acc:.1f} % | {verdict(plain_acc <= 0.65)} |",
    f"| + A$^2$ >= 90 % | {100 * a2_acc:.1f} % | {verdict(a2_acc >= 0.90)} |",
    f"| + non-local, + SE reported | {100 * summary['nonlocal']['acc']:.1f} %, {100 * summary['se']['acc']:.1f} % | reported |",
    f"| A$^2$ >= 20x faster than non-local at 56x56 | {cmp['speedup']:.1f}x | {verdict(cmp['speedup'] >= 20)} |",
    f"| latency slope A$^2$ <= 1.2 | {sweep['a2_slope']:.2f} | {verdict(sweep['a2_slope'] <= 1.2)} |",
    f"| latency slope non-local near 2 | {sweep['nl_slope']:.2f} (larger half {nl_upper:.2f}) | "
    f"{verdict(abs(sweep['nl_slope'] - 2) <= 0.3 or abs(nl_upper - 2) <= 0.3)} |",
    f"| A$^2$ GFLOP/s beside matmul GFLOP/s | {cmp['a2_gflops']:.1f} / {cmp['matmul_gflops']:.1f} | reported |",
    f"| chapter <= 10 min | {elapsed / 60:.1f} min | {verdict(elapsed <= 600)} |",
]
display(Markdown("\n".join(goal_rows)))
TASK = "long-range matching task, 32x32 (procedural)"
for kind, goal, ok in (
    ("none", "<= 65 %", plain_acc <= 0.65),
    ("se", None, None),
    ("nonlocal", None, None),
    ("a2", ">= 90 %", a2_acc >= 0.90),
):
    results.record(
        "05_a2net",
        f"test accuracy, {NAMES[kind].replace('A$^2$', 'A^2')}",
        100 * results_acc[kind],
        unit="%",
        goal=goal,
        met=ok,
        data=TASK,
    )
BLOCKS = "block alone, batch 2, C = 256, m = n = 64, non-local d = 128 (SDPA)"
results.record(
    "05_a2net",
    "A^2 speed-up over non-local at 56x56",
    cmp["speedup"],
    unit="x",
    goal=">= 20x",
    met=cmp["speedup"] >= 20,
    data=BLOCKS,
    note=f"FLOP ratio {cmp['nl_flops'] / cmp['a2_flops']:.1f}x",
)
results.record(
    "05_a2net",
    "A^2 latency slope vs positions (log-log)",
    sweep["a2_slope"],
    goal="<= 1.2",
    met=sweep["a2_slope"] <= 1.2,
    data="14x14 .. 112x112, batch 1",
)
results.record(
    "05_a2net",
    "non-local latency slope vs positions (log-log)",
    sweep["nl_slope"],
    goal="near 2",
    met=abs(sweep["nl_slope"] - 2) <= 0.3 or abs(nl_upper - 2) <= 0.3,
    data="14x14 .. 112x112, batch 1",
    note=f"larger half of the sizes: {nl_upper:.2f}",
)
results.record(
    "05_a2net",
    "A^2 block achieved GFLOP/s",
    cmp["a2_gflops"],
    unit="GFLOP/s",
    data=BLOCKS,
    note=f"matmul on this machine: {cmp['matmul_gflops']:.1f} GFLOP/s",
)
results.record(
    "05_a2net",
    "chapter execution time",
    elapsed / 60,
    unit="min",
    goal="<= 10 min",
    met=elapsed <= 600,
    data=f"{torch.get_num_threads()} torch thread(s), {DEVICE}",
)
print(
    f"budget {budget.current()}; timings are wall-clock on this machine and grow when it is shared."
)

# %% [markdown]
# ## Exercises
#
# **1. Find the axis bug.** This is the gather and distribute step of a double attention block as
# it appears, in one form or another, in several public repositories. It runs, the shapes are right,
# and the network even trains. What is wrong, which test of `tests/test_a2net.py` catches it, and
# what does the bug turn the block into?
#
# ```python
# def double_attention(x, phi, theta, rho):
#     b, c, h, w = x.shape
#     A = phi(x).view(b, -1, h * w)                             # (b, m, hw)
#     B = torch.softmax(theta(x).view(b, -1, h * w), dim=1)     # (b, n, hw)
#     V = torch.softmax(rho(x).view(b, -1, h * w), dim=1)       # (b, n, hw)
#     G = torch.bmm(A, B.permute(0, 2, 1))                      # (b, m, n)
#     return torch.bmm(G, V).view(b, -1, h, w)
# ```
#
# ```{admonition} Solution
# :class: dropdown
# The gather softmax runs over `dim=1`, the $n$ maps, instead of `dim=-1`, the $hw$ positions
# ({eq}`a2-gather`). Each map is then no distribution over positions: at every position the $n$
# weights sum to one, so a descriptor is a weighted *sum* (not average) of up to $hw$ features, its
# scale grows with the image size, and a position can only shift weight between descriptors, not
# choose where in the image a descriptor looks. `test_gather_attention_sums_to_one_over_positions`
# fails (sums are about $hw/n$), and so does `test_wrong_axis_variants_differ_from_attend` for this
# variant. The distribution softmax (`V`, `dim=1`) is right. The fix: `torch.softmax(..., dim=-1)`
# for `B`. The related bug `nn.Softmax()(t)` with no `dim` on a 3-D tensor normalises over the
# **batch** (`dim=0`, PyTorch's legacy rule): a sample's output then depends on the other samples,
# which `test_a_samples_output_does_not_depend_on_the_rest_of_the_batch` catches.
# ```
#
# **2. Why the plain CNN cannot do it.** Suppose the network's output is
# $w^\top \frac{1}{L}\sum_i h_i + \beta$, where $h_i$ depends only on a window smaller than the
# distance between the two patterns, so the score is $f(p_1) + f(p_2) + \text{const}$ for patterns
# $p_1, p_2$. Show that no $f$ gives "same" pairs a higher score than all "different" pairs.
#
# ```{admonition} Solution
# :class: dropdown
# We would need $2f(a) > f(a) + f(b)$ and $2f(b) > f(a) + f(b)$ for every $a \neq b$, i.e.
# $f(a) > f(b)$ and $f(b) > f(a)$: impossible. Put differently, $f(a) + f(b)$ is the midpoint of
# $2f(a)$ and $2f(b)$, so no threshold puts both "same" pairs on one side and the "different" pair
# on the other; pattern positions and background only add terms of the same kind. An MLP
# head after pooling could solve it (it could test whether one count is two), which is why
# `LongRangeNet` uses a linear head, as ResNets do: the point is what the features can relate.
# ```
#
# **3. When does the fold pay?** Compare the unfolded count $2BL[c(m + 2n) + 2mn + mc]$ with
# {eq}`a2-flops`. For which $m, n$ is the fold cheaper, and by how much at $c = 256$, $m = n = 64$?
# Check your answer with `a2net_bench.a2_flops(..., folded=False)`.
#
# ```{admonition} Solution
# :class: dropdown
# Per position the unfolded block spends $mn + mc$ after the gather, the folded one $cn$ (plus the
# $O(1)$ term $2Bcmn$). The fold is cheaper when $mn + mc > cn$, i.e. always when $m \ge n$; at
# $m = n = 64$, $c = 256$ it saves $mn = 4096$ of $c(m + 2n) + 2mn + mc = 73{,}728$ multiply-adds per
# position, about 6 %. It also never writes the $m \times L$ map $Z$, which saves memory traffic.
# ```
#
# **4. Video.** For a clip of $T$ frames the block sees $L = THW$ positions. How do the costs of the
# double attention block and of a non-local block grow with $T$? Run `a2net.DoubleAttention(64, 16, 16)`
# on a tensor of shape `(1, 64, T, 14, 14)` for $T = 1, 2, 4, 8$ and fit the slope of its latency.
#
# ```{admonition} Solution
# :class: dropdown
# {eq}`a2-flops` is linear in $L$, so linear in $T$; {eq}`a2-nl-flops` has the $2L^2d$ term, so
# quadratic in $T$: eight frames cost the non-local block 64 times the attention work of one. The
# double attention block gathers descriptors from the whole clip, so its $n$ descriptors can carry
# motion (a feature at one place in one frame, another elsewhere in a later frame), which first-order
# pooling cannot. The fitted slope should come out near 1 (below 1 at tiny sizes, where fixed
# overheads dominate).
# ```
#
# **5. How robust is each result?** Train the non-local and the double attention networks of
# section 4 with five seeds each (the seed of `train.seed_everything` and of the loader's
# generator) and report the mean and the spread of their test accuracy after the same number of
# epochs. Which block is the more reliable learner here, and why might that be?
#
# ```{admonition} Solution
# :class: dropdown
# Measure it; the answer depends on the run. What to look for: a non-local block has to learn
# queries and keys such that a position on one pattern gives most of its attention to the few
# positions of the other pattern, among all 256; until it does, its output is close to the plain
# average of the map, as in SE, and the loss is flat. The double attention block needs only a few
# of its $n$ gather maps to land on *any* pattern (the maps are shared by all positions), and then
# every position receives both patterns' features. Expect some non-local runs to sit at chance for
# several epochs before they take off, and the double attention runs to take off earlier and more
# consistently.
# ```
