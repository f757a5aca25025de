"""attnlib.r2am: weight sharing, receptive fields, the attention decoder, decoding, metrics, learning."""

import itertools
import math

import pytest
import torch

from attnlib.data.words import render_words
from attnlib.r2am import (
    END,
    PAD,
    R2AM,
    START,
    VOCAB,
    CharDecoder,
    RecurrentConvBlock,
    RecursiveConvBlock,
    UntiedConvStack,
    WordEncoder,
    attention_monotonicity,
    block_parameters,
    character_error_rate,
    ctc_loss,
    decode_tokens,
    encode_words,
    evaluate_ocr,
    receptive_field,
    recognise,
    train_ocr,
    word_accuracy,
)
from attnlib.sat.attention import AdditiveAttention


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_recursive_block_has_one_convolution_and_counts_match_the_formula():
    rec, untied = RecursiveConvBlock(8, 4), UntiedConvStack(8, 4)
    convs = [m for m in rec.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1
    assert n_params(rec) == block_parameters(8, 4, tied=True) == 9 * 64 + 8 + 2 * 8 * 4
    assert n_params(untied) == block_parameters(8, 4, tied=False) == 4 * (9 * 64 + 8) + 2 * 8 * 4
    assert n_params(RecursiveConvBlock(8, 1)) == n_params(UntiedConvStack(8, 1))


def test_recursive_gradient_is_the_sum_over_unrolled_applications():
    torch.manual_seed(0)
    rec = RecursiveConvBlock(4, 3)
    untied = UntiedConvStack(4, 3)
    for conv in untied.convs:  # the same weights, untied
        conv.load_state_dict(rec.conv.state_dict())
    untied.norms.load_state_dict(rec.norms.state_dict())
    x = torch.randn(2, 4, 6, 10)
    assert torch.allclose(rec(x), untied(x), atol=1e-6)
    weights = torch.randn(2, 4, 6, 10)
    (rec(x) * weights).sum().backward()
    (untied(x) * weights).sum().backward()
    total = sum(conv.weight.grad for conv in untied.convs)
    assert torch.allclose(rec.conv.weight.grad, total, atol=1e-5)
    assert not torch.allclose(rec.conv.weight.grad, untied.convs[0].weight.grad, atol=1e-5)


def test_recurrent_block_has_two_tied_kernels_and_counts_match_the_formula():
    block = RecurrentConvBlock(8, 4)
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2  # W_f and W_r, whatever the depth
    # Eq. (r2am-params), recurrent: 2 k^2 C^2 + C + 2 C T
    assert n_params(block) == block_parameters(8, 4, recurrent=True) == 2 * 9 * 64 + 8 + 2 * 8 * 4
    assert n_params(RecurrentConvBlock(8, 7)) - n_params(block) == 2 * 8 * 3  # only the norms grow with T
    with pytest.raises(ValueError, match="tied"):
        block_parameters(8, 4, tied=False, recurrent=True)


def test_recurrent_block_feeds_the_input_at_every_iteration():
    # Eq. (r2am-recurrent) written out with torch.nn.functional, against the module
    torch.manual_seed(0)
    block = RecurrentConvBlock(3, 4)
    for norm in block.norms:  # non-trivial running statistics and affine maps, evaluation mode
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
    block.eval()
    u = torch.randn(2, 3, 5, 9)
    conv = torch.nn.functional.conv2d
    drive = conv(u, block.feed.weight, block.feed.bias, padding=1)
    x = torch.relu(block.norms[0](drive))
    for t in range(1, 4):
        x = torch.relu(block.norms[t](drive + conv(x, block.recur.weight, padding=1)))
    torch.testing.assert_close(block(u), x)
    # with W_r = 0 every iteration reads only the input: x_T = relu(BN_T(W_f * u + b)), not a deeper function
    block.recur.weight.data.zero_()
    torch.testing.assert_close(block(u), torch.relu(block.norms[3](drive)))
    # depth 1 is one feed-forward convolution, as a recursive block of depth 1 with the same weights
    one, rec = RecurrentConvBlock(3, 1).eval(), RecursiveConvBlock(3, 1).eval()
    rec.conv.load_state_dict(one.feed.state_dict())
    torch.testing.assert_close(one(u), rec(u))


def test_receptive_field_arithmetic():
    assert receptive_field([]) == 1
    assert receptive_field([(3, 1)] * 4) == 9  # 1 + T (k - 1)
    assert receptive_field([(3, 2), (3, 2)]) == 7
    for depth in (1, 2, 5):
        for kind in ("recursive", "untied", "recurrent"):
            enc = WordEncoder(kind, depth=depth, context=False)
            assert receptive_field(enc.width_layers()) == 7 + 8 * depth
        enc = WordEncoder("recursive", depth=depth, context=False)
        # stem: conv 3 stride 2 (r=3, jump 2), conv 3 stride 2 (r=7, jump 4); block adds (k-1) * 4 per step
        assert receptive_field(enc.width_layers()) == 7 + 8 * depth


@pytest.mark.parametrize("kind, depth", [("recursive", 3), ("untied", 3), ("plain", 3), ("recurrent", 3)])
def test_receptive_field_matches_gradients(kind, depth):
    torch.manual_seed(0)
    enc = WordEncoder(kind, height=16, stem_channels=4, channels=4, depth=depth, feature_dim=4, context=False).eval()
    images = torch.rand(32, 1, 16, 96, requires_grad=True)
    column = 12
    enc(images)[:, column, :-1].sum().backward()
    support = images.grad.abs().sum((0, 1, 2)).nonzero().flatten()
    width = int(support.max() - support.min() + 1)
    assert width == receptive_field(enc.width_layers())


def test_context_gru_sees_the_whole_word():
    torch.manual_seed(0)
    enc = WordEncoder("recursive", height=16, stem_channels=4, channels=4, depth=1, feature_dim=4).eval()
    images = torch.rand(4, 1, 16, 96, requires_grad=True)
    enc(images)[:, 12, :-1].sum().backward()
    assert (images.grad.abs().sum((0, 1, 2)) > 0).sum() > 90


def test_encoder_shapes_and_coordinates():
    enc = WordEncoder("untied", height=32, channels=8, depth=2, feature_dim=10)
    features = enc(torch.rand(3, 1, 32, 96))
    assert features.shape == (3, 24, 11) and enc.feature_dim == 11
    x = features[0, :, -1]
    assert torch.all(x[1:] > x[:-1]) and -1 < x[0] < x[-1] < 1


def test_vocabulary_encoding_and_stop_tokens():
    tokens = encode_words(["cab", "a"])
    assert tokens.tolist() == [
        [START, VOCAB.index("c"), VOCAB.index("a"), VOCAB.index("b"), END],
        [START, VOCAB.index("a"), END, PAD, PAD],
    ]
    assert decode_tokens(tokens[:, 1:]) == ["cab", "a"]
    stop = torch.tensor([[VOCAB.index("h"), VOCAB.index("i"), END, VOCAB.index("x")]])
    assert decode_tokens(stop) == ["hi"]  # nothing after <end> is read
    assert encode_words(["ab"], max_len=5).shape == (1, 7)


def test_decoder_uses_the_shared_additive_attention_and_shapes():
    torch.manual_seed(0)
    dec = CharDecoder(len(VOCAB), feature_dim=9, hidden_dim=16, attention_dim=8)
    assert isinstance(dec.attention, AdditiveAttention)
    features = torch.randn(5, 7, 9)
    logits, alphas = dec(features, encode_words(["abc", "de", "f", "ghij", "k"])[:, :-1])
    assert logits.shape == (5, 5, len(VOCAB)) and alphas.shape == (5, 5, 7)
    assert torch.allclose(alphas.sum(-1), torch.ones(5, 5), atol=1e-5) and (alphas >= 0).all()


def test_recognise_greedy_and_beam_are_consistent():
    torch.manual_seed(0)
    model = R2AM("recursive", height=16, stem_channels=4, channels=8, depth=2, feature_dim=8, hidden_dim=16).eval()
    images = torch.rand(6, 1, 16, 48)
    greedy, alphas = recognise(model, images, beam_size=1, max_len=6)
    assert len(greedy) == len(alphas) == 6
    assert all(a.shape == (len(w) + 1, 12) for w, a in zip(greedy, alphas))
    assert all(len(w) <= 6 for w in greedy)

    def log_prob(words):  # teacher-forced log-probability of each word followed by <end>
        tokens = encode_words(words, max_len=6)
        with torch.no_grad():
            logits, _ = model(images, tokens[:, :-1])
        lp = torch.log_softmax(logits, -1).gather(-1, tokens[:, 1:, None]).squeeze(-1)
        return (lp * (tokens[:, 1:] != PAD)).sum(-1)

    beam, _ = recognise(model, images, beam_size=5, max_len=6)
    assert torch.all(log_prob(beam) >= log_prob(greedy) - 1e-4)


def _collapse(path):
    """CTC's many-to-one map B: merge repeated symbols, then drop blanks (PAD)."""
    merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
    return [k for k in merged if k != PAD]


def test_ctc_loss_against_enumerating_every_column_path():
    """Eq. (r2am-ctc) by brute force: sum the probability of all V^W' paths that collapse to the word."""
    gen = torch.Generator().manual_seed(0)
    vocab, columns = 5, 4  # tokens 3 and 4 are letters; 0 is the blank; 1, 2 never appear in a path
    logits = torch.randn(2, columns, vocab, generator=gen, requires_grad=True)
    words = [[3, 4], [3, 3]]  # "ab" and a repeated letter, which needs a blank between its copies
    tokens = torch.tensor([[START, *w, END] for w in words])
    log_p = logits.log_softmax(-1)
    expected = []
    for b, word in enumerate(words):
        total = sum(
            math.exp(sum(log_p[b, j, k].item() for j, k in enumerate(path)))
            for path in itertools.product(range(vocab), repeat=columns)
            if _collapse(list(path)) == word
        )
        expected.append(-math.log(total) / len(word))
    torch.testing.assert_close(ctc_loss(logits, tokens), torch.tensor(sum(expected) / 2), rtol=1e-5, atol=1e-6)
    ctc_loss(logits, tokens).backward()
    assert torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match="column_logits"):
        ctc_loss(logits[0], tokens)


