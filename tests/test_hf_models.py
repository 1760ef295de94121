"""transformers front door: configs, Auto registration, outputs, losses, save/load, training.

Small configs only (a tiny Swin at 64 px, a 2-block ViT at 64 px) so the file runs in seconds on CPU.
Every model is perturbed (helpers.perturb_) so identity LayerNorms / zero biases cannot hide mistakes.
"""

import json

import pytest
import timm
import torch
import torch.nn.functional as F
from helpers import perturb_
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForImageClassification
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput

import swin_hub
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
    SwinTransformer,
    ViTConfig,
    VisionTransformer,
)

SWIN_ARCH = dict(embed_dim=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8], drop_path_rate=0.0, img_size=64)
VIT_ARCH = dict(embed_dim=64, depth=2, num_heads=2, img_size=64, patch_size=16)
NUM_LABELS = 3
KINDS = ["swin", "swinv2", "vit"]
CONFIGS = {"swin": ScratchSwinConfig, "swinv2": ScratchSwinV2Config, "vit": ScratchViTConfig}
CLASSIFIERS = {
    "swin": ScratchSwinForImageClassification,
    "swinv2": ScratchSwinV2ForImageClassification,
    "vit": ScratchViTForImageClassification,
}
TIMM_NAMES = {"swin": "scratch_swin_t", "swinv2": "scratch_swinv2_t_w8_256", "vit": "scratch_vit_b"}


def make_config(kind, **kw):
    return CONFIGS[kind](**(VIT_ARCH if kind == "vit" else SWIN_ARCH), **kw)


def make_classifier(kind, seed=0, num_labels=NUM_LABELS, **kw):
    torch.manual_seed(seed)
    cls = CLASSIFIERS[kind]
    model = cls(make_config(kind, num_labels=num_labels, **kw))
    return perturb_(model, seed + 100).eval()


def pixels(batch=2, size=(64, 64), seed=1):
    return torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(seed))


def strip_prefix(state_dict, prefix="model."):
    assert all(k.startswith(prefix) for k in state_dict)
    return {k[len(prefix):]: v for k, v in state_dict.items()}


# 1. imports and Auto registration ---------------------------------------------------------------


def test_classes_import_from_package_root():
    for name in (
        "ScratchSwinConfig",
        "ScratchViTConfig",
        "ScratchSwinModel",
        "ScratchSwinForImageClassification",
        "ScratchViTModel",
        "ScratchViTForImageClassification",
    ):
        assert name in swin_hub.__all__
        assert getattr(swin_hub, name).__name__ == name


@pytest.mark.parametrize(
    "model_type, config_cls, base_cls, classifier_cls",
    [
        ("scratch_swin", ScratchSwinConfig, ScratchSwinModel, ScratchSwinForImageClassification),
        ("scratch_swinv2", ScratchSwinV2Config, ScratchSwinV2Model, ScratchSwinV2ForImageClassification),
        ("scratch_vit", ScratchViTConfig, ScratchViTModel, ScratchViTForImageClassification),
    ],
)
def test_auto_classes_resolve_to_our_classes(model_type, config_cls, base_cls, classifier_cls):
    small = dict(VIT_ARCH) if model_type == "scratch_vit" else dict(SWIN_ARCH)
    cfg = AutoConfig.for_model(model_type, **small)
    assert type(cfg) is config_cls
    assert cfg.embed_dim == small["embed_dim"]
    assert type(AutoModel.from_config(cfg)) is base_cls
    assert type(AutoModelForImageClassification.from_config(cfg)) is classifier_cls


# 2. configs --------------------------------------------------------------------------------------


def test_swin_config_defaults_are_swin_t():
    cfg = ScratchSwinConfig().to_model_config()
    assert cfg.embed_dim == 96
    assert tuple(cfg.depths) == (2, 2, 6, 2)
    assert tuple(cfg.num_heads) == (3, 6, 12, 24)
    assert cfg.window_size == 7
    assert tuple(cfg.img_size) == (224, 224)
    assert cfg.patch_size == 4


def test_vit_config_defaults_are_vit_b16():
    cfg = ScratchViTConfig().to_model_config()
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.patch_size) == (768, 12, 12, 16)
    assert tuple(cfg.img_size) == (224, 224)


