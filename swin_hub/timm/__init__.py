"""timm front door: importing this registers every `scratch_*` model with timm."""

from . import swin, swinv2, vit  # noqa: F401  (registration happens at import)
