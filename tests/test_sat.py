"""Tests of attnlib.sat (Chapter 5: Show, Attend and Tell)."""

import pytest
import torch
from torchmetrics.functional.text import bleu_score

from attnlib import sat
from attnlib.reinforce import MovingAverageBaseline


def _features(b=3, n=5, d=4, seed=0):
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- additive attention


def test_attention_matches_formula_and_sums_to_one():
    torch.manual_seed(0)
    att = sat.AdditiveAttention(feature_dim=4, query_dim=6, attention_dim=7)
    a, h = _features(), torch.randn(3, 6)
    context, alpha = att(a, h)
    # Eq. (sat-score): e_i = w^T tanh(W_a a_i + b + W_h h)
    pre = (
        torch.einsum("kd,bld->blk", att.key.weight, a)
        + att.key.bias
        + torch.einsum("kq,bq->bk", att.query.weight, h)[:, None]
    )
    e = torch.einsum("k,blk->bl", att.score.weight[0], torch.tanh(pre))
    torch.testing.assert_close(alpha, torch.softmax(e, -1))
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3))
    torch.testing.assert_close(context, torch.einsum("bl,bld->bd", alpha, a))
    # precomputed keys give the same answer
    torch.testing.assert_close(att(a, h, keys=att.project(a))[1], alpha)


def test_attention_mask():
    att = sat.AdditiveAttention(4, 6, 7)
    a, h = _features(), torch.randn(3, 6)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]], dtype=torch.bool)
    context, alpha = att(a, h, mask=mask)
    assert (alpha[~mask] == 0).all()
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3))
    torch.testing.assert_close(context[2], a[2, 4])
    # masked locations do not influence the result
    a2 = a.clone()
    a2[0, 2:] = 100.0
    torch.testing.assert_close(att(a2, h, mask=mask)[1][0], alpha[0])


