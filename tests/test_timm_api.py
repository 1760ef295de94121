"""Specification of the timm interface of the scratch_* models: what a timm user relies on.

Registry and pretrained cfgs, official hyper-parameters (parameter counts of timm's own
models), model kwargs, the classifier / features / intermediates API, feature extraction,
gradient checkpointing, eval transforms, torch.compile, and pretrained loading through
timm's `load_pretrained` (local files and the stubbed download sources of the tags).
Small architecture overrides keep everything that runs a forward pass fast on CPU.
"""

from __future__ import annotations

import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import load_file
from timm.data import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    IMAGENET_INCEPTION_MEAN,
    IMAGENET_INCEPTION_STD,
    create_transform,
    resolve_data_config,
)
from timm.models import _builder, get_pretrained_cfg
from torch import nn
from torchvision import transforms as T

import swin_hub  # noqa: F401  (registers the scratch_* models with timm)

from helpers import FIXTURES

TOL = 1e-4

# our name -> timm's own model with the same official hyper-parameters
TIMM_EQUIVALENT = {
    "scratch_swin_t": "swin_tiny_patch4_window7_224",
    "scratch_swin_s": "swin_small_patch4_window7_224",
    "scratch_swin_b": "swin_base_patch4_window7_224",
    "scratch_swin_l": "swin_large_patch4_window7_224",
    "scratch_swin_b_384": "swin_base_patch4_window12_384",
    "scratch_swin_l_384": "swin_large_patch4_window12_384",
    "scratch_vit_ti": "vit_tiny_patch16_224",
    "scratch_vit_s": "vit_small_patch16_224",
    "scratch_vit_b": "vit_base_patch16_224",
    "scratch_vit_l": "vit_large_patch16_224",
    "scratch_vit_b32": "vit_base_patch32_224",
    "scratch_vit_b_384": "vit_base_patch16_384",
}
# Swin V1 and ViT; Swin V2's names and tags have their own file (test_timm_swinv2_registry.py)
V2 = set(timm.list_models("scratch_swinv2_*"))
PRETRAINED = [t for t in timm.list_pretrained("scratch_*") if t.split(".")[0] not in V2]
# small architectures: 64 px input, four Swin stages with shifted (and padded) windows
SWIN = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), drop_path_rate=0.0)
VIT = dict(img_size=64, embed_dim=64, depth=2, num_heads=2)
# the official-format fixtures' architectures (swin_hub/data/README.md)
SWIN_FIXTURE = dict(embed_dim=24, depths=(2, 2, 6, 2), num_heads=(1, 2, 4, 8))
VIT_FIXTURE = dict(embed_dim=48, depth=2, num_heads=3, mlp_ratio=2.0)


# --- helpers ----------------------------------------------------------------------------------
def small(kind: str, **kwargs) -> nn.Module:
    """A small eval-mode scratch_swin_t ('swin') or scratch_vit_s ('vit'), seeded."""
    torch.manual_seed(0)
    name, arch = ("scratch_swin_t", SWIN) if kind == "swin" else ("scratch_vit_s", VIT)
    return timm.create_model(name, **{**arch, **kwargs}).eval()


def images(b: int = 2, h: int = 64, w: int = 64, c: int = 3) -> torch.Tensor:
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(1))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def saved_activations(model: nn.Module, x: torch.Tensor) -> int:
    """How many tensors autograd keeps for backward in one forward pass."""
    count = 0

    def pack(t):
        nonlocal count
        count += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return count


@pytest.fixture(scope="module")
def swin_fixture() -> dict:
    return load_file(FIXTURES / "swin_official_tiny.safetensors")


# --- registry and pretrained cfgs -------------------------------------------------------------
def test_list_models_has_all_twelve_architectures():
    assert set(timm.list_models("scratch_*")) - V2 == set(TIMM_EQUIVALENT)


def test_list_pretrained_has_release_tags():
    for tag in ("scratch_swin_t.ms_in1k", "scratch_swin_b_384.ms_in22k_ft_in1k", "scratch_vit_b.augreg_in21k_ft_in1k"):
        assert tag in PRETRAINED
    assert {t.split(".")[0] for t in PRETRAINED} == set(TIMM_EQUIVALENT)


