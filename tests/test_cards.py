"""Specification of the model cards (swin_hub.hub.cards, templates in model_cards/): what a Hub
user reads must be true.

Every python block of a rendered card is run, as written, in a fresh process (HF_HUB_OFFLINE=1)
against the local repo folder the card describes. The published snippets name the Hub repo;
before `swin-hub push` that is the placeholder ORG/NAME, so the tests substitute it the way a
user with a local copy would: `hf-hub:ORG/NAME` -> `local-dir:<folder>` (timm) and `"ORG/NAME"`
-> `"<folder>"` (transformers). The snippets open `image.jpg`; the tests put one in the
working directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
from huggingface_hub import ModelCard
from PIL import Image

from helpers import FIXTURES
import swin_hub  # noqa: F401  (registers the scratch_* models)
from swin_hub.convert.checkpoint import convert
from swin_hub.hub.repo import write_repo
from swin_hub.hub.cards import PLACEHOLDER, finetuned_card
from swin_hub.hub.repo import save_repo

TINY = {"img_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2], "window_size": 4,
        "drop_path_rate": 0.0}
LABELS = ["cat", "dog", "fox"]


def snippets(card: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", card, re.S)


def localize(code: str, folder: Path) -> str:
    """The published snippet pointed at the local folder instead of the Hub repo."""
    return code.replace(f"hf-hub:{PLACEHOLDER}", f"local-dir:{folder}").replace(f'"{PLACEHOLDER}"', f'"{folder}"')


def run_snippet(code: str, cwd: Path, without_swin_hub: bool = False) -> subprocess.CompletedProcess:
    """A snippet in a fresh offline Python; `without_swin_hub` makes `import swin_hub` fail as if not installed."""
    prelude = "import sys; sys.modules['swin_hub'] = None\n" if without_swin_hub else ""
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(cwd / "image.jpg")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(cwd / "hf-home")}
    return subprocess.run([sys.executable, "-c", prelude + code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """The official Swin fixture (10 classes, a custom 24-wide Swin) converted with a new 4-class head."""
    return write_repo(convert(FIXTURES / "swin_official_tiny.pth", num_classes=4), tmp_path_factory.mktemp("conv") / "repo")


@pytest.fixture(scope="module")
def converted_same_head(tmp_path_factory) -> Path:
    return write_repo(convert(FIXTURES / "vit_official_tiny.npz"), tmp_path_factory.mktemp("conv") / "vit-repo")


TRAINING_ARGS = {  # what swin_hub.train writes to training_args.json (less paths and tokens)
    "model_name_or_path": "scratch_swin_t", "model_kwargs": TINY, "pretrained": False, "freeze_backbone": False,
    "dataset_name": "/home/someone/private/pets", "train_dir": None, "max_train_samples": None, "crop_scale_min": 0.08,
    "hflip": 0.5, "color_jitter": 0.0, "auto_augment": "rand-m9-mstd0.5", "mixup": 0.0, "cutmix": 0.0,
    "label_smoothing": 0.0, "optimizer": "adamw", "learning_rate": 5e-05, "weight_decay": 0.0, "num_warmup_steps": 0,
    "num_train_epochs": 2, "per_device_train_batch_size": 16, "seed": 0, "output_dir": "/home/someone/runs/pets-swin",
    "hub_token": "hf_secret", "push_to_hub": False,
}
RESULTS = {"eval_accuracy": 0.5, "eval_top5_accuracy": 1.0, "eval_f1_macro": 0.4, "eval_samples": 12,
           "eval_per_class": {n: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4} for n in LABELS},
           "best_epoch": 1, "epochs": 2, "train_steps": 4, "train_runtime_seconds": 3.0, "num_processes": 1,
           "dataset": "/home/someone/private/pets"}


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory) -> Path:
    """A fine-tuned repo folder: a 2-stage custom Swin with 3 labels and the card training writes."""
    model = timm.create_model("scratch_swin_t", num_classes=len(LABELS), **TINY)
    folder = save_repo(model, tmp_path_factory.mktemp("ft") / "pets-swin", id2label=LABELS)
    config = json.loads((folder / "config.json").read_text())
    card = finetuned_card(RESULTS, TRAINING_ARGS, config, None, sum(p.numel() for p in model.parameters()), [])
    (folder / "README.md").write_text(str(card))
    return folder


CARDS = ["converted", "converted_same_head", "finetuned"]


# 1. every snippet runs, and the with / without swin_hub claims are true -----------------------------
@pytest.mark.parametrize("kind", CARDS)
def test_timm_snippet_runs_as_published(kind, request, tmp_path):
    folder = request.getfixturevalue(kind)
    code = next(s for s in snippets((folder / "README.md").read_text()) if "timm.create_model" in s)
    proc = run_snippet(localize(code, folder) + "\nprint('SHAPE', tuple(output.shape))", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    classes = json.loads((folder / "config.json").read_text())["num_classes"]
    assert f"SHAPE (1, {classes})" in proc.stdout


@pytest.mark.parametrize("kind", CARDS)
def test_timm_snippet_needs_its_import_swin_hub_as_the_card_says(kind, request, tmp_path):
    folder = request.getfixturevalue(kind)
    card = (folder / "README.md").read_text()
    assert "pip install swin-hub" in card and "timm itself does not know" in " ".join(card.split())
    code = next(s for s in snippets(card) if "timm.create_model" in s)
    proc = run_snippet(localize(code.replace("import swin_hub", "pass"), folder), tmp_path)
    assert proc.returncode != 0 and "Unknown model" in proc.stderr


@pytest.mark.parametrize("kind", CARDS)
def test_transformers_snippet_runs_without_swin_hub_installed(kind, request, tmp_path):
    folder = request.getfixturevalue(kind)
    code = next(s for s in snippets((folder / "README.md").read_text()) if "transformers" in s)
    proc = run_snippet(localize(code, folder), tmp_path, without_swin_hub=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'label'" in proc.stdout and "'score'" in proc.stdout


@pytest.mark.parametrize("kind", CARDS)
def test_transformers_snippet_needs_no_trust_remote_code_with_swin_hub_imported(kind, request, tmp_path):
    folder = request.getfixturevalue(kind)
    code = next(s for s in snippets((folder / "README.md").read_text()) if "transformers" in s)
    assert "trust_remote_code is not needed" in (folder / "README.md").read_text().replace("`", "")
    code = "import swin_hub\n" + code.replace(", trust_remote_code=True", "")
    proc = run_snippet(localize(code, folder), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]


# 2. the converted card ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["converted", "converted_same_head"])
def test_converted_card_and_report_name_the_source_file_never_a_local_path(kind, request):
    folder = request.getfixturevalue(kind)
    for name in ("README.md", "config.json", "conversion_report.json"):
        text = (folder / name).read_text()
        assert str(FIXTURES) not in text and str(FIXTURES.parent) not in text, name
    stem = "swin_official_tiny" if kind == "converted" else "vit_official_tiny"
    assert f"`{stem}." in (folder / "README.md").read_text()


def test_converted_card_names_a_custom_architecture_honestly(converted):
    card = ModelCard.load(converted / "README.md").text
    title = card.strip().splitlines()[0]
    assert title.startswith("# ") and title not in ("# swin", "# vit") and "swin_official_tiny" in title
    assert re.search(r"^\| architecture \| custom Swin \(4 stages\), 1\.\dM parameters \|$", card, re.M), card
    assert re.search(r"^\| embed_dim \| 24 \| 96 \|$", card, re.M) and re.search(r"^\| num_heads \| \[1, 2, 4, 8\] \|", card, re.M)


def test_converted_card_with_a_new_head_says_the_head_is_random_not_the_sources(converted):
    card = ModelCard.load(converted / "README.md").text
    assert "new and randomly initialised" in card and "the source had 10 classes" in card
    assert "classes of the source" not in card and "changes no value" not in card
    assert "before the new head replaced the source's" in card


def test_converted_card_parity_is_a_sentence_with_the_measured_difference(converted_same_head):
    card = ModelCard.load(converted_same_head / "README.md").text
    report = json.loads((converted_same_head / "conversion_report.json").read_text())
    sentence = next(line for line in card.splitlines() if line.startswith("On a fixed random batch"))
    assert f"{report['parity']['max_abs_diff']:.2e}" in sentence and sentence.endswith(".")
    assert "over the 10 classes of the source checkpoint" in card.replace("\n", " ")


# 3. the fine-tuned card ---------------------------------------------------------------------------
def test_finetuned_card_does_not_call_a_custom_model_by_a_registered_name(finetuned):
    card = ModelCard.load(finetuned / "README.md").text
    assert "custom Swin, 2 stages" in card.replace("\n", " ")
    assert "`scratch_swin_t` (" not in card
    for row in ("| depths | [1, 1] | [2, 2, 6, 2] |", "| embed_dim | 16 | 96 |", "| window_size | 4 | 7 |"):
        assert row in card, row


def test_finetuned_card_lists_every_hyperparameter_including_zeros_and_augmentation(finetuned):
    card = ModelCard.load(finetuned / "README.md").text
    for row in ("| seed | 0 |", "| weight_decay | 0.0 |", "| num_warmup_steps | 0 |", "| mixup | 0.0 |",
                "| color_jitter | 0.0 |", "| hflip | 0.5 |", "| auto_augment | rand-m9-mstd0.5 |", "| crop_scale_min | 0.08 |"):
        assert row in card, row


def test_finetuned_card_publishes_no_local_path_or_token(finetuned):
    card = (finetuned / "README.md").read_text()
    assert "/home/someone" not in card and "hf_secret" not in card
    assert "| dataset_name | pets |" in card


def test_finetuned_card_reports_no_top5_for_five_classes_or_fewer(finetuned):
    card = ModelCard.load(finetuned / "README.md")
    assert "top-5" not in card.text.split("### Per class")[0].replace("Top-5 accuracy is not reported", "")
    assert "top_k_accuracy" not in json.dumps(card.data.to_dict())


def test_finetuned_card_reports_top5_for_more_than_five_classes(finetuned):
    config = json.loads((finetuned / "config.json").read_text())
    config["label_names"] = [f"c{i}" for i in range(6)]
    card = finetuned_card(RESULTS, TRAINING_ARGS, config, None, 1000, [])
    assert "| top-5 accuracy | 1.0000 |" in card.text


def test_config_of_a_custom_model_says_it_is_not_the_registered_name_it_is_built_from(finetuned, converted):
    for folder in (finetuned, converted):
        config = json.loads((folder / "config.json").read_text())
        assert config["architecture"] == "scratch_swin_t"  # what timm builds it from (with model_args)
        assert config["pretrained_cfg"]["description"].startswith("custom Swin, not the registered scratch_swin_t")


@pytest.fixture(scope="module")
def converted_headless(tmp_path_factory) -> Path:
    """The official Swin fixture converted without its head (--num-classes 0): a feature extractor."""
    return write_repo(convert(FIXTURES / "swin_official_tiny.pth", num_classes=0, check=False),
                      tmp_path_factory.mktemp("conv") / "headless")


def test_headless_card_snippets_run_as_published(converted_headless, tmp_path):
    card = (converted_headless / "README.md").read_text()
    assert "pipeline(" not in card and "none (a backbone without head)" in card
    timm_code, transformers_code = snippets(card)
    proc = run_snippet(localize(timm_code, converted_headless) + "\nprint('SHAPE', tuple(output.shape))", tmp_path)
    assert proc.returncode == 0 and "SHAPE (1, 192)" in proc.stdout, proc.stderr[-3000:]
    proc = run_snippet(localize(transformers_code, converted_headless) + "\nprint('SHAPE', tuple(features.shape))", tmp_path,
                       without_swin_hub=True)
    assert proc.returncode == 0 and "SHAPE (1, 192)" in proc.stdout, proc.stderr[-3000:]
