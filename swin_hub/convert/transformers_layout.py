"""transformers' own Swin and ViT layouts <-> swin_hub's, both directions, and the configs.

transformers names the same weights in two ways, and both are read here:
- checkpoint names: what the Hub holds, what `save_pretrained` writes and what transformers
  4.x modules use (`attention.self.query`, `intermediate.dense`, ViT's `encoder.layer.N`);
- module names: the `state_dict()` of transformers 5.x models (`attention.q_proj`,
  `mlp.fc1`, ViT's `layers.N`); 5.x renames checkpoint names on load and back on save.
The exporters write module names (for `load_state_dict`), or checkpoint names with
`checkpoint_names=True` (for a `model.safetensors` any transformers version can load).

Differences beyond names:
- q, k and v are three Linears there and one fused `qkv` (rows q, k, v) here;
- Swin patch merging ends stage N there (the official layout) and starts stage N+1 here
  (timm's). Its 2x2 channel order is the official one in both (`SwinPatchMerging` concatenates
  x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]), so no permutation is needed;
- index buffers (`relative_position_index`) are recomputed from the window, never read;
- `embeddings.mask_token` (SimMIM pre-training only) is dropped;
- ViTModel's pooler, tanh(Linear(class token after the final norm)), is the same function
  as swin_hub's `pre_logits` (representation_size, Google's representation layer), so it is
  mapped to `pre_logits.fc` (pass pooler=False to drop a pooler that was never trained).
  ViTForImageClassification has no pooler: its classifier reads the normed class token.

A bare SwinModel / ViTModel has no `swin.` / `vit.` prefix and no `classifier`; the
exporters write that layout for swin_hub models with num_classes=0.

Same weights, same function at the config's image size and at other square sizes. On a
non-square input whose map is no larger than the window in one dimension, transformers' Swin
uses one window and no shift in both dimensions (swin_hub: per dimension, as timm), and its
layers keep that shrunken window for later calls.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import torch

from ..models.swin import SwinConfig, stage_resolutions
from ..models.vit import ViTConfig
from .common import BUFFERS, strip_wrapper_prefix, unwrap

if TYPE_CHECKING:
    import transformers

# swin_hub name -> (transformers module name, transformers checkpoint name)
SWIN_STEM = {
    "patch_embed.proj": ("embeddings.patch_embeddings.projection",) * 2,
    "patch_embed.norm": ("embeddings.norm",) * 2,
    "absolute_pos_embed": ("embeddings.position_embeddings",) * 2,
    "norm": ("layernorm",) * 2,
}
SWIN_BLOCK = {  # inside `layers.i.blocks.j.` / `encoder.layers.i.blocks.j.`
    "norm1": ("layernorm_before", "layernorm_before"),
    "attn.relative_position_bias_table": (
        "attention.relative_position_bias.relative_position_bias_table",
        "attention.self.relative_position_bias_table",
    ),
    "attn.proj": ("attention.o_proj", "attention.output.dense"),
    "norm2": ("layernorm_after", "layernorm_after"),
    "mlp.fc1": ("mlp.fc1", "intermediate.dense"),
    "mlp.fc2": ("mlp.fc2", "output.dense"),
}
SWIN_QKV = (  # q, k, v: the row order of swin_hub's fused qkv
    ("attention.q_proj", "attention.self.query"),
    ("attention.k_proj", "attention.self.key"),
    ("attention.v_proj", "attention.self.value"),
)
SWIN_MERGE_PARAMS = ("reduction.weight", "norm.weight", "norm.bias")

VIT_STEM = {
    "cls_token": ("embeddings.cls_token",) * 2,
    "pos_embed": ("embeddings.position_embeddings",) * 2,
    "patch_embed.proj": ("embeddings.patch_embeddings.projection",) * 2,
    "norm": ("layernorm",) * 2,
    "pre_logits.fc": ("pooler.dense",) * 2,
}
VIT_BLOCK = {  # inside `blocks.i.` / `layers.i.` (module) / `encoder.layer.i.` (checkpoint)
    "norm1": ("layernorm_before", "layernorm_before"),
    "attn.proj": ("attention.o_proj", "attention.output.dense"),
    "norm2": ("layernorm_after", "layernorm_after"),
    "mlp.fc1": ("mlp.fc1", "intermediate.dense"),
    "mlp.fc2": ("mlp.fc2", "output.dense"),
}
VIT_QKV = (
    ("attention.q_proj", "attention.attention.query"),
    ("attention.k_proj", "attention.attention.key"),
    ("attention.v_proj", "attention.attention.value"),
)
VIT_BLOCK_PREFIX = ("layers.{i}.", "encoder.layer.{i}.")  # module, checkpoint

SKIPPED = ("embeddings.mask_token",)

# swin_hub act_layer -> transformers hidden_act (ACT2FN) computing the same function
ACT_TO_TRANSFORMERS = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu", "silu": "silu"}
# and back; gelu_new / gelu_python_tanh write the same tanh formula out in Python
ACT_FROM_TRANSFORMERS = {
    "gelu": "gelu",
    "gelu_python": "gelu",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_new": "gelu_tanh",
    "gelu_python_tanh": "gelu_tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
# transformers' Swin builds its patch-embedding and patch-merging LayerNorms with torch's
# default eps; only the block and final norms read layer_norm_eps
SWIN_FIXED_EPS = 1e-5


# --- detection --------------------------------------------------------------------------------
def _strip_base(sd: dict, base: str) -> dict:
    """`swin.x` / `vit.x` (a ForImageClassification) -> `x` (a bare model); others unchanged."""
    p = base + "."
    return {k[len(p) :] if k.startswith(p) else k: v for k, v in sd.items()}


def is_transformers_swin(state_dict: dict) -> bool:
    """True for the weights of transformers' SwinModel / SwinForImageClassification (either naming)."""
    sd = _strip_base(unwrap(state_dict), "swin")
    table = r"encoder\.layers\.\d+\.blocks\.\d+\.attention\.(self|relative_position_bias)\.relative_position_bias_table"
    return "embeddings.patch_embeddings.projection.weight" in sd and any(re.fullmatch(table, k) for k in sd)