@pytest.mark.parametrize(
    "config_cls, kwargs",
    [
        (ScratchSwinConfig, dict(embed_dim=30, depths=[2, 2, 2, 2], num_heads=[4, 4, 4, 4])),
        (ScratchViTConfig, dict(embed_dim=65, num_heads=2)),
    ],
)
def test_bad_config_raises_value_error_at_construction(config_cls, kwargs):
    with pytest.raises(ValueError, match="divisible"):
        config_cls(**kwargs)


@pytest.mark.parametrize("kind", KINDS)
def test_config_dict_round_trip_gives_equal_model_config(kind):
    cfg = make_config(kind, id2label={0: "a", 1: "b"})
    again = type(cfg).from_dict(cfg.to_dict())
    assert again.to_model_config() == cfg.to_model_config()
    assert again.id2label == cfg.id2label


def test_from_model_config_round_trips_timm_architecture():
    timm_model = timm.create_model("scratch_swin_t", **SWIN_ARCH, num_classes=7)
    cfg = ScratchSwinConfig.from_model_config(timm_model.cfg)
    assert cfg.num_labels == 7
    assert cfg.embed_dim == 32 and list(cfg.depths) == [2, 2, 2, 2]
    assert cfg.to_model_config() == timm_model.cfg

    vit = timm.create_model("scratch_vit_b", **VIT_ARCH, num_classes=4)
    assert ScratchViTConfig.from_model_config(vit.cfg).to_model_config() == vit.cfg


# 3. same model as the pure / timm one -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_logits_equal_wrapped_pure_model_forward(kind):
    model = make_classifier(kind)
    x = pixels()
    with torch.no_grad():
        assert torch.equal(model(pixel_values=x).logits, model.model(x))


@pytest.mark.parametrize("kind", KINDS)
def test_logits_equal_timm_model_with_same_state_dict(kind):
    model = make_classifier(kind)
    arch = VIT_ARCH if kind == "vit" else SWIN_ARCH
    timm_model = timm.create_model(TIMM_NAMES[kind], **arch, num_classes=NUM_LABELS)
    timm_model.load_state_dict(strip_prefix(model.state_dict()), strict=True)
    timm_model.eval()
    x = pixels()
    with torch.no_grad():
        assert torch.equal(model(pixel_values=x).logits, timm_model(x))


# 4. transformers output conventions --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_classifier_returns_image_classifier_output(kind):
    model = make_classifier(kind)
    with torch.no_grad():
        out = model(pixel_values=pixels())
    assert isinstance(out, ImageClassifierOutput)
    assert out.logits.shape == (2, NUM_LABELS)
    assert out.loss is None and out.hidden_states is None and out.attentions is None


