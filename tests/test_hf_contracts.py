"""The contract generic transformers code relies on, checked on all six transformers classes.

In the spirit of transformers' ModelTesterMixin, written here from its documented behaviour:
output types and shapes, tuples vs dataclasses, hidden states and attentions, save / load,
losses by problem_type, activation checkpointing, dtype on load, parameter counts, input
embeddings, batching. What does not apply to image models without token embeddings (resizing
embeddings, generation, caches, head masking) is left out. Tiny configs keep the file fast on CPU.
"""

import inspect

import pytest
import torch
import torch.nn.functional as F
from helpers import perturb_
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput

from swin_hub import (
    ScratchSwinConfig,
    ScratchSwinForImageClassification,
    ScratchSwinModel,
    ScratchSwinV2Config,
    ScratchSwinV2ForImageClassification,
    ScratchSwinV2Model,
    ScratchViTConfig,
    ScratchViTForImageClassification,
    ScratchViTModel,
)
from swin_hub.hf.modeling import ScratchSwinImageClassifierOutput, ScratchSwinModelOutput

# Swin: two stages of two blocks (the second of each shifted), 16x16 then 8x8 tokens, 4x4 windows
SWIN = dict(img_size=32, patch_size=2, embed_dim=16, depths=[2, 2], num_heads=[1, 2], window_size=4, drop_path_rate=0.0)
VIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)
NUM_LABELS = 3
BATCH = 2
CLASSES = [
    ScratchSwinModel, ScratchSwinForImageClassification, ScratchSwinV2Model, ScratchSwinV2ForImageClassification,
    ScratchViTModel, ScratchViTForImageClassification,
]
CLASSIFIERS = [ScratchSwinForImageClassification, ScratchSwinV2ForImageClassification, ScratchViTForImageClassification]
SWINV2_CLASSES = (ScratchSwinV2Model, ScratchSwinV2ForImageClassification)


def is_swin(cls):
    """Swin V1 or V2: the same outputs (V2 differs inside the blocks only)."""
    return cls in (ScratchSwinModel, ScratchSwinForImageClassification, *SWINV2_CLASSES)


def is_classifier(cls):
    return cls in CLASSIFIERS


def make_config(cls, **kw):
    if cls in SWINV2_CLASSES:
        return ScratchSwinV2Config(**SWIN, **kw)
    return ScratchSwinConfig(**SWIN, **kw) if is_swin(cls) else ScratchViTConfig(**VIT, **kw)


def make_model(cls, seed=0, **kw):
    torch.manual_seed(seed)
    return perturb_(cls(make_config(cls, num_labels=NUM_LABELS, **kw)), seed + 100).eval()


