"""Swin V2 checkpoints: other layouts -> swin_hub's, swin_hub's -> transformers', and the
architecture read off the tensors.

Layouts, recognised from the tensor names, never from file names:
- official Microsoft release (`{'model': sd}` or bare): patch merging at the END of stages
  (`layers.0.downsample`), `head.weight`, and usually the buffers `relative_coords_table`,
  `relative_position_index` (every block) and `attn_mask` (shifted blocks);
- timm (`swinv2_*`): merging at the START of stages, `head.fc.weight`, no buffers;
- swin_hub: timm's layout with `head.weight`;
- transformers (`Swinv2Model` / `Swinv2ForImageClassification`, one naming in 4.x and 5.x):
  split query/key/value (no key bias), `continuous_position_bias_mlp`, `layernorm_before` /
  `layernorm_after` for what are post-norms in v2, merging at the end of stages, `swinv2.` prefix.

Each layout is a `Layout`: `detect(sd) -> bool`, `to_ours(sd) -> sd`, `infer_config(sd) -> dict`
of SwinV2Config kwargs. Buffers are never loaded (they are recomputed from the window), but
the coordinate tables are read: their shape gives each stage's window and their values the
pretrained window the coordinates were normalised by. timm and transformers state dicts have
no buffers, so their window, image size and pretrained windows come from the caller
(a timm model name or a transformers config: `config_from_transformers`).

The window change rule (`change_window`): fine-tuning at another window, as the official
192 px / w12 -> 256 px / w16 (or 384 / w24) checkpoints, changes no weight: the CPB MLP takes
coordinates, not a table, so only the coordinates' normalisation changes, to the window each
stage was trained with (`pretrained_window_sizes`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

import torch

from ..models.swin import stage_resolutions
from ..models.swinv2 import CPB_HIDDEN, SwinV2Config, relative_coords_table
from .common import unwrap
from .swin import resize_abs_pos_embed
from .transformers_layout import (
    ACT_TO_TRANSFORMERS,
    SWIN_FIXED_EPS,
    _act_from_transformers,
    _check_mlp_widths,
    _fuse_qkv,
    _head_check,
    _pair,
    _single,
    _split_qkv,
    _strip_base,
)

if TYPE_CHECKING:
    import transformers

# buffers of the official and transformers layouts: weight-free, never loaded
BUFFERS = ("relative_coords_table", "relative_position_index", "attn_mask")
OFFICIAL_MARK = "layers.0.downsample.reduction.weight"  # merging at the end of stage 0
TRANSFORMERS_BASE = "swinv2"  # Swinv2ForImageClassification's prefix; a bare Swinv2Model has none

# swin_hub name -> transformers name (module and checkpoint names agree for Swinv2)
TRANSFORMERS_STEM = {
    "patch_embed.proj": "embeddings.patch_embeddings.projection",
    "patch_embed.norm": "embeddings.norm",
    "norm": "layernorm",
}
TRANSFORMERS_BLOCK = {  # inside `layers.i.blocks.j.` / `encoder.layers.i.blocks.j.`
    "norm1": "layernorm_before",  # applied after attention in v2, whatever the name says
    "attn.logit_scale": "attention.self.logit_scale",
    "attn.cpb_mlp": "attention.self.continuous_position_bias_mlp",
    "attn.q_bias": "attention.self.query.bias",
    "attn.v_bias": "attention.self.value.bias",
    "attn.proj": "attention.output.dense",
    "norm2": "layernorm_after",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
}
TRANSFORMERS_QKV = ("attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight")
MERGE_PARAMS = ("reduction.weight", "norm.weight", "norm.bias")
SKIPPED = ("embeddings.mask_token",)  # SimMIM pre-training only


@dataclass(frozen=True)
class Layout:
    """One source layout: how to recognise it, map it to swin_hub names, and read its config."""

    name: str
    detect: Callable[[dict], bool]
    to_ours: Callable[[dict], dict]
    infer_config: Callable[[dict], dict]


# --- detection ----------------------------------------------------------------------------------
def is_swinv2(state_dict: dict) -> bool:
    """True for the weights of any Swin V2 layout (a CPB MLP in some block)."""
    sd = unwrap(state_dict)
    return any(k.endswith((".attn.cpb_mlp.0.weight", ".continuous_position_bias_mlp.0.weight")) for k in sd)


def is_transformers(state_dict: dict) -> bool:
    sd = _strip_base(unwrap(state_dict), TRANSFORMERS_BASE)
    return "embeddings.patch_embeddings.projection.weight" in sd and is_swinv2(sd)


def _timm_family(sd: dict) -> bool:
    """timm's names (official, timm or swin_hub layout) with a CPB MLP."""
    return "patch_embed.proj.weight" in sd and any(k.endswith(".attn.cpb_mlp.0.weight") for k in sd)