def is_transformers_vit(state_dict: dict) -> bool:
    """True for the weights of transformers' ViTModel / ViTForImageClassification (either naming)."""
    sd = _strip_base(unwrap(state_dict), "vit")
    query = r"(layers|encoder\.layer)\.\d+\.attention\.(q_proj|attention\.query)\.weight"
    return "embeddings.cls_token" in sd and "embeddings.position_embeddings" in sd and any(
        re.fullmatch(query, k) for k in sd
    )


# --- name tables ------------------------------------------------------------------------------
def _to_hub(sub: str, table: dict) -> str | None:
    """A transformers (sub-)key in either naming -> swin_hub's, through `table`; None if unknown."""
    for hub, names in table.items():
        for name in names:
            if sub == name or sub.startswith(name + "."):
                return hub + sub[len(name) :]
    return None


def _from_hub(sub: str, table: dict, col: int) -> str | None:
    """A swin_hub (sub-)key -> transformers' (col 0: module names, 1: checkpoint names)."""
    for hub, names in table.items():
        if sub == hub or sub.startswith(hub + "."):
            return names[col] + sub[len(hub) :]
    return None


def _qkv_part(sub: str, qkv: tuple) -> tuple[int, str] | None:
    """`attention.k_proj.bias` -> (1, '.bias'): which third of the fused qkv, and the param."""
    for index, names in enumerate(qkv):
        for name in names:
            if sub.startswith(name + "."):
                return index, sub[len(name) :]
    return None


def _fuse_qkv(parts: dict[str, list]) -> dict[str, torch.Tensor]:
    """{swin_hub qkv key: [q, k, v]} -> fused tensors: 3 x (C, ...) -> (3C, ...)."""
    out = {}
    for key, qkv in parts.items():
        missing = [n for n, t in zip("qkv", qkv) if t is None]
        if missing:
            raise ValueError(f"{key}: the transformers state dict has no {'/'.join(missing)} part to fuse into it")
        out[key] = torch.cat(qkv, dim=0)
    return out


def _split_qkv(key: str, t: torch.Tensor) -> list[torch.Tensor]:
    """(3C, ...) -> 3 x (C, ...), cloned so the three can be saved to safetensors."""
    if t.shape[0] % 3:
        raise ValueError(f"{key} has {t.shape[0]} rows, not a multiple of 3 (q, k, v)")
    return [p.clone() for p in t.chunk(3, dim=0)]


def _require(sd: dict, key: str, model: str, base: str) -> None:
    if key not in sd:
        some = ", ".join(list(sd)[:5])
        raise ValueError(
            f"not a transformers {model} state dict: no '{key}' (nor '{base}.{key}'); first keys: {some}"
        )


