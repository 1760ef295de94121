"""Swin checkpoints from other layouts -> swin_hub's, and the architecture read off the shapes.

Layouts recognised from the tensors, never from file names:
- official Microsoft release (`{'model': sd}` or bare; patch merging at the END of stages,
  `head.weight`, optional `relative_position_index` / `attn_mask` buffers);
- timm (`swin_*`: merging at the START of stages, `head.fc.weight`);
- swin_hub (timm's layout with `head.weight`);
- transformers (`SwinForImageClassification`, the `microsoft/swin-*` Hub repos: see transformers_layout).
"""

from __future__ import annotations

import logging
import math
import re

import torch
import torch.nn.functional as F

from ..models.swin import SwinConfig
from .common import BUFFERS, shape_mismatches, size_mismatch_error, strip_wrapper_prefix, unwrap  # noqa: F401  (re-exported: demo, vit)
from .transformers_layout import is_transformers_swin, transformers_swin_to_swin_hub

_logger = logging.getLogger(__name__)


def detect_format(sd: dict) -> str:
    """'official', 'timm' or 'swin_hub' for a Swin state dict; ValueError otherwise."""
    if "patch_embed.proj.weight" not in sd or not any(".relative_position_bias_table" in k for k in sd):
        some = ", ".join(list(sd)[:5])
        raise ValueError(f"not a Swin v1 state dict (no patch_embed.proj.weight / relative_position_bias_table); first keys: {some}")
    if "layers.0.downsample.reduction.weight" in sd:
        return "official"
    if "head.fc.weight" in sd:
        return "timm"
    if "head.weight" in sd or any(k.startswith("layers.1.downsample") for k in sd):
        return "swin_hub"
    return "official"  # headless and single-stage checkpoints use the same names in both layouts


def to_swin_hub(state_dict: dict) -> tuple[dict, str]:
    """Any supported Swin layout -> swin_hub names. Returns (state_dict, source_format)."""
    sd = unwrap(state_dict)
    if is_transformers_swin(sd):
        return transformers_swin_to_swin_hub(sd), "transformers"
    fmt = detect_format(sd)
    out = {}
    for k, v in sd.items():
        if k.rsplit(".", 1)[-1] in BUFFERS:
            continue  # recomputed from the window size; never trusted from a file
        if fmt == "official":
            k = re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) + 1}.downsample", k)
        elif fmt == "timm":
            k = k.replace("head.fc.", "head.")
        out[k] = v
    return out, fmt


def infer_config(sd: dict, **overrides) -> SwinConfig:
    """Read embed dim, depths, heads, window, patch, classes, ... off a swin_hub state dict."""
    w = sd["patch_embed.proj.weight"]  # (C, in_chans, p, p)
    embed_dim, in_chans, patch = w.shape[0], w.shape[1], w.shape[-1]
    stages = sorted({int(m.group(1)) for k in sd if (m := re.match(r"layers\.(\d+)\.blocks\.", k))})
    depths, heads = [], []
    for i in stages:
        blocks = {int(m.group(1)) for k in sd if (m := re.match(rf"layers\.{i}\.blocks\.(\d+)\.", k))}
        depths.append(max(blocks) + 1)
        heads.append(sd[f"layers.{i}.blocks.0.attn.relative_position_bias_table"].shape[1])
    table = sd["layers.0.blocks.0.attn.relative_position_bias_table"].shape[0]
    window = (math.isqrt(table) + 1) // 2
    if (2 * window - 1) ** 2 != table:
        raise ValueError(f"relative_position_bias_table of {table} rows is not (2*window-1)**2 for any window")
    ape = "absolute_pos_embed" in sd
    if ape:
        grid = math.isqrt(sd["absolute_pos_embed"].shape[1])
        img_size = grid * patch
    else:  # the official convention: the last stage is exactly one window
        img_size = patch * 2 ** (len(depths) - 1) * window
    cfg = dict(
        img_size=img_size,
        patch_size=patch,
        in_chans=in_chans,
        num_classes=sd["head.weight"].shape[0] if "head.weight" in sd else 0,
        embed_dim=embed_dim,
        depths=tuple(depths),
        num_heads=tuple(heads),
        window_size=window,
        mlp_ratio=sd["layers.0.blocks.0.mlp.fc1.weight"].shape[0] / embed_dim,
        qkv_bias="layers.0.blocks.0.attn.qkv.bias" in sd,
        ape=ape,
        patch_norm="patch_embed.norm.weight" in sd,
    )
    cfg.update(overrides)
    return SwinConfig.from_kwargs(**cfg)