def is_official(state_dict: dict) -> bool:
    sd = unwrap(state_dict)
    if not _timm_family(sd):
        return False
    # headless single-stage checkpoints have the same names in every layout: read as official
    return OFFICIAL_MARK in sd or not (is_timm(sd) or is_swin_hub(sd))


def is_timm(state_dict: dict) -> bool:
    sd = unwrap(state_dict)
    return _timm_family(sd) and OFFICIAL_MARK not in sd and "head.fc.weight" in sd


def is_swin_hub(state_dict: dict) -> bool:
    sd = unwrap(state_dict)
    return (
        _timm_family(sd)
        and OFFICIAL_MARK not in sd
        and "head.fc.weight" not in sd
        and ("head.weight" in sd or any(k.startswith("layers.1.downsample.") for k in sd))
    )


# --- key maps -----------------------------------------------------------------------------------
def official_to_ours(state_dict: dict) -> dict[str, torch.Tensor]:
    """Official release weights -> swin_hub's: merging moves from the end of stage i to the start
    of stage i + 1; buffers are dropped."""
    out = {}
    for k, v in unwrap(state_dict).items():
        if k.rsplit(".", 1)[-1] in BUFFERS:
            continue
        out[re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m[1]) + 1}.downsample.", k)] = v
    return out


def timm_to_ours(state_dict: dict) -> dict[str, torch.Tensor]:
    """timm `swinv2_*` weights -> swin_hub's: only the classifier's name differs."""
    return {
        ("head." + k[len("head.fc.") :] if k.startswith("head.fc.") else k): v
        for k, v in unwrap(state_dict).items()
        if k.rsplit(".", 1)[-1] not in BUFFERS
    }


def swin_hub_to_ours(state_dict: dict) -> dict[str, torch.Tensor]:
    return {k: v for k, v in unwrap(state_dict).items() if k.rsplit(".", 1)[-1] not in BUFFERS}


def _to_hub(sub: str, table: dict) -> str | None:
    """A transformers (sub-)key -> swin_hub's through `table` (whole names or module prefixes)."""
    for hub, name in table.items():
        if sub == name or sub.startswith(name + "."):
            return hub + sub[len(name) :]
    return None


def _from_hub(sub: str, table: dict) -> str | None:
    for hub, name in table.items():
        if sub == hub or sub.startswith(hub + "."):
            return name + sub[len(hub) :]
    return None


