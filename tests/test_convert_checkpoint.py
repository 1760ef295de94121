"""Specification of `swin-hub convert` (swin_hub.convert.checkpoint and its command line).

Any supported Swin / ViT checkpoint becomes a repo folder that timm (`local-dir:`) and
transformers (`AutoModelForImageClassification`) load with the logits of the SOURCE model:

- the official oracle fixtures (Microsoft `.pth`, Google `.npz`) against their official logits;
- full-size, randomly initialised and perturbed models saved by timm (`torch.save` / safetensors)
  and transformers (`save_pretrained` folder, and its lone `model.safetensors`), against the
  in-memory source model;
- swin-hub's own repo folders (converted again);

plus the conversion report, the model card, `--model` / `--num-classes` overrides, labels,
refusals of bad input (a ConversionError, or exit code 2 and one line on stderr) and the
guarantee that a failed conversion writes nothing. Max abs diffs are recorded as junit properties.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file
from transformers import AutoModelForImageClassification, PreTrainedModel
from transformers import SwinConfig as HFSwinConfig
from transformers import SwinForImageClassification, ViTForImageClassification
from transformers import ViTConfig as HFViTConfig

import swin_hub  # noqa: F401  (registers the scratch_* models with timm and the Auto classes)
import swin_hub.cli
from swin_hub.convert import checkpoint
from swin_hub.convert.checkpoint import ConversionError, convert
from swin_hub.hub.repo import write_repo

from helpers import FIXTURES, perturb_

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-4
HF_LABELS = {i: f"hf-class-{i}" for i in range(1000)}  # a transformers folder's own labels


# --- helpers ----------------------------------------------------------------------------------
@dataclass
class Source:
    """A checkpoint on disk and what the model that wrote it outputs."""

    path: Path  # what convert() / the command line is given
    x: torch.Tensor  # input at the source model's resolution
    logits: torch.Tensor  # the source model's own output on x
    features: torch.Tensor | None = None  # its pooled pre-logits features on x (timm sources)


def images(size: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def timm_source(name: str, seed: int, size: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A timm model at random init, every parameter perturbed; (model, x, logits, pre-logits)."""
    torch.manual_seed(seed)
    model = perturb_(timm.create_model(name, pretrained=False), seed).eval()
    x = images(size, seed=seed)
    with torch.no_grad():
        tokens = model.forward_features(x)
        features, logits = model.forward_head(tokens, pre_logits=True), model.forward_head(tokens)
    return model, x, logits, features


def oracle(stem: str, suffix: str) -> dict[str, Source]:
    data = load_file(FIXTURES / f"{stem}.safetensors")
    return {suffix: Source(FIXTURES / f"{stem}{suffix}", data["pixel_values"], data["logits"])}


def timm_local_dir(repo: Path) -> torch.nn.Module:
    return timm.create_model(f"local-dir:{repo}", pretrained=True).eval()


def transformers_auto(repo: Path) -> torch.nn.Module:
    return AutoModelForImageClassification.from_pretrained(repo).eval()


