"""Pure PyTorch models: no timm or transformers imports below this package."""

from .swin import SwinConfig, SwinTransformer
from .swinv2 import SwinTransformerV2, SwinV2Config
from .vit import ViTConfig, VisionTransformer

__all__ = ["SwinConfig", "SwinTransformer", "SwinV2Config", "SwinTransformerV2", "ViTConfig", "VisionTransformer"]
