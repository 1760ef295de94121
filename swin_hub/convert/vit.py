"""ViT checkpoints from other layouts -> swin_hub's, and the architecture read off the shapes.

Layouts: Google's released `.npz` (flat `/`-joined Flax names, pre-Linen numbering, JAX
kernel layouts) and timm's `vision_transformer` (the same names as swin_hub).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import torch

from ..models.vit import ViTConfig, resample_pos_embed
from .common import shape_mismatches, size_mismatch_error, strip_wrapper_prefix
from .transformers_layout import is_transformers_vit, transformers_vit_to_swin_hub

NPZ_BLOCK = "Transformer/encoderblock_{i}/"
_logger = logging.getLogger(__name__)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read a Google ViT `.npz` without pickle (object arrays are refused)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable numpy .npz checkpoint ({e})") from e


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def npz_to_swin_hub(npz: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Google ViT npz -> swin_hub ViT state dict (qkv fused, kernels transposed to (out, in))."""
    if "embedding/kernel" not in npz:
        raise ValueError(f"not a Google ViT npz (no 'embedding/kernel'); first keys: {', '.join(list(npz)[:5])}")
    try:
        return _npz_to_swin_hub(npz)
    except KeyError as e:  # a file cut short or edited: name the first missing array
        raise ValueError(f"incomplete Google ViT npz: array {e.args[0]!r} is missing ({len(npz)} arrays present)") from e
    except RuntimeError as e:  # a kernel that does not reshape to the width: name the odd array
        raise ValueError(f"damaged Google ViT npz: {_odd_shape(npz) or e}") from e


def _odd_shape(npz: dict[str, np.ndarray]) -> str | None:
    """A block-0 attention kernel that does not match the embedding width, else the first array
    whose shape differs from the same array of block 0."""
    width = npz["embedding/kernel"].shape[-1]
    att = NPZ_BLOCK.format(i=0) + "MultiHeadDotProductAttention_1/"
    for name in ("query", "key", "value", "out"):  # (C, heads, head_dim) / (heads, head_dim, C)
        shape = tuple(npz.get(f"{att}{name}/kernel", np.empty(0)).shape)
        if shape and (len(shape) != 3 or math.prod(shape) != width * width):
            return (f"array '{att}{name}/kernel' has shape {shape}; a width of {width} needs {width} x {width} values "
                    f"(heads x head_dim = {width})")
    for key, value in npz.items():
        m = re.match(r"Transformer/encoderblock_(\d+)/(.+)", key)
        first = npz.get(f"{NPZ_BLOCK.format(i=0)}{m.group(2)}") if m else None
        if first is not None and tuple(first.shape) != tuple(value.shape):
            return f"array {key!r} has shape {tuple(value.shape)}; the same array of encoderblock_0 has {tuple(first.shape)}"
    return None