def _unexpected(key: str, model: str) -> ValueError:
    return ValueError(
        f"unexpected key '{key}' in a transformers {model} state dict: only {model}Model and "
        f"{model}ForImageClassification weights are mapped"
    )


def _head_check(sd: dict, cfg, model: str) -> None:
    if cfg.num_classes > 0 and "head.weight" not in sd:
        raise ValueError(f"cfg.num_classes={cfg.num_classes} but the {model} state dict has no 'head.weight'")
    if cfg.num_classes == 0 and "head.weight" in sd:
        raise ValueError(f"cfg.num_classes=0 but the {model} state dict has a 'head.weight'")


# --- Swin -------------------------------------------------------------------------------------
def transformers_swin_to_swin_hub(state_dict: dict) -> dict[str, torch.Tensor]:
    """transformers SwinModel / SwinForImageClassification weights -> swin_hub SwinTransformer's."""
    sd = _strip_base(unwrap(state_dict), "swin")
    _require(sd, "embeddings.patch_embeddings.projection.weight", "Swin", "swin")
    out, qkv = {}, {}
    for key, v in sd.items():
        if key.rsplit(".", 1)[-1] in BUFFERS or key in SKIPPED:
            continue
        if m := re.fullmatch(r"encoder\.layers\.(\d+)\.blocks\.(\d+)\.(.+)", key):
            block = f"layers.{m[1]}.blocks.{m[2]}."
            if (part := _qkv_part(m[3], SWIN_QKV)) is not None:
                index, param = part
                qkv.setdefault(block + "attn.qkv" + param, [None] * 3)[index] = v
                continue
            name = _to_hub(m[3], SWIN_BLOCK)
            name = block + name if name else None
        elif (m := re.fullmatch(r"encoder\.layers\.(\d+)\.downsample\.(.+)", key)) and m[2] in SWIN_MERGE_PARAMS:
            name = f"layers.{int(m[1]) + 1}.downsample.{m[2]}"  # end of stage N there = start of N+1 here
        elif key.startswith("classifier."):
            name = "head" + key[len("classifier") :]
        else:
            name = _to_hub(key, SWIN_STEM)
        if name is None:
            raise _unexpected(key, "Swin")
        out[name] = v
    out.update(_fuse_qkv(qkv))
    return out


def swin_hub_to_transformers_swin(
    state_dict: dict, cfg: SwinConfig, checkpoint_names: bool = False
) -> dict[str, torch.Tensor]:
    """swin_hub SwinTransformer weights -> SwinForImageClassification's (num_classes > 0) or a
    bare SwinModel's (num_classes = 0); module names, or checkpoint names if asked."""
    check_swin_exportable(cfg)
    sd = strip_wrapper_prefix(state_dict)
    _head_check(sd, cfg, "Swin")
    col = 1 if checkpoint_names else 0
    base = "swin." if cfg.num_classes > 0 else ""
    out = {}
    for key, v in sd.items():
        if m := re.fullmatch(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)", key):
            block = f"encoder.layers.{m[1]}.blocks.{m[2]}."
            if m[3].startswith("attn.qkv."):
                param = m[3][len("attn.qkv") :]
                for names, part in zip(SWIN_QKV, _split_qkv(key, v)):
                    out[base + block + names[col] + param] = part
                continue
            name = _from_hub(m[3], SWIN_BLOCK, col)
            name = base + block + name if name else None
        elif (m := re.fullmatch(r"layers\.(\d+)\.downsample\.(.+)", key)) and m[2] in SWIN_MERGE_PARAMS:
            name = f"{base}encoder.layers.{int(m[1]) - 1}.downsample.{m[2]}"
        elif key.startswith("head."):
            name = "classifier" + key[len("head") :]
        else:
            name = _from_hub(key, SWIN_STEM, col)
            name = base + name if name else None
        if name is None:
            raise ValueError(f"unexpected key '{key}' in a swin_hub Swin state dict")
        out[name] = v
    return out


