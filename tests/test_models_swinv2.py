"""Specification of swin_hub's Swin V2: official, timm and transformers parity, the window change
rule, input sizes, training, and the weight-free geometry.

References are the official Microsoft fixture (tests/fixtures/swinv2_official_tiny.*), timm's
`timm.models.swin_transformer_v2` and transformers' `Swinv2ForImageClassification`, all with every
parameter perturbed (p += 0.1 * N(0, 1)): the official init zeroes the res-post-norms and the
q / v biases, which would hide a wrong mapping of those tensors.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import timm
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file
from timm.models._features import FeatureGetterNet
from timm.models import swin_transformer_v2 as timm_v2

from helpers import V2_FIXTURES, perturb_
from swin_hub.convert import swinv2 as convert
from swin_hub.models import fast
from swin_hub.models.swinv2 import SwinTransformerV2, SwinV2Config, relative_coords_table

TOL = 1e-4
# small enough for CPU, still four stages with regular and shifted blocks
SMALL = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), num_classes=10, drop_path_rate=0.0)
# training config: 128 px, window 8 -> stages 32, 16, 8 (one window, no shift), 4 (shrunk window)
TRAIN = dict(img_size=128, embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), num_classes=5, drop_path_rate=0.0)


# --- helpers ----------------------------------------------------------------------------------
def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def images(seed: int, batch: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


def from_timm(timm_model: torch.nn.Module, **geometry) -> SwinTransformerV2:
    """Ours with a timm model's weights; `geometry`: window_size, img_size (timm keeps no buffers)."""
    sd = timm_model.state_dict()
    assert convert.detect_layout(sd).name == "timm"
    ours = SwinTransformerV2(convert.infer_config(sd, drop_path_rate=0.0, **geometry))
    ours.load_state_dict(convert.to_swin_hub(sd)[0], strict=True)
    return ours.eval()


def small_timm(img_size, window_size=8, seed=0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = timm_v2.SwinTransformerV2(img_size=img_size, window_size=window_size, **SMALL, **kwargs)
    return perturb_(model, seed).eval()


def small_model(seed=0, **overrides) -> SwinTransformerV2:
    torch.manual_seed(seed)
    model = SwinTransformerV2(SwinV2Config(**{**SMALL, "img_size": 128, **overrides}))
    return perturb_(model, seed).eval()  # perturbed: the official init makes every block the identity


def official_layout(timm_model: torch.nn.Module) -> dict:
    """A timm model's weights as an official release stores them: merging at the end of stages,
    `head.weight`, and the coordinate / index / mask buffers timm keeps as non-persistent."""
    sd = dict(timm_model.state_dict())
    for name, buf in timm_model.named_buffers():
        if buf is not None and name.rsplit(".", 1)[-1] in convert.BUFFERS:
            sd[name] = buf
    out = {}
    for k, v in sd.items():
        k = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m[1]) - 1}.downsample.", k)
        out[k.replace("head.fc.", "head.")] = v
    return {"model": out}


