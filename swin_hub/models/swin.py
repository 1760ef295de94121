"""Swin Transformer (v1), after Liu et al. 2021 and the official Microsoft code.

Reading order: window helpers -> WindowAttention (the one place attention happens) ->
SwinBlock -> PatchMerging -> SwinStage -> SwinTransformer. The code here is the plain
algorithm; where a call may take a faster route to the same numbers (batch chunks, SDPA, one
gather for shift + partition) is decided in `fast.py`, one branch per module.

Parameter names follow timm's layout (patch merging at the start of stages 1..3, so each
stage's output is a feature map); `swin_hub.convert` maps the official layout onto it.
Inputs of any size are accepted: the image is padded to a multiple of the patch size and
every block pads its map to a multiple of its window, as the official detection backbone
does; a stage no larger than the window uses one window over the whole map and no shift,
as the official classification code does (per dimension, as timm does for non-square maps).

torch.fx (symbolic_trace, FX feature extraction and quantization) traces the construction size:
every block takes that size's geometry and the traced graph's input check refuses other sizes.
The functions that branch on a tensor's size are FX leaves (`torch.fx.wrap`), kept as calls in
the graph. torch.jit.script is refused with a pointer to torch.export / torch.compile.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .fast import (
    execution_policy,
    in_chunks,
    shifted_window_attention,
    symbolic_tracing,
    window_gathers,
    window_sdpa,
)
from .layers import (
    ACTIVATIONS,
    ATTN_IMPLS,
    DropPath,
    Mlp,
    as_pair,
    buffer_device,
    check_image_batch,
    checked_config,
    init_weights,
    linear_rates,
    refuse_torchscript,
    take_indices,
)

torch.fx.wrap("check_image_batch")  # a torch.fx leaf: traced graphs check the real input

# The official code masks cross-region pairs with -100 (not -inf); keep it for exact logits.
SHIFT_MASK_VALUE = -100.0


@dataclass
class SwinConfig:
    """Architecture of a Swin v1 model. Field names are the timm kwargs."""

    img_size: int | tuple[int, int] = 224
    patch_size: int = 4
    in_chans: int = 3
    num_classes: int = 1000
    global_pool: str = "avg"
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    qk_scale: float | None = None
    ape: bool = False
    patch_norm: bool = True
    norm_eps: float = 1e-5
    act_layer: str = "gelu"
    drop_rate: float = 0.0
    proj_drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.1
    allow_padding: bool = True
    attn_impl: str = "auto"

    def __post_init__(self) -> None:
        self.img_size = as_pair(self.img_size, "img_size")
        self.depths = tuple(int(d) for d in self.depths)
        self.num_heads = tuple(int(h) for h in self.num_heads)
        if len(self.depths) != len(self.num_heads):
            raise ValueError(
                f"depths {self.depths} and num_heads {self.num_heads} must have one entry per stage"
            )
        if not self.depths or any(d < 1 for d in self.depths):
            raise ValueError(f"depths must be a non-empty list of positive ints, got {self.depths}")
        for i, heads in enumerate(self.num_heads):
            dim = self.embed_dim * 2**i
            if heads < 1 or dim % heads:
                raise ValueError(
                    f"stage {i}: embed dim {dim} (embed_dim={self.embed_dim} * 2**{i}) is not divisible "
                    f"by num_heads[{i}]={heads}"
                )
        for name in ("patch_size", "window_size", "in_chans", "embed_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)}")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0 = no head), got {self.num_classes}")
        if self.global_pool not in ("avg", ""):
            raise ValueError(f"global_pool must be 'avg' or '' (no pooling), got {self.global_pool!r}")
        if self.attn_impl not in ATTN_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTN_IMPLS}, got {self.attn_impl!r}")
        if self.act_layer not in ACTIVATIONS:
            raise ValueError(f"act_layer must be one of {sorted(ACTIVATIONS)}, got {self.act_layer!r}")
        for name in ("drop_rate", "proj_drop_rate", "attn_drop_rate", "drop_path_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        if not self.allow_padding:
            stage_resolutions(self.img_size, self.patch_size, len(self.depths), self.window_size, strict=True)

    @classmethod
    def from_kwargs(cls, **kwargs) -> "SwinConfig":
        return checked_config(cls, kwargs)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["img_size"] = list(self.img_size)
        d["depths"], d["num_heads"] = list(self.depths), list(self.num_heads)
        return d


@torch.fx.wrap  # checks a traced graph's real input size (allow_padding=False)
def stage_resolutions(
    img_size: tuple[int, int], patch_size: int, num_stages: int, window_size: int, strict: bool = False
) -> list[tuple[int, int]]:
    """Feature map size of every stage; with strict=True, refuse sizes that need padding."""
    H, W = img_size
    if strict and (H % patch_size or W % patch_size):
        raise ValueError(
            f"input {H}x{W} is not a multiple of patch_size={patch_size} and allow_padding=False"
        )
    h, w = math.ceil(H / patch_size), math.ceil(W / patch_size)
    out = []
    for i in range(num_stages):
        if i > 0:
            if strict and (h % 2 or w % 2):
                raise ValueError(f"stage {i}: map {h}x{w} is odd and cannot be merged 2x2 without padding")
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        if strict:
            for r in (h, w):
                if r > window_size and r % window_size:
                    raise ValueError(
                        f"stage {i}: map {h}x{w} is not a multiple of window_size={window_size} "
                        f"and allow_padding=False (pick an input size that is patch_size * 2**{num_stages - 1} "
                        f"* window_size multiple, or allow padding)"
                    )
        out.append((h, w))
    return out


def window_partition(x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    """(B, H, W, C) -> (B, nW, wh*ww, C), windows in row-major order."""
    B, H, W, C = x.shape
    x = x.view(B, H // wh, wh, W // ww, ww, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(B, (H // wh) * (W // ww), wh * ww, C)


def window_reverse(windows: torch.Tensor, wh: int, ww: int, H: int, W: int) -> torch.Tensor:
    """(B, nW, wh*ww, C) -> (B, H, W, C); inverse of window_partition."""
    B, _, _, C = windows.shape
    x = windows.view(B, H // wh, W // ww, wh, ww, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)


def relative_position_index(wh: int, ww: int, table_hw: tuple[int, int], device=None) -> torch.Tensor:
    """(wh*ww, wh*ww) index into a bias table of shape ((2*th-1)*(2*tw-1), heads).

    The table is indexed by relative offset, so a window smaller than the table's (a
    stage smaller than the window) reads the central part of the same table.
    """
    th, tw = table_hw
    coords = torch.stack(
        torch.meshgrid(torch.arange(wh, device=device), torch.arange(ww, device=device), indexing="ij")
    ).flatten(1)  # (2, wh*ww)
    rel = coords[:, :, None] - coords[:, None, :]  # (2, N, N), offsets in [-(w-1), w-1]
    return (rel[0] + th - 1) * (2 * tw - 1) + (rel[1] + tw - 1)


def shift_mask(Hp: int, Wp: int, wh: int, ww: int, sh: int, sw: int, device=None) -> torch.Tensor:
    """(nW, N, N) additive mask that stops tokens attending across cyclic-shift seams.

    After rolling by (-sh, -sw) the last window row/column holds pixels from opposite
    borders; the map is cut into up to 3x3 regions and only same-region pairs may attend.
    """
    def region(n: int, w: int, s: int) -> torch.Tensor:
        ids = torch.zeros(n, dtype=torch.long, device=device)
        if s > 0:
            ids[n - w : n - s] = 1
            ids[n - s :] = 2
        return ids

    ids = region(Hp, wh, sh)[:, None] * 3 + region(Wp, ww, sw)[None, :]  # (Hp, Wp)
    ids = window_partition(ids[None, :, :, None], wh, ww)[0, :, :, 0]  # (nW, N)
    mask = torch.zeros(ids.shape[0], ids.shape[1], ids.shape[1], device=device)  # (nW, N, N)
    return mask.masked_fill(ids[:, :, None] != ids[:, None, :], SHIFT_MASK_VALUE)


@torch.fx.wrap  # branches on the size: a torch.fx leaf
def pad_to_multiple(x: torch.Tensor, multiple: int, channels_last: bool) -> torch.Tensor:
    """Zero-pad right and bottom to a multiple of `multiple`: (B, C, H, W), or (B, H, W, C) with
    channels_last. x itself when nothing is to pad (F.pad copies even then)."""
    H, W = x.shape[1:3] if channels_last else x.shape[2:]
    ph, pw = (-H) % multiple, (-W) % multiple
    if not (ph or pw):
        return x
    return F.pad(x, (0, 0, 0, pw, 0, ph) if channels_last else (0, pw, 0, ph))


@torch.fx.wrap  # branches on the size: a torch.fx leaf
def abs_pos_embed_at(pos: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """(1, gh*gw, C) embedding of the construction grid -> (1, h, w, C) for an h x w map, resized
    bicubically off the construction grid, as the official detection backbone does."""
    (gh, gw), (h, w), C = grid, size, pos.shape[-1]
    if (h, w) == (gh, gw):
        return pos.view(1, h, w, C)
    pos = pos.view(1, gh, gw, C).permute(0, 3, 1, 2)  # (1, C, gh, gw)
    return F.interpolate(pos, size=(h, w), mode="bicubic").permute(0, 2, 3, 1)  # (1, h, w, C)


class WindowGeometry(NamedTuple):
    """How a block cuts an H x W map into windows, and the weight-free tensors that go with it."""

    size: tuple[int, int]  # (H, W) of the map
    padded: tuple[int, int]  # (Hp, Wp): the map padded to a multiple of the window
    window: tuple[int, int]  # (wh, ww)
    shift: tuple[int, int]  # (sh, sw), cyclic shift of the shifted blocks
    mask: torch.Tensor | None  # (nW, 1, N, N) shift mask; None when unshifted
    gather: torch.Tensor | None  # (Hp*Wp,) token gathers for shifted_window_attention
    scatter: torch.Tensor | None  # (Hp*Wp,) their inverse


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, plus a learned relative position bias.

    The bias is read from its table on every call (a small gather), so it always follows the
    weights however they change; only the weight-free index is kept, as a non-persistent buffer.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        table_window: tuple[int, int],
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        attn_impl: str = "auto",
    ):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim**-0.5
        self.table_window = table_window
        self.attn_impl = attn_impl
        self.attn_drop = attn_drop
        th, tw = table_window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * th - 1) * (2 * tw - 1), num_heads))
        self.register_buffer("relative_position_index", torch.empty(0, dtype=torch.long), persistent=False)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.init_non_persistent_buffers()

    def init_non_persistent_buffers(self) -> None:
        """The table window's bias index; timm and transformers call this after meta-device init."""
        device = buffer_device(self.relative_position_index, self.relative_position_bias_table)
        with torch.inference_mode(False):  # usable by autograd even if made under inference_mode
            self.relative_position_index = relative_position_index(*self.table_window, self.table_window, device)

    def relative_position_bias(self, window: tuple[int, int]) -> torch.Tensor:
        """(nH, N, N) bias for a wh x ww window (a smaller window reads the table's centre)."""
        table, index = self.relative_position_bias_table, self.relative_position_index
        if window != self.table_window or index.is_meta:  # is_meta: weights assigned, buffers not rebuilt
            index = relative_position_index(*window, self.table_window, table.device)
        return table[index].permute(2, 0, 1)  # (N, N, nH) -> (nH, N, N)

    def forward(
        self, x: torch.Tensor, window: tuple[int, int], mask: torch.Tensor | None = None, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, nW, N, C) windows of wh x ww = N tokens; mask: (nW, 1, N, N) or None.

        Returns (B, nW, N, C) and, with need_weights, the probabilities (B*nW, nH, N, N).
        """
        B, nW, N, C = x.shape
        qkv = self.qkv(x).view(B, nW, N, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)  # 3 x (B, nW, nH, N, hd)
        bias = self.relative_position_bias(window).unsqueeze(0)  # (1, nH, N, N)
        if mask is not None:
            bias = bias + mask.to(bias.dtype)  # (nW, nH, N, N)
        drop = self.attn_drop if self.training else 0.0
        policy = execution_policy(x, self.attn_impl, self.training)
        if need_weights or policy.window_attn == "broadcast":
            attn = ((q * self.scale) @ k.transpose(-2, -1) + bias).softmax(dim=-1)  # (B, nW, nH, N, N)
            probs = attn.flatten(0, 1)  # (B*nW, nH, N, N), transformers' layout; attn is computed from it
            attn = probs.view(B, nW, self.num_heads, N, N)
            out = F.dropout(attn, drop) @ v if drop else attn @ v  # (B, nW, nH, N, hd)
        else:
            probs = None
            out = window_sdpa(q, k, v, bias, self.scale, drop, per_image=policy.window_attn == "sdpa_per_image")
        out = out.transpose(2, 3).reshape(B, nW, N, C)  # (B, nW, N, C)
        return self.proj_drop(self.proj(out)), (probs if need_weights else None)


class SwinBlock(nn.Module):
    """(Shifted-)window attention and MLP, each pre-norm with a residual connection."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        table_window: tuple[int, int],
        shifted: bool,
        cfg: SwinConfig,
        drop_path: float,
        resolution: tuple[int, int],
    ):
        super().__init__()
        self.window_size = window_size
        self.table_window = table_window
        self.shifted = shifted
        self.resolution = resolution
        self.allow_padding = cfg.allow_padding
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn = WindowAttention(
            dim,
            num_heads,
            table_window,
            qkv_bias=cfg.qkv_bias,
            qk_scale=cfg.qk_scale,
            attn_drop=cfg.attn_drop_rate,
            proj_drop=cfg.proj_drop_rate,
            attn_impl=cfg.attn_impl,
        )
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.mlp = Mlp(dim, round(dim * cfg.mlp_ratio), cfg.act_layer, cfg.proj_drop_rate)
        self.drop_path2 = DropPath(drop_path)
        # the construction size's shift mask and gathers; other sizes are made on first use
        self.register_buffer("attn_mask", None, persistent=False)
        self.register_buffer("window_gather", None, persistent=False)
        self.register_buffer("window_scatter", None, persistent=False)
        self._other_sizes: dict = {}
        self.init_non_persistent_buffers()

    def init_non_persistent_buffers(self) -> None:
        """Geometry of the construction size as buffers (they follow .to()); timm and
        transformers call this after building on the meta device."""
        device = buffer_device(self.attn_mask, self.norm1.weight)
        g = self.make_geometry(*self.resolution, device)
        self.attn_mask, self.window_gather, self.window_scatter = g.mask, g.gather, g.scatter
        self._other_sizes = {}

    def window_and_shift(self, H: int, W: int) -> tuple[int, int, int, int]:
        """Per dimension: a map no larger than the window is one window, unshifted."""
        th, tw = self.table_window
        wh, ww = min(H, th), min(W, tw)
        sh = th // 2 if self.shifted and H > th else 0
        sw = tw // 2 if self.shifted and W > tw else 0
        return wh, ww, sh, sw

    def make_geometry(self, H: int, W: int, device) -> WindowGeometry:
        wh, ww, sh, sw = self.window_and_shift(H, W)
        Hp, Wp = H + (-H) % wh, W + (-W) % ww
        mask = gather = scatter = None
        if sh or sw:
            with torch.inference_mode(False):  # usable by autograd even if made under inference_mode
                mask = shift_mask(Hp, Wp, wh, ww, sh, sw, device)[:, None]  # (nW, 1, N, N)
                gather, scatter = window_gathers(Hp, Wp, wh, ww, sh, sw, device)
        return WindowGeometry((H, W), (Hp, Wp), (wh, ww), (sh, sw), mask, gather, scatter)

    def construction_geometry(self) -> WindowGeometry:
        """The construction size's geometry, its tensors the buffers."""
        H, W = self.resolution
        wh, ww, sh, sw = self.window_and_shift(H, W)
        padded = (H + (-H) % wh, W + (-W) % ww)
        return WindowGeometry(
            (H, W), padded, (wh, ww), (sh, sw), self.attn_mask, self.window_gather, self.window_scatter
        )

    def geometry(self, x: torch.Tensor) -> WindowGeometry:
        """The geometry for the (B, H, W, C) map x. The construction size's comes from the buffers;
        other sizes are made once and kept (weight-free, so always valid), except under
        torch.compile, which traces them."""
        if symbolic_tracing():  # torch.fx: x is a Proxy without a size; SwinTransformer pins the input
            return self.construction_geometry()
        H, W = x.shape[1:3]
        if (H, W) == self.resolution and (self.attn_mask is None or self.attn_mask.device == x.device):
            return self.construction_geometry()
        if torch.compiler.is_compiling():
            return self.make_geometry(H, W, x.device)
        key = (H, W, x.device)
        if key not in self._other_sizes:
            self._other_sizes[key] = self.make_geometry(H, W, x.device)
        return self._other_sizes[key]

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        """x: (B, H, W, C) -> (B, H, W, C) [, attention probs (B*nW, nH, N, N)]."""
        g = self.geometry(x)
        (H, W), (Hp, Wp), (wh, ww), (sh, sw) = g.size, g.padded, g.window, g.shift
        if (Hp, Wp) != (H, W) and not self.allow_padding:
            raise ValueError(
                f"feature map {H}x{W} is not a multiple of the window {wh}x{ww} and allow_padding=False"
            )
        shortcut = x
        x = self.norm1(x)
        # pad after the norm with zeros, then shift: the official detection backbone's order
        if (Hp, Wp) != (H, W):  # F.pad copies even when there is nothing to pad
            x = F.pad(x, (0, 0, 0, Wp - W, 0, Hp - H))  # (B, Hp, Wp, C)
        if g.gather is not None and execution_policy(x, training=self.training).gather_windows:
            x, probs = shifted_window_attention(self.attn, x, g, need_weights)  # the steps below, fused
        else:
            if sh or sw:
                x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))  # cyclic shift
            windows = window_partition(x, wh, ww)  # (B, nW, N, C)
            windows, probs = self.attn(windows, g.window, g.mask, need_weights)  # (B, nW, N, C)
            x = window_reverse(windows, wh, ww, Hp, Wp)  # (B, Hp, Wp, C)
            if sh or sw:
                x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))  # undo the shift
        x = shortcut + self.drop_path1(x[:, :H, :W])
        x = x + self.drop_path2(self.mlp(self.norm2(x)))
        return (x, probs) if need_weights else x


