"""The `conversion/` scripts: `python -m conversion` and the batch converter of registered tags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file

import conversion.convert_official as batch

from helpers import FIXTURES

ROOT = Path(__file__).parents[1]


def test_python_m_conversion_converts_and_verifies(tmp_path):
    out = tmp_path / "swin"
    proc = subprocess.run([sys.executable, "-m", "conversion", str(FIXTURES / "swin_official_tiny.pth"), str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "conversion_report.json").read_text())
    assert report["source_format"] == "official" and report["parity"]["max_abs_diff"] <= 1e-4


def test_python_m_conversion_reports_bad_input_with_exit_code_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "conversion", str(tmp_path / "missing.pth"), str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert "missing.pth" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_batch_converter_writes_one_verified_repo_per_tag(tmp_path, monkeypatch):
    """The release download is stubbed with the official fixture (same layout as the release,
    smaller architecture, so the registered name's shape check is bypassed too)."""
    real_convert = batch.convert
    monkeypatch.setattr(batch, "fetch", lambda tag: str(FIXTURES / "swin_official_tiny.pth"))
    monkeypatch.setattr(batch, "convert", lambda src, model_name: real_convert(src))
    assert batch.main([str(tmp_path), "--tags", "scratch_swin_t.ms_in1k"]) == 0
    repo = tmp_path / "scratch_swin_t.ms_in1k"
    report = json.loads((repo / "conversion_report.json").read_text())
    assert report["tag"] == "scratch_swin_t.ms_in1k"
    data = load_file(FIXTURES / "swin_official_tiny.safetensors")
    model = timm.create_model(f"local-dir:{repo}", pretrained=True).eval()
    with torch.no_grad():
        assert (model(data["pixel_values"]) - data["logits"]).abs().max().item() <= 1e-4


def test_batch_converter_lists_registered_tags():
    tags = batch.official_tags("scratch_swin_b_384.*")
    assert "scratch_swin_b_384.ms_in22k_ft_in1k" in tags and all(t.startswith("scratch_swin_b_384.") for t in tags)


def test_hub_id_source_converts_from_the_hf_cache_offline(tmp_path):
    """A Hub id resolves through huggingface_hub (here: its cache, HF_HUB_OFFLINE=1)."""
    import os

    import transformers

    native = transformers.SwinForImageClassification(
        transformers.SwinConfig(embed_dim=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], num_labels=3)
    )
    commit = "0" * 40
    snapshot = tmp_path / "hub" / "models--microsoft--swin-test" / "snapshots" / commit
    native.save_pretrained(snapshot)
    (tmp_path / "hub" / "models--microsoft--swin-test" / "refs").mkdir()
    (tmp_path / "hub" / "models--microsoft--swin-test" / "refs" / "main").write_text(commit)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "conversion", "microsoft/swin-test", str(tmp_path / "out")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "conversion_report.json").read_text())
    assert report["source"] == "microsoft/swin-test" and report["source_format"] == "transformers"
    assert report["parity"]["max_abs_diff"] <= 1e-4
    missing = subprocess.run([sys.executable, "-m", "conversion", "microsoft/not-cached", str(tmp_path / "out2")],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "not cached" in missing.stderr