def test_joint_loss_adds_the_weighted_ctc_term():
    torch.manual_seed(0)
    model = R2AM(height=16, stem_channels=4, channels=4, depth=2, feature_dim=8, hidden_dim=8)
    images, tokens = torch.rand(3, 1, 16, 48), encode_words(["abc", "de", "fgh"])
    plain, logs = model.loss(images, tokens)
    joint, joint_logs = model.loss(images, tokens, ctc_weight=0.5)
    assert logs["ctc"] == 0.0 and logs["loss"] == pytest.approx(logs["nll"])
    torch.testing.assert_close(joint, plain + 0.5 * ctc_loss(model.column_head(model.encoder(images)), tokens))
    # the CTC term trains the encoder and the column head, never the decoder
    model.zero_grad(set_to_none=True)
    ctc_loss(model.column_head(model.encoder(images)), tokens).backward()
    assert model.column_head.weight.grad.abs().sum() > 0
    assert model.encoder.block.conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.decoder.parameters())
    with pytest.raises(ValueError, match="ctc_weight"):
        model.loss(images, tokens, ctc_weight=-1.0)


def test_joint_loss_averages_as_the_equation_says():
    """Eq. (r2am-joint): the decoder term is summed over the batch's characters (<end> included) and divided by
    their count; the CTC term is divided by each word's length, then averaged over the words."""
    torch.manual_seed(0)
    model = R2AM(height=16, stem_channels=4, channels=4, depth=2, feature_dim=8, hidden_dim=8).eval()
    words = ["abcdef", "de", "fgh"]
    images, tokens = torch.rand(3, 1, 16, 48), encode_words(words)
    total, logs = model.loss(images, tokens, ctc_weight=1.0)
    features = model.encoder(images)
    logits, _ = model.decoder(features, tokens[:, :-1])
    per_token = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), tokens[:, 1:], ignore_index=PAD, reduction="none"
    )
    per_word_nll = per_token.sum(1)
    nll = per_word_nll.sum() / sum(len(w) + 1 for w in words)
    assert logs["nll"] == pytest.approx(nll.item(), rel=1e-5)
    assert logs["nll"] != pytest.approx((per_word_nll / torch.tensor([len(w) + 1.0 for w in words])).mean().item())
    log_probs = torch.log_softmax(model.column_head(features), -1)
    ctc = 0.0
    for b, word in enumerate(words):
        target = tokens[b, 1 : len(word) + 1]
        one = torch.nn.functional.ctc_loss(
            log_probs[b : b + 1].transpose(0, 1),
            target[None],
            [log_probs.shape[1]],
            [len(word)],
            blank=PAD,
            reduction="sum",
        )
        ctc += one.item() / len(word)
    assert logs["ctc"] == pytest.approx(ctc / len(words), rel=1e-5)
    assert total.item() == pytest.approx(logs["nll"] + logs["ctc"], rel=1e-5)