class PatchMerging(nn.Module):
    """2x2 neighbourhood -> one token with 2x the channels (LayerNorm then Linear).

    Channel order is the official one: (0,0), (1,0), (0,1), (1,1) as (row, col) offsets,
    i.e. x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]; checkpoints depend on it.
    """

    def __init__(self, dim: int, out_dim: int, eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim, eps=eps)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, ceil(H/2), ceil(W/2), out_dim); odd sizes are zero-padded."""
        x = pad_to_multiple(x, 2, channels_last=True)
        B, H, W, C = x.shape
        # (B, H/2, row-offset, W/2, col-offset, C) -> col-offset major, row-offset minor
        x = x.view(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5).reshape(B, H // 2, W // 2, 4 * C)
        return self.reduction(self.norm(x))


class SwinStage(nn.Module):
    """Optional patch merging, then `depth` blocks alternating regular and shifted windows."""

    def __init__(
        self,
        in_dim: int,
        dim: int,
        depth: int,
        num_heads: int,
        table_window: tuple[int, int],
        downsample: bool,
        cfg: SwinConfig,
        drop_paths: list[float],
        resolution: tuple[int, int],
    ):
        super().__init__()
        self.downsample = PatchMerging(in_dim, dim, cfg.norm_eps) if downsample else nn.Identity()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, num_heads, cfg.window_size, table_window, i % 2 == 1, cfg, drop_paths[i], resolution)
            for i in range(depth)
        )
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor, attentions: list | None = None) -> torch.Tensor:
        """(B, H, W, C_in) -> (B, H', W', C); appends block attention probs to `attentions`."""
        if attentions is not None:
            return self.run_blocks(x, attentions)
        B, H, W, _ = x.shape
        # tokens per image after the merge; integer arithmetic also works on torch.fx's Proxies
        tokens = ((H + 1) // 2) * ((W + 1) // 2) if isinstance(self.downsample, PatchMerging) else H * W
        return in_chunks(self.run_blocks, x, tokens, execution_policy(x, training=self.training))

    def run_blocks(self, x: torch.Tensor, attentions: list | None = None) -> torch.Tensor:
        x = self.downsample(x)
        for block in self.blocks:
            if attentions is not None:
                x, probs = block(x, need_weights=True)
                attentions.append(probs)
            elif self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x


class PatchEmbed(nn.Module):
    """Non-overlapping patch_size x patch_size conv, then LayerNorm (channels last)."""

    def __init__(self, cfg: SwinConfig):
        super().__init__()
        self.patch_size = cfg.patch_size
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, cfg.patch_size, cfg.patch_size)
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps) if cfg.patch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, ceil(H/p), ceil(W/p), C); pads right/bottom like the detection code."""
        x = pad_to_multiple(x, self.patch_size, channels_last=False)
        x = self.proj(x).permute(0, 2, 3, 1)  # (B, H/p, W/p, C)
        return self.norm(x)


