"""Specification of swin_hub's Swin v1: official and timm parity, input sizes, training, errors.

References are the official Microsoft fixture (tests/fixtures) and timm's own
`timm.models.swin_transformer`, both with every parameter perturbed so that identity
LayerNorms and zero biases cannot hide a wrong mapping.
"""

from __future__ import annotations

import re

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from timm.models import swin_transformer as timm_swin

from helpers import FIXTURES, perturb_
import swin_hub  # noqa: F401  (registers scratch_swin_* with timm)
from swin_hub.convert.swin import infer_config, to_swin_hub
from swin_hub.models.swin import SwinConfig, SwinTransformer

TOL = 1e-4
# small enough for CPU, still four stages with regular and shifted blocks
SMALL = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), num_classes=10, drop_path_rate=0.0)
# training config: 112 px, window 7 -> stages 28, 14, 7 (one window, no shift), 4 (shrunk window)
TRAIN = dict(img_size=112, embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), num_classes=5, drop_path_rate=0.0)


# --- helpers ----------------------------------------------------------------------------------
def load_from_timm(ours: SwinTransformer, timm_model: torch.nn.Module) -> SwinTransformer:
    sd, fmt = to_swin_hub(timm_model.state_dict())
    assert fmt == "timm"
    ours.load_state_dict(sd, strict=True)
    return ours.eval()


def small_timm_and_ours(timm_img, ours_img=None, window_size=7, seed=0):
    """A perturbed timm SwinTransformer at timm_img and ours (built at ours_img) with its weights."""
    torch.manual_seed(seed)
    ref = perturb_(timm_swin.SwinTransformer(img_size=timm_img, window_size=window_size, **SMALL), seed).eval()
    ours = SwinTransformer(SwinConfig(img_size=ours_img or timm_img, window_size=window_size, **SMALL))
    return ref, load_from_timm(ours, ref)


def small_model(**overrides) -> SwinTransformer:
    torch.manual_seed(0)
    return SwinTransformer(SwinConfig(**{**SMALL, **overrides})).eval()


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def images(seed: int, batch: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(seed))


def hw_id(hw) -> str:
    return f"{hw[0]}x{hw[1]}"


