"""swin-hub: exact, fast Swin and ViT in plain PyTorch, registered in timm and transformers."""

from . import timm as _timm_registration  # noqa: F401  (registers scratch_* models with timm)
from .hf import (  # registers the configs and models with the transformers Auto classes
    ScratchImageProcessor,
    ScratchSwinBackbone,
    ScratchSwinConfig,
    ScratchSwinForImageClassification,
    ScratchSwinModel,
    ScratchSwinV2Backbone,
    ScratchSwinV2Config,
    ScratchSwinV2ForImageClassification,
    ScratchSwinV2Model,
    ScratchViTBackbone,
    ScratchViTConfig,
    ScratchViTForImageClassification,
    ScratchViTModel,
)
from .hub import save_repo, to_transformers
from .models import SwinConfig, SwinTransformer, SwinTransformerV2, SwinV2Config, ViTConfig, VisionTransformer

__version__ = "0.1.0"

__all__ = [
    "SwinConfig",
    "SwinTransformer",
    "SwinV2Config",
    "SwinTransformerV2",
    "ViTConfig",
    "VisionTransformer",
    "ScratchSwinConfig",
    "ScratchSwinModel",
    "ScratchSwinForImageClassification",
    "ScratchSwinBackbone",
    "ScratchSwinV2Config",
    "ScratchSwinV2Model",
    "ScratchSwinV2ForImageClassification",
    "ScratchSwinV2Backbone",
    "ScratchViTConfig",
    "ScratchViTModel",
    "ScratchViTForImageClassification",
    "ScratchViTBackbone",
    "ScratchImageProcessor",
    "save_repo",
    "to_transformers",
    "__version__",
]
