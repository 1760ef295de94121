"""timm plumbing shared by the Swin and ViT registrations: model creation, and weight files
of any supported layout into a timm-built model (timm's `custom_load` hook).

timm's own loader reads only torch/safetensors state dicts in the model's layout; our tags
point at official files (Google `.npz`, Microsoft `.pth`), so the models take over loading
and convert on the way in, with timm's head and input-channel conventions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from timm.models import adapt_input_conv, build_model_with_cfg

from ..convert.common import read_weights

_logger = logging.getLogger(__name__)


def load_converted(model: torch.nn.Module, path: str | Path, convert: Callable[[dict], dict]) -> None:
    """Convert the file at `path` to swin_hub names and load it, timm-style: a head of another
    size is left freshly initialised (with a warning), a first conv for other in_chans is adapted."""
    sd = convert(read_weights(path))
    own = model.state_dict()
    conv = "patch_embed.proj.weight"
    if conv in sd and conv in own and sd[conv].shape[1] != own[conv].shape[1]:
        sd[conv] = adapt_input_conv(own[conv].shape[1], sd[conv])
    for key in ("head.weight", "head.bias"):
        if key in sd and (key not in own or sd[key].shape != own[key].shape):
            _logger.warning(f"{path}: dropping {key} {tuple(sd[key].shape)}; the model's head is re-initialised")
            sd.pop(key)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.startswith("head.")]
    if missing or unexpected:
        raise ValueError(
            f"{path}: checkpoint does not fit {type(model).__name__} "
            f"(missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
            f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}); check the model name / kwargs"
        )


def create(builder: Callable, variant: str, pretrained: bool, arch: dict, filter_fn: Callable,
           default_out_indices, **kwargs) -> torch.nn.Module:
    """timm's build_model_with_cfg with our defaults: registered hyper-parameters overridable
    by kwargs, features through forward_intermediates, and every weight format on load."""
    overlay = kwargs.get("pretrained_cfg_overlay")
    if overlay and overlay.get("file"):  # timm resets custom_load for a user file; we read every format
        kwargs["pretrained_cfg_overlay"] = {"custom_load": True, **overlay}
    args = {**arch, **kwargs}
    out_indices = args.pop("out_indices", default_out_indices)
    try:
        return build_model_with_cfg(
            builder,
            variant,
            pretrained,
            pretrained_filter_fn=filter_fn,
            feature_cfg=dict(feature_cls="getter", out_indices=out_indices),
            **args,
        )
    except SafetensorError as e:  # safetensors names no file
        cfg = kwargs.get("pretrained_cfg") or {}
        where = cfg.get("file") or cfg.get("hf_hub_id") or variant if isinstance(cfg, dict) else variant
        raise ValueError(f"{where}: unreadable safetensors weights (truncated or corrupt: {e})") from e