def pixels(batch=BATCH, seed=1):
    return torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def token_shapes(cls):
    """(tokens, width) of each hidden state: Swin's embedding and stage outputs, ViT's blocks."""
    if is_swin(cls):
        side = 32 // SWIN["patch_size"]
        sides = [side] + [side // 2**i for i in range(len(SWIN["depths"]))]
        widths = [SWIN["embed_dim"]] + [SWIN["embed_dim"] * 2**i for i in range(len(SWIN["depths"]))]
        return [(s * s, w) for s, w in zip(sides, widths)]
    return [(1 + (32 // VIT["patch_size"]) ** 2, VIT["embed_dim"])] * (1 + VIT["depth"])


def scalar(cls, out):
    """A scalar that depends on every output the class gives, for backward passes."""
    return out.logits.sum() if is_classifier(cls) else out.last_hidden_state.sum() + out.pooler_output.sum()


# 1. signature and outputs -------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_forward_takes_the_main_input_first(cls):
    assert cls.main_input_name == "pixel_values"
    assert list(inspect.signature(cls.forward).parameters)[1] == "pixel_values"


@pytest.mark.parametrize("cls", CLASSES)
def test_output_type_and_shapes(cls):
    model = make_model(cls)
    with torch.no_grad():
        out = model(pixel_values=pixels())
    if is_classifier(cls):
        assert isinstance(out, ScratchSwinImageClassifierOutput if is_swin(cls) else ImageClassifierOutput)
        assert out.logits.shape == (BATCH, NUM_LABELS) and out.loss is None
    else:
        assert isinstance(out, ScratchSwinModelOutput if is_swin(cls) else BaseModelOutputWithPooling)
        tokens, width = token_shapes(cls)[-1]
        assert out.last_hidden_state.shape == (BATCH, tokens, width)
        assert out.pooler_output.shape == (BATCH, width)
    assert out.hidden_states is None and out.attentions is None


@pytest.mark.parametrize("cls", CLASSES)
def test_return_dict_false_gives_the_dataclass_fields_in_order(cls):
    model = make_model(cls)
    kw = dict(pixel_values=pixels(), output_hidden_states=True, output_attentions=True)
    if is_classifier(cls):
        kw["labels"] = torch.tensor([0, 2])
    with torch.no_grad():
        out, tup = model(**kw), model(**kw, return_dict=False)
    fields = out.to_tuple()
    assert isinstance(tup, tuple) and len(tup) == len(fields)
    for got, want in zip(tup, fields):
        if isinstance(want, tuple):
            assert len(got) == len(want) and all(torch.equal(g, w) for g, w in zip(got, want))
        else:
            assert torch.equal(got, want)


@pytest.mark.parametrize("cls", CLASSES)
def test_config_return_dict_false_gives_tuples(cls):
    model = make_model(cls)
    model.config.return_dict = False
    with torch.no_grad():
        assert isinstance(model(pixel_values=pixels()), tuple)


# 2. hidden states and attentions ---------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_hidden_states_count_and_shapes(cls):
    model = make_model(cls)
    with torch.no_grad():
        out = model(pixel_values=pixels(), output_hidden_states=True)
    shapes = token_shapes(cls)
    assert [tuple(h.shape) for h in out.hidden_states] == [(BATCH, n, c) for n, c in shapes]
    if is_swin(cls):
        sides = [int(n**0.5) for n, _ in shapes]
        assert [tuple(m.shape) for m in out.reshaped_hidden_states] == [(BATCH, c, s, s) for (_, c), s in zip(shapes, sides)]


@pytest.mark.parametrize("cls", CLASSES)
def test_config_output_flags_are_the_defaults(cls):
    model = make_model(cls)
    model.set_attn_implementation("eager")  # transformers' rule for config.output_attentions
    model.config.output_hidden_states = True
    model.config.output_attentions = True
    with torch.no_grad():
        out = model(pixel_values=pixels())
    assert out.hidden_states is not None and out.attentions is not None
    with torch.no_grad():
        out = model(pixel_values=pixels(), output_hidden_states=False, output_attentions=False)
    assert out.hidden_states is None and out.attentions is None


@pytest.mark.parametrize("cls", CLASSES)
def test_attentions_count_shapes_and_rows(cls):
    model = make_model(cls)
    with torch.no_grad():
        out = model(pixel_values=pixels(), output_attentions=True)
    if is_swin(cls):  # one per block, (B * windows, heads, window tokens, window tokens)
        side = 32 // SWIN["patch_size"]
        expected = [
            (BATCH * (side // 2**i // SWIN["window_size"]) ** 2, heads, SWIN["window_size"] ** 2, SWIN["window_size"] ** 2)
            for i, (depth, heads) in enumerate(zip(SWIN["depths"], SWIN["num_heads"]))
            for _ in range(depth)
        ]
    else:
        n = token_shapes(cls)[0][0]
        expected = [(BATCH, VIT["num_heads"], n, n)] * VIT["depth"]
    assert [tuple(a.shape) for a in out.attentions] == expected
    for a in out.attentions:
        torch.testing.assert_close(a.sum(-1), torch.ones_like(a.sum(-1)))


@pytest.mark.parametrize("cls", CLASSES)
def test_retained_hidden_states_get_gradients(cls):
    model = make_model(cls).train()
    out = model(pixel_values=pixels(), output_hidden_states=True)
    for h in out.hidden_states:
        h.retain_grad()
    scalar(cls, out).backward()
    assert all(h.grad is not None for h in out.hidden_states)


# 3. save / load ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_save_and_load_give_identical_outputs(cls, tmp_path):
    model = make_model(cls)
    model.save_pretrained(tmp_path)
    loaded = cls.from_pretrained(tmp_path).eval()
    x = pixels()
    with torch.no_grad():
        for got, want in zip(loaded(pixel_values=x).to_tuple(), model(pixel_values=x).to_tuple()):
            if cls in SWINV2_CLASSES:  # reloaded weights may sit at another alignment: see the next test
                torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
            else:
                assert torch.equal(got, want)


@pytest.mark.parametrize("base_cls, head_cls", [(ScratchSwinModel, ScratchSwinForImageClassification),
                                                (ScratchSwinV2Model, ScratchSwinV2ForImageClassification),
                                                (ScratchViTModel, ScratchViTForImageClassification)])
def test_classifier_loads_from_a_backbone_checkpoint_with_a_new_head(base_cls, head_cls, tmp_path):
    base = make_model(base_cls)
    base.save_pretrained(tmp_path)
    model = head_cls.from_pretrained(tmp_path, num_labels=NUM_LABELS).eval()
    assert model.model.head.weight.shape[0] == NUM_LABELS
    x = pixels()
    with torch.no_grad():
        # equal up to the GEMM kernel: weights read from a safetensors file can sit at another
        # memory alignment, which changes the summation order of Swin V2's position-bias MLP
        torch.testing.assert_close(model.model.forward_head(model.model.forward_features(x), pre_logits=True),
                                   base(pixel_values=x).pooler_output, rtol=0, atol=1e-6)


@pytest.mark.parametrize("cls", CLASSES)
def test_dtype_on_load_gives_bfloat16_weights_and_outputs(cls, tmp_path):
    make_model(cls).save_pretrained(tmp_path)
    model = cls.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        out = model(pixel_values=pixels().to(torch.bfloat16))
    assert (out.logits if is_classifier(cls) else out.last_hidden_state).dtype == torch.bfloat16


# 4. losses --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize(
    "problem_type, num_labels, labels, reference",
    [
        ("regression", 1, torch.tensor([0.5, -1.0]), lambda z, y: F.mse_loss(z.squeeze(-1), y)),
        ("single_label_classification", 3, torch.tensor([2, 0]), F.cross_entropy),
        ("multi_label_classification", 3, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]),
         F.binary_cross_entropy_with_logits),
    ],
)
def test_problem_type_picks_the_loss(cls, problem_type, num_labels, labels, reference):
    torch.manual_seed(0)
    model = cls(make_config(cls, num_labels=num_labels, problem_type=problem_type)).train()
    out = model(pixel_values=pixels(), labels=labels)
    torch.testing.assert_close(out.loss, reference(out.logits, labels))
    out.loss.backward()
    assert model.config.problem_type == problem_type


# 5. training ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_every_parameter_gets_a_gradient(cls):
    model = make_model(cls).train()
    scalar(cls, model(pixel_values=pixels())).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def _loss_and_grads(cls, model, x):
    model.zero_grad(set_to_none=True)
    loss = scalar(cls, model(pixel_values=x))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("use_reentrant", [False, True])
def test_activation_checkpointing_gives_the_same_loss_and_gradients(cls, use_reentrant):
    model = make_model(cls).train()
    x = pixels()
    plain_loss, plain = _loss_and_grads(cls, model, x)
    model.activation_checkpointing_enable({"use_reentrant": use_reentrant})
    assert model.is_activation_checkpointing
    loss, grads = _loss_and_grads(cls, model, x)
    # reentrant checkpointing runs the first forward without grad, where the CPU policy takes
    # SDPA (fast.py): the same arithmetic, another rounding of a sum over thousands of tokens
    torch.testing.assert_close(loss, plain_loss, rtol=1e-5, atol=1e-4)
    # Swin V2's cosine attention multiplies scores by exp(logit_scale) (up to 100), which carries
    # the two kernels' rounding further: its gradients agree to 1e-3 of each tensor's scale
    rel = 1e-3 if cls in SWINV2_CLASSES else 0.0
    for n in plain:
        atol = max(1e-5, rel * plain[n].abs().max().item())
        torch.testing.assert_close(grads[n], plain[n], rtol=1.3e-6, atol=atol, msg=n)
    model.activation_checkpointing_disable()
    assert not model.is_activation_checkpointing


# 6. the rest of the public surface --------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_num_parameters(cls):
    model = make_model(cls)
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    model.model.patch_embed.requires_grad_(False)
    frozen = sum(p.numel() for p in model.model.patch_embed.parameters())
    assert model.num_parameters(only_trainable=True) == model.num_parameters() - frozen


@pytest.mark.parametrize("cls", CLASSES)
def test_input_embeddings_get_and_set(cls):
    model = make_model(cls)
    embed = model.get_input_embeddings()
    assert embed is model.model.patch_embed and isinstance(embed, torch.nn.Module)
    assert model.get_output_embeddings() is None
    replacement = type(embed)(model.model.cfg)
    model.set_input_embeddings(replacement)
    assert model.get_input_embeddings() is replacement


@pytest.mark.parametrize("cls", CLASSES)
def test_input_require_grads_makes_the_embedding_output_require_grad(cls):
    model = make_model(cls).requires_grad_(False)
    seen = []
    model.enable_input_require_grads()
    model.get_input_embeddings().register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    model(pixel_values=pixels())
    model.disable_input_require_grads()
    model(pixel_values=pixels())
    assert seen == [True, False]


@pytest.mark.parametrize("cls", CLASSES)
def test_batch_equals_one_image_at_a_time(cls):
    model = make_model(cls)
    x = pixels(batch=3)
    with torch.no_grad():
        batched = model(pixel_values=x, output_hidden_states=True).to_tuple()
        single = [model(pixel_values=x[i : i + 1], output_hidden_states=True).to_tuple() for i in range(3)]
    flat = lambda t: [u for v in t for u in (v if isinstance(v, tuple) else (v,))]  # noqa: E731
    for j, b in enumerate(flat(batched)):
        torch.testing.assert_close(b, torch.cat([flat(s)[j] for s in single]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", CLASSES)
def test_eager_and_sdpa_agree(cls, tmp_path):
    make_model(cls).save_pretrained(tmp_path)
    x = pixels()
    with torch.no_grad():
        eager, sdpa = (cls.from_pretrained(tmp_path, attn_implementation=a).eval()(pixel_values=x) for a in ("eager", "sdpa"))
    for e, s in zip(eager.to_tuple(), sdpa.to_tuple()):
        torch.testing.assert_close(e, s, rtol=1e-5, atol=1e-5)
