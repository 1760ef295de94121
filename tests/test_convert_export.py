"""Reverse export: a swin-hub repo becomes a transformers-native folder with the same outputs."""

from __future__ import annotations

import json

import pytest
import timm
import torch
import transformers
from safetensors import safe_open

from swin_hub import save_repo
from swin_hub.cli import main
from swin_hub.convert.checkpoint import ConversionError
from swin_hub.hub.export import export_transformers

from helpers import perturb_

LABELS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def swin_t_repo(tmp_path_factory):
    """Full-size Swin-T with perturbed weights, saved as a swin-hub repo."""
    model = perturb_(timm.create_model("scratch_swin_t", num_classes=3), seed=11).eval()
    return model, save_repo(model, tmp_path_factory.mktemp("swin") / "repo", id2label=LABELS)


def test_swin_t_exports_to_swin_for_image_classification_with_parity(swin_t_repo, tmp_path):
    model, repo = swin_t_repo
    result = export_transformers(repo, tmp_path / "out")
    assert result["class"] == "SwinForImageClassification" and result["max_abs_diff"] <= 1e-4
    native = transformers.AutoModelForImageClassification.from_pretrained(tmp_path / "out").eval()
    assert type(native) is transformers.SwinForImageClassification
    assert native.config.id2label == {0: "a", 1: "b", 2: "c"}
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (native(pixel_values=x).logits - model(x)).abs().max().item() <= 1e-4


def test_exported_weights_use_transformers_checkpoint_names(swin_t_repo, tmp_path):
    export_transformers(swin_t_repo[1], tmp_path / "out")
    with safe_open(tmp_path / "out" / "model.safetensors", "pt") as f:
        keys = set(f.keys())
    assert "swin.encoder.layers.0.blocks.0.attention.self.query.weight" in keys
    assert json.loads((tmp_path / "out" / "config.json").read_text())["model_type"] == "swin"
    assert (tmp_path / "out" / "preprocessor_config.json").is_file()


def test_vit_exports_through_the_cli(tmp_path, capsys):
    model = perturb_(timm.create_model("scratch_vit_s", embed_dim=64, depth=2, num_heads=4, num_classes=3), seed=2).eval()
    save_repo(model, tmp_path / "repo", id2label=LABELS)
    main(["export", str(tmp_path / "repo"), str(tmp_path / "out")])  # exits only on failure
    assert "ViTForImageClassification" in capsys.readouterr().out
    native = transformers.ViTForImageClassification.from_pretrained(tmp_path / "out").eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert (native(pixel_values=x).logits - model(x)).abs().max().item() <= 1e-4


def test_inexpressible_model_names_the_field(tmp_path):
    model = timm.create_model("scratch_vit_s", embed_dim=64, depth=2, num_heads=4, num_classes=3, global_pool="avg")
    save_repo(model, tmp_path / "repo")
    with pytest.raises(ConversionError, match="global_pool"):
        export_transformers(tmp_path / "repo", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_non_empty_folder_without_force(swin_t_repo, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("x")
    with pytest.raises(FileExistsError):
        export_transformers(swin_t_repo[1], tmp_path / "out")
    assert (tmp_path / "out" / "keep").read_text() == "x"
    export_transformers(swin_t_repo[1], tmp_path / "out", force=True)
    assert not (tmp_path / "out" / "keep").exists()
