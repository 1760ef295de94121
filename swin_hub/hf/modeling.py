"""transformers front door: PreTrainedModels that wrap the SAME pure-PyTorch models timm uses.

`ScratchViTModel` returns `BaseModelOutputWithPooling`, `ScratchSwinModel` its subclass with
transformers' Swin field `reshaped_hidden_states`; the `...ForImageClassification` classes return
`ImageClassifierOutput` (Swin: plus `reshaped_hidden_states`) with a loss when `labels` are given
(regression / single-label / multi-label by `config.problem_type`, as transformers).

The wrappers follow transformers' conventions where generic code (Trainer, PEFT) relies on them:
the blocks are `GradientCheckpointingLayer`s, `get_input_embeddings()` is the patch embedding,
`set_attn_implementation` reaches the attention modules. What differs from transformers is said
where it differs: the strict `from_pretrained`, and Swin's per-stage outputs (`_swin_forward`).

`ScratchSwinBackbone` / `ScratchViTBackbone` are transformers backbones (`BackboneMixin`,
`AutoBackbone`) for dense prediction heads (UperNet, Mask2Former, DETR): `BackboneOutput.feature_maps`
holds a (B, C, H, W) map per stage in `config.out_features`, read off the pure model's
`forward_intermediates`; they load the same weights files (the head is left out).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers.backbone_utils import BackboneMixin
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BackboneOutput, BaseModelOutputWithPooling, ImageClassifierOutput

from ..models.fast import execution_policy
from ..models.layers import init_weights
from ..models.swin import SwinBlock, SwinTransformer, WindowAttention
from ..models.swinv2 import SwinTransformerV2, SwinV2Block, init_weights_v2
from ..models.vit import Block, VisionTransformer
from .configuration import ScratchSwinConfig, ScratchSwinV2Config, ScratchViTConfig
from .image_processing import ScratchImageProcessor

# trust_remote_code: the files a saved repo carries, flattened into one folder (target name -> module)
_CODE_MODULES = {
    "configuration_swin_hub.py": ScratchSwinConfig.__module__,
    "modeling_swin_hub.py": __name__,
    "image_processing_swin_hub.py": ScratchImageProcessor.__module__,
    "swin.py": SwinTransformer.__module__,
    "swinv2.py": SwinTransformerV2.__module__,
    "vit.py": VisionTransformer.__module__,
    "layers.py": init_weights.__module__,
    "fast.py": execution_policy.__module__,
}
_FLATTEN = (  # package-relative imports -> same-folder imports (idempotent on flattened files)
    (re.compile(r"^from \.\.models\.(\w+) import", re.M), r"from .\1 import"),
    (re.compile(r"^from \.configuration import", re.M), "from .configuration_swin_hub import"),
    (re.compile(r"^from \.image_processing import", re.M), "from .image_processing_swin_hub import"),
)


def repo_code_files() -> dict[str, str]:
    """Source of each file a repo needs for `trust_remote_code` (no swin_hub import left)."""
    files = {}
    for name, module in _CODE_MODULES.items():
        text = Path(sys.modules[module].__file__).read_text()
        for pattern, repl in _FLATTEN:
            text = pattern.sub(repl, text)
        bad = re.findall(r"^\s*(?:from \.\.|from swin_hub|import swin_hub).*$", text, re.M)
        if bad:
            raise RuntimeError(f"{name}: imports that a standalone repo cannot resolve: {bad}")
        files[name] = text
    return files


@dataclass
class ScratchSwinModelOutput(BaseModelOutputWithPooling):
    """transformers' `SwinModelOutput` fields: `reshaped_hidden_states` holds each hidden state
    as a (B, C, H, W) map (a view of the (B, H*W, C) tensor in `hidden_states`)."""

    reshaped_hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass
class ScratchSwinImageClassifierOutput(ImageClassifierOutput):
    """transformers' `SwinImageClassifierOutput` fields (see `ScratchSwinModelOutput`)."""

    reshaped_hidden_states: tuple[torch.Tensor, ...] | None = None


class CheckpointingSwinBlock(GradientCheckpointingLayer, SwinBlock):
    """A `SwinBlock` with transformers' activation-checkpointing switch; same weights, same forward."""


