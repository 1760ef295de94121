"""Small building blocks shared by the Swin and ViT models (plain PyTorch)."""

from __future__ import annotations

from dataclasses import fields

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {
    "gelu": lambda: nn.GELU(),
    # flax.linen.gelu defaults to the tanh approximation: Google's ViT was trained with it.
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "relu": lambda: nn.ReLU(),
    "silu": lambda: nn.SiLU(),
}

ATTN_IMPLS = ("auto", "sdpa", "eager")


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def use_sdpa(attn_impl: str) -> bool:
    """Resolve attn_impl='auto' from measurement (BENCHMARKS.md): on the CPU SDPA was as fast
    or faster than eager for Swin-T and ViT-B, inference and training, masked or not, because
    our window mask broadcasts over the batch instead of being expanded per window."""
    return attn_impl in ("auto", "sdpa")


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor | None,
    scale: float,
    dropout_p: float,
    sdpa: bool,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Multi-head attention core over (..., heads, N, head_dim) tensors.

    `bias` is added to the scaled scores (relative position bias, shift mask, or both).
    The eager path is also the one that can return the attention probabilities.
    """
    if sdpa and not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
        return out, None
    attn = (q * scale) @ k.transpose(-2, -1)  # (..., heads, N, N)
    if bias is not None:
        attn = attn + bias
    attn = attn.softmax(dim=-1)
    probs = attn
    if dropout_p > 0.0:
        attn = F.dropout(attn, p=dropout_p)
    return attn @ v, (probs if need_weights else None)


class Mlp(nn.Module):
    """Transformer feed-forward: Linear -> activation -> dropout -> Linear -> dropout."""

    def __init__(self, dim: int, hidden_dim: int, act: str = "gelu", drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = make_activation(act)
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)  # (..., hidden)
        # without autograd (and no hook holding fc1's output) the activation can overwrite it
        in_place = not torch.is_grad_enabled() and not self.fc1._forward_hooks
        h = activate_(self.act, h) if in_place else self.act(h)
        return self.drop2(self.fc2(self.drop1(h)))


def activate_(act: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """The activation of `act`, in place on h (callers make sure autograd does not need h)."""
    if isinstance(act, nn.GELU):
        return torch.ops.aten.gelu_(h, approximate=act.approximate)
    if isinstance(act, nn.ReLU):
        return F.relu_(h)
    if isinstance(act, nn.SiLU):
        return F.silu(h, inplace=True)
    return act(h)


# Eager inference runs big batches in chunks of about this many tokens. Each image is
# independent, and small working buffers stay in cache and in malloc's free lists: buffers
# over 32 MiB are mmapped by glibc and page-faulted in on every call (BENCHMARKS.md).
INFER_CHUNK_TOKENS = 4096


def inference_chunk(module: nn.Module, batch: int, tokens_per_image: int) -> int:
    """Images per chunk for eager inference, or 0 to run the batch whole.

    Only without autograd (eval + no_grad/inference_mode) and outside torch.compile, which
    plans its own buffers and only slows down on unrolled chunks.
    """
    if module.training or torch.is_grad_enabled() or torch.compiler.is_compiling():
        return 0
    per_chunk = max(1, INFER_CHUNK_TOKENS // max(tokens_per_image, 1))
    return per_chunk if per_chunk < batch else 0


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)  # (B, 1, ...)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


def check_image_batch(x: torch.Tensor, in_chans: int, model_name: str) -> None:
    """Reject inputs that are not (B, in_chans, H, W) with a sentence, not a conv error."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model_name} expects a torch.Tensor of shape (B, {in_chans}, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(
            f"{model_name} expects a 4-D input (B, {in_chans}, H, W), got shape {tuple(x.shape)}{hint}"
        )
    if x.shape[1] != in_chans:
        hint = " (channels-last input? permute to NCHW)" if x.shape[-1] == in_chans else ""
        raise ValueError(
            f"{model_name} was built for in_chans={in_chans} but the input has {x.shape[1]} channels "
            f"(shape {tuple(x.shape)}){hint}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{model_name} expects a floating point input, got dtype {x.dtype}")


def init_weights(module: nn.Module) -> None:
    """Official Swin / timm ViT init: truncated normal(0.02) for Linear, zero bias, unit LayerNorm."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def as_pair(v: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(i, int) for i in v):
        return (int(v[0]), int(v[1]))
    raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")


def take_indices(num: int, indices: int | list[int] | tuple[int, ...] | None) -> list[int]:
    """timm's convention: None = all, int n = the last n, a list = those (negative from the end)."""
    if indices is None:
        return list(range(num))
    if isinstance(indices, int):
        if not 0 < indices <= num:
            raise ValueError(f"indices={indices} must be in 1..{num}")
        return list(range(num - indices, num))
    out = [i % num if -num <= i < num else None for i in indices]
    if any(i is None for i in out):
        raise ValueError(f"indices {list(indices)} out of range for {num} stages/blocks")
    return out


def linear_rates(last: float, n: int) -> list[float]:
    """Stochastic depth rates rising linearly from 0 to `last` over n blocks (in Python, so
    models can be built on the meta device)."""
    return [last * i / (n - 1) if n > 1 else 0.0 for i in range(n)]


def checked_config(cls, kwargs: dict):
    """Build a config dataclass, naming unknown arguments and listing the valid ones."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} argument(s) {unknown}; valid arguments: {sorted(known)}")
    return cls(**kwargs)