def test_attention_bad_inputs():
    att = sat.AdditiveAttention(4, 6, 7)
    a, h = _features(), torch.randn(3, 6)
    with pytest.raises(ValueError, match="features"):
        att(a[0], h)
    with pytest.raises(ValueError, match="query"):
        att(a, torch.randn(2, 6))
    with pytest.raises(ValueError, match="mask"):
        att(a, h, mask=torch.zeros(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        att(a, h, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="attention_dim"):
        sat.AdditiveAttention(4, 6, 0)


# ----------------------------------------------------------------------------- encoder


def test_encoder_shapes_and_coordinates():
    enc = sat.SmallCNNEncoder()
    feats, grid = enc(torch.rand(2, 1, 64, 64))
    assert grid == (8, 8) and feats.shape == (2, 64, enc.out_dim) and enc.out_dim == 66
    coords = sat.coordinate_grid(8, 8)
    torch.testing.assert_close(feats[0, :, -2:], coords)
    assert coords[0].tolist() == [-0.875, -0.875] and coords[1, 0] > coords[0, 0]  # row-major, x first
    with pytest.raises(ValueError, match="images"):
        enc(torch.rand(1, 64, 64))
    head = sat.PretrainHead(enc)
    assert head(torch.rand(5, 1, 28, 28)).shape == (5, 10)


def test_torchvision_encoder_offline():
    enc = sat.TorchvisionEncoder("resnet18", weights=None)
    feats, grid = enc(torch.rand(1, 1, 64, 64))
    assert grid == (2, 2) and feats.shape == (1, 4, 512)
    with pytest.raises(ValueError, match="name"):
        sat.TorchvisionEncoder("not_a_model")


# ----------------------------------------------------------------------------- decoder


@pytest.fixture
def decoder():
    torch.manual_seed(0)
    return sat.SATDecoder(vocab_size=9, feature_dim=4, embed_dim=5, hidden_dim=6, attention_dim=7)


def test_decoder_shapes_soft_and_hard(decoder):
    a, tokens = _features(), torch.randint(0, 9, (3, 4))
    soft = decoder(a, tokens, "soft")
    assert soft.logits.shape == (3, 4, 9) and soft.alphas.shape == (3, 4, 5) and soft.betas.shape == (3, 4)
    torch.testing.assert_close(soft.alphas.sum(-1), torch.ones(3, 4))
    assert soft.log_probs is None
    hard = decoder(a, tokens, "hard", generator=torch.Generator().manual_seed(1))
    for t in (hard.log_probs, hard.entropies, hard.sampled):
        assert t.shape == (3, 4)
    assert (hard.log_probs <= 0).all() and (hard.entropies >= 0).all()
    with pytest.raises(ValueError, match="mode"):
        decoder(a, tokens, "medium")
    with pytest.raises(ValueError, match="tokens"):
        decoder(a, tokens[:2], "soft")
    with pytest.raises(ValueError, match="expected_prob"):
        decoder(a, tokens, "hard", expected_prob=1.5)


def test_hard_with_expectation_always_equals_soft(decoder):
    a, tokens = _features(), torch.randint(0, 9, (3, 4))
    soft = decoder(a, tokens, "soft")
    hard = decoder(a, tokens, "hard", generator=torch.Generator().manual_seed(1), expected_prob=1.0)
    torch.testing.assert_close(hard.logits, soft.logits)
    assert not hard.sampled.any()


def test_hard_sampling_is_seeded_and_follows_alpha(decoder):
    a = _features(b=1, n=5).expand(4000, -1, -1)
    state = decoder.init_state(a)
    tokens = torch.ones(4000, dtype=torch.long)
    out1 = decoder.step(tokens, state, "hard", torch.Generator().manual_seed(7))
    out2 = decoder.step(tokens, state, "hard", torch.Generator().manual_seed(7))
    torch.testing.assert_close(out1.logits, out2.logits)
    assert torch.equal(out1.sampled, out2.sampled)
    assert abs(out1.sampled.float().mean().item() - 0.5) < 0.05
    # the sampled locations follow alpha: E[1/alpha_s] = L, and log_prob is log alpha at the sample
    alpha = out1.alpha[0]
    where = (out1.log_prob[:, None] - alpha.log()[None]).abs().argmin(-1)
    freq = torch.bincount(where, minlength=5).float() / 4000
    torch.testing.assert_close(freq, alpha, atol=0.04, rtol=0)


def test_argmax_mode_uses_the_peak(decoder):
    a = _features()
    state = decoder.init_state(a)
    tokens = torch.ones(3, dtype=torch.long)
    out = decoder.step(tokens, state, "argmax")
    assert out.log_prob is None and out.alpha.shape == (3, 5)


# ----------------------------------------------------------------------------- losses


def test_doubly_stochastic_penalty_formula():
    alphas = torch.softmax(torch.randn(2, 3, 4), -1)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    expected = 0.0
    for b in range(2):
        for i in range(4):
            cover = sum(alphas[b, t, i] for t in range(3) if mask[b, t])
            expected += (1 - cover) ** 2
    expected = 0.7 * expected / 2
    torch.testing.assert_close(sat.doubly_stochastic_penalty(alphas, mask, 0.7), torch.as_tensor(expected))
    # attention that covers every location exactly once costs nothing
    assert sat.doubly_stochastic_penalty(torch.eye(4)[None]).item() == 0.0
    with pytest.raises(ValueError, match="weight"):
        sat.doubly_stochastic_penalty(alphas, mask, -1.0)
    with pytest.raises(ValueError, match="step_mask"):
        sat.doubly_stochastic_penalty(alphas, mask[:, :2])
    with pytest.raises(ValueError, match="alphas"):
        sat.doubly_stochastic_penalty(alphas[0])


def test_caption_nll_against_cross_entropy():
    logits, targets = torch.randn(2, 3, 5), torch.tensor([[4, 2, 0], [1, 3, 2]])
    manual = torch.stack(
        [
            -sum(torch.log_softmax(logits[b, t], -1)[targets[b, t]] for t in range(3) if targets[b, t] != 0)
            for b in range(2)
        ]
    )
    torch.testing.assert_close(sat.caption_nll(logits, targets), manual)


def test_hard_estimator_gradient_matches_reinforce_semantics():
    """d loss / d log_prob = -(reward - b_old) * [used sample] / B; the baseline moves 0.9 b + 0.1 mean."""
    b_, t_, v_ = 4, 3, 5
    logits = torch.randn(b_, t_, v_, requires_grad=True)
    targets = torch.tensor([[3, 2, 0], [1, 4, 2], [3, 3, 2], [4, 2, 0]])
    log_probs = torch.log(torch.rand(b_, t_)).requires_grad_(True)
    entropies = torch.rand(b_, t_, requires_grad=True)
    sampled = torch.tensor([[1, 0, 1], [1, 1, 1], [0, 0, 1], [1, 1, 0]], dtype=torch.bool)
    baseline = MovingAverageBaseline(0.9)
    baseline.update(torch.tensor([-2.0]))  # b = -2
    loss, logs = sat.hard_attention_loss(logits, targets, log_probs, entropies, sampled, baseline, entropy_weight=0.01)
    loss.backward()
    reward = -sat.caption_nll(logits.detach(), targets)
    steps = (targets != 0).float()
    expected = -(reward + 2.0)[:, None] * steps * sampled.float() / b_
    torch.testing.assert_close(log_probs.grad, expected)
    torch.testing.assert_close(entropies.grad, -0.01 * steps / b_)
    torch.testing.assert_close(baseline.value, torch.tensor(0.9 * -2.0 + 0.1 * reward.mean().item()))
    assert logs["baseline"] == pytest.approx(-2.0)
    # the decoder itself learns by back-propagating log p(y | s, a): the NLL's gradient, averaged over the batch
    logits2 = logits.detach().requires_grad_(True)
    sat.caption_nll(logits2, targets).mean().backward()
    torch.testing.assert_close(logits.grad, logits2.grad)
    # without a baseline the advantage is the raw log-likelihood
    log_probs.grad = None
    sat.hard_attention_loss(logits, targets, log_probs, entropies, sampled, None)[0].backward()
    torch.testing.assert_close(log_probs.grad, -reward[:, None] * steps * sampled.float() / b_)
    with pytest.raises(ValueError, match="log_probs"):
        sat.hard_attention_loss(logits, targets, log_probs[:, :2], entropies, sampled)


def test_hard_estimator_with_reward_to_go():
    """Step t's location is scored by the log-likelihood of words t.. (Eq. (sat-reward-to-go)) minus b_t."""
    b_, t_, v_ = 3, 3, 5
    logits = torch.randn(b_, t_, v_, requires_grad=True)
    targets = torch.tensor([[3, 2, 0], [1, 4, 2], [3, 3, 2]])
    log_probs = torch.log(torch.rand(b_, t_)).requires_grad_(True)
    entropies = torch.rand(b_, t_)
    sampled = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 1]], dtype=torch.bool)
    baseline = MovingAverageBaseline(0.9, steps=8)
    baseline.update(torch.tensor([[-3.0, -2.0, -1.0]]))
    sat.hard_attention_loss(
        logits, targets, log_probs, entropies, sampled, baseline, entropy_weight=0.0, reward_to_go=True
    )[0].backward()
    word_log_p = logits.detach().log_softmax(-1).gather(2, targets[..., None]).squeeze(-1)
    steps = targets != 0
    to_go = torch.stack([(word_log_p * steps)[:, t:].sum(1) for t in range(t_)], 1)
    expected = -(to_go - torch.tensor([-3.0, -2.0, -1.0])) * (steps & sampled) / b_
    torch.testing.assert_close(log_probs.grad, expected)
    # b_3 averages only the captions that reach word 3
    torch.testing.assert_close(baseline()[2], 0.9 * -1.0 + 0.1 * to_go[1:, 2].mean())
    with pytest.raises(ValueError, match="per-step"):
        sat.hard_attention_loss(
            logits, targets, log_probs, entropies, sampled, MovingAverageBaseline(), reward_to_go=True
        )


