"""transformers front door: PreTrainedModels that wrap the SAME pure-PyTorch models timm uses.

`ScratchSwinModel` / `ScratchViTModel` return `BaseModelOutputWithPooling`; the
`...ForImageClassification` classes return `ImageClassifierOutput` with a loss when `labels`
are given (regression / single-label / multi-label by `config.problem_type`, as transformers).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput

from ..models.fast import execution_policy
from ..models.layers import init_weights
from ..models.swin import SwinTransformer, WindowAttention
from ..models.vit import VisionTransformer
from .configuration import ScratchSwinConfig, ScratchViTConfig
from .image_processing import ScratchImageProcessor

# trust_remote_code: the files a saved repo carries, flattened into one folder (target name -> module)
_CODE_MODULES = {
    "configuration_swin_hub.py": ScratchSwinConfig.__module__,
    "modeling_swin_hub.py": __name__,
    "image_processing_swin_hub.py": ScratchImageProcessor.__module__,
    "swin.py": SwinTransformer.__module__,
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
    load_foreign = None  # swin_hub.hf sets the converter here; repo code has none

    def _init_weights(self, module: nn.Module) -> None:
        """Reached for weights a checkpoint did not provide (e.g. a new head; transformers guards
        the loaded ones) and for the weight-free geometry buffers, rebuilt after meta-device init."""
        init_weights(module)
        if hasattr(module, "init_non_persistent_buffers"):
            module.init_non_persistent_buffers()
        if isinstance(module, WindowAttention):
            nn.init.trunc_normal_(module.relative_position_bias_table, std=0.02)
        if isinstance(module, VisionTransformer):
            nn.init.trunc_normal_(module.pos_embed, std=0.02)
            if module.cls_token is not None:
                nn.init.normal_(module.cls_token, std=1e-6)

    def _set_gradient_checkpointing(self, enable: bool = True, gradient_checkpointing_func=None, **kwargs) -> None:
        self.model.set_grad_checkpointing(enable)
        self.gradient_checkpointing = enable  # what transformers' is_activation_checkpointing reads

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
        too, converted on the way in (`load_foreign`, absent from a repo's standalone code)."""
        if cls.load_foreign is not None:
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
                f"{pretrained_model_name_or_path}: weights of other shapes than the config gives: {found}; "
                "pass ignore_mismatched_sizes=True to re-initialise them (meant for a new head)"
            ) from e
        missing = [k for k in info["missing_keys"] if not k.startswith("model.head.")]
        unexpected = [k for k in info["unexpected_keys"] if not k.startswith("model.head.")]
        if missing or unexpected:
            raise ValueError(
                f"{pretrained_model_name_or_path}: the weights do not fit {cls.__name__} "
                f"(missing {sorted(missing)[:8]}, unexpected {sorted(unexpected)[:8]}); "
                "is it a swin-hub repo of this architecture?"
            )
        return (model, info) if want_info else model

    def _build(self, config, num_classes: int | None):
        """The wrapped pure model, built from the config (num_classes=0: no head)."""
        return self.model_cls(config.to_model_config(num_classes=num_classes))