def loss_and_grads(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def train_model(**overrides) -> SwinTransformer:
    torch.manual_seed(0)
    return SwinTransformer(SwinConfig(**{**TRAIN, **overrides})).train()


def train_batch():
    gen = torch.Generator().manual_seed(7)
    return torch.randn(4, 3, 112, 112, generator=gen), torch.randint(0, TRAIN["num_classes"], (4,), generator=gen)


# --- 1. official Microsoft checkpoint ---------------------------------------------------------
@pytest.fixture(scope="module")
def official():
    ckpt = torch.load(FIXTURES / "swin_official_tiny.pth", map_location="cpu", weights_only=True)
    return ckpt, load_file(FIXTURES / "swin_official_tiny.safetensors")


def test_official_checkpoint_is_detected_as_official_format(official):
    _, fmt = to_swin_hub(official[0])
    assert fmt == "official"


@pytest.mark.parametrize("attn_impl", ["eager", "sdpa", "auto"])
def test_official_checkpoint_reproduces_official_logits(official, attn_impl):
    sd, _ = to_swin_hub(official[0])
    model = SwinTransformer(infer_config(sd, attn_impl=attn_impl))
    model.load_state_dict(sd, strict=True)
    with torch.no_grad():
        logits = model.eval()(official[1]["pixel_values"])
    assert max_abs_diff(logits, official[1]["logits"]) <= TOL


def test_infer_config_reads_the_official_architecture(official):
    cfg = infer_config(to_swin_hub(official[0])[0])
    assert (cfg.embed_dim, cfg.depths, cfg.num_heads) == (24, (2, 2, 6, 2), (1, 2, 4, 8))
    assert (cfg.window_size, cfg.num_classes, cfg.img_size, cfg.patch_size) == (7, 10, (224, 224), 4)


# --- 2. timm parity at full size --------------------------------------------------------------
FULL_SIZE = [
    pytest.param(("swin_tiny_patch4_window7_224", "scratch_swin_t", 224, 2), id="swin_t_224"),
    pytest.param(("swin_base_patch4_window12_384", "scratch_swin_b_384", 384, 1), id="swin_b_384"),
]


@pytest.fixture(scope="module", params=FULL_SIZE)
def full_size(request):
    """Perturbed timm classifier + features_only net, and ours (both kinds) with the same weights."""
    timm_name, ours_name, size, batch = request.param
    torch.manual_seed(0)
    ref = perturb_(timm.create_model(timm_name, drop_path_rate=0.0), seed=1).eval()
    ours = load_from_timm(timm.create_model(ours_name, drop_path_rate=0.0), ref)
    body = {k: v for k, v in ref.state_dict().items() if not k.startswith(("norm.", "head."))}
    ref_feat = timm.create_model(timm_name, features_only=True, drop_path_rate=0.0)
    ref_feat.load_state_dict({re.sub(r"^layers\.(\d+)\.", r"layers_\1.", k): v for k, v in body.items()})
    ours_feat = timm.create_model(ours_name, features_only=True, drop_path_rate=0.0)
    ours_body = {k: v for k, v in ours.state_dict().items() if not k.startswith(("norm.", "head."))}
    ours_feat.model.load_state_dict(ours_body)  # the features net drops norm and head
    yield dict(ref=ref, ours=ours, ref_feat=ref_feat.eval(), ours_feat=ours_feat.eval(), size=size, batch=batch)


@pytest.mark.parametrize("input_seed", [10, 11])
def test_full_size_logits_match_timm(full_size, input_seed):
    x = images(input_seed, full_size["batch"], full_size["size"], full_size["size"])
    with torch.no_grad():
        assert max_abs_diff(full_size["ours"](x), full_size["ref"](x)) <= TOL


def test_full_size_features_only_stage_maps_match_timm(full_size):
    x = images(12, 1, full_size["size"], full_size["size"])
    with torch.no_grad():
        ours = full_size["ours_feat"](x)  # NCHW
        ref = [f.permute(0, 3, 1, 2) for f in full_size["ref_feat"](x)]  # timm swin features are NHWC
    assert len(ours) == len(ref) == 4
    for stage, (a, b) in enumerate(zip(ours, ref)):
        assert a.shape[-1] == full_size["size"] // (4 * 2**stage)
        # un-normalized residual streams reach |x| ~ 100 with perturbed weights; fp32 rounding
        # then gives ~2e-6 relative, so the bound is TOL or 1e-5 of the map's largest value
        assert max_abs_diff(a, b) <= max(TOL, 1e-5 * b.abs().max().item()), f"stage {stage}"


# --- 3. other input sizes than the construction size ------------------------------------------
@pytest.mark.parametrize(
    "timm_img, ours_img, hw",
    [
        pytest.param((224, 448), (224, 448), (224, 448), id="wide_built_wide"),
        pytest.param((448, 224), 224, (448, 224), id="tall_run_on_square_model"),
        pytest.param((224, 448), 224, (224, 448), id="wide_run_on_square_model"),
        pytest.param(448, 224, (448, 448), id="448_run_on_224_model"),
    ],
)
def test_non_square_and_larger_inputs_match_timm_built_at_that_size(timm_img, ours_img, hw):
    ref, ours = small_timm_and_ours(timm_img, ours_img)
    x = images(20, 2, *hw)
    with torch.no_grad():
        assert max_abs_diff(ours(x), ref(x)) <= TOL
        maps = ours.forward_intermediates(x, intermediates_only=True)
        ref_maps = ref.forward_intermediates(x, intermediates_only=True)
    assert [m.shape[-2:] for m in maps] == [(hw[0] // r, hw[1] // r) for r in (4, 8, 16, 32)]
    for a, b in zip(maps, ref_maps):
        assert max_abs_diff(a, b) <= TOL


# --- 4. sizes that need padding ---------------------------------------------------------------
@pytest.mark.parametrize("hw", [(230, 197), (100, 300), (225, 225)], ids=hw_id)
def test_non_divisible_inputs_give_finite_logits(hw):
    with torch.no_grad():
        logits = small_model()(images(30, 2, *hw))
    assert logits.shape == (2, SMALL["num_classes"])
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("hw", [(230, 197), (225, 225)], ids=hw_id)
def test_patch_padding_equals_explicit_zero_padding_right_and_bottom(hw):
    model, x = small_model(), images(31, 2, *hw)
    padded = F.pad(x, (0, -hw[1] % 4, 0, -hw[0] % 4))
    with torch.no_grad():
        assert torch.equal(model(x), model(padded))


@pytest.mark.parametrize("hw", [(230, 197), (224, 224)], ids=hw_id)
def test_batch_elements_are_independent(hw):
    model, x = small_model(), images(32, 3, *hw)
    with torch.no_grad():
        assert max_abs_diff(model(x)[1], model(x[1:2])[0]) <= 1e-5


def test_block_padding_happens_before_the_cyclic_shift_like_the_official_detection_backbone(monkeypatch):
    """At 160 px every stage needs window padding; timm pads after the shift, the official
    detection backbone (and swin_hub) pads the normed map first, so timm is patched to that order."""

    def pad_then_shift(self, x):
        B, H, W, C = x.shape
        x = F.pad(x, (0, 0, 0, -W % self.window_size[1], 0, -H % self.window_size[0]))
        Hp, Wp = x.shape[1:3]
        x = torch.roll(x, shifts=(-self.shift_size[0], -self.shift_size[1]), dims=(1, 2))
        windows = timm_swin.window_partition(x, self.window_size).view(-1, self.window_area, C)
        windows = self.attn(windows, mask=self.attn_mask).view(-1, *self.window_size, C)
        x = torch.roll(timm_swin.window_reverse(windows, self.window_size, Hp, Wp), self.shift_size, dims=(1, 2))
        return x[:, :H, :W].contiguous()

    monkeypatch.setattr(timm_swin.SwinTransformerBlock, "_attn", pad_then_shift)
    ref, ours = small_timm_and_ours(160)
    x = images(33, 2, 160, 160)
    with torch.no_grad():
        assert max_abs_diff(ours(x), ref(x)) <= TOL


# --- 5. a stage smaller than the window -------------------------------------------------------
@pytest.mark.parametrize(
    "img_size, window_size, last_window",
    [
        pytest.param(112, 7, (4, 4), id="112_w7_last_stage_4x4"),
        pytest.param(128, 8, (4, 4), id="128_w8_last_stage_4x4"),
        pytest.param((224, 112), 7, (7, 4), id="224x112_w7_last_stage_7x4"),
    ],
)
def test_window_shrinks_to_a_stage_smaller_than_it_like_timm(img_size, window_size, last_window):
    ref, ours = small_timm_and_ours(img_size, window_size=window_size)
    table = ours.layers[-1].blocks[0].attn.relative_position_bias_table
    assert table.shape[0] == (2 * last_window[0] - 1) * (2 * last_window[1] - 1)
    x = images(40, 2, *ours.cfg.img_size)
    with torch.no_grad():
        assert max_abs_diff(ours(x), ref(x)) <= TOL


# --- 6. training ------------------------------------------------------------------------------
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
        after = F.cross_entropy(model(x), y).item()
    assert after < before


def test_gradients_reach_every_parameter():
    model, (x, y) = train_model(), train_batch()
    F.cross_entropy(model(x), y).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    zero_grad = [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.abs().sum() > 0]
    assert not no_grad and not zero_grad, (no_grad, zero_grad)


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
        torch.testing.assert_close(grads_s[name], g, atol=1e-5, rtol=0, msg=name)


# --- 7. outputs follow the weights, however they change -----------------------------------------
def edit_bias_tables_in_place(model, x):
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "relative_position_bias_table" in name:
                p.add_(torch.randn(p.shape, generator=gen))  # not a constant: softmax ignores those


def edit_through_data(model, x):
    """p.data.add_ bypasses autograd's version counter."""
    gen = torch.Generator().manual_seed(4)
    for p in model.parameters():
        p.data.add_(0.1 * torch.randn(p.shape, generator=gen))


def foreach_add(model, x):
    params = list(model.parameters())
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        torch._foreach_add_(params, [0.1 * torch.randn(p.shape, generator=gen) for p in params])


def load_new_state_dict(model, x):
    model.load_state_dict(perturb_(small_model(img_size=112), seed=5).state_dict())


def optimizer_steps(**adamw_kwargs):
    def steps(model, x):
        opt = torch.optim.AdamW(model.parameters(), lr=0.05, **adamw_kwargs)
        model.train()
        for _ in range(3):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
        model.eval()

    return steps


@pytest.mark.parametrize(
    "change",
    [
        edit_bias_tables_in_place,
        edit_through_data,
        foreach_add,
        load_new_state_dict,
        pytest.param(optimizer_steps(), id="adamw"),
        pytest.param(optimizer_steps(foreach=True), id="adamw_foreach"),
        pytest.param(optimizer_steps(fused=True), id="adamw_fused"),  # Trainer's default optimizer
    ],
)
def test_eval_outputs_follow_new_weights(change):
    """Fused and foreach optimizers update in place without bumping version counters: nothing
    weight-dependent may be cached between calls (a stale bias once flipped 3.6% of top-1)."""
    model, x = small_model(img_size=112), images(50, 2, 112, 112)
    with torch.no_grad():
        stale = model(x)
    with torch.inference_mode():
        model(x)
    change(model, x)
    fresh = small_model(img_size=112)
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        out, expected = model(x), fresh(x)
    assert max_abs_diff(stale, expected) > 1e-3  # the change matters
    assert max_abs_diff(out, expected) <= 1e-6


def test_a_model_built_under_inference_mode_runs_and_follows_new_weights():
    """Its parameters are inference tensors, which have no version counter to key a cache on."""
    reference = small_model(img_size=112)
    x = images(51, 2, 112, 112)
    with torch.inference_mode():
        model = small_model(img_size=112)
        model.load_state_dict(reference.state_dict())
        torch.testing.assert_close(model(x), reference(x), atol=1e-6, rtol=0)
        changed = perturb_(small_model(img_size=112), seed=6)
        model.load_state_dict(changed.state_dict())  # copies into the same inference tensors
        out, expected = model(x), changed(x)
    assert max_abs_diff(out, expected) <= 1e-6
    assert max_abs_diff(out, reference(x)) > 1e-3


# --- 8. errors --------------------------------------------------------------------------------
def error(make, exc, message, case_id):
    return pytest.param(make, exc, message, id=case_id)


ERRORS = [
    error(lambda: small_model()(torch.randn(1, 1, 64, 64)), ValueError, r"in_chans=3.*1 channels", "one_channel_input"),
    error(lambda: small_model()(torch.randn(3, 64, 64)), ValueError, r"4-D input.*batch", "3d_input"),
    error(
        lambda: SwinConfig(embed_dim=30, num_heads=(4, 8, 16, 32)),
        ValueError, r"not divisible by num_heads", "dim_not_divisible_by_heads",
    ),
    error(
        lambda: SwinConfig(depths=(2, 2, 6), num_heads=(3, 6, 12, 24)),
        ValueError, r"depths .* num_heads", "depths_heads_length_mismatch",
    ),
    error(
        lambda: SwinConfig(img_size=225, allow_padding=False),
        ValueError, r"patch_size=4.*allow_padding=False", "config_needs_patch_padding",
    ),
    error(
        lambda: SwinConfig(img_size=232, allow_padding=False),
        ValueError, r"window_size=7.*allow_padding=False", "config_needs_window_padding",
    ),
    error(
        lambda: small_model(allow_padding=False)(torch.randn(1, 3, 225, 225)),
        ValueError, r"patch_size=4.*allow_padding=False", "forward_needs_patch_padding",
    ),
    error(
        lambda: small_model(allow_padding=False)(torch.randn(1, 3, 232, 232)),
        ValueError, r"window_size=7.*allow_padding=False", "forward_needs_window_padding",
    ),
    error(lambda: timm.create_model("scratch_swin_t", foo=1), TypeError, r"foo", "unknown_timm_kwarg"),
    error(lambda: SwinConfig(global_pool="max"), ValueError, r"global_pool.*'max'", "bad_global_pool_config"),
    error(
        lambda: small_model().reset_classifier(3, global_pool="max"),
        ValueError, r"global_pool.*'max'", "bad_global_pool_reset",
    ),
]


@pytest.mark.parametrize("make, error, message", ERRORS)
def test_invalid_use_raises_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_training_after_inference_mode_uses_no_inference_tensors():
    """Masks cached under torch.inference_mode() must still be usable by autograd later."""
    model = timm.create_model(
        "scratch_swin_t", embed_dim=32, depths=(1, 2, 1, 1), num_heads=(1, 2, 4, 8), num_classes=3
    )
    x = torch.randn(2, 3, 224, 224)
    model.eval()
    with torch.inference_mode():
        before = model(x)
    x_grad = x.clone().requires_grad_(True)  # frozen-backbone style: grad flows to the input only
    model.requires_grad_(False)
    model(x_grad).sum().backward()
    assert x_grad.grad is not None and torch.isfinite(x_grad.grad).all()
    model.requires_grad_(True).train()
    model(x).sum().backward()
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x), before, atol=1e-6)


# --- 9. geometry buffers ----------------------------------------------------------------------
def test_geometry_buffers_are_not_saved_in_the_state_dict():
    model = small_model(img_size=112)
    buffers = {name for name, _ in model.named_buffers()}
    assert any(name.endswith("attn_mask") for name in buffers)
    assert any(name.endswith("relative_position_index") for name in buffers)
    assert not set(model.state_dict()) & buffers


def test_model_built_on_the_meta_device_is_exact_after_timms_buffer_reinit():
    """timm and transformers build on the meta device, then load weights and rebuild buffers."""
    from timm.models._manipulate import reinit_non_persistent_buffers

    reference, x = perturb_(small_model(img_size=112), seed=9), images(52, 2, 112, 112)
    with torch.device("meta"):
        model = SwinTransformer(SwinConfig(**SMALL, img_size=112))
    model = model.to_empty(device="cpu").eval()
    model.load_state_dict(reference.state_dict())
    assert reinit_non_persistent_buffers(model)
    with torch.no_grad():
        assert max_abs_diff(model(x), reference(x)) == 0.0


def test_geometry_buffers_follow_to_dtype_and_other_sizes_are_made_on_use():
    model, x = perturb_(small_model(img_size=112), seed=10), images(53, 2, 112, 112)
    with torch.no_grad():
        expected = model(x)
        model.double()
        block = model.layers[0].blocks[1]
        assert block.attn_mask.dtype == torch.float64
        assert max_abs_diff(model(x.double()).float(), expected) < 1e-5
        assert torch.isfinite(model(images(54, 1, 84, 140).double())).all()  # another size
    assert (84 // 4, 140 // 4, torch.device("cpu")) in block._other_sizes
