"""transformers configs for the swin-hub models: the full architecture, the label maps, and the
timm fields, so one `config.json` is read by both libraries.

The architecture fields are exactly those of the pure-model dataclasses (`SwinConfig`,
`ViTConfig`) less `num_classes`, which transformers derives from `id2label` / `num_labels`.
On save, timm's fields are derived from them (`architecture`, `num_classes`, `model_args`
without `num_classes` (timm passes that itself), `pretrained_cfg`, `label_names`), plus
`auto_map` pointing at the code files a saved repo carries for `trust_remote_code` (the image
processor's entry too: see `ScratchImageProcessor.to_dict`).

Generic transformers code reads the common names (`hidden_size`, `num_hidden_layers`,
`num_attention_heads`, `image_size`, `num_channels`, `patch_size`): they are aliases of the timm
fields (`attribute_map`) or, for Swin's `hidden_size` and `num_hidden_layers`, derived from them
as transformers' SwinConfig does. Only the timm fields are stored and saved.

For dense prediction (`AutoBackbone`, UperNet, Mask2Former) the configs carry transformers' backbone
fields (`BackboneConfigMixin`): `stage_names` follows from the architecture ("stem", then one name
per Swin stage / ViT block) and is not saved; `out_features` / `out_indices` (default: the last
stage) are saved at the top level of config.json, where timm does not read.
"""

from __future__ import annotations

from dataclasses import fields

from transformers import PretrainedConfig
from transformers.backbone_utils import BackboneConfigMixin

from ..models.swin import SwinConfig
from ..models.swinv2 import SwinV2Config
from ..models.vit import ViTConfig

# pretrained_cfg keys that describe the weights and their preprocessing (timm's PretrainedCfg)
PRETRAINED_CFG_KEYS = (
    "architecture", "input_size", "test_input_size", "min_input_size", "fixed_input_size",
    "interpolation", "crop_pct", "test_crop_pct", "crop_mode", "mean", "std", "num_classes",
    "label_names", "label_descriptions", "pool_size", "test_pool_size", "first_conv", "classifier",
    "license", "description", "origin_url", "paper_name", "paper_ids", "notes",
)
DERIVED_KEYS = ("model_args", "label_names", "num_features")  # rebuilt on every save


class _ArchConfig(BackboneConfigMixin, PretrainedConfig):
    arch_cls = None  # the pure-model dataclass this config stores (no annotation: v5 configs are dataclasses)
    default_architecture = None  # timm name used when none is recorded
    default_data = None  # preprocessing of the family's official weights
    model_classes = None  # (base model, classifier, dense-prediction backbone) class names, for auto_map
    # transformers' common names -> our fields (PretrainedConfig redirects reads and writes)
    attribute_map = {"image_size": "img_size", "num_channels": "in_chans", "num_attention_heads": "num_heads"}
    derived_names = ()  # transformers' names computed from the architecture (read-only properties)
    full_crop_above = 224  # the official evaluation crops 0.9 up to this input size, then none

    def __init__(self, **kwargs):
        for key in DERIVED_KEYS:
            kwargs.pop(key, None)
        for alias, name in self.attribute_map.items():
            if alias in kwargs:
                value = kwargs.pop(alias)
                if kwargs.setdefault(name, value) != value:
                    raise ValueError(
                        f"{alias}={value!r} and {name}={kwargs[name]!r} disagree: {alias} is another name for {name}"
                    )
        derived = {name: kwargs.pop(name) for name in self.derived_names if name in kwargs}
        out_features, out_indices = kwargs.pop("out_features", None), kwargs.pop("out_indices", None)
        architecture = kwargs.pop("architecture", None) or self.default_architecture
        pretrained_cfg = kwargs.pop("pretrained_cfg", None) or {}
        arch = {f.name: kwargs.pop(f.name) for f in fields(self.arch_cls) if f.name in kwargs}
        num_classes = arch.pop("num_classes", None)
        if num_classes is not None and "id2label" not in kwargs and "num_labels" not in kwargs:
            kwargs["num_labels"] = num_classes
        super().__init__(**kwargs)
        if self.label2id is None and self.id2label:
            self.label2id = {name: i for i, name in self.id2label.items()}
        self.architecture = architecture
        self.pretrained_cfg = {k: v for k, v in pretrained_cfg.items() if k in PRETRAINED_CFG_KEYS}
        defaults = self.arch_cls().to_dict()
        defaults.pop("num_classes")
        for name, value in {**defaults, **arch}.items():
            setattr(self, name, list(value) if isinstance(value, tuple) else value)
        self.to_model_config()  # validate now, with the dataclass's error messages
        self.set_output_features_output_indices(out_features, out_indices)  # after the stages are known
        for name, value in derived.items():
            if getattr(self, name) != value:
                raise ValueError(
                    f"{name}={value!r} does not match this architecture's {getattr(self, name)!r}: "
                    f"{name} follows from the other fields ({type(self).__name__}.{name} says how)"
                )

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        kind = config_dict.get("model_type")
        if kind not in (None, cls.model_type):
            raise ValueError(
                f"config has model_type {kind!r}; {cls.__name__} reads {cls.model_type!r} "
                "(convert other checkpoints with `swin-hub convert`)"
            )
        return super().from_dict(config_dict, **kwargs)

    def to_model_config(self, num_classes: int | None = None):
        """The pure-model dataclass; num_classes defaults to the number of labels."""
        args = self.model_args()
        args["attn_impl"] = {"eager": "eager", "sdpa": "sdpa"}.get(self._attn_implementation_internal or "", args["attn_impl"])
        return self.arch_cls(num_classes=self.num_labels if num_classes is None else num_classes, **args)

    def model_args(self) -> dict:
        """The architecture as timm kwargs, without num_classes."""
        return {f.name: getattr(self, f.name) for f in fields(self.arch_cls) if f.name != "num_classes"}

    @classmethod
    def from_model_config(cls, cfg, **kwargs) -> "_ArchConfig":
        """From a pure-model dataclass (e.g. `timm.create_model(...).cfg`)."""
        return cls(**cfg.to_dict(), **kwargs)

    def data_config(self) -> dict:
        """timm's data config for these weights: the recorded preprocessing at this config's input size."""
        size = self.img_size if isinstance(self.img_size, (list, tuple)) else (self.img_size, self.img_size)
        crop_pct = 0.9 if max(size) <= self.full_crop_above else 1.0
        data = {**self.default_data, "crop_pct": crop_pct, "crop_mode": "center"}
        data.update({k: self.pretrained_cfg[k] for k in data if self.pretrained_cfg.get(k) is not None})
        return {**data, "input_size": (self.in_chans, *size)}

    def is_classifier(self) -> bool:
        return not self.architectures or any(a.endswith("ForImageClassification") for a in self.architectures)

    def to_dict(self) -> dict:
        out = super().to_dict()
        num_classes = self.num_labels if self.is_classifier() else 0
        labels = [self.id2label[i] for i in range(num_classes)] if num_classes else []
        data = self.data_config()
        pretrained = {**self.pretrained_cfg, **data, "architecture": self.architecture, "num_classes": num_classes}
        pretrained.update(first_conv="patch_embed.proj", classifier="head", custom_load=False)
        pretrained["fixed_input_size"] = not getattr(self, "dynamic_img_size", True)
        if labels:
            pretrained["label_names"] = labels
        else:
            pretrained.pop("label_names", None)
        out.update(
            architecture=self.architecture,
            num_classes=num_classes,
            model_args={k: list(v) if isinstance(v, tuple) else v for k, v in self.model_args().items()},
            pretrained_cfg={k: list(v) if isinstance(v, tuple) else v for k, v in pretrained.items()},
            auto_map={
                "AutoConfig": f"configuration_swin_hub.{type(self).__name__}",
                "AutoModel": f"modeling_swin_hub.{self.model_classes[0]}",
                "AutoModelForImageClassification": f"modeling_swin_hub.{self.model_classes[1]}",
                "AutoBackbone": f"modeling_swin_hub.{self.model_classes[2]}",
                "AutoImageProcessor": "image_processing_swin_hub.ScratchImageProcessor",
            },
        )
        if labels:
            out["label_names"] = labels
        return out


