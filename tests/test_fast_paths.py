"""The inference fast paths compute what the plain paths compute.

Without autograd the models take shortcuts that training cannot take: the batch runs in
chunks, the MLP activation overwrites its input, the cached bias + mask is one that SDPA's
fused CPU kernel accepts, and shifted windows are made and undone by one index gather each. Each shortcut is checked against the plain path on the
same weights, at sizes that make it trigger.
"""

from __future__ import annotations

import pytest
import timm
import torch
from torch.profiler import profile

import swin_hub  # noqa: F401  (registers the scratch_* models)
from swin_hub.models import layers
from swin_hub.models import swin as swin_mod
from swin_hub.models.swin import SwinConfig, SwinTransformer, window_partition, window_reverse
from swin_hub.models.vit import ViTConfig, VisionTransformer

from helpers import perturb_

SMALL_SWIN = dict(img_size=112, embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), num_classes=10,
                  drop_path_rate=0.0)
SMALL_VIT = dict(img_size=64, patch_size=8, embed_dim=64, depth=3, num_heads=4, num_classes=10)


def images(seed: int, batch: int, h: int, w: int | None = None) -> torch.Tensor:
    return torch.randn(batch, 3, h, w or h, generator=torch.Generator().manual_seed(seed))


def plain_and_fast(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits in eval mode with autograd on (the plain path) and under inference_mode."""
    with torch.enable_grad():
        plain = model(x).detach()
    with torch.inference_mode():
        fast = model(x)
    return plain, fast


@pytest.mark.parametrize(
    "Hp, Wp, H, W, wh, ww, sh, sw",
    [
        pytest.param(56, 56, 56, 56, 7, 7, 3, 3, id="swin_t_stage1"),
        pytest.param(16, 24, 13, 22, 8, 8, 4, 4, id="padded_non_square"),
        pytest.param(14, 7, 14, 7, 7, 7, 3, 0, id="shift_in_one_dimension"),
    ],
)
def test_shift_gathers_equal_roll_then_partition_and_undo_it(Hp, Wp, H, W, wh, ww, sh, sw):
    attn = swin_mod.WindowAttention(8, 2, (wh, ww))
    attn.precompute((wh, ww, wh, ww, wh, ww, 0, 0))
    _, _, gather_in, gather_out = attn.geometry_tensors((Hp, Wp, H, W, wh, ww, sh, sw), torch.device("cpu"))
    x = torch.randn(2, Hp, Wp, 8)
    expected = window_partition(torch.roll(x, shifts=(-sh, -sw), dims=(1, 2)), wh, ww)  # (B, nW, N, C)
    windows = x.reshape(2, Hp * Wp, 8).index_select(1, gather_in).view(expected.shape)
    assert torch.equal(windows, expected)
    back = windows.reshape(2, -1, 8).index_select(1, gather_out).view(2, Hp, Wp, 8)
    undone = torch.roll(window_reverse(expected, wh, ww, Hp, Wp), shifts=(sh, sw), dims=(1, 2))
    assert torch.equal(back, undone)
    assert torch.equal(back, x)


def test_token_permutation_gradient_is_the_inverse_gather():
    """Its backward replaces autograd's scatter-add: reverse mode, double backward and vmap."""
    index = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    inverse = torch.argsort(index)
    x = torch.randn(2, 12, 3, dtype=torch.double, requires_grad=True)

    def permute(t):
        return swin_mod.TokenPermutation.apply(t, index, inverse)

    torch.testing.assert_close(permute(x), x.index_select(1, index))
    assert torch.autograd.gradcheck(permute, (x,))
    assert torch.autograd.gradgradcheck(permute, (x,))
    per_sample = torch.func.vmap(torch.func.grad(lambda t: (permute(t[None]) * x[:1].detach()).sum()))(x.detach())
    torch.testing.assert_close(per_sample, x[:1].detach().index_select(1, inverse).expand(2, 12, 3))


def test_per_sample_gradients_with_torch_func_match_autograd():
    """vmap(grad) over a training Swin, as per-sample-gradient (DP) users run it."""
    from torch.func import functional_call, grad, vmap

    torch.manual_seed(0)
    model = perturb_(SwinTransformer(SwinConfig(**SMALL_SWIN)), seed=7).train()
    params = {k: v.detach() for k, v in model.named_parameters()}
    x, y = images(8, 3, 112), torch.tensor([1, 2, 3])

    def loss(p, xi, yi):
        return torch.nn.functional.cross_entropy(functional_call(model, p, (xi[None],)), yi[None])

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    expected = torch.autograd.grad(loss(dict(model.named_parameters()), x[2], y[2]), list(model.parameters()))
    for (name, _), g in zip(model.named_parameters(), expected):
        torch.testing.assert_close(per_sample[name][2], g, atol=1e-5, rtol=1e-4, msg=name)

@pytest.mark.parametrize("hw", [(112, 112), (100, 76)], ids=["112", "100x76_padded"])
def test_swin_inference_in_batch_chunks_matches_the_plain_forward(monkeypatch, hw):
    monkeypatch.setattr(layers, "INFER_CHUNK_TOKENS", 300)  # stage 1 (28x28 tokens): 1 image per chunk
    torch.manual_seed(0)
    model = perturb_(SwinTransformer(SwinConfig(**SMALL_SWIN)), seed=1).eval()
    calls = []
    original = swin_mod.SwinStage._forward

    def spy(self, x, *args):
        calls.append(x.shape[0])
        return original(self, x, *args)

    monkeypatch.setattr(swin_mod.SwinStage, "_forward", spy)
    plain, fast = plain_and_fast(model, images(0, 5, *hw))
    assert calls[:4] == [5] * 4, "the autograd forward must run the batch whole"
    assert 1 in calls[4:], f"inference did not run in batch chunks: chunk sizes {calls[4:]}"
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=0)


