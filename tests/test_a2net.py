"""Double attention blocks: equations against einsum, softmax axes pinned, FLOP formulas, shapes, errors, learning."""

import pytest
import torch
import torch.nn.functional as F

from attnlib.a2net import (
    CHAPTER_TASK,
    DoubleAttention,
    LongRangeNet,
    NonLocal,
    SEBlock,
    attention_pool,
    bilinear_pool,
    make_block,
    receptive_field,
    separating_distance,
)
from attnlib.a2net_bench import (
    a2_flops,
    count_flops,
    loglog_slope,
    nonlocal_flops,
    saved_activation_bytes,
    time_forward,
)
from attnlib.data.longrange import make_longrange, make_vocabulary
from attnlib.train import evaluate, fit, seed_everything


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# Eq. (a2-bilinear): bilinear pooling identities ------------------------------------------------


def test_bilinear_pool_is_sum_of_outer_products():
    A, B = _randn(3, 5, 7), _randn(3, 4, 7, seed=1)
    G = bilinear_pool(A, B)
    outer_sum = sum(torch.einsum("bm,bn->bmn", A[..., i], B[..., i]) for i in range(7))
    assert G.shape == (3, 5, 4)
    torch.testing.assert_close(G, outer_sum)
    torch.testing.assert_close(G, torch.einsum("bml,bnl->bmn", A, B))


def test_bilinear_pool_of_a_map_with_itself_is_symmetric_psd_gram_matrix():
    A = _randn(2, 6, 30)
    G = bilinear_pool(A, A)
    torch.testing.assert_close(G, G.transpose(1, 2))
    assert torch.linalg.eigvalsh(G).min() > -1e-10


def test_attention_pool_is_bilinear_pool_of_softmax_and_uniform_logits_give_the_mean():
    A, B = _randn(2, 5, 9), _randn(2, 3, 9, seed=1)
    torch.testing.assert_close(attention_pool(A, B), torch.einsum("bml,bnl->bmn", A, B.softmax(-1)))
    # Constant logits: every descriptor is the plain average over positions (first-order pooling).
    G = attention_pool(A, torch.zeros(2, 3, 9, dtype=torch.float64))
    torch.testing.assert_close(G, A.mean(-1, keepdim=True).expand(-1, -1, 3))


# Eq. (a2-block): attend against its einsum formula, and the two softmax axes --------------------


def _block(c=6, m=4, n=3, seed=0):
    torch.manual_seed(seed)
    return DoubleAttention(c, m, n).double()


def test_attend_equals_einsum_formula():
    block = _block()
    x = _randn(2, 6, 5, 7)
    w, bias = block.qkv.weight[:, :, 0], block.qkv.bias
    A = torch.einsum("kc,bchw->bkhw", w[:4], x) + bias[:4, None, None]
    Bl = torch.einsum("kc,bchw->bkhw", w[4:7], x) + bias[4:7, None, None]
    Vl = torch.einsum("kc,bchw->bkhw", w[7:], x) + bias[7:, None, None]
    gather = Bl.flatten(2).softmax(-1).view_as(Bl)  # over the H*W positions
    distribute = Vl.softmax(1)  # over the n descriptors
    G = torch.einsum("bmhw,bnhw->bmn", A, gather)
    Z = torch.einsum("bmn,bnhw->bmhw", G, distribute)
    torch.testing.assert_close(block.attend(x), Z)
    out = torch.einsum("cm,bmhw->bchw", block.proj.weight[:, :, 0], Z) + block.proj.bias[:, None, None]
    torch.testing.assert_close(block(x), x + out)


def test_a_samples_output_does_not_depend_on_the_rest_of_the_batch():
    block = _block()
    x = _randn(4, 6, 5, 5)
    alone = block(x[1:2])
    other = x.clone()
    other[[0, 2, 3]] = _randn(3, 6, 5, 5, seed=9) * 10
    torch.testing.assert_close(block(x)[1:2], alone)
    torch.testing.assert_close(block(other)[1:2], alone)
    torch.testing.assert_close(block.attend(x)[1:2], block.attend(x[1:2]))


def test_gather_attention_sums_to_one_over_positions():
    block = _block()
    x = _randn(3, 6, 4, 5)
    maps = block.gather_attention(x)
    assert maps.shape == (3, 3, 4, 5)
    assert (maps >= 0).all()
    torch.testing.assert_close(maps.sum((2, 3)), torch.ones(3, 3, dtype=torch.float64))