def _shape_mismatches(cls, path, kwargs) -> list[str]:
    """'key: file shape vs model shape' for the weights that do not fit (read from the header only)."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    config = kwargs.get("config")
    if not isinstance(config, cls.config_class):
        config = cls.config_class.from_pretrained(path, **{k: v for k, v in kwargs.items() if k == "num_labels"})
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in cls(config).state_dict().items()}
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
    _no_split_modules = ["SwinBlock", "PatchMerging"]


class ScratchViTPreTrainedModel(_ScratchPreTrainedModel):
    config_class = ScratchViTConfig
    model_cls = VisionTransformer
    _no_split_modules = ["Block"]


def _swin_forward(model: SwinTransformer, pixel_values, output_hidden_states, output_attentions):
    """Tokens (B, H*W, C) after the final norm, pooled (B, C), per-stage hidden states and attentions."""
    x = model._embed(pixel_values)  # (B, H, W, C)
    hidden = [x.flatten(1, 2)] if output_hidden_states else None
    attentions = [] if output_attentions else None
    for stage in model.layers:
        x = stage(x, attentions)
        if hidden is not None:
            hidden.append(x.flatten(1, 2))  # (B, H*W, C)
    x = model.norm(x)  # (B, H, W, C)
    pooled = model.forward_head(x, pre_logits=True)  # (B, C)
    if attentions is not None:  # transformers' layout: (B*nW, heads, N, N)
        attentions = [a.flatten(0, 1) for a in attentions]
    return x.flatten(1, 2), pooled, hidden, attentions  # (B, H*W, C)


def _vit_forward(model: VisionTransformer, pixel_values, output_hidden_states, output_attentions, interpolate):
    """Tokens (B, 1+N, C) after the final norm, pooled (B, C), per-block hidden states and attentions."""
    x = model._embed(pixel_values, interpolate=interpolate)  # (B, 1+N, C)
    hidden = [x] if output_hidden_states else None
    attentions = [] if output_attentions else None
    if hidden is None and attentions is None:  # the model's own block loop, with its fast paths
        x = model.norm(model._run_blocks(x))
        return x, model.forward_head(x, pre_logits=True), None, None
    for block in model.blocks:
        if attentions is not None:
            x, probs = block(x, need_weights=True)
            attentions.append(probs)  # (B, heads, N, N)
        elif model.grad_checkpointing and torch.is_grad_enabled():
            x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
        else:
            x = block(x)
        if hidden is not None:
            hidden.append(x)
    x = model.norm(x)
    return x, model.forward_head(x, pre_logits=True), hidden, attentions


class _Outputs:
    """Shared forward plumbing: flags from the config, tuples when return_dict=False."""

    def _run(self, pixel_values, output_hidden_states, output_attentions, **kw):
        if pixel_values is None:
            raise ValueError("pixel_values is required: a (B, C, H, W) float tensor")
        hs = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        at = self.config.output_attentions if output_attentions is None else output_attentions
        if isinstance(self.model, SwinTransformer):
            return _swin_forward(self.model, pixel_values, hs, at)
        return _vit_forward(self.model, pixel_values, hs, at, kw.get("interpolate_pos_encoding", False))

    def _return_dict(self, return_dict):
        return self.config.return_dict if return_dict is None else return_dict


def _tup(x):
    return tuple(x) if x is not None else None


class _BaseModel(_Outputs):
    def __init__(self, config):
        super().__init__(config)
        self.model = self._build(config, num_classes=0)
        self.post_init()

    def forward(self, pixel_values=None, output_hidden_states=None, output_attentions=None, return_dict=None, **kw):
        last, pooled, hidden, attentions = self._run(pixel_values, output_hidden_states, output_attentions, **kw)
        if not self._return_dict(return_dict):
            return tuple(v for v in (last, pooled, _tup(hidden), _tup(attentions)) if v is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=last, pooler_output=pooled, hidden_states=_tup(hidden), attentions=_tup(attentions)
        )


class _ClassificationModel(_Outputs):
    def __init__(self, config):
        super().__init__(config)
        self.model = self._build(config, num_classes=config.num_labels)
        self.post_init()

    def forward(
        self, pixel_values=None, labels=None, output_hidden_states=None, output_attentions=None, return_dict=None, **kw
    ):
        _, pooled, hidden, attentions = self._run(pixel_values, output_hidden_states, output_attentions, **kw)
        logits = self.model.head(pooled)  # (B, num_labels)
        loss = classification_loss(self.config, logits, labels) if labels is not None else None
        if not self._return_dict(return_dict):
            out = tuple(v for v in (logits, _tup(hidden), _tup(attentions)) if v is not None)
            return ((loss,) + out) if loss is not None else out
        return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=_tup(hidden), attentions=_tup(attentions))


class ScratchSwinModel(_BaseModel, ScratchSwinPreTrainedModel):
    """Swin backbone: last_hidden_state (B, H*W, C) and pooler_output (B, C)."""


class ScratchSwinForImageClassification(_ClassificationModel, ScratchSwinPreTrainedModel):
    """Swin with its classification head."""


class ScratchViTModel(_BaseModel, ScratchViTPreTrainedModel):
    """ViT backbone: last_hidden_state (B, 1+N, C) and pooler_output (B, C)."""


class ScratchViTForImageClassification(_ClassificationModel, ScratchViTPreTrainedModel):
    """ViT with its classification head."""
