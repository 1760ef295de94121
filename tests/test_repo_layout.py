"""The swin-hub repo folder: one layout that timm, transformers (with and without swin_hub
importable) and `pipeline` load with the same numbers, plus the image processor that equals
timm's eval transform, atomic saving and clear errors on broken folders."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import timm
import torch
from sklearn.datasets import load_sample_images
from timm.data import create_transform, resolve_data_config
from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, SwinConfig, pipeline
from transformers import SwinForImageClassification

from swin_hub import (
    ScratchImageProcessor,
    ScratchSwinConfig,
    ScratchSwinForImageClassification,
    ScratchSwinModel,
    ScratchViTConfig,
    ScratchViTForImageClassification,
    save_repo,
    to_transformers,
)
from swin_hub.hf.modeling import repo_code_files

from helpers import perturb_

SWIN_SMALL = dict(embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))
VIT_SMALL = dict(embed_dim=64, depth=2, num_heads=4)
LABELS = ["cat", "dog", "fish", "bird", "frog"]


def photos() -> list[PIL.Image.Image]:
    """scikit-learn's two bundled photos, plus crops / modes that exercise the resize and crop rounding."""
    china, flower = (PIL.Image.fromarray(a) for a in load_sample_images().images)
    return [
        china,
        flower,
        china.crop((0, 0, 251, 248)),  # long edge 251 after resize: crop offset 13.5 rounds to 14 (torchvision)
        flower.crop((10, 20, 311, 217)),
        flower.resize((101, 333)),  # portrait
        china.convert("L"),
        flower.convert("RGBA"),
    ]


def timm_model(kind: str, **kwargs):
    name, arch = ("scratch_swin_t", SWIN_SMALL) if kind == "swin" else ("scratch_vit_s", VIT_SMALL)
    return perturb_(timm.create_model(name, **{**arch, "num_classes": len(LABELS), **kwargs}), seed=3).eval()


def saved_repo(kind: str, directory: Path, **kwargs) -> tuple[torch.nn.Module, Path]:
    model = timm_model(kind, **kwargs)
    return model, save_repo(model, directory / f"{kind}-repo", id2label=LABELS)


def pixels(seed: int = 0, size: int = 224) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


def run_python(code: str, *, env: dict | None = None, block_swin_hub: bool = False, cwd: Path | None = None) -> str:
    """Run `code` in a fresh interpreter; with block_swin_hub, `import swin_hub` fails there."""
    prelude = "import sys\nsys.modules['swin_hub'] = None\n" if block_swin_hub else ""
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


# 1. image processor == timm eval transform ------------------------------------------------------