@pytest.mark.parametrize("tag", PRETRAINED)
def test_pretrained_cfg_is_complete(tag):
    cfg = get_pretrained_cfg(tag).to_dict()
    assert len(cfg["mean"]) == len(cfg["std"]) == 3
    assert cfg["interpolation"] in ("bicubic", "bilinear")
    assert 0.5 < cfg["crop_pct"] <= 1.0
    assert cfg["input_size"][0] == 3 and cfg["input_size"][1] == cfg["input_size"][2] in (224, 384)
    assert cfg["license"]
    assert str(cfg.get("url") or "").startswith("https://") or cfg.get("hf_hub_id")
    with torch.device("meta"):
        model = timm.create_model(tag)
    assert isinstance(model.get_submodule(cfg["first_conv"]), nn.Conv2d)
    head = model.get_submodule(cfg["classifier"])
    assert head is model.get_classifier()
    assert isinstance(head, nn.Linear) and head.out_features == cfg["num_classes"]


@pytest.mark.parametrize("tag", [t for t in PRETRAINED if t.endswith(("ms_in22k", "augreg_in21k"))])
def test_in21k_tags_have_full_label_count(tag):
    expected = 21841 if tag.endswith("ms_in22k") else 21843
    assert get_pretrained_cfg(tag).num_classes == expected


@pytest.mark.parametrize("tag", PRETRAINED)
def test_pretrained_cfg_preprocessing_matches_timm_tag(tag):
    arch, name = tag.split(".")
    timm_tag = f"{TIMM_EQUIVALENT[arch]}.{name}"
    if timm_tag not in timm.list_pretrained(TIMM_EQUIVALENT[arch]):
        pytest.skip(f"timm has no {timm_tag}")
    ours, theirs = get_pretrained_cfg(tag), get_pretrained_cfg(timm_tag)
    for field in ("input_size", "mean", "std", "crop_pct", "crop_mode", "interpolation", "num_classes"):
        assert getattr(ours, field) == getattr(theirs, field), field


# --- official hyper-parameters ----------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TIMM_EQUIVALENT))
def test_param_count_equals_timm_model(name):
    with torch.device("meta"):
        ours, theirs = timm.create_model(name), timm.create_model(TIMM_EQUIVALENT[name])
    assert n_params(ours) == n_params(theirs)


# --- kwargs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_num_classes_kwarg_sets_logit_width(kind):
    assert small(kind, num_classes=7)(images()).shape == (2, 7)


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_in_chans_kwarg_accepts_single_channel_input(kind):
    model = small(kind, in_chans=1, num_classes=5)
    assert model.patch_embed.proj.in_channels == 1
    assert model(images(c=1)).shape == (2, 5)


def test_img_size_kwarg_sets_vit_position_grid():
    model = small("vit", img_size=96)
    assert model.pos_embed.shape == (1, 1 + 6 * 6, 64)
    assert model.forward_features(images(h=96, w=96)).shape == (2, 37, 64)


def test_img_size_kwarg_shapes_swin_like_timm():
    """Stages smaller than the window shrink it, and so the bias tables, as in timm."""
    ours = small("swin", img_size=64)
    theirs = timm.create_model(TIMM_EQUIVALENT["scratch_swin_t"], img_size=64, **SWIN)
    ours_shapes = sorted(tuple(p.shape) for p in ours.parameters())
    assert ours_shapes == sorted(tuple(p.shape) for p in theirs.parameters())
    assert ours.layers[3].blocks[0].attn.relative_position_bias_table.shape == (3 * 3, 8)


def test_window_size_kwarg_sets_bias_tables():
    with torch.device("meta"):
        model = timm.create_model("scratch_swin_t", window_size=4)
    tables = [m.relative_position_bias_table for m in model.modules() if hasattr(m, "relative_position_bias_table")]
    assert len(tables) == 12 and all(t.shape[0] == (2 * 4 - 1) ** 2 for t in tables)


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_drop_rate_kwarg_drops_head_input_in_training(kind):
    model = small(kind, drop_rate=0.5)
    x = images()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        model.train()
        assert not torch.allclose(model(x), model(x))


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_drop_path_rate_kwarg_rises_linearly_to_rate(kind):
    model = small(kind, drop_path_rate=0.3)
    rates = [m.drop_prob for n, m in model.named_modules() if n.endswith("drop_path1")]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.3)
    assert rates == sorted(rates) and len(set(rates)) == len(rates)


def test_global_pool_empty_keeps_swin_map_in_forward_head():
    model = small("swin", global_pool="", num_classes=5)
    feats = model.forward_features(images())
    assert model.forward_head(feats, pre_logits=True).shape == (2, 2, 2, 256)
    assert model(images()).shape == (2, 2, 2, 5)