def transformers_to_ours(state_dict: dict) -> dict[str, torch.Tensor]:
    """transformers Swinv2Model / Swinv2ForImageClassification weights -> swin_hub's."""
    sd = _strip_base(unwrap(state_dict), TRANSFORMERS_BASE)
    if "embeddings.patch_embeddings.projection.weight" not in sd:
        raise ValueError(f"not a transformers Swinv2 state dict; first keys: {', '.join(list(sd)[:5])}")
    if "embeddings.position_embeddings" in sd:
        raise ValueError(
            "embeddings.position_embeddings: transformers' Swinv2 sizes its absolute position embedding for "
            "num_patches + 1 tokens and cannot add it to the num_patches patch tokens, so no such model runs; "
            "use the official or timm checkpoint of an `ape` model instead"
        )
    out, qkv = {}, {}
    for key, v in sd.items():
        if key.rsplit(".", 1)[-1] in BUFFERS or key in SKIPPED:
            continue
        if m := re.fullmatch(r"encoder\.layers\.(\d+)\.blocks\.(\d+)\.(.+)", key):
            block = f"layers.{m[1]}.blocks.{m[2]}."
            if m[3] in TRANSFORMERS_QKV:
                qkv.setdefault(block + "attn.qkv.weight", [None] * 3)[TRANSFORMERS_QKV.index(m[3])] = v
                continue
            name = _to_hub(m[3], TRANSFORMERS_BLOCK)
            name = block + name if name else None
        elif (m := re.fullmatch(r"encoder\.layers\.(\d+)\.downsample\.(.+)", key)) and m[2] in MERGE_PARAMS:
            name = f"layers.{int(m[1]) + 1}.downsample.{m[2]}"  # end of stage i there = start of i + 1 here
        elif key.startswith("classifier."):
            name = "head" + key[len("classifier") :]
        else:
            name = _to_hub(key, TRANSFORMERS_STEM)
        if name is None:
            raise ValueError(
                f"unexpected key '{key}' in a transformers Swinv2 state dict: only Swinv2Model and "
                "Swinv2ForImageClassification weights are mapped"
            )
        out[name] = v
    out.update(_fuse_qkv(qkv))
    return out


def ours_to_transformers(state_dict: dict, cfg: SwinV2Config) -> dict[str, torch.Tensor]:
    """swin_hub SwinTransformerV2 weights -> Swinv2ForImageClassification's (num_classes > 0) or a
    bare Swinv2Model's (num_classes = 0), for `load_state_dict` or a `model.safetensors`."""
    check_transformers_exportable(cfg)
    sd = swin_hub_to_ours(state_dict)
    _head_check(sd, cfg, "Swinv2")
    base = TRANSFORMERS_BASE + "." if cfg.num_classes > 0 else ""
    out = {}
    for key, v in sd.items():
        if m := re.fullmatch(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)", key):
            block = f"encoder.layers.{m[1]}.blocks.{m[2]}."
            if m[3] == "attn.qkv.weight":
                for name, part in zip(TRANSFORMERS_QKV, _split_qkv(key, v)):
                    out[base + block + name] = part
                continue
            name = _from_hub(m[3], TRANSFORMERS_BLOCK)
            name = base + block + name if name else None
        elif (m := re.fullmatch(r"layers\.(\d+)\.downsample\.(.+)", key)) and m[2] in MERGE_PARAMS:
            name = f"{base}encoder.layers.{int(m[1]) - 1}.downsample.{m[2]}"
        elif key.startswith("head."):
            name = "classifier" + key[len("head") :]
        else:
            name = _from_hub(key, TRANSFORMERS_STEM)
            name = base + name if name else None
        if name is None:
            raise ValueError(f"unexpected key '{key}' in a swin_hub Swin V2 state dict")
        out[name] = v
    return out


# --- config inference ---------------------------------------------------------------------------
def shape_config(sd: dict) -> dict:
    """SwinV2Config kwargs read off a swin_hub-layout state dict's shapes: everything but the
    window geometry (window_size, pretrained_window_sizes; img_size unless `ape`)."""
    w = sd["patch_embed.proj.weight"]  # (C, in_chans, p, p)
    embed_dim, in_chans, patch = w.shape[0], w.shape[1], w.shape[-1]
    stages = sorted({int(m[1]) for k in sd if (m := re.match(r"layers\.(\d+)\.blocks\.", k))})
    depths = [1 + max(int(m[1]) for k in sd if (m := re.match(rf"layers\.{i}\.blocks\.(\d+)\.", k))) for i in stages]
    heads = [sd[f"layers.{i}.blocks.0.attn.logit_scale"].shape[0] for i in stages]  # (nH, 1, 1)
    hidden = sd["layers.0.blocks.0.attn.cpb_mlp.0.weight"].shape[0]
    if hidden != CPB_HIDDEN:
        raise ValueError(f"cpb_mlp has {hidden} hidden units; swin_hub's Swin V2 has the official {CPB_HIDDEN}")
    kwargs = dict(
        patch_size=patch,
        in_chans=in_chans,
        num_classes=sd["head.weight"].shape[0] if "head.weight" in sd else 0,
        embed_dim=embed_dim,
        depths=tuple(depths),
        num_heads=tuple(heads),
        mlp_ratio=sd["layers.0.blocks.0.mlp.fc1.weight"].shape[0] / embed_dim,
        qkv_bias="layers.0.blocks.0.attn.q_bias" in sd,
        ape="absolute_pos_embed" in sd,
        patch_norm="patch_embed.norm.weight" in sd,
    )
    if kwargs["ape"]:
        grid = math.isqrt(sd["absolute_pos_embed"].shape[1])
        kwargs["img_size"] = grid * patch
    return kwargs