DATA_CONFIGS = [
    dict(input_size=(3, 224, 224), crop_pct=0.9, interpolation="bicubic", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    dict(input_size=(3, 384, 384), crop_pct=1.0, interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3),
    dict(input_size=(3, 192, 256), crop_pct=0.875, interpolation="bilinear", mean=(0.5,) * 3, std=(0.5,) * 3),
    dict(input_size=(3, 224, 224), crop_pct=0.95, crop_mode="squash", interpolation="bicubic", mean=(0.5,) * 3, std=(0.5,) * 3),
    dict(input_size=(3, 224, 224), crop_pct=1.3, interpolation="lanczos", mean=(0.5,) * 3, std=(0.5,) * 3),
]


@pytest.mark.parametrize("pretrained_cfg", DATA_CONFIGS, ids=lambda c: f"{c['input_size'][1:]}-{c['crop_pct']}")
def test_image_processor_equals_timm_eval_transform_on_photos(pretrained_cfg):
    data_config = resolve_data_config(pretrained_cfg=pretrained_cfg, model=None)
    timm_transform = create_transform(**data_config, is_training=False)
    processor = ScratchImageProcessor.from_data_config(data_config)
    for image in photos():
        expected = timm_transform(image.convert("RGB"))
        got = processor(image, return_tensors="pt")["pixel_values"][0]
        assert got.shape == expected.shape, image.size
        assert (got - expected).abs().max().item() <= 1e-5, (image.size, image.mode)


def test_image_processor_batches_numpy_and_tensor_inputs_like_pil():
    processor = ScratchImageProcessor()
    image = photos()[0]
    from_pil = processor([image, image], return_tensors="pt")["pixel_values"]
    from_numpy = processor(np.asarray(image), return_tensors="pt")["pixel_values"]
    from_tensor = processor(torch.from_numpy(np.array(image)).permute(2, 0, 1), return_tensors="pt")["pixel_values"]
    assert from_pil.shape == (2, 3, 224, 224)
    assert torch.equal(from_numpy[0], from_pil[0]) and torch.equal(from_tensor[0], from_pil[0])


def test_image_processor_rejects_unknown_crop_mode_and_interpolation():
    with pytest.raises(ValueError, match="crop_mode"):
        ScratchImageProcessor(crop_mode="border")
    with pytest.raises(ValueError, match="interpolation 'random'"):
        ScratchImageProcessor.from_data_config(dict(input_size=(3, 224, 224), interpolation="random", mean=(0,) * 3, std=(1,) * 3))


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_saved_processor_equals_timm_transform_of_the_loaded_model(kind, tmp_path):
    """The processor transformers loads from the folder and the transform timm derives for the
    model it loads from the same folder give the same tensor."""
    _, repo = saved_repo(kind, tmp_path)
    processor = AutoImageProcessor.from_pretrained(repo)
    assert isinstance(processor, ScratchImageProcessor)
    model = timm.create_model(f"local-dir:{repo}", pretrained=True)
    transform = create_transform(**resolve_data_config(model=model), is_training=False)
    for image in photos()[:3]:
        got = processor(image, return_tensors="pt")["pixel_values"][0]
        assert (got - transform(image.convert("RGB"))).abs().max().item() <= 1e-5


def test_processor_follows_the_model_resolution_and_family_normalisation():
    swin384 = ScratchImageProcessor.from_data_config(ScratchSwinConfig(img_size=384, window_size=12).data_config())
    vit = ScratchImageProcessor.from_data_config(ScratchViTConfig().data_config())
    assert swin384.crop_size == {"height": 384, "width": 384} and swin384.crop_pct == 1.0
    assert list(vit.image_mean) == [0.5, 0.5, 0.5] and vit.crop_size == {"height": 224, "width": 224}


# 2. config.json for both libraries -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_config_json_carries_timm_and_transformers_fields(kind, tmp_path):
    model, repo = saved_repo(kind, tmp_path)
    config = json.loads((repo / "config.json").read_text())
    assert config["architecture"] == model.pretrained_cfg["architecture"]
    assert config["num_classes"] == len(LABELS) and config["label_names"] == LABELS
    assert "num_classes" not in config["model_args"]  # would collide with timm's own num_classes
    assert config["model_args"]["embed_dim"] == model.cfg.embed_dim
    assert config["pretrained_cfg"]["input_size"] == [3, 224, 224]
    assert config["pretrained_cfg"]["custom_load"] is False  # plain safetensors, not the official format
    assert not {"url", "file", "hf_hub_id"} & set(config["pretrained_cfg"])
    assert config["model_type"] == f"scratch_{kind}"
    assert config["id2label"] == {str(i): name for i, name in enumerate(LABELS)}
    assert config["architectures"] == [f"Scratch{'Swin' if kind == 'swin' else 'ViT'}ForImageClassification"]
    for entry in config["auto_map"].values():
        assert (repo / f"{entry.split('.')[0]}.py").is_file()
    assert (repo / "model.safetensors").is_file() and (repo / "preprocessor_config.json").is_file()


def test_repo_code_files_import_nothing_from_swin_hub():
    files = repo_code_files()
    assert {"modeling_swin_hub.py", "configuration_swin_hub.py", "image_processing_swin_hub.py"} <= set(files)
    for name, text in files.items():
        assert not re.findall(r"^\s*(?:from \.\.|from swin_hub|import swin_hub)", text, re.M), name


# 3. the four loading paths ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_timm_local_dir_loads_identical_logits_and_labels(kind, tmp_path):
    model, repo = saved_repo(kind, tmp_path)
    loaded = timm.create_model(f"local-dir:{repo}", pretrained=True).eval()
    x = pixels()
    with torch.no_grad():
        assert (loaded(x) - model(x)).abs().max().item() <= 1e-5
    assert loaded.pretrained_cfg["label_names"] == LABELS


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_auto_model_with_swin_hub_loads_identical_logits(kind, tmp_path):
    model, repo = saved_repo(kind, tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(repo).eval()
    assert type(loaded).__module__.startswith("swin_hub.")
    x = pixels()
    with torch.no_grad():
        assert (loaded(x).logits - model(x)).abs().max().item() <= 1e-5
    assert loaded.config.id2label[1] == "dog"


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_trust_remote_code_loads_without_swin_hub(kind, tmp_path):
    model, repo = saved_repo(kind, tmp_path)
    x = pixels()
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        torch.save(model(x), tmp_path / "ref.pt")
    out = run_python(
        f"""
        import torch
        from transformers import AutoModelForImageClassification, pipeline
        try:
            import swin_hub
            raise SystemExit("swin_hub importable")
        except ImportError:
            pass
        model = AutoModelForImageClassification.from_pretrained({str(repo)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        x, ref = torch.load({str(tmp_path / 'x.pt')!r}), torch.load({str(tmp_path / 'ref.pt')!r})
        with torch.no_grad():
            print("DIFF", (model(x).logits - ref).abs().max().item())
        import PIL.Image, numpy as np
        classify = pipeline("image-classification", model={str(repo)!r}, trust_remote_code=True)
        print("LABEL", classify(PIL.Image.fromarray(np.full((64, 80, 3), 128, np.uint8)))[0]["label"])
        """,
        env={"HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"},
        block_swin_hub=True,
        cwd=tmp_path,
    )
    diff = float(out.split("DIFF ")[1].split()[0])
    assert diff <= 1e-5
    assert out.split("LABEL ")[1].split()[0] in LABELS


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_pipeline_returns_label_names_and_model_scores(kind, tmp_path):
    model, repo = saved_repo(kind, tmp_path)
    classify = pipeline("image-classification", model=str(repo))
    image = photos()[0]
    results = classify(image, top_k=len(LABELS))
    assert sorted(r["label"] for r in results) == sorted(LABELS)
    pixel_values = create_transform(**resolve_data_config(model=model), is_training=False)(image)[None]
    with torch.no_grad():
        probs = model(pixel_values).softmax(-1)[0]
    for r in results:
        assert abs(r["score"] - probs[LABELS.index(r["label"])].item()) <= 1e-5


def _as_hf_cache(repo: Path, cache: Path, repo_id: str) -> None:
    """Lay `repo` out as huggingface_hub's cache would after a download of `repo_id`@main."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(repo, root / "snapshots" / commit)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)


@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_hub_ids_load_from_the_hf_cache_in_timm_and_transformers(kind, tmp_path):
    model, repo = saved_repo(kind, tmp_path)
    _as_hf_cache(repo, tmp_path / "hub", "swin-hub/test-model")
    x = pixels()
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        torch.save(model(x), tmp_path / "ref.pt")
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    check = f"""
        import torch, timm
        from transformers import AutoModelForImageClassification
        x, ref = torch.load({str(tmp_path / 'x.pt')!r}), torch.load({str(tmp_path / 'ref.pt')!r})
        {{imports}}
        with torch.no_grad():
            print("DIFF", (model(x){{logits}} - ref).abs().max().item())
        """
    out = run_python(
        check.format(
            imports="import swin_hub; model = timm.create_model('hf-hub:swin-hub/test-model', pretrained=True).eval()",
            logits="",
        ),
        env=env,
    )
    assert float(out.split("DIFF ")[1].split()[0]) <= 1e-5
    out = run_python(
        check.format(
            imports="model = AutoModelForImageClassification.from_pretrained('swin-hub/test-model', trust_remote_code=True).eval()",
            logits=".logits",
        ),
        env=env,
        block_swin_hub=True,
    )
    assert float(out.split("DIFF ")[1].split()[0]) <= 1e-5


def test_backbone_repo_loads_in_timm_as_headless_model(tmp_path):
    backbone = perturb_(ScratchSwinModel(ScratchSwinConfig(**SWIN_SMALL)), seed=1).eval()
    backbone.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["num_classes"] == 0
    loaded = timm.create_model(f"local-dir:{tmp_path}", pretrained=True).eval()
    x = pixels()
    with torch.no_grad():
        assert (loaded(x) - backbone(x).pooler_output).abs().max().item() <= 1e-5


def test_from_pretrained_with_new_num_labels_keeps_backbone_and_warns(tmp_path, caplog):
    _, repo = saved_repo("swin", tmp_path)
    caplog.set_level("WARNING")
    model = AutoModelForImageClassification.from_pretrained(repo, num_labels=3, ignore_mismatched_sizes=True)
    assert model.model.head.weight.shape == (3, SWIN_SMALL["embed_dim"] * 8)
    assert "head" in caplog.text
    timm_loaded = timm.create_model(f"local-dir:{repo}", pretrained=True)
    assert torch.equal(model.model.patch_embed.proj.weight, timm_loaded.patch_embed.proj.weight)


# 4. save_repo ---------------------------------------------------------------------------------


def test_to_transformers_shares_parameters_with_the_timm_model():
    model = timm_model("swin")
    wrapped = to_transformers(model, LABELS)
    assert wrapped.model is model
    assert wrapped.config.id2label[4] == "frog"
    assert not wrapped.training


def test_save_repo_refuses_a_non_empty_folder_without_overwrite(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        save_repo(timm_model("swin"), target)
    assert (target / "keep.txt").read_text() == "mine"


def test_save_repo_overwrite_replaces_the_folder(tmp_path):
    first, repo = saved_repo("swin", tmp_path)
    (repo / "stale.txt").write_text("old")
    second = timm_model("vit")
    save_repo(second, repo, overwrite=True)
    assert not (repo / "stale.txt").exists()
    assert json.loads((repo / "config.json").read_text())["model_type"] == "scratch_vit"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["swin-repo"]  # no temp or backup folder left


def test_failed_save_leaves_the_previous_repo_intact(tmp_path, monkeypatch):
    _, repo = saved_repo("swin", tmp_path)
    before = {p.name: p.read_bytes() for p in repo.iterdir()}

    def broken_save(self, directory, *args, **kwargs):
        (Path(directory) / "model.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(ScratchViTForImageClassification, "save_pretrained", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_repo(timm_model("vit"), repo, overwrite=True)
    assert {p.name: p.read_bytes() for p in repo.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["swin-repo"]


def test_save_repo_rejects_labels_that_do_not_fit_the_head(tmp_path):
    with pytest.raises(ValueError, match="3 labels given for a head of 5 classes"):
        save_repo(timm_model("swin"), tmp_path / "out", id2label=["a", "b", "c"])
    assert not (tmp_path / "out").exists()


# 5. broken folders --------------------------------------------------------------------------


def test_missing_weights_file_is_named_by_both_libraries(tmp_path):
    _, repo = saved_repo("swin", tmp_path)
    (repo / "model.safetensors").unlink()
    with pytest.raises(OSError, match="model.safetensors"):
        AutoModelForImageClassification.from_pretrained(repo)
    with pytest.raises(RuntimeError, match=str(repo)):
        timm.create_model(f"local-dir:{repo}", pretrained=True)


def test_truncated_weights_file_is_a_clear_error_in_both_libraries(tmp_path):
    _, repo = saved_repo("swin", tmp_path)
    weights = repo / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"{repo}.*truncated"):
        AutoModelForImageClassification.from_pretrained(repo)
    with pytest.raises(ValueError, match=f"{repo}.*truncated"):
        timm.create_model(f"local-dir:{repo}", pretrained=True)


def test_config_of_another_architecture_names_its_model_type(tmp_path):
    SwinForImageClassification(SwinConfig(embed_dim=32, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1])).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model_type 'swin'.*'scratch_swin'"):
        ScratchSwinConfig.from_pretrained(tmp_path)


def test_native_folder_of_the_other_family_is_a_clear_error(tmp_path):
    """Our classes convert transformers-native folders on load (tests/test_hf_foreign.py), but
    only of their own family."""
    from transformers import ViTConfig, ViTForImageClassification

    ViTForImageClassification(ViTConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=1, intermediate_size=128)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="vit checkpoint .* not ScratchSwinForImageClassification"):
        ScratchSwinForImageClassification.from_pretrained(tmp_path)


def test_foreign_weights_under_our_config_are_an_error_not_a_random_model(tmp_path):
    _, repo = saved_repo("swin", tmp_path)
    other = tmp_path / "other"
    SwinForImageClassification(SwinConfig(embed_dim=32, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1])).save_pretrained(other)
    shutil.copy(other / "model.safetensors", repo / "model.safetensors")
    with pytest.raises(ValueError, match=r"do not fit .*missing \['model\."):
        AutoModelForImageClassification.from_pretrained(repo)


def test_edited_config_with_other_shapes_names_the_mismatched_key(tmp_path):
    _, repo = saved_repo("vit", tmp_path)
    config = json.loads((repo / "config.json").read_text())
    config["embed_dim"] = config["model_args"]["embed_dim"] = 128
    (repo / "config.json").write_text(json.dumps(config))
    with pytest.raises(RuntimeError, match=r"model.patch_embed.proj.weight: \(64, 3, 16, 16\) in .*model.safetensors vs \(128, 3, 16, 16\)"):
        AutoModelForImageClassification.from_pretrained(repo)
    with pytest.raises(RuntimeError, match="patch_embed.proj.weight|size mismatch"):
        timm.create_model(f"local-dir:{repo}", pretrained=True)


def test_backbone_loads_from_a_classifier_repo(tmp_path):
    model, repo = saved_repo("vit", tmp_path)
    backbone = AutoModel.from_pretrained(repo).eval()
    x = pixels()
    with torch.no_grad():
        expected = model.forward_head(model.forward_features(x), pre_logits=True)
        assert (backbone(x).pooler_output - expected).abs().max().item() <= 1e-5


def test_attn_implementation_and_device_map_pass_through_from_pretrained(tmp_path):
    model, repo = saved_repo("swin", tmp_path)
    eager = AutoModelForImageClassification.from_pretrained(repo, attn_implementation="eager").eval()
    default = AutoModelForImageClassification.from_pretrained(repo, device_map="auto").eval()
    assert eager.model.cfg.attn_impl == "eager" and default.model.cfg.attn_impl == "sdpa"
    x = pixels()
    with torch.no_grad():
        assert (eager(x).logits - default(x).logits).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", ["scratch_swin_b_384", "scratch_vit_b32"])
def test_config_from_timm_name_round_trips_to_the_same_timm_model(name):
    from swin_hub.hub import config_from_timm

    config = config_from_timm(name, num_classes=7)
    assert config.architecture == name and config.num_labels == 7
    with torch.device("meta"):
        reference = timm.create_model(name, num_classes=7)
        rebuilt = timm.create_model(config.architecture, num_classes=config.num_labels, **config.model_args())
    assert rebuilt.cfg == reference.cfg
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