def logits_of(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        if isinstance(model, PreTrainedModel):
            return model(pixel_values=x).logits
        return model(x)


def read_report(repo: Path) -> dict:
    return json.loads((repo / "conversion_report.json").read_text())


def cli(*argv: str) -> int:
    """`swin-hub convert ...` in this process; the exit code (0 when main returns)."""
    try:
        swin_hub.cli.main(["convert", *argv])
    except SystemExit as e:
        return e.code
    return 0


def official_bicubic(table: torch.Tensor, window: int) -> torch.Tensor:
    """The official Swin recipe (utils.load_pretrained) for a bias table at another window."""
    side, heads = int(table.shape[0] ** 0.5), table.shape[1]
    grid = table.T.reshape(1, heads, side, side)
    grid = F.interpolate(grid, size=(2 * window - 1, 2 * window - 1), mode="bicubic")
    return grid.reshape(heads, -1).T


# --- sources (module scope: each full-size model is built and saved once) --------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sources")


@pytest.fixture(scope="module")
def official_swin() -> dict[str, Source]:
    return oracle("swin_official_tiny", ".pth")


@pytest.fixture(scope="module")
def google_vit() -> dict[str, Source]:
    return oracle("vit_official_tiny", ".npz")


@pytest.fixture(scope="module")
def timm_swin_t(workdir) -> dict[str, Source]:
    model, x, logits, features = timm_source("swin_tiny_patch4_window7_224", seed=1, size=224)
    sd = model.state_dict()
    torch.save(sd, workdir / "timm_swin_t.pth")
    save_file(sd, workdir / "timm_swin_t.safetensors")
    return {s: Source(workdir / f"timm_swin_t{s}", x, logits, features) for s in (".pth", ".safetensors")}


@pytest.fixture(scope="module")
def timm_swin_b_384(workdir) -> dict[str, Source]:
    model, x, logits, features = timm_source("swin_base_patch4_window12_384", seed=2, size=384)
    torch.save(model.state_dict(), workdir / "timm_swin_b_384.pth")
    return {".pth": Source(workdir / "timm_swin_b_384.pth", x, logits, features)}


@pytest.fixture(scope="module")
def timm_swin_b_window7(workdir) -> Path:
    torch.manual_seed(3)
    model = perturb_(timm.create_model("swin_base_patch4_window7_224", pretrained=False), 3)
    torch.save(model.state_dict(), workdir / "timm_swin_b_window7.pth")
    return workdir / "timm_swin_b_window7.pth"


@pytest.fixture(scope="module")
def timm_vit_b(workdir) -> dict[str, Source]:
    model, x, logits, features = timm_source("vit_base_patch16_224", seed=4, size=224)
    save_file(model.state_dict(), workdir / "timm_vit_b.safetensors")
    return {".safetensors": Source(workdir / "timm_vit_b.safetensors", x, logits, features)}


def transformers_source(cls, config, folder: Path, seed: int) -> dict[str, Source]:
    """save_pretrained folder of a perturbed transformers model; 'folder' and its 'model.safetensors'."""
    torch.manual_seed(seed)
    model = perturb_(cls(config), seed).eval()
    x = images(config.image_size, seed=seed)
    with torch.no_grad():
        logits = model(pixel_values=x).logits
    model.save_pretrained(folder)
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    lone = folder.parent / f"{folder.name}-lone"  # the weights file alone: no config.json beside it
    lone.mkdir()
    os.link(folder / "model.safetensors", lone / "model.safetensors")
    return {"folder": Source(folder, x, logits), "file": Source(lone / "model.safetensors", x, logits)}


@pytest.fixture(scope="module")
def hf_swin_t(workdir) -> dict[str, Source]:
    config = HFSwinConfig(id2label=HF_LABELS)  # transformers' defaults are Swin-T / 224 / window 7
    return transformers_source(SwinForImageClassification, config, workdir / "hf_swin_t", seed=5)


@pytest.fixture(scope="module")
def hf_swin_b_384(workdir) -> dict[str, Source]:
    config = HFSwinConfig(image_size=384, embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=12,
                          id2label=HF_LABELS)
    return transformers_source(SwinForImageClassification, config, workdir / "hf_swin_b_384", seed=8)


@pytest.fixture(scope="module")
def hf_vit_b(workdir) -> dict[str, Source]:
    config = HFViTConfig(id2label=HF_LABELS)  # ViT-B/16 / 224, exact GELU, layer_norm_eps 1e-12
    return transformers_source(ViTForImageClassification, config, workdir / "hf_vit_b", seed=6)


@pytest.fixture(scope="module")
def swin_hub_repos(workdir, official_swin, google_vit) -> dict[str, Source]:
    """swin-hub's own repo folders (the official fixtures converted once) as sources."""
    out = {}
    for name, source in (("swin", official_swin[".pth"]), ("vit", google_vit[".npz"])):
        repo = write_repo(convert(source.path), workdir / f"swin_hub_{name}")
        out[name] = Source(repo, source.x, source.logits)
    return out


# --- every source, converted and written once ------------------------------------------------
@dataclass
class Case:
    source: tuple[str, str]  # (fixture, variant)
    family: str
    source_format: str
    architecture: str | None  # the registered name the shapes match
    inferred: dict  # fields of the report's inferred_config
    reference: str | None  # regex for the parity reference; None: nothing independent to compare
    labels: str | None  # 'imagenet', 'own' (the source folder's id2label) or None


SWIN_T = dict(embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7)
SWIN_B_384 = dict(embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=12, img_size=[384, 384])
SWIN_FIXTURE = dict(embed_dim=24, depths=[2, 2, 6, 2], num_heads=[1, 2, 4, 8], window_size=7)
VIT_B = dict(embed_dim=768, depth=12)
TIMM_SWIN = r"^timm\.models\.swin_transformer\.SwinTransformer$"

CASES = {
    "official_swin_pth": Case(("official_swin", ".pth"), "swin", "official", None, SWIN_FIXTURE, TIMM_SWIN, None),
    "google_vit_npz": Case(("google_vit", ".npz"), "vit", "google_npz", None, dict(embed_dim=48, depth=2, num_heads=3),
                           r"^timm .*npz", None),
    "timm_swin_t_pth": Case(("timm_swin_t", ".pth"), "swin", "timm", "scratch_swin_t", SWIN_T, TIMM_SWIN, "imagenet"),
    "timm_swin_t_safetensors": Case(("timm_swin_t", ".safetensors"), "swin", "timm", "scratch_swin_t", SWIN_T, TIMM_SWIN,
                                    "imagenet"),
    "timm_swin_b_384_pth": Case(("timm_swin_b_384", ".pth"), "swin", "timm", "scratch_swin_b_384", SWIN_B_384, TIMM_SWIN,
                                "imagenet"),
    "timm_vit_b_safetensors": Case(("timm_vit_b", ".safetensors"), "vit", "timm", "scratch_vit_b", VIT_B,
                                   r"^timm\.models\.vision_transformer\.VisionTransformer$", "imagenet"),
    "hf_swin_t_folder": Case(("hf_swin_t", "folder"), "swin", "transformers", "scratch_swin_t", SWIN_T,
                             r"^transformers\.SwinForImageClassification$", "own"),
    "hf_swin_b_384_folder": Case(("hf_swin_b_384", "folder"), "swin", "transformers", "scratch_swin_b_384", SWIN_B_384,
                                 r"^transformers\.SwinForImageClassification$", "own"),
    "hf_vit_b_folder": Case(("hf_vit_b", "folder"), "vit", "transformers", "scratch_vit_b", VIT_B,
                            r"^transformers\.ViTForImageClassification$", "own"),
    "hf_vit_b_lone_safetensors": Case(("hf_vit_b", "file"), "vit", "transformers", "scratch_vit_b", VIT_B,
                                      r"^transformers\.ViTForImageClassification$", "imagenet"),
    # swin-hub repos of the 10-class fixtures: transformers' LABEL_i placeholders are not labels
    "swin_hub_swin_repo": Case(("swin_hub_repos", "swin"), "swin", "swin_hub", None, SWIN_FIXTURE, None, None),
    "swin_hub_vit_repo": Case(("swin_hub_repos", "vit"), "vit", "swin_hub", None, dict(embed_dim=48, depth=2), None, None),
}


@dataclass
class Result:
    case: Case
    source: Source
    converted: checkpoint.Converted
    repo: Path


@pytest.fixture(scope="module", params=list(CASES))
def result(request, tmp_path_factory) -> Result:
    case = CASES[request.param]
    source = request.getfixturevalue(case.source[0])[case.source[1]]
    converted = convert(source.path)
    repo = write_repo(converted, tmp_path_factory.mktemp(request.param) / "repo")
    return Result(case, source, converted, repo)


# 1-2. parity: the converted model, and the folder in timm and in transformers ---------------------
@pytest.mark.parametrize("name", ["official_swin", "google_vit"])
def test_convert_of_official_fixture_gives_the_official_logits(name, request, record_property):
    source = next(iter(request.getfixturevalue(name).values()))
    converted = convert(source.path)
    diff = max_abs_diff(logits_of(converted.model, source.x), source.logits)
    record_property("max_abs_diff", diff)
    assert diff <= TOL


def test_repo_loads_in_timm_local_dir_with_the_source_logits(result, record_property):
    diff = max_abs_diff(logits_of(timm_local_dir(result.repo), result.source.x), result.source.logits)
    record_property("max_abs_diff", diff)
    assert diff <= TOL


def test_repo_loads_in_transformers_auto_class_with_the_source_logits(result, record_property):
    model = transformers_auto(result.repo)
    assert type(model).__module__.startswith("swin_hub"), type(model)
    diff = max_abs_diff(logits_of(model, result.source.x), result.source.logits)
    record_property("max_abs_diff", diff)
    assert diff <= TOL


@pytest.mark.parametrize("name", ["official_swin", "google_vit"])
def test_cli_converts_official_fixture_into_a_folder_timm_and_transformers_load(name, request, tmp_path, record_property):
    source = next(iter(request.getfixturevalue(name).values()))
    out = tmp_path / "repo"
    assert cli(str(source.path), str(out)) == 0
    timm_diff = max_abs_diff(logits_of(timm_local_dir(out), source.x), source.logits)
    hf_diff = max_abs_diff(logits_of(transformers_auto(out), source.x), source.logits)
    record_property("max_abs_diff", max(timm_diff, hf_diff))
    assert timm_diff <= TOL and hf_diff <= TOL


def test_python_m_conversion_writes_a_folder_with_the_official_logits(google_vit, tmp_path):
    source = google_vit[".npz"]
    out = tmp_path / "repo"
    run = subprocess.run([sys.executable, "-m", "conversion", str(source.path), str(out)], cwd=ROOT,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "google_npz" in run.stdout and "max abs diff" in run.stdout
    assert max_abs_diff(logits_of(timm_local_dir(out), source.x), source.logits) <= TOL


DIRECT = {  # source -> (registered name, the kwargs its architecture needs)
    "official_swin_pth": (("official_swin", ".pth"), "scratch_swin_t",
                          dict(embed_dim=24, depths=(2, 2, 6, 2), num_heads=(1, 2, 4, 8), num_classes=10)),
    "google_vit_npz": (("google_vit", ".npz"), "scratch_vit_s",  # Google's tanh GELU and eps 1e-6: the defaults
                       dict(embed_dim=48, depth=2, num_heads=3, mlp_ratio=2.0, num_classes=10)),
    "timm_swin_t_pth": (("timm_swin_t", ".pth"), "scratch_swin_t", {}),
    "hf_swin_t_model_safetensors": (("hf_swin_t", "file"), "scratch_swin_t", {}),
    "hf_vit_b_model_safetensors": (("hf_vit_b", "file"), "scratch_vit_b", dict(act_layer="gelu", norm_eps=1e-12)),
}


@pytest.mark.parametrize("case", list(DIRECT))
def test_timm_create_model_pretrained_file_overlay_loads_each_source_file(case, request, record_property):
    (fixture, variant), name, kwargs = DIRECT[case]
    source = request.getfixturevalue(fixture)[variant]
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(source.path)), **kwargs).eval()
    diff = max_abs_diff(logits_of(model, source.x), source.logits)
    record_property("max_abs_diff", diff)
    assert diff <= TOL


