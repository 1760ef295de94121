"""`swin-hub convert` / `export` for Swin V2: every layout in, the repo folder out, and back.

The official fixture (made by Microsoft's code) goes through the same pipeline as V1's; timm's
and transformers' own Swin V2 classes are the references, on perturbed weights.
"""

import json

import pytest
import timm
import torch
import transformers
from helpers import V2_FIXTURES, perturb_
from safetensors.torch import load_file

import swin_hub  # noqa: F401  (registers the scratch_* models with timm)
from swin_hub.convert.checkpoint import ConversionError, convert
from swin_hub.convert.layouts import identify
from swin_hub.hub.export import export_transformers
from swin_hub.hub.repo import write_repo

OFFICIAL = V2_FIXTURES / "swinv2_official_tiny.pth"


@pytest.fixture(scope="module")
def official_repo(tmp_path_factory):
    out = tmp_path_factory.mktemp("v2") / "repo"
    converted = convert(OFFICIAL)
    write_repo(converted, out)
    return converted, out


def test_official_release_converts_with_parity_against_timm(official_repo):
    converted, out = official_repo
    report = json.loads((out / "conversion_report.json").read_text())
    assert (report["family"], report["source_format"]) == ("swinv2", "official")
    assert report["parity"]["reference"].startswith("timm.models.swin_transformer_v2")
    assert report["parity"]["max_abs_diff"] <= 1e-4
    io = load_file(V2_FIXTURES / "swinv2_official_tiny.safetensors")
    with torch.no_grad():
        assert (converted.model.eval()(io["pixel_values"]) - io["logits"]).abs().max().item() <= 1e-4


def test_repo_folder_loads_in_timm_and_transformers_with_the_official_logits(official_repo):
    _, out = official_repo
    io = load_file(V2_FIXTURES / "swinv2_official_tiny.safetensors")
    by_timm = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    by_hf = transformers.AutoModelForImageClassification.from_pretrained(out).eval()
    assert type(by_hf).__name__ == "ScratchSwinV2ForImageClassification"
    with torch.no_grad():
        assert (by_timm(io["pixel_values"]) - io["logits"]).abs().max().item() <= 1e-4
        assert (by_hf(pixel_values=io["pixel_values"]).logits - io["logits"]).abs().max().item() <= 1e-4


def test_export_to_transformers_swinv2_and_convert_back(official_repo, tmp_path):
    _, out = official_repo
    result = export_transformers(out, tmp_path / "native")
    assert result["class"] == "Swinv2ForImageClassification" and result["max_abs_diff"] <= 1e-4
    native = transformers.Swinv2ForImageClassification.from_pretrained(tmp_path / "native").eval()
    layout, _, _ = identify(load_file(tmp_path / "native" / "model.safetensors"))
    assert (layout.family, layout.name) == ("swinv2", "transformers")
    back = convert(tmp_path / "native")
    assert back.report["parity"]["reference"] == "transformers.Swinv2ForImageClassification"
    x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (back.model.eval()(x) - native(pixel_values=x).logits).abs().max().item() <= 1e-4


def test_timm_layout_needs_the_registered_name_for_its_window(tmp_path):
    torch.manual_seed(0)
    ref = perturb_(timm.create_model("swinv2_tiny_window16_256", num_classes=5), seed=4).eval()
    torch.save(ref.state_dict(), tmp_path / "timm.pth")
    with pytest.raises(ConversionError, match="--model scratch_swinv2_"):
        convert(tmp_path / "timm.pth")
    converted = convert(tmp_path / "timm.pth", model_name="scratch_swinv2_t_w16_256")
    assert converted.report["parity"]["max_abs_diff"] <= 1e-4
    assert converted.cfg.window_size == 16


def test_moving_to_a_larger_window_keeps_the_trained_window_as_pretrained_window(tmp_path):
    """The official fine-tuning rule (192 / w12 -> 256 / w16): the CPB MLP is reused as it is and
    each stage's coordinates stay normalised by the window it was trained with."""
    from test_models_swinv2 import official_layout  # timm's weights as the official release stores them

    torch.manual_seed(0)
    trained = perturb_(timm.create_model("swinv2_tiny_window8_256", num_classes=5), seed=5).eval()
    torch.save(official_layout(trained), tmp_path / "w8.pth")  # its coordinate tables record the window
    moved = convert(tmp_path / "w8.pth", model_name="scratch_swinv2_t_w16_256", check=False)
    assert moved.cfg.window_size == 16 and moved.cfg.pretrained_window_sizes == (8, 8, 8, 8)
    ref = timm.create_model("swinv2_tiny_window16_256", num_classes=5, pretrained_window_sizes=(8, 8, 8, 8)).eval()
    weights = {k: v for k, v in trained.state_dict().items()
               if not k.endswith(("relative_coords_table", "relative_position_index", "attn_mask"))}
    missing, unexpected = ref.load_state_dict(weights, strict=False)  # the buffers are the new window's
    assert not unexpected and all(k.endswith(("relative_coords_table", "relative_position_index", "attn_mask"))
                                  for k in missing)
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert (moved.model.eval()(x) - ref(x)).abs().max().item() <= 1e-4


def test_autobackbone_gives_timms_features_only_maps_of_the_converted_checkpoint(official_repo):
    """ScratchSwinV2Backbone (UperNet / Mask2Former) on a converted official checkpoint: the raw
    stage maps timm's own Swin V2 gives through features_only, loaded from the release file."""
    from swin_hub import ScratchSwinV2Backbone

    _, out = official_repo
    backbone = ScratchSwinV2Backbone.from_pretrained(out, out_features=["stage1", "stage2", "stage3", "stage4"]).eval()
    (entry,) = json.loads((V2_FIXTURES / "manifest_swinv2.json").read_text())
    args = {k: v for k, v in entry["args"].items() if k not in ("drop_rate", "attn_drop_rate", "drop_path_rate", "ape", "patch_norm")}
    ref = timm.create_model("swinv2_tiny_window8_256", **args).eval()
    from timm.models.swin_transformer_v2 import checkpoint_filter_fn

    raw = torch.load(OFFICIAL, map_location="cpu", weights_only=True)
    ref.load_state_dict(checkpoint_filter_fn(raw, ref), strict=True)
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ours = backbone(pixel_values=x).feature_maps
        theirs = ref.forward_intermediates(x, intermediates_only=True)  # what its features_only returns
    assert [tuple(m.shape) for m in ours] == [tuple(m.shape) for m in theirs]
    for a, b in zip(ours, theirs):
        assert (a - b).abs().max().item() <= 1e-4