def test_expected_prob_schedule_is_called_with_the_step_count():
    """A schedule of expected_prob: 1 means every step uses the expectation, so no REINFORCE term and
    a baseline that never moves."""
    torch.manual_seed(0)
    model = sat.ShowAttendTell(8, "hard", encoder=sat.SmallCNNEncoder(channels=(4, 4, 8, 8)), hidden_dim=8, embed_dim=4)
    features = torch.randn(3, 16, model.decoder.feature_dim)
    tokens = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0], [1, 7, 4, 2]])
    seen = []

    def schedule(step):
        seen.append(step)
        return 1.0

    step = sat.make_train_step("hard", 0.0, reward_to_go=True, expected_prob=schedule)
    for _ in range(3):
        loss, logs = step(model, (features, tokens))
    assert seen == [0, 1, 2]
    out = model(features, tokens[:, :-1], mode="hard", expected_prob=schedule(3))
    assert not out.sampled.any()


# ----------------------------------------------------------------------------- decoding


def _table_step(table):
    """A fake decoder: the log-probabilities depend only on the previous token."""
    log_table = torch.log(table)

    def step(tokens, state):
        return log_table[tokens], {"t": state["t"] + 1}, state["t"].float()[:, None]

    return step


def test_greedy_and_beam_search():
    # vocab: 0 pad, 1 start, 2 end, 3 a, 4 b. Greedy takes "a" (0.6) then is stuck with 0.5/0.5;
    # "b" (0.4) then "end" (1.0) scores 0.4 > 0.6 * 0.5 = 0.3: beam search finds it.
    table = torch.full((5, 5), 1e-6)
    table[1, 3], table[1, 4] = 0.6, 0.4
    table[3, 2], table[3, 4] = 0.5, 0.5
    table[4, 2] = 1.0
    table[0, 0] = 1.0
    table = table / table.sum(-1, keepdim=True)
    state = {"t": torch.zeros(2, dtype=torch.long)}
    greedy, aux = sat.greedy_decode(_table_step(table), state, start=1, end=2, pad=0, max_len=6)
    assert greedy.tolist()[0][:2] == [3, 2] or greedy.tolist()[0][:2] == [3, 4]
    assert aux.shape[:2] == greedy.shape
    beam, scores, aux = sat.beam_search(_table_step(table), state, 1, 2, 0, max_len=6, beam_size=2)
    assert beam.tolist() == [[4, 2], [4, 2]]
    torch.testing.assert_close(scores, torch.log(table[1, 4] * table[4, 2]).expand(2))
    assert aux.shape == (2, 2, 1) and aux[0, :, 0].tolist() == [0.0, 1.0]
    one, _, _ = sat.beam_search(_table_step(table), state, 1, 2, 0, max_len=6, beam_size=1)
    torch.testing.assert_close(one, greedy[:, : one.shape[1]])