# 3. the report ---------------------------------------------------------------------------------
def test_report_names_source_format_family_and_registered_architecture(result):
    report = read_report(result.repo)
    assert report["source_format"] == result.case.source_format == result.converted.source_format
    assert report["family"] == result.case.family == result.converted.family
    assert report["architecture"] == result.case.architecture


def test_report_holds_the_architecture_inferred_from_the_shapes(result):
    inferred = read_report(result.repo)["inferred_config"]
    assert {k: inferred[k] for k in result.case.inferred} == result.case.inferred


def test_report_records_parity_against_the_source_library_within_tolerance(result):
    parity = read_report(result.repo)["parity"]
    if result.case.reference is None:  # a swin-hub source: nothing independent to compare with
        assert parity["max_abs_diff"] is None and parity["reference"] == "swin-hub"
        return
    assert re.search(result.case.reference, parity["reference"]), parity["reference"]
    assert parity["max_abs_diff"] is not None and 0 <= parity["max_abs_diff"] <= TOL
    assert parity["tolerance"] == TOL


def test_report_lists_no_missing_or_unexpected_keys(result):
    report = read_report(result.repo)
    assert report["missing_keys"] == [] and report["unexpected_keys"] == []
    assert report["head_replaced"] is False and report["resized"] is False


# 4. the model card -----------------------------------------------------------------------------
def test_model_card_metadata_license_pipeline_and_tags(result):
    card = ModelCard.load(result.repo / "README.md")
    assert card.data.license == ("mit" if result.case.family == "swin" else "apache-2.0")
    assert card.data.pipeline_tag == "image-classification"
    assert {"timm", "transformers"} <= set(card.data.tags)