def resize_rel_pos_bias(table: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """(L, heads) bias table of a square (2w-1)^2 window -> the table of `window`, bicubic,
    as the official code does when fine-tuning 224 (window 7) weights at 384 (window 12)."""
    side = math.isqrt(table.shape[0])
    heads = table.shape[1]
    grid = table.float().T.reshape(1, heads, side, side)  # (1, heads, 2w-1, 2w-1)
    grid = F.interpolate(grid, size=(2 * window[0] - 1, 2 * window[1] - 1), mode="bicubic")
    return grid.reshape(heads, -1).T.to(table.dtype)  # (L', heads)


def resize_abs_pos_embed(pos: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(1, h*w, C) absolute position embedding of a square grid -> `grid`, bicubic."""
    side, C = math.isqrt(pos.shape[1]), pos.shape[2]
    x = pos.float().reshape(1, side, side, C).permute(0, 3, 1, 2)  # (1, C, h, w)
    x = F.interpolate(x, size=grid, mode="bicubic")
    return x.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], C).to(pos.dtype)


ARCH_KWARGS = ("embed_dim", "depths", "num_heads", "window_size", "patch_size", "mlp_ratio")


def describe(cfg) -> str:
    return ", ".join(f"{k}={getattr(cfg, k)}" for k in ARCH_KWARGS)


def fit_to_model(sd: dict, model: torch.nn.Module) -> dict:
    """Resize bias tables / position embedding to `model`'s windows and grid (weights made at
    one resolution, loaded at another). Any other shape difference means another size of Swin:
    a SizeMismatchError naming the tensors and the checkpoint's architecture."""
    own = model.state_dict()
    out = dict(sd)
    resized = []
    for key, value in sd.items():
        if key not in own or own[key].shape == value.shape or value.dim() < 2:
            continue
        square = math.isqrt(value.shape[-2]) ** 2 == value.shape[-2]
        if key.endswith("relative_position_bias_table") and square and value.shape[1] == own[key].shape[1]:
            out[key] = resize_rel_pos_bias(value, model.get_submodule(key.rsplit(".", 1)[0]).table_window)
        elif key == "absolute_pos_embed" and square and value.shape[2] == own[key].shape[2]:
            out[key] = resize_abs_pos_embed(value, model.grid_size)
        else:
            continue
        resized.append(f"{tuple(value.shape)} -> {tuple(own[key].shape)}")
    wrong = shape_mismatches(out, own)
    if wrong:
        try:
            arch = describe(infer_config(sd))
        except (KeyError, IndexError, ValueError):
            arch = "not readable from its shapes"
        where = f"{type(model).__name__} ({describe(model.cfg)})" if hasattr(model, "cfg") else type(model).__name__
        raise size_mismatch_error(wrong, where, arch)
    if resized:
        _logger.warning(f"resized {len(resized)} relative-position / position tables (bicubic) for the new window "
                        f"or resolution: {', '.join(sorted(set(resized)))}")
    return out


def checkpoint_filter_fn(state_dict: dict, model: torch.nn.Module | None) -> dict:
    """timm `pretrained_filter_fn`: any supported layout -> this model's names and sizes."""
    sd = to_swin_hub(state_dict)[0]
    return fit_to_model(sd, model) if model is not None else sd