def test_distribution_weights_sum_to_one_over_descriptors():
    # If all n descriptors are equal to g, every position receives exactly g, whatever V is:
    # true only when the distribution softmax runs over the descriptor axis.
    block = _block(c=6, m=4, n=3)
    with torch.no_grad():
        block.qkv.weight[4:7] = 0.0  # gather logits constant -> every descriptor = mean of A
        block.qkv.bias[4:7] = 0.0
    x = _randn(2, 6, 4, 4)
    A, _, _ = block.maps(x)
    expected = A.mean(-1, keepdim=True).expand(-1, -1, 16).reshape(2, 4, 4, 4)
    torch.testing.assert_close(block.attend(x), expected)


def test_wrong_axis_variants_differ_from_attend():
    """The common bugs (softmax over the batch, over positions when distributing) change the result."""
    block = _block()
    x = _randn(3, 6, 4, 4)
    A, Bl, Vl = block.maps(x)
    right = block.attend(x).flatten(2)
    wrong_gather = (A @ Bl.softmax(0).transpose(1, 2)) @ Vl.softmax(1)
    wrong_distribute = (A @ Bl.softmax(-1).transpose(1, 2)) @ Vl.softmax(-1)
    gather_over_descriptors = (A @ Bl.softmax(1).transpose(1, 2)) @ Vl.softmax(1)  # exercise 1's bug
    assert not torch.allclose(right, wrong_gather)
    assert not torch.allclose(right, gather_over_descriptors)
    assert not torch.allclose(right, wrong_distribute)


def test_video_input_flattens_time_and_space():
    block = _block()
    video = _randn(2, 6, 3, 4, 5)
    z = block.attend(video)
    assert z.shape == (2, 4, 3, 4, 5)
    assert block(video).shape == video.shape
    # Same as the image block on a (B, C, 1, T*H*W) image: positions are T*H*W.
    as_image = video.reshape(2, 6, 1, 60)
    torch.testing.assert_close(z.reshape(2, 4, 1, 60), block.attend(as_image))
    torch.testing.assert_close(block.gather_attention(video).sum((2, 3, 4)), torch.ones(2, 3, dtype=torch.float64))


# Comparison blocks ------------------------------------------------------------------------------


def test_nonlocal_matches_explicit_softmax_attention():
    torch.manual_seed(0)
    block = NonLocal(6, 4, scale=1.0).double()
    x = _randn(2, 6, 3, 5)
    flat = x.flatten(2)
    q, k, v = (block.qkv(flat)).chunk(3, dim=1)  # (B, d, L) each
    weights = torch.einsum("bdi,bdj->bij", q, k).softmax(-1)  # softmax over keys j
    y = torch.einsum("bij,bdj->bdi", weights, v)
    expected = x + block.proj(y).view_as(x)
    torch.testing.assert_close(block(x), expected)
    assert block(_randn(2, 6, 2, 3, 5)).shape == (2, 6, 2, 3, 5)


def test_se_block_is_torchvision_squeeze_excitation_and_handles_video():
    torch.manual_seed(0)
    block = SEBlock(8, reduction=4).double()
    x = _randn(2, 8, 5, 5)
    pooled = x.mean((2, 3))
    se = block.se
    gate = torch.sigmoid(se.fc2(F.relu(se.fc1(pooled[..., None, None]))))
    torch.testing.assert_close(block(x), x * gate)
    assert block(_randn(2, 8, 3, 4, 4)).shape == (2, 8, 3, 4, 4)


def test_make_block_and_shapes():
    x = torch.randn(2, 8, 6, 6)
    for kind in ("none", "se", "nonlocal", "a2"):
        assert make_block(kind, 8)(x).shape == x.shape
    logits = LongRangeNet("a2", width=8)(torch.randn(3, 1, 32, 32))
    assert logits.shape == (3, 2)


# FLOP formulas Eqs. (a2-flops), (a2-nl-flops) against FlopCounterMode ---------------------------


@pytest.mark.parametrize("c, m, n, h, w, batch", [(16, 8, 4, 6, 7, 2), (32, 16, 16, 10, 10, 1)])
def test_flop_formulas_match_flop_counter(c, m, n, h, w, batch):
    x = torch.randn(batch, c, h, w)
    assert count_flops(DoubleAttention(c, m, n), x) == a2_flops(c, m, n, h * w, batch)
    assert count_flops(NonLocal(c, m), x) == nonlocal_flops(c, m, h * w, batch)


def test_cost_grows_linearly_for_a2_and_quadratically_for_nonlocal():
    sizes = [64, 256, 1024]
    a2 = [a2_flops(64, 16, 16, L) for L in sizes]
    nl = [nonlocal_flops(64, 32, L) for L in sizes]
    assert loglog_slope(sizes, a2) == pytest.approx(1.0, abs=0.05)
    assert loglog_slope(sizes, [a2_flops(64, 16, 16, L, folded=False) for L in sizes]) == pytest.approx(1.0)
    assert a2_flops(64, 16, 16, 256, folded=False) > a2_flops(64, 16, 16, 256)
    assert 1.5 < loglog_slope(sizes, nl) < 2.0
    assert loglog_slope([1, 2, 4], [3, 12, 48]) == pytest.approx(2.0)


