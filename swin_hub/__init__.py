"""swin-hub: exact, fast Swin and ViT in plain PyTorch, registered in timm and transformers.

`swin_hub.models` needs torch alone. Importing the package also opens the two front doors
whose library is installed: the timm registration (`timm.create_model('scratch_swin_t')`)
and the transformers classes with their Auto-class registration.
"""

from importlib.util import find_spec

from .models import SwinConfig, SwinTransformer, SwinTransformerV2, SwinV2Config, ViTConfig, VisionTransformer

__version__ = "0.1.0"

__all__ = [
    "SwinConfig", "SwinTransformer", "SwinV2Config", "SwinTransformerV2", "ViTConfig", "VisionTransformer", "__version__"
]

if find_spec("timm") is not None:
    from . import timm as _timm_registration  # noqa: F401  (registers scratch_* models with timm)

if find_spec("transformers") is not None:
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
        to_transformers,
    )
    from .hub import save_repo

    __all__ += [
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
    ]
