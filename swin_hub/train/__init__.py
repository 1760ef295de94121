"""Fine-tuning with Accelerate: `swin-hub train ...` or `accelerate launch -m swin_hub.train ...`."""

from .loop import main, train

__all__ = ["main", "train"]