def test_model_card_states_the_measured_parity_of_the_report(result):
    card = ModelCard.load(result.repo / "README.md")
    parity = read_report(result.repo)["parity"]
    row = re.search(rf"^\| {re.escape(parity['reference'])} \|.*\| ([^|]+) \| {parity['tolerance']} \|$", card.text, re.M)
    assert row, card.text
    if parity["max_abs_diff"] is None:
        assert row.group(1).strip() == "not measured"
    else:
        assert float(row.group(1)) == pytest.approx(parity["max_abs_diff"], rel=1e-2, abs=1e-12)


# 7. labels -------------------------------------------------------------------------------------
def test_labels_come_from_the_source_folder_or_imagenet(result):
    labels = result.converted.labels
    id2label = json.loads((result.repo / "config.json").read_text()).get("id2label")
    if result.case.labels is None:  # 10-class official fixtures: no labels are invented
        assert labels is None and read_report(result.repo)["labels"] is None
    elif result.case.labels == "own":  # the source folder's config.json id2label, in index order
        own = json.loads((result.source.path / "config.json").read_text())["id2label"]
        assert labels == [own[str(i)] for i in range(len(own))] and id2label == own
        assert read_report(result.repo)["labels"] == "from source"
    else:
        assert len(labels) == 1000 and "tench" in labels[0]
        assert "tench" in id2label["0"] and read_report(result.repo)["labels"] == "ImageNet"


