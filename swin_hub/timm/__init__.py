"""timm front door: importing this registers every `scratch_*` model with timm."""

from . import swin, vit  # noqa: F401  (registration happens at import)