def check_swin_exportable(cfg: SwinConfig) -> None:
    """Raise ValueError, naming the field, if transformers' Swin cannot compute this network."""
    dims = [cfg.embed_dim * 2**i for i in range(len(cfg.depths))]
    if cfg.global_pool != "avg":
        raise ValueError(f"global_pool={cfg.global_pool!r}: transformers' Swin always average-pools the tokens")
    if cfg.qk_scale is not None and any(cfg.qk_scale != (d // h) ** -0.5 for d, h in zip(dims, cfg.num_heads)):
        raise ValueError(f"qk_scale={cfg.qk_scale}: transformers' Swin always scales attention by head_dim**-0.5")
    if not cfg.patch_norm:
        raise ValueError("patch_norm=False: transformers' Swin always normalises the patch embedding")
    if cfg.norm_eps != SWIN_FIXED_EPS:
        raise ValueError(
            f"norm_eps={cfg.norm_eps}: transformers' Swin fixes eps={SWIN_FIXED_EPS} in its patch-embedding and "
            "patch-merging LayerNorms, so only norm_eps=1e-5 gives the same network"
        )
    _check_mlp_widths(cfg)
    resolutions = stage_resolutions(cfg.img_size, cfg.patch_size, len(cfg.depths), cfg.window_size)
    for i, (h, w) in enumerate(resolutions):
        # transformers keeps a window_size bias table everywhere and, on a map no larger than the
        # window, one window with no shift in both dimensions; swin_hub shrinks per dimension
        if min(h, w) < cfg.window_size or (min(h, w) == cfg.window_size and h != w):
            raise ValueError(
                f"window_size={cfg.window_size} with img_size={tuple(cfg.img_size)}: stage {i} is {h}x{w}; "
                f"transformers' Swin needs every stage at least one {cfg.window_size}x{cfg.window_size} window "
                f"(square when it is exactly one), e.g. img_size = patch_size * 2**{len(resolutions) - 1} * window_size"
            )


def _check_mlp_widths(cfg: SwinConfig) -> None:
    for d in (cfg.embed_dim * 2**i for i in range(len(cfg.depths))):
        if int(cfg.mlp_ratio * d) != round(d * cfg.mlp_ratio):
            raise ValueError(
                f"mlp_ratio={cfg.mlp_ratio}: at width {d} transformers' MLP has int({cfg.mlp_ratio} * {d}) hidden "
                f"units and swin_hub's round(...) = {round(d * cfg.mlp_ratio)}"
            )


def transformers_swin_config(cfg: SwinConfig, **kwargs) -> transformers.SwinConfig:
    """A `transformers.SwinConfig` for the same network; kwargs (id2label, ...) are passed on.

    Dropout rates are carried over but do not line up one to one (transformers has no dropout
    inside the MLP nor before the classifier): the networks agree in eval mode.
    """
    from transformers import SwinConfig as TransformersSwinConfig

    check_swin_exportable(cfg)
    h, w = cfg.img_size
    args = dict(
        image_size=h if h == w else [h, w],
        patch_size=cfg.patch_size,
        num_channels=cfg.in_chans,
        embed_dim=cfg.embed_dim,
        depths=list(cfg.depths),
        num_heads=list(cfg.num_heads),
        window_size=cfg.window_size,
        mlp_ratio=cfg.mlp_ratio,
        qkv_bias=cfg.qkv_bias,
        hidden_dropout_prob=cfg.proj_drop_rate,
        attention_probs_dropout_prob=cfg.attn_drop_rate,
        drop_path_rate=cfg.drop_path_rate,
        hidden_act=ACT_TO_TRANSFORMERS[cfg.act_layer],
        use_absolute_embeddings=cfg.ape,
        layer_norm_eps=cfg.norm_eps,
    )
    if "id2label" not in kwargs:
        args["num_labels"] = cfg.num_classes
    return TransformersSwinConfig(**{**args, **kwargs})


def _act_from_transformers(config) -> str:
    if config.hidden_act not in ACT_FROM_TRANSFORMERS:
        raise ValueError(
            f"hidden_act={config.hidden_act!r} has no swin_hub act_layer; supported: {sorted(ACT_FROM_TRANSFORMERS)}"
        )
    return ACT_FROM_TRANSFORMERS[config.hidden_act]


def _single(value, name: str) -> int:
    """transformers accepts (h, w) patch sizes; swin_hub's patches are square."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"{name}={value}: swin_hub supports square patches only")
        value = value[0]
    return int(value)


def _pair(value) -> int | tuple[int, int]:
    return tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else int(value)


def swin_config_from_transformers(config: transformers.SwinConfig, **overrides) -> SwinConfig:
    """swin_hub SwinConfig for a `transformers.SwinConfig`; num_classes is its num_labels (pass
    num_classes=0 for a bare SwinModel)."""
    if config.layer_norm_eps != SWIN_FIXED_EPS:
        raise ValueError(
            f"layer_norm_eps={config.layer_norm_eps}: transformers' Swin then mixes it with eps=1e-5 in the "
            "patch-embedding and patch-merging norms, which swin_hub's single norm_eps cannot express"
        )
    args = dict(
        img_size=_pair(config.image_size),
        patch_size=_single(config.patch_size, "patch_size"),
        in_chans=config.num_channels,
        num_classes=config.num_labels,
        embed_dim=config.embed_dim,
        depths=tuple(config.depths),
        num_heads=tuple(config.num_heads),
        window_size=config.window_size,
        mlp_ratio=config.mlp_ratio,
        qkv_bias=config.qkv_bias,
        ape=config.use_absolute_embeddings,
        norm_eps=config.layer_norm_eps,
        act_layer=_act_from_transformers(config),
        drop_rate=0.0,
        proj_drop_rate=config.hidden_dropout_prob,
        attn_drop_rate=config.attention_probs_dropout_prob,
        drop_path_rate=config.drop_path_rate,
    )
    cfg = SwinConfig.from_kwargs(**{**args, **overrides})
    _check_mlp_widths(cfg)
    return cfg


# --- ViT --------------------------------------------------------------------------------------
def transformers_vit_to_swin_hub(state_dict: dict, pooler: bool = True) -> dict[str, torch.Tensor]:
    """transformers ViTModel / ViTForImageClassification weights -> swin_hub VisionTransformer's.

    A ViTModel's `pooler.dense` becomes `pre_logits.fc` (build with representation_size, as
    `convert.vit.infer_config` does from the shapes); pooler=False drops it instead.
    """
    sd = _strip_base(unwrap(state_dict), "vit")
    _require(sd, "embeddings.cls_token", "ViT", "vit")
    out, qkv = {}, {}
    for key, v in sd.items():
        if key in SKIPPED or (not pooler and key.startswith("pooler.")):
            continue
        if m := re.fullmatch(r"(?:layers|encoder\.layer)\.(\d+)\.(.+)", key):
            block = f"blocks.{m[1]}."
            if (part := _qkv_part(m[2], VIT_QKV)) is not None:
                index, param = part
                qkv.setdefault(block + "attn.qkv" + param, [None] * 3)[index] = v
                continue
            name = _to_hub(m[2], VIT_BLOCK)
            name = block + name if name else None
        elif key.startswith("classifier."):
            name = "head" + key[len("classifier") :]
        else:
            name = _to_hub(key, VIT_STEM)
        if name is None:
            raise _unexpected(key, "ViT")
        out[name] = v
    out.update(_fuse_qkv(qkv))
    return out


def swin_hub_to_transformers_vit(
    state_dict: dict, cfg: ViTConfig, checkpoint_names: bool = False
) -> dict[str, torch.Tensor]:
    """swin_hub VisionTransformer weights -> ViTForImageClassification's (num_classes > 0) or a
    bare ViTModel's (num_classes = 0: build it with add_pooling_layer=False unless the model
    has a representation layer, which becomes the pooler); module names, or checkpoint names."""
    check_vit_exportable(cfg)
    sd = strip_wrapper_prefix(state_dict)
    _head_check(sd, cfg, "ViT")
    col = 1 if checkpoint_names else 0
    base = "vit." if cfg.num_classes > 0 else ""
    out = {}
    for key, v in sd.items():
        if m := re.fullmatch(r"blocks\.(\d+)\.(.+)", key):
            block = VIT_BLOCK_PREFIX[col].format(i=m[1])
            if m[2].startswith("attn.qkv."):
                param = m[2][len("attn.qkv") :]
                for names, part in zip(VIT_QKV, _split_qkv(key, v)):
                    out[base + block + names[col] + param] = part
                continue
            name = _from_hub(m[2], VIT_BLOCK, col)
            name = base + block + name if name else None
        elif key.startswith("head."):
            name = "classifier" + key[len("head") :]
        else:
            name = _from_hub(key, VIT_STEM, col)
            name = base + name if name else None
        if name is None:
            raise ValueError(f"unexpected key '{key}' in a swin_hub ViT state dict")
        out[name] = v
    return out


def check_vit_exportable(cfg: ViTConfig) -> None:
    """Raise ValueError, naming the field, if transformers' ViT cannot compute this network."""
    if not cfg.class_token:
        raise ValueError("class_token=False: transformers' ViT always prepends a class token")
    if cfg.global_pool == "avg":
        raise ValueError("global_pool='avg': transformers' ViT classifies the class token")
    if cfg.global_pool == "" and cfg.num_classes > 0:
        raise ValueError("global_pool='' with a head: transformers' ViT classifies the class token only")
    if cfg.fc_norm:
        raise ValueError("fc_norm=True: transformers' ViT normalises every token before pooling (fc_norm=False)")
    if cfg.representation_size and cfg.num_classes > 0:
        raise ValueError(
            f"representation_size={cfg.representation_size} with num_classes={cfg.num_classes}: "
            "ViTForImageClassification has no layer between the class token and the classifier "
            "(a headless model exports it as ViTModel's pooler)"
        )


