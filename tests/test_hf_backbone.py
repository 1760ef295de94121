"""transformers backbones (`ScratchSwinBackbone`, `ScratchViTBackbone`): AutoBackbone, the backbone
config fields, feature maps equal to the pure model's / timm's, and dense prediction heads
(UperNet, Mask2Former) that take a swin-hub config as `backbone_config`.

Small configs only (a 1-block-per-stage Swin at 64 px, a 3-block ViT at 32 px). Models are
perturbed (helpers.perturb_) so identity LayerNorms / zero biases cannot hide mistakes.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import timm
import torch
from helpers import perturb_
from transformers import (
    AutoBackbone,
    AutoConfig,
    Mask2FormerConfig,
    Mask2FormerForUniversalSegmentation,
    UperNetConfig,
    UperNetForSemanticSegmentation,
)
from transformers.modeling_outputs import BackboneOutput

from swin_hub import (
    ScratchSwinBackbone,
    ScratchSwinConfig,
    ScratchSwinForImageClassification,
    ScratchViTBackbone,
    ScratchViTConfig,
    ScratchViTForImageClassification,
)
from swin_hub.hf.modeling import repo_code_files

from helpers import FIXTURES

SWIN_ARCH = dict(embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4], img_size=64, window_size=4, drop_path_rate=0.0)
VIT_ARCH = dict(embed_dim=32, depth=3, num_heads=2, img_size=32, patch_size=8)
ALL_STAGES = ["stage1", "stage2", "stage3", "stage4"]


def pixels(size=64, batch=2, seed=0):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def saved_classifier(kind, path):
    """A perturbed classifier saved with save_pretrained; returns its pure model."""
    if kind == "swin":
        model = ScratchSwinForImageClassification(ScratchSwinConfig(**SWIN_ARCH, num_labels=3))
    else:
        model = ScratchViTForImageClassification(ScratchViTConfig(**VIT_ARCH, num_labels=3))
    perturb_(model, seed=1).eval().save_pretrained(path)
    return model.model


# 1. config fields ----------------------------------------------------------------------------------


def test_backbone_fields_default_to_the_last_stage():
    swin, vit = ScratchSwinConfig(**SWIN_ARCH), ScratchViTConfig(**VIT_ARCH)
    assert swin.stage_names == ["stem", *ALL_STAGES]
    assert (swin.out_features, swin.out_indices) == (["stage4"], [4])
    assert vit.stage_names == ["stem", "stage1", "stage2", "stage3"]
    assert (vit.out_features, vit.out_indices) == (["stage3"], [3])


def test_out_indices_and_out_features_are_aligned_and_validated():
    cfg = ScratchSwinConfig(**SWIN_ARCH, out_indices=(1, 2, 3))
    assert cfg.out_features == ["stage1", "stage2", "stage3"]
    cfg.out_features = ["stem", "stage4"]
    assert cfg.out_indices == [0, 4]
    with pytest.raises(ValueError, match="stage_names"):
        ScratchSwinConfig(**SWIN_ARCH, out_features=["stage5"])
    with pytest.raises(ValueError, match="stage_names=.* does not match"):
        ScratchSwinConfig(**SWIN_ARCH, stage_names=["stem", "stage1"])


def test_config_json_keeps_timm_fields_and_saves_out_features_at_top_level(tmp_path):
    cfg = ScratchSwinConfig(**SWIN_ARCH, out_features=["stage2", "stage4"])
    cfg.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["out_features"], saved["out_indices"]) == (["stage2", "stage4"], [2, 4])
    assert "stage_names" not in saved and "_out_features" not in saved
    assert not {"out_features", "out_indices", "stage_names"} & set(saved["model_args"])
    assert saved["model_args"] == ScratchSwinConfig(**SWIN_ARCH).to_dict()["model_args"]
    assert saved["auto_map"]["AutoBackbone"] == "modeling_swin_hub.ScratchSwinBackbone"
    again = AutoConfig.from_pretrained(tmp_path)
    assert (again.out_features, again.out_indices) == (["stage2", "stage4"], [2, 4])


# 2. AutoBackbone and feature maps --------------------------------------------------------------------


def test_auto_backbone_builds_swin_backbone_with_stage_channels_and_map_shapes():
    backbone = AutoBackbone.from_config(ScratchSwinConfig(**SWIN_ARCH, out_indices=(1, 2, 3))).eval()
    assert type(backbone) is ScratchSwinBackbone
    assert backbone.channels == [16, 32, 64]
    assert backbone.out_feature_channels == {"stem": 16, "stage1": 16, "stage2": 32, "stage3": 64, "stage4": 128}
    out = backbone(pixels())
    assert isinstance(out, BackboneOutput) and out.hidden_states is None
    assert [tuple(m.shape) for m in out.feature_maps] == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4)]


def test_backbone_return_dict_false_gives_the_feature_maps_tuple():
    backbone = ScratchSwinBackbone(ScratchSwinConfig(**SWIN_ARCH, out_indices=(2, 4))).eval()
    (maps,) = backbone(pixels(), return_dict=False)
    assert [m.shape[1] for m in maps] == [32, 128]


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_classifier_folder_loads_into_backbone_with_forward_intermediates_maps(kind, tmp_path):
    pure = saved_classifier(kind, tmp_path)
    cls = ScratchSwinBackbone if kind == "swin" else ScratchViTBackbone
    blocks = [0, 1, 2] if kind == "swin" else [0, 2]
    backbone = cls.from_pretrained(tmp_path, out_indices=[i + 1 for i in blocks]).eval()
    x = pixels(size=64 if kind == "swin" else 32)
    with torch.no_grad():
        maps = backbone(x).feature_maps
        expected = pure.forward_intermediates(x, indices=blocks, intermediates_only=True)
    assert len(maps) == len(expected)
    for got, want in zip(maps, expected):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_swin_backbone_maps_equal_timm_features_only(tmp_path):
    pure = saved_classifier("swin", tmp_path)
    backbone = ScratchSwinBackbone.from_pretrained(tmp_path, out_features=ALL_STAGES).eval()
    features = timm.create_model("scratch_swin_t", features_only=True, **SWIN_ARCH).eval()
    missing, _ = features.model.load_state_dict(pure.state_dict(), strict=False)
    assert not missing
    x = pixels()
    with torch.no_grad():
        got, want = backbone(x).feature_maps, features(x)
    assert [tuple(m.shape) for m in got] == [tuple(m.shape) for m in want]
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_backbone_from_classifier_folder_leaves_out_only_the_head(tmp_path):
    saved_classifier("swin", tmp_path)
    _, info = ScratchSwinBackbone.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"]
    assert set(info["unexpected_keys"]) == {"model.head.weight", "model.head.bias"}


def test_stem_map_is_the_patch_embedding():
    backbone = perturb_(ScratchSwinBackbone(ScratchSwinConfig(**SWIN_ARCH, out_features=["stem"])), seed=2).eval()
    x = pixels()
    with torch.no_grad():
        (stem,) = backbone(x).feature_maps
        expected = backbone.model.patch_embed(x).permute(0, 3, 1, 2)
    torch.testing.assert_close(stem, expected)


def test_vit_backbone_maps_are_the_chosen_blocks_patch_tokens():
    backbone = perturb_(ScratchViTBackbone(ScratchViTConfig(**VIT_ARCH, out_indices=(0, 1, 3))), seed=3).eval()
    x = pixels(size=32)
    with torch.no_grad():
        stem, first, last = backbone(x).feature_maps
        tokens = backbone.model._embed(x)
        for block in backbone.model.blocks:
            tokens = block(tokens)
    assert backbone.channels == [32, 32, 32]
    assert stem.shape == first.shape == last.shape == (2, 32, 4, 4)
    torch.testing.assert_close(last.flatten(2).transpose(1, 2), tokens[:, 1:])  # class token dropped
    assert not torch.allclose(first, last)


def test_output_hidden_states_returns_every_stage_map():
    backbone = ScratchSwinBackbone(ScratchSwinConfig(**SWIN_ARCH, out_indices=(2,))).eval()
    with torch.no_grad():
        out = backbone(pixels(), output_hidden_states=True)
    assert [m.shape[1] for m in out.hidden_states] == [16, 16, 32, 64, 128]
    assert torch.equal(out.feature_maps[0], out.hidden_states[2])


def test_output_attentions_raises_with_the_class_that_returns_them():
    backbone = ScratchSwinBackbone(ScratchSwinConfig(**SWIN_ARCH))
    with pytest.raises(ValueError, match="ScratchSwinModel"):
        backbone(pixels(), output_attentions=True)


def test_backbone_class_travels_with_the_repo_code_files():
    code = repo_code_files()["modeling_swin_hub.py"]
    assert "class ScratchSwinBackbone" in code and "class ScratchViTBackbone" in code


def test_backbone_loads_a_saved_folder_with_trust_remote_code_without_swin_hub(tmp_path):
    pure = saved_classifier("swin", tmp_path / "repo")
    x = pixels()
    with torch.no_grad():
        torch.save(pure.forward_intermediates(x, indices=[1, 3], intermediates_only=True), tmp_path / "ref.pt")
    torch.save(x, tmp_path / "x.pt")
    code = f"""
        import sys
        sys.modules["swin_hub"] = None  # import swin_hub fails here
        import torch
        from transformers import AutoConfig
        from transformers.dynamic_module_utils import get_class_from_dynamic_module
        repo = {str(tmp_path / "repo")!r}
        # transformers 5.24's AutoBackbone.from_pretrained takes Hub ids only (it asks the Hub whether the
        # repo exists), so the class is looked up the way it would: through the config's auto_map
        config = AutoConfig.from_pretrained(repo, trust_remote_code=True)
        cls = get_class_from_dynamic_module(config.auto_map["AutoBackbone"], repo)
        model = cls.from_pretrained(repo, out_indices=[2, 4]).eval()
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        x, ref = torch.load({str(tmp_path / "x.pt")!r}), torch.load({str(tmp_path / "ref.pt")!r})
        with torch.no_grad():
            maps = model(x).feature_maps
        print("DIFF", max((a - b).abs().max().item() for a, b in zip(maps, ref)), len(maps))
        """
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "DIFF 0.0 2" in result.stdout


# 3. dense prediction heads ------------------------------------------------------------------------


def upernet():
    backbone_config = ScratchSwinConfig(**SWIN_ARCH, out_features=ALL_STAGES)
    config = UperNetConfig(backbone_config=backbone_config, hidden_size=32, auxiliary_channels=16, num_labels=5)
    return perturb_(UperNetForSemanticSegmentation(config), seed=4)


def test_upernet_with_swin_backbone_trains_with_a_finite_loss():
    model = upernet().train()
    assert type(model.backbone) is ScratchSwinBackbone
    labels = torch.randint(0, 5, (2, 64, 64), generator=torch.Generator().manual_seed(0))
    out = model(pixel_values=pixels(), labels=labels)
    assert out.logits.shape == (2, 5, 64, 64)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grad = model.backbone.model.layers[0].blocks[0].attn.qkv.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_upernet_with_swin_backbone_round_trips_save_pretrained(tmp_path):
    model = upernet().eval()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["backbone_config"]["model_type"] == "scratch_swin"
    again = UperNetForSemanticSegmentation.from_pretrained(tmp_path).eval()
    x = pixels(seed=5)
    with torch.no_grad():
        assert torch.equal(model(x).logits, again(x).logits)


def mask2former():
    backbone_config = ScratchSwinConfig(**SWIN_ARCH, out_features=ALL_STAGES)
    config = Mask2FormerConfig(
        backbone_config=backbone_config, feature_size=32, mask_feature_size=32, hidden_dim=32,
        encoder_feedforward_dim=64, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
        dim_feedforward=64, num_queries=5, num_labels=3, train_num_points=256,
    )
    return perturb_(Mask2FormerForUniversalSegmentation(config), seed=6)


def test_mask2former_with_swin_backbone_trains_with_a_finite_loss():
    model = mask2former().train()
    gen = torch.Generator().manual_seed(0)
    masks = [torch.randint(0, 2, (2, 64, 64), generator=gen).float() for _ in range(2)]
    classes = [torch.tensor([0, 2]), torch.tensor([1, 2])]
    out = model(pixel_values=pixels(), mask_labels=masks, class_labels=classes)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grad = model.model.pixel_level_module.encoder.model.patch_embed.proj.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_mask2former_with_swin_backbone_round_trips_save_pretrained(tmp_path):
    model = mask2former().eval()
    model.save_pretrained(tmp_path)
    again = Mask2FormerForUniversalSegmentation.from_pretrained(tmp_path).eval()
    x = pixels(seed=7)
    with torch.no_grad():
        a, b = model(x), again(x)
    assert torch.equal(a.masks_queries_logits, b.masks_queries_logits)
    assert torch.equal(a.class_queries_logits, b.class_queries_logits)


def test_converted_official_checkpoint_gives_timms_own_stage_features(tmp_path):
    """Microsoft's release layout -> `swin-hub convert` folder -> backbone: the stage maps of timm's
    own Swin loading the same official file."""
    from swin_hub.convert.checkpoint import convert
    from swin_hub.hub.repo import write_repo

    official = FIXTURES / "swin_official_tiny.pth"
    converted = convert(official)
    folder = write_repo(converted, tmp_path / "converted")
    backbone = ScratchSwinBackbone.from_pretrained(folder, out_features=ALL_STAGES).eval()
    cfg = converted.cfg
    reference = timm.create_model(
        "swin_tiny_patch4_window7_224", pretrained=True, pretrained_cfg_overlay=dict(file=str(official)),
        features_only=True, img_size=cfg.img_size, embed_dim=cfg.embed_dim, depths=cfg.depths,
        num_heads=cfg.num_heads, window_size=cfg.window_size, num_classes=cfg.num_classes,
    ).eval()
    x = pixels(size=cfg.img_size[0])
    with torch.no_grad():
        got, want = backbone(x).feature_maps, [m.permute(0, 3, 1, 2) for m in reference(x)]  # timm: NHWC
    assert [tuple(m.shape) for m in got] == [tuple(m.shape) for m in want]
    for g, w in zip(got, want):  # fp32 rounding of SDPA against timm's kernels: ~2e-5 on maps of size ~10
        torch.testing.assert_close(g, w, atol=1e-4, rtol=0)