def test_decoding_stops_and_pads():
    torch.manual_seed(0)
    model = sat.ShowAttendTell(vocab_size=9)
    images = torch.rand(3, 1, 64, 64)
    tokens, alphas, grid = sat.generate(model, images, max_len=5)
    assert grid == (8, 8) and tokens.shape[0] == 3 and tokens.shape[1] <= 5 and alphas.shape[:2] == tokens.shape
    torch.testing.assert_close(alphas.sum(-1), torch.ones(tokens.shape))
    for row in tokens.tolist():
        if 2 in row:
            assert all(t == 0 for t in row[row.index(2) + 1 :])
    tokens_b, alphas_b, _ = sat.generate(model, images, max_len=5, beam_size=3)
    assert tokens_b.shape[0] == 3 and alphas_b.shape[:2] == tokens_b.shape
    with pytest.raises(ValueError, match="beam_size"):
        sat.beam_search(model.decoder.step_fn(), model.decoder.init_state(model.encode(images)), 1, 2, beam_size=0)
    with pytest.raises(ValueError, match="batch dim"):
        sat.greedy_decode(lambda t, s: None, {"a": torch.zeros(2), "b": torch.zeros(3)}, 1, 2)


# ----------------------------------------------------------------------------- metrics


def test_metrics():
    assert sat.exact_match(["a b", "a c"], ["a b", "a b"]) == 0.5
    preds, refs = ["the cat sat on the mat"], ["the cat sat on a mat"]
    assert sat.bleu(preds, refs) == pytest.approx(float(bleu_score(preds, [refs])))
    assert sat.bleu(["four left of two"], ["four left of two"]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="predictions"):
        sat.exact_match([], [])
    # localisation: 2 x 2 grid on a 16 x 16 image; object 0 top-left, object 1 bottom-right
    boxes = torch.tensor([[[0.0, 0.0, 8.0, 8.0], [8.0, 8.0, 16.0, 16.0]]])
    tokens = torch.tensor([[5, 9, 6, 5, 2]])  # obj, relation, obj, extra obj (a miss), end
    alphas = torch.zeros(1, 5, 4)
    alphas[0, 0, 0] = alphas[0, 2, 0] = alphas[0, 3, 3] = 1.0  # second object word looks at the wrong cell
    alphas[0, 1, 1] = alphas[0, 4, 1] = 1.0
    share, count = sat.attention_localisation(alphas, tokens, boxes, torch.tensor([2]), [5, 6], (2, 2), (16, 16))
    assert count == 3 and share == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="tokens"):
        sat.attention_localisation(alphas, tokens[:, :3], boxes, torch.tensor([2]), [5], (2, 2), (16, 16))


