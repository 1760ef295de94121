"""transformers front door: configs, PreTrainedModels and their Auto-class registration."""

from transformers import AutoBackbone, AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification

from .configuration import ScratchSwinConfig, ScratchSwinV2Config, ScratchViTConfig
from .foreign import load_foreign
from .image_processing import ScratchImageProcessor
from .modeling import (
    _ScratchPreTrainedModel,
    ScratchSwinBackbone,
    ScratchSwinForImageClassification,
    ScratchSwinModel,
    ScratchSwinV2Backbone,
    ScratchSwinV2ForImageClassification,
    ScratchSwinV2Model,
    ScratchViTBackbone,
    ScratchViTForImageClassification,
    ScratchViTModel,
)
from .wrap import to_transformers

_ScratchPreTrainedModel.load_foreign = classmethod(load_foreign)  # official / timm / transformers files too

for _config, _base, _classifier, _backbone in (
    (ScratchSwinConfig, ScratchSwinModel, ScratchSwinForImageClassification, ScratchSwinBackbone),
    (ScratchSwinV2Config, ScratchSwinV2Model, ScratchSwinV2ForImageClassification, ScratchSwinV2Backbone),
    (ScratchViTConfig, ScratchViTModel, ScratchViTForImageClassification, ScratchViTBackbone),
):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _base, exist_ok=True)
    AutoModelForImageClassification.register(_config, _classifier, exist_ok=True)
    AutoBackbone.register(_config, _backbone, exist_ok=True)  # UperNet / Mask2Former / DETR backbone_config
    # PIL only, under both backend names: a torch resize would not reproduce timm's pixels
    AutoImageProcessor.register(
        _config, image_processor_classes={"pil": ScratchImageProcessor, "torchvision": ScratchImageProcessor}, exist_ok=True
    )

__all__ = [
    "ScratchSwinConfig",
    "ScratchSwinV2Config",
    "ScratchViTConfig",
    "ScratchSwinModel",
    "ScratchSwinForImageClassification",
    "ScratchSwinV2Model",
    "ScratchSwinV2ForImageClassification",
    "ScratchViTModel",
    "ScratchViTForImageClassification",
    "ScratchSwinBackbone",
    "ScratchSwinV2Backbone",
    "ScratchViTBackbone",
    "ScratchImageProcessor",
    "to_transformers",
]