def test_swin_base_model_last_hidden_state_and_mean_pooler():
    base = perturb_(ScratchSwinModel(make_config("swin")), 3).eval()
    with torch.no_grad():
        out = base(pixel_values=pixels())
    assert isinstance(out, BaseModelOutputWithPooling)
    C = 32 * 2**3
    hw = (64 // 4 // 2**3) ** 2
    assert out.last_hidden_state.shape == (2, hw, C)
    assert out.pooler_output.shape == (2, C)
    torch.testing.assert_close(out.pooler_output, out.last_hidden_state.mean(1))


def test_vit_base_model_last_hidden_state_has_class_token():
    base = perturb_(ScratchViTModel(make_config("vit")), 3).eval()
    with torch.no_grad():
        out = base(pixel_values=pixels())
    assert isinstance(out, BaseModelOutputWithPooling)
    n = (64 // 16) ** 2
    assert out.last_hidden_state.shape == (2, 1 + n, 64)
    assert out.pooler_output.shape == (2, 64)
    # token pooling: the pooled output is the (normed) class token
    torch.testing.assert_close(out.pooler_output, out.last_hidden_state[:, 0])


@pytest.mark.parametrize("kind, expected", [("swin", 4 + 1), ("vit", 2 + 1)])
def test_output_hidden_states_has_one_per_stage_plus_embedding(kind, expected):
    model = make_classifier(kind)
    with torch.no_grad():
        out = model(pixel_values=pixels(), output_hidden_states=True)
    assert len(out.hidden_states) == expected
    for h in out.hidden_states:
        assert h.dim() == 3 and h.shape[0] == 2


def test_swin_output_attentions_are_window_probabilities():
    model = make_classifier("swin")
    with torch.no_grad():
        out = model(pixel_values=pixels(), output_attentions=True)
    heads = [h for h, d in zip(SWIN_ARCH["num_heads"], SWIN_ARCH["depths"]) for _ in range(d)]
    assert len(out.attentions) == sum(SWIN_ARCH["depths"])
    for a, h in zip(out.attentions, heads):
        assert a.dim() == 4 and a.shape[1] == h and a.shape[-1] == a.shape[-2]
        assert a.shape[0] % 2 == 0  # B * num_windows
        torch.testing.assert_close(a.sum(-1), torch.ones_like(a.sum(-1)))
        assert (a >= 0).all()


def test_vit_output_attentions_are_token_probabilities():
    model = make_classifier("vit")
    with torch.no_grad():
        out = model(pixel_values=pixels(), output_attentions=True)
    n = 1 + (64 // 16) ** 2
    assert len(out.attentions) == VIT_ARCH["depth"]
    for a in out.attentions:
        assert a.shape == (2, VIT_ARCH["num_heads"], n, n)
        torch.testing.assert_close(a.sum(-1), torch.ones_like(a.sum(-1)))


@pytest.mark.parametrize("kind", KINDS)
def test_output_attentions_do_not_change_logits(kind):
    model = make_classifier(kind)
    x = pixels()
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values=x, output_attentions=True).logits, model(pixel_values=x).logits)


@pytest.mark.parametrize("kind", KINDS)
def test_return_dict_false_gives_tuple_with_logits_first(kind):
    model = make_classifier(kind)
    x = pixels()
    with torch.no_grad():
        ref = model(pixel_values=x).logits
        tup = model(pixel_values=x, return_dict=False)
        tup_hs = model(pixel_values=x, return_dict=False, output_hidden_states=True)
    assert isinstance(tup, tuple) and len(tup) == 1
    assert torch.equal(tup[0], ref)
    assert torch.equal(tup_hs[0], ref) and isinstance(tup_hs[1], tuple)


@pytest.mark.parametrize("kind", KINDS)
def test_return_dict_false_with_labels_puts_loss_first(kind):
    model = make_classifier(kind)
    x, labels = pixels(), torch.tensor([0, 2])
    with torch.no_grad():
        ref = model(pixel_values=x, labels=labels)
        tup = model(pixel_values=x, labels=labels, return_dict=False)
    assert torch.equal(tup[0], ref.loss) and torch.equal(tup[1], ref.logits)


# 5. loss by problem_type -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_integer_labels_give_cross_entropy(kind):
    model = make_classifier(kind)
    labels = torch.tensor([1, 2])
    with torch.no_grad():
        out = model(pixel_values=pixels(), labels=labels)
    assert model.config.problem_type == "single_label_classification"
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))


@pytest.mark.parametrize("kind", KINDS)
def test_float_multi_hot_labels_give_bce_with_logits(kind):
    model = make_classifier(kind)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    with torch.no_grad():
        out = model(pixel_values=pixels(), labels=labels)
    assert model.config.problem_type == "multi_label_classification"
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, labels))


@pytest.mark.parametrize("kind", KINDS)
def test_single_label_gives_mse_regression(kind):
    model = make_classifier(kind, num_labels=1)
    labels = torch.tensor([0.5, -1.5])
    with torch.no_grad():
        out = model(pixel_values=pixels(), labels=labels)
    assert model.config.problem_type == "regression"
    assert out.logits.shape == (2, 1)
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits.squeeze(-1), labels))