class CheckpointingSwinV2Block(GradientCheckpointingLayer, SwinV2Block):
    """A `SwinV2Block` with transformers' activation-checkpointing switch; same weights, same forward."""


class CheckpointingViTBlock(GradientCheckpointingLayer, Block):
    """A ViT `Block` with transformers' activation-checkpointing switch; same weights, same forward."""


_CHECKPOINTING_LAYERS = {
    SwinBlock: CheckpointingSwinBlock, SwinV2Block: CheckpointingSwinV2Block, Block: CheckpointingViTBlock
}


def adopt_blocks(model: nn.Module) -> nn.Module:
    """Re-class the pure model's blocks in place as transformers' GradientCheckpointingLayers, which
    its activation checkpointing looks for. A wrapping module would rename every state_dict key, and
    the model files stay torch-only; the blocks keep their weights, forward and timm's own switch."""
    for module in model.modules():
        if type(module) in _CHECKPOINTING_LAYERS:
            module.__class__ = _CHECKPOINTING_LAYERS[type(module)]
    return model


def classification_loss(config, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """transformers' rule: 1 label -> regression; integer labels -> cross-entropy; else BCE."""
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        return nn.functional.mse_loss(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype))
    if config.problem_type == "single_label_classification":
        return nn.functional.cross_entropy(logits.view(-1, config.num_labels), labels.view(-1))
    return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