def test_bench_helpers_run():
    block = DoubleAttention(8, 4, 4)
    x = torch.randn(1, 8, 6, 6)
    assert time_forward(block, x, repeats=2) > 0
    assert saved_activation_bytes(NonLocal(8, 4), x) > 0
    with pytest.raises(ValueError, match="repeats"):
        time_forward(block, x, repeats=0)
    with pytest.raises(ValueError, match="xs and ys"):
        loglog_slope([1.0], [1.0])


# Bad inputs --------------------------------------------------------------------------------------


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="A and B"):
        bilinear_pool(torch.randn(2, 3), torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="share batch and positions"):
        attention_pool(torch.randn(2, 3, 5), torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="share batch"):
        bilinear_pool(torch.randn(2, 3, 4), torch.randn(3, 3, 4))
    with pytest.raises(ValueError, match="m must be"):
        DoubleAttention(8, 0, 4)
    with pytest.raises(ValueError, match="x must be"):
        DoubleAttention(8, 4, 4)(torch.randn(8, 5, 5))
    with pytest.raises(ValueError, match="8 channels"):
        DoubleAttention(8, 4, 4)(torch.randn(1, 7, 5, 5))
    with pytest.raises(ValueError, match="inner"):
        NonLocal(8, 0)
    with pytest.raises(ValueError, match="reduction"):
        SEBlock(8, reduction=9)
    with pytest.raises(ValueError, match="kind"):
        make_block("transformer", 8)
    with pytest.raises(ValueError, match="images"):
        LongRangeNet()(torch.randn(1, 32, 32))


def test_same_seed_same_model_and_output():
    x = torch.randn(2, 1, 32, 32)
    seed_everything(5)
    a = LongRangeNet("a2", width=8).eval()(x)
    seed_everything(5)
    b = LongRangeNet("a2", width=8).eval()(x)
    torch.testing.assert_close(a, b)


# The chapter's proof: no unit of the plain network sees both patterns ----------------------------


def test_receptive_field_of_the_plain_network_is_21_and_matches_its_gradient_support():
    model = LongRangeNet("none", width=4).double().eval()
    field = receptive_field(model)
    assert field == 21
    # Empirical: the gradient of one unit before pooling touches at most `field` pixels per axis.
    x = torch.randn(1, 1, 48, 48, dtype=torch.float64, requires_grad=True)
    trunk = torch.nn.Sequential(model.features, model.head[0])
    out = trunk(x)  # (1, C, 24, 24)
    out[0, :, 12, 12].sum().backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero()
    cols = x.grad[0, 0].abs().sum(0).nonzero()
    assert 1 < rows.max() - rows.min() + 1 <= field
    assert 1 < cols.max() - cols.min() + 1 <= field
    with pytest.raises(ValueError, match="global block"):
        receptive_field(LongRangeNet("a2", width=4))


def test_chapter_task_keeps_the_patterns_out_of_every_window():
    s = make_vocabulary().shape[1]
    field = receptive_field(LongRangeNet("none"))
    need = separating_distance(field, s)
    assert need == field + s - 1
    assert need <= CHAPTER_TASK["min_distance"] <= CHAPTER_TASK["size"] - s
    _, _, corners = make_longrange(2000, seed=0, **CHAPTER_TASK)
    gap = (corners[:, 0] - corners[:, 1]).abs().max(-1).values  # distance along the far axis
    assert int(gap.min()) >= need
    # pixels of the two patterns never share a window of `field` pixels along that axis
    assert int(gap.min()) - (s - 1) + 1 > field


# Learning ----------------------------------------------------------------------------------------


def test_a2_learns_the_long_range_task():
    # One thread: the same numbers on every machine (and about 25 s here).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # A smaller canvas than the chapter's (24 instead of 32) keeps the test short.
        xtr, ytr, _ = make_longrange(3000, seed=11, size=24, min_distance=14)
        xte, yte, _ = make_longrange(500, seed=12, size=24, min_distance=14)
        seed_everything(0)
        model = LongRangeNet("a2", width=16)
        data = torch.utils.data.TensorDataset(xtr, ytr)
        train = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True)
        test = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xte, yte), batch_size=500)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
        fit(model, train, opt, epochs=6, progress=False)
        assert evaluate(model, test) > 0.8
    finally:
        torch.set_num_threads(threads)


