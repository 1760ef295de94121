"""Our transformers classes around a pure or timm-created model, sharing its parameters: how a
model built by timm or converted from a checkpoint becomes a `PreTrainedModel`."""

from __future__ import annotations

import torch

from ..models import SwinTransformer, VisionTransformer
from .configuration import ScratchSwinConfig, ScratchViTConfig
from .modeling import (
    _ScratchPreTrainedModel,
    ScratchSwinForImageClassification,
    ScratchSwinModel,
    ScratchViTForImageClassification,
    ScratchViTModel,
)

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
