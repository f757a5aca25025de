"""Benchmark: where an R^2AM training step spends its time at chapter 9's configuration, and a tried speed-up.

A step is what :func:`attnlib.r2am.train_ocr` does per batch: ``R2AM.loss`` (Eq. (r2am-joint), CTC weight 1),
backward, gradient clipping at norm 5 and an Adam update, on batches of 64 rendered 32x96 word images (half
English, half random strings) with the chapter's recursive model (C = 64, T = 4, 128-d columns, 192-unit decoder).

The script prints

1. the library's step time, and the same step with the decoder's teacher forcing *fused*
   (``fused_teacher_forcing`` below: the character part of the GRU's input gates for all steps in one product,
   one product of ``s_{t-1}`` for both the attention query and the GRU's hidden gates, the output layer after the
   loop). Both compute the same loss and gradients (checked here to round-off); the ratio is the speed-up;
2. the step's parts, each forward and backward on its own: stem, recursive block, collapse, context BiGRU,
   decoder, CTC head and loss, clipping and Adam;
3. the time to render one epoch of fresh training images (``train_ocr(fresh=...)`` in the chapter: 8,000) against
   that epoch's training steps;
4. with ``--encoders``: the library step per encoder of the chapter's experiment (a), without the context GRU, at
   equal width and at equal parameters (widths as section 4.1 chooses them), and the recursive encoder with it, as
   seconds per 8,000 training images: what the chapter's time budget is planned from.

Run: ``.venv/bin/python benchmarks/bench_r2am.py [--threads N] [--rounds R] [--no-data] [--encoders]`` (default one torch
thread, so that a loaded shared machine slows both sides alike; the chapter trains with two).
"""

from __future__ import annotations

import argparse
import time

import torch
from timing import best_of
from torch import nn

from attnlib.data.words import make_words
from attnlib.r2am import PAD, R2AM, ctc_loss, encode_words

MODEL = dict(height=32, stem_channels=16, channels=64, depth=4, feature_dim=128, hidden_dim=192)
EPOCH_IMAGES = 8000  # fresh training images per epoch for chapter 9's main model (section 4.2)


def fused_teacher_forcing(decoder, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``decoder(features, tokens)[0]`` (logits ``(B, T, V)``), with everything that does not depend on the state
    ``s_{t-1}`` taken out of the loop and the GRU update written out as :class:`torch.nn.GRUCell` computes it."""
    state = decoder.init_state(features)
    s, keys = state["s"], state["keys"]
    hidden, attention, gru = decoder.hidden_dim, decoder.attention, decoder.gru
    w_iy, w_ic = gru.weight_ih.split([decoder.embed.embedding_dim, decoder.feature_dim], 1)
    input_gates = nn.functional.linear(decoder.embed(tokens), w_iy, gru.bias_ih).unbind(1)  # T x (B, 3H)
    w_ic = w_ic.t()
    n_query = attention.query.out_features
    w_s = torch.cat([attention.query.weight, gru.weight_hh])  # (A + 3H, H): query and hidden gates at once
    b_s = torch.cat([gru.bias_hh.new_zeros(n_query), gru.bias_hh])
    w_score = attention.score.weight[0]
    states, contexts = [], []
    for x_gates in input_gates:
        query, h_gates = nn.functional.linear(s, w_s, b_s).split([n_query, 3 * hidden], 1)
        alpha = torch.softmax(torch.tanh(keys + query[:, None, :]) @ w_score, -1)  # (B, W')
        context = torch.bmm(alpha[:, None, :], features)[:, 0]
        x_rz, x_n = torch.addmm(x_gates, context, w_ic).split([2 * hidden, hidden], 1)
        h_rz, h_n = h_gates.split([2 * hidden, hidden], 1)
        r, z = torch.sigmoid(x_rz + h_rz).chunk(2, 1)
        n = torch.tanh(x_n + r * h_n)
        s = n + z * (s - n)
        states.append(s)
        contexts.append(context)
    return decoder.out(torch.cat([torch.stack(states, 1), torch.stack(contexts, 1)], -1))


def library_loss(model: R2AM, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return model.loss(images, tokens, ctc_weight=1.0)[0]


def fused_loss(model: R2AM, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``R2AM.loss`` with :func:`fused_teacher_forcing`."""
    tokens = tokens[:, : int((tokens != PAD).sum(1).max())]
    features = model.encoder(images)
    logits = fused_teacher_forcing(model.decoder, features, tokens[:, :-1])
    nll = nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=PAD)
    return nll + ctc_loss(model.column_head(features), tokens)


