"""Every model of the course takes one training step on the `meta` device: nothing in it is tied to the CPU.

A tensor on `meta` has a shape and a device but no values, and an operation that mixes it with a CPU tensor
(other than a 0-dim scalar) fails, exactly as one that mixes a GPU tensor with a CPU tensor does. So a
forward pass, loss, backward pass and optimiser step that complete on `meta` show that every tensor the
model, its loss and its step function create follows the model's or the input's device: no hidden
`.cpu()`, no `torch.zeros(...)` without `device=`, no module left behind on the CPU. This is the check
that runs where no GPU is available.

`meta` cannot answer a question about values, so :func:`meta_values` stands in for them: `.item()`, `float()` and
`int()` give 0, `.tolist()` zeros, and `bool()` of a meta tensor is True for the result of `isfinite` or `.all()` and
False otherwise (so "if not finite: raise" and "if bad.any(): raise" both pass). Library value checks skip
meta tensors (`attnlib.checks.has_values`), as does torch's distribution argument validation here.
"""

import contextlib

import pytest
import torch

from attnlib import a2net, adahan, foundations, ram, ram_baselines, reinforce, sat, train
from attnlib.data import vqa
from attnlib.data.captions import DIGIT_CAPTION_VOCAB
from attnlib.data.refexp import make_refexp, target_cells
from attnlib.data.shapes import sample_scenes
from attnlib.r2am import R2AM, encode_words
from attnlib.rec import RECModel, SelfPacedLoss, VisualEncoder, make_step, pretrain_visual

META = torch.device("meta")


@contextlib.contextmanager
def meta_values(int_value: int = 0, any_value: bool = False):
    """Stand-ins for the values a meta tensor does not have (see the module docstring); ``int()`` gives
    ``int_value`` (a length the code slices by, where 0 would empty the batch), ``bool(x.any())`` gives
    ``any_value`` (True where the code asks "is there any?" before going on). Boolean-mask indexing
    assumes every element is selected."""
    T = torch.Tensor
    saved = {name: getattr(T, name) for name in ("item", "__bool__", "tolist", "__float__", "__int__")}
    tagged = {(T, "all"): T.all, (T, "any"): T.any, (torch, "all"): torch.all, (torch, "any"): torch.any}
    tagged[(torch, "isfinite")] = torch.isfinite

    def item(self):
        if self.device.type == "meta":
            return 0.0 if self.is_floating_point() else 0
        return saved["item"](self)

    def boolean(self):
        if self.device.type == "meta":
            return getattr(self, "_meta_truth", False)
        return saved["__bool__"](self)

    def tolist(self):
        if self.device.type == "meta":
            return torch.zeros(self.shape, dtype=self.dtype).tolist()
        return saved["tolist"](self)

    def truth(fn, value):
        def wrapper(*args, **kwargs):
            out = fn(*args, **kwargs)
            if isinstance(out, torch.Tensor) and out.device.type == "meta":
                out._meta_truth = value
            return out

        return wrapper

    validate = torch.distributions.Distribution._validate_args
    T.item, T.__bool__, T.tolist = item, boolean, tolist
    T.__float__ = lambda self: 0.0 if self.device.type == "meta" else saved["__float__"](self)
    T.__int__ = lambda self: int_value if self.device.type == "meta" else saved["__int__"](self)
    for (owner, name), fn in tagged.items():
        setattr(owner, name, truth(fn, any_value if name == "any" else True))
    torch.distributions.Distribution.set_default_validate_args(False)
    fx_config = torch.fx.experimental._config
    nonzero = fx_config.meta_nonzero_assume_all_nonzero
    fx_config.meta_nonzero_assume_all_nonzero = True
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(validate)
        fx_config.meta_nonzero_assume_all_nonzero = nonzero
        for (owner, name), fn in tagged.items():
            setattr(owner, name, fn)
        for name, fn in saved.items():
            setattr(T, name, fn)


def one_step_on_meta(model, batch, step, int_value=0, any_value=False):
    """Model and batch to `meta`, then one step: loss, backward, Adam; everything must stay on `meta`."""
    model.to(META).train()
    batch = train.to_device(batch, META)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with meta_values(int_value, any_value):
        loss, _ = step(model, batch)
        assert loss.device == META, f"the loss left the model's device: {loss.device}"
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        assert tensor.device == META, f"{name} left the model's device: {tensor.device}"
    assert any(p.grad is not None for p in model.parameters()), "no gradient reached the parameters"


def test_meta_mixing_fails_like_a_gpu():
    """The premise: a CPU tensor meeting a meta tensor is an error (a 0-dim CPU scalar is allowed, as on CUDA)."""
    with pytest.raises(RuntimeError):
        torch.ones(3, device=META) + torch.ones(3)
    assert (torch.ones(3, device=META) + torch.tensor(2.0)).device == META


def _digits(n=4, side=28):
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, side, side, generator=generator), torch.arange(n) % 10


@pytest.mark.parametrize("mode", ["soft", "hard", "random"])
def test_glance_and_look(mode):
    images, labels = _digits(4, 56)
    baseline = reinforce.MovingAverageBaseline().to(META)
    one_step_on_meta(
        foundations.GlanceAndLook(mode), (images, labels), lambda m, b: foundations.glance_and_look_step(m, b, baseline)
    )