@pytest.mark.parametrize("pool, shape", [("", (2, 17, 64)), ("avg", (2, 64)), ("token", (2, 64))])
def test_global_pool_kwarg_sets_vit_pooling(pool, shape):
    model = small("vit", global_pool=pool)
    feats = model.forward_features(images())
    pooled = model.forward_head(feats, pre_logits=True)
    assert pooled.shape == shape
    if pool == "token":
        torch.testing.assert_close(pooled, feats[:, 0])


def test_architecture_overrides_shape_swin():
    model = small("swin", embed_dim=48, depths=(1, 3, 1), num_heads=(2, 3, 6))
    assert [len(stage.blocks) for stage in model.layers] == [1, 3, 1]
    assert model.num_features == 192
    assert model.forward_features(images(h=64, w=96)).shape == (2, 4, 6, 192)


def test_architecture_overrides_shape_vit():
    model = small("vit", embed_dim=96, depth=3, num_heads=3)
    assert len(model.blocks) == 3 and model.num_features == 96
    assert model.forward_features(images()).shape == (2, 17, 96)


def test_dynamic_img_size_kwarg_accepts_other_vit_sizes():
    model = small("vit", dynamic_img_size=True)
    assert model.forward_features(images(h=96, w=32)).shape == (2, 1 + 6 * 2, 64)


# --- classifier API ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_reset_classifier_changes_output_width(kind):
    model = small(kind)
    model.reset_classifier(11)
    assert model(images()).shape == (2, 11)
    assert model.get_classifier().out_features == 11


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_reset_classifier_zero_returns_pre_logits(kind):
    model = small(kind)
    x = images()
    with torch.no_grad():
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
        model.reset_classifier(0)
        out = model(x)
    assert out.shape == (2, model.num_features)
    torch.testing.assert_close(out, pre, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_get_classifier_is_the_linear_head(kind):
    model = small(kind, num_classes=3)
    head = model.get_classifier()
    assert isinstance(head, nn.Linear) and head is model.head
    assert (head.in_features, head.out_features) == (model.num_features, 3)


# --- forward_features -------------------------------------------------------------------------
def test_forward_features_swin_is_nhwc_at_stride_32():
    assert small("swin").forward_features(images(h=64, w=96)).shape == (2, 2, 3, 256)


def test_forward_features_vit_is_class_token_then_patches():
    assert small("vit").forward_features(images()).shape == (2, 1 + 16, 64)


# --- features_only ----------------------------------------------------------------------------
def check_feature_maps(net: nn.Module, x: torch.Tensor, n: int) -> None:
    feats = net(x)
    assert len(feats) == n
    info = net.feature_info
    assert len(info.channels()) == n
    for f, c, r in zip(feats, info.channels(), info.reduction()):
        assert f.shape == (x.shape[0], c, x.shape[2] // r, x.shape[3] // r)


def test_features_only_swin_defaults_to_four_nchw_stages():
    torch.manual_seed(0)
    net = timm.create_model("scratch_swin_t", features_only=True, **SWIN).eval()
    assert net.feature_info.channels() == [32, 64, 128, 256]
    assert net.feature_info.reduction() == [4, 8, 16, 32]
    check_feature_maps(net, images(h=64, w=96), 4)


def test_features_only_swin_negative_out_indices():
    torch.manual_seed(0)
    net = timm.create_model("scratch_swin_t", features_only=True, out_indices=(-2, -1), **SWIN).eval()
    assert net.feature_info.channels() == [128, 256]
    check_feature_maps(net, images(), 2)


@pytest.mark.parametrize("out_indices", [(-1,), (0, 1), 2])
def test_features_only_vit_blocks(out_indices):
    torch.manual_seed(0)
    net = timm.create_model("scratch_vit_s", features_only=True, out_indices=out_indices, **VIT).eval()
    n = out_indices if isinstance(out_indices, int) else len(out_indices)
    assert net.feature_info.reduction() == [16] * n
    check_feature_maps(net, images(), n)


# --- forward_intermediates --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_forward_intermediates_final_equals_forward_features(kind):
    model = small(kind)
    x = images()
    with torch.no_grad():
        final, inter = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x))
        only = model.forward_intermediates(x, intermediates_only=True)
    assert len(inter) == (4 if kind == "swin" else 2)
    assert all(a.ndim == 4 and torch.equal(a, b) for a, b in zip(inter, only))


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_forward_intermediates_int_takes_last_n(kind):
    model = small(kind)
    x = images()
    with torch.no_grad():
        every = model.forward_intermediates(x, intermediates_only=True)
        last = model.forward_intermediates(x, indices=2, intermediates_only=True)
        picked = model.forward_intermediates(x, indices=[0, -1], intermediates_only=True)
    torch.testing.assert_close(last, every[-2:])
    torch.testing.assert_close(picked, [every[0], every[-1]])


