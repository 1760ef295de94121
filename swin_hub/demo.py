"""The main job, offline: check the official checkpoints convert exactly, then fine-tune a
small scratch Swin on the bundled digits and write a model folder that timm and transformers
load, with its metrics, plots and model card."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import torch
from safetensors.torch import load_file

from .convert import swin as swin_convert
from .convert import vit as vit_convert
from .models import SwinTransformer, VisionTransformer

BUNDLED = Path(str(files(__package__) / "data"))  # the official oracle fixtures, package data (data/README.md)


def _report(name: str, model: torch.nn.Module, fixture: Path) -> float:
    data = load_file(fixture)
    model.eval()
    with torch.no_grad():
        logits = model(data["pixel_values"])
    diff = (logits - data["logits"]).abs().max().item()
    top = logits.softmax(-1).topk(3)
    print(f"\n{name}: {sum(p.numel() for p in model.parameters()):,} params, input {tuple(data['pixel_values'].shape)}")
    for i, (p, c) in enumerate(zip(top.values, top.indices)):
        print(f"  image {i}: top-3 classes {c.tolist()} probs {[round(v, 3) for v in p.tolist()]}")
    verdict = "OK" if diff <= 1e-4 else "MISMATCH"
    print(f"  max |logit - official logit| = {diff:.2e}  [{verdict}, tolerance 1e-4]")
    return diff


def run_demo(fixtures: str | None = None) -> None:
    root = Path(fixtures) if fixtures else BUNDLED
    swin_ckpt, vit_npz = root / "swin_official_tiny.pth", root / "vit_official_tiny.npz"
    for f in (swin_ckpt, vit_npz):
        if not f.is_file():
            raise SystemExit(f"swin-hub demo: fixture {f} not found (pass --fixtures DIR)")

    raw = torch.load(swin_ckpt, map_location="cpu", weights_only=True)
    sd, fmt = swin_convert.to_swin_hub(raw)
    swin = SwinTransformer(swin_convert.infer_config(sd, drop_path_rate=0.0))
    swin.load_state_dict(sd, strict=True)
    print(f"official Microsoft Swin checkpoint ({fmt} layout): {swin_ckpt.name}")
    diffs = [_report("Swin (official Microsoft weights)", swin, root / "swin_official_tiny.safetensors")]

    npz = vit_convert.load_npz(vit_npz)
    vit = VisionTransformer(vit_convert.infer_config_npz(npz))
    vit.load_state_dict(vit_convert.npz_to_swin_hub(npz), strict=True)
    print(f"\nofficial Google ViT checkpoint: {vit_npz.name}")
    diffs.append(_report("ViT (official Google weights, tanh GELU)", vit, root / "vit_official_tiny.safetensors"))

    if max(diffs) > 1e-4:
        raise SystemExit("swin-hub demo: parity with the official logits FAILED")
    print("\nBoth models reproduce the official implementations' logits within 1e-4.")


DEMO_MODEL = {"img_size": 32, "patch_size": 2, "embed_dim": 48, "depths": [2, 2], "num_heads": [3, 6], "window_size": 4,
              "drop_path_rate": 0.05}


def run_finetune(output_dir: str, epochs: int) -> dict:
    """Fine-tune the demo Swin on digits (the settings of bench/learning.py, fewer epochs)."""
    import json

    from .train import train
    from .train.args import parse_args

    print(f"\nFine-tuning a small scratch Swin on the bundled digits for {epochs} epochs -> {output_dir}")
    args = parse_args([
        "--model_kwargs", json.dumps(DEMO_MODEL), "--output_dir", output_dir, "--overwrite_output_dir",
        "--num_train_epochs", str(epochs), "--learning_rate", "1e-3", "--num_warmup_steps", "100",
        "--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "128", "--hflip", "0",
        "--crop_scale_min", "0.85", "--color_jitter", "0", "--checkpointing_steps", "epoch", "--seed", "0",
    ])
    results = train(args)
    predictions = predict_back(output_dir, args)
    print("\n=== report ===")
    print(f"validation ({results['eval_samples']} images, best epoch {results['best_epoch']}): "
          f"accuracy {results['eval_accuracy']:.4f}, macro F1 {results['eval_f1_macro']:.4f}, "
          f"top-5 {results['eval_top5_accuracy']:.4f}, ROC-AUC {results['eval_roc_auc']:.4f}")
    print("loaded back from the folder and predicted (true -> timm / transformers pipeline):")
    for true, by_timm, by_pipeline in predictions:
        print(f"  digit {true} -> {by_timm} / {by_pipeline}")
    print(f"published folder: {output_dir}  (push it with `swin-hub push {output_dir} ORG/NAME`)")
    print("  README.md model card, all_results.json, history.json, training_curves.png, confusion_matrix.png,")
    print("  roc_curves.png, last/ (last epoch), checkpoints/ (resume with --resume_from_checkpoint latest)")
    print(f"  timm:         timm.create_model('local-dir:{output_dir}', pretrained=True)")
    print(f"  transformers: pipeline('image-classification', model='{output_dir}')  # after import swin_hub")
    return results


def predict_back(output_dir: str, args) -> list[tuple[str, str, str]]:
    """Load the written folder through timm and through a transformers pipeline and classify a
    few validation digits with both, as a user of either library would."""
    import timm
    from transformers import pipeline

    from .train.data import load_data, to_rgb
    from .train.loop import transforms

    data = load_data(args)
    model = timm.create_model(f"local-dir:{output_dir}", pretrained=True).eval()
    transform = transforms(model, args)[1]  # timm's eval transform at the model's size
    labels = model.pretrained_cfg["label_names"]
    classify = pipeline("image-classification", model=output_dir)
    rows = []
    for i in range(6):
        image = to_rgb(data.validation.images[i])
        with torch.no_grad():
            by_timm = labels[model(transform(image)[None]).argmax(-1).item()]
        rows.append((data.class_names[data.validation.labels[i]], by_timm, classify(image)[0]["label"]))
    return rows