def test_keep_best_restores_the_epoch_chosen_on_validation():
    torch.manual_seed(0)
    model = R2AM(height=16, stem_channels=4, channels=4, depth=1, feature_dim=8, hidden_dim=8)
    snapshots, calls = [], iter([0.9, 0.1, 0.2])

    def validate(net):
        snapshots.append({k: v.clone() for k, v in net.state_dict().items()})
        return {"val_acc": next(calls)}

    history = train_ocr(
        model,
        torch.rand(8, 1, 16, 32),
        ["ab"] * 8,
        3,
        batch_size=4,
        progress=False,
        eval_fn=validate,
        keep_best="val_acc",
    )
    assert history["best_epoch"] == [1] and history["val_acc"] == [0.9, 0.1, 0.2]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[0][key])


def test_fresh_data_every_epoch():
    model = R2AM(height=16, stem_channels=4, channels=4, depth=1, feature_dim=8, hidden_dim=8)
    calls = []

    def fresh(epoch):
        calls.append(epoch)
        return torch.rand(6, 1, 16, 32), ["ab", "cd", "ef", "gh", "ij", "kl"][::-1]

    history = train_ocr(model, torch.rand(6, 1, 16, 32), ["ab"] * 6, 3, batch_size=4, progress=False, fresh=fresh)
    assert calls == [1, 2] and len(history["loss"]) == 3
    with pytest.raises(ValueError, match="fresh"):
        train_ocr(
            model,
            torch.rand(6, 1, 16, 32),
            ["ab"] * 6,
            2,
            progress=False,
            fresh=lambda e: (torch.rand(5, 1, 16, 32), ["a"] * 5),
        )


