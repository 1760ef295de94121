"""The swin-hub repo folder: one layout that timm, transformers (with or without swin_hub
installed) and `pipeline` all load.

    config.json                  transformers config + timm's architecture/model_args/pretrained_cfg
    model.safetensors            the weights, keys `model.*` (timm's filter strips the prefix)
    preprocessor_config.json     ScratchImageProcessor = timm's eval transform
    configuration_swin_hub.py    \
    modeling_swin_hub.py          |  the model code, for trust_remote_code
    image_processing_swin_hub.py  |
    swin.py vit.py layers.py     /

`save_repo` writes it atomically from a timm model, a pure model or one of our transformers
classes; `ScratchXxx.save_pretrained` writes the same files in place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from ..hf import (
    ScratchSwinConfig,
    ScratchSwinForImageClassification,
    ScratchSwinModel,
    ScratchViTConfig,
    ScratchViTForImageClassification,
    ScratchViTModel,
)
from ..hf.modeling import _ScratchPreTrainedModel
from ..models import SwinTransformer, VisionTransformer

_CLASSES = {  # pure model -> (config, backbone class, classifier class)
    SwinTransformer: (ScratchSwinConfig, ScratchSwinModel, ScratchSwinForImageClassification),
    VisionTransformer: (ScratchViTConfig, ScratchViTModel, ScratchViTForImageClassification),
}


def to_transformers(model: torch.nn.Module, id2label: dict | list | None = None) -> _ScratchPreTrainedModel:
    """Our transformers class around a timm-created or pure model, sharing its parameters.

    Labels come from `id2label`, else from timm's `pretrained_cfg['label_names']`; the timm
    pretrained_cfg (preprocessing, license, ...) is kept for the saved config.
    """
    if isinstance(model, _ScratchPreTrainedModel):
        return model
    kind = next((k for k in _CLASSES if isinstance(model, k)), None)
    if kind is None:
        raise TypeError(f"expected a swin-hub Swin / ViT model, got {type(model).__name__}")
    config_cls, backbone_cls, classifier_cls = _CLASSES[kind]
    pretrained_cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    num_classes = model.cfg.num_classes
    labels = id2label if id2label is not None else pretrained_cfg.get("label_names")
    if isinstance(labels, (list, tuple)):
        labels = dict(enumerate(labels))
    if labels is not None and num_classes and len(labels) != num_classes:
        raise ValueError(f"{len(labels)} labels given for a head of {num_classes} classes")
    extra = {"id2label": {int(k): str(v) for k, v in labels.items()}} if labels and num_classes else {}
    config = config_cls.from_model_config(
        model.cfg, architecture=pretrained_cfg.get("architecture"), pretrained_cfg=pretrained_cfg, **extra
    )
    with torch.device("meta"):  # no second copy of the weights: the module is swapped in below
        wrapper = (classifier_cls if num_classes else backbone_cls)(config)
    wrapper.model = model
    return wrapper.train(model.training)


def config_from_timm(model_name: str, **kwargs):
    """The transformers config of a registered timm name (+ timm kwargs, e.g. num_classes),
    with its pretrained_cfg; built on the meta device, so no weights are allocated."""
    import timm

    with torch.device("meta"):
        model = timm.create_model(model_name, pretrained=False, **kwargs)
    return to_transformers(model).config


def save_repo(model: torch.nn.Module, directory: str | os.PathLike, id2label: dict | list | None = None,
              overwrite: bool = False, extra_files: dict[str, str] | None = None) -> Path:
    """Write the repo folder atomically: built in a sibling temp folder, then renamed into place,
    so an interrupted save never leaves a half-written repo (nor destroys the previous one).
    `extra_files` (name -> text: model card, report) go in the same folder."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} exists and is not a folder")
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(f"{directory} is not empty; pass overwrite=True (--force) to replace it")
    wrapper = to_transformers(model, id2label)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        wrapper.save_pretrained(tmp)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            directory.rename(old)
        tmp.rename(directory)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory
