"""The execution policy (swin_hub/models/fast.py) and its fast paths.

Every fast path computes what the plain reference path computes (`fast.forced(reference=True)`):
batch chunks, SDPA per image or with the mask expanded, one gather for shift + partition, the
in-place activation. The CUDA policy is checked on this CPU by forcing it: same numbers, and a
number of dispatched ops that does not grow with the batch (the guard against launch-bound GPU
code: a Python loop over images or chunks costs one launch per kernel per image on a GPU).
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest
import timm
import torch
from torch.profiler import profile
from torch.utils._python_dispatch import TorchDispatchMode

import swin_hub  # noqa: F401  (registers the scratch_* models)
from swin_hub.models import fast, layers
from swin_hub.models import swin as swin_mod
from swin_hub.models.swin import SwinConfig, SwinTransformer, window_partition, window_reverse
from swin_hub.models.vit import ViTConfig, VisionTransformer

from helpers import perturb_

SMALL_SWIN = dict(img_size=112, embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), num_classes=10,
                  drop_path_rate=0.0)
SMALL_VIT = dict(img_size=64, patch_size=8, embed_dim=64, depth=3, num_heads=4, num_classes=10)


def images(seed: int, batch: int, h: int, w: int | None = None) -> torch.Tensor:
    return torch.randn(batch, 3, h, w or h, generator=torch.Generator().manual_seed(seed))


def swin(seed: int = 1, **overrides) -> SwinTransformer:
    torch.manual_seed(0)
    return perturb_(SwinTransformer(SwinConfig(**{**SMALL_SWIN, **overrides})), seed=seed).eval()


def vit(seed: int = 2, **overrides) -> VisionTransformer:
    torch.manual_seed(0)
    return perturb_(VisionTransformer(ViTConfig(**{**SMALL_VIT, **overrides})), seed=seed).eval()


def reference_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with fast.forced(reference=True), torch.no_grad():
        return model(x)


def logits_and_grads(model: torch.nn.Module, x: torch.Tensor, reference: bool = False, device_type=None):
    model.zero_grad()
    with fast.forced(device_type=device_type, reference=reference):
        out = model(x)
        out.square().mean().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


class OpCounter(TorchDispatchMode):
    """Counts aten ops as they are dispatched (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def dispatched_ops(model: torch.nn.Module, x: torch.Tensor, device_type: str, train: bool) -> int:
    model.train(train)
    with fast.forced(device_type=device_type), OpCounter() as counter, torch.set_grad_enabled(train):
        out = model(x)
        if train:
            out.sum().backward()
    return counter.count


# --- the policy -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "device, attn_impl, grad, training, expected",
    [
        ("cpu", "auto", False, False, fast.Policy(fast.CPU_CHUNK_TOKENS, "sdpa_per_image", True, True, True)),
        ("cpu", "auto", True, True, fast.Policy(0, "broadcast", True, True, False)),
        ("cpu", "sdpa", True, True, fast.Policy(0, "sdpa_per_image", True, True, False)),
        ("cpu", "eager", False, False, fast.Policy(fast.CPU_CHUNK_TOKENS, "broadcast", False, True, True)),
        ("cuda", "auto", False, False, fast.Policy(0, "sdpa_expanded", True, True, True)),
        ("cuda", "auto", True, True, fast.Policy(0, "sdpa_expanded", True, True, False)),
        ("cuda", "sdpa", True, True, fast.Policy(0, "sdpa_expanded", True, True, False)),
        ("cuda", "eager", False, False, fast.Policy(0, "broadcast", False, True, True)),
    ],
)
def test_policy_per_device_and_grad_mode(device, attn_impl, grad, training, expected):
    with fast.forced(device_type=device), torch.set_grad_enabled(grad):
        assert fast.execution_policy(torch.zeros(1), attn_impl, training) == expected


def test_policy_never_chunks_on_a_gpu_or_under_compile():
    """Chunks multiply kernel launches on a GPU and inductor plans its own buffers."""
    assert fast.execution_policy(torch.zeros(1, device="meta"), "auto", False).chunk_tokens == 0

    @torch.compile(backend="eager", fullgraph=True)
    def chunk_tokens(x):
        return x + fast.execution_policy(x, "auto", False).chunk_tokens

    with torch.no_grad():
        assert chunk_tokens(torch.zeros(1)).item() == 0


def test_reference_policy_switches_every_fast_path_off():
    with fast.forced(reference=True), torch.no_grad():
        assert fast.execution_policy(torch.zeros(1), "auto", False) == fast.Policy()


@pytest.mark.parametrize("module", [swin_mod.WindowAttention, swin_mod.SwinBlock])
def test_forward_has_at_most_one_branch_on_the_policy(module):
    """The model file states the algorithm: one switch per forward, the fast paths in fast.py."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(module.forward)))
    branches = [n for n in ast.walk(tree) if isinstance(n, (ast.If, ast.IfExp))]
    on_policy = [n for n in branches if "execution_policy" in ast.unparse(n.test) or "policy" in ast.unparse(n.test)]
    assert len(on_policy) <= 1, [ast.unparse(n.test) for n in on_policy]
    assert "execution_policy" in inspect.getsource(module.forward)


# --- each fast path equals the reference path -------------------------------------------------
@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
@pytest.mark.parametrize("hw", [(112, 112), (100, 76)], ids=["112", "100x76_padded"])
def test_swin_inference_policy_matches_the_reference_path(device_type, hw):
    model, x = swin(), images(0, 5, *hw)
    expected = reference_logits(model, x)
    with fast.forced(device_type=device_type), torch.inference_mode():
        out = model(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
@pytest.mark.parametrize("attn_impl", ["auto", "sdpa"])
def test_swin_training_policy_matches_the_reference_logits_and_gradients(device_type, attn_impl):
    model, x = swin(attn_impl=attn_impl).train(), images(1, 3, 112)
    expected, expected_grads = logits_and_grads(model, x, reference=True)
    out, grads = logits_and_grads(model, x, device_type=device_type)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    for name, g in grads.items():
        torch.testing.assert_close(g, expected_grads[name], atol=1e-5, rtol=1e-4, msg=name)


def test_swin_sdpa_with_the_mask_expanded_over_the_batch_matches_the_reference():
    """The CUDA route for attn_impl='sdpa': one SDPA call per block, no loop over images."""
    model, x = swin(attn_impl="sdpa"), images(2, 4, 112)
    with fast.forced(device_type="cuda"), torch.no_grad():
        assert fast.execution_policy(x, "sdpa", False).window_attn == "sdpa_expanded"
        out = model(x)
    torch.testing.assert_close(out, reference_logits(model, x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
def test_vit_policy_matches_the_reference_path(device_type):
    model, x = vit(), images(3, 5, 64)
    with fast.forced(device_type=device_type), torch.inference_mode():
        out = model(x)
    torch.testing.assert_close(out, reference_logits(model, x), atol=1e-5, rtol=0)
    expected, expected_grads = logits_and_grads(model.train(), x, reference=True)
    out, grads = logits_and_grads(model, x, device_type=device_type)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    for name, g in grads.items():
        torch.testing.assert_close(g, expected_grads[name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("hw", [(112, 112), (100, 76)], ids=["112", "100x76_padded"])
def test_swin_cpu_inference_runs_in_batch_chunks_that_match_the_whole_batch(monkeypatch, hw):
    monkeypatch.setattr(fast, "CPU_CHUNK_TOKENS", 300)  # stage 1 (28x28 tokens): 1 image per chunk
    model, x = swin(), images(0, 5, *hw)
    calls = []
    original = swin_mod.SwinStage.run_blocks

    def spy(self, x, *args):
        calls.append(x.shape[0])
        return original(self, x, *args)

    monkeypatch.setattr(swin_mod.SwinStage, "run_blocks", spy)
    with fast.forced(device_type="cpu"), torch.inference_mode():
        out = model(x)
    assert 1 in calls, f"inference did not run in batch chunks: chunk sizes {calls}"
    calls.clear()
    with fast.forced(device_type="cuda"), torch.inference_mode():
        model(x)
    assert calls == [5] * 4, "the CUDA policy must run the batch whole"
    torch.testing.assert_close(out, reference_logits(model, x), atol=1e-5, rtol=0)


def test_vit_cpu_inference_runs_in_batch_chunks(monkeypatch):
    monkeypatch.setattr(fast, "CPU_CHUNK_TOKENS", 130)  # 65 tokens per image: 2 images per chunk
    model, x = vit(), images(1, 5, 64)
    sizes = []
    model.blocks[0].register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[0]))
    with fast.forced(device_type="cpu"), torch.inference_mode():
        out = model(x)
    assert sizes == [2, 2, 1]
    torch.testing.assert_close(out, reference_logits(model, x), atol=1e-5, rtol=0)


def test_transformers_vit_takes_the_batch_chunked_path(monkeypatch):
    """pipeline('image-classification') calls the transformers class: it gets the same fast path."""
    from swin_hub import ScratchViTConfig, ScratchViTForImageClassification

    monkeypatch.setattr(fast, "CPU_CHUNK_TOKENS", 130)  # 65 tokens per image: 2 images per chunk
    torch.manual_seed(0)
    config = ScratchViTConfig(**{k: v for k, v in SMALL_VIT.items() if k != "num_classes"}, num_labels=10)
    model = ScratchViTForImageClassification(config).eval()
    sizes = []
    model.model.blocks[0].register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[0]))
    x = images(4, 5, 64)
    with fast.forced(device_type="cpu"), torch.inference_mode():
        out = model(pixel_values=x).logits
    assert sizes == [2, 2, 1]
    with fast.forced(reference=True), torch.no_grad():
        expected = model(pixel_values=x).logits
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


# --- the CUDA policy stays launch-bound-free --------------------------------------------------
@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("make", [lambda: swin(attn_impl="auto"), lambda: swin(attn_impl="sdpa"), vit],
                         ids=["swin", "swin_sdpa", "vit"])
def test_cuda_policy_dispatches_as_many_ops_at_batch_32_as_at_batch_2(make, train):
    model = make()
    size = model.cfg.img_size[0]
    small = dispatched_ops(model, images(5, 2, size), "cuda", train)
    large = dispatched_ops(model, images(5, 32, size), "cuda", train)
    assert large == small, f"{small} ops at batch 2, {large} at batch 32"


def test_op_counter_sees_the_cpu_policys_per_image_work():
    """The guard above can fail: the CPU policy's chunks and per-image SDPA grow with the batch."""
    model = swin()
    assert dispatched_ops(model, images(5, 32, 112), "cpu", False) > dispatched_ops(model, images(5, 2, 112), "cpu", False)