# 6. save_pretrained / from_pretrained -----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_auto_from_pretrained_round_trip(kind, tmp_path):
    id2label = {0: "cat", 1: "dog", 2: "bird"}
    model = make_classifier(kind, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    x = pixels()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    assert loaded.config.id2label == id2label
    with torch.no_grad():
        assert torch.equal(loaded(pixel_values=x).logits, model(pixel_values=x).logits)


@pytest.mark.parametrize("kind", KINDS)
def test_auto_model_loads_backbone_from_classifier_folder(kind, tmp_path):
    model = make_classifier(kind)
    model.save_pretrained(tmp_path)
    base = AutoModel.from_pretrained(tmp_path).eval()
    assert type(base) is {"swin": ScratchSwinModel, "swinv2": ScratchSwinV2Model, "vit": ScratchViTModel}[kind]
    x = pixels()
    with torch.no_grad():
        feats = model.model.forward_head(model.model.forward_features(x), pre_logits=True)
        assert torch.equal(base(pixel_values=x).pooler_output, feats)
    backbone = {k: v for k, v in model.state_dict().items() if not k.startswith("model.head.")}
    assert base.state_dict().keys() == backbone.keys()


@pytest.mark.parametrize("kind", KINDS)
def test_from_pretrained_new_num_labels_reinitialises_only_the_head(kind, tmp_path):
    model = make_classifier(kind)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path, num_labels=5, ignore_mismatched_sizes=True)
    assert loaded.config.num_labels == 5
    assert loaded.model.head.weight.shape[0] == 5
    with torch.no_grad():
        assert loaded.eval()(pixel_values=pixels()).logits.shape == (2, 5)
    old = model.state_dict()
    for k, v in loaded.state_dict().items():
        if not k.startswith("model.head."):
            assert torch.equal(v, old[k]), k


@pytest.mark.parametrize("kind", KINDS)
def test_from_pretrained_mismatched_num_labels_without_ignore_raises(kind, tmp_path):
    # transformers 5.23: a head-size mismatch without ignore_mismatched_sizes is a RuntimeError
    model = make_classifier(kind)
    model.save_pretrained(tmp_path)
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):
        AutoModelForImageClassification.from_pretrained(tmp_path, num_labels=5)
    # the checkpoint is untouched: loading it as saved still gives the same model
    again = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    x = pixels()
    with torch.no_grad():
        assert torch.equal(again(pixel_values=x).logits, model(pixel_values=x).logits)


# 7. interpolate_pos_encoding (ViT) --------------------------------------------------------------