def test_transformers_folder_keeps_its_own_id2label(hf_swin_t):
    converted = convert(hf_swin_t["folder"].path, check=False)
    assert converted.labels[0] == "hf-class-0" and converted.labels[999] == "hf-class-999"


def test_transformers_loads_the_imagenet_labels_of_a_1000_class_source(timm_swin_t, tmp_path):
    repo = write_repo(convert(timm_swin_t[".pth"].path, check=False), tmp_path / "repo")
    assert "tench" in transformers_auto(repo).config.id2label[0]


# 5. --model ------------------------------------------------------------------------------------
def test_model_name_of_another_architecture_is_refused_listing_the_inferred_shapes(timm_swin_t):
    with pytest.raises(ConversionError) as error:
        convert(timm_swin_t[".pth"].path, model_name="scratch_swin_b", check=False)
    message = str(error.value)
    assert "scratch_swin_b" in message and "embed_dim=96" in message
    assert re.search(r"depths=[(\[]2, 2, 6, 2[)\]]", message), message


def test_unregistered_model_name_is_refused_listing_the_choices(timm_swin_t):
    with pytest.raises(ConversionError, match=r"not a registered swin model.*scratch_swin_t"):
        convert(timm_swin_t[".pth"].path, model_name="scratch_swin_x", check=False)


def test_model_name_matching_the_checkpoint_is_accepted(timm_swin_t):
    source = timm_swin_t[".pth"]
    converted = convert(source.path, model_name="scratch_swin_t")
    assert converted.report["architecture"] == "scratch_swin_t" and converted.report["resized"] is False
    assert max_abs_diff(logits_of(converted.model, source.x), source.logits) <= TOL


@pytest.fixture(scope="module")
def swin_b_window12(timm_swin_b_window7) -> checkpoint.Converted:
    """A timm Swin-B window-7 / 224 checkpoint converted into scratch_swin_b_384 (window 12)."""
    return convert(timm_swin_b_window7, model_name="scratch_swin_b_384")