def test_metrics():
    assert word_accuracy(["cat", "dog"], ["cat", "dot"]) == 0.5
    assert math.isclose(character_error_rate(["cat", "dog"], ["cat", "dot"]), 1 / 6, rel_tol=1e-6)
    assert character_error_rate(["abc"], ["abc"]) == 0.0
    right = torch.eye(4)[[0, 1, 2, 3]]  # peaks 0, 1, 2, (end row 3 ignored)
    stuck = torch.eye(4)[[1, 1, 0, 3]]
    share, count = attention_monotonicity([right, stuck])
    assert count == 4 and share == 0.5
    with pytest.raises(ValueError, match="predictions"):
        word_accuracy([], [])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: WordEncoder("lstm"), "kind"),
        (lambda: WordEncoder(height=20), "height"),
        (lambda: RecursiveConvBlock(4, 0), "depth"),
        (lambda: RecursiveConvBlock(4, 2, kernel=2), "kernel"),
        (lambda: block_parameters(0, 2), "channels"),
        (lambda: receptive_field([(0, 1)]), "layers"),
        (lambda: encode_words(["Hello"]), "words"),
        (lambda: encode_words(["hello"], max_len=3), "max_len"),
        (lambda: decode_tokens(torch.zeros(3, dtype=torch.long)), "tokens"),
        (lambda: WordEncoder(height=16)(torch.rand(2, 3, 16, 32)), "images"),
        (lambda: recognise(R2AM(height=16), torch.rand(1, 1, 16, 32), beam_size=0), "beam_size"),
        (lambda: train_ocr(R2AM(height=16), torch.rand(2, 1, 16, 32), ["ab"], 1), "images"),
    ],
)
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_learns_to_read_short_words():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    letters = "abcdo"

    def words(n):
        lengths = torch.randint(2, 4, (n,), generator=gen)
        picks = torch.randint(0, len(letters), (n, 3), generator=gen)
        return ["".join(letters[j] for j in row[:k]) for row, k in zip(picks.tolist(), lengths.tolist())]

    style = dict(fonts=(0, 3), sizes=(16,), rotation=1.0, shear=0.0, blur=0.3, texture=0.0, noise=0.02)
    train = render_words(words(1500), 16, 48, seed=0, **style)
    test = render_words(words(200), 16, 48, seed=1, **style)
    model = R2AM("recursive", height=16, stem_channels=8, channels=16, depth=2, feature_dim=32, hidden_dim=48)
    train_ocr(model, train.images, train.words, epochs=16, batch_size=32, lr=5e-3, progress=False, ctc_weight=1.0)
    scores = evaluate_ocr(model, test.images, test.words)
    # chance: a uniform guess of length and letters reads about 2 % of these words
    assert scores["accuracy"] > 0.25, scores
    assert scores["cer"] < 0.5, scores
    assert scores["monotonic"] > 0.8, scores