class _ScratchPreTrainedModel(PreTrainedModel):
    main_input_name = "pixel_values"
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _input_embed_layer = "patch_embed"  # get_input_embeddings(): self.model.patch_embed, for PEFT
    load_foreign = None  # swin_hub.hf sets the converter here; repo code has none
    init_module = staticmethod(init_weights)  # the family's own init of one module (the model file's)

    def _init_weights(self, module: nn.Module) -> None:
        """Reached for weights a checkpoint did not provide (e.g. a new head; transformers guards
        the loaded ones) and for the weight-free geometry buffers, rebuilt after meta-device init."""
        self.init_module(module)
        if hasattr(module, "init_non_persistent_buffers"):
            module.init_non_persistent_buffers()
        if isinstance(module, WindowAttention):
            nn.init.trunc_normal_(module.relative_position_bias_table, std=0.02)
        if isinstance(module, VisionTransformer):
            nn.init.trunc_normal_(module.pos_embed, std=0.02)
            if module.cls_token is not None:
                nn.init.normal_(module.cls_token, std=1e-6)

    def _set_gradient_checkpointing(self, enable: bool = True, *args, **kwargs) -> None:
        """transformers' own, after adopting the blocks of a model put in by `to_transformers`."""
        adopt_blocks(self.model)
        super()._set_gradient_checkpointing(enable, *args, **kwargs)

    def set_attn_implementation(self, attn_implementation, *args, **kwargs) -> None:
        """transformers' switch ('eager' | 'sdpa'), applied to the attention modules too."""
        super().set_attn_implementation(attn_implementation, *args, **kwargs)
        attn_impl = self.config.to_model_config().attn_impl
        self.model.cfg = replace(self.model.cfg, attn_impl=attn_impl)
        for module in self.model.modules():
            if hasattr(module, "attn_impl"):  # WindowAttention / Attention
                module.attn_impl = attn_impl

    def save_pretrained(self, save_directory, *args, push_to_hub: bool = False, **kwargs):
        """transformers' files (config.json, model.safetensors) plus the image processor config and
        the code files, so the folder also loads with trust_remote_code and in timm."""
        repo_id = kwargs.pop("repo_id", None)
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            directory = Path(save_directory)
            for name, text in repo_code_files().items():
                (directory / name).write_text(text)
            ScratchImageProcessor.from_data_config(self.config.data_config()).save_pretrained(directory)
        if push_to_hub:  # transformers uploads inside save_pretrained, before our files exist
            self.push_to_hub(repo_id or Path(save_directory).name, **{k: v for k, v in kwargs.items() if k == "token"})

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' loader, but weights that do not fit (other than the head) are an error, not
        a warning. With swin_hub installed, official / timm / transformers-native checkpoints load
        too, converted on the way in (`load_foreign`, absent from a repo's standalone code).

        `from_pretrained(None, config=config, state_dict=state_dict)` loads weights held in memory,
        as transformers does (this wrapper's keys, or the pure / timm model's without `model.`)."""
        in_memory = pretrained_model_name_or_path is None
        if in_memory and (kwargs.get("config") is None or kwargs.get("state_dict") is None):
            raise ValueError(
                f"{cls.__name__}.from_pretrained(None, ...) needs config= and state_dict=; "
                f"for a randomly initialised model use {cls.__name__}(config)"
            )
        source = "state_dict" if in_memory else pretrained_model_name_or_path  # for the messages
        if cls.load_foreign is not None and not in_memory:
            model = cls.load_foreign(pretrained_model_name_or_path, **kwargs)
            if model is not None:
                return model
        want_info = kwargs.pop("output_loading_info", False)
        try:
            model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs)
        except SafetensorError as e:  # safetensors names no file
            raise ValueError(f"{pretrained_model_name_or_path}: unreadable weights file (truncated or not safetensors: {e})") from e
        except RuntimeError as e:  # transformers 5.23 logs the mismatched keys and raises without them
            if "ignore_mismatched_sizes" not in str(e):
                raise
            found = _shape_mismatches(cls, pretrained_model_name_or_path, kwargs)
            raise RuntimeError(
                f"{source}: weights of other shapes than the config gives: {found}; "
                "pass ignore_mismatched_sizes=True to re-initialise them (meant for a new head)"
            ) from e
        missing = [k for k in info["missing_keys"] if not k.startswith("model.head.")]
        unexpected = [k for k in info["unexpected_keys"] if not k.startswith("model.head.")]
        if missing or unexpected:
            raise ValueError(
                f"{source}: the weights do not fit {cls.__name__} "
                f"(missing {sorted(missing)[:8]}, unexpected {sorted(unexpected)[:8]}); "
                "are they a swin-hub model of this architecture?"
            )
        return (model, info) if want_info else model

    def _build(self, config, num_classes: int | None):
        """The wrapped pure model, built from the config (num_classes=0: no head), its blocks
        transformers' GradientCheckpointingLayers."""
        return adopt_blocks(self.model_cls(config.to_model_config(num_classes=num_classes)))


def _shape_mismatches(cls, path, kwargs) -> list[str]:
    """'key: checkpoint shape vs model shape' for the weights that do not fit (a file is read
    from its header only)."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    config = kwargs.get("config")
    if not isinstance(config, cls.config_class):
        config = cls.config_class.from_pretrained(path, **{k: v for k, v in kwargs.items() if k == "num_labels"})
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in cls(config).state_dict().items()}
    if kwargs.get("state_dict") is not None:  # keys with or without the wrapper's "model." prefix
        given = {k if k in expected else f"model.{k}": tuple(v.shape) for k, v in kwargs["state_dict"].items()}
        return [
            f"{k}: {shape} in state_dict vs {expected[k]}"
            for k, shape in given.items()
            if k in expected and shape != expected[k]
        ]
    file = cached_file(path, "model.safetensors")
    with safe_open(file, "pt") as f:
        return [
            f"{k}: {tuple(f.get_slice(k).get_shape())} in {file} vs {expected[k]}"
            for k in f.keys()
            if k in expected and tuple(f.get_slice(k).get_shape()) != expected[k]
        ]


class ScratchSwinPreTrainedModel(_ScratchPreTrainedModel):
    config_class = ScratchSwinConfig
    model_cls = SwinTransformer
    base_output, classifier_output = ScratchSwinModelOutput, ScratchSwinImageClassifierOutput
    _no_split_modules = ["CheckpointingSwinBlock", "SwinBlock", "PatchMerging"]


class ScratchSwinV2PreTrainedModel(_ScratchPreTrainedModel):
    config_class = ScratchSwinV2Config
    model_cls = SwinTransformerV2
    init_module = staticmethod(init_weights_v2)  # logit scales, zeroed res-post-norms
    base_output, classifier_output = ScratchSwinModelOutput, ScratchSwinImageClassifierOutput
    _no_split_modules = ["CheckpointingSwinV2Block", "SwinV2Block", "PatchMergingV2"]


class ScratchViTPreTrainedModel(_ScratchPreTrainedModel):
    config_class = ScratchViTConfig
    model_cls = VisionTransformer
    base_output, classifier_output = BaseModelOutputWithPooling, ImageClassifierOutput
    _no_split_modules = ["CheckpointingViTBlock", "Block"]


class _Features(NamedTuple):
    """What a wrapper's forward reads off the pure model (None: not asked for)."""

    last: torch.Tensor  # tokens after the final norm: Swin (B, H*W, C), ViT (B, 1+N, C)
    pooled: torch.Tensor  # (B, C) pre-logits
    hidden: list | None = None  # hidden states, each (B, tokens, C)
    attentions: list | None = None  # attention probabilities, each (batch, heads, N, N)
    maps: list | None = None  # Swin: the hidden states as (B, C, H, W) maps


def _keep_stage_output(x: torch.Tensor, hidden: list, maps: list) -> torch.Tensor:
    """Append x (B, H, W, C) to `hidden` as (B, H*W, C) and to `maps` as (B, C, H, W); return the
    view of them that the forward goes on with, so they are in the graph (no copy is made)."""
    B, H, W, C = x.shape
    tokens = x.reshape(B, H * W, C)  # (B, H*W, C)
    fmap = tokens.view(B, H, W, C).permute(0, 3, 1, 2)  # (B, C, H, W)
    hidden.append(tokens)
    maps.append(fmap)
    return fmap.permute(0, 2, 3, 1)  # (B, H, W, C), x's own memory layout


def _swin_forward(model: SwinTransformer | SwinTransformerV2, pixel_values, output_hidden_states, output_attentions) -> _Features:
    """Tokens (B, H*W, C) after the final norm, pooled (B, C), hidden states, maps and attentions.

    The hidden states are the embedding output and each stage's output; the forward continues from
    them (and pools from `last`), so `retain_grad()` on one sees its gradient. Two deliberate
    differences from transformers' SwinModel, from timm's layout (patch merging at the start of a
    stage, not at the end): hidden_states[i], i >= 1, is stage i's output at its own resolution and
    width (SwinModel's is after the next merging; the first and last agree), and there is one
    attention map per block, (B*nW, heads, N, N), where SwinModel keeps each stage's last block.
    """
    x = model._embed(pixel_values)  # (B, H, W, C)
    hidden, maps = ([], []) if output_hidden_states else (None, None)
    attentions = [] if output_attentions else None
    if hidden is not None:
        x = _keep_stage_output(x, hidden, maps)
    for stage in model.layers:
        x = stage(x, attentions)
        if hidden is not None:
            x = _keep_stage_output(x, hidden, maps)
    x = model.norm(x)  # (B, H, W, C)
    B, H, W, C = x.shape
    last = x.reshape(B, H * W, C)  # (B, H*W, C)
    pooled = model.forward_head(last.view(B, H, W, C), pre_logits=True)  # (B, C)
    return _Features(last, pooled, hidden, attentions, maps)


def _vit_forward(
    model: VisionTransformer, pixel_values, output_hidden_states, output_attentions, interpolate
) -> _Features:
    """Tokens (B, 1+N, C) after the final norm, pooled (B, C), per-block hidden states and attentions."""
    x = model._embed(pixel_values, interpolate=interpolate)  # (B, 1+N, C)
    if not (output_hidden_states or output_attentions):  # the model's own block loop, with its fast paths
        x = model.norm(model._run_blocks(x))
        return _Features(x, model.forward_head(x, pre_logits=True))
    hidden = [x] if output_hidden_states else None
    attentions = [] if output_attentions else None
    for block in model.blocks:
        if attentions is not None:
            x, probs = block(x, need_weights=True)
            attentions.append(probs)  # (B, heads, N, N)
        else:
            x = block(x)
        if hidden is not None:
            hidden.append(x)
    x = model.norm(x)
    return _Features(x, model.forward_head(x, pre_logits=True), hidden, attentions)


def _tup(x):
    return tuple(x) if x is not None else None


class _Outputs:
    """Shared forward plumbing: flags from the config, tuples when return_dict=False."""

    def _run(self, pixel_values, output_hidden_states, output_attentions, **kw) -> _Features:
        if pixel_values is None:
            raise ValueError("pixel_values is required: a (B, C, H, W) float tensor")
        hs = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        at = self.config.output_attentions if output_attentions is None else output_attentions
        if isinstance(self.model, (SwinTransformer, SwinTransformerV2)):
            return _swin_forward(self.model, pixel_values, hs, at)
        return _vit_forward(self.model, pixel_values, hs, at, kw.get("interpolate_pos_encoding", False))

    def _finish(self, output, return_dict):
        """The output dataclass, or its non-None fields as a tuple (transformers' return_dict=False)."""
        return output if (self.config.return_dict if return_dict is None else return_dict) else output.to_tuple()

    @staticmethod
    def _states(f: _Features) -> dict:
        states = dict(hidden_states=_tup(f.hidden), attentions=_tup(f.attentions))
        if f.maps is not None:
            states["reshaped_hidden_states"] = tuple(f.maps)
        return states


class _BaseModel(_Outputs):
    def __init__(self, config):
        super().__init__(config)
        self.model = self._build(config, num_classes=0)
        self.post_init()

    def forward(self, pixel_values=None, output_hidden_states=None, output_attentions=None, return_dict=None, **kw):
        f = self._run(pixel_values, output_hidden_states, output_attentions, **kw)
        output = self.base_output(last_hidden_state=f.last, pooler_output=f.pooled, **self._states(f))
        return self._finish(output, return_dict)


class _ClassificationModel(_Outputs):
    def __init__(self, config):
        super().__init__(config)
        self.model = self._build(config, num_classes=config.num_labels)
        self.post_init()

    def forward(
        self, pixel_values=None, labels=None, output_hidden_states=None, output_attentions=None, return_dict=None, **kw
    ):
        f = self._run(pixel_values, output_hidden_states, output_attentions, **kw)
        logits = self.model.head(f.pooled)  # (B, num_labels)
        loss = classification_loss(self.config, logits, labels) if labels is not None else None
        output = self.classifier_output(loss=loss, logits=logits, **self._states(f))
        return self._finish(output, return_dict)


class ScratchSwinModel(_BaseModel, ScratchSwinPreTrainedModel):
    """Swin backbone: last_hidden_state (B, H*W, C), pooler_output (B, C); with output_hidden_states
    the embedding's and each stage's output as hidden_states (B, H*W, C) and reshaped_hidden_states
    (B, C, H, W) (how they differ from transformers' SwinModel: `_swin_forward`).
    `from_pretrained` is strict: weights that do not fit the config raise instead of being initialised
    at random (a new classification head excepted)."""


class ScratchSwinForImageClassification(_ClassificationModel, ScratchSwinPreTrainedModel):
    """Swin with its classification head: logits, loss, and the states of `ScratchSwinModel`.
    `from_pretrained` is strict: weights that do not fit the config raise instead of being initialised
    at random (a new classification head excepted)."""


class ScratchSwinV2Model(_BaseModel, ScratchSwinV2PreTrainedModel):
    """Swin V2 backbone, with the outputs of `ScratchSwinModel`. `from_pretrained` is strict."""


class ScratchSwinV2ForImageClassification(_ClassificationModel, ScratchSwinV2PreTrainedModel):
    """Swin V2 with its classification head, with the outputs of `ScratchSwinForImageClassification`.
    `from_pretrained` is strict."""


class ScratchViTModel(_BaseModel, ScratchViTPreTrainedModel):
    """ViT backbone: last_hidden_state (B, 1+N, C), pooler_output (B, C), per-block hidden states.
    `from_pretrained` is strict: weights that do not fit the config raise instead of being initialised
    at random (a new classification head excepted)."""


class ScratchViTForImageClassification(_ClassificationModel, ScratchViTPreTrainedModel):
    """ViT with its classification head: logits, loss, and the states of `ScratchViTModel`.
    `from_pretrained` is strict: weights that do not fit the config raise instead of being initialised
    at random (a new classification head excepted)."""


class _Backbone(BackboneMixin):
    """Feature maps for dense prediction: `stage_names[i]` is the patch embedding (i = 0, "stem") or
    the output of stage / block i - 1 of the pure model, and `feature_maps` holds the maps of
    `config.out_features`, each (B, C, H, W).

    The maps are the raw stage outputs that the pure model's `forward_intermediates` and timm's
    `features_only` give: no extra norm per output (transformers' SwinBackbone adds a freshly
    initialised LayerNorm per out stage, `hidden_states_norms`, that no classifier checkpoint holds;
    a head that wants one adds its own). The wrapped model keeps its final norm, so every key of a
    classifier's weights file but the head loads; the forward stops after the last stage asked for,
    so the final norm (and any later stage) takes no part and gets no gradient.
    `output_hidden_states=True` returns every stage's map; attentions are not returned (use
    `ScratchSwinModel` / `ScratchViTModel` for them)."""

    has_attentions = False  # forward_with_filtered_kwargs drops output_attentions

    def __init__(self, config):
        super().__init__(config)
        self.model = self._build(config, num_classes=0)
        self.num_features = self._stage_channels(config)
        self.post_init()

    def forward(self, pixel_values=None, output_hidden_states=None, output_attentions=None, return_dict=None):
        if pixel_values is None:
            raise ValueError("pixel_values is required: a (B, C, H, W) float tensor")
        if output_attentions:
            raise ValueError(
                f"{type(self).__name__} returns feature maps only; "
                "for attentions use ScratchSwinModel / ScratchViTModel with output_attentions=True"
            )
        hs = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        wanted = range(len(self.stage_names)) if hs else self.out_indices
        maps = dict(zip(wanted, self._stage_maps(pixel_values, list(wanted))))
        output = BackboneOutput(
            feature_maps=tuple(maps[i] for i in self.out_indices),
            hidden_states=tuple(maps.values()) if hs else None,
        )
        return output if (self.config.return_dict if return_dict is None else return_dict) else output.to_tuple()

    def _stage_maps(self, pixel_values, wanted: list[int]) -> list[torch.Tensor]:
        """The (B, C, H, W) maps of stage_names[i] for i in `wanted` (ascending)."""
        blocks = [i - 1 for i in wanted if i > 0]
        maps = self._intermediates(pixel_values, blocks) if blocks else []
        # the stem is not a forward_intermediates output: the embedding runs again for it (a conv)
        return [self._stem(pixel_values), *maps] if 0 in wanted else maps

    def _intermediates(self, pixel_values, blocks: list[int]) -> list[torch.Tensor]:
        return self.model.forward_intermediates(pixel_values, indices=blocks, stop_early=True, intermediates_only=True)


class ScratchSwinBackbone(_Backbone, ScratchSwinPreTrainedModel):
    """Swin backbone for dense prediction (`AutoBackbone`): stage_names "stem", "stage1".."stageN";
    stage i's map is (B, embed_dim * 2**(i-1), H / (patch_size * 2**(i-1)), W / ...), the stem's
    (B, embed_dim, H / patch_size, W / patch_size). See `_Backbone` for what the maps are."""

    @staticmethod
    def _stage_channels(config) -> list[int]:
        return [config.embed_dim] + [config.embed_dim * 2**i for i in range(len(config.depths))]

    def _stem(self, pixel_values) -> torch.Tensor:
        return self.model._embed(pixel_values).permute(0, 3, 1, 2)  # (B, C, h, w)


class ScratchSwinV2Backbone(_Backbone, ScratchSwinV2PreTrainedModel):
    """Swin V2 backbone for dense prediction (`AutoBackbone`), with the maps of `ScratchSwinBackbone`."""

    _stage_channels = staticmethod(ScratchSwinBackbone._stage_channels)
    _stem = ScratchSwinBackbone._stem


class ScratchViTBackbone(_Backbone, ScratchViTPreTrainedModel):
    """ViT backbone for dense prediction (`AutoBackbone`): stage_names "stem", "stage1".."stage{depth}",
    "stage{i}" being block i - 1; every map is the patch tokens (B, embed_dim, H / patch_size,
    W / patch_size), prefix tokens dropped. See `_Backbone` for what the maps are."""

    @staticmethod
    def _stage_channels(config) -> list[int]:
        return [config.embed_dim] * (config.depth + 1)

    def _stem(self, pixel_values) -> torch.Tensor:
        B, _, H, W = pixel_values.shape
        h, w = H // self.config.patch_size, W // self.config.patch_size
        tokens = self.model._embed(pixel_values)[:, self.model.num_prefix_tokens :]  # (B, h*w, C)
        return tokens.transpose(1, 2).reshape(B, -1, h, w)  # (B, C, h, w)