def test_forward_intermediates_swin_stage_maps_are_nchw():
    model = small("swin")
    inter = model.forward_intermediates(images(h=64, w=96), intermediates_only=True)
    assert [tuple(t.shape) for t in inter] == [(2, 32, 16, 24), (2, 64, 8, 12), (2, 128, 4, 6), (2, 256, 2, 3)]


# --- gradient checkpointing -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_grad_checkpointing_keeps_outputs_and_grads(kind):
    model = small(kind).train()
    x = images()
    ref = model(x)
    ref_grads = torch.autograd.grad(ref.square().sum(), list(model.parameters()))
    model.set_grad_checkpointing(True)
    out = model(x)
    grads = torch.autograd.grad(out.square().sum(), list(model.parameters()))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(grads, ref_grads)


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_grad_checkpointing_saves_fewer_activations(kind):
    model = small(kind).train()
    x = images()
    plain = saved_activations(model, x)
    model.set_grad_checkpointing(True)
    assert saved_activations(model, x) < plain / 2
    model.set_grad_checkpointing(False)
    assert saved_activations(model, x) == plain


# --- eval transforms --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, resize, crop, mean, std",
    [
        ("scratch_swin_t", 248, 224, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
        ("scratch_vit_b", 248, 224, IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD),
        ("scratch_swin_b_384", 384, 384, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
    ],
)
def test_resolved_eval_transform(name, resize, crop, mean, std):
    with torch.device("meta"):
        model = timm.create_model(name)
    tf = create_transform(**resolve_data_config({}, model=model))
    (resize_tf,) = [t for t in tf.transforms if isinstance(t, T.Resize)]
    assert resize_tf.size in (resize, [resize]) and resize_tf.interpolation == T.InterpolationMode.BICUBIC
    rgb = (200, 100, 50)
    out = tf(Image.new("RGB", (2 * crop, crop + 40), rgb))
    assert out.shape == (3, crop, crop)
    expected = torch.tensor([(v / 255 - m) / s for v, m, s in zip(rgb, mean, std)])
    torch.testing.assert_close(out.mean(dim=(1, 2)), expected, atol=1e-3, rtol=0)


# --- torch.compile ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, train, grad",
    [("swin", False, True), ("swin", False, False), ("swin", True, True), ("vit", False, True), ("vit", False, False)],
)
def test_dynamo_traces_without_graph_breaks(kind, train, grad):
    """Under no_grad too: inference takes other branches (cached masks, batch chunks)."""
    model = small(kind).train(train)
    torch._dynamo.reset()
    with torch.set_grad_enabled(grad):
        explained = torch._dynamo.explain(model)(images())
    reasons = [str(r.reason) for r in explained.break_reasons]
    assert explained.graph_break_count == 0, reasons
    assert explained.graph_count == 1


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_compiled_output_equals_eager(kind):
    model = small(kind)
    x = images()
    torch._dynamo.reset()
    with torch.no_grad():
        eager = model(x)
        compiled = torch.compile(model, backend="aot_eager")(x)
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=0)


# --- pretrained loading through timm ----------------------------------------------------------
def test_pretrained_file_overlay_loads_official_swin_checkpoint(swin_fixture):
    model = timm.create_model(
        "scratch_swin_t",
        pretrained=True,
        pretrained_cfg_overlay=dict(file=str(FIXTURES / "swin_official_tiny.pth"), num_classes=10),
        **SWIN_FIXTURE,
    ).eval()
    with torch.no_grad():
        logits = model(swin_fixture["pixel_values"])
    torch.testing.assert_close(logits, swin_fixture["logits"], atol=TOL, rtol=0)


def test_pretrained_in_chans_1_sums_first_conv_over_rgb():
    path = FIXTURES / "swin_official_tiny.pth"
    model = timm.create_model(
        "scratch_swin_t",
        pretrained=True,
        pretrained_cfg_overlay=dict(file=str(path), num_classes=10),
        in_chans=1,
        **SWIN_FIXTURE,
    )
    rgb = torch.load(path, map_location="cpu", weights_only=True)["model"]["patch_embed.proj.weight"]
    torch.testing.assert_close(model.patch_embed.proj.weight.detach(), rgb.sum(dim=1, keepdim=True))


