"""The swin-hub repo layout (one folder that timm and transformers both load), model cards, push."""

from .repo import config_from_timm, save_repo, write_repo

__all__ = ["config_from_timm", "save_repo", "write_repo"]
