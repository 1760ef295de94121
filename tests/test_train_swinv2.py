"""`swin-hub train` fine-tunes Swin V2 as it does V1: the repo folder, card and both libraries."""

import json

import timm
import torch
from test_train import tiny_args
from transformers import AutoModelForImageClassification

import swin_hub  # noqa: F401  (registers the scratch_* models)
from swin_hub.train.args import parse_args
from swin_hub.train.loop import train

TINY_SWINV2 = {"img_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2], "window_size": 4}


def test_swinv2_fine_tunes_into_a_repo_both_libraries_load(tmp_path):
    out = tmp_path / "out"
    args = tiny_args(out, "--num_train_epochs", "2", "--seed", "0", model="scratch_swinv2_t_w8_256", kwargs=TINY_SWINV2)
    train(parse_args(args))
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "scratch_swinv2" and config["architecture"] == "scratch_swinv2_t_w8_256"
    timm_model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    hf_model = AutoModelForImageClassification.from_pretrained(out).eval()
    assert type(hf_model).__name__ == "ScratchSwinV2ForImageClassification"
    assert type(timm_model).__name__ == "TimmSwinTransformerV2"
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (timm_model(x) - hf_model(pixel_values=x).logits).abs().max().item() <= 1e-5
    card = (out / "README.md").read_text()
    assert "Swin Transformer V2" in card and "liu2022swinv2" in card
    assert "custom Swin V2" in card  # 2 stages of width 16 are not the registered Swin V2-T
