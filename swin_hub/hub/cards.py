"""Model cards rendered from the templates in `model_cards/` (package data, beside this file)
with huggingface_hub's ModelCard."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATES = files(__package__) / "model_cards"

CITATIONS = {
    "swin": """@inproceedings{liu2021swin,
  title     = {Swin Transformer: Hierarchical Vision Transformer using Shifted Windows},
  author    = {Liu, Ze and Lin, Yutong and Cao, Yue and Hu, Han and Wei, Yixuan and Zhang, Zheng and Lin, Stephen and Guo, Baining},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  year      = {2021}
}""",
    "vit": """@inproceedings{dosovitskiy2021image,
  title     = {An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale},
  author    = {Dosovitskiy, Alexey and Beyer, Lucas and Kolesnikov, Alexander and Weissenborn, Dirk and Zhai, Xiaohua and Unterthiner, Thomas and Dehghani, Mostafa and Minderer, Matthias and Heigold, Georg and Gelly, Sylvain and Uszkoreit, Jakob and Houlsby, Neil},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2021}
}""",
}
SOURCES = {
    "official": "the official Microsoft Swin Transformer release (`.pth`)",
    "google_npz": "Google's official ViT release (`.npz`)",
    "timm": "a timm checkpoint",
    "transformers": "a Hugging Face transformers checkpoint",
    "swin_hub": "a swin-hub checkpoint",
}


def _is_hub_id(text: str) -> bool:
    """org/name, not a local path."""
    return text.count("/") == 1 and not Path(text).exists() and not text.startswith((".", "/"))


def template(name: str) -> str:
    """The text of a card template shipped in the package."""
    path = TEMPLATES / name
    if not path.is_file():
        raise FileNotFoundError(f"model card template {path} is missing (a swin-hub install without its package data?)")
    return path.read_text(encoding="utf-8")


def converted_card(report: dict, repo_id: str | None, params: int) -> ModelCard:
    """The card of a converted checkpoint: source, license, parity, usage, citation."""
    family = report["family"]
    parity = report.get("parity") or {}
    cfg = report["config"]
    size = cfg["img_size"] if isinstance(cfg["img_size"], list) else [cfg["img_size"]] * 2
    license_ = "mit" if family == "swin" else "apache-2.0"
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=["image-classification", "timm", "transformers", "swin-hub", family],
        license=license_,
        base_model=report["source"] if _is_hub_id(report["source"]) else None,
    )
    diff = parity.get("max_abs_diff")
    return ModelCard.from_template(
        data,
        template_str=template("converted.md"),
        repo_name=(repo_id or report.get("architecture") or family).split("/")[-1],
        repo_id=repo_id or "ORG/NAME",
        family_name="Swin Transformer" if family == "swin" else "Vision Transformer",
        source=report["source"],
        source_format=report["source_format"],
        source_description=SOURCES.get(report["source_format"], report["source_format"]),
        architecture=report.get("architecture") or family,
        params=f"{params / 1e6:.1f}M",
        input_size=f"{size[0]}x{size[1]}",
        num_classes=cfg["num_classes"],
        head_replaced=report.get("head_replaced"),
        license=license_,
        reference=parity.get("reference", "no reference (not checked)"),
        parity_input=parity.get("input"),
        parity_diff=f"{diff:.2e}" if diff is not None else "not measured",
        tolerance=parity.get("tolerance"),
        parity_note=parity.get("note", ""),
        resized=report.get("resized", False),
        citation=CITATIONS[family],
    )


SUMMARY_METRICS = (  # (results key, model-index metric type, shown name)
    ("eval_accuracy", "accuracy", "accuracy"),
    ("eval_top5_accuracy", "top_k_accuracy", "top-5 accuracy"),
    ("eval_f1_macro", "f1", "F1 (macro)"),
    ("eval_precision_macro", "precision", "precision (macro)"),
    ("eval_recall_macro", "recall", "recall (macro)"),
    ("eval_f1_weighted", "f1", "F1 (weighted)"),
    ("eval_roc_auc", "roc_auc", "ROC-AUC (one vs rest, macro)"),
)
HYPERPARAMETERS = ("optimizer", "learning_rate", "weight_decay", "layer_decay", "lr_scheduler_type", "num_warmup_steps",
                   "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "max_grad_norm",
                   "mixed_precision", "mixup", "cutmix", "label_smoothing", "auto_augment", "ema_decay",
                   "swa_start_epoch", "freeze_backbone", "seed")


def finetuned_card(results: dict, args: dict, config: dict, repo_id: str | None, params: int, plots: list[str]) -> ModelCard:
    """The card of a fine-tuned model: metrics (also as model-index), per-class table, plots,
    hyper-parameters, usage, limitations, citation."""
    family = "swin" if config["model_type"] == "scratch_swin" else "vit"
    names = config.get("label_names") or []
    dataset = str(results.get("dataset", "images"))
    dataset_id = "digits" if dataset.startswith("digits") else dataset.split(":", 1)[-1]
    name = (repo_id or Path(str(args.get("output_dir", "model"))).name).split("/")[-1]
    eval_results = [
        EvalResult(task_type="image-classification", dataset_type=dataset_id, dataset_name=dataset_id,
                   dataset_split="validation", metric_type=metric, metric_name=shown, metric_value=float(results[key]))
        for key, metric, shown in SUMMARY_METRICS if results.get(key) is not None
    ]
    base = str(args.get("model_name_or_path"))
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=["image-classification", "timm", "transformers", "swin-hub", family],
        license="apache-2.0",
        base_model=base if _is_hub_id(base) else None,
        datasets=[dataset_id] if dataset_id.count("/") == 1 else None,
        metrics=sorted({metric for _, metric, _ in SUMMARY_METRICS}),
        model_name=name,
        eval_results=eval_results,
    )
    per_class = [
        {"name": cls, **{k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()}}
        for cls, row in (results.get("eval_per_class") or {}).items()
    ]
    size = config["img_size"] if isinstance(config["img_size"], list) else [config["img_size"]] * 2
    return ModelCard.from_template(
        data,
        template_str=template("finetuned.md"),
        model_name=name,
        repo_id=repo_id or "ORG/NAME",
        family_name="Swin Transformer" if family == "swin" else "Vision Transformer",
        dataset=dataset,
        num_classes=len(names),
        class_list=", ".join(names[:20]) + (", ..." if len(names) > 20 else ""),
        eval_samples=results.get("eval_samples"),
        summary=[(shown, f"{results[key]:.4f}") for key, _, shown in SUMMARY_METRICS if results.get(key) is not None],
        per_class=per_class,
        plots=plots,
        hyperparameters=[(k, args[k]) for k in HYPERPARAMETERS if args.get(k) not in (None, False, "", 0.0)],
        architecture=config.get("architecture"),
        model_args=config.get("model_args"),
        params=f"{params / 1e6:.2f}M",
        input_size=f"{size[0]}x{size[1]}",
        base_model=base,
        pretrained=bool(args.get("pretrained")),
        epochs=results.get("epochs"),
        steps=results.get("train_steps"),
        runtime=f"{results.get('train_runtime_seconds', 0) / 60:.1f} min",
        num_processes=results.get("num_processes", 1),
        best_epoch=results.get("best_epoch"),
        citation=CITATIONS[family],
    )
