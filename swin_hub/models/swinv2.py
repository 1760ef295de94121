"""Swin Transformer V2, after Liu et al. 2022 and the official Microsoft `models/swin_transformer_v2.py`.

What changes from v1 (swin.py), and nothing else:
- scaled cosine attention: cos(q, k) times a learned per-head `logit_scale` (clamped at
  log(1/0.01) before the exp), instead of q.k / sqrt(d);
- the relative position bias is computed by a small MLP (`cpb_mlp`, the continuous position bias)
  from log-spaced relative coordinates, then squashed to 16 * sigmoid; the coordinates are divided
  by the pretrained window (`pretrained_window_sizes`), so a checkpoint fine-tuned at a larger
  window keeps the spacing it was trained on: the MLP itself never needs resizing;
- q and v biases without a k bias;
- res-post-norm: the LayerNorms sit after attention and after the MLP, inside the residual;
- patch merging reduces first, then normalises (the norm over the 2x channels).

Reading order: relative_coords_table -> WindowAttentionV2 -> SwinV2Block -> PatchMergingV2 ->
SwinV2Stage -> SwinTransformerV2. Windows, cyclic shift, padding and the shift mask are v1's:
the blocks take v1's window geometry methods (non-persistent buffers for the construction size,
made on use for others), and the model takes v1's timm interface (forward_features / head /
intermediates, pruning, classifier), method for method. Parameter names are v1's where the
concept is the same (timm's layout: merging at the start of stages 1..3, `head.weight`), the
official ones for what is new (`logit_scale`, `cpb_mlp.0/2`, `q_bias`, `v_bias`).

Inputs of any size, as v1: the image is padded to a multiple of the patch, each block pads the map
to a multiple of its window (before the shift, like transformers' Swinv2 and v1's detection
order), and a stage no larger than the window is one unshifted window, per dimension. A window
smaller than the block's table window (a smaller input) reads the centre of the same coordinate
table, so each relative offset keeps the bias it had at the construction size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .fast import execution_policy, in_chunks, shifted_window_attention, symbolic_tracing, window_sdpa
from .layers import (
    DropPath,
    Mlp,
    buffer_device,
    check_image_batch,
    checked_config,
    init_weights,
    linear_rates,
    refuse_torchscript,
)
from .swin import (
    PatchEmbed,
    SwinBlock,
    SwinConfig,
    SwinStage,
    SwinTransformer,
    relative_position_index,
    stage_resolutions,
    window_partition,
    window_reverse,
)

torch.fx.wrap("check_image_batch")  # a torch.fx leaf: traced graphs check the real input

# exp(logit_scale) is clamped at 1 / 0.01 = 100, the official bound (keeps attention from saturating)
LOGIT_SCALE_MAX = math.log(1.0 / 0.01)
CPB_HIDDEN = 512  # the official continuous-position-bias MLP width (fixed in every release)
CPB_SCALE = 16.0  # bias = 16 * sigmoid(mlp(coords)), in (0, 16)


@dataclass
class SwinV2Config:
    """Architecture of a Swin V2 model. Field names are the timm kwargs (plus the official `ape`,
    `patch_norm`); `pretrained_window_sizes`: one per stage, 0 = the stage's own window."""

    img_size: int | tuple[int, int] = 256
    patch_size: int = 4
    in_chans: int = 3
    num_classes: int = 1000
    global_pool: str = "avg"
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 8
    pretrained_window_sizes: tuple[int, ...] = ()  # () = 0 for every stage
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
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
        # the fields v1 has too follow v1's rules (and its error messages)
        shared = {f.name for f in fields(SwinConfig)} & {f.name for f in fields(self)}
        v1 = SwinConfig(**{name: getattr(self, name) for name in shared})
        self.img_size, self.depths, self.num_heads = v1.img_size, v1.depths, v1.num_heads
        self.pretrained_window_sizes = tuple(int(p) for p in self.pretrained_window_sizes) or (0,) * len(self.depths)
        if len(self.pretrained_window_sizes) != len(self.depths) or any(p < 0 for p in self.pretrained_window_sizes):
            raise ValueError(
                f"pretrained_window_sizes {self.pretrained_window_sizes} must have one int >= 0 per stage "
                f"({len(self.depths)} stages; 0 = the stage's own window)"
            )

    @classmethod
    def from_kwargs(cls, **kwargs) -> "SwinV2Config":
        return checked_config(cls, kwargs)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["img_size"] = list(self.img_size)
        for name in ("depths", "num_heads", "pretrained_window_sizes"):
            d[name] = list(getattr(self, name))
        return d