def test_window7_checkpoint_into_scratch_swin_b_384_reports_the_new_architecture(swin_b_window12):
    report = swin_b_window12.report
    assert report["architecture"] == "scratch_swin_b_384" and report["resized"] is True
    assert report["inferred_config"]["window_size"] == 7 and report["inferred_config"]["img_size"] == [224, 224]
    assert report["config"]["window_size"] == 12 and report["config"]["img_size"] == [384, 384]
    assert swin_b_window12.model.cfg.window_size == 12


def test_window7_checkpoint_into_window12_interpolates_bias_tables_like_the_official_code(swin_b_window12, timm_swin_b_window7):
    source = torch.load(timm_swin_b_window7, map_location="cpu", weights_only=True)
    tables = {k: v for k, v in swin_b_window12.model.state_dict().items() if k.endswith("relative_position_bias_table")}
    assert len(tables) == sum((2, 2, 18, 2))
    for key, table in tables.items():
        assert table.shape == (23 * 23, source[key].shape[1]), key
        assert max_abs_diff(table, official_bicubic(source[key], 12)) <= 1e-5, key


def test_window7_checkpoint_into_window12_measures_parity_at_the_source_window(swin_b_window12):
    """The reference (timm) exists only at the checkpoint's own window: parity is measured there,
    before interpolation, and the report says so."""
    parity = swin_b_window12.report["parity"]
    assert parity["input"] == [2, 3, 224, 224]
    assert parity["max_abs_diff"] is not None and parity["max_abs_diff"] <= TOL
    assert "before interpolating" in parity["note"]


# 6. --num-classes --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def new_head(timm_swin_t) -> checkpoint.Converted:
    return convert(timm_swin_t[".pth"].path, num_classes=7)


