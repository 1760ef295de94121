"""Our transformers classes' from_pretrained on official / timm / transformers-native
checkpoints: converted on load with the same mapping as `swin-hub convert` and timm."""

from __future__ import annotations

import pytest
import timm
import torch
import transformers
from safetensors.torch import load_file

from swin_hub import ScratchSwinForImageClassification, ScratchViTForImageClassification, ScratchViTModel

from helpers import FIXTURES, perturb_


@pytest.mark.parametrize(
    "cls, checkpoint, oracle",
    [
        (ScratchSwinForImageClassification, "swin_official_tiny.pth", "swin_official_tiny.safetensors"),
        (ScratchViTForImageClassification, "vit_official_tiny.npz", "vit_official_tiny.safetensors"),
    ],
)
def test_official_release_files_load_with_official_logits(cls, checkpoint, oracle):
    model = cls.from_pretrained(FIXTURES / checkpoint)
    data = load_file(FIXTURES / oracle)
    with torch.no_grad():
        logits = model(data["pixel_values"]).logits
    assert (logits - data["logits"]).abs().max().item() <= 1e-4
    assert not model.training


def test_transformers_native_swin_folder_loads_with_its_labels(tmp_path):
    config = transformers.SwinConfig(embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8],
                                     id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1})
    native = perturb_(transformers.SwinForImageClassification(config), seed=3).eval()
    native.save_pretrained(tmp_path)
    model = ScratchSwinForImageClassification.from_pretrained(tmp_path)
    assert model.config.id2label == {0: "cat", 1: "dog"}
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert (model(x).logits - native(pixel_values=x).logits).abs().max().item() <= 1e-4


def test_timm_checkpoint_with_new_num_labels_keeps_the_backbone(tmp_path):
    # a timm ViT file does not record its head count: the head_dim 64 of every released ViT is assumed
    source = perturb_(timm.create_model("vit_small_patch16_224", embed_dim=128, depth=2, num_heads=2, num_classes=5), seed=4).eval()
    torch.save(source.state_dict(), tmp_path / "w.pth")
    model = ScratchViTForImageClassification.from_pretrained(tmp_path / "w.pth", num_labels=3)
    assert model.config.num_labels == 3
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = source.forward_head(source.forward_features(x), pre_logits=True)
        got = model.model.forward_head(model.model.forward_features(x), pre_logits=True)
    assert (got - expected).abs().max().item() <= 1e-4


def test_a_checkpoint_of_the_other_family_or_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="vit checkpoint .* not ScratchSwinForImageClassification"):
        ScratchSwinForImageClassification.from_pretrained(FIXTURES / "vit_official_tiny.npz")
    with pytest.raises(ValueError, match="not ScratchViTModel"):
        ScratchViTModel.from_pretrained(FIXTURES / "vit_official_tiny.npz")
