"""Model cards rendered from the templates in `model_cards/` (package data, beside this file)
with huggingface_hub's ModelCard."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..convert.common import is_hub_id as _is_hub_id
from ..convert.common import public_name
from ..models.presets import ARCHS

TEMPLATES = files(__package__) / "model_cards"

CITATIONS = {
    "swin": """@inproceedings{liu2021swin,
  title     = {Swin Transformer: Hierarchical Vision Transformer using Shifted Windows},
  author    = {Liu, Ze and Lin, Yutong and Cao, Yue and Hu, Han and Wei, Yixuan and Zhang, Zheng and Lin, Stephen and Guo, Baining},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  year      = {2021}
}""",
    "swinv2": """@inproceedings{liu2022swinv2,
  title     = {Swin Transformer V2: Scaling Up Capacity and Resolution},
  author    = {Liu, Ze and Hu, Han and Lin, Yutong and Yao, Zhuliang and Xie, Zhenda and Wei, Yixuan and Ning, Jia and Cao, Yue and Zhang, Zheng and Dong, Li and Wei, Furu and Guo, Baining},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2022}
}""",
    "vit": """@inproceedings{dosovitskiy2021image,
  title     = {An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale},
  author    = {Dosovitskiy, Alexey and Beyer, Lucas and Kolesnikov, Alexander and Weissenborn, Dirk and Zhai, Xiaohua and Unterthiner, Thomas and Dehghani, Mostafa and Minderer, Matthias and Heigold, Georg and Gelly, Sylvain and Uszkoreit, Jakob and Houlsby, Neil},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2021}
}""",
}
FAMILY_NAMES = {"swin": "Swin Transformer", "swinv2": "Swin Transformer V2", "vit": "Vision Transformer"}
LICENSES = {"swin": "mit", "swinv2": "mit", "vit": "apache-2.0"}  # of the official code and weights
MODEL_TYPES = {"scratch_swin": "swin", "scratch_swinv2": "swinv2", "scratch_vit": "vit"}
PLACEHOLDER = "ORG/NAME"  # the repo id in usage snippets until `swin-hub push` names the repo
SOURCES = {
    "official": "the official Microsoft Swin Transformer release (`.pth`)",
    "google_npz": "Google's official ViT release (`.npz`)",
    "timm": "a timm checkpoint",
    "transformers": "a Hugging Face transformers checkpoint",
    "swin_hub": "a swin-hub checkpoint",
}





def strip_paths(text: str) -> str:
    """Absolute paths inside free text (an error note) reduced to their last component."""
    return re.sub(r"(?<![\w:/])/(?:[^\s'\"`,;()]+/)+([^\s'\"`,;()]+)", r"\1", str(text))


def template(name: str) -> str:
    """The text of a card template shipped in the package."""
    path = TEMPLATES / name
    if not path.is_file():
        raise FileNotFoundError(f"model card template {path} is missing (a swin-hub install without its package data?)")
    return path.read_text(encoding="utf-8")


def describe_architecture(family: str, model_args: dict, builder: str | None) -> dict:
    """How a card names a model: the registered name only when the architecture is exactly that
    model (shapes, input size, window / heads); otherwise 'custom Swin' / 'custom ViT' with the
    `model_args` that differ from the registered `builder` timm creates it from."""
    from ..convert.checkpoint import FAMILIES, match_model_name

    config_cls = FAMILIES[family].config_cls
    args = {k: v for k, v in model_args.items() if k != "num_classes"}
    cfg = config_cls.from_kwargs(**args)
    registered = match_model_name(family, cfg)
    archs = ARCHS[family]
    builder = builder if builder in archs else registered or next(iter(archs))
    base = config_cls.from_kwargs(**archs[builder]).to_dict()
    mine = cfg.to_dict()
    overrides = [(k, _plain(mine[k]), _plain(base[k])) for k in mine
                 if k not in ("num_classes", "attn_impl") and _plain(mine[k]) != _plain(base[k])]
    label = {"swin": "Swin", "swinv2": "Swin V2", "vit": "ViT"}[family]
    return {"name": registered or f"custom {label}", "registered": registered is not None, "builder": builder,
            "overrides": overrides}


def _plain(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def _stages(family: str, model_args: dict) -> str:
    if family in ("swin", "swinv2"):
        return f"{len(model_args.get('depths') or ())} stages"
    return f"{model_args.get('depth')} blocks"


def parity_sentence(report: dict) -> str:
    """What the parity check measured, as a sentence (or why nothing was measured)."""
    parity = report.get("parity")
    if not parity:
        return "Parity was not measured: the conversion ran with `--no-check`."
    diff = parity.get("max_abs_diff")
    reference = parity.get("reference")
    if diff is None:
        note = strip_paths(parity.get("note", "")).split("; measured at")[0]
        return f"Parity was not measured: {note or 'no reference implementation was available'}."
    outputs = "logits" if (report.get("inferred_config") or {}).get("num_classes") else "pooled features"
    text = (f"On a fixed random batch of shape {parity.get('input')}, the converted model and `{reference}` (which loads "
            f"the source file with its own loader, independent of swin-hub's key mapping) give {outputs} that differ by "
            f"at most {diff:.2e}, within the tolerance of {parity.get('tolerance')}.")
    after = [w for w, on in (("the new head replaced the source's", report.get("head_replaced")),
                             ("the position tables were interpolated to the new size", report.get("resized"))) if on]
    if after:
        text += (f" The check ran at the source's own head and resolution, before {' and '.join(after)}; "
                 "what changed after it is not covered.")
    return text


def converted_card(report: dict, repo_id: str | None, params: int) -> ModelCard:
    """The card of a converted checkpoint: source, license, architecture, parity, usage, citation."""
    family = report["family"]
    parity = report.get("parity") or {}
    cfg = report["config"]
    size = cfg["img_size"] if isinstance(cfg["img_size"], list) else [cfg["img_size"]] * 2
    license_ = LICENSES[family]
    source = public_name(report["source"])
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=["image-classification", "timm", "transformers", "swin-hub", family],
        license=license_,
        base_model=source if _is_hub_id(source) else None,
    )
    arch = describe_architecture(family, cfg, report.get("architecture"))
    diff = parity.get("max_abs_diff")
    family_name = FAMILY_NAMES[family]
    stem = source.split("/")[-1].rsplit(".", 1)[0] if not _is_hub_id(source) else source.split("/")[-1]
    return ModelCard.from_template(
        data,
        template_str=template("converted.md"),
        title=repo_id.split("/")[-1] if repo_id else f"{stem} ({family_name}, converted)",
        repo_id=repo_id or PLACEHOLDER,
        family_name=family_name,
        source=source,
        source_format=report["source_format"],
        source_description=SOURCES.get(report["source_format"], report["source_format"]),
        architecture=arch["name"],
        registered=arch["registered"],
        builder=arch["builder"],
        overrides=arch["overrides"],
        shape=_stages(family, cfg),
        params=f"{params / 1e6:.1f}M",
        input_size=f"{size[0]}x{size[1]}",
        num_classes=cfg["num_classes"],
        source_classes=(report.get("inferred_config") or {}).get("num_classes"),
        head_replaced=report.get("head_replaced"),
        license=license_,
        reference=parity.get("reference", "no reference (not checked)"),
        parity_input=parity.get("input"),
        parity_diff=f"{diff:.2e}" if diff is not None else "not measured",
        tolerance=parity.get("tolerance"),
        parity_sentence=parity_sentence(report),
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
# training_args.json keys that are not hyper-parameters (plumbing, outputs, secrets), or that the
# card shows elsewhere (the architecture table, the base model)
NOT_HYPERPARAMETERS = {
    "model_name_or_path", "model_kwargs", "pretrained", "output_dir", "overwrite_output_dir", "checkpointing_steps",
    "resume_from_checkpoint", "with_tracking", "push_to_hub", "hub_model_id", "hub_token", "hub_private_repo",
    "num_workers", "per_device_eval_batch_size", "torch_compile", "gradient_checkpointing", "image_column_name",
    "label_column_name", "skip_corrupt_images", "dataset_config_name", "report_to", "logging_steps",
}
DATA = ("dataset_name", "train_dir", "validation_dir", "train_val_split", "bbox_column_name", "max_train_samples",
        "max_eval_samples")
AUGMENTATION_WORDS = ("aug", "crop", "flip", "jitter", "mixup", "cutmix", "eras", "reprob", "smoothing", "interpolation")


def hyperparameter_tables(args: dict) -> tuple[list, list]:
    """(optimisation rows, data / augmentation rows): every setting of the run, zeros and 'off'
    included (settings added later land in one of the two by name); local paths by name only."""
    rows = [(k, _shown(v)) for k, v in args.items() if k not in NOT_HYPERPARAMETERS and not k.startswith("_")]
    data = [r for r in rows if r[0] in DATA or any(w in r[0] for w in AUGMENTATION_WORDS)]
    return [r for r in rows if r not in data], data


def _shown(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and ("/" in value or "\\" in value) and not _is_hub_id(value):
        return public_name(value)
    return str(value)


def finetuned_card(results: dict, args: dict, config: dict, repo_id: str | None, params: int, plots: list[str]) -> ModelCard:
    """The card of a fine-tuned model: metrics (also as model-index), per-class table, plots,
    hyper-parameters, architecture, usage, limitations, citation."""
    family = MODEL_TYPES[config["model_type"]]
    names = config.get("label_names") or []
    dataset = _shown(results.get("dataset", "images"))
    dataset_id = "digits" if dataset.startswith("digits") else dataset.split(":", 1)[-1]
    name = (repo_id or Path(str(args.get("output_dir", "model"))).name).split("/")[-1]
    summary_metrics = [(key, metric, shown) for key, metric, shown in SUMMARY_METRICS
                       if results.get(key) is not None and not (key == "eval_top5_accuracy" and len(names) <= 5)]
    eval_results = [
        EvalResult(task_type="image-classification", dataset_type=dataset_id, dataset_name=dataset_id,
                   dataset_split="validation", metric_type=metric, metric_name=shown, metric_value=float(results[key]))
        for key, metric, shown in summary_metrics
    ]
    base = public_name(args.get("model_name_or_path"))
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=["image-classification", "timm", "transformers", "swin-hub", family],
        license="apache-2.0",
        base_model=base if _is_hub_id(base) else None,
        datasets=[dataset_id] if dataset_id.count("/") == 1 else None,
        metrics=sorted({metric for _, metric, _ in summary_metrics}),
        model_name=name,
        eval_results=eval_results,
    )
    per_class = [
        {"name": cls, **{k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()}}
        for cls, row in (results.get("eval_per_class") or {}).items()
    ]
    size = config["img_size"] if isinstance(config["img_size"], list) else [config["img_size"]] * 2
    model_args = config.get("model_args") or {}
    arch = describe_architecture(family, model_args, config.get("architecture"))
    optimisation, augmentation = hyperparameter_tables(args)
    return ModelCard.from_template(
        data,
        template_str=template("finetuned.md"),
        model_name=name,
        repo_id=repo_id or PLACEHOLDER,
        family_name=FAMILY_NAMES[family],
        dataset=dataset,
        num_classes=len(names),
        class_list=", ".join(names[:20]) + (", ..." if len(names) > 20 else ""),
        eval_samples=results.get("eval_samples"),
        summary=[(shown, f"{results[key]:.4f}") for key, _, shown in summary_metrics],
        top5_left_out=results.get("eval_top5_accuracy") is not None and len(names) <= 5,
        per_class=per_class,
        plots=plots,
        optimisation=optimisation,
        augmentation=augmentation,
        architecture=arch["name"],
        registered=arch["registered"],
        builder=arch["builder"],
        overrides=arch["overrides"],
        shape=_stages(family, model_args),
        params=f"{params / 1e6:.2f}M",
        input_size=f"{size[0]}x{size[1]}",
        base_model=base,
        # a registered name starts from random weights unless --pretrained; a folder / Hub id from its own
        from_weights=bool(args.get("pretrained")) or base not in {name for archs in ARCHS.values() for name in archs},
        epochs=results.get("epochs"),
        steps=results.get("train_steps"),
        runtime=f"{results.get('train_runtime_seconds', 0) / 60:.1f} min",
        num_processes=results.get("num_processes", 1),
        best_epoch=results.get("best_epoch"),
        citation=CITATIONS[family],
    )