def test_vit_inference_in_batch_chunks_matches_the_plain_forward(monkeypatch):
    monkeypatch.setattr(layers, "INFER_CHUNK_TOKENS", 130)  # 65 tokens per image: 2 images per chunk
    torch.manual_seed(0)
    model = perturb_(VisionTransformer(ViTConfig(**SMALL_VIT)), seed=2).eval()
    sizes = []
    model.blocks[0].register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[0]))
    plain, fast = plain_and_fast(model, images(1, 5, 64))
    assert sizes == [5, 2, 2, 1]
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=0)


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
        fast = mlp(x)
    expected = mlp.fc2(mlp.act(mlp.fc1(x))).detach()
    torch.testing.assert_close(fast, expected, atol=1e-6, rtol=0)


def test_per_image_sdpa_for_shifted_windows_matches_eager_attention(monkeypatch):
    """Several images in one chunk: SDPA runs one image at a time against the per-window mask."""
    monkeypatch.setattr(layers, "INFER_CHUNK_TOKENS", 10**9)
    torch.manual_seed(0)
    sdpa = perturb_(SwinTransformer(SwinConfig(**SMALL_SWIN, attn_impl="sdpa")), seed=3).eval()
    eager = SwinTransformer(SwinConfig(**SMALL_SWIN, attn_impl="eager")).eval()
    eager.load_state_dict(sdpa.state_dict())
    x = images(2, 3, 112)
    with torch.inference_mode():
        torch.testing.assert_close(sdpa(x), eager(x), atol=1e-5, rtol=0)


def test_inference_runs_every_window_attention_on_sdpas_fused_kernel():
    """A cached mask that required grad, or had a strided last dim, sent SDPA to its math path."""
    model = timm.create_model("scratch_swin_t", embed_dim=32, num_heads=(1, 2, 4, 8), num_classes=3).eval()
    x = images(3, 2, 224)
    with torch.inference_mode():
        model(x)  # fills the mask cache
        with profile() as prof:
            model(x)
    counts = {e.key: e.count for e in prof.key_averages()}
    assert counts.get("aten::_scaled_dot_product_attention_math", 0) == 0, counts
    assert counts.get("aten::_scaled_dot_product_flash_attention_for_cpu", 0) >= sum(model.cfg.depths)


def test_transformers_vit_takes_the_batch_chunked_path(monkeypatch):
    """pipeline('image-classification') calls the transformers class: it gets the same fast path."""
    from swin_hub import ScratchViTConfig, ScratchViTForImageClassification

    monkeypatch.setattr(layers, "INFER_CHUNK_TOKENS", 130)  # 65 tokens per image: 2 images per chunk
    torch.manual_seed(0)
    model = ScratchViTForImageClassification(ScratchViTConfig(**{k: v for k, v in SMALL_VIT.items() if k != "num_classes"}, num_labels=10)).eval()
    sizes = []
    model.model.blocks[0].register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[0]))
    x = images(4, 5, 64)
    with torch.inference_mode():
        fast = model(pixel_values=x).logits
    assert sizes == [2, 2, 1]
    with torch.enable_grad():
        plain = model(pixel_values=x).logits.detach()
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=0)