def _npz_to_swin_hub(npz: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    sd = {
        "patch_embed.proj.weight": _t(npz["embedding/kernel"]).permute(3, 2, 0, 1),  # HWIO -> OIHW
        "patch_embed.proj.bias": _t(npz["embedding/bias"]),
        "pos_embed": _t(npz["Transformer/posembed_input/pos_embedding"]),
        "norm.weight": _t(npz["Transformer/encoder_norm/scale"]),
        "norm.bias": _t(npz["Transformer/encoder_norm/bias"]),
    }
    if "cls" in npz:
        sd["cls_token"] = _t(npz["cls"])
    depth = len({m.group(1) for k in npz if (m := re.match(r"Transformer/encoderblock_(\d+)/", k))})
    for i in range(depth):
        p, o = NPZ_BLOCK.format(i=i), f"blocks.{i}."
        att = p + "MultiHeadDotProductAttention_1/"
        C = npz[att + "query/kernel"].shape[0]
        sd[o + "norm1.weight"], sd[o + "norm1.bias"] = _t(npz[p + "LayerNorm_0/scale"]), _t(npz[p + "LayerNorm_0/bias"])
        sd[o + "norm2.weight"], sd[o + "norm2.bias"] = _t(npz[p + "LayerNorm_2/scale"]), _t(npz[p + "LayerNorm_2/bias"])
        # (C, heads, head_dim) kernels -> one (3C, C) weight, q/k/v stacked like timm's fused qkv
        sd[o + "attn.qkv.weight"] = torch.cat([_t(npz[att + f"{n}/kernel"]).reshape(C, C).T for n in ("query", "key", "value")])
        sd[o + "attn.qkv.bias"] = torch.cat([_t(npz[att + f"{n}/bias"]).reshape(C) for n in ("query", "key", "value")])
        sd[o + "attn.proj.weight"] = _t(npz[att + "out/kernel"]).reshape(C, C).T  # (heads, hd, C) -> (C, C)
        sd[o + "attn.proj.bias"] = _t(npz[att + "out/bias"])
        for j in (0, 1):
            sd[o + f"mlp.fc{j + 1}.weight"] = _t(npz[p + f"MlpBlock_3/Dense_{j}/kernel"]).T
            sd[o + f"mlp.fc{j + 1}.bias"] = _t(npz[p + f"MlpBlock_3/Dense_{j}/bias"])
    if "pre_logits/kernel" in npz:
        sd["pre_logits.fc.weight"] = _t(npz["pre_logits/kernel"]).T
        sd["pre_logits.fc.bias"] = _t(npz["pre_logits/bias"])
    if "head/kernel" in npz:
        sd["head.weight"] = _t(npz["head/kernel"]).T
        sd["head.bias"] = _t(npz["head/bias"])
    return sd


def infer_config(sd: dict, **overrides) -> ViTConfig:
    """Read patch, width, depth, heads, classes, pooling off a swin_hub ViT state dict.

    The number of heads is not in a fused qkv weight: Google's npz carries it (use
    `infer_config_npz`); otherwise the head_dim 64 convention of every released ViT is used.
    """
    w = sd["patch_embed.proj.weight"]  # (C, in_chans, p, p)
    embed_dim, in_chans, patch = w.shape[0], w.shape[1], w.shape[-1]
    depth = len({m.group(1) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k))})
    class_token = "cls_token" in sd
    prefix = 1 if class_token else 0
    grid = math.isqrt(sd["pos_embed"].shape[1] - prefix)
    fc_norm = "fc_norm.weight" in sd
    cfg = dict(
        img_size=grid * patch,
        patch_size=patch,
        in_chans=in_chans,
        num_classes=sd["head.weight"].shape[0] if "head.weight" in sd else 0,
        global_pool="token" if class_token and not fc_norm else "avg",
        embed_dim=embed_dim,
        depth=depth,
        num_heads=max(1, embed_dim // 64),
        mlp_ratio=sd["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim,
        qkv_bias="blocks.0.attn.qkv.bias" in sd,
        class_token=class_token,
        fc_norm=fc_norm,
        representation_size=sd["pre_logits.fc.weight"].shape[0] if "pre_logits.fc.weight" in sd else None,
    )
    cfg.update(overrides)
    return ViTConfig.from_kwargs(**cfg)


def infer_config_npz(npz: dict[str, np.ndarray], **overrides) -> ViTConfig:
    """Config of a Google npz: heads from the (C, heads, head_dim) kernels, tanh GELU as in vit_jax."""
    heads = npz[NPZ_BLOCK.format(i=0) + "MultiHeadDotProductAttention_1/query/kernel"].shape[1]
    overrides = {"num_heads": heads, "act_layer": "gelu_tanh", "norm_eps": 1e-6, "fc_norm": False, **overrides}
    return infer_config(npz_to_swin_hub(npz), **overrides)


ARCH_KWARGS = ("embed_dim", "depth", "num_heads", "patch_size", "mlp_ratio", "class_token")


def describe(cfg, heads: bool = True) -> str:
    """The architecture kwargs; `heads=False` for a state dict, whose fused qkv does not store them."""
    return ", ".join(f"{k}={getattr(cfg, k)}" for k in ARCH_KWARGS if heads or k != "num_heads")


def fit_to_model(sd: dict, model: torch.nn.Module) -> dict:
    """Resample the position embedding to `model`'s patch grid (antialiased bicubic, as timm).
    Any other shape difference means another size of ViT: a SizeMismatchError naming the
    tensors and the checkpoint's architecture."""
    pos, own = sd.get("pos_embed"), model.pos_embed
    prefix = model.num_prefix_tokens
    if pos is not None and pos.shape != own.shape and pos.shape[-1] == own.shape[-1]:
        side = math.isqrt(pos.shape[1] - prefix)
        if side * side == pos.shape[1] - prefix:  # a square grid plus prefix tokens
            _logger.warning(f"resampled pos_embed grid {side}x{side} -> {model.grid_size[0]}x{model.grid_size[1]} (bicubic)")
            sd = {**sd, "pos_embed": resample_pos_embed(pos, (side, side), model.grid_size, prefix)}
    wrong = shape_mismatches(sd, model.state_dict())
    if wrong:
        try:
            arch = describe(infer_config(sd), heads=False)
        except (KeyError, IndexError, ValueError):
            arch = "not readable from its shapes"
        where = f"{type(model).__name__} ({describe(model.cfg)})" if hasattr(model, "cfg") else type(model).__name__
        raise size_mismatch_error(wrong, where, arch)
    return sd


def checkpoint_filter_fn(state_dict: dict, model: torch.nn.Module | None) -> dict:
    """timm `pretrained_filter_fn`: timm and swin_hub ViT state dicts share names (our
    transformers classes add a `model.` prefix); position embedding fitted to the model."""
    state_dict = strip_wrapper_prefix(state_dict)
    if is_transformers_vit(state_dict):  # the google/vit-* Hub repos; a classifier checkpoint's pooler is unused
        has_head = any(k.endswith("classifier.weight") for k in state_dict)
        state_dict = transformers_vit_to_swin_hub(state_dict, pooler=not has_head)
    sd = {k: v for k, v in state_dict.items() if not k.startswith(("norm_pre.", "attn_pool."))}
    return fit_to_model(sd, model) if model is not None else sd
