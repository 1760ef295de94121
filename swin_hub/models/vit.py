"""Vision Transformer, after Dosovitskiy et al. 2021 and Google's `vit_jax` code.

Reading order: Attention -> Block -> VisionTransformer. Parameter names follow timm's
layout (fused qkv), `swin_hub.convert` maps Google's npz and transformers' layouts onto it.
Google's encoder uses flax's `gelu` (tanh approximation) and LayerNorm eps 1e-6, so those
are the defaults; timm and transformers use exact GELU for the same weights.

torch.fx traces it with the input check and the position embedding's resampling as leaf calls
(`torch.fx.wrap`), so a traced graph takes the sizes the model takes. torch.jit.script is
refused with a pointer to torch.export / torch.compile (layers.refuse_torchscript).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .fast import execution_policy, global_sdpa, in_chunks
from .layers import (
    ACTIVATIONS,
    ATTN_IMPLS,
    DropPath,
    Mlp,
    as_pair,
    check_image_batch,
    checked_config,
    init_weights,
    linear_rates,
    refuse_torchscript,
    take_indices,
)

torch.fx.wrap("check_image_batch")  # a torch.fx leaf: traced graphs check the real input

POOLS = ("token", "avg", "")


@dataclass
class ViTConfig:
    """Architecture of a ViT. Field names are the timm kwargs.

    fc_norm=None follows timm: the final norm moves after pooling for global_pool='avg'.
    Google's 'gap' models normalise before pooling: fc_norm=False, class_token=False.
    """

    img_size: int | tuple[int, int] = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    global_pool: str = "token"
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    class_token: bool = True
    fc_norm: bool | None = None
    representation_size: int | None = None
    norm_eps: float = 1e-6
    act_layer: str = "gelu_tanh"
    drop_rate: float = 0.0
    pos_drop_rate: float = 0.0
    proj_drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    dynamic_img_size: bool = False
    attn_impl: str = "auto"

    def __post_init__(self) -> None:
        self.img_size = as_pair(self.img_size, "img_size")
        for name in ("patch_size", "in_chans", "embed_dim", "depth", "num_heads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        if min(self.img_size) < self.patch_size:
            raise ValueError(f"img_size={self.img_size} is smaller than patch_size={self.patch_size}")
        if self.global_pool not in POOLS:
            raise ValueError(f"global_pool must be one of {POOLS}, got {self.global_pool!r}")
        if self.global_pool == "token" and not self.class_token:
            raise ValueError("global_pool='token' needs class_token=True (use 'avg' without a class token)")
        if self.fc_norm is None:
            self.fc_norm = self.global_pool == "avg"
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0 = no head), got {self.num_classes}")
        if self.representation_size is not None and self.representation_size < 1:
            raise ValueError(f"representation_size must be a positive int or None, got {self.representation_size}")
        if self.attn_impl not in ATTN_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, got {self.attn_impl!r}")
        if self.act_layer not in ACTIVATIONS:
            raise ValueError(f"act_layer must be one of {sorted(ACTIVATIONS)}, got {self.act_layer!r}")
        for name in ("drop_rate", "pos_drop_rate", "proj_drop_rate", "attn_drop_rate", "drop_path_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")

    @classmethod
    def from_kwargs(cls, **kwargs) -> "ViTConfig":
        return checked_config(cls, kwargs)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["img_size"] = list(self.img_size)
        return d


class Attention(nn.Module):
    """Global multi-head self-attention over all tokens."""

    def __init__(self, dim: int, num_heads: int, cfg: ViTConfig):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.attn_impl = cfg.attn_impl
        self.attn_drop = cfg.attn_drop_rate
        self.qkv = nn.Linear(dim, dim * 3, bias=cfg.qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(cfg.proj_drop_rate)

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        """(B, N, C) -> (B, N, C), attention probs (B, nH, N, N) or None."""
        B, N, C = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, nH, N, hd)
        drop = self.attn_drop if self.training else 0.0
        if need_weights or not execution_policy(x, self.attn_impl, self.training).global_sdpa:
            probs = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, nH, N, N)
            out = F.dropout(probs, drop) @ v if drop else probs @ v  # (B, nH, N, hd)
        else:
            probs, out = None, global_sdpa(q, k, v, self.scale, drop)
        out = out.transpose(1, 2).reshape(B, N, C)  # (B, N, C)
        return self.proj_drop(self.proj(out)), (probs if need_weights else None)


class Block(nn.Module):
    """Pre-norm encoder block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, cfg: ViTConfig, drop_path: float):
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn = Attention(dim, cfg.num_heads, cfg)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.mlp = Mlp(dim, round(dim * cfg.mlp_ratio), cfg.act_layer, cfg.proj_drop_rate)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        attn_out, probs = self.attn(self.norm1(x), need_weights)
        x = x + self.drop_path1(attn_out)
        x = x + self.drop_path2(self.mlp(self.norm2(x)))
        return (x, probs) if need_weights else x


class PreLogits(nn.Module):
    """The original ViT's representation layer: Linear + tanh before the head."""

    def __init__(self, dim: int, representation_size: int):
        super().__init__()
        self.fc = nn.Linear(dim, representation_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(x))