def test_vit_interpolate_pos_encoding_equals_dynamic_img_size_model():
    model = make_classifier("vit")
    pure = VisionTransformer(ViTConfig(**VIT_ARCH, num_classes=NUM_LABELS, dynamic_img_size=True))
    pure.load_state_dict(strip_prefix(model.state_dict()), strict=True)
    pure.eval()
    x = pixels(size=(96, 128))
    with torch.no_grad():
        out = model(pixel_values=x, interpolate_pos_encoding=True).logits
        assert out.shape == (2, NUM_LABELS)
        torch.testing.assert_close(out, pure(x), rtol=0, atol=0)
        base_out = ScratchViTModel(model.config)
        base_out.model.load_state_dict(strip_prefix(model.state_dict()), strict=False)
        hs = base_out.eval()(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
        assert hs.shape == (2, 1 + (96 // 16) * (128 // 16), 64)


def test_vit_other_size_without_interpolation_raises():
    model = make_classifier("vit")
    with torch.no_grad(), pytest.raises(ValueError, match="dynamic_img_size"):
        model(pixel_values=pixels(size=(96, 128)))


# 8. activation (gradient) checkpointing ---------------------------------------------------------


def _grads_and_block_calls(model, x, labels):
    first_block = model.model.layers[0].blocks[0] if hasattr(model.model, "layers") else model.model.blocks[0]
    calls = []
    # on the block's attention: transformers' layers checkpoint forward (not __call__), so the
    # recompute runs the submodules' hooks, not the block's own
    handle = first_block.attn.register_forward_pre_hook(lambda *a: calls.append(1))
    model.zero_grad(set_to_none=True)
    model(pixel_values=x, labels=labels).loss.backward()
    handle.remove()
    return {n: p.grad.clone() for n, p in model.named_parameters()}, len(calls)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_reentrant", [False, True])
def test_checkpointing_enable_gives_identical_gradients(kind, use_reentrant):
    model = make_classifier(kind).train()
    x, labels = pixels(), torch.tensor([0, 1])
    plain, plain_calls = _grads_and_block_calls(model, x, labels)
    model.activation_checkpointing_enable({"use_reentrant": use_reentrant})
    ckpt, ckpt_calls = _grads_and_block_calls(model, x, labels)
    assert plain_calls == 1
    assert ckpt_calls == 2  # the block is recomputed in the backward pass
    assert plain.keys() == ckpt.keys()
    for n in plain:
        torch.testing.assert_close(ckpt[n], plain[n], msg=n)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_reentrant", [False, True])
def test_checkpointing_kwargs_reach_every_block(kind, use_reentrant):
    """transformers v5's convention: every block is a GradientCheckpointingLayer that runs under
    the checkpoint function built from the kwargs given (the model's own timm switch stays off)."""
    model = make_classifier(kind).train()
    model.activation_checkpointing_enable({"use_reentrant": use_reentrant})
    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    assert len(layers) == (VIT_ARCH["depth"] if kind == "vit" else sum(SWIN_ARCH["depths"]))
    assert all(layer.gradient_checkpointing for layer in layers)
    calls = []
    for layer in layers:
        func = layer._gradient_checkpointing_func
        assert func.func is torch.utils.checkpoint.checkpoint and func.keywords == {"use_reentrant": use_reentrant}
        layer._gradient_checkpointing_func = lambda *a, _f=func, **k: calls.append(_f.keywords) or _f(*a, **k)
    model(pixel_values=pixels(), labels=torch.tensor([0, 1])).loss.backward()
    assert calls == [{"use_reentrant": use_reentrant}] * len(layers)
    assert not model.model.grad_checkpointing if kind == "vit" else not any(s.grad_checkpointing for s in model.model.layers)


def test_checkpointing_every_n_layers_counts_the_blocks():
    model = make_classifier("swin").train()
    model.activation_checkpointing_enable(every_n_layers=2)
    flags = [m.gradient_checkpointing for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    assert flags == [True, False] * (sum(SWIN_ARCH["depths"]) // 2)


def test_checkpointing_reaches_a_timm_model_wrapped_by_to_transformers():
    timm_model = timm.create_model("scratch_vit_b", **VIT_ARCH, num_classes=NUM_LABELS).train()
    model = swin_hub.to_transformers(timm_model)
    model.activation_checkpointing_enable({"use_reentrant": True})
    blocks = list(timm_model.blocks)
    assert all(isinstance(b, GradientCheckpointingLayer) and b.gradient_checkpointing for b in blocks)
    model(pixel_values=pixels(), labels=torch.tensor([0, 1])).loss.backward()


@pytest.mark.parametrize("kind", KINDS)
def test_checkpointing_layers_keep_the_state_dict_keys_and_pickle(kind, tmp_path):
    model = make_classifier(kind)
    pure = {"swin": SwinTransformer, "swinv2": swin_hub.SwinTransformerV2, "vit": VisionTransformer}[kind]
    assert strip_prefix(model.state_dict()).keys() == pure(model.model.cfg).state_dict().keys()
    torch.save(model, tmp_path / "model.pt")
    again = torch.load(tmp_path / "model.pt", weights_only=False).eval()
    x = pixels()
    with torch.no_grad():
        assert torch.equal(again(pixel_values=x).logits, model(pixel_values=x).logits)


# 9. training -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_training_steps_lower_the_loss(kind):
    model = make_classifier(kind).train()
    x, labels = pixels(batch=4), torch.tensor([0, 1, 2, 1])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)  # 1e-3 overshoots the perturbed tiny Swin V2
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = model(pixel_values=x, labels=labels).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = model.eval()(pixel_values=x, labels=labels).loss.item()
    assert final < losses[0]


# 10. config.json ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, fields",
    [
        ("swin", dict(SWIN_ARCH)),
        ("swinv2", dict(SWIN_ARCH)),
        ("vit", dict(VIT_ARCH)),
    ],
)
def test_config_json_has_model_type_architectures_and_arch_fields(kind, fields, tmp_path):
    model = make_classifier(kind)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == model.config.model_type
    assert saved["architectures"] == [type(model).__name__]
    for name, value in fields.items():
        expected = [value, value] if name == "img_size" else value
        assert saved[name] in (value, expected), name
    assert saved["num_classes"] == NUM_LABELS  # timm's field; transformers reads id2label
    assert "num_classes" not in saved["model_args"]  # timm passes num_classes itself
    assert len(saved["id2label"]) == NUM_LABELS


def test_is_activation_checkpointing_reports_the_switch():
    model = ScratchSwinForImageClassification(ScratchSwinConfig(**SWIN_ARCH, num_labels=3))
    assert not model.is_activation_checkpointing
    model.activation_checkpointing_enable()
    assert model.is_activation_checkpointing
    model.activation_checkpointing_disable()
    assert not model.is_activation_checkpointing
    assert not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


@pytest.mark.parametrize("kind", KINDS)
def test_saved_weights_load_into_timm_through_pretrained_cfg_overlay(kind, tmp_path):
    """The safetensors file save_pretrained writes is one that timm can load too."""
    config_cls, model_cls, name = CONFIGS[kind], CLASSIFIERS[kind], TIMM_NAMES[kind]
    arch = VIT_ARCH if kind == "vit" else SWIN_ARCH
    hf_model = perturb_(model_cls(config_cls(**arch, num_labels=3)), seed=5).eval()
    hf_model.save_pretrained(tmp_path)
    timm_model = timm.create_model(
        name, **arch, num_classes=3, pretrained=True,
        pretrained_cfg_overlay=dict(file=str(tmp_path / "model.safetensors")),
    ).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(timm_model(x), hf_model(x).logits)


# 11. from_pretrained(None, config=..., state_dict=...) -------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_from_pretrained_none_loads_an_in_memory_state_dict(kind):
    model = make_classifier(kind)
    x = pixels()
    for state_dict in (model.state_dict(), strip_prefix(model.state_dict())):  # ours, or the pure / timm model's
        loaded = type(model).from_pretrained(None, config=model.config, state_dict=state_dict).eval()
        with torch.no_grad():
            assert torch.equal(loaded(pixel_values=x).logits, model(pixel_values=x).logits)


@pytest.mark.parametrize("kind", KINDS)
def test_from_pretrained_none_is_strict_about_weights_that_do_not_fit(kind):
    model = make_classifier(kind)
    cls, config, state_dict = type(model), model.config, model.state_dict()
    incomplete = {k: v for k, v in state_dict.items() if "norm" not in k}
    with pytest.raises(ValueError, match=r"do not fit .*missing \['model\."):
        cls.from_pretrained(None, config=config, state_dict=incomplete)
    with pytest.raises(RuntimeError, match=r"model.head.weight: \(5, \d+\) in state_dict vs \(3, \d+\)"):
        other_head = {k: v for k, v in state_dict.items() if not k.startswith("model.head.")}
        cls.from_pretrained(None, config=config, state_dict={**other_head, **make_classifier(kind, num_labels=5).state_dict()})
    with pytest.raises(ValueError, match="needs config= and state_dict="):
        cls.from_pretrained(None, config=config)


# 12. hidden states are the forward's own tensors ------------------------------------------------


def _backward_with_retained(model, output_hidden_states=True, output_attentions=False):
    out = model(pixel_values=pixels(), output_hidden_states=output_hidden_states, output_attentions=output_attentions)
    kept = [t for name in ("hidden_states", "reshaped_hidden_states", "attentions") for t in (out.get(name) or ())]
    for t in kept:
        t.retain_grad()
    out.logits.sum().backward()
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_hidden_states_receive_gradients_through_retain_grad(kind):
    out = _backward_with_retained(make_classifier(kind).train())
    for i, h in enumerate(out.hidden_states):
        assert h.grad is not None and h.grad.abs().sum() > 0, i


def test_swin_reshaped_hidden_states_are_the_hidden_states_as_maps():
    out = _backward_with_retained(make_classifier("swin").train())
    assert len(out.reshaped_hidden_states) == len(out.hidden_states) == 1 + len(SWIN_ARCH["depths"])
    for i, (tokens, fmap) in enumerate(zip(out.hidden_states, out.reshaped_hidden_states)):
        B, C, H, W = fmap.shape
        assert torch.equal(fmap, tokens.transpose(1, 2).reshape(B, C, H, W)), i
        assert fmap.grad is not None and fmap.grad.abs().sum() > 0, i


def test_swin_attentions_receive_gradients_through_retain_grad():
    out = _backward_with_retained(make_classifier("swin").train(), output_hidden_states=False, output_attentions=True)
    for i, a in enumerate(out.attentions):
        assert a.grad is not None and a.grad.abs().sum() > 0, i


def test_vit_attentions_receive_gradients_through_retain_grad():
    out = _backward_with_retained(make_classifier("vit").train(), output_hidden_states=False, output_attentions=True)
    for i, a in enumerate(out.attentions):
        assert a.grad is not None and a.grad.abs().sum() > 0, i


# 13. input embeddings (PEFT) --------------------------------------------------------------------


class LoRALinear(nn.Module):
    """base(x) + x A^T B^T with B = 0 at the start: a LoRA adapter, as PEFT adds to a frozen model."""

    def __init__(self, base: nn.Linear, rank: int = 2):
        super().__init__()
        self.base = base
        self.a = nn.Parameter(0.1 * torch.randn(rank, base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x):
        return self.base(x) + x @ self.a.T @ self.b.T


@pytest.mark.parametrize("kind", KINDS)
def test_get_input_embeddings_is_the_patch_embedding(kind):
    model = make_classifier(kind)
    assert model.get_input_embeddings() is model.model.patch_embed


@pytest.mark.parametrize("kind", KINDS)
def test_frozen_model_trains_lora_adapters_under_reentrant_checkpointing(kind):
    """PEFT's recipe: frozen weights, adapters, enable_input_require_grads, checkpointing."""
    model = make_classifier(kind).train().requires_grad_(False)
    blocks = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    for block in blocks:
        block.attn.qkv = LoRALinear(block.attn.qkv)
    model.enable_input_require_grads()
    model.activation_checkpointing_enable({"use_reentrant": True})
    model(pixel_values=pixels(), labels=torch.tensor([0, 1])).loss.backward()
    for i, block in enumerate(blocks):
        assert block.attn.qkv.b.grad is not None and block.attn.qkv.b.grad.abs().sum() > 0, i
    assert all(p.grad is None for n, p in model.named_parameters() if not n.endswith((".a", ".b")))


# 14. transformers' config names -----------------------------------------------------------------


def test_swin_config_answers_to_transformers_names():
    cfg = make_config("swin")
    assert cfg.hidden_size == SWIN_ARCH["embed_dim"] * 2 ** (len(SWIN_ARCH["depths"]) - 1)  # last stage, as SwinConfig
    assert cfg.num_hidden_layers == len(SWIN_ARCH["depths"])  # stages, as SwinConfig
    assert cfg.num_attention_heads == SWIN_ARCH["num_heads"]
    assert (cfg.image_size, cfg.num_channels, cfg.patch_size) == (64, 3, 4)


def test_vit_config_answers_to_transformers_names():
    cfg = make_config("vit")
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (64, 2, 2)
    assert (cfg.image_size, cfg.num_channels, cfg.patch_size) == (64, 3, 16)


def test_transformers_names_set_the_timm_fields():
    cfg = ScratchViTConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, image_size=48, num_channels=1)
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.img_size, cfg.in_chans) == (32, 3, 4, 48, 1)
    cfg.hidden_size = 64
    assert cfg.embed_dim == 64 and cfg.to_model_config().embed_dim == 64
    swin = ScratchSwinConfig(**SWIN_ARCH, num_channels=1, hidden_size=256)
    assert swin.in_chans == 1
    with pytest.raises(ValueError, match="hidden_size=100 does not match"):
        ScratchSwinConfig(**SWIN_ARCH, hidden_size=100)
    with pytest.raises(ValueError, match="disagree"):
        ScratchViTConfig(hidden_size=32, embed_dim=64)


@pytest.mark.parametrize("kind", KINDS)
def test_config_json_keeps_timm_fields_only_and_round_trips_transformers_names(kind, tmp_path):
    model = make_classifier(kind)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    names = ("hidden_size", "num_hidden_layers", "num_attention_heads", "image_size", "num_channels")
    assert not set(names) & set(saved) and not set(names) & set(saved["model_args"])
    again = AutoConfig.from_pretrained(tmp_path)
    assert {n: getattr(again, n) for n in names} == {n: getattr(model.config, n) for n in names}
    assert again.model_args() == model.config.model_args()


# 15. attention implementation -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_set_attn_implementation_reaches_the_attention_modules(kind):
    model = make_classifier(kind)
    x = pixels()
    with torch.no_grad():
        before = model(pixel_values=x).logits
        for impl in ("eager", "sdpa"):
            model.set_attn_implementation(impl)
            assert model.config._attn_implementation == impl and model.model.cfg.attn_impl == impl
            assert {m.attn_impl for m in model.modules() if hasattr(m, "attn_impl")} == {impl}
            torch.testing.assert_close(model(pixel_values=x).logits, before, rtol=1e-5, atol=1e-5)