def pretrained_window_of(coords: torch.Tensor) -> int:
    """The pretrained window an official `relative_coords_table` (1, 2wh-1, 2ww-1, 2) was normalised
    by: 0 when it is the table's own window. Its largest offset w-1 sits at
    log2(8 * (w-1) / (p-1) + 1) / 3, solved for p, then checked against the whole table."""
    _, rows, cols, _ = coords.shape
    window = ((rows + 1) // 2, (cols + 1) // 2)
    if max(window) == 1:
        return 0  # only the offset 0: any normalisation gives the same table
    dim = 0 if window[0] > 1 else 1
    edge = coords[0, -1, -1, dim].double().item()
    p = round(1 + 8 * (window[dim] - 1) / (2 ** (3 * edge) - 1))
    p = 0 if p == window[dim] else p
    expected = relative_coords_table(window, (p, p)).view(rows, cols, 2)
    if not torch.allclose(coords[0].float(), expected, atol=1e-5):
        raise ValueError(f"relative_coords_table of window {window} matches no square pretrained window")
    return p


def geometry_config(sd: dict, block: str) -> dict:
    """window_size, img_size and pretrained_window_sizes from the coordinate tables of a checkpoint
    that kept them (`block` formats stage i's first block: official or transformers names); {} if none.

    The largest table is the configured window (smaller ones are stages the window did not fit);
    the image size is the official convention: the last stage is exactly one window.
    """
    tables = []
    for i in range(len({int(m[1]) for k in sd if (m := re.match(r"(?:encoder\.)?layers\.(\d+)\.blocks\.", k))})):
        coords = sd.get(block.format(i=i) + "relative_coords_table")
        if coords is None:
            return {}
        tables.append(coords)
    if not tables:
        return {}
    windows = [((t.shape[1] + 1) // 2, (t.shape[2] + 1) // 2) for t in tables]
    if any(h != w for h, w in windows):
        raise ValueError(f"non-square windows {windows} in an official-format checkpoint")
    patch = next(v for k, v in sd.items() if k.endswith(("patch_embed.proj.weight", "projection.weight"))).shape[-1]
    return dict(
        window_size=max(h for h, _ in windows),
        img_size=patch * 2 ** (len(windows) - 1) * windows[-1][0],
        pretrained_window_sizes=tuple(pretrained_window_of(t) for t in tables),
    )


def _official_config(state_dict: dict) -> dict:
    sd = unwrap(state_dict)
    return {**shape_config(official_to_ours(sd)), **geometry_config(sd, "layers.{i}.blocks.0.attn.")}


def _transformers_config(state_dict: dict) -> dict:
    sd = _strip_base(unwrap(state_dict), TRANSFORMERS_BASE)
    geometry = geometry_config(sd, "encoder.layers.{i}.blocks.0.attention.self.")
    return {**shape_config(transformers_to_ours(sd)), **geometry}


def _timm_config(state_dict: dict) -> dict:
    return shape_config(timm_to_ours(state_dict))


# detection order: transformers' names are distinct; official before timm / swin_hub (see is_official)
LAYOUTS = (
    Layout("transformers", is_transformers, transformers_to_ours, _transformers_config),
    Layout("official", is_official, official_to_ours, _official_config),
    Layout("timm", is_timm, timm_to_ours, _timm_config),
    Layout("swin_hub", is_swin_hub, swin_hub_to_ours, lambda sd: shape_config(swin_hub_to_ours(sd))),
)


def detect_layout(state_dict: dict) -> Layout:
    for layout in LAYOUTS:
        if layout.detect(state_dict):
            return layout
    some = ", ".join(list(unwrap(state_dict))[:5])
    raise ValueError(f"not a Swin V2 state dict (no cpb_mlp / continuous_position_bias_mlp); first keys: {some}")


def to_swin_hub(state_dict: dict) -> tuple[dict, str]:
    """Any supported Swin V2 layout -> swin_hub names. Returns (state_dict, layout name)."""
    layout = detect_layout(state_dict)
    return layout.to_ours(state_dict), layout.name


def missing_window(kwargs: dict) -> list[str]:
    """The window geometry a config still lacks: timm's, transformers' and swin_hub's weights
    carry no coordinate tables, and the CPB MLP is the same for every window."""
    return [k for k in ("window_size", "img_size") if k not in kwargs]


def infer_config(state_dict: dict, **overrides) -> SwinV2Config:
    """The SwinV2Config of a state dict in any layout; `overrides` win (and must supply the window
    geometry of state dicts that carry no coordinate tables: timm's, transformers', swin_hub's)."""
    kwargs = {**detect_layout(state_dict).infer_config(state_dict), **overrides}
    missing = missing_window(kwargs)
    if missing:
        raise ValueError(
            f"this state dict carries no window geometry (no relative_coords_table buffers): pass {missing} "
            "(and pretrained_window_sizes for a checkpoint fine-tuned at another window), e.g. "
            "window_size=8, img_size=256 for swinv2_tiny_window8_256"
        )
    return SwinV2Config.from_kwargs(**kwargs)


def change_window(cfg: SwinV2Config, window_size: int, img_size: int | tuple[int, int]) -> SwinV2Config:
    """cfg's network fine-tuned at another window and resolution, the official way (192 / w12 ->
    256 / w16): every stage's coordinates stay normalised by the window it was trained with, which
    becomes its pretrained window. The weights load unchanged (the CPB MLP needs no resizing)."""
    resolutions = stage_resolutions(cfg.img_size, cfg.patch_size, len(cfg.depths), cfg.window_size)
    trained = []
    for i, (p, (h, w)) in enumerate(zip(cfg.pretrained_window_sizes, resolutions)):
        table = (min(h, cfg.window_size), min(w, cfg.window_size))
        if not p and table[0] != table[1]:
            raise ValueError(f"stage {i} was trained with a {table[0]}x{table[1]} window; pretrained windows are square")
        trained.append(p or table[0])
    return replace(cfg, window_size=window_size, img_size=img_size, pretrained_window_sizes=tuple(trained))


def checkpoint_filter_fn(state_dict: dict, model: torch.nn.Module | None) -> dict:
    """timm `pretrained_filter_fn`: any layout -> this model's names; an absolute position
    embedding is resized (bicubic) to the model's grid. Windows need no resizing."""
    sd = to_swin_hub(state_dict)[0]
    pos = sd.get("absolute_pos_embed")
    if model is not None and pos is not None and model.absolute_pos_embed is not None:
        if pos.shape != model.absolute_pos_embed.shape:
            sd["absolute_pos_embed"] = resize_abs_pos_embed(pos, model.grid_size)
    return sd


# --- transformers configs -----------------------------------------------------------------------
def check_transformers_exportable(cfg: SwinV2Config) -> None:
    """Raise ValueError, naming the field, if transformers' Swinv2 cannot compute this network."""
    if cfg.global_pool != "avg":
        raise ValueError(f"global_pool={cfg.global_pool!r}: transformers' Swinv2 always average-pools the tokens")
    if not cfg.patch_norm:
        raise ValueError("patch_norm=False: transformers' Swinv2 always normalises the patch embedding")
    if cfg.ape:
        raise ValueError(
            "ape=True: transformers' Swinv2 sizes its absolute position embedding for num_patches + 1 tokens "
            "and cannot run with it"
        )
    if cfg.norm_eps != SWIN_FIXED_EPS:
        raise ValueError(
            f"norm_eps={cfg.norm_eps}: transformers' Swinv2 fixes eps={SWIN_FIXED_EPS} in its patch-embedding and "
            "patch-merging LayerNorms, so only norm_eps=1e-5 gives the same network"
        )
    _check_mlp_widths(cfg)
    gh, gw = (s // cfg.patch_size for s in cfg.img_size)  # transformers' grid (it pads the image)
    ws = cfg.window_size
    ours = stage_resolutions(cfg.img_size, cfg.patch_size, len(cfg.depths), ws)
    for i, (h, w) in enumerate(ours):
        # transformers: the stage size by floor division, and one square window decided by the height
        th = gh // 2**i
        theirs = ((min(th, ws),) * 2, (0 if th <= ws else ws // 2,) * 2)
        mine = ((min(h, ws), min(w, ws)), (0 if h <= ws else ws // 2, 0 if w <= ws else ws // 2))
        if (th, gw // 2**i) != (h, w) or theirs != mine:
            raise ValueError(
                f"window_size={ws} with img_size={tuple(cfg.img_size)}: stage {i} is {h}x{w}, where transformers' "
                f"Swinv2 takes another window or shift (it decides one square window from the height); pick an "
                f"img_size with every stage larger than the window or square"
            )


def transformers_config(cfg: SwinV2Config, **kwargs) -> transformers.Swinv2Config:
    """A `transformers.Swinv2Config` for the same network; kwargs (id2label, ...) are passed on."""
    from transformers import Swinv2Config

    check_transformers_exportable(cfg)
    h, w = cfg.img_size
    args = dict(
        image_size=h if h == w else [h, w],
        patch_size=cfg.patch_size,
        num_channels=cfg.in_chans,
        embed_dim=cfg.embed_dim,
        depths=list(cfg.depths),
        num_heads=list(cfg.num_heads),
        window_size=cfg.window_size,
        pretrained_window_sizes=list(cfg.pretrained_window_sizes),
        mlp_ratio=cfg.mlp_ratio,
        qkv_bias=cfg.qkv_bias,
        hidden_dropout_prob=cfg.proj_drop_rate,
        attention_probs_dropout_prob=cfg.attn_drop_rate,
        drop_path_rate=cfg.drop_path_rate,
        hidden_act=ACT_TO_TRANSFORMERS[cfg.act_layer],
        use_absolute_embeddings=False,
        layer_norm_eps=cfg.norm_eps,
    )
    if "id2label" not in kwargs:
        args["num_labels"] = cfg.num_classes
    return Swinv2Config(**{**args, **kwargs})


def config_from_transformers(config: transformers.Swinv2Config, **overrides) -> SwinV2Config:
    """swin_hub SwinV2Config for a `transformers.Swinv2Config`; num_classes is its num_labels
    (pass num_classes=0 for a bare Swinv2Model)."""
    if config.layer_norm_eps != SWIN_FIXED_EPS:
        raise ValueError(
            f"layer_norm_eps={config.layer_norm_eps}: transformers' Swinv2 then mixes it with eps=1e-5 in the "
            "patch-embedding and patch-merging norms, which swin_hub's single norm_eps cannot express"
        )
    if config.use_absolute_embeddings:
        raise ValueError("use_absolute_embeddings=True: transformers' Swinv2 cannot run with it (num_patches + 1)")
    args = dict(
        img_size=_pair(config.image_size),
        patch_size=_single(config.patch_size, "patch_size"),
        in_chans=config.num_channels,
        num_classes=config.num_labels,
        embed_dim=config.embed_dim,
        depths=tuple(config.depths),
        num_heads=tuple(config.num_heads),
        window_size=config.window_size,
        pretrained_window_sizes=tuple(config.pretrained_window_sizes),
        mlp_ratio=config.mlp_ratio,
        qkv_bias=config.qkv_bias,
        norm_eps=config.layer_norm_eps,
        act_layer=_act_from_transformers(config),
        drop_rate=0.0,
        proj_drop_rate=config.hidden_dropout_prob,
        attn_drop_rate=config.attention_probs_dropout_prob,
        drop_path_rate=config.drop_path_rate,
    )
    cfg = SwinV2Config.from_kwargs(**{**args, **overrides})
    _check_mlp_widths(cfg)
    return cfg
