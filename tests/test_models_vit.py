"""Specification of swin_hub's ViT: Google's npz oracle, npz layout variants, timm parity,
dynamic input sizes, training and error messages.

References are the official Google fixture (tests/fixtures) and timm's own
`timm.models.vision_transformer`, with every parameter perturbed so that identity
LayerNorms and zero biases cannot hide a wrong mapping.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from timm.models import vision_transformer as timm_vit

from helpers import FIXTURES, perturb_
import swin_hub  # noqa: F401  (registers scratch_vit_* with timm)
from swin_hub.convert.vit import checkpoint_filter_fn, infer_config, infer_config_npz, load_npz, npz_to_swin_hub
from swin_hub.models.vit import ViTConfig, VisionTransformer

TOL = 1e-4
# a small ViT for timm comparisons: exact GELU and eps 1e-6 are timm's defaults
SMALL = dict(img_size=224, patch_size=16, embed_dim=64, depth=2, num_heads=2, num_classes=10)
TRAIN = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


# --- helpers ----------------------------------------------------------------------------------
def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def images(seed: int, batch: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


def from_npz(npz: dict, **overrides) -> VisionTransformer:
    model = VisionTransformer(infer_config_npz(npz, **overrides))
    model.load_state_dict(npz_to_swin_hub(npz), strict=True)
    return model.eval()


def small_timm_and_ours(**kwargs):
    """A perturbed timm VisionTransformer and ours (exact GELU) holding its weights."""
    torch.manual_seed(0)
    ref = perturb_(timm_vit.VisionTransformer(**SMALL, **kwargs), seed=3).eval()
    ours = VisionTransformer(ViTConfig(**SMALL, act_layer="gelu", **kwargs))
    ours.load_state_dict(checkpoint_filter_fn(ref.state_dict(), ours), strict=True)
    return ref, ours.eval()


def loss_and_grads(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    return logits.detach(), loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def train_model(**overrides) -> VisionTransformer:
    torch.manual_seed(0)
    return perturb_(VisionTransformer(ViTConfig(**{**TRAIN, **overrides})), seed=5).train()


def train_batch():
    gen = torch.Generator().manual_seed(7)
    return torch.randn(4, 3, 32, 32, generator=gen), torch.randint(0, TRAIN["num_classes"], (4,), generator=gen)


# --- 1. official Google checkpoint ------------------------------------------------------------
@pytest.fixture(scope="module")
def official():
    return load_npz(FIXTURES / "vit_official_tiny.npz"), load_file(FIXTURES / "vit_official_tiny.safetensors")


def test_official_npz_reproduces_google_logits(official):
    npz, io = official
    with torch.no_grad():
        logits = from_npz(npz)(io["pixel_values"])
    assert max_abs_diff(logits, io["logits"]) <= TOL


def test_exact_gelu_misses_google_logits_so_the_activation_is_a_config_field(official):
    npz, io = official
    with torch.no_grad():
        logits = from_npz(npz, act_layer="gelu")(io["pixel_values"])
    assert max_abs_diff(logits, io["logits"]) > TOL


def test_infer_config_npz_reads_the_official_architecture(official):
    cfg = infer_config_npz(official[0])
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.mlp_ratio) == (48, 2, 3, 2.0)
    assert (cfg.patch_size, cfg.img_size, cfg.num_classes) == (16, (224, 224), 10)
    assert (cfg.class_token, cfg.global_pool, cfg.fc_norm, cfg.representation_size) == (True, "token", False, None)
    assert (cfg.act_layer, cfg.norm_eps) == ("gelu_tanh", 1e-6)


# --- 2. npz layout variants -------------------------------------------------------------------
def test_npz_representation_layer_is_tanh_of_a_linear_before_the_head(official):
    npz, io = dict(official[0]), official[1]
    rep, rng = 24, np.random.default_rng(0)
    npz["pre_logits/kernel"] = rng.standard_normal((48, rep), dtype=np.float32) * 0.2
    npz["pre_logits/bias"] = rng.standard_normal(rep, dtype=np.float32) * 0.2
    npz["head/kernel"] = rng.standard_normal((rep, 10), dtype=np.float32) * 0.2
    assert infer_config(npz_to_swin_hub(npz)).representation_size == rep
    assert infer_config_npz(npz).representation_size == rep
    model, x = from_npz(npz), io["pixel_values"]
    with torch.no_grad():
        feats = model.forward_features(x)
        w, b = torch.from_numpy(npz["pre_logits/kernel"]), torch.from_numpy(npz["pre_logits/bias"])
        expected = torch.tanh(feats[:, 0] @ w + b)  # token pooling, no fc_norm
        assert max_abs_diff(model.forward_head(feats, pre_logits=True), expected) <= 1e-5
        logits = expected @ torch.from_numpy(npz["head/kernel"]) + torch.from_numpy(npz["head/bias"])
        assert max_abs_diff(model(x), logits) <= 1e-5


def test_npz_gap_classifier_averages_the_normed_tokens(official):
    npz, io = dict(official[0]), official[1]
    del npz["cls"]
    pos = "Transformer/posembed_input/pos_embedding"
    npz[pos] = npz[pos][:, 1:]
    cfg = infer_config_npz(npz)
    assert (cfg.class_token, cfg.global_pool, cfg.fc_norm) == (False, "avg", False)
    model, x = from_npz(npz), io["pixel_values"]
    with torch.no_grad():
        (tokens,) = model.forward_intermediates(x, indices=[-1], output_fmt="NLC", intermediates_only=True)
        scale, bias = (torch.from_numpy(npz[f"Transformer/encoder_norm/{n}"]) for n in ("scale", "bias"))
        normed = F.layer_norm(tokens, (48,), scale, bias, eps=1e-6)
        assert max_abs_diff(model.forward_features(x), normed) <= 1e-5
        logits = normed.mean(dim=1) @ torch.from_numpy(npz["head/kernel"]) + torch.from_numpy(npz["head/bias"])
        assert max_abs_diff(model(x), logits) <= 1e-5


# --- 3. timm parity at full size --------------------------------------------------------------
FULL_SIZE = [
    pytest.param(("vit_base_patch16_224", "scratch_vit_b"), id="vit_b"),
    pytest.param(("vit_small_patch16_224", "scratch_vit_s"), id="vit_s"),
]
OUT_INDICES = (3, 7, 11)


@pytest.fixture(scope="module", params=FULL_SIZE)
def full_size(request):
    """Perturbed timm classifier + features_only net, and ours (both kinds) with the same weights."""
    timm_name, ours_name = request.param
    torch.manual_seed(0)
    ref = perturb_(timm.create_model(timm_name), seed=1).eval()
    ours = timm.create_model(ours_name, act_layer="gelu")
    ours.load_state_dict(checkpoint_filter_fn(ref.state_dict(), ours), strict=True)
    body = {k: v for k, v in ref.state_dict().items() if not k.startswith(("norm.", "fc_norm.", "head."))}
    ref_feat = timm.create_model(timm_name, features_only=True, out_indices=OUT_INDICES)
    ref_feat.model.load_state_dict(body, strict=True)
    ours_feat = timm.create_model(ours_name, features_only=True, out_indices=OUT_INDICES, act_layer="gelu")
    ours_feat.model.load_state_dict(checkpoint_filter_fn(body, ours_feat.model), strict=True)
    yield dict(ref=ref, ours=ours.eval(), ref_feat=ref_feat.eval(), ours_feat=ours_feat.eval())


def test_full_size_logits_match_timm(full_size):
    x = images(10, 2, 224, 224)
    with torch.no_grad():
        assert max_abs_diff(full_size["ours"](x), full_size["ref"](x)) <= TOL


def test_full_size_features_only_block_maps_match_timm(full_size):
    x = images(12, 2, 224, 224)
    with torch.no_grad():
        ours, ref = full_size["ours_feat"](x), full_size["ref_feat"](x)
    assert full_size["ours_feat"].feature_info.channels() == full_size["ref_feat"].feature_info.channels()
    assert full_size["ours_feat"].feature_info.reduction() == full_size["ref_feat"].feature_info.reduction()
    assert len(ours) == len(ref) == len(OUT_INDICES)
    for i, (a, b) in zip(OUT_INDICES, zip(ours, ref)):
        assert a.shape == (2, full_size["ref"].embed_dim, 14, 14)  # NCHW from both
        assert max_abs_diff(a, b) <= TOL, f"block {i}"


# --- 4. dynamic image size --------------------------------------------------------------------
@pytest.mark.parametrize("hw", [(160, 224), (320, 320)])
def test_dynamic_img_size_interpolates_pos_embed_like_timm(hw):
    ref, ours = small_timm_and_ours(dynamic_img_size=True)
    x = images(20, 2, *hw)
    with torch.no_grad():
        assert max_abs_diff(ours(x), ref(x)) <= TOL


def test_wrong_input_size_without_dynamic_img_size_raises():
    model = VisionTransformer(ViTConfig(**SMALL))
    with pytest.raises(ValueError, match="dynamic_img_size"):
        model(images(21, 1, 160, 224))


# --- 5. global average pooling ----------------------------------------------------------------
def test_global_pool_avg_with_fc_norm_matches_timm():
    ref, ours = small_timm_and_ours(global_pool="avg")
    assert ours.cfg.fc_norm is True
    x = images(22, 2, 224, 224)
    with torch.no_grad():
        assert max_abs_diff(ours(x), ref(x)) <= TOL


# --- 6. training ------------------------------------------------------------------------------
def test_adamw_steps_lower_the_loss():
    model, (x, y) = train_model(), train_batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_every_parameter_receives_a_gradient():
    _, _, grads = loss_and_grads(train_model(), *train_batch())
    missing = [n for n, g in grads.items() if not torch.isfinite(g).all() or g.abs().sum() == 0]
    assert not missing


def test_grad_checkpointing_gives_identical_loss_and_grads():
    model, batch = train_model(), train_batch()
    _, loss, grads = loss_and_grads(model, *batch)
    model.set_grad_checkpointing(True)
    _, loss_ckpt, grads_ckpt = loss_and_grads(model, *batch)
    assert max_abs_diff(loss, loss_ckpt) <= 1e-6
    for n in grads:
        assert max_abs_diff(grads[n], grads_ckpt[n]) <= 1e-6, n


def test_eager_and_sdpa_attention_give_the_same_logits_and_grads():
    eager, batch = train_model(attn_impl="eager"), train_batch()
    sdpa = VisionTransformer(ViTConfig(**TRAIN, attn_impl="sdpa")).train()
    sdpa.load_state_dict(eager.state_dict(), strict=True)
    logits_e, _, grads_e = loss_and_grads(eager, *batch)
    logits_s, _, grads_s = loss_and_grads(sdpa, *batch)
    assert max_abs_diff(logits_e, logits_s) <= 1e-5
    for n in grads_e:
        assert max_abs_diff(grads_e[n], grads_s[n]) <= 1e-5, n


# --- 7. errors --------------------------------------------------------------------------------
def test_wrong_number_of_channels_is_rejected():
    with pytest.raises(ValueError, match=r"in_chans=3 .* 1 channels"):
        VisionTransformer(ViTConfig(**TRAIN))(torch.randn(1, 1, 32, 32))


def test_3d_input_is_rejected():
    with pytest.raises(ValueError, match="4-D input"):
        VisionTransformer(ViTConfig(**TRAIN))(torch.randn(3, 32, 32))


def test_embed_dim_not_divisible_by_num_heads_is_rejected():
    with pytest.raises(ValueError, match="embed_dim=50 is not divisible by num_heads=3"):
        ViTConfig(embed_dim=50, num_heads=3)


def test_token_pool_without_class_token_is_rejected():
    with pytest.raises(ValueError, match="global_pool='token' needs class_token=True"):
        ViTConfig(global_pool="token", class_token=False)


def test_unknown_kwarg_through_timm_is_named():
    with pytest.raises(TypeError, match="'foo'"):
        timm.create_model("scratch_vit_s", foo=1)


def test_load_npz_on_a_non_npz_file_names_the_path(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"\x00not a zip archive\xff" * 10)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_npz(path)


def test_npz_to_swin_hub_without_embedding_kernel_is_rejected():
    with pytest.raises(ValueError, match="embedding/kernel"):
        npz_to_swin_hub({"head/kernel": np.zeros((48, 10), np.float32)})