@pytest.mark.parametrize("side, scales", [(28, 1), (60, 3)])
def test_ram(side, scales):
    one_step_on_meta(ram.RecurrentAttentionModel(n_scales=scales), _digits(4, side), ram.ram_step)


@pytest.mark.parametrize("name", ["fc", "cnn"])
def test_ram_baselines(name):
    model = ram_baselines.FullyConnected(28 * 28) if name == "fc" else ram_baselines.SmallCNN()
    one_step_on_meta(model, _digits(), train.classification_step)


@pytest.mark.parametrize("block", ["none", "se", "nonlocal", "a2"])
def test_long_range_net(block):
    images, labels = torch.rand(4, 1, 32, 32), torch.tensor([0, 1, 0, 1])
    one_step_on_meta(a2net.LongRangeNet(block, width=8), (images, labels), train.classification_step)


@pytest.mark.parametrize("attention", ["soft", "hard"])
def test_show_attend_tell(attention):
    encoder = sat.SmallCNNEncoder(channels=(4, 4, 8, 8))
    model = sat.ShowAttendTell(len(DIGIT_CAPTION_VOCAB), attention, encoder=encoder, hidden_dim=8, embed_dim=4)
    tokens = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])
    step = sat.make_train_step(attention, 1.0, reward_to_go=attention == "hard")
    one_step_on_meta(model, (torch.rand(2, 1, 64, 64), tokens), step)


def test_show_attend_tell_pretraining():
    """The classification pretraining (the offset regression's checks ask questions of values meta lacks)."""
    head = sat.PretrainHead(sat.SmallCNNEncoder(channels=(4, 4, 8, 8)), offsets=False)
    images, labels = _digits(4, 28)
    centres = torch.full((4, 2), 14.0)
    one_step_on_meta(head, (images, labels, centres), sat.make_pretrain_step(max_shift=4))


@pytest.mark.parametrize("aggregator", adahan.AGGREGATORS)
@pytest.mark.parametrize("attention", adahan.ATTENTIONS)
def test_vqa_models(attention, aggregator):
    if attention == "none":
        model = adahan.QuestionOnlyModel(len(vqa.VOCAB), len(vqa.ANSWERS), dim=8)
    else:
        model = adahan.VQAModel(len(vqa.VOCAB), len(vqa.ANSWERS), attention, aggregator, k=0.25, dim=8, channels=4)
    questions, lengths = vqa.encode_text(["is there a red circle?", "how many squares are there?"])
    batch = (torch.rand(2, 3, 48, 48), questions, lengths, torch.tensor([0, 1]), torch.tensor([0, 1]))
    one_step_on_meta(model, batch, adahan.answer_step)


def test_vqa_encoder_pretraining():
    encoder = adahan.ImageEncoder(channels=4).to(META)
    images = torch.rand(4, 3, 48, 48, device=META)
    n_cells = 144
    labels = {name: torch.zeros(4, n_cells, dtype=torch.long) for name in ("color", "shape", "size")}
    with meta_values():
        adahan.pretrain_encoder(encoder, images, labels, epochs=1, batch_size=2)
    assert all(p.device == META for p in encoder.parameters())


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("loss", ["l1+giou", "self_paced"])
def test_rec_model(cached, loss):
    data = make_refexp(4, image_size=32, generator=torch.Generator().manual_seed(0))
    if cached:
        model, inputs = RECModel(d=8, heads=2, hidden=16, grid=4, in_features=10), torch.randn(4, 16, 10)
    else:
        model, inputs = RECModel(d=8, heads=2, hidden=16, grid=4, channels=(4, 4, 4)), torch.rand(4, 3, 32, 32)
    self_paced = SelfPacedLoss().to(META) if loss == "self_paced" else None
    step = make_step(loss, self_paced=self_paced, aux_weight=0.5)
    batch = (inputs, data.tokens, data.boxes, target_cells(data.scenes, data.target, 32, 4))
    one_step_on_meta(model, batch, step)


def test_rec_visual_pretraining():
    scenes = sample_scenes(4, generator=torch.Generator().manual_seed(0))
    encoder = VisualEncoder(grid=4, channels=(4, 4, 4)).to(META)
    with meta_values():
        heads, _ = pretrain_visual(encoder, torch.rand(4, 3, 32, 32, device=META), scenes, epochs=1, batch_size=2)
    assert all(p.device == META for p in [*encoder.parameters(), *heads.parameters()])


def test_r2am():
    """Decoder loss only: torch has no meta kernel for the CTC loss (``ctc_weight > 0``)."""
    model = R2AM(height=16, stem_channels=4, channels=4, depth=2, feature_dim=8, hidden_dim=8)
    images, tokens = torch.rand(3, 1, 16, 48), encode_words(["abc", "de", "fgh"])
    step = lambda m, b: m.loss(*b, ctc_weight=0.0)  # noqa: E731
    one_step_on_meta(model, (images, tokens), step, int_value=tokens.shape[1])
