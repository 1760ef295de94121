"""Specification of swin_hub on a CUDA device: the CPU parity results hold there too.

On the GPU the execution policy may pick other kernels (fused attention, bf16 paths) than on
the CPU, so the oracles are checked again there: the official Microsoft / Google fixtures and
timm's own models with perturbed weights, in fp32 with TF32 off; train mode with gradients
against eval mode; bf16 autocast forward and backward. Skipped without a CUDA device (CI);
`bash bench/device_check.sh` runs it on a GPU machine.
"""

from __future__ import annotations

import contextlib

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from helpers import FIXTURES, V2_FIXTURES, perturb_
import swin_hub  # noqa: F401  (registers scratch_* with timm)
from swin_hub.convert.swin import infer_config, to_swin_hub
from swin_hub.convert import swinv2 as swinv2_convert
from swin_hub.convert.vit import checkpoint_filter_fn, infer_config_npz, load_npz, npz_to_swin_hub
from swin_hub.models.swin import SwinTransformer
from swin_hub.models.swinv2 import SwinTransformerV2
from swin_hub.models.vit import VisionTransformer

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device; bash bench/device_check.sh runs it on a GPU machine"
)

DEVICE = "cuda"
TOL = 1e-4  # the fixtures' and the CPU tests' fp32 tolerance
GRAD_MODES = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode, "grad": contextlib.nullcontext}


