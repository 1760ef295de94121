"""Pure PyTorch models: no timm or transformers imports below this package."""

from .swin import SwinConfig, SwinTransformer
from .vit import ViTConfig, VisionTransformer

__all__ = ["SwinConfig", "SwinTransformer", "ViTConfig", "VisionTransformer"]
