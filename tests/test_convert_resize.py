"""Weights made at one resolution, loaded at another: Swin bias tables follow the window
(bicubic, as the official 224 -> 384 fine-tuning), ViT position embeddings follow the grid."""

from __future__ import annotations

import logging

import timm
import torch
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed
from timm.layers.pos_embed_rel import resize_rel_pos_bias_table_simple

import swin_hub  # noqa: F401  (registers the scratch_* models)
from swin_hub.convert.swin import resize_rel_pos_bias

from helpers import perturb_

SWIN_SMALL = dict(embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))
VIT_SMALL = dict(embed_dim=64, depth=2, num_heads=4)


def test_rel_pos_bias_resize_equals_timm_bicubic_reference():
    table = torch.randn(13 * 13, 4, generator=torch.Generator().manual_seed(0))  # window 7
    resized = resize_rel_pos_bias(table, (12, 12))
    reference = resize_rel_pos_bias_table_simple(table, (12, 12), (23 * 23, 4))
    assert resized.shape == (23 * 23, 4)
    assert (resized - reference).abs().max().item() <= 1e-6


def test_rel_pos_bias_resize_to_the_same_window_is_identity():
    table = torch.randn(13 * 13, 3)
    assert torch.allclose(resize_rel_pos_bias(table, (7, 7)), table, atol=1e-6)


def test_swin_window7_weights_load_into_window12_model(tmp_path, caplog):
    source = perturb_(timm.create_model("scratch_swin_t", **SWIN_SMALL), seed=2)
    save_file(source.state_dict(), tmp_path / "w.safetensors")
    caplog.set_level(logging.WARNING)
    model = timm.create_model(
        "scratch_swin_t", **SWIN_SMALL, img_size=384, window_size=12, pretrained=True,
        pretrained_cfg_overlay=dict(file=str(tmp_path / "w.safetensors")),
    ).eval()
    for stage_src, stage in zip(source.layers, model.layers):
        for block_src, block in zip(stage_src.blocks, stage.blocks):
            expected = resize_rel_pos_bias(block_src.attn.relative_position_bias_table.detach(), block.attn.table_window)
            assert torch.equal(block.attn.relative_position_bias_table.detach(), expected)
            assert torch.equal(block.attn.qkv.weight, block_src.attn.qkv.weight)
    assert "relative-position" in caplog.text and "(169, 1) -> (529, 1)" in caplog.text
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 384, 384))).all()


def test_swin_absolute_pos_embed_follows_the_grid(tmp_path):
    source = perturb_(timm.create_model("scratch_swin_t", **SWIN_SMALL, ape=True), seed=4)
    save_file(source.state_dict(), tmp_path / "w.safetensors")
    model = timm.create_model(
        "scratch_swin_t", **SWIN_SMALL, ape=True, img_size=448, window_size=7, pretrained=True,
        pretrained_cfg_overlay=dict(file=str(tmp_path / "w.safetensors")),
    )
    assert model.absolute_pos_embed.shape == (1, 112 * 112, SWIN_SMALL["embed_dim"])


def test_vit_224_weights_at_384_equal_timm_loading_the_same_file(tmp_path):
    source = perturb_(timm.create_model("scratch_vit_s", **VIT_SMALL, act_layer="gelu"), seed=6)
    save_file(source.state_dict(), tmp_path / "w.safetensors")
    overlay = dict(file=str(tmp_path / "w.safetensors"))
    ours = timm.create_model("scratch_vit_s", **VIT_SMALL, act_layer="gelu", img_size=384, pretrained=True,
                             pretrained_cfg_overlay=overlay).eval()
    theirs = timm.create_model("vit_small_patch16_224", **VIT_SMALL, img_size=384, pretrained=True,
                               pretrained_cfg_overlay=overlay).eval()
    expected_pos = resample_abs_pos_embed(source.pos_embed.detach(), (24, 24), num_prefix_tokens=1)
    assert (ours.pos_embed.detach() - expected_pos).abs().max().item() <= 1e-6
    x = torch.randn(2, 3, 384, 384)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() <= 1e-4
