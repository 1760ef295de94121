"""Small building blocks shared by the Swin and ViT models (plain PyTorch)."""

from __future__ import annotations

from dataclasses import fields

import torch
from torch import nn

from .fast import activate_, execution_policy

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
        if execution_policy(x, training=self.training).inplace_act and not self.fc1._forward_hooks:
            h = activate_(self.act, h)
        else:
            h = self.act(h)
        return self.drop2(self.fc2(self.drop1(h)))


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


@torch.fx.has_side_effect  # FX dead-code elimination (feature extraction) keeps the check
def check_image_batch(
    x: torch.Tensor,
    in_chans: int,
    model_name: str,
    size: tuple[int, int] | None = None,
    why_size: str = "",
    min_size: int = 1,
) -> None:
    """Reject inputs that are not (B, in_chans, H, W) with a sentence, not a conv error; with
    `size`, also any other H x W (`why_size` says why and what to do instead), and sides
    under `min_size` (one patch).

    swin.py and vit.py register it as a torch.fx leaf (`torch.fx.wrap`): a traced graph keeps the
    call and runs it on the real input instead of branching on a Proxy while tracing.
    """
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
    H, W = x.shape[-2:]
    if size is not None and (H, W) != tuple(size):
        raise ValueError(f"{model_name} takes {size[0]}x{size[1]} inputs, got {H}x{W}: {why_size}")
    if H < min_size or W < min_size:
        raise ValueError(f"input size {H}x{W} is smaller than one patch ({min_size}x{min_size})")


def refuse_torchscript(model: nn.Module) -> nn.Module:
    """`__prepare_scriptable__` of the swin-hub models: torch.jit.script calls it first, so users
    get this sentence instead of a TorchScript compile error from deep inside a block.

    The decision: TorchScript is deprecated (torch.jit.script itself warns so) and these models
    use what it cannot compile (Mlp reads fc1's forward hooks, blocks return a tensor or a tuple
    by flag, dataclass configs, the execution policy). Rather than keep a second, scriptable copy
    of every forward, scripting is refused; torch.export, torch.compile and torch.fx trace the
    same models to the eager numbers (tests/test_timm_contracts.py).
    """
    raise RuntimeError(
        f"torch.jit.script does not support {type(model).__name__} (TorchScript is deprecated in PyTorch). "
        "Use torch.export.export(model.eval(), (x,)) for a deployable program, torch.compile(model) "
        "for speed, or torch.fx.symbolic_trace(model) for a graph to rewrite."
    )


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


def buffer_device(buffer: torch.Tensor | None, weight: torch.Tensor) -> torch.device:
    """Where to (re)build a non-persistent buffer: where it already lives (transformers places
    them before calling init), else with the module's weights."""
    if buffer is not None and buffer.device.type != "meta":
        return buffer.device
    return weight.device
