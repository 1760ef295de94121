"""The Swin V2 names registered with timm: the official architectures, release files and Hub repos.

timm registers the same official releases under its own names (`swinv2_*`), built by independent
code: each of ours must be the same network (parameter count, shapes of every weight, pretrained
windows) and point at the same release file. Built on the meta device, so the large ones cost
nothing.
"""

import json

import pytest
import timm
import torch
from safetensors.torch import load_file
from timm.models import get_pretrained_cfg

from helpers import V2_FIXTURES
import swin_hub  # noqa: F401  (registers the scratch_* models with timm)
from swin_hub.convert.swinv2 import to_swin_hub
from swin_hub.timm import swinv2 as timm_swinv2

# ours -> (timm's name, the pretrained tag both share)
TIMM_TWINS = {
    "scratch_swinv2_t_w8_256": ("swinv2_tiny_window8_256", "ms_in1k"),
    "scratch_swinv2_s_w8_256": ("swinv2_small_window8_256", "ms_in1k"),
    "scratch_swinv2_b_w8_256": ("swinv2_base_window8_256", "ms_in1k"),
    "scratch_swinv2_t_w16_256": ("swinv2_tiny_window16_256", "ms_in1k"),
    "scratch_swinv2_s_w16_256": ("swinv2_small_window16_256", "ms_in1k"),
    "scratch_swinv2_b_w16_256": ("swinv2_base_window16_256", "ms_in1k"),
    "scratch_swinv2_b_w12_192_22k": ("swinv2_base_window12_192", "ms_in22k"),
    "scratch_swinv2_l_w12_192_22k": ("swinv2_large_window12_192", "ms_in22k"),
    "scratch_swinv2_b_w16_256_ft": ("swinv2_base_window12to16_192to256", "ms_in22k_ft_in1k"),
    "scratch_swinv2_b_w24_384_ft": ("swinv2_base_window12to24_192to384", "ms_in22k_ft_in1k"),
    "scratch_swinv2_l_w16_256_ft": ("swinv2_large_window12to16_192to256", "ms_in22k_ft_in1k"),
    "scratch_swinv2_l_w24_384_ft": ("swinv2_large_window12to24_192to384", "ms_in22k_ft_in1k"),
}


def test_every_issue_name_is_registered_with_one_official_tag():
    assert set(timm.list_models("scratch_swinv2_*")) == set(TIMM_TWINS) == set(timm_swinv2.ARCHS)
    tags = timm.list_pretrained("scratch_swinv2_*")
    assert sorted(tags) == sorted(f"{ours}.{tag}" for ours, (_, tag) in TIMM_TWINS.items())


@pytest.mark.parametrize("ours", TIMM_TWINS)
def test_architecture_equals_timms_official_registration(ours):
    theirs, tag = TIMM_TWINS[ours]
    with torch.device("meta"):
        model = timm.create_model(ours)
        ref = timm.create_model(theirs)
    mapped = to_swin_hub({k: torch.empty(v.shape) for k, v in ref.state_dict().items()})[0]
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert own == {k: tuple(v.shape) for k, v in mapped.items()}
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters())
    windows = [tuple(layer.blocks[0].attn.pretrained_window_size) for layer in ref.layers]
    stage_windows = [tuple(stage.blocks[0].attn.pretrained_window) for stage in model.layers]
    assert [w if w != (0, 0) else None for w in stage_windows] == [
        w if ours.endswith("_ft") else None for w in windows
    ]


@pytest.mark.parametrize("ours", TIMM_TWINS)
def test_pretrained_cfg_points_at_the_official_release_and_hub_repo(ours):
    theirs, tag = TIMM_TWINS[ours]
    cfg, ref = get_pretrained_cfg(f"{ours}.{tag}"), get_pretrained_cfg(f"{theirs}.{tag}")
    assert cfg.url == ref.url  # the same Microsoft release file
    assert cfg.hf_hub_id.startswith("microsoft/swinv2-") and cfg.custom_load
    # the Hub repo is the release file's name, dashed: swinv2_tiny_patch4_window8_256 -> swinv2-tiny-...
    assert cfg.hf_hub_id == "microsoft/" + ref.url.rsplit("/", 1)[1].removesuffix(".pth").replace("_", "-")
    for field in ("num_classes", "input_size", "mean", "std", "interpolation", "crop_pct", "license"):
        assert getattr(cfg, field) == getattr(ref, field), field
    assert cfg.first_conv == "patch_embed.proj" and cfg.classifier == "head"
    assert cfg.fixed_input_size is False  # any input size, as for V1


def test_the_official_release_file_loads_through_pretrained_cfg_overlay():
    """A release-format .pth (the fixture: made by the official code) through timm's custom_load."""
    (entry,) = json.loads((V2_FIXTURES / "manifest_swinv2.json").read_text())
    args = {k: v for k, v in entry["args"].items() if k not in ("drop_rate", "attn_drop_rate", "drop_path_rate")}
    io = load_file(V2_FIXTURES / "swinv2_official_tiny.safetensors")
    model = timm.create_model(
        "scratch_swinv2_t_w8_256", pretrained=True, drop_path_rate=0.0, **args,
        pretrained_cfg_overlay=dict(file=str(V2_FIXTURES / entry["ckpt"])),
    ).eval()
    with torch.no_grad():
        assert (model(io["pixel_values"]) - io["logits"]).abs().max().item() <= 1e-4
