"""Every checkpoint layout swin-hub reads, in one table.

A layout is a (family, name) pair with four facts: how to recognise it from the tensors, how
to map it to swin_hub's names, how to read the architecture off it, and which independent
implementation the converted model must reproduce (the parity reference). `identify` unwraps a
checkpoint once, asks the detectors in table order, and returns the first layout that claims
it with the weights in swin_hub names; nothing else probes the tensors again.

Families: `swin` (V1), `swinv2`, `vit`. Names: `official` (Microsoft releases), `google_npz`
(Google's ViT releases), `timm`, `swin_hub`, `transformers`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..models.swin import SwinConfig
from ..models.vit import ViTConfig
from . import swin as swin_convert
from . import swinv2 as v2
from . import transformers_layout as tl
from . import vit as vit_convert
from .common import unwrap


class LayoutError(ValueError):
    """A checkpoint no layout claims, or one whose architecture cannot be read off it."""


@dataclass(frozen=True)
class Layout:
    family: str  # 'swin' | 'swinv2' | 'vit'
    name: str  # 'official' | 'google_npz' | 'timm' | 'swin_hub' | 'transformers'
    detect: Callable[[dict, dict], bool]  # (unwrapped tensors, folder config.json or {})
    to_ours: Callable[[dict], dict]  # unwrapped tensors -> swin_hub state dict
    config: Callable[..., Any]  # (swin_hub sd, unwrapped sd, folder config, **overrides) -> model config
    reference: Callable | None  # (source, unwrapped sd, cfg, x) -> (name, output, note); None: no independent one


# --- Swin V1 ------------------------------------------------------------------------------------
def _swin_v1(name: str) -> Callable[[dict, dict], bool]:
    def detect(sd: dict, folder: dict) -> bool:
        named = "patch_embed.proj.weight" in sd and any(k.endswith(".relative_position_bias_table") for k in sd)
        return named and swin_convert.detect_format(sd) == name

    return detect


def _swin_config(ours: dict, sd: dict, folder: dict, **overrides) -> SwinConfig:
    return swin_convert.infer_config(ours, drop_path_rate=0.0, **overrides)


def _swin_transformers_config(ours: dict, sd: dict, folder: dict, **overrides) -> SwinConfig:
    if folder.get("model_type") != "swin":
        return _swin_config(ours, sd, folder, **overrides)
    import transformers

    num_classes = ours["head.weight"].shape[0] if "head.weight" in ours else 0
    return tl.swin_config_from_transformers(transformers.SwinConfig(**folder), num_classes=num_classes, **overrides)


def _timm_swin_reference(source, sd: dict, cfg: SwinConfig, x: torch.Tensor):
    from timm.models.swin_transformer import SwinTransformer as TimmSwin
    from timm.models.swin_transformer import checkpoint_filter_fn

    if cfg.ape or cfg.act_layer != "gelu" or cfg.qk_scale is not None:
        return "none", None, "timm's Swin has no absolute position embedding / other activations / qk_scale"
    model = TimmSwin(
        img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
        embed_dim=cfg.embed_dim, depths=cfg.depths, num_heads=cfg.num_heads, window_size=cfg.window_size,
        mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, drop_path_rate=0.0,
    ).eval()
    model.load_state_dict(checkpoint_filter_fn(sd, model), strict=True)
    with torch.no_grad():
        return "timm.models.swin_transformer.SwinTransformer", model(x), "timm's own filter loads the source file"


# --- Swin V2 ------------------------------------------------------------------------------------
def _swinv2(name: str) -> Callable[[dict, dict], bool]:
    layout = next(layout for layout in v2.LAYOUTS if layout.name == name)
    return lambda sd, folder: layout.detect(sd)


def _swinv2_config(name: str) -> Callable[..., Any]:
    """The layout's shapes and, where it kept them (official buffers, transformers' config.json),
    its window geometry; a layout without (timm, swin_hub's bare weights) needs it as overrides
    (`swin-hub convert --model scratch_swinv2_...`)."""
    layout = next(layout for layout in v2.LAYOUTS if layout.name == name)

    def config(ours: dict, sd: dict, folder: dict, **overrides) -> v2.SwinV2Config:
        if name == "transformers" and folder.get("model_type") == "swinv2":
            import transformers

            num_classes = ours["head.weight"].shape[0] if "head.weight" in ours else 0
            return v2.config_from_transformers(transformers.Swinv2Config(**folder), num_classes=num_classes, **overrides)
        kwargs = {**layout.infer_config(sd), "drop_path_rate": 0.0, **overrides}
        missing = v2.missing_window(kwargs)
        if missing:
            raise LayoutError(
                f"a {name}-layout Swin V2 checkpoint does not record its window ({', '.join(missing)} unknown: "
                "the position-bias MLP is the same for every window); name the architecture with "
                "--model scratch_swinv2_... (e.g. scratch_swinv2_t_w8_256)"
            )
        return v2.SwinV2Config.from_kwargs(**kwargs)

    return config


def _timm_swinv2_reference(source, sd: dict, cfg: v2.SwinV2Config, x: torch.Tensor):
    from timm.models.swin_transformer_v2 import SwinTransformerV2 as TimmSwinV2
    from timm.models.swin_transformer_v2 import checkpoint_filter_fn

    if cfg.ape or cfg.act_layer != "gelu" or not cfg.patch_norm:
        return "none", None, "timm's Swin V2 has no absolute position embedding / other activations / no patch norm"
    model = TimmSwinV2(
        img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
        embed_dim=cfg.embed_dim, depths=cfg.depths, num_heads=cfg.num_heads, window_size=cfg.window_size,
        mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, drop_path_rate=0.0,
        pretrained_window_sizes=cfg.pretrained_window_sizes,
    ).eval()
    model.load_state_dict(checkpoint_filter_fn(sd, model), strict=True)
    with torch.no_grad():
        return "timm.models.swin_transformer_v2.SwinTransformerV2", model(x), "timm's own filter loads the source file"


# --- ViT ----------------------------------------------------------------------------------------
def _vit_timm_names(sd: dict) -> bool:
    return "pos_embed" in sd and "patch_embed.proj.weight" in sd and "blocks.0.attn.qkv.weight" in sd


def _vit_to_ours(sd: dict) -> dict:
    sd = vit_convert.checkpoint_filter_fn(sd, None)
    return {k.replace("head.fc.", "head."): v for k, v in sd.items()}


def _vit_config(act_layer: str, norm_eps: float | None = None) -> Callable[..., ViTConfig]:
    """Shapes; the heads are not in a fused qkv weight: recorded ones (timm's model_args) win over
    the head_dim-64 convention. timm's and transformers' ViTs use the exact GELU."""

    def config(ours: dict, sd: dict, folder: dict, **overrides) -> ViTConfig:
        model_args = folder.get("model_args") or {}
        heads = {"num_heads": model_args["num_heads"]} if "num_heads" in model_args else {}
        eps = {} if norm_eps is None else {"norm_eps": norm_eps}
        return vit_convert.infer_config(ours, act_layer=act_layer, **eps, **heads, **overrides)

    return config


def _vit_transformers_config(ours: dict, sd: dict, folder: dict, **overrides) -> ViTConfig:
    if folder.get("model_type") != "vit":
        return _vit_config("gelu", 1e-12)(ours, sd, folder, **overrides)  # transformers' ViTConfig defaults
    import transformers

    num_classes = ours["head.weight"].shape[0] if "head.weight" in ours else 0
    pooler = "pre_logits.fc.weight" in ours
    return tl.vit_config_from_transformers(transformers.ViTConfig(**folder), pooler=pooler, num_classes=num_classes,
                                           **overrides)


def _vit_transformers_to_ours(sd: dict) -> dict:
    has_head = any(k.endswith("classifier.weight") for k in sd)  # a classifier's pooler is unused
    return tl.transformers_vit_to_swin_hub(sd, pooler=not has_head)


def _timm_vit_reference(source, sd: dict, cfg: ViTConfig, x: torch.Tensor):
    from timm.layers import GELUTanh
    from timm.models.vision_transformer import VisionTransformer as TimmViT
    from timm.models.vision_transformer import _load_weights

    if cfg.representation_size:
        return "none", None, "timm's ViT has no representation (pre-logits) layer"
    act = {"gelu": torch.nn.GELU, "gelu_tanh": GELUTanh}[cfg.act_layer]
    model = TimmViT(
        img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
        global_pool=cfg.global_pool, embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, class_token=cfg.class_token, fc_norm=cfg.fc_norm,
        act_layer=act, norm_layer=partial(torch.nn.LayerNorm, eps=cfg.norm_eps),
    ).eval()
    if "embedding/kernel" in sd:
        _load_weights(model, str(source.weights_file))
        name = "timm VisionTransformer + timm's npz loader"
    else:
        model.load_state_dict(sd, strict=True)
        name = "timm.models.vision_transformer.VisionTransformer"
    with torch.no_grad():
        return name, model(x), "the source file loaded by timm"


# --- transformers' own classes, for every family ------------------------------------------------
def _transformers_reference(source, sd: dict, cfg, x: torch.Tensor):
    import transformers

    family = {SwinConfig: "swin", v2.SwinV2Config: "swinv2", ViTConfig: "vit"}[type(cfg)]
    folder = source.weights_file.parent
    if source.folder_config is None:  # a lone weights file: give transformers a folder
        tmp = Path(tempfile.mkdtemp(prefix="swin-hub-ref-"))
        make = {"swin": tl.transformers_swin_config, "swinv2": v2.transformers_config, "vit": tl.transformers_vit_config}
        make[family](cfg).save_pretrained(tmp)
        (tmp / source.weights_file.name).symlink_to(source.weights_file.resolve())
        folder = tmp
    head = cfg.num_classes > 0
    prefix = {"swin": "Swin", "swinv2": "Swinv2", "vit": "ViT"}[family]
    cls = getattr(transformers, f"{prefix}ForImageClassification" if head else f"{prefix}Model")
    kwargs = {} if family != "vit" or head else {"add_pooling_layer": bool(cfg.representation_size)}
    model = cls.from_pretrained(folder, attn_implementation="eager", **kwargs).eval()
    with torch.no_grad():
        out = model(pixel_values=x)
    if head:
        return f"transformers.{cls.__name__}", out.logits, "the source loaded by transformers"
    return f"transformers.{cls.__name__}", out.pooler_output, "pooled features (no head)"


# --- the table ----------------------------------------------------------------------------------
def _ours(folder: dict, model_type: str) -> bool:
    return folder.get("model_type") == model_type


# Order matters where names overlap: transformers' names are distinct from all others; V2 is told
# from V1 by its CPB MLP; the ViT layouts of timm and swin_hub share names (a swin_hub repo says so
# in its config.json).
LAYOUTS = (
    Layout("vit", "google_npz", lambda sd, f: "embedding/kernel" in sd, vit_convert.npz_to_swin_hub,
           lambda ours, sd, f, **o: vit_convert.infer_config_npz(sd, **o), _timm_vit_reference),
    Layout("swin", "transformers", lambda sd, f: tl.is_transformers_swin(sd), tl.transformers_swin_to_swin_hub,
           _swin_transformers_config, _transformers_reference),
    Layout("swinv2", "transformers", _swinv2("transformers"), v2.transformers_to_ours,
           _swinv2_config("transformers"), _transformers_reference),
    Layout("vit", "transformers", lambda sd, f: tl.is_transformers_vit(sd), _vit_transformers_to_ours,
           _vit_transformers_config, _transformers_reference),
    Layout("swin", "official", _swin_v1("official"), lambda sd: swin_convert.to_swin_hub(sd)[0],
           _swin_config, _timm_swin_reference),
    Layout("swin", "timm", _swin_v1("timm"), lambda sd: swin_convert.to_swin_hub(sd)[0],
           _swin_config, _timm_swin_reference),
    Layout("swin", "swin_hub", _swin_v1("swin_hub"), lambda sd: swin_convert.to_swin_hub(sd)[0],
           _swin_config, None),
    Layout("swinv2", "official", _swinv2("official"), v2.official_to_ours, _swinv2_config("official"),
           _timm_swinv2_reference),
    Layout("swinv2", "timm", _swinv2("timm"), v2.timm_to_ours, _swinv2_config("timm"), _timm_swinv2_reference),
    Layout("swinv2", "swin_hub", _swinv2("swin_hub"), v2.swin_hub_to_ours, _swinv2_config("swin_hub"), None),
    Layout("vit", "swin_hub", lambda sd, f: _vit_timm_names(sd) and _ours(f, "scratch_vit"), _vit_to_ours,
           _vit_config("gelu"), None),
    Layout("vit", "timm", lambda sd, f: _vit_timm_names(sd), _vit_to_ours, _vit_config("gelu"), _timm_vit_reference),
)


def as_tensors(raw: dict) -> dict:
    """The weights, unwrapped once ({'model': sd}, {'state_dict': sd}, the `model.` prefix), as
    tensors (npz arrays too)."""
    sd = unwrap(raw)
    return {k: v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v)) for k, v in sd.items()}


def identify(raw: dict, folder: dict | None = None, where: str = "checkpoint") -> tuple[Layout, dict, dict]:
    """(layout, unwrapped tensors, swin_hub state dict) of a checkpoint; `folder`: the config.json
    beside it. LayoutError, naming `where` and the first keys, when no layout claims it."""
    folder = folder or {}
    sd = as_tensors(raw)
    for layout in LAYOUTS:
        if layout.detect(sd, folder):
            return layout, sd, layout.to_ours(sd)
    shapes = ", ".join(f"{k} {tuple(getattr(v, 'shape', ()))}" for k, v in list(sd.items())[:6])
    raise LayoutError(f"{where}: not a Swin, Swin V2 or ViT checkpoint of any known layout; first keys: {shapes}")


def layout_of(family: str, name: str) -> Layout:
    return next(layout for layout in LAYOUTS if (layout.family, layout.name) == (family, name))
