"""Specification of the transformers-native Swin / ViT layouts <-> swin_hub's (both directions).

References are transformers' own SwinForImageClassification / SwinModel / ViTForImageClassification
/ ViTModel with every parameter perturbed, so that identity LayerNorms, zero biases and zero
bias tables cannot hide a wrong mapping. Max abs diffs are recorded as junit properties.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import SwinConfig as HFSwinConfig
from transformers import SwinForImageClassification, SwinModel, ViTForImageClassification, ViTModel
from transformers import ViTConfig as HFViTConfig

from helpers import perturb_
from swin_hub.convert import swin as swin_convert
from swin_hub.convert import vit as vit_convert
from swin_hub.convert.transformers_layout import (
    is_transformers_swin,
    is_transformers_vit,
    swin_config_from_transformers,
    swin_hub_to_transformers_swin,
    swin_hub_to_transformers_vit,
    transformers_swin_config,
    transformers_swin_to_swin_hub,
    transformers_vit_config,
    transformers_vit_to_swin_hub,
    vit_config_from_transformers,
)
from swin_hub.models.swin import SwinConfig, SwinTransformer
from swin_hub.models.vit import ViTConfig, VisionTransformer

TOL = 1e-4

# transformers configs: full size at transformers' defaults, and small ones off every default
HF_SWIN_T = dict(num_labels=1000)  # embed 96, depths 2,2,6,2, heads 3,6,12,24, window 7, 224
HF_SWIN_SMALL = dict(
    image_size=192, embed_dim=24, depths=[2, 2, 2, 2], num_heads=[2, 4, 8, 16], window_size=6,
    use_absolute_embeddings=True, qkv_bias=False, mlp_ratio=2.0, hidden_act="gelu_pytorch_tanh", num_labels=7,
)  # stages 48, 24, 12, 6: shifted windows in 0..2, one window in the last
HF_VIT_B = dict(num_labels=1000)  # ViT-B/16 at 224, exact GELU, layer_norm_eps 1e-12
HF_VIT_SMALL = dict(
    image_size=[48, 64], patch_size=8, hidden_size=48, num_hidden_layers=3, num_attention_heads=3,
    intermediate_size=96, qkv_bias=False, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6, num_labels=5,
)
# swin_hub configs for the export direction
SWIN_SMALL = dict(
    img_size=192, embed_dim=24, depths=(2, 2, 2, 2), num_heads=(2, 4, 8, 16), window_size=6, ape=True,
    num_classes=7, drop_path_rate=0.0,
)
VIT_SMALL = dict(img_size=(48, 64), patch_size=8, embed_dim=48, depth=3, num_heads=3, mlp_ratio=2.0, num_classes=5)


# --- helpers ----------------------------------------------------------------------------------
def perturbed(cls, config, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return perturb_(cls(config, **kwargs), seed).eval()


def load(model: torch.nn.Module, sd: dict) -> torch.nn.Module:
    model.load_state_dict(sd, strict=True)
    return model.eval()


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def images(seed: int, batch: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


def assert_same_tensors(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def save_for_from_pretrained(tmp_path, sd: dict, config) -> None:
    """What a Hub repo holds: config.json and model.safetensors."""
    config.save_pretrained(tmp_path)
    save_file(sd, str(tmp_path / "model.safetensors"))


def loaded_cleanly(cls, path):
    model, info = cls.from_pretrained(path, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    return model.eval()


# --- 1. transformers -> swin_hub: Swin --------------------------------------------------------
@pytest.mark.parametrize("hf_kwargs", [HF_SWIN_T, HF_SWIN_SMALL], ids=["swin_t_224", "small_ape_window6_192"])
def test_transformers_swin_classifier_gives_the_same_logits(hf_kwargs, record_property):
    hf = perturbed(SwinForImageClassification, HFSwinConfig(**hf_kwargs))
    sd = transformers_swin_to_swin_hub(hf.state_dict())
    cfg = swin_config_from_transformers(hf.config)
    # the config read off the shapes is the same as the one read off transformers' config
    assert swin_convert.infer_config(sd, act_layer=cfg.act_layer) == cfg
    ours = load(SwinTransformer(cfg), sd)
    size = cfg.img_size[0]
    x = images(1, 1 if size == 224 else 2, size, size)
    with torch.no_grad():
        diff = max_abs_diff(ours(x), hf(x).logits)
    record_property("max_abs_diff", diff)
    assert diff <= TOL


def test_transformers_swin_checkpoint_names_convert_like_module_names(tmp_path):
    hf = perturbed(SwinForImageClassification, HFSwinConfig(**HF_SWIN_SMALL))
    hf.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert "swin.encoder.layers.0.blocks.0.attention.self.query.weight" in saved  # the checkpoint naming
    assert is_transformers_swin(saved)
    assert_same_tensors(transformers_swin_to_swin_hub(saved), transformers_swin_to_swin_hub(hf.state_dict()))


def test_bare_swin_model_gives_the_same_pooled_and_token_features(record_property):
    hf = perturbed(SwinModel, HFSwinConfig(**HF_SWIN_SMALL))
    sd = transformers_swin_to_swin_hub(hf.state_dict())
    assert not any(k.startswith("head.") for k in sd)
    ours = load(SwinTransformer(swin_config_from_transformers(hf.config, num_classes=0)), sd)
    x = images(2, 2, 192, 192)
    with torch.no_grad():
        ref = hf(x)
        feats = ours.forward_features(x)  # (B, H, W, C)
        pooled_diff = max_abs_diff(ours.forward_head(feats, pre_logits=True), ref.pooler_output)
        token_diff = max_abs_diff(feats.flatten(1, 2), ref.last_hidden_state)
    record_property("max_abs_diff", max(pooled_diff, token_diff))
    assert pooled_diff <= TOL and token_diff <= TOL


# --- 2. transformers -> swin_hub: ViT ---------------------------------------------------------
@pytest.mark.parametrize("hf_kwargs", [HF_VIT_B, HF_VIT_SMALL], ids=["vit_b16_224", "small_48x64_tanh_gelu"])
def test_transformers_vit_classifier_gives_the_same_logits(hf_kwargs, record_property):
    hf = perturbed(ViTForImageClassification, HFViTConfig(**hf_kwargs))
    sd = transformers_vit_to_swin_hub(hf.state_dict())
    cfg = vit_config_from_transformers(hf.config)
    assert (cfg.act_layer, cfg.norm_eps) == (("gelu", 1e-12) if hf_kwargs is HF_VIT_B else ("gelu_tanh", 1e-6))
    if hf_kwargs is HF_VIT_B:  # square, head_dim 64: the shapes say it all
        assert vit_convert.infer_config(sd, act_layer="gelu", norm_eps=1e-12) == cfg
    ours = load(VisionTransformer(cfg), sd)
    x = images(3, 1 if hf_kwargs is HF_VIT_B else 2, *cfg.img_size)
    with torch.no_grad():
        diff = max_abs_diff(ours(x), hf(x).logits)
    record_property("max_abs_diff", diff)
    assert diff <= TOL


def test_transformers_vit_checkpoint_names_convert_like_module_names(tmp_path):
    hf = perturbed(ViTForImageClassification, HFViTConfig(**HF_VIT_SMALL))
    hf.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert "vit.encoder.layer.0.attention.attention.query.weight" in saved  # the checkpoint naming
    assert is_transformers_vit(saved)
    assert_same_tensors(transformers_vit_to_swin_hub(saved), transformers_vit_to_swin_hub(hf.state_dict()))


def test_bare_vit_model_pooler_is_the_tanh_representation_layer(record_property):
    hf = perturbed(ViTModel, HFViTConfig(**HF_VIT_SMALL))
    sd = transformers_vit_to_swin_hub(hf.state_dict())
    cfg = vit_config_from_transformers(hf.config, pooler=True, num_classes=0)
    assert vit_convert.infer_config(sd).representation_size == cfg.representation_size == 48
    ours = load(VisionTransformer(cfg), sd)
    x = images(4, 2, 48, 64)
    with torch.no_grad():
        ref = hf(x)
        feats = ours.forward_features(x)  # (B, 1 + N, C), after the final norm
        token_diff = max_abs_diff(feats, ref.last_hidden_state)
        pooled_diff = max_abs_diff(ours.forward_head(feats, pre_logits=True), ref.pooler_output)
    record_property("max_abs_diff", max(token_diff, pooled_diff))
    assert token_diff <= TOL and pooled_diff <= TOL


def test_bare_vit_model_pooler_can_be_dropped(record_property):
    hf = perturbed(ViTModel, HFViTConfig(**HF_VIT_SMALL))
    sd = transformers_vit_to_swin_hub(hf.state_dict(), pooler=False)
    assert not any(k.startswith("pre_logits.") for k in sd)
    ours = load(VisionTransformer(vit_config_from_transformers(hf.config, num_classes=0)), sd)
    x = images(5, 2, 48, 64)
    with torch.no_grad():
        diff = max_abs_diff(ours.forward_head(ours.forward_features(x), pre_logits=True), hf(x).last_hidden_state[:, 0])
    record_property("max_abs_diff", diff)
    assert diff <= TOL


# --- 3. swin_hub -> transformers (export) -----------------------------------------------------
@pytest.fixture(scope="module")
def swin_small():
    torch.manual_seed(0)
    cfg = SwinConfig(**SWIN_SMALL, act_layer="gelu_tanh")
    return perturb_(SwinTransformer(cfg), seed=6).eval()


@pytest.fixture(scope="module")
def vit_small():
    torch.manual_seed(0)
    return perturb_(VisionTransformer(ViTConfig(**VIT_SMALL)), seed=7).eval()


def test_swin_export_loads_strictly_and_gives_the_same_logits(swin_small, record_property):
    sd = swin_hub_to_transformers_swin(swin_small.state_dict(), swin_small.cfg)
    hf = load(SwinForImageClassification(transformers_swin_config(swin_small.cfg)), sd)
    x = images(6, 2, 192, 192)
    with torch.no_grad():
        diff = max_abs_diff(hf(x).logits, swin_small(x))
    record_property("max_abs_diff", diff)
    assert diff <= TOL


def test_swin_export_with_checkpoint_names_is_a_loadable_hub_folder(swin_small, tmp_path, record_property):
    sd = swin_hub_to_transformers_swin(swin_small.state_dict(), swin_small.cfg, checkpoint_names=True)
    assert "swin.encoder.layers.2.downsample.reduction.weight" in sd  # merging moved to the end of stage 2
    save_for_from_pretrained(tmp_path, sd, transformers_swin_config(swin_small.cfg))
    hf = loaded_cleanly(SwinForImageClassification, tmp_path)
    x = images(7, 2, 192, 192)
    with torch.no_grad():
        diff = max_abs_diff(hf(x).logits, swin_small(x))
    record_property("max_abs_diff", diff)
    assert diff <= TOL


def test_headless_swin_exports_as_a_bare_swin_model(record_property):
    torch.manual_seed(0)
    ours = perturb_(SwinTransformer(SwinConfig(**{**SWIN_SMALL, "num_classes": 0})), seed=8).eval()
    sd = swin_hub_to_transformers_swin(ours.state_dict(), ours.cfg)
    assert not any(k.startswith(("swin.", "classifier.")) for k in sd)
    hf = load(SwinModel(transformers_swin_config(ours.cfg)), sd)
    x = images(8, 2, 192, 192)
    with torch.no_grad():
        diff = max_abs_diff(hf(x).pooler_output, ours.forward_head(ours.forward_features(x), pre_logits=True))
    record_property("max_abs_diff", diff)
    assert diff <= TOL


@pytest.mark.parametrize("checkpoint_names", [False, True], ids=["module_names", "checkpoint_names"])
def test_swin_export_and_back_gives_identical_tensors(swin_small, checkpoint_names):
    sd = swin_small.state_dict()
    exported = swin_hub_to_transformers_swin(sd, swin_small.cfg, checkpoint_names=checkpoint_names)
    assert is_transformers_swin(exported)
    assert_same_tensors(transformers_swin_to_swin_hub(exported), sd)


def test_vit_export_loads_strictly_and_gives_the_same_logits(vit_small, record_property):
    sd = swin_hub_to_transformers_vit(vit_small.state_dict(), vit_small.cfg)
    hf = load(ViTForImageClassification(transformers_vit_config(vit_small.cfg)), sd)
    x = images(9, 2, 48, 64)
    with torch.no_grad():
        diff = max_abs_diff(hf(x).logits, vit_small(x))
    record_property("max_abs_diff", diff)
    assert diff <= TOL


def test_vit_export_with_checkpoint_names_is_a_loadable_hub_folder(vit_small, tmp_path, record_property):
    sd = swin_hub_to_transformers_vit(vit_small.state_dict(), vit_small.cfg, checkpoint_names=True)
    save_for_from_pretrained(tmp_path, sd, transformers_vit_config(vit_small.cfg))
    hf = loaded_cleanly(ViTForImageClassification, tmp_path)
    x = images(10, 2, 48, 64)
    with torch.no_grad():
        diff = max_abs_diff(hf(x).logits, vit_small(x))
    record_property("max_abs_diff", diff)
    assert diff <= TOL


def test_headless_vit_representation_layer_exports_as_the_pooler(record_property):
    torch.manual_seed(0)
    cfg = ViTConfig(**{**VIT_SMALL, "num_classes": 0, "representation_size": 32})
    ours = perturb_(VisionTransformer(cfg), seed=9).eval()
    sd = swin_hub_to_transformers_vit(ours.state_dict(), cfg)
    assert "pooler.dense.weight" in sd and not any(k.startswith(("vit.", "classifier.")) for k in sd)
    hf = load(ViTModel(transformers_vit_config(cfg)), sd)
    x = images(11, 2, 48, 64)
    with torch.no_grad():
        diff = max_abs_diff(hf(x).pooler_output, ours.forward_head(ours.forward_features(x), pre_logits=True))
    record_property("max_abs_diff", diff)
    assert diff <= TOL


@pytest.mark.parametrize("checkpoint_names", [False, True], ids=["module_names", "checkpoint_names"])
def test_vit_export_and_back_gives_identical_tensors(vit_small, checkpoint_names):
    sd = vit_small.state_dict()
    exported = swin_hub_to_transformers_vit(sd, vit_small.cfg, checkpoint_names=checkpoint_names)
    assert is_transformers_vit(exported)
    assert_same_tensors(transformers_vit_to_swin_hub(exported), sd)


# --- 4. configs -------------------------------------------------------------------------------
def test_swin_config_round_trips_through_transformers():
    cfg = SwinConfig(**SWIN_SMALL, act_layer="gelu_tanh", qkv_bias=False, proj_drop_rate=0.1, attn_drop_rate=0.2)
    hf = transformers_swin_config(cfg)
    assert (hf.hidden_act, hf.use_absolute_embeddings, hf.num_labels, hf.hidden_dropout_prob) == (
        "gelu_pytorch_tanh", True, 7, 0.1,
    )
    assert swin_config_from_transformers(hf) == cfg


def test_vit_config_round_trips_through_transformers():
    cfg = ViTConfig(**VIT_SMALL, proj_drop_rate=0.1, pos_drop_rate=0.1)
    hf = transformers_vit_config(cfg)
    # swin_hub's defaults (tanh GELU, eps 1e-6) are written, not transformers' (exact GELU, 1e-12)
    assert (hf.hidden_act, hf.layer_norm_eps, hf.intermediate_size, hf.image_size) == (
        "gelu_pytorch_tanh", 1e-6, 96, [48, 64],
    )
    assert vit_config_from_transformers(hf) == cfg


# --- 5. detection and errors ------------------------------------------------------------------
def test_layouts_are_told_apart_by_their_keys(swin_small, vit_small):
    hf_swin = SwinModel(HFSwinConfig(**HF_SWIN_SMALL)).state_dict()
    hf_vit = ViTForImageClassification(HFViTConfig(**HF_VIT_SMALL)).state_dict()
    assert is_transformers_swin(hf_swin) and not is_transformers_vit(hf_swin)
    assert is_transformers_vit(hf_vit) and not is_transformers_swin(hf_vit)
    for ours in (swin_small.state_dict(), vit_small.state_dict()):
        assert not is_transformers_swin(ours) and not is_transformers_vit(ours)


def test_a_non_transformers_state_dict_is_refused_naming_the_missing_key(swin_small, vit_small):
    with pytest.raises(ValueError, match=r"no 'embeddings\.patch_embeddings\.projection\.weight'"):
        transformers_swin_to_swin_hub(swin_small.state_dict())
    with pytest.raises(ValueError, match=r"no 'embeddings\.cls_token'"):
        transformers_vit_to_swin_hub(vit_small.state_dict())


def test_an_unknown_transformers_key_is_named():
    sd = dict(ViTForImageClassification(HFViTConfig(**HF_VIT_SMALL)).state_dict())
    sd["vit.embeddings.distillation_token"] = torch.zeros(1, 1, 48)
    with pytest.raises(ValueError, match=r"'embeddings\.distillation_token'"):
        transformers_vit_to_swin_hub(sd)


def test_a_missing_key_projection_is_named():
    sd = dict(SwinForImageClassification(HFSwinConfig(**HF_SWIN_SMALL)).state_dict())
    del sd["swin.encoder.layers.1.blocks.0.attention.k_proj.weight"]
    with pytest.raises(ValueError, match=r"layers\.1\.blocks\.0\.attn\.qkv\.weight.*no k part"):
        transformers_swin_to_swin_hub(sd)


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(qk_scale=0.1), "qk_scale"),
        (dict(patch_norm=False), "patch_norm"),
        (dict(norm_eps=1e-6), "norm_eps"),
        (dict(global_pool=""), "global_pool"),
        (dict(mlp_ratio=4.01), "mlp_ratio"),
        (dict(img_size=128, window_size=7), "window_size"),  # last stage 4x4: smaller than the window
    ],
)
def test_a_swin_config_transformers_cannot_express_is_refused_naming_the_field(swin_small, overrides, field):
    cfg = SwinConfig(**{**SWIN_SMALL, **overrides})
    with pytest.raises(ValueError, match=field):
        transformers_swin_config(cfg)
    with pytest.raises(ValueError, match=field):
        swin_hub_to_transformers_swin(swin_small.state_dict(), cfg)


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(class_token=False, global_pool="avg"), "class_token"),
        (dict(global_pool="avg"), "global_pool"),
        (dict(fc_norm=True), "fc_norm"),
        (dict(representation_size=32), "representation_size"),
    ],
)
def test_a_vit_config_transformers_cannot_express_is_refused_naming_the_field(vit_small, overrides, field):
    cfg = ViTConfig(**{**VIT_SMALL, **overrides})
    with pytest.raises(ValueError, match=field):
        transformers_vit_config(cfg)
    with pytest.raises(ValueError, match=field):
        swin_hub_to_transformers_vit(vit_small.state_dict(), cfg)


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: swin_config_from_transformers(HFSwinConfig(layer_norm_eps=1e-6)), "layer_norm_eps"),
        (lambda: swin_config_from_transformers(HFSwinConfig(hidden_act="quick_gelu")), "hidden_act"),
        (lambda: vit_config_from_transformers(HFViTConfig(pooler_act="relu"), pooler=True), "pooler_act"),
    ],
)
def test_a_transformers_config_swin_hub_cannot_express_is_refused_naming_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()