def test_pretrained_file_overlay_loads_google_vit_npz():
    """The ViT tags' urls are Google `.npz` releases: timm must be able to load that format."""
    fixture = load_file(FIXTURES / "vit_official_tiny.safetensors")
    model = timm.create_model(
        "scratch_vit_ti",
        pretrained=True,
        pretrained_cfg_overlay=dict(file=str(FIXTURES / "vit_official_tiny.npz"), num_classes=10),
        **VIT_FIXTURE,
    ).eval()
    with torch.no_grad():
        logits = model(fixture["pixel_values"])
    torch.testing.assert_close(logits, fixture["logits"], atol=TOL, rtol=0)


def test_release_tag_converts_the_official_pth_it_downloads(swin_fixture, monkeypatch):
    """A tag without a Hub copy loads its url, the official GitHub release `.pth` (the download
    is stubbed with the fixture's file in that layout), converting it on load (custom_load)."""
    tag = "scratch_swin_t.ms_in22k_ft_in1k"
    assert not timm.models.get_pretrained_cfg(tag).hf_hub_id
    monkeypatch.setattr(_builder, "download_cached_file", lambda *a, **k: str(FIXTURES / "swin_official_tiny.pth"))
    model = timm.create_model(tag, pretrained=True, pretrained_cfg_overlay=dict(num_classes=10), **SWIN_FIXTURE).eval()
    with torch.no_grad():
        logits = model(swin_fixture["pixel_values"])
    torch.testing.assert_close(logits, swin_fixture["logits"], atol=TOL, rtol=0)


def test_hub_tag_converts_the_transformers_layout_of_the_microsoft_repo(swin_fixture, monkeypatch):
    """A tag with a microsoft/ Hub copy: timm fetches that repo's transformers-layout weights
    (stubbed: the fixture exported to transformers' checkpoint names) and the filter converts them."""
    from swin_hub.convert.swin import infer_config, to_swin_hub
    from swin_hub.convert.transformers_layout import swin_hub_to_transformers_swin

    tag = "scratch_swin_t.ms_in1k"
    assert timm.models.get_pretrained_cfg(tag).hf_hub_id == "microsoft/swin-tiny-patch4-window7-224"
    sd, _ = to_swin_hub(torch.load(FIXTURES / "swin_official_tiny.pth", weights_only=True))
    hub_sd = swin_hub_to_transformers_swin(sd, infer_config(sd), checkpoint_names=True)
    assert "swin.encoder.layers.0.blocks.0.attention.self.query.weight" in hub_sd
    requested = []
    monkeypatch.setattr(_builder, "load_state_dict_from_hf", lambda repo, **k: requested.append(repo) or dict(hub_sd))
    model = timm.create_model(tag, pretrained=True, pretrained_cfg_overlay=dict(num_classes=10), **SWIN_FIXTURE).eval()
    assert requested == ["microsoft/swin-tiny-patch4-window7-224"]
    with torch.no_grad():
        logits = model(swin_fixture["pixel_values"])
    torch.testing.assert_close(logits, swin_fixture["logits"], atol=TOL, rtol=0)


def test_pretrained_vit_tag_loads_its_npz_url(monkeypatch):
    """A ViT tag's url serves a Google `.npz`; downloads are stubbed with the fixture's file.

    The plain url loader torch.loads what it downloads (as the real one does), so the npz
    has to reach the model through a loader that reads the npz format.
    """
    npz = FIXTURES / "vit_official_tiny.npz"
    fixture = load_file(FIXTURES / "vit_official_tiny.safetensors")
    monkeypatch.setattr(_builder, "download_cached_file", lambda *a, **k: str(npz))
    monkeypatch.setattr(_builder, "load_state_dict_from_url", lambda *a, **k: torch.load(npz, weights_only=True))
    model = timm.create_model(
        "scratch_vit_ti.augreg_in21k_ft_in1k",
        pretrained=True,
        pretrained_cfg_overlay=dict(num_classes=10),
        **VIT_FIXTURE,
    ).eval()
    with torch.no_grad():
        logits = model(fixture["pixel_values"])
    torch.testing.assert_close(logits, fixture["logits"], atol=TOL, rtol=0)