# --- the pieces -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "Hp, Wp, wh, ww, sh, sw",
    [
        pytest.param(56, 56, 7, 7, 3, 3, id="swin_t_stage1"),
        pytest.param(16, 24, 8, 8, 4, 4, id="padded_non_square"),
        pytest.param(14, 7, 7, 7, 3, 0, id="shift_in_one_dimension"),
    ],
)
def test_window_gathers_equal_roll_then_partition_and_undo_it(Hp, Wp, wh, ww, sh, sw):
    gather, scatter = fast.window_gathers(Hp, Wp, wh, ww, sh, sw)
    x = torch.randn(2, Hp, Wp, 8)
    expected = window_partition(torch.roll(x, shifts=(-sh, -sw), dims=(1, 2)), wh, ww)  # (B, nW, N, C)
    windows = x.reshape(2, Hp * Wp, 8).index_select(1, gather).view(expected.shape)
    assert torch.equal(windows, expected)
    back = windows.reshape(2, -1, 8).index_select(1, scatter).view(2, Hp, Wp, 8)
    undone = torch.roll(window_reverse(expected, wh, ww, Hp, Wp), shifts=(sh, sw), dims=(1, 2))
    assert torch.equal(back, undone)
    assert torch.equal(back, x)


def test_token_permutation_gradient_is_the_inverse_gather():
    """Its backward replaces autograd's scatter-add: reverse mode, double backward and vmap."""
    index = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    inverse = torch.argsort(index)
    x = torch.randn(2, 12, 3, dtype=torch.double, requires_grad=True)

    def permute(t):
        return fast.TokenPermutation.apply(t, index, inverse)

    torch.testing.assert_close(permute(x), x.index_select(1, index))
    assert torch.autograd.gradcheck(permute, (x,))
    assert torch.autograd.gradgradcheck(permute, (x,))
    per_sample = torch.func.vmap(torch.func.grad(lambda t: (permute(t[None]) * x[:1].detach()).sum()))(x.detach())
    torch.testing.assert_close(per_sample, x[:1].detach().index_select(1, inverse).expand(2, 12, 3))


