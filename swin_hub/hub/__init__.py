"""The swin-hub repo layout (one folder that timm and transformers both load)."""

from .repo import save_repo, to_transformers

__all__ = ["save_repo", "to_transformers"]