@pytest.mark.parametrize("kind", ["recurrent", "plain"])
def test_context_free_encoders_train(kind):
    # experiment (a) of the chapter trains every encoder without the context GRU: the loss must fall
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = render_words(["ab", "ba", "abc", "cab"] * 24, 16, 48, seed=0, fonts=(0,), sizes=(16,), blur=0.0, noise=0.0)
    model = R2AM(kind, height=16, stem_channels=4, channels=8, depth=2, feature_dim=16, hidden_dim=16, context=False)
    assert model.encoder.context is None
    history = train_ocr(
        model, data.images, data.words, epochs=6, batch_size=16, lr=1e-2, progress=False, ctc_weight=1.0
    )
    assert history["loss"][-1] < 0.7 * history["loss"][0], history["loss"]


# ----------------------------------------------------------------------------- bad input (issue 24)


def _r2am_bad_calls():
    torch.manual_seed(0)
    model = R2AM(height=16, stem_channels=4, channels=4, depth=1, feature_dim=8, hidden_dim=8, embed_dim=4)
    images, words = torch.rand(2, 1, 16, 48), ["ab", "cde"]
    tokens = encode_words(words)
    dec = model.decoder
    features = model.encoder(images)
    state = dec.init_state(features)
    nan = float("nan")
    return {
        "encoder option typo": (lambda: R2AM(encoder="recursve"), "encoder"),
        "encoder kwarg typo": (lambda: R2AM(hieght=16), "hieght"),
        "hidden_dim 0": (lambda: R2AM(hidden_dim=0), "hidden_dim"),
        "block depth 0": (lambda: RecursiveConvBlock(4, 0), "depth"),
        "block kernel even": (lambda: UntiedConvStack(4, 2, kernel=4), "kernel"),
        "block channels float": (lambda: block_parameters(4.0, 2), "channels"),
        "receptive layers not pairs": (lambda: receptive_field([3, 1]), "layers"),
        "receptive stride 0": (lambda: receptive_field([(3, 0)]), "layers"),
        "word encoder height": (lambda: WordEncoder(height=12), "height"),
        "word encoder kind typo": (lambda: WordEncoder(kind="tied"), "kind"),
        "images height": (lambda: model.encoder(torch.rand(2, 1, 32, 48)), "images"),
        "images int": (lambda: model.encoder(torch.ones(2, 1, 16, 48, dtype=torch.uint8)), "images"),
        "decoder vocab_size 3": (lambda: CharDecoder(3, 8), "vocab_size"),
        "decoder token == V": (lambda: dec(features, torch.full((2, 3), len(VOCAB))), "tokens"),
        "decoder token -1": (lambda: dec(features, torch.full((2, 3), -1)), "tokens"),
        "decoder tokens float": (lambda: dec(features, tokens.float()), "tokens"),
        "decoder no step": (lambda: dec(features, tokens[:, :0]), "tokens"),
        "decoder step id": (lambda: dec.step(torch.tensor([len(VOCAB), 1]), state), "tokens"),
        "decoder features dim": (lambda: dec.init_state(features[..., :-1]), "features"),
        "encode_words str": (lambda: encode_words("abc"), "words"),
        "encode_words empty word": (lambda: encode_words(["ab", ""]), "words"),
        "encode_words upper": (lambda: encode_words(["Ab"]), "words"),
        "encode_words max_len 0": (lambda: encode_words(["ab"], max_len=0), "max_len"),
        "encode_words short max_len": (lambda: encode_words(["abc"], max_len=2), "max_len"),
        "decode_tokens -1": (lambda: decode_tokens(torch.tensor([[1, -1, 2]])), "tokens"),
        "decode_tokens == V": (lambda: decode_tokens(torch.tensor([[1, len(VOCAB), 2]])), "tokens"),
        "decode_tokens float": (lambda: decode_tokens(tokens.float()), "tokens"),
        "ctc negative id": (lambda: ctc_loss(torch.randn(2, 12, len(VOCAB)), -tokens), "tokens"),
        "ctc id == V": (
            lambda: ctc_loss(torch.randn(2, 12, len(VOCAB) - 1), tokens.clamp(min=len(VOCAB) - 1)),
            "tokens",
        ),
        "ctc empty batch": (lambda: ctc_loss(torch.randn(0, 12, len(VOCAB)), tokens[:0]), "column_logits"),
        "loss ctc_weight -1": (lambda: model.loss(images, tokens, ctc_weight=-1.0), "ctc_weight"),
        "loss ctc_weight nan": (lambda: model.loss(images, tokens, ctc_weight=nan), "ctc_weight"),
        "loss tokens id": (lambda: model.loss(images, tokens.clamp(max=1) * 99), "tokens"),
        "loss batch mismatch": (lambda: model.loss(images[:1], tokens), "images"),
        "train clip_grad_norm -1": (lambda: train_ocr(model, images, words, 1, clip_grad_norm=-1), "clip_grad_norm"),
        "train clip_grad_norm nan": (lambda: train_ocr(model, images, words, 1, clip_grad_norm=nan), "clip_grad_norm"),
        "train lr 0": (lambda: train_ocr(model, images, words, 1, lr=0), "lr"),
        "train lr inf": (lambda: train_ocr(model, images, words, 1, lr=float("inf")), "lr"),
        "train epochs 0": (lambda: train_ocr(model, images, words, 0), "epochs"),
        "train epochs float": (lambda: train_ocr(model, images, words, 2.0), "epochs"),
        "train batch_size 0": (lambda: train_ocr(model, images, words, 1, batch_size=0), "batch_size"),
        "train ctc_weight -1": (lambda: train_ocr(model, images, words, 1, ctc_weight=-1), "ctc_weight"),
        "train words str": (lambda: train_ocr(model, images, "ab", 1), "words"),
        "train words empty": (lambda: train_ocr(model, images[:0], [], 1), "images"),
        "train words mismatch": (lambda: train_ocr(model, images, ["ab"], 1), "images"),
        "train word bad letter": (lambda: train_ocr(model, images, ["ab", "c-d"], 1), "words"),
        "train keep_best_mode": (
            lambda: train_ocr(model, images, words, 1, keep_best_mode="maximum"),
            "keep_best_mode",
        ),
        "train fresh not callable": (lambda: train_ocr(model, images, words, 1, fresh=3), "fresh"),
        "recognise beam_size 0": (lambda: recognise(model, images, beam_size=0), "beam_size"),
        "recognise max_len 0": (lambda: recognise(model, images, max_len=0), "max_len"),
        "recognise batch_size 0": (lambda: recognise(model, images, batch_size=0), "batch_size"),
        "recognise empty": (lambda: recognise(model, images[:0]), "images"),
        "accuracy str": (lambda: word_accuracy("ab", "ab"), "predictions"),
        "accuracy non-str": (lambda: word_accuracy(["ab"], [3]), "references"),
        "cer empty": (lambda: character_error_rate([], []), "predictions"),
        "monotonicity tensor": (lambda: attention_monotonicity(torch.rand(2, 3, 4)), "alphas"),
        "monotonicity rank": (lambda: attention_monotonicity([torch.rand(3)]), "alphas"),
        "evaluate mismatch": (lambda: evaluate_ocr(model, images, ["ab"]), "images"),
        # issue 24 follow-up: flags, NaN images at the entry points, NaN logits in the CTC loss, empty lists
        "word encoder context str": (lambda: WordEncoder(context="no"), "context"),
        "word encoder context 2": (lambda: WordEncoder(context=2), "context"),
        "block tied str": (lambda: block_parameters(4, 2, tied="no"), "tied"),
        "block recurrent 2": (lambda: block_parameters(4, 2, recurrent=2), "recurrent"),
        "train progress str": (lambda: train_ocr(model, images, words, 1, progress="no"), "progress"),
        "train images nan": (lambda: train_ocr(model, images * nan, words, 1), "images"),
        "recognise images nan": (lambda: recognise(model, images * nan), "images"),
        "recognise images inf": (lambda: recognise(model, images * float("inf")), "images"),
        "evaluate images nan": (lambda: evaluate_ocr(model, images * nan, words), "images"),
        "ctc logits nan": (lambda: ctc_loss(torch.full((2, 12, len(VOCAB)), nan), tokens), "column_logits"),
        "monotonicity empty": (lambda: attention_monotonicity([]), "alphas"),
        "encode_words empty list": (lambda: encode_words([]), "words"),
    }


_R2AM_BAD = _r2am_bad_calls()


@pytest.mark.parametrize("case", sorted(_R2AM_BAD))
def test_bad_input_is_refused_naming_the_argument(case):
    call, name = _R2AM_BAD[case]
    with pytest.raises(ValueError, match=name):
        call()
