"""The swin-hub repo layout (one folder that timm and transformers both load)."""

from .repo import config_from_timm, save_repo, to_transformers

__all__ = ["config_from_timm", "save_repo", "to_transformers"]