def loss_and_grads(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def train_model(seed=0, **overrides) -> SwinTransformerV2:
    torch.manual_seed(seed)
    return perturb_(SwinTransformerV2(SwinV2Config(**{**TRAIN, **overrides})), seed).train()


def train_batch():
    gen = torch.Generator().manual_seed(7)
    return torch.randn(4, 3, 128, 128, generator=gen), torch.randint(0, TRAIN["num_classes"], (4,), generator=gen)


# --- 1. official Microsoft checkpoint ---------------------------------------------------------
@pytest.fixture(scope="module")
def official():
    ckpt = torch.load(V2_FIXTURES / "swinv2_official_tiny.pth", map_location="cpu", weights_only=True)
    return ckpt, load_file(V2_FIXTURES / "swinv2_official_tiny.safetensors")


def test_official_checkpoint_is_detected_as_official_layout(official):
    assert convert.detect_layout(official[0]).name == "official"
    assert convert.is_official(official[0]) and not convert.is_timm(official[0])


@pytest.mark.parametrize("attn_impl", ["eager", "sdpa", "auto"])
def test_official_checkpoint_reproduces_official_logits(official, attn_impl):
    sd, _ = convert.to_swin_hub(official[0])
    model = SwinTransformerV2(convert.infer_config(official[0], attn_impl=attn_impl))
    model.load_state_dict(sd, strict=True)
    with torch.no_grad():
        logits = model.eval()(official[1]["pixel_values"])
    assert max_abs_diff(logits, official[1]["logits"]) <= TOL


def test_infer_config_reads_the_official_architecture_and_window_from_the_buffers(official):
    cfg = convert.infer_config(official[0])
    assert (cfg.embed_dim, cfg.depths, cfg.num_heads) == (24, (2, 2, 6, 2), (1, 2, 4, 8))
    assert (cfg.window_size, cfg.img_size, cfg.pretrained_window_sizes) == (8, (256, 256), (0, 0, 0, 0))
    assert (cfg.num_classes, cfg.patch_size, cfg.qkv_bias, cfg.ape) == (10, 4, True, False)


def test_coordinate_tables_equal_the_official_buffers(official):
    model = SwinTransformerV2(convert.infer_config(official[0]))
    sd = official[0]["model"]
    for name, module in model.named_modules():
        if name.endswith(".attn"):
            # block names agree in both layouts (only the merging moves)
            assert torch.equal(module.relative_coords_table, sd[f"{name}.relative_coords_table"].view(-1, 2))


def test_official_checkpoint_without_buffers_needs_the_window(official):
    bare = {k: v for k, v in official[0]["model"].items() if k.rsplit(".", 1)[-1] not in convert.BUFFERS}
    assert convert.detect_layout(bare).name == "official"
    with pytest.raises(ValueError, match=r"no window geometry.*window_size"):
        convert.infer_config(bare)
    model = SwinTransformerV2(convert.infer_config(bare, window_size=8, img_size=256))
    model.load_state_dict(convert.to_swin_hub(bare)[0], strict=True)
    with torch.no_grad():
        assert max_abs_diff(model.eval()(official[1]["pixel_values"]), official[1]["logits"]) <= TOL


# --- 2. timm parity at full size --------------------------------------------------------------
FULL_SIZE = [
    pytest.param(("swinv2_tiny_window8_256", dict(window_size=8, img_size=256), 2), id="tiny_w8_256"),
    pytest.param(
        ("swinv2_base_window12to16_192to256", dict(window_size=16, img_size=256, pretrained_window_sizes=(12, 12, 12, 6)), 1),
        id="base_w12to16_192to256",
    ),
]


@pytest.fixture(scope="module", params=FULL_SIZE)
def full_size(request):
    timm_name, geometry, batch = request.param
    torch.manual_seed(0)
    ref = perturb_(timm.create_model(timm_name, drop_path_rate=0.0), seed=1).eval()
    yield dict(ref=ref, ours=from_timm(ref, **geometry), batch=batch, geometry=geometry)


def test_full_size_logits_match_timm(full_size):
    x = images(10, full_size["batch"], 256, 256)
    with torch.no_grad():
        assert max_abs_diff(full_size["ours"](x), full_size["ref"](x)) <= TOL


def test_full_size_stage_maps_match_timm(full_size):
    x = images(12, 1, 256, 256)
    with torch.no_grad():
        ours = full_size["ours"].forward_intermediates(x, intermediates_only=True)
        ref = full_size["ref"].forward_intermediates(x, intermediates_only=True)
    assert [tuple(m.shape[-2:]) for m in ours] == [(64, 64), (32, 32), (16, 16), (8, 8)]
    for stage, (a, b) in enumerate(zip(ours, ref)):
        # residual streams grow large with perturbed weights: TOL or 1e-5 of the map's largest value
        assert max_abs_diff(a, b) <= max(TOL, 1e-5 * b.abs().max().item()), f"stage {stage}"


def test_features_only_through_timms_getter_matches_timms_features_only():
    """timm's `features_only` for these models is its FeatureGetterNet over forward_intermediates."""
    torch.manual_seed(0)
    ref = perturb_(timm.create_model("swinv2_tiny_window8_256", drop_path_rate=0.0), seed=4).eval()
    ours = FeatureGetterNet(from_timm(ref, window_size=8, img_size=256), out_indices=(0, 1, 2, 3)).eval()
    body = {k: v for k, v in ref.state_dict().items() if not k.startswith(("norm.", "head."))}
    ref_feat = timm.create_model("swinv2_tiny_window8_256", features_only=True, drop_path_rate=0.0).eval()
    ref_feat.load_state_dict({re.sub(r"^layers\.(\d+)\.", r"layers_\1.", k): v for k, v in body.items()})
    x = images(11, 1, 256, 256)
    with torch.no_grad():
        maps, ref_maps = ours(x), ref_feat(x)
    assert [m.shape[1] for m in maps] == [96, 192, 384, 768]
    for stage, (a, b) in enumerate(zip(maps, ref_maps)):
        b = b if b.shape == a.shape else b.permute(0, 3, 1, 2)  # timm's swinv2 features are NHWC
        assert max_abs_diff(a, b) <= max(TOL, 1e-5 * b.abs().max().item()), f"stage {stage}"


def test_official_layout_with_buffers_gives_the_pretrained_windows_back(full_size):
    """An official release keeps its coordinate tables: their shape is the window, their spacing
    the pretrained window (the 192to256 checkpoints were trained with 12, 12, 12, 6)."""
    official_sd = official_layout(full_size["ref"])
    assert convert.detect_layout(official_sd).name == "official"
    cfg = convert.infer_config(official_sd)
    expected = full_size["geometry"]
    assert cfg.window_size == expected["window_size"] and cfg.img_size == (256, 256)
    assert cfg.pretrained_window_sizes == expected.get("pretrained_window_sizes", (0, 0, 0, 0))


# --- 3. the window change rule ----------------------------------------------------------------
def test_changing_the_window_at_conversion_only_renormalises_the_coordinates():
    """192 px / w12 weights at 256 px / w16, the official fine-tuning rule: every stage keeps the
    spacing of the window it was trained with; the CPB MLP loads unchanged, with no resizing."""
    src = small_timm(192, window_size=12)
    cfg = convert.infer_config(src.state_dict(), window_size=12, img_size=192, drop_path_rate=0.0)
    cfg256 = convert.change_window(cfg, window_size=16, img_size=256)
    assert cfg256.pretrained_window_sizes == (12, 12, 12, 6)  # stage 4 of 192 px was a 6x6 window
    ours = SwinTransformerV2(cfg256)
    ours.load_state_dict(convert.to_swin_hub(src.state_dict())[0], strict=True)  # no resized tensor
    torch.manual_seed(0)
    ref = timm_v2.SwinTransformerV2(img_size=256, window_size=16, pretrained_window_sizes=(12, 12, 12, 6), **SMALL)
    ref.load_state_dict(src.state_dict())
    x = images(13, 2, 256, 256)
    with torch.no_grad():
        assert max_abs_diff(ours.eval()(x), ref.eval()(x)) <= TOL


def test_pretrained_window_is_read_back_from_a_coordinate_table():
    for window, pretrained in [((16, 16), (12, 12)), ((24, 24), (12, 12)), ((8, 8), (0, 0)), ((8, 8), (6, 6)), ((1, 1), (0, 0))]:
        table = relative_coords_table(window, pretrained).view(1, 2 * window[0] - 1, 2 * window[1] - 1, 2)
        assert convert.pretrained_window_of(table) == pretrained[0], (window, pretrained)


# --- 4. transformers, both directions ---------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_pair():
    """ours at swinv2_tiny_window8_256 with perturbed weights, and transformers' model from them."""
    torch.manual_seed(0)
    ours = perturb_(SwinTransformerV2(SwinV2Config(num_classes=10, drop_path_rate=0.0)), seed=2).eval()
    config = convert.transformers_config(ours.cfg)
    theirs = transformers.Swinv2ForImageClassification(config).eval()
    theirs.load_state_dict(convert.ours_to_transformers(ours.state_dict(), ours.cfg), strict=True)
    return ours, theirs


def test_ours_to_transformers_gives_the_same_logits(tiny_pair):
    ours, theirs = tiny_pair
    x = images(14, 2, 256, 256)
    with torch.no_grad():
        assert max_abs_diff(theirs(x).logits, ours(x)) <= TOL


def test_transformers_to_ours_gives_the_same_logits():
    """The other direction from transformers' own (perturbed) model and config."""
    config = transformers.Swinv2Config(
        image_size=256, window_size=8, embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
        num_labels=7, drop_path_rate=0.0,
    )
    torch.manual_seed(0)
    theirs = perturb_(transformers.Swinv2ForImageClassification(config), seed=3).eval()
    sd, layout = convert.to_swin_hub(theirs.state_dict())
    assert layout == "transformers"
    ours = SwinTransformerV2(convert.config_from_transformers(config))
    ours.load_state_dict(sd, strict=True)
    x = images(15, 2, 256, 256)
    with torch.no_grad():
        assert max_abs_diff(ours.eval()(x), theirs(x).logits) <= TOL


def test_transformers_round_trip_is_exact(tiny_pair):
    ours, theirs = tiny_pair
    back, _ = convert.to_swin_hub(theirs.state_dict())
    assert back.keys() == ours.state_dict().keys()
    assert all(torch.equal(back[k], v) for k, v in ours.state_dict().items())
    assert convert.config_from_transformers(theirs.config, drop_path_rate=0.0) == ours.cfg


def test_headless_model_exports_to_a_bare_swinv2model():
    ours = small_model(num_classes=0, img_size=256)
    theirs = transformers.Swinv2Model(convert.transformers_config(ours.cfg)).eval()
    theirs.load_state_dict(convert.ours_to_transformers(ours.state_dict(), ours.cfg), strict=True)
    x = images(16, 1, 256, 256)
    with torch.no_grad():
        assert max_abs_diff(theirs(x).pooler_output, ours(x)) <= TOL


def test_sizes_that_need_window_padding_match_transformers_built_at_that_size(tiny_pair):
    """320 px: stages 80, 40, 20, 10 with window 8; both pad the map before the cyclic shift. Built
    at 320 because transformers fixes each block's shift at its construction size (the 256 px
    model's 8x8 last stage has none); ours decides per input, as if built at that size."""
    ours, _ = tiny_pair
    theirs = transformers.Swinv2ForImageClassification(convert.transformers_config(replace(ours.cfg, img_size=320)))
    theirs.load_state_dict(convert.ours_to_transformers(ours.state_dict(), ours.cfg), strict=True)
    x = images(17, 1, 320, 320)
    with torch.no_grad():
        assert max_abs_diff(theirs.eval()(x).logits, ours(x)) <= TOL


def test_pretrained_windows_export_to_transformers():
    torch.manual_seed(0)
    ours = small_model(img_size=256, window_size=16, pretrained_window_sizes=(12, 12, 12, 6))
    theirs = transformers.Swinv2ForImageClassification(convert.transformers_config(ours.cfg)).eval()
    theirs.load_state_dict(convert.ours_to_transformers(ours.state_dict(), ours.cfg), strict=True)
    x = images(18, 1, 256, 256)
    with torch.no_grad():
        assert max_abs_diff(theirs(x).logits, ours(x)) <= TOL


# --- 5. other input sizes than the construction size ------------------------------------------
@pytest.mark.parametrize(
    "timm_img, ours_img, hw",
    [
        pytest.param((256, 512), (256, 512), (256, 512), id="wide_built_wide"),
        pytest.param((512, 256), 256, (512, 256), id="tall_run_on_square_model"),
        pytest.param((256, 512), 256, (256, 512), id="wide_run_on_square_model"),
        pytest.param(512, 256, (512, 512), id="512_run_on_256_model"),
        pytest.param(192, 192, (192, 192), id="192_built_192_last_stage_6x6"),
    ],
)
def test_non_square_and_larger_inputs_match_timm_built_at_that_size(timm_img, ours_img, hw):
    ref = small_timm(timm_img)
    ours = from_timm(ref, window_size=8, img_size=ours_img)
    x = images(20, 2, *hw)
    with torch.no_grad():
        assert max_abs_diff(ours(x), ref(x)) <= TOL
        maps = ours.forward_intermediates(x, intermediates_only=True)
        ref_maps = ref.forward_intermediates(x, intermediates_only=True)
    assert [m.shape[-2:] for m in maps] == [(hw[0] // r, hw[1] // r) for r in (4, 8, 16, 32)]
    for a, b in zip(maps, ref_maps):
        assert max_abs_diff(a, b) <= TOL


def test_a_smaller_input_reads_the_centre_of_the_construction_coordinates():
    """A 256 px / w8 model on 192 px: the last stage (6x6) is one 6x6 window whose offsets keep the
    bias they had in the 8x8 window, i.e. timm built at 192 with pretrained window 8."""
    ref = small_timm(192, pretrained_window_sizes=(8, 8, 8, 8))
    ours = from_timm(ref, window_size=8, img_size=256)
    x = images(21, 2, 192, 192)
    with torch.no_grad():
        assert max_abs_diff(ours(x), ref(x)) <= TOL


@pytest.mark.parametrize("hw", [(230, 197), (100, 300)], ids=lambda hw: f"{hw[0]}x{hw[1]}")
def test_non_divisible_inputs_give_finite_logits_and_independent_batch_elements(hw):
    model, x = small_model(), images(22, 3, *hw)
    with torch.no_grad():
        logits = model(x)
        assert torch.isfinite(logits).all()
        assert max_abs_diff(logits[1], model(x[1:2])[0]) <= 1e-5


# --- 6. fast paths, training ------------------------------------------------------------------
@pytest.mark.parametrize("attn_impl", ["auto", "sdpa"])
def test_fast_paths_equal_the_plain_reference_path(attn_impl):
    model, x = small_model(attn_impl=attn_impl, img_size=256), images(23, 3, 256, 256)
    with torch.no_grad():
        fast_out = model(x)
        with fast.forced(reference=True):
            plain = model(x)
        with fast.forced("cuda"):  # the GPU policy's choices, run on this CPU
            cuda_policy = model(x)
    assert max_abs_diff(fast_out, plain) <= 1e-5
    assert max_abs_diff(cuda_policy, plain) <= 1e-5


def test_train_mode_without_dropout_equals_eval_mode():
    model, (x, _) = train_model(), train_batch()
    with torch.no_grad():
        train_out = model.train()(x)
        eval_out = model.eval()(x)
    assert max_abs_diff(train_out, eval_out) <= 1e-5


def test_stochastic_depth_drops_only_in_training():
    model, (x, _) = train_model(drop_path_rate=0.5), train_batch()
    with torch.no_grad():
        a, b = model.train()(x), model(x)
        c, d = model.eval()(x), model(x)
    assert max_abs_diff(a, b) > 1e-3  # random per-sample drops
    assert torch.equal(c, d)
    rates = [blk.drop_path1.drop_prob for stage in model.layers for blk in stage.blocks]
    assert rates[0] == 0.0 and rates[-1] == 0.5 and rates == sorted(rates)


def test_gradients_reach_every_parameter():
    model, (x, y) = train_model(), train_batch()
    F.cross_entropy(model(x), y).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_grad_checkpointing_gives_identical_loss_and_gradients():
    model, (x, y) = train_model(), train_batch()
    loss, grads = loss_and_grads(model, x, y)
    model.set_grad_checkpointing(True)
    loss_ckpt, grads_ckpt = loss_and_grads(model, x, y)
    torch.testing.assert_close(loss_ckpt, loss, atol=1e-6, rtol=0)
    for name, g in grads.items():
        torch.testing.assert_close(grads_ckpt[name], g, atol=1e-6, rtol=0, msg=name)


def test_eager_and_sdpa_attention_give_the_same_gradients():
    x, y = train_batch()
    loss_e, grads_e = loss_and_grads(train_model(attn_impl="eager"), x, y)
    loss_s, grads_s = loss_and_grads(train_model(attn_impl="sdpa"), x, y)
    torch.testing.assert_close(loss_s, loss_e, atol=1e-5, rtol=0)
    for name, g in grads_e.items():
        torch.testing.assert_close(grads_s[name], g, atol=1e-4, rtol=1e-4, msg=name)


def test_adamw_steps_lower_the_loss_on_a_fixed_batch():
    model, (x, y) = train_model(), train_batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with torch.no_grad():
        before = F.cross_entropy(model(x), y).item()
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        assert F.cross_entropy(model(x), y).item() < before


def test_fresh_model_has_the_official_init():
    """Res-post-norms at zero (every block starts as the identity), logit scales log(10)."""
    torch.manual_seed(0)
    model = SwinTransformerV2(SwinV2Config(**TRAIN))
    block = model.layers[1].blocks[1]
    assert not block.norm1.weight.any() and not block.norm2.weight.any() and not block.norm2.bias.any()
    assert torch.allclose(block.attn.logit_scale, torch.full_like(block.attn.logit_scale, 2.302585))
    assert not block.attn.q_bias.any() and not block.attn.v_bias.any()
    x = torch.randn(1, 16, 16, 32)
    assert torch.equal(block(x), x)


def test_forward_intermediates_shapes_and_formats():
    model, x = small_model(img_size=256), images(24, 2, 256, 320)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        nhwc = model.forward_intermediates(x, indices=2, output_fmt="NHWC", intermediates_only=True)
        normed = model.forward_intermediates(x, indices=[-1], norm=True, intermediates_only=True)
        features = model.forward_features(x)
    assert [tuple(m.shape) for m in maps] == [(2, 32 * 2**i, 64 // 2**i, 80 // 2**i) for i in range(4)]
    assert [tuple(m.shape) for m in nhwc] == [(2, 16, 20, 128), (2, 8, 10, 256)]
    assert torch.equal(final, features) and torch.equal(normed[0].permute(0, 2, 3, 1), features)


# --- 7. outputs follow the weights, however they change -----------------------------------------
def edit_cpb_mlp_through_data(model):
    """p.data.add_ bypasses autograd's version counter."""
    gen = torch.Generator().manual_seed(4)
    for name, p in model.named_parameters():
        if ".cpb_mlp." in name:
            p.data.add_(torch.randn(p.shape, generator=gen))


def edit_logit_scales_in_place(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("logit_scale"):
                p.add_(0.5)


def fused_adamw_steps(model):
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, fused=True)
    x = images(25, 2, 128, 128)
    model.train()
    for _ in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    model.eval()


@pytest.mark.parametrize("change", [edit_cpb_mlp_through_data, edit_logit_scales_in_place, fused_adamw_steps])
def test_eval_outputs_follow_new_weights(change):
    """The position bias is the CPB MLP's output on every call: nothing weight-dependent is cached."""
    model, x = small_model(), images(26, 2, 128, 128)
    with torch.no_grad():
        stale = model(x)
    with torch.inference_mode():
        model(x)
    change(model)
    fresh = small_model(seed=1)
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        out, expected = model(x), fresh(x)
    assert max_abs_diff(stale, expected) > 1e-3  # the change matters
    assert max_abs_diff(out, expected) <= 1e-6


# --- 8. geometry buffers ----------------------------------------------------------------------
def test_geometry_buffers_are_not_saved_in_the_state_dict():
    model = small_model()
    buffers = {name for name, _ in model.named_buffers()}
    for kind in ("attn_mask", "relative_position_index", "relative_coords_table"):
        assert any(name.endswith(kind) for name in buffers), kind
    assert not set(model.state_dict()) & buffers


def test_model_built_on_the_meta_device_is_exact_after_timms_buffer_reinit():
    from timm.models._manipulate import reinit_non_persistent_buffers

    reference, x = small_model(), images(27, 2, 128, 128)
    with torch.device("meta"):
        model = SwinTransformerV2(SwinV2Config(**SMALL, img_size=128))
    model = model.to_empty(device="cpu").eval()
    model.load_state_dict(reference.state_dict())
    assert reinit_non_persistent_buffers(model)
    with torch.no_grad():
        assert max_abs_diff(model(x), reference(x)) == 0.0


def test_geometry_buffers_follow_to_dtype_and_other_sizes_are_made_on_use():
    model, x = small_model(), images(28, 2, 128, 128)
    with torch.no_grad():
        expected = model(x)
        model.double()
        attn = model.layers[0].blocks[1].attn
        assert attn.relative_coords_table.dtype == torch.float64
        assert max_abs_diff(model(x.double()).float(), expected) < 1e-5
        assert torch.isfinite(model(images(29, 1, 96, 160).double())).all()  # another size
    assert (96 // 4, 160 // 4, torch.device("cpu")) in model.layers[0].blocks[1]._other_sizes


# --- 9. errors --------------------------------------------------------------------------------
ERRORS = [
    pytest.param(
        lambda: SwinV2Config(pretrained_window_sizes=(12, 12, 12)), ValueError, r"pretrained_window_sizes.*per stage",
        id="pretrained_windows_length",
    ),
    pytest.param(
        lambda: SwinV2Config(embed_dim=30, num_heads=(4, 8, 16, 32)), ValueError, r"not divisible by num_heads",
        id="dim_not_divisible_by_heads",
    ),
    pytest.param(
        lambda: small_model()(torch.randn(1, 1, 64, 64)), ValueError, r"in_chans=3.*1 channels", id="one_channel_input",
    ),
    pytest.param(
        lambda: convert.transformers_config(SwinV2Config(ape=True)), ValueError, r"ape=True", id="export_ape",
    ),
    pytest.param(
        lambda: convert.transformers_config(SwinV2Config(img_size=(256, 64))), ValueError, r"stage 1 is 32x8",
        id="export_window_transformers_cannot_take",
    ),
    pytest.param(
        lambda: convert.to_swin_hub({"patch_embed.proj.weight": torch.zeros(1)}), ValueError, r"not a Swin V2",
        id="not_swinv2",
    ),
]


@pytest.mark.parametrize("make, error, message", ERRORS)
def test_invalid_use_raises_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()