def test_per_sample_gradients_with_torch_func_match_autograd():
    """vmap(grad) over a training Swin, as per-sample-gradient (DP) users run it."""
    from torch.func import functional_call, grad, vmap

    model = swin(seed=7).train()
    params = {k: v.detach() for k, v in model.named_parameters()}
    x, y = images(8, 3, 112), torch.tensor([1, 2, 3])

    def loss(p, xi, yi):
        return torch.nn.functional.cross_entropy(functional_call(model, p, (xi[None],)), yi[None])

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    expected = torch.autograd.grad(loss(dict(model.named_parameters()), x[2], y[2]), list(model.parameters()))
    for (name, _), g in zip(model.named_parameters(), expected):
        torch.testing.assert_close(per_sample[name][2], g, atol=1e-5, rtol=1e-4, msg=name)


def test_in_place_activation_leaves_a_hooked_fc1_output_alone():
    """Feature-extraction hooks on fc1 must see fc1's output, not the activation written over it."""
    torch.manual_seed(0)
    mlp = layers.Mlp(16, 64, "gelu").eval()
    seen = []
    mlp.fc1.register_forward_hook(lambda mod, args, out: seen.append(out))
    x = torch.randn(5, 16)
    with torch.no_grad():
        mlp(x)
    torch.testing.assert_close(seen[0], mlp.fc1(x).detach())


@pytest.mark.parametrize("act", ["gelu", "gelu_tanh", "relu", "silu"])
def test_in_place_activation_matches_the_module(act):
    torch.manual_seed(0)
    mlp = layers.Mlp(16, 64, act).eval()
    x = torch.randn(5, 16)
    with torch.no_grad():
        fast_out = mlp(x)
    expected = mlp.fc2(mlp.act(mlp.fc1(x))).detach()
    torch.testing.assert_close(fast_out, expected, atol=1e-6, rtol=0)


def test_cpu_inference_runs_every_window_attention_on_sdpas_fused_kernel():
    """A bias that required grad, or had a strided last dim, sent SDPA to its math path."""
    model = timm.create_model("scratch_swin_t", embed_dim=32, num_heads=(1, 2, 4, 8), num_classes=3).eval()
    x = images(3, 2, 224)
    with fast.forced(device_type="cpu"), torch.inference_mode(), profile() as prof:
        model(x)
    counts = {e.key: e.count for e in prof.key_averages()}
    assert counts.get("aten::_scaled_dot_product_attention_math", 0) == 0, counts
    assert counts.get("aten::_scaled_dot_product_flash_attention_for_cpu", 0) >= sum(model.cfg.depths)