class ScratchSwinConfig(_ArchConfig):
    """Swin v1 architecture (defaults: Swin-T, 224, window 7), labels and timm fields."""

    model_type = "scratch_swin"
    arch_cls = SwinConfig
    default_architecture = "scratch_swin_t"
    model_classes = ("ScratchSwinModel", "ScratchSwinForImageClassification", "ScratchSwinBackbone")
    default_data = dict(interpolation="bicubic", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    derived_names = ("hidden_size", "num_hidden_layers", "stage_names")

    def __init__(self, **kwargs):  # an explicit __init__ keeps transformers v5 from replacing ours
        super().__init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        """The last stage's width, as in transformers' SwinConfig (what VisionEncoderDecoder reads)."""
        return self.embed_dim * 2 ** (len(self.depths) - 1)

    @property
    def num_hidden_layers(self) -> int:
        """The number of stages, as in transformers' SwinConfig."""
        return len(self.depths)

    @property
    def stage_names(self) -> list[str]:
        """The backbone's outputs, as in transformers' SwinConfig: the patch embedding, then each stage."""
        return ["stem"] + [f"stage{i}" for i in range(1, len(self.depths) + 1)]


class ScratchSwinV2Config(ScratchSwinConfig):
    """Swin V2 architecture (defaults: Swin V2-T, 256, window 8), labels and timm fields; the
    transformers names are V1's (`hidden_size`, `num_hidden_layers`, `stage_names`)."""

    model_type = "scratch_swinv2"
    arch_cls = SwinV2Config
    default_architecture = "scratch_swinv2_t_w8_256"
    model_classes = ("ScratchSwinV2Model", "ScratchSwinV2ForImageClassification", "ScratchSwinV2Backbone")
    full_crop_above = 256  # 192 and 256 px evaluate at crop 0.9, 384 px at 1.0 (the official configs)

    def __init__(self, **kwargs):  # an explicit __init__ keeps transformers v5 from replacing ours
        kwargs.setdefault("pretrained_window_sizes", [])  # 0 for each stage of these depths, not the default's
        super().__init__(**kwargs)


class ScratchViTConfig(_ArchConfig):
    """ViT architecture (defaults: ViT-B/16, 224), labels and timm fields."""

    model_type = "scratch_vit"
    arch_cls = ViTConfig
    default_architecture = "scratch_vit_b"
    model_classes = ("ScratchViTModel", "ScratchViTForImageClassification", "ScratchViTBackbone")
    default_data = dict(interpolation="bicubic", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    attribute_map = {**_ArchConfig.attribute_map, "hidden_size": "embed_dim", "num_hidden_layers": "depth"}
    derived_names = ("stage_names",)

    def __init__(self, **kwargs):  # an explicit __init__ keeps transformers v5 from replacing ours
        super().__init__(**kwargs)

    @property
    def stage_names(self) -> list[str]:
        """The backbone's outputs: the patch embedding, then each block ("stage{i}" is block i - 1)."""
        return ["stem"] + [f"stage{i}" for i in range(1, self.depth + 1)]