def test_num_classes_override_warns_that_the_new_head_is_untrained(timm_swin_t, caplog):
    with caplog.at_level(logging.WARNING):
        convert(timm_swin_t[".pth"].path, num_classes=7, check=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("7 classes" in m and "1000" in m for m in warnings), warnings


def test_num_classes_override_builds_a_head_of_that_size_and_reports_it(new_head, timm_swin_t):
    converted = new_head
    assert logits_of(converted.model, timm_swin_t[".pth"].x).shape == (1, 7)
    assert converted.report["head_replaced"] is True and converted.report["num_classes"] == 7
    assert converted.labels is None  # ImageNet names would be wrong for a new head


def test_num_classes_override_keeps_the_source_backbone_features(new_head, timm_swin_t):
    converted = new_head
    source = timm_swin_t[".pth"]
    with torch.no_grad():
        features = converted.model.forward_head(converted.model.forward_features(source.x), pre_logits=True)
    assert max_abs_diff(features, source.features) <= TOL


# 8. bad input --------------------------------------------------------------------------------------
class Evil:
    """Unpickling this would run a shell command that creates `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def truncated(tmp_path: Path, fixture: str) -> Path:
    data = (FIXTURES / fixture).read_bytes()
    path = tmp_path / f"truncated-{fixture}"
    path.write_bytes(data[: len(data) // 2])
    return path


def unrelated_safetensors(tmp_path: Path) -> Path:
    path = tmp_path / "unrelated.safetensors"
    save_file({"encoder.embed.weight": torch.zeros(4, 4), "decoder.out.bias": torch.zeros(4)}, path)
    return path


def evil_pickle(tmp_path: Path) -> Path:
    path = tmp_path / "evil.pth"
    torch.save({"model": {"patch_embed.proj.weight": Evil(tmp_path / "MARKER")}}, path)
    return path


def empty_folder(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


BAD = {  # source maker, regexes its message must match
    "unknown_layout": (unrelated_safetensors, [r"not a Swin, Swin V2 or ViT checkpoint", r"encoder\.embed\.weight", r"decoder\.out\.bias"]),
    "truncated_pth": (lambda t: truncated(t, "swin_official_tiny.pth"), [r"truncated-swin_official_tiny\.pth", r"not a readable|unreadable"]),
    "truncated_safetensors": (lambda t: truncated(t, "swin_official_tiny.safetensors"), [r"truncated-swin_official_tiny\.safetensors", r"unreadable"]),
    "truncated_npz": (lambda t: truncated(t, "vit_official_tiny.npz"), [r"truncated-vit_official_tiny\.npz", r"not a readable|unreadable"]),
    "code_executing_pickle": (evil_pickle, [r"evil\.pth", r"refused"]),
    "nonexistent_path": (lambda t: t / "missing.pth", [r"missing\.pth", r"no such file"]),
    "folder_without_weights": (empty_folder, [r"empty", r"no weights file"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_source_is_a_conversion_error_naming_the_problem(case, tmp_path):
    make, patterns = BAD[case]
    with pytest.raises(ConversionError) as error:
        convert(make(tmp_path))
    for pattern in patterns:
        assert re.search(pattern, str(error.value)), (pattern, str(error.value))
    assert not (tmp_path / "MARKER").exists()  # no pickled code ran


@pytest.mark.parametrize("case", list(BAD))
def test_cli_exits_2_with_one_line_naming_the_problem_and_writes_nothing(case, tmp_path, capsys):
    make, patterns = BAD[case]
    src, out = make(tmp_path), tmp_path / "out"
    assert cli(str(src), str(out)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swin-hub convert: "), lines
    for pattern in patterns:
        assert re.search(pattern, lines[0]), (pattern, lines[0])
    assert not out.exists() and not (tmp_path / "MARKER").exists()


def test_code_executing_pickle_is_refused_in_a_fresh_python_m_conversion(tmp_path):
    src = evil_pickle(tmp_path)
    run = subprocess.run([sys.executable, "-m", "conversion", str(src), str(tmp_path / "out")], cwd=ROOT,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=600)
    assert run.returncode == 2, run.stderr[-3000:]
    assert len(run.stderr.strip().splitlines()) == 1 and "refused" in run.stderr
    assert not (tmp_path / "MARKER").exists() and not (tmp_path / "out").exists()


@pytest.fixture
def occupied(tmp_path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    return out


def test_cli_refuses_a_non_empty_out_without_force_and_leaves_it_untouched(official_swin, occupied, capsys):
    assert cli(str(official_swin[".pth"].path), str(occupied)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not empty" in err[0] and "--force" in err[0], err
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"] and (occupied / "keep.txt").read_text() == "mine"


def test_write_repo_refuses_a_non_empty_out_without_force(official_swin, occupied):
    converted = convert(official_swin[".pth"].path, check=False)
    with pytest.raises((ConversionError, FileExistsError), match="not empty"):
        write_repo(converted, occupied)
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]


def test_write_repo_with_force_replaces_a_non_empty_out(official_swin, occupied):
    source = official_swin[".pth"]
    write_repo(convert(source.path), occupied, force=True)
    assert not (occupied / "keep.txt").exists()
    assert (occupied / "conversion_report.json").is_file()
    assert max_abs_diff(logits_of(timm_local_dir(occupied), source.x), source.logits) <= TOL
    assert sorted(p.name for p in occupied.parent.iterdir()) == ["out"]  # no temp / old folders left


# 9. nothing half-written ---------------------------------------------------------------------------
@pytest.fixture
def shifted_reference(monkeypatch):
    """The reference implementation's output moved by 2x the tolerance: parity must fail."""
    real = checkpoint.reference_logits

    def shifted(*args, **kwargs):
        name, out, note = real(*args, **kwargs)
        return name, out + 2 * TOL, note

    monkeypatch.setattr(checkpoint, "reference_logits", shifted)


def test_parity_failure_is_a_conversion_error(official_swin, shifted_reference):
    with pytest.raises(ConversionError, match=r"parity check failed.*timm"):
        convert(official_swin[".pth"].path)


def test_parity_failure_leaves_no_output_folder(official_swin, shifted_reference, tmp_path, capsys):
    out = tmp_path / "parent" / "repo"
    assert cli(str(official_swin[".pth"].path), str(out)) == 2
    assert "parity check failed" in capsys.readouterr().err
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_no_check_skips_parity_and_the_card_says_not_measured(official_swin, tmp_path):
    out = tmp_path / "repo"
    assert cli(str(official_swin[".pth"].path), str(out), "--no-check") == 0
    assert read_report(out)["parity"] is None
    assert "not measured" in ModelCard.load(out / "README.md").text