def transformers_vit_config(cfg: ViTConfig, **kwargs) -> transformers.ViTConfig:
    """A `transformers.ViTConfig` for the same network; kwargs (id2label, ...) are passed on.

    Note transformers' defaults differ from swin_hub's: layer_norm_eps 1e-12 (here 1e-6) and
    exact GELU (here tanh): the values of `cfg` are written, not the defaults. Position
    embeddings are resized by transformers only with `interpolate_pos_encoding=True` and
    without antialiasing, so `dynamic_img_size` runs match at the training size only.
    """
    from transformers import ViTConfig as TransformersViTConfig

    check_vit_exportable(cfg)
    h, w = cfg.img_size
    args = dict(
        image_size=h if h == w else [h, w],
        patch_size=cfg.patch_size,
        num_channels=cfg.in_chans,
        hidden_size=cfg.embed_dim,
        num_hidden_layers=cfg.depth,
        num_attention_heads=cfg.num_heads,
        intermediate_size=round(cfg.embed_dim * cfg.mlp_ratio),
        hidden_act=ACT_TO_TRANSFORMERS[cfg.act_layer],
        hidden_dropout_prob=cfg.proj_drop_rate,
        attention_probs_dropout_prob=cfg.attn_drop_rate,
        layer_norm_eps=cfg.norm_eps,
        qkv_bias=cfg.qkv_bias,
        pooler_output_size=cfg.representation_size or cfg.embed_dim,
        pooler_act="tanh",
    )
    if "id2label" not in kwargs:
        args["num_labels"] = cfg.num_classes
    return TransformersViTConfig(**{**args, **kwargs})