def gradients(model: R2AM, loss_fn, batch) -> tuple[float, list[torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = loss_fn(model, *batch)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in model.parameters()]


def word_batches(n: int, batch_size: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` images, half English and half random strings (the chapter's "mixed" source), in shuffled batches."""
    english = make_words(n // 2, "english", "train", 32, 96, seed=seed)
    rand = make_words(n - n // 2, "random", "train", 32, 96, seed=seed)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    images = torch.cat([english.images, rand.images])[perm]
    tokens = encode_words(english.words + rand.words)[perm]
    return list(zip(images.split(batch_size), tokens.split(batch_size)))


def step_parts(model: R2AM, images: torch.Tensor, tokens: torch.Tensor) -> dict[str, object]:
    """Forward-and-backward closures for the parts of a step, each on detached inputs."""
    enc, dec = model.encoder, model.decoder
    tokens = tokens[:, : int((tokens != PAD).sum(1).max())]
    x = images * 2 - 1
    with torch.no_grad():
        stem = enc.stem(x)
        block = enc.block(stem)
        columns = torch.relu(enc.collapse(block).squeeze(2)).transpose(1, 2)
        features = enc(images)
    stem, block, columns, features = (t.requires_grad_() for t in (stem, block, columns, features))
    forwards = {
        "stem (2 convolutions, 2 batch norms, max-pool)": lambda: enc.stem(x),
        "recursive block (conv + batch norm, T = 4)": lambda: enc.block(stem),
        "collapse convolution": lambda: enc.collapse(block),
        "context BiGRU over 24 columns": lambda: enc.context(columns)[0],
        f"decoder, teacher forcing over {tokens.shape[1] - 1} steps": lambda: dec(features, tokens[:, :-1])[0],
        "CTC head and loss": lambda: ctc_loss(model.column_head(features), tokens),
    }

    def forward_backward(forward):
        def run():
            out = forward()
            out.backward(torch.ones_like(out))

        return run

    parts = {name: forward_backward(f) for name, f in forwards.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-9)

    def update():
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    parts["clipping and Adam"] = update
    return parts


def main(threads: int = 1, rounds: int = 3, data: bool = True, n_batches: int = 8, batch_size: int = 64) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    batches = word_batches(n_batches * batch_size, batch_size)
    model = R2AM("recursive", **MODEL)

    loss_lib, grad_lib = gradients(model, library_loss, batches[0])
    loss_fused, grad_fused = gradients(model, fused_loss, batches[0])
    scale = max(float(g.abs().max()) for g in grad_lib)
    worst = max(float((a - b).abs().max()) for a, b in zip(grad_fused, grad_lib)) / scale
    assert abs(loss_lib - loss_fused) < 1e-5 and worst < 1e-5, (loss_lib, loss_fused, worst)

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-9)  # a tiny rate: the model barely changes

    def epoch(loss_fn) -> float:
        start = time.perf_counter()
        for batch in batches:
            loss = loss_fn(model, *batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
        return (time.perf_counter() - start) / len(batches)

    epoch(library_loss), epoch(fused_loss)  # warm-up (oneDNN primitives, allocator)
    # interleave the two so that a change of load on a shared machine hits both alike; keep the best of each
    t_lib, t_fused = float("inf"), float("inf")
    for _ in range(rounds):
        t_lib = min(t_lib, epoch(library_loss))
        t_fused = min(t_fused, epoch(fused_loss))
    ratio = t_lib / t_fused
    print(f"R2AM training step: batch {batch_size}, 32x96 images, {MODEL}, CTC weight 1, Adam")
    print(f"torch threads={torch.get_num_threads()}; fused loss and gradients agree to {worst:.1e} of the largest")
    print(f"library step                : {t_lib * 1e3:8.1f} ms")
    print(f"fused teacher forcing step  : {t_fused * 1e3:8.1f} ms")
    print(f"speed-up                    : {ratio:8.2f}x")

    print("\nparts of a library step (forward + backward each, best of 5, one batch):")
    parts = {name: best_of(run, 5) for name, run in step_parts(model, *batches[0]).items()}
    for name, seconds in parts.items():
        print(f"  {name:50s} {seconds * 1e3:7.1f} ms  {100 * seconds / sum(parts.values()):5.1f} %")
    print(f"  {'sum of the parts':50s} {sum(parts.values()) * 1e3:7.1f} ms")

    if data:
        start = time.perf_counter()
        word_batches(EPOCH_IMAGES, batch_size, seed=1)
        render = time.perf_counter() - start
        train = EPOCH_IMAGES / batch_size * t_lib
        print(
            f"\none epoch of fresh data ({EPOCH_IMAGES:,} images): rendering {render:.1f} s, "
            f"{EPOCH_IMAGES // batch_size} library steps {train:.1f} s "
            f"(rendering is {100 * render / (render + train):.0f} % of the epoch)"
        )
    return ratio


#: (kind, C, context) of chapter 9's section 4.1 (equal width 64; equal parameters: untied 39, recurrent 50) and its
#: main model (recursive with the context GRU).
ENCODER_RUNS = (
    ("plain", 64, False),
    ("recursive", 64, False),
    ("untied", 64, False),
    ("recurrent", 64, False),
    ("untied", 39, False),
    ("recurrent", 50, False),
    ("recursive", 64, True),
)


def encoder_steps(threads: int = 1, rounds: int = 3, n_batches: int = 4, batch_size: int = 64) -> dict[str, float]:
    """Seconds of library training steps per ``EPOCH_IMAGES`` images for every entry of :data:`ENCODER_RUNS`."""
    torch.set_num_threads(threads)
    batches = word_batches(n_batches * batch_size, batch_size)
    out = {}
    for kind, channels, context in ENCODER_RUNS:
        torch.manual_seed(0)
        model = R2AM(kind, **{**MODEL, "channels": channels}, context=context)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-9)

        def epoch(model: R2AM = model, optimizer: torch.optim.Optimizer = optimizer) -> None:
            for batch in batches:
                loss = library_loss(model, *batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                optimizer.step()

        epoch()  # warm-up
        step = best_of(epoch, rounds) / len(batches)
        name = f"{kind} C={channels}{' + context GRU' if context else ''}"
        out[name] = step * EPOCH_IMAGES / batch_size
        print(f"  {name:32s} {step * 1e3:7.1f} ms per step, {out[name]:6.1f} s per {EPOCH_IMAGES:,} images")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (best of each is kept)")
    parser.add_argument("--no-data", action="store_true", help="skip timing the rendering of an epoch's images")
    parser.add_argument("--encoders", action="store_true", help="also time a step per encoder of experiment (a)")
    args = parser.parse_args()
    main(args.threads, rounds=args.rounds, data=not args.no_data)
    if args.encoders:
        print(f"\nlibrary step per encoder (torch threads={args.threads}, batch 64):")
        encoder_steps(args.threads, rounds=args.rounds)
