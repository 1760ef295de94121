"""Execution policy: the one place where swin-hub chooses fast paths over the plain ones.

The model files state the algorithm (roll, partition, attention with bias + mask, reverse, roll
back). Everything here computes exactly the same numbers per token, faster on some device:

- batch chunks: eager CPU inference runs big batches a few images at a time, so working
  buffers stay in cache and in malloc's free lists (BENCHMARKS.md). On a GPU it only
  multiplies kernel launches (measured 5-9x slower on an H200), so never there;
- SDPA for attention: on the CPU its fused kernel wins for ViT and for Swin's windows unless the
  relative position bias needs a gradient; for per-window (shifted) masks it runs one image at a
  time so the mask lines up without copying q, k, v. On CUDA, Swin's windows are fastest as one
  SDPA call per block with bias + mask expanded over the batch (H200, bf16, batch 128: Swin-T
  1.15x timm in inference and 1.26x in training, against 1.10x / 1.10x for the broadcast
  matmul-softmax-matmul, and less memory); ViT takes SDPA (flash / cuDNN). Under torch.compile
  Swin keeps the broadcast matmuls, which inductor fuses (measured at par with timm);
- shifted windows made and undone with one index gather each instead of roll + partition
  (one memory pass instead of two, on every device).

`execution_policy()` is the policy: it reads the device, grad mode and compile state of a call. Dtype
does not change any decision yet (no measurement said it should). `forced()` overrides it, for
tests and benchmarks: the plain reference path, or another device's policy on this machine.

Under torch.fx symbolic tracing (`symbolic_tracing()`: fx.symbolic_trace, torchvision's and timm's
FX feature extraction, FX quantization) a graph records the plain reference path, always: a Proxy
has no device to decide on, and a graph that others rewrite (quantize, cut into features) should
hold the algorithm, not one machine's route to it. torch.export and torch.compile are not symbolic
tracing: they see real shapes and devices and take the compile policy.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

# Eager CPU inference runs big batches in chunks of about this many tokens: buffers over
# 32 MiB are mmapped by glibc and page-faulted in on every call (BENCHMARKS.md).
CPU_CHUNK_TOKENS = 4096


@dataclass(frozen=True)
class Policy:
    """What one forward call may use. The reference path is Policy() with every field off."""

    chunk_tokens: int = 0  # run the batch in chunks of about this many tokens (0: whole)
    window_attn: str = "broadcast"  # Swin: 'broadcast' matmuls, 'sdpa_per_image' or 'sdpa_expanded'
    global_sdpa: bool = False  # ViT attention through SDPA
    gather_windows: bool = False  # shifted windows by one gather each way (else roll + partition)
    inplace_act: bool = False  # the MLP activation may overwrite fc1's output (no autograd)


REFERENCE = Policy()
_forced: dict | None = None  # set only inside forced()


@contextlib.contextmanager
def forced(device_type: str | None = None, reference: bool = False, **fields):
    """Resolve as if inputs were on `device_type` ('cpu', 'cuda'), take the plain reference path
    everywhere (reference=True), or override single Policy fields (benchmarks switch one fast
    path off with e.g. chunk_tokens=0). For tests and benchmarks; not thread-local."""
    global _forced
    previous, _forced = _forced, dict(device_type=device_type, reference=reference, fields=fields)
    try:
        yield
    finally:
        _forced = previous


def symbolic_tracing() -> bool:
    """True while torch.fx symbolically traces a forward: tensors are Proxies, with no sizes,
    devices or values for Python to branch on. The models then take their construction size's
    geometry (an FX graph is static) and this module the reference path."""
    return is_fx_symbolic_tracing()


def execution_policy(x: torch.Tensor, attn_impl: str = "auto", training: bool = False) -> Policy:
    """The policy for one call on input `x` of a module with this attn_impl and training flag."""
    if symbolic_tracing():
        return REFERENCE
    if _forced is None:
        return _resolve(x.device.type, attn_impl, training)
    if _forced["reference"]:
        return REFERENCE
    policy = _resolve(_forced["device_type"] or x.device.type, attn_impl, training)
    return replace(policy, **_forced["fields"]) if _forced["fields"] else policy


def _resolve(device: str, attn_impl: str, training: bool) -> Policy:
    compiling = torch.compiler.is_compiling()
    grad = torch.is_grad_enabled()
    sdpa_ok = attn_impl != "eager"
    if device == "cpu" and not compiling:
        # SDPA's fused CPU kernel cannot give the bias a gradient, and its math fallback is
        # slower than the broadcast path
        window_sdpa = attn_impl == "sdpa" or (sdpa_ok and not grad)
        return Policy(
            chunk_tokens=CPU_CHUNK_TOKENS if not (training or grad) else 0,
            window_attn="sdpa_per_image" if window_sdpa else "broadcast",
            global_sdpa=sdpa_ok,
            gather_windows=True,
            inplace_act=not grad,
        )
    # a GPU, or torch.compile: one batched call per block, the number of kernels independent of
    # the batch size. Eager CUDA: SDPA with the mask expanded (measured fastest, BENCHMARKS.md);
    # compiled: the broadcast matmuls, which inductor fuses and plans buffers for
    cuda_sdpa = device == "cuda" and not compiling and sdpa_ok
    return Policy(
        window_attn="sdpa_expanded" if attn_impl == "sdpa" or cuda_sdpa else "broadcast",
        global_sdpa=sdpa_ok,
        gather_windows=True,
        inplace_act=not grad,
    )


# --- batch chunks -----------------------------------------------------------------------------
def in_chunks(fn, x: torch.Tensor, tokens_per_image: int, policy: Policy) -> torch.Tensor:
    """fn(x), run on slices of the batch when the policy chunks (each image is independent)."""
    per_chunk = max(1, policy.chunk_tokens // max(tokens_per_image, 1)) if policy.chunk_tokens else 0
    if not per_chunk or per_chunk >= x.shape[0]:
        return fn(x)
    return torch.cat([fn(chunk) for chunk in x.split(per_chunk)])


# --- attention --------------------------------------------------------------------------------
def window_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, scale: float, dropout_p: float,
    per_image: bool,
) -> torch.Tensor:
    """SDPA over windows: q, k, v (B, nW, nH, N, hd), bias (nW or 1, nH, N, N) -> (B, nW, nH, N, hd).

    SDPA takes 4-D inputs. A bias shared by all windows broadcasts over B*nW. A per-window bias
    (shifted windows) lines up with one image's windows: `per_image` (the CPU) makes one call per
    image, which keeps q, k and v strided views; otherwise one call with the bias expanded over
    the batch (no Python loop on a GPU). The CPU's fused kernel wants a unit last stride.
    """
    B, nW, nH, N, hd = q.shape
    bias = bias.contiguous()
    if bias.shape[0] == 1 or B == 1:
        q4, k4, v4 = (t.reshape(B * nW, nH, N, hd) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q4, k4, v4, attn_mask=bias, dropout_p=dropout_p, scale=scale)
        return out.view(B, nW, nH, N, hd)
    if per_image:
        parts = [F.scaled_dot_product_attention(q[i], k[i], v[i], attn_mask=bias, dropout_p=dropout_p, scale=scale)
                 for i in range(B)]  # B x (nW, nH, N, hd)
        return torch.stack(parts)
    q4, k4, v4 = (t.reshape(B * nW, nH, N, hd) for t in (q, k, v))
    mask = bias.expand(B, nW, nH, N, N).reshape(B * nW, nH, N, N)
    out = F.scaled_dot_product_attention(q4, k4, v4, attn_mask=mask, dropout_p=dropout_p, scale=scale)
    return out.view(B, nW, nH, N, hd)


def global_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, dropout_p: float) -> torch.Tensor:
    """(B, nH, N, hd) each -> (B, nH, N, hd): flash / memory-efficient / fused CPU kernels."""
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=scale)


# --- shifted windows by gathers ---------------------------------------------------------------
class TokenPermutation(torch.autograd.Function):
    """x.index_select(1, index) for a permutation `index`, whose gradient is the gather by
    `inverse`. Autograd's own backward of index_select is a scatter-add, which torch.compile
    turns into atomic adds on the CPU. No jvp: dynamo cannot trace a custom one (graph breaks)."""

    generate_vmap_rule = True  # torch.func.vmap (per-sample gradients) keeps working

    @staticmethod
    def forward(x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, index)  # (B, T, C) -> (B, T, C), tokens reordered

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[2])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (inverse,) = ctx.saved_tensors
        return grad.index_select(1, inverse), None, None


def window_gathers(Hp: int, Wp: int, wh: int, ww: int, sh: int, sw: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token indices (Hp*Wp,) each way: `gather` lists, for each window token in window order, its
    position in the padded map after the cyclic shift by (-sh, -sw); `scatter` is its inverse."""
    pos = torch.arange(Hp * Wp, device=device).view(Hp, Wp).roll(shifts=(-sh, -sw), dims=(0, 1))
    gather = pos.view(Hp // wh, wh, Wp // ww, ww).permute(0, 2, 1, 3).flatten()  # window-major order
    return gather, torch.argsort(gather)


def shifted_window_attention(attn: nn.Module, x: torch.Tensor, geometry, need_weights: bool = False):
    """roll -> partition -> attn -> reverse -> roll back, with one gather each way.

    x: (B, Hp, Wp, C) -> (B, Hp, Wp, C), attention probs or None; `geometry` is the block's
    WindowGeometry (its gather / scatter indices and shift mask).
    """
    B, Hp, Wp, C = x.shape
    wh, ww = geometry.window
    nW, N = (Hp // wh) * (Wp // ww), wh * ww
    windows = TokenPermutation.apply(x.reshape(B, Hp * Wp, C), geometry.gather, geometry.scatter)
    windows, probs = attn(windows.view(B, nW, N, C), geometry.window, geometry.mask, need_weights)
    x = TokenPermutation.apply(windows.reshape(B, nW * N, C), geometry.scatter, geometry.gather)
    return x.view(B, Hp, Wp, C), probs


# --- MLP activation ---------------------------------------------------------------------------
def activate_(act: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """The activation of `act`, in place on h (callers make sure autograd does not need h)."""
    if isinstance(act, nn.GELU):
        return torch.ops.aten.gelu_(h, approximate=act.approximate)
    if isinstance(act, nn.ReLU):
        return F.relu_(h)
    if isinstance(act, nn.SiLU):
        return F.silu(h, inplace=True)
    return act(h)