def relative_coords_table(
    window: tuple[int, int], pretrained_window: tuple[int, int] = (0, 0), device=None
) -> torch.Tensor:
    """((2*wh-1)*(2*ww-1), 2) log-spaced relative offsets (dy, dx), the CPB MLP's input.

    Offsets are divided by (pretrained window - 1), or by (window - 1) when it is 0, scaled to
    [-8, 8] and log-spaced: sign(d) * log2(1 + |d|) / log2(8). Rows are in the order of
    `relative_position_index` (dy major). A window of 1 has only the offset 0 (max(.., 1): no 0/0).
    """
    (wh, ww), (ph, pw) = window, pretrained_window
    dy = torch.arange(-(wh - 1), wh, dtype=torch.float32, device=device) / max((ph or wh) - 1, 1)
    dx = torch.arange(-(ww - 1), ww, dtype=torch.float32, device=device) / max((pw or ww) - 1, 1)
    coords = torch.stack(torch.meshgrid(dy, dx, indexing="ij"), dim=-1) * 8  # (2wh-1, 2ww-1, 2)
    coords = torch.sign(coords) * torch.log2(coords.abs() + 1.0) / math.log2(8)
    return coords.reshape(-1, 2)  # ((2wh-1)*(2ww-1), 2)


class WindowAttentionV2(nn.Module):
    """Scaled cosine attention inside each window, plus the continuous relative position bias.

    The bias is the CPB MLP's output on the coordinate table, computed on every call (it follows
    the weights however they change); the table and its index are weight-free non-persistent buffers.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        table_window: tuple[int, int],
        pretrained_window: tuple[int, int] = (0, 0),
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        attn_impl: str = "auto",
    ):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.table_window = table_window
        self.pretrained_window = pretrained_window
        self.attn_impl = attn_impl
        self.attn_drop = attn_drop
        self.logit_scale = nn.Parameter(torch.full((num_heads, 1, 1), math.log(10.0)))  # (nH, 1, 1)
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, CPB_HIDDEN), nn.ReLU(), nn.Linear(CPB_HIDDEN, num_heads, bias=False)
        )
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        # no k bias: the official design (q and v biases only)
        self.q_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.v_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.register_buffer("relative_coords_table", torch.empty(0), persistent=False)
        self.register_buffer("relative_position_index", torch.empty(0, dtype=torch.long), persistent=False)
        self.init_non_persistent_buffers()

    def init_non_persistent_buffers(self) -> None:
        """The table window's coordinates and index; timm and transformers call this after
        meta-device init."""
        device = buffer_device(self.relative_coords_table, self.logit_scale)
        with torch.inference_mode(False):  # usable by autograd even if made under inference_mode
            coords = relative_coords_table(self.table_window, self.pretrained_window, device)
            self.relative_coords_table = coords.to(self.logit_scale.dtype)
            self.relative_position_index = relative_position_index(*self.table_window, self.table_window, device)

    def relative_position_bias(self, window: tuple[int, int]) -> torch.Tensor:
        """(nH, N, N) bias for a wh x ww window (a smaller window reads the table's centre)."""
        coords, index = self.relative_coords_table, self.relative_position_index
        if coords.is_meta:  # weights assigned, buffers not rebuilt
            coords = relative_coords_table(self.table_window, self.pretrained_window, self.logit_scale.device)
        if window != self.table_window or index.is_meta:
            index = relative_position_index(*window, self.table_window, self.logit_scale.device)
        # the parameters' dtype (logit_scale's: the MLP's own layers may be fused, e.g. by FX quantization)
        table = CPB_SCALE * torch.sigmoid(self.cpb_mlp(coords.to(self.logit_scale.dtype)))  # (T, nH)
        return table[index].permute(2, 0, 1)  # (N, N, nH) -> (nH, N, N)

    def forward(
        self, x: torch.Tensor, window: tuple[int, int], mask: torch.Tensor | None = None, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, nW, N, C) windows of wh x ww = N tokens; mask: (nW, 1, N, N) or None.

        Returns (B, nW, N, C) and, with need_weights, the probabilities (B*nW, nH, N, N).
        """
        B, nW, N, C = x.shape
        qkv_bias = None
        if self.q_bias is not None:
            qkv_bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))  # (3C,)
        qkv = self.qkv(x)  # (B, nW, N, 3C): the module call, so adapters (LoRA) on qkv take part
        if qkv_bias is not None:
            qkv = qkv + qkv_bias
        qkv = qkv.view(B, nW, N, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)  # 3 x (B, nW, nH, N, hd)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)  # cosine similarity from here
        logit_scale = self.logit_scale.clamp(max=LOGIT_SCALE_MAX).exp()  # (nH, 1, 1)
        bias = self.relative_position_bias(window).unsqueeze(0)  # (1, nH, N, N)
        if mask is not None:
            bias = bias + mask.to(bias.dtype)  # (nW, nH, N, N)
        drop = self.attn_drop if self.training else 0.0
        policy = execution_policy(x, self.attn_impl, self.training)
        if need_weights or policy.window_attn == "broadcast":
            attn = ((q @ k.transpose(-2, -1)) * logit_scale + bias).softmax(dim=-1)  # (B, nW, nH, N, N)
            probs = attn.flatten(0, 1)  # (B*nW, nH, N, N), transformers' layout; attn is computed from it
            attn = probs.view(B, nW, self.num_heads, N, N)
            out = F.dropout(attn, drop) @ v if drop else attn @ v  # (B, nW, nH, N, hd)
        else:  # the same scores as SDPA's q @ k^T with the logit scale folded into q
            probs = None
            per_image = policy.window_attn == "sdpa_per_image"
            out = window_sdpa(q * logit_scale, k, v, bias, 1.0, drop, per_image=per_image)
        out = out.transpose(2, 3).reshape(B, nW, N, C)  # (B, nW, N, C)
        return self.proj_drop(self.proj(out)), (probs if need_weights else None)


class SwinV2Block(nn.Module):
    """(Shifted-)window cosine attention and MLP, each normed after the branch, inside the residual.

    Window, shift, padding and shift mask come from v1's geometry methods (`SwinBlock.geometry`:
    buffers for the construction size, made once for other sizes).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        table_window: tuple[int, int],
        pretrained_window: tuple[int, int],
        shifted: bool,
        cfg: SwinV2Config,
        drop_path: float,
        resolution: tuple[int, int],
    ):
        super().__init__()
        self.window_size = window_size
        self.table_window = table_window
        self.shifted = shifted
        self.resolution = resolution
        self.allow_padding = cfg.allow_padding
        self.attn = WindowAttentionV2(
            dim,
            num_heads,
            table_window,
            pretrained_window,
            qkv_bias=cfg.qkv_bias,
            attn_drop=cfg.attn_drop_rate,
            proj_drop=cfg.proj_drop_rate,
            attn_impl=cfg.attn_impl,
        )
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.drop_path1 = DropPath(drop_path)
        self.mlp = Mlp(dim, round(dim * cfg.mlp_ratio), cfg.act_layer, cfg.proj_drop_rate)
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.drop_path2 = DropPath(drop_path)
        # the construction size's shift mask and gathers; other sizes are made on first use
        self.register_buffer("attn_mask", None, persistent=False)
        self.register_buffer("window_gather", None, persistent=False)
        self.register_buffer("window_scatter", None, persistent=False)
        self._other_sizes: dict = {}
        self.init_non_persistent_buffers()

    # v1's window geometry, unchanged: they read resolution, table_window, shifted, the buffers above
    init_non_persistent_buffers = SwinBlock.init_non_persistent_buffers
    window_and_shift = SwinBlock.window_and_shift
    make_geometry = SwinBlock.make_geometry
    construction_geometry = SwinBlock.construction_geometry
    geometry = SwinBlock.geometry

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        """x: (B, H, W, C) -> (B, H, W, C) [, attention probs (B*nW, nH, N, N)]."""
        g = self.geometry(x)
        (H, W), (Hp, Wp), (wh, ww), (sh, sw) = g.size, g.padded, g.window, g.shift
        if (Hp, Wp) != (H, W) and not self.allow_padding:
            raise ValueError(
                f"feature map {H}x{W} is not a multiple of the window {wh}x{ww} and allow_padding=False"
            )
        shortcut = x
        # res-post-norm: attention reads the residual stream itself; pad, then shift (as v1)
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
        x = shortcut + self.drop_path1(self.norm1(x[:, :H, :W]))
        x = x + self.drop_path2(self.norm2(self.mlp(x)))
        return (x, probs) if need_weights else x


