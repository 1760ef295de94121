"""Contracts every registered scratch_* model keeps with timm and with PyTorch's graph tools.

The model contracts are the ones timm documents and checks for its own models: a forward at the
default input size, gradients for every parameter, a pretrained_cfg whose fields name real
modules, reset_classifier / forward_head(pre_logits) widths, and forward_intermediates behind
features_only. The graph contracts: torch.fx traces (symbolic_trace, timm's and torchvision's FX
feature extraction, FX quantization) record the plain reference path of `fast.py` op for op;
torch.export gives the eager outputs without a loop over images; torch.jit.script is refused
with one sentence that names torch.export and torch.compile.

Every model is built small (few channels and blocks, `SMALL`) at its registered input size, so
the whole file runs on a 2-core CPU in under two minutes.
"""

from __future__ import annotations

import pytest
import timm
import torch
from timm.layers import Format, set_scriptable
from timm.models import get_pretrained_cfg
from timm.models._features_fx import GraphExtractNet
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from helpers import perturb_
import swin_hub  # noqa: F401  (registers the scratch_* models with timm)
from swin_hub.models import fast
from swin_hub.timm import swin as timm_swin
from swin_hub.timm import swinv2 as timm_swinv2
from swin_hub.timm import vit as timm_vit

# torchvision's note on train / eval node names: these tests trace and run in eval mode only
pytestmark = pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing the model in eval mode")

NAMES = timm.list_models("scratch_*")
# the registered architectures with few channels and blocks; Swin keeps two blocks per stage so
# every stage larger than its window has a shifted block
SWIN_SMALL = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))
VIT_SMALL = dict(embed_dim=32, depth=3, num_heads=2)
SMALL = {name: SWIN_SMALL for name in (*timm_swin.ARCHS, *timm_swinv2.ARCHS)} | {name: VIT_SMALL for name in timm_vit.ARCHS}
# one of each family, for the slower graph tools
PAIR = ["scratch_swin_t", "scratch_swinv2_t_w8_256", "scratch_vit_s"]
TIMM_CFG_FIELDS = ("input_size", "mean", "std", "crop_pct", "interpolation", "num_classes", "first_conv", "classifier")


def build(name: str, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model(name, **{**SMALL[name], **kwargs}).eval()


def default_input(name: str, batch: int = 2) -> torch.Tensor:
    """A batch at the model's registered input size (its default pretrained_cfg)."""
    c, h, w = get_pretrained_cfg(name).input_size
    return torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(1))


def reference(model: nn.Module, x: torch.Tensor):
    """The model's output on the plain reference path (no fast path of fast.py)."""
    with fast.forced(reference=True), torch.no_grad():
        return model(x)


def as_nchw(feature: torch.Tensor, fmt: Format, num_prefix_tokens: int, grid: tuple[int, int]) -> torch.Tensor:
    """An FX feature map in the model's output format -> (B, C, h, w), as features_only gives it."""
    if fmt == Format.NHWC:
        return feature.permute(0, 3, 1, 2)
    tokens = feature[:, num_prefix_tokens:]  # (B, h*w, C)
    return tokens.reshape(tokens.shape[0], *grid, -1).permute(0, 3, 1, 2)


def test_every_registered_model_has_a_small_config():
    assert NAMES and set(NAMES) == set(SMALL)


# --- the model contracts ----------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_forward_at_the_default_input_size_gives_finite_logits(name):
    model = build(name)
    with torch.no_grad():
        logits = model(default_input(name))
    assert logits.shape == (2, model.num_classes)
    assert model.num_classes == model.pretrained_cfg["num_classes"]
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", NAMES)
def test_backward_reaches_every_parameter(name):
    """Perturbed first: Swin V2 starts each residual branch behind a zero post-norm (official
    init), so at init the branches' parameters get no gradient by design."""
    model = perturb_(build(name), seed=0).train()
    model(default_input(name)).square().mean().backward()
    without = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    non_finite = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not without, f"no gradient: {without}"
    assert not non_finite, f"non-finite gradient: {non_finite}"


