"""transformers configs for the swin-hub models: the full architecture plus the label maps.

They hold exactly the fields of the pure-model dataclasses (`SwinConfig`, `ViTConfig`), less
`num_classes`, which transformers derives from `id2label` / `num_labels`.
"""

from __future__ import annotations

from dataclasses import fields

from transformers import PretrainedConfig

from ..models.swin import SwinConfig
from ..models.vit import ViTConfig


class _ArchConfig(PretrainedConfig):
    arch_cls = None  # the pure-model dataclass this config stores (no annotation: v5 configs are dataclasses)

    def __init__(self, **kwargs):
        arch = {f.name: kwargs.pop(f.name) for f in fields(self.arch_cls) if f.name in kwargs}
        num_classes = arch.pop("num_classes", None)
        if num_classes is not None and "id2label" not in kwargs and "num_labels" not in kwargs:
            kwargs["num_labels"] = num_classes
        super().__init__(**kwargs)
        defaults = self.arch_cls().to_dict()
        defaults.pop("num_classes")
        for name, value in {**defaults, **arch}.items():
            setattr(self, name, list(value) if isinstance(value, tuple) else value)
        self.to_model_config()  # validate now, with the dataclass's error messages

    def to_model_config(self, num_classes: int | None = None):
        """The pure-model dataclass; num_classes defaults to the number of labels."""
        args = {f.name: getattr(self, f.name) for f in fields(self.arch_cls) if f.name != "num_classes"}
        args["attn_impl"] = {"eager": "eager", "sdpa": "sdpa"}.get(self._attn_implementation_internal or "", args["attn_impl"])
        return self.arch_cls(num_classes=self.num_labels if num_classes is None else num_classes, **args)

    @classmethod
    def from_model_config(cls, cfg, **kwargs) -> "_ArchConfig":
        """From a pure-model dataclass (e.g. `timm.create_model(...).cfg`)."""
        return cls(**cfg.to_dict(), **kwargs)


class ScratchSwinConfig(_ArchConfig):
    """Swin v1 architecture (defaults: Swin-T, 224, window 7) and labels."""

    model_type = "scratch_swin"
    arch_cls = SwinConfig

    def __init__(self, **kwargs):  # an explicit __init__ keeps transformers v5 from replacing ours
        super().__init__(**kwargs)


class ScratchViTConfig(_ArchConfig):
    """ViT architecture (defaults: ViT-B/16, 224) and labels."""

    model_type = "scratch_vit"
    arch_cls = ViTConfig

    def __init__(self, **kwargs):  # an explicit __init__ keeps transformers v5 from replacing ours
        super().__init__(**kwargs)