class PatchMergingV2(nn.Module):
    """2x2 neighbourhood -> one token with 2x the channels: Linear, then LayerNorm (v2's order).

    Channel order is the official one, as v1: x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2].
    """

    def __init__(self, dim: int, out_dim: int, eps: float):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, ceil(H/2), ceil(W/2), out_dim); odd sizes are zero-padded."""
        x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))  # (B, H+H%2, W+W%2, C)
        B, H, W, C = x.shape
        # (B, H/2, row-offset, W/2, col-offset, C) -> col-offset major, row-offset minor
        x = x.view(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 4, 2, 5).reshape(B, H // 2, W // 2, 4 * C)
        return self.norm(self.reduction(x))


class SwinV2Stage(nn.Module):
    """Optional patch merging, then `depth` blocks alternating regular and shifted windows."""

    def __init__(
        self,
        in_dim: int,
        dim: int,
        depth: int,
        num_heads: int,
        table_window: tuple[int, int],
        pretrained_window: tuple[int, int],
        downsample: bool,
        cfg: SwinV2Config,
        drop_paths: list[float],
        resolution: tuple[int, int],
    ):
        super().__init__()
        self.downsample = PatchMergingV2(in_dim, dim, cfg.norm_eps) if downsample else nn.Identity()
        self.blocks = nn.ModuleList(
            SwinV2Block(
                dim, num_heads, cfg.window_size, table_window, pretrained_window, i % 2 == 1, cfg,
                drop_paths[i], resolution,
            )
            for i in range(depth)
        )
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor, attentions: list | None = None) -> torch.Tensor:
        """(B, H, W, C_in) -> (B, H', W', C); appends block attention probs to `attentions`."""
        if attentions is not None:
            return self.run_blocks(x, attentions)
        B, H, W, _ = x.shape
        # tokens per image after the merge; integer arithmetic also works on torch.fx's Proxies
        tokens = ((H + 1) // 2) * ((W + 1) // 2) if isinstance(self.downsample, PatchMergingV2) else H * W
        return in_chunks(self.run_blocks, x, tokens, execution_policy(x, training=self.training))

    run_blocks = SwinStage.run_blocks  # merge, then the blocks (grad checkpointing, attentions): as v1


class SwinTransformerV2(nn.Module):
    """Swin V2 classifier with the timm model interface (forward_features/head/intermediates)."""

    def __init__(self, cfg: SwinV2Config):
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
            # the window at the construction size (official and timm), and the one it was trained at
            table_window = (min(h, cfg.window_size), min(w, cfg.window_size))
            pretrained = cfg.pretrained_window_sizes[i]
            start = sum(cfg.depths[:i])
            stages.append(
                SwinV2Stage(
                    dims[max(i - 1, 0)], dims[i], depth, heads, table_window, (pretrained, pretrained), i > 0,
                    cfg, drop_paths[start : start + depth], (h, w),
                )
            )
            self.feature_info.append(dict(num_chs=dims[i], reduction=cfg.patch_size * 2**i, module=f"layers.{i}"))
        self.layers = nn.ModuleList(stages)
        self.norm = nn.LayerNorm(self.num_features, eps=cfg.norm_eps)
        self.head_drop = nn.Dropout(cfg.drop_rate)
        self.head = nn.Linear(self.num_features, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        self.apply(init_weights_v2)

    # --- timm interface: v1's, method for method (they read the attributes set above) -----------
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """The official no-decay set: the position embedding, CPB MLPs and logit scales."""
        return {"absolute_pos_embed"} | {
            n for n, _ in self.named_parameters() if ".cpb_mlp." in n or n.endswith(".logit_scale")
        }

    group_matcher = SwinTransformer.group_matcher
    set_grad_checkpointing = SwinTransformer.set_grad_checkpointing
    get_classifier = SwinTransformer.get_classifier
    reset_classifier = SwinTransformer.reset_classifier
    __prepare_scriptable__ = refuse_torchscript  # torch.jit.script: one clear error (layers.py)

    def _check_input(self, x: torch.Tensor) -> None:
        # a torch.fx graph holds the construction size's window geometry: it takes no other size
        traced_size = self.cfg.img_size if symbolic_tracing() else None
        why = "a torch.fx graph is static; trace a model built with img_size=(H, W) for that size"
        check_image_batch(x, self.in_chans, "SwinTransformerV2", traced_size, why)
        if not self.cfg.allow_padding:
            stage_resolutions(x.shape[-2:], self.cfg.patch_size, self.num_layers, self.cfg.window_size, True)

    _embed = SwinTransformer._embed
    forward_features = SwinTransformer.forward_features
    forward_head = SwinTransformer.forward_head
    forward = SwinTransformer.forward
    forward_intermediates = SwinTransformer.forward_intermediates
    prune_intermediate_layers = SwinTransformer.prune_intermediate_layers


def init_weights_v2(module: nn.Module) -> None:
    """The official init: truncated normal(0.02) Linears, zero biases; logit scales log(10);
    res-post-norm LayerNorms at zero (every block starts as the identity)."""
    init_weights(module)
    if isinstance(module, WindowAttentionV2):
        nn.init.constant_(module.logit_scale, math.log(10.0))
        if module.q_bias is not None:
            nn.init.zeros_(module.q_bias)
            nn.init.zeros_(module.v_bias)
    elif isinstance(module, SwinV2Block):
        for norm in (module.norm1, module.norm2):
            nn.init.zeros_(norm.weight)
            nn.init.zeros_(norm.bias)