# ----------------------------------------------------------------------------- learning


def test_soft_attention_learns_to_read_one_digit():
    """A brief run on one-digit scenes names the digit far above chance (10 %)."""
    from attnlib.data.captions import DIGIT_CAPTION_VOCAB, make_digit_captions
    from attnlib.train import fit, seed_everything

    seed_everything(0)
    train = make_digit_captions(1500, "train", canvas_size=40, n_digits=(1, 1), seed=1)
    test = make_digit_captions(300, "test", canvas_size=40, n_digits=(1, 1), seed=2)
    model = sat.ShowAttendTell(len(DIGIT_CAPTION_VOCAB), hidden_dim=64, embed_dim=16, attention_dim=32)
    loader = torch.utils.data.DataLoader(
        train.dataset(), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    fit(
        model,
        loader,
        torch.optim.Adam(model.parameters(), 3e-3),
        epochs=3,
        step=sat.make_train_step("soft", 0.0),
        progress=False,
    )
    result = sat.evaluate_captions(model, test, max_len=3)
    assert result["exact_match"] > 0.2  # chance: 0.1


# ----------------------------------------------------------------------------- bad input (issue 24)

_NAN = float("nan")


def _sat_bad_calls():
    torch.manual_seed(0)
    att = sat.AdditiveAttention(4, 6, 7)
    dec = sat.SATDecoder(vocab_size=8, feature_dim=4, embed_dim=5, hidden_dim=6, attention_dim=7)
    model = sat.ShowAttendTell(8, encoder=sat.SmallCNNEncoder(channels=(4, 4, 4, 4)))
    feats, query = _features(2, 5, 4), torch.randn(2, 6)
    tokens = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])
    state = dec.init_state(feats)
    logits = torch.randn(2, 3, 8)
    step = dec.step_fn()
    return {
        "attention dim 0": (lambda: sat.AdditiveAttention(0, 6, 7), "feature_dim"),
        "attention dim float": (lambda: sat.AdditiveAttention(4, 6.0, 7), "query_dim"),
        "features rank": (lambda: att(feats[0], query), "features"),
        "features int": (lambda: att(feats.long(), query), "features"),
        "features no location": (lambda: att(feats[:, :0], query), "features"),
        "query batch": (lambda: att(feats, query[:1]), "query"),
        "mask float": (lambda: att(feats, query, mask=torch.ones(2, 5)), "mask"),
        "mask empty row": (lambda: att(feats, query, mask=torch.zeros(2, 5, dtype=torch.bool)), "mask"),
        "vocab_size 3": (lambda: sat.SATDecoder(3, 4), "vocab_size"),
        "dropout 1": (lambda: sat.SATDecoder(8, 4, dropout=1.0), "dropout"),
        "dropout nan": (lambda: sat.SATDecoder(8, 4, dropout=_NAN), "dropout"),
        "hidden_dim -1": (lambda: sat.SATDecoder(8, 4, hidden_dim=-1), "hidden_dim"),
        "token == vocab": (lambda: dec(feats, tokens.clamp(max=7) + (tokens == 6) * 2), "tokens"),
        "token negative": (lambda: dec(feats, -tokens), "tokens"),
        "tokens float": (lambda: dec(feats, tokens.float()), "tokens"),
        "tokens batch": (lambda: dec(feats, tokens[:1]), "tokens"),
        "tokens no step": (lambda: dec(feats, tokens[:, :0]), "tokens"),
        "mode typo": (lambda: dec(feats, tokens, mode="sotf"), "mode"),
        "expected_prob 2": (lambda: dec(feats, tokens, mode="hard", expected_prob=2.0), "expected_prob"),
        "expected_prob nan": (lambda: dec(feats, tokens, mode="hard", expected_prob=_NAN), "expected_prob"),
        "init mask shape": (lambda: dec.init_state(feats, torch.ones(2, 4, dtype=torch.bool)), "mask"),
        "init empty batch": (lambda: dec.init_state(feats[:0]), "features"),
        "step id 8": (lambda: dec.step(torch.tensor([8, 1]), state), "tokens"),
        "step id -1": (lambda: dec.step(torch.tensor([-1, 1]), state), "tokens"),
        "greedy start 8": (lambda: sat.greedy_decode(step, dict(state), start=8, end=2), "start"),
        "greedy max_len 0": (lambda: sat.greedy_decode(step, dict(state), 1, 2, max_len=0), "max_len"),
        "greedy same ids": (lambda: sat.greedy_decode(step, dict(state), 1, 1), "start"),
        "greedy empty state": (lambda: sat.greedy_decode(step, {}, 1, 2), "state"),
        "greedy step not callable": (lambda: sat.greedy_decode(None, dict(state), 1, 2), "step"),
        "beam_size 0": (lambda: sat.beam_search(step, dict(state), 1, 2, beam_size=0), "beam_size"),
        "beam length_penalty nan": (
            lambda: sat.beam_search(step, dict(state), 1, 2, length_penalty=_NAN),
            "length_penalty",
        ),
        "beam end 9": (lambda: sat.beam_search(dec.step_fn(), dict(state), 1, 9), "end"),
        "nll target == V": (lambda: sat.caption_nll(logits, torch.full((2, 3), 8)), "targets"),
        "nll target -1": (lambda: sat.caption_nll(logits, torch.full((2, 3), -1)), "targets"),
        "nll targets float": (lambda: sat.caption_nll(logits, torch.ones(2, 3)), "targets"),
        "nll empty batch": (lambda: sat.caption_nll(logits[:0], torch.ones(0, 3, dtype=torch.long)), "logits"),
        "penalty weight -1": (lambda: sat.doubly_stochastic_penalty(torch.rand(2, 3, 5), weight=-1), "weight"),
        "penalty weight nan": (lambda: sat.doubly_stochastic_penalty(torch.rand(2, 3, 5), weight=_NAN), "weight"),
        "penalty empty": (lambda: sat.doubly_stochastic_penalty(torch.rand(0, 3, 5)), "alphas"),
        "penalty step_mask float": (
            lambda: sat.doubly_stochastic_penalty(torch.rand(2, 3, 5), torch.ones(2, 3)),
            "step_mask",
        ),
        "hard sampled float": (
            lambda: sat.hard_attention_loss(logits, tokens[:, 1:], *torch.zeros(2, 2, 3), torch.ones(2, 3)),
            "sampled",
        ),
        "hard entropy_weight nan": (
            lambda: sat.hard_attention_loss(
                logits, tokens[:, 1:], *torch.zeros(2, 2, 3), torch.ones(2, 3, dtype=torch.bool), entropy_weight=_NAN
            ),
            "entropy_weight",
        ),
        "exact_match str": (lambda: sat.exact_match("one two", "one two"), "predictions"),
        "exact_match empty": (lambda: sat.exact_match([], []), "predictions"),
        "bleu n_gram 5": (lambda: sat.bleu(["a b"], ["a b"], n_gram=5), "n_gram"),
        "bleu empty reference list": (lambda: sat.bleu(["a b"], [[]]), "references"),
        "peaks grid 0": (lambda: sat.attention_peaks(torch.rand(1, 2, 4), (0, 4), (8, 8)), "grid"),
        "localisation nan box": (
            lambda: sat.attention_localisation(
                torch.rand(1, 2, 4),
                torch.tensor([[4, 5]]),
                torch.full((1, 2, 4), _NAN),
                torch.tensor([2]),
                [4, 5],
                (2, 2),
                (8, 8),
            ),
            "boxes",
        ),
        "localisation n_objects > K": (
            lambda: sat.attention_localisation(
                torch.rand(1, 2, 4),
                torch.tensor([[4, 5]]),
                torch.zeros(1, 2, 4),
                torch.tensor([3]),
                [4, 5],
                (2, 2),
                (8, 8),
            ),
            "n_objects",
        ),
        "grid height 0": (lambda: sat.coordinate_grid(0, 3), "height"),
        "encoder channels": (lambda: sat.SmallCNNEncoder(channels=(4, 4, 4)), "channels"),
        "encoder stride": (lambda: sat.SmallCNNEncoder(stride=2), "stride"),
        "encoder image channels": (lambda: model.encoder(torch.rand(2, 3, 64, 64)), "images"),
        "encoder tiny image": (lambda: model.encoder(torch.rand(2, 1, 4, 4)), "images"),
        "model attention typo": (lambda: sat.ShowAttendTell(8, attention="hrad"), "attention"),
        "model encoder no out_dim": (lambda: sat.ShowAttendTell(8, encoder=torch.nn.Identity()), "encoder"),
        "model inputs rank": (lambda: model(torch.rand(64, 64), tokens), "inputs"),
        "encode_images batch_size 0": (
            lambda: sat.encode_images(model.encoder, torch.rand(2, 1, 64, 64), batch_size=0),
            "batch_size",
        ),
        "encode_images empty": (lambda: sat.encode_images(model.encoder, torch.rand(0, 1, 64, 64)), "images"),
        "train step doubly_stochastic -1": (lambda: sat.make_train_step(doubly_stochastic=-1), "doubly_stochastic"),
        "train step expected_prob 1.5": (lambda: sat.make_train_step(expected_prob=1.5), "expected_prob"),
        "train step tokens id 8": (
            lambda: sat.make_train_step()(model, (torch.rand(2, 1, 64, 64), torch.tensor([[1, 8, 2], [1, 4, 2]]))),
            "tokens",
        ),
        "train step schedule > 1": (
            lambda: sat.make_train_step("hard", expected_prob=lambda step: 2.0)(
                model, (torch.rand(2, 1, 64, 64), tokens)
            ),
            "expected_prob",
        ),
        "generate beam_size 0": (lambda: sat.generate(model, torch.rand(2, 1, 64, 64), beam_size=0), "beam_size"),
        "generate max_len 0": (lambda: sat.generate(model, torch.rand(2, 1, 64, 64), max_len=0), "max_len"),
        "generate start 8": (lambda: sat.generate(model, torch.rand(2, 1, 64, 64), start=8), "start"),
        "generate empty": (lambda: sat.generate(model, torch.rand(0, 1, 64, 64)), "images"),
        "evaluate batch_size 0": (
            lambda: sat.evaluate_captions(model, _tiny_captions(), batch_size=0),
            "batch_size",
        ),
    }


def _tiny_captions():
    from attnlib.data.captions import make_digit_captions

    return make_digit_captions(2, seed=0)


_SAT_BAD = _sat_bad_calls()


@pytest.mark.parametrize("case", sorted(_SAT_BAD))
def test_bad_input_is_refused_naming_the_argument(case):
    call, name = _SAT_BAD[case]
    with pytest.raises(ValueError, match=name):
        call()