class SwinTransformer(nn.Module):
    """Swin v1 classifier with the timm model interface (forward_features/head/intermediates)."""

    def __init__(self, cfg: SwinConfig):
        super().__init__()
        self.cfg = cfg
        self.num_classes = cfg.num_classes
        self.global_pool = cfg.global_pool
        self.in_chans = cfg.in_chans
        self.num_layers = len(cfg.depths)
        self.embed_dim = cfg.embed_dim
        dims = [cfg.embed_dim * 2**i for i in range(self.num_layers)]
        self.num_features = self.head_hidden_size = dims[-1]
        self.output_fmt = "NHWC"

        self.patch_embed = PatchEmbed(cfg)
        resolutions = stage_resolutions(cfg.img_size, cfg.patch_size, self.num_layers, cfg.window_size)
        self.grid_size = resolutions[0]
        if cfg.ape:
            gh, gw = self.grid_size
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, gh * gw, cfg.embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        else:
            self.absolute_pos_embed = None
        self.pos_drop = nn.Dropout(cfg.proj_drop_rate)

        drop_paths = linear_rates(cfg.drop_path_rate, sum(cfg.depths))
        stages, self.feature_info = [], []
        for i, (depth, heads, (h, w)) in enumerate(zip(cfg.depths, cfg.num_heads, resolutions)):
            # the bias table is sized for the window at the construction size (official and timm)
            table_window = (min(h, cfg.window_size), min(w, cfg.window_size))
            start = sum(cfg.depths[:i])
            stages.append(
                SwinStage(
                    dims[max(i - 1, 0)], dims[i], depth, heads, table_window, i > 0, cfg,
                    drop_paths[start : start + depth], (h, w),
                )
            )
            self.feature_info.append(dict(num_chs=dims[i], reduction=cfg.patch_size * 2**i, module=f"layers.{i}"))
        self.layers = nn.ModuleList(stages)
        self.norm = nn.LayerNorm(self.num_features, eps=cfg.norm_eps)
        self.head_drop = nn.Dropout(cfg.drop_rate)
        self.head = nn.Linear(self.num_features, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.apply(init_weights)

    # --- timm interface -------------------------------------------------------------------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"absolute_pos_embed"} | {
            n for n, _ in self.named_parameters() if "relative_position_bias_table" in n
        }

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        return dict(
            stem=r"^absolute_pos_embed|^patch_embed",
            blocks=r"^layers\.(\d+)"
            if coarse
            else [(r"^layers\.(\d+).downsample", (0,)), (r"^layers\.(\d+)\.\w+\.(\d+)", None), (r"^norm", (99999,))],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.layers:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        if global_pool is not None:
            if global_pool not in ("avg", ""):
                raise ValueError(f"global_pool must be 'avg' or '', got {global_pool!r}")
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    __prepare_scriptable__ = refuse_torchscript  # torch.jit.script: one clear error (layers.py)

    def _check_input(self, x: torch.Tensor) -> None:
        # a torch.fx graph holds the construction size's window geometry: it takes no other size
        traced_size = self.cfg.img_size if symbolic_tracing() else None
        why = "a torch.fx graph is static; trace a model built with img_size=(H, W) for that size"
        check_image_batch(x, self.in_chans, "SwinTransformer", traced_size, why)
        if not self.cfg.allow_padding:
            stage_resolutions(x.shape[-2:], self.cfg.patch_size, self.num_layers, self.cfg.window_size, True)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, H/p, W/p, C) with the optional absolute position embedding."""
        self._check_input(x)
        x = self.patch_embed(x)  # (B, h, w, C)
        if self.absolute_pos_embed is not None:
            x = x + abs_pos_embed_at(self.absolute_pos_embed, self.grid_size, x.shape[1:3])
        return self.pos_drop(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, H/32, W/32, C_last), final norm applied (NHWC, like timm)."""
        x = self._embed(x)
        for stage in self.layers:
            x = stage(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(B, H, W, C) -> (B, num_classes), or the pooled (B, C) with pre_logits=True."""
        if self.global_pool == "avg":
            x = x.mean(dim=(1, 2))  # (B, C)
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ):
        """Stage outputs as NCHW maps (timm semantics: an int n takes the last n stages)."""
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC', got {output_fmt!r}")
        take = take_indices(len(self.layers), indices)
        last = max(take)
        x = self._embed(x)
        intermediates = []
        stages = self.layers[: last + 1] if stop_early else self.layers
        for i, stage in enumerate(stages):
            x = stage(x)
            if i in take:
                feat = self.norm(x) if norm and i == self.num_layers - 1 else x
                intermediates.append(feat.permute(0, 3, 1, 2) if output_fmt == "NCHW" else feat)
        if intermediates_only:
            return intermediates
        if len(stages) == self.num_layers:
            x = self.norm(x)
        return x, intermediates

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        take = take_indices(len(self.layers), indices)
        last = max(take)
        if prune_norm or last < self.num_layers - 1:
            self.norm = nn.Identity()
        self.layers = self.layers[: last + 1]
        if last < self.num_layers - 1:
            self.num_features = self.head_hidden_size = self.feature_info[last]["num_chs"]
        if prune_head or last < self.num_layers - 1:
            self.reset_classifier(0, "")
        return take