class PatchEmbed(nn.Module):
    """Non-overlapping patch_size x patch_size conv: (B, C_in, H, W) -> (B, H/p, W/p, C)."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.patch_size = cfg.patch_size
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, cfg.patch_size, cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)  # (B, H/p, W/p, C)


@torch.fx.wrap  # branches on the size: a torch.fx leaf
def resample_pos_embed(pos: torch.Tensor, old: tuple[int, int], new: tuple[int, int], prefix: int) -> torch.Tensor:
    """(1, prefix + old_h*old_w, C) -> (1, prefix + new_h*new_w, C), bicubic over the grid.

    Antialiased bicubic, as timm's dynamic_img_size does, so both give the same numbers.
    """
    if old == new:
        return pos
    C = pos.shape[-1]
    prefix_pos, grid = pos[:, :prefix], pos[:, prefix:]
    grid = grid.float().reshape(1, old[0], old[1], C).permute(0, 3, 1, 2)  # (1, C, h, w)
    grid = F.interpolate(grid, size=new, mode="bicubic", antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new[0] * new[1], C).to(pos.dtype)
    return torch.cat([prefix_pos, grid], dim=1)


class VisionTransformer(nn.Module):
    """ViT classifier with the timm model interface (forward_features/head/intermediates)."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.num_classes = cfg.num_classes
        self.global_pool = cfg.global_pool
        self.in_chans = cfg.in_chans
        self.embed_dim = self.num_features = cfg.embed_dim
        self.head_hidden_size = cfg.representation_size or cfg.embed_dim
        self.num_prefix_tokens = 1 if cfg.class_token else 0
        self.dynamic_img_size = cfg.dynamic_img_size
        self.output_fmt = "NLC"

        self.patch_embed = PatchEmbed(cfg)
        self.grid_size = (cfg.img_size[0] // cfg.patch_size, cfg.img_size[1] // cfg.patch_size)
        num_patches = self.grid_size[0] * self.grid_size[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim)) if cfg.class_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_prefix_tokens + num_patches, cfg.embed_dim))
        self.pos_drop = nn.Dropout(cfg.pos_drop_rate)
        drop_paths = linear_rates(cfg.drop_path_rate, cfg.depth)
        self.blocks = nn.ModuleList(Block(cfg, dp) for dp in drop_paths)
        self.norm = nn.Identity() if cfg.fc_norm else nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.fc_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps) if cfg.fc_norm else nn.Identity()
        self.pre_logits = PreLogits(cfg.embed_dim, cfg.representation_size) if cfg.representation_size else None
        self.head_drop = nn.Dropout(cfg.drop_rate)
        self.head = nn.Linear(self.head_hidden_size, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.feature_info = [
            dict(module=f"blocks.{i}", num_chs=cfg.embed_dim, reduction=cfg.patch_size) for i in range(cfg.depth)
        ]
        self.grad_checkpointing = False

        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        self.apply(init_weights)

    __prepare_scriptable__ = refuse_torchscript  # torch.jit.script: one clear error (layers.py)

    # --- timm interface -------------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(stem=r"^cls_token|^pos_embed|^patch_embed", blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        if global_pool is not None:
            if global_pool not in POOLS or (global_pool == "token" and self.cls_token is None):
                raise ValueError(f"global_pool {global_pool!r} is not valid for this model (choices {POOLS})")
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head = nn.Linear(self.head_hidden_size, num_classes) if num_classes > 0 else nn.Identity()

    def _embed(self, x: torch.Tensor, interpolate: bool = False) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, prefix + h*w, C) with class token and position embedding.

        `interpolate` allows another input size for this call (transformers'
        `interpolate_pos_encoding`); `dynamic_img_size` allows it always.
        """
        fixed_size = None if (self.dynamic_img_size or interpolate) else self.cfg.img_size
        why = "img_size is fixed; create the model with dynamic_img_size=True to interpolate the position embedding"
        check_image_batch(x, self.in_chans, "VisionTransformer", fixed_size, why, min_size=self.cfg.patch_size)
        x = self.patch_embed(x)  # (B, h, w, C)
        B, h, w, C = x.shape
        x = x.reshape(B, h * w, C)  # (B, N, C)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)  # (B, 1 + N, C)
        pos = resample_pos_embed(self.pos_embed, self.grid_size, (h, w), self.num_prefix_tokens)
        return self.pos_drop(x + pos)

    def _run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, C); eager CPU inference runs the batch in chunks (fast.in_chunks)."""
        return in_chunks(self._forward_blocks, x, x.shape[1], execution_policy(x, training=self.training))

    def _forward_blocks(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, prefix + N, C) token features (final norm unless fc_norm)."""
        return self.norm(self._run_blocks(self._embed(x)))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, prefix + N, C) -> (B, C) by the class token or the mean of the patch tokens."""
        if self.global_pool == "token":
            return x[:, 0]
        if self.global_pool == "avg":
            return x[:, self.num_prefix_tokens :].mean(dim=1)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(B, prefix + N, C) -> (B, num_classes), or the pooled features with pre_logits=True."""
        x = self.fc_norm(self.pool(x))
        if self.pre_logits is not None:
            x = self.pre_logits(x)
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        return_prefix_tokens: bool = False,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ):
        """Block outputs; NCHW maps of the patch tokens, or NLC token sequences."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}")
        take = take_indices(len(self.blocks), indices)
        B, _, H, W = x.shape
        x = self._embed(x)
        h, w = H // self.cfg.patch_size, W // self.cfg.patch_size
        blocks = self.blocks[: max(take) + 1] if stop_early else self.blocks
        intermediates = []
        for i, block in enumerate(blocks):
            x = block(x)
            if i in take:
                feat = self.norm(x) if norm else x
                prefix, tokens = feat[:, : self.num_prefix_tokens], feat[:, self.num_prefix_tokens :]
                if output_fmt == "NCHW":
                    tokens = tokens.reshape(B, h, w, -1).permute(0, 3, 1, 2)  # (B, C, h, w)
                intermediates.append((tokens, prefix) if return_prefix_tokens else tokens)
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        take = take_indices(len(self.blocks), indices)
        self.blocks = self.blocks[: max(take) + 1]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.fc_norm = nn.Identity()
            self.pre_logits = None
            self.head_hidden_size = self.embed_dim
            self.reset_classifier(0, "")
        return take