def vit_config_from_transformers(config: transformers.ViTConfig, pooler: bool = False, **overrides) -> ViTConfig:
    """swin_hub ViTConfig for a `transformers.ViTConfig`; num_classes is its num_labels (pass
    num_classes=0 for a bare ViTModel). pooler=True keeps a ViTModel's pooler as the
    representation layer, which is only the same function with pooler_act='tanh'."""
    head_dim = getattr(config, "head_dim", None)
    if head_dim not in (None, config.hidden_size // config.num_attention_heads):
        raise ValueError(f"head_dim={head_dim}: swin_hub's ViT uses hidden_size // num_attention_heads")
    if pooler and config.pooler_act != "tanh":
        raise ValueError(f"pooler_act={config.pooler_act!r}: swin_hub's representation layer is tanh")
    mlp_ratio = config.intermediate_size / config.hidden_size
    if round(config.hidden_size * mlp_ratio) != config.intermediate_size:
        raise ValueError(f"intermediate_size={config.intermediate_size} is not round(hidden_size * mlp_ratio)")
    args = dict(
        img_size=_pair(config.image_size),
        patch_size=_single(config.patch_size, "patch_size"),
        in_chans=config.num_channels,
        num_classes=config.num_labels,
        global_pool="token",
        embed_dim=config.hidden_size,
        depth=config.num_hidden_layers,
        num_heads=config.num_attention_heads,
        mlp_ratio=mlp_ratio,
        qkv_bias=config.qkv_bias,
        class_token=True,
        fc_norm=False,
        representation_size=(config.pooler_output_size or config.hidden_size) if pooler else None,
        norm_eps=config.layer_norm_eps,
        act_layer=_act_from_transformers(config),
        pos_drop_rate=config.hidden_dropout_prob,
        proj_drop_rate=config.hidden_dropout_prob,
        attn_drop_rate=config.attention_probs_dropout_prob,
    )
    return ViTConfig.from_kwargs(**{**args, **overrides})