@pytest.mark.parametrize("name", NAMES)
def test_pretrained_cfg_has_the_fields_timm_reads_and_they_name_real_modules(name):
    model = build(name)
    cfg = model.pretrained_cfg
    assert not [f for f in TIMM_CFG_FIELDS if cfg.get(f) is None]
    assert tuple(cfg["input_size"]) == (model.in_chans, *model.cfg.img_size)
    assert len(cfg["mean"]) == len(cfg["std"]) == cfg["input_size"][0]
    assert 0.0 < cfg["crop_pct"] <= 1.0
    assert cfg["interpolation"] in ("bicubic", "bilinear", "nearest")
    first_conv = model.get_submodule(cfg["first_conv"])
    assert isinstance(first_conv, nn.Conv2d) and first_conv.in_channels == cfg["input_size"][0]
    classifier = model.get_submodule(cfg["classifier"])
    assert classifier is model.get_classifier()
    assert isinstance(classifier, nn.Linear) and classifier.out_features == cfg["num_classes"]


@pytest.mark.parametrize("name", NAMES)
def test_reset_classifier_zero_gives_the_pooled_features(name):
    model, x = build(name), default_input(name)
    with torch.no_grad():
        features = model.forward_features(x)
        pre_logits = model.forward_head(features, pre_logits=True)
        model.reset_classifier(0)
        pooled = model(x)
    assert features.shape[-1] == model.num_features  # NHWC (Swin) or NLC (ViT): channels last
    assert pre_logits.shape == (2, model.head_hidden_size)
    assert pooled.shape == (2, model.num_features)
    assert torch.equal(pooled, pre_logits)  # no representation layer in any registered model