# --- helpers ----------------------------------------------------------------------------------
@pytest.fixture(autouse=True, scope="module")
def fp32_without_tf32():
    """TF32 rounds matmul inputs to 10 mantissa bits, far above TOL; the CPU tests have none."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.float() - b.float()).abs().max().item()


def images(seed: int, batch: int, size: int = 224) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)).to(DEVICE)


def timm_pair(kind: str):
    """A perturbed timm classifier and ours holding its weights, both in eval mode on DEVICE."""
    torch.manual_seed(0)
    if kind == "swin":
        ref = perturb_(timm.create_model("swin_tiny_patch4_window7_224", drop_path_rate=0.0), seed=1)
        ours = timm.create_model("scratch_swin_t", drop_path_rate=0.0)
        sd, fmt = to_swin_hub(ref.state_dict())
        assert fmt == "timm"
    else:  # timm's ViT uses the exact GELU
        ref = perturb_(timm.create_model("vit_base_patch16_224"), seed=1)
        ours = timm.create_model("scratch_vit_b", act_layer="gelu")
        sd = checkpoint_filter_fn(ref.state_dict(), ours)
    ours.load_state_dict(sd, strict=True)
    return ref.to(DEVICE).eval(), ours.to(DEVICE).eval()


def model(kind: str) -> torch.nn.Module:
    """A perturbed full-size Swin-T or ViT-B without dropout or drop path, on DEVICE."""
    torch.manual_seed(0)
    name = "scratch_swin_t" if kind == "swin" else "scratch_vit_b"
    return perturb_(timm.create_model(name, drop_rate=0.0, drop_path_rate=0.0), seed=2).to(DEVICE)


# --- 1. official fixtures ---------------------------------------------------------------------
@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_official_swin_checkpoint_reproduces_official_logits(grad_mode):
    ckpt = torch.load(FIXTURES / "swin_official_tiny.pth", map_location="cpu", weights_only=True)
    io = load_file(FIXTURES / "swin_official_tiny.safetensors")
    sd, _ = to_swin_hub(ckpt)
    net = SwinTransformer(infer_config(sd))
    net.load_state_dict(sd, strict=True)
    with GRAD_MODES[grad_mode]():
        logits = net.to(DEVICE).eval()(io["pixel_values"].to(DEVICE))
    assert max_abs_diff(logits, io["logits"].to(DEVICE)) <= TOL


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_official_vit_npz_reproduces_google_logits(grad_mode):
    npz = load_npz(FIXTURES / "vit_official_tiny.npz")
    io = load_file(FIXTURES / "vit_official_tiny.safetensors")
    net = VisionTransformer(infer_config_npz(npz))
    net.load_state_dict(npz_to_swin_hub(npz), strict=True)
    with GRAD_MODES[grad_mode]():
        logits = net.to(DEVICE).eval()(io["pixel_values"].to(DEVICE))
    assert max_abs_diff(logits, io["logits"].to(DEVICE)) <= TOL


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_official_swinv2_checkpoint_reproduces_official_logits(grad_mode):
    ckpt = torch.load(V2_FIXTURES / "swinv2_official_tiny.pth", map_location="cpu", weights_only=True)
    io = load_file(V2_FIXTURES / "swinv2_official_tiny.safetensors")
    net = SwinTransformerV2(swinv2_convert.infer_config(ckpt, drop_path_rate=0.0))
    net.load_state_dict(swinv2_convert.to_swin_hub(ckpt)[0], strict=True)
    with GRAD_MODES[grad_mode]():
        logits = net.to(DEVICE).eval()(io["pixel_values"].to(DEVICE))
    assert max_abs_diff(logits, io["logits"].to(DEVICE)) <= TOL


# --- 2. timm parity at full size --------------------------------------------------------------
@pytest.fixture(scope="module", params=["swin", "vit"])
def pair(request):
    yield timm_pair(request.param)
    torch.cuda.empty_cache()


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_full_size_logits_match_timm(pair, grad_mode):
    ref, ours = pair
    x = images(10, 4)
    with GRAD_MODES[grad_mode]():
        assert max_abs_diff(ours(x), ref(x)) <= TOL


# --- 3. train mode with gradients computes what eval mode computes ----------------------------
@pytest.mark.parametrize("grad_mode", ["no_grad", "inference_mode"])
@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_train_mode_with_grad_gives_the_eval_logits(kind, grad_mode):
    """Without dropout or drop path the two modes are one function; only the kernels the
    execution policy picks for them may differ. Their fp32 rounding reaches ~2e-5 on the
    perturbed Swin's logits (up to ~6 in size), so the bound is 1e-5 of the logits' scale;
    a stale bias or mask is off by far more."""
    net, x = model(kind), images(11, 4)
    with GRAD_MODES[grad_mode]():
        evaluated = net.eval()(x)
    evaluated = evaluated.clone()  # a normal tensor even when made under inference_mode
    tol = 1e-5 * max(1.0, evaluated.abs().max().item())
    logits = net.train()(x)
    F.cross_entropy(logits, torch.zeros(4, dtype=torch.long, device=DEVICE)).backward()
    assert max_abs_diff(logits.detach(), evaluated) <= tol
    with GRAD_MODES[grad_mode]():  # and eval after the backward pass still agrees
        assert max_abs_diff(net.eval()(x), evaluated) <= tol


# --- 4. bf16 autocast -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_bf16_autocast_forward_and_backward_are_finite(kind):
    net, x = model(kind).train(), images(12, 8)
    y = torch.arange(8, device=DEVICE)
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        logits = net(x)
        loss = F.cross_entropy(logits, y)
    loss.backward()
    assert torch.isfinite(logits).all()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing


# --- 5. the CUDA policy's fast paths equal the plain path on the GPU ---------------------------
def assert_fast_path_as_exact_as_plain(net: torch.nn.Module, x: torch.Tensor) -> None:
    """Both paths' fp32 outputs scored against the plain path in float64: the fast one within 2x
    the plain one's error (or 1e-5 of the logits' scale)."""
    from swin_hub.models import fast

    with torch.no_grad():
        with fast.forced(reference=True):
            plain = net(x)
            exact = net.double()(x.double())
        out = net.float()(x)
    scale = max(1.0, exact.abs().max().item())
    plain_err, fast_err = max_abs_diff(plain, exact), max_abs_diff(out, exact)
    assert fast_err <= max(2 * plain_err, 1e-5 * scale), f"fast {fast_err:.3g} vs plain {plain_err:.3g} (fp32 - fp64)"


@pytest.mark.parametrize("attn_impl", ["auto", "sdpa"])
@pytest.mark.parametrize("kind", ["swin", "vit"])
def test_cuda_fast_paths_match_the_reference_path(kind, attn_impl):
    """The fast path is as exact as the plain one. Both are fp32 roundings of the same function,
    scored against the plain path in float64: the perturbed ViT-B's logits (up to 10) are off by
    1.8e-4 in fp32 on either path (CPU), and on the H200 SDPA's fp32 kernel and the plain path
    differ by 1.4e-4, which is rounding; a wrong mask, scale or bias is off by orders more."""
    torch.manual_seed(0)
    name = "scratch_swin_t" if kind == "swin" else "scratch_vit_b"
    net = perturb_(timm.create_model(name, drop_path_rate=0.0, attn_impl=attn_impl), seed=3).to(DEVICE).eval()
    assert_fast_path_as_exact_as_plain(net, images(13, 4))


@pytest.mark.parametrize("attn_impl", ["auto", "sdpa"])
def test_cuda_swinv2_fast_paths_match_the_reference_path(attn_impl):
    """Swin V2's cosine attention on the CUDA policy's route, scored as above."""
    torch.manual_seed(0)
    model = timm.create_model("scratch_swinv2_t_w8_256", drop_path_rate=0.0, attn_impl=attn_impl)
    net = perturb_(model, seed=3).to(DEVICE).eval()
    assert_fast_path_as_exact_as_plain(net, images(13, 4, 256))
