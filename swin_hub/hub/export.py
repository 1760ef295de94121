"""Reverse export: a swin-hub repo back to transformers' native SwinForImageClassification /
Swinv2ForImageClassification / ViTForImageClassification (model_type 'swin' / 'swinv2' / 'vit'),
verified, so nobody is locked in."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

from .. import hf  # noqa: F401  (registers our Auto classes)
from ..convert import swinv2 as v2
from ..convert import transformers_layout as tl
from ..convert.checkpoint import TOLERANCE, ConversionError
from ..models.swin import SwinTransformer
from ..models.swinv2 import SwinTransformerV2

# family -> (transformers config, state dict to transformers names, class prefix)
NATIVE = {
    "swin": (tl.transformers_swin_config, tl.swin_hub_to_transformers_swin, "Swin"),
    "swinv2": (v2.transformers_config, v2.ours_to_transformers, "Swinv2"),
    "vit": (tl.transformers_vit_config, tl.swin_hub_to_transformers_vit, "ViT"),
}
from .repo import normal_permissions, staging_dir


def load_swin_hub(src: str | Path):
    """(pure model, transformers config) of a swin-hub repo folder or Hub id."""
    config = AutoConfig.from_pretrained(src)
    if config.model_type not in ("scratch_swin", "scratch_swinv2", "scratch_vit"):
        raise ConversionError(
            f"{src}: model_type {config.model_type!r} is not a swin-hub repo (scratch_swin / scratch_swinv2 / scratch_vit)"
        )
    auto = AutoModelForImageClassification if config.is_classifier() else AutoModel
    return auto.from_pretrained(src).model.eval(), config


def export_transformers(src: str | Path, out: str | Path, force: bool = False) -> dict:
    """Write the transformers-native folder (config, weights under checkpoint names, image
    processor) atomically; returns the parity figures against the swin-hub model."""
    model, config = load_swin_hub(src)
    cfg = model.cfg
    family = "swin" if isinstance(model, SwinTransformer) else "swinv2" if isinstance(model, SwinTransformerV2) else "vit"
    make_config, to_native, prefix = NATIVE[family]
    labels = {"id2label": dict(config.id2label), "label2id": dict(config.label2id or {})} if cfg.num_classes else {}
    try:
        t_config = make_config(cfg, **labels)
        sd = to_native(model.state_dict(), cfg)
    except ValueError as e:
        raise ConversionError(f"{src}: transformers' {prefix} cannot express this model: {e}") from e
    head = cfg.num_classes > 0
    cls = getattr(transformers, f"{prefix}ForImageClassification" if head else f"{prefix}Model")
    kwargs = {} if family != "vit" or head else {"add_pooling_layer": bool(cfg.representation_size)}
    target = cls(t_config, **kwargs).eval()
    target.load_state_dict(sd, strict=True)

    height, width = cfg.img_size if isinstance(cfg.img_size, (tuple, list)) else (cfg.img_size, cfg.img_size)
    x = torch.randn(2, cfg.in_chans, height, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(x) if head else model.forward_head(model.forward_features(x), pre_logits=True)
        theirs = target(pixel_values=x)
        theirs = theirs.logits if head else theirs.pooler_output
    diff = (ours - theirs).abs().max().item()
    if not diff <= TOLERANCE:
        raise ConversionError(f"export parity failed: max abs diff {diff:.3g} > {TOLERANCE}; nothing written")

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty; pass --force to replace it")
    tmp = staging_dir(out)
    try:
        target.save_pretrained(tmp)
        data = config.data_config()
        # what the microsoft/ and google/ repos ship: resize to the input size, no crop
        transformers.ViTImageProcessor(
            size={"height": height, "width": width}, resample=3 if data["interpolation"] == "bicubic" else 2,
            image_mean=list(data["mean"]), image_std=list(data["std"]),
        ).save_pretrained(tmp)
        normal_permissions(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"source": str(src), "out": str(out), "class": cls.__name__, "max_abs_diff": diff, "input": list(x.shape)}