@pytest.mark.parametrize("name", NAMES)
def test_forward_intermediates_agree_with_features_only(name):
    model, x = build(name), default_input(name)
    net = timm.create_model(name, features_only=True, **SMALL[name]).eval()
    missing, _ = net.model.load_state_dict(model.state_dict(), strict=False)
    assert not missing
    with torch.no_grad():
        features = net(x)
        expected = model.forward_intermediates(x, indices=list(net.out_indices), intermediates_only=True)
    info = net.feature_info
    assert len(features) == len(expected) == len(info.out_indices)
    for feature, want, channels, reduction in zip(features, expected, info.channels(), info.reduction()):
        assert feature.shape == (2, channels, x.shape[2] // reduction, x.shape[3] // reduction)
        assert torch.equal(feature, want)


# --- torch.fx -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_fx_symbolic_trace_of_the_classifier_gives_the_eager_logits(name):
    model, x = build(name), default_input(name)
    graph = torch.fx.symbolic_trace(model)
    # weight-free geometry stays in the model's buffers (which follow .to()), not graph constants
    assert not [n.target for n in graph.graph.nodes if n.op == "get_attr" and "_tensor_constant" in n.target]
    with torch.no_grad():
        traced, eager = graph(x), model(x)
    assert torch.equal(traced, reference(model, x))  # the graph records the reference path, op for op
    torch.testing.assert_close(traced, eager, atol=1e-5, rtol=0)  # which the fast paths match


@pytest.mark.parametrize("name", NAMES)
def test_fx_features_only_gives_the_maps_of_the_default_features_only(name):
    x = default_input(name)
    fx_net = build(name, features_only=True, feature_cls="fx")
    getter = build(name, features_only=True)
    getter_weights = {k.split(".", 1)[1]: v for k, v in getter.state_dict().items()}  # "model." prefix
    for key, value in fx_net.state_dict().items():  # the same weights (same seed, same init)
        assert torch.equal(value, getter_weights[key.split(".", 1)[1]]), key
    with torch.no_grad():
        traced, eager = fx_net(x), getter(x)
    expected = reference(getter, x)
    assert fx_net.feature_info.channels() == getter.feature_info.channels()
    assert len(traced) == len(expected) == len(getter.feature_info.out_indices)
    prefix = getattr(getter.model, "num_prefix_tokens", 0)
    for i, (feature, want, fast_map) in enumerate(zip(traced, expected, eager)):
        feature = as_nchw(feature, fx_net.output_fmt, prefix, want.shape[2:])
        assert torch.equal(feature, want), f"feature {i}"
        torch.testing.assert_close(feature, fast_map, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", PAIR)
def test_torchvision_feature_extractor_returns_what_forward_hooks_see(name):
    model, x = build(name), default_input(name)
    inner = "layers.1" if hasattr(model, "layers") else "blocks.1"
    extractor = create_feature_extractor(model, return_nodes={inner: "inner", "head": "logits"})
    seen = {}
    model.get_submodule(inner).register_forward_hook(lambda module, args, out: seen.update(inner=out))
    logits = reference(model, x)
    with torch.no_grad():
        out = extractor(x)
    assert torch.equal(out["inner"], seen["inner"])
    assert torch.equal(out["logits"], logits)


@pytest.mark.parametrize("name", PAIR)
def test_timm_graph_extract_net_of_the_classifier_gives_the_logits(name):
    model, x = build(name), default_input(name)
    net = GraphExtractNet(model, {"head": "logits"})
    with torch.no_grad():
        assert torch.equal(net(x), reference(model, x))


def test_a_traced_swin_graph_refuses_other_input_sizes_even_after_dead_code_elimination():
    """An FX graph holds the construction size's windows: another size must not run silently."""
    model = build("scratch_swin_t")
    x = torch.randn(1, 3, 192, 192)
    with torch.no_grad():
        model(x)  # the model itself takes any size
        for graph in (torch.fx.symbolic_trace(model), create_feature_extractor(model, {"layers.0": "s0"})):
            with pytest.raises(ValueError, match=r"takes 224x224 inputs, got 192x192.*torch\.fx graph is static"):
                graph(x)


def test_a_traced_dynamic_img_size_vit_takes_other_sizes_like_the_model():
    """The position embedding's resampling is an FX leaf: the graph keeps the model's flexibility."""
    model = build("scratch_vit_s", dynamic_img_size=True)
    graph = torch.fx.symbolic_trace(model)
    for h, w in [(224, 224), (160, 256)]:
        x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            assert torch.equal(graph(x), reference(model, x)), (h, w)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:Please use quant_min")
@pytest.mark.parametrize("name", PAIR)
def test_fx_quantization_prepares_an_observed_model_with_the_eager_logits(name):
    quantize_fx = pytest.importorskip("torch.ao.quantization.quantize_fx")  # deprecated for torchao
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.observer import ObserverBase

    model, x = build(name), default_input(name)
    expected = reference(model, x)
    prepared = quantize_fx.prepare_fx(model, get_default_qconfig_mapping("x86"), (x,))
    assert any(isinstance(m, ObserverBase) for m in prepared.modules())
    with torch.no_grad():
        assert torch.equal(prepared(x), expected)


# --- TorchScript --------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize("features_only", [False, True], ids=["classifier", "features_only"])
@pytest.mark.parametrize("name", PAIR)
def test_torchscript_is_refused_with_one_error_naming_export_and_compile(name, features_only):
    with set_scriptable(True):
        model = build(name, features_only=features_only)
    refusal = r"torch\.jit\.script does not support .*torch\.export\.export.*torch\.compile"
    with pytest.raises(RuntimeError, match=refusal):
        torch.jit.script(model)


# --- torch.export -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_torch_export_gives_the_eager_outputs(name):
    """Export takes the compile policy (fast.py): the GPU's route with Swin's windows through the
    broadcast matmuls instead of eager CUDA's SDPA. Same ops, same numbers."""
    model, x = build(name), default_input(name)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        out, eager = exported.module()(x), model(x)
        with fast.forced(device_type="cuda", window_attn="broadcast"):
            gpu_route = model(x)
    assert torch.equal(out, gpu_route)
    torch.testing.assert_close(out, eager, atol=1e-5, rtol=0)


def exported_ops(model: nn.Module, name: str, batch: int) -> int:
    return len(torch.export.export(model, (default_input(name, batch),)).graph.nodes)


@pytest.mark.parametrize(
    "name, attn_impl", [("scratch_swin_t", "auto"), ("scratch_swin_t", "sdpa"), ("scratch_vit_s", "auto")]
)
def test_exported_graph_has_no_loop_over_images(name, attn_impl, monkeypatch):
    """Batch chunks and per-image SDPA are eager-CPU routes; an exported program runs anywhere."""
    monkeypatch.setattr(fast, "CPU_CHUNK_TOKENS", 1)  # were chunks taken, every image would be one
    model = build(name, attn_impl=attn_impl)
    assert exported_ops(model, name, 2) == exported_ops(model, name, 5)


def test_exported_op_count_sees_a_loop_over_images():
    """The guard above can fail: forcing batch chunks under export multiplies the graph."""
    model = build("scratch_vit_s")
    with fast.forced(chunk_tokens=1):
        assert exported_ops(model, "scratch_vit_s", 5) > exported_ops(model, "scratch_vit_s", 2)
