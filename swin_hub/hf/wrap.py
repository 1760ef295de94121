"""Our transformers classes around a pure or timm-created model, sharing its parameters: how a
model built by timm or converted from a checkpoint becomes a `PreTrainedModel`."""

from __future__ import annotations

import torch

from ..convert.checkpoint import match_model_name
from ..models import SwinTransformer, SwinTransformerV2, VisionTransformer
from .configuration import ScratchSwinConfig, ScratchSwinV2Config, ScratchViTConfig
from .modeling import (
    _ScratchPreTrainedModel,
    ScratchSwinForImageClassification,
    ScratchSwinModel,
    ScratchSwinV2ForImageClassification,
    ScratchSwinV2Model,
    ScratchViTForImageClassification,
    ScratchViTModel,
)

_CLASSES = {  # pure model -> (family, config, backbone class, classifier class)
    SwinTransformer: ("swin", ScratchSwinConfig, ScratchSwinModel, ScratchSwinForImageClassification),
    SwinTransformerV2: ("swinv2", ScratchSwinV2Config, ScratchSwinV2Model, ScratchSwinV2ForImageClassification),
    VisionTransformer: ("vit", ScratchViTConfig, ScratchViTModel, ScratchViTForImageClassification),
}
LABELS = {"swin": "Swin", "swinv2": "Swin V2", "vit": "ViT"}


def to_transformers(model: torch.nn.Module, id2label: dict | list | None = None) -> _ScratchPreTrainedModel:
    """Our transformers class around a timm-created or pure model, sharing its parameters.

    Labels come from `id2label`, else from timm's `pretrained_cfg['label_names']`; the timm
    pretrained_cfg (preprocessing, license, ...) is kept for the saved config.
    """
    if isinstance(model, _ScratchPreTrainedModel):
        return model
    kind = next((k for k in _CLASSES if isinstance(model, k)), None)
    if kind is None:
        raise TypeError(f"expected a swin-hub Swin / Swin V2 / ViT model, got {type(model).__name__}")
    family, config_cls, backbone_cls, classifier_cls = _CLASSES[kind]
    pretrained_cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    num_classes = model.cfg.num_classes
    labels = id2label if id2label is not None else pretrained_cfg.get("label_names")
    if isinstance(labels, (list, tuple)):
        labels = dict(enumerate(labels))
    if labels is not None and num_classes and len(labels) != num_classes:
        raise ValueError(f"{len(labels)} labels given for a head of {num_classes} classes")
    extra = {"id2label": {int(k): str(v) for k, v in labels.items()}} if labels and num_classes else {}
    custom = _custom_description(family, model.cfg, pretrained_cfg.get("architecture"))
    if custom:
        pretrained_cfg["description"] = custom
    elif str(pretrained_cfg.get("description", "")).startswith("custom "):  # re-saved after a change back
        pretrained_cfg.pop("description")
    config = config_cls.from_model_config(
        model.cfg, architecture=pretrained_cfg.get("architecture"), pretrained_cfg=pretrained_cfg, **extra
    )
    with torch.device("meta"):  # no second copy of the weights: the module is swapped in below
        wrapper = (classifier_cls if num_classes else backbone_cls)(config)
    wrapper.model = model
    return wrapper.train(model.training)


def _custom_description(family: str, cfg, architecture: str | None) -> str | None:
    """config.json's `architecture` must be a registered name for timm to build the model; when
    the model is not that architecture (other widths, depths, size), its pretrained_cfg says so."""
    if architecture is None or match_model_name(family, cfg) == architecture:
        return None
    return (f"custom {LABELS[family]}, not the registered {architecture}: timm builds it "
            f"as {architecture} with this config's model_args")
