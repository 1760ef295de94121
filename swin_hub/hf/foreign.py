"""Our PreTrainedModels' `from_pretrained` on checkpoints that are not swin-hub repos: the
official release files, timm checkpoints, transformers' own Swin / ViT repos. They go through
the same conversion as `swin-hub convert` and timm's `pretrained=True` (no second mapping)."""

from __future__ import annotations

import json
from pathlib import Path

from transformers.utils import cached_file

from ..convert.checkpoint import convert
from .wrap import to_transformers

OURS = ("scratch_swin", "scratch_swinv2", "scratch_vit")


def _model_type(path: str) -> str | None:
    """model_type of the config.json at a folder / Hub id, None if it has none."""
    local = Path(path)
    if local.is_dir():
        config = local / "config.json"
        return json.loads(config.read_text()).get("model_type") if config.is_file() else None
    try:
        config = cached_file(path, "config.json", _raise_exceptions_for_missing_entries=False)
    except OSError:
        return None
    return json.loads(Path(config).read_text()).get("model_type") if config else None


def load_foreign(cls, path, **kwargs):
    """The converted model, or None when `path` is a swin-hub repo (transformers loads it)."""
    if not Path(str(path)).is_file() and _model_type(str(path)) in OURS:
        return None
    num_labels = kwargs.get("num_labels")
    converted = convert(str(path), num_classes=num_labels, revision=kwargs.get("revision"), check=False)
    model = to_transformers(converted.model, converted.labels)
    if not isinstance(model, cls):
        raise ValueError(
            f"{path} holds a {converted.family} checkpoint with {converted.cfg.num_classes} classes; "
            f"it loads as {type(model).__name__}, not {cls.__name__}"
        )
    return model.eval()
