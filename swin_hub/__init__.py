"""swin-hub: exact, fast Swin and ViT in plain PyTorch, registered in timm."""

from . import timm as _timm_registration  # noqa: F401  (registers scratch_* models with timm)
from .models import SwinConfig, SwinTransformer, ViTConfig, VisionTransformer

__version__ = "0.1.0"

__all__ = ["SwinConfig", "SwinTransformer", "ViTConfig", "VisionTransformer", "__version__"]
