"""Model cards rendered from the templates in `model_cards/` with huggingface_hub's ModelCard."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

TEMPLATES = Path(__file__).resolve().parents[2] / "model_cards"

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


def template(name: str) -> Path:
    path = TEMPLATES / name
    if not path.is_file():
        raise FileNotFoundError(f"model card template {path} is missing (swin-hub installed without its model_cards/ folder?)")
    return path


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
    )
    diff = parity.get("max_abs_diff")
    return ModelCard.from_template(
        data,
        template_path=str(template("converted.md")),
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