_X = torch.randn(2, 8, 4, 4)
_A2NET_BAD = [
    (lambda: bilinear_pool(torch.randn(2, 3, 5), torch.randn(2, 3, 6)), "A and B"),
    (lambda: bilinear_pool(torch.randn(2, 3, 5).long(), torch.randn(2, 3, 5)), "A"),
    (lambda: attention_pool(torch.randn(2, 3, 5), torch.randn(3, 3, 5)), "A and B"),
    (lambda: attention_pool(torch.randn(2, 3, 0), torch.randn(2, 3, 0)), "A and B"),
    (lambda: attention_pool(torch.randn(2, 3, 5), torch.randn(2, 3, 5).long()), "B"),
    (lambda: attention_pool([[1.0]], torch.randn(2, 3, 5)), "A"),
    (lambda: DoubleAttention(8, 0, 4), "m"),
    (lambda: DoubleAttention(8, 4, 2.0), "n"),
    (lambda: DoubleAttention(8, 4, 4)(torch.randn(2, 7, 4, 4)), "x"),
    (lambda: DoubleAttention(8, 4, 4)(torch.randn(2, 8, 16)), "x"),
    (lambda: DoubleAttention(8, 4, 4)(_X.long()), "x"),
    (lambda: DoubleAttention(8, 4, 4)(_X[:0]), "x"),
    (lambda: DoubleAttention(8, 4, 4).attend(_X[:, :, :0]), "x"),
    (lambda: DoubleAttention(8, 4, 4).gather_attention(_X.numpy()), "x"),
    (lambda: NonLocal(8, 4, scale=0.0), "scale"),
    (lambda: NonLocal(8, 4, scale=float("nan")), "scale"),
    (lambda: NonLocal(True, 4), "in_channels"),
    (lambda: NonLocal(8, 4)(torch.randn(2, 6, 4, 4)), "x"),
    (lambda: SEBlock(0), "in_channels"),
    (lambda: SEBlock(8, reduction=True), "reduction"),
    (lambda: SEBlock(8)(torch.randn(2, 6, 4, 4)), "x"),
    (lambda: SEBlock(8)(torch.randn(2, 8)), "x"),
    (lambda: make_block("A2", 8), "kind"),
    (lambda: make_block("a2", 0), "channels"),
    (lambda: make_block("a2", 8, m=0), "m"),
    (lambda: make_block("a2", 8, n=-1), "n"),
    (lambda: make_block("nonlocal", 8, inner=0), "inner"),
    (lambda: LongRangeNet("transformer"), "block"),
    (lambda: LongRangeNet(width=1), "width"),
    (lambda: LongRangeNet(num_classes=0), "num_classes"),
    (lambda: LongRangeNet(in_channels=0), "in_channels"),
    (lambda: LongRangeNet()(torch.randn(2, 3, 32, 32)), "images"),
    (lambda: LongRangeNet()(torch.randn(2, 1, 32, 32).long()), "images"),
    (lambda: LongRangeNet()(torch.randn(0, 1, 32, 32)), "images"),
    (lambda: receptive_field("LongRangeNet"), "module"),
    (lambda: receptive_field(LongRangeNet("a2")), "module"),
    (lambda: separating_distance(0, 4), "field"),
    (lambda: separating_distance(21, 4.0), "pattern_size"),
]


@pytest.mark.parametrize("call, name", _A2NET_BAD, ids=[f"{i}-{n}" for i, (_, n) in enumerate(_A2NET_BAD)])
def test_a2net_refuses_bad_input(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: a2_flops(-1, 2, 2, 9), "channels"),
        (lambda: a2_flops(4, 2.5, 2, 9), "m"),
        (lambda: a2_flops(4, 2, 2, 9, folded="no"), "folded"),
        (lambda: nonlocal_flops(4, 2, 0), "positions"),
        (lambda: nonlocal_flops(4, True, 9), "inner"),
        (lambda: count_flops("block", torch.zeros(1)), "module"),
        (lambda: time_forward(torch.nn.Identity(), [1.0]), "x"),
        (lambda: loglog_slope([1.0, float("nan")], [1.0, 2.0]), "xs"),
        (lambda: loglog_slope([1.0, 2.0], [1.0, -2.0]), "ys"),
        (lambda: saved_activation_bytes(torch.nn.Identity(), torch.zeros(2, dtype=torch.long)), "x"),
    ],
)
def test_bench_helpers_refuse_bad_sizes_and_data(call, name):
    """Before, negative sizes gave negative FLOP counts and NaN data a NaN slope, silently."""
    with pytest.raises(ValueError, match=rf"^{name}"):
        call()
