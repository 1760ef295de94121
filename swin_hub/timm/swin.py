"""timm registration of the Swin models: `timm.create_model('scratch_swin_t')` after `import swin_hub`.

The hyper-parameters of each name are the official ones, kept with their preprocessing in
`swin_hub.models.presets` (conversion checks checkpoints against them); the pretrained tags point
at the official Microsoft releases (GitHub `.pth`) and their `microsoft/swin-*` Hub repos.
"""

from __future__ import annotations

from timm.models import generate_default_cfgs, register_model

from ..convert.swin import checkpoint_filter_fn
from ..models.presets import SWIN_ARCHS, release_data
from ..models.swin import SwinConfig, SwinTransformer
from .common import create, load_converted

RELEASES = "https://github.com/SwinTransformer/storage/releases/download"

ARCHS = SWIN_ARCHS  # the official hyper-parameters of each registered name (models/presets.py)


def _cfg(file: str, hub_repo: str | None = None, num_classes: int = 1000, size: int = 224) -> dict:
    """`hub_repo`: the microsoft/ Hub copy (transformers layout), which timm prefers when the Hub
    is reachable; the filter converts it on load like the release file at `url`."""
    return dict(
        url=f"{RELEASES}/{file}",
        custom_load=True,
        hf_hub_id=hub_repo,
        num_classes=num_classes,
        pool_size=(size // 32, size // 32),
        **release_data("swin", size),
    )


default_cfgs = generate_default_cfgs({
    "scratch_swin_t.ms_in1k": _cfg("v1.0.0/swin_tiny_patch4_window7_224.pth", "microsoft/swin-tiny-patch4-window7-224"),
    "scratch_swin_t.ms_in22k_ft_in1k": _cfg("v1.0.8/swin_tiny_patch4_window7_224_22kto1k_finetune.pth"),
    "scratch_swin_t.ms_in22k": _cfg("v1.0.8/swin_tiny_patch4_window7_224_22k.pth", num_classes=21841),
    "scratch_swin_s.ms_in1k": _cfg("v1.0.0/swin_small_patch4_window7_224.pth", "microsoft/swin-small-patch4-window7-224"),
    "scratch_swin_s.ms_in22k_ft_in1k": _cfg("v1.0.8/swin_small_patch4_window7_224_22kto1k_finetune.pth"),
    "scratch_swin_s.ms_in22k": _cfg("v1.0.8/swin_small_patch4_window7_224_22k.pth", num_classes=21841),
    "scratch_swin_b.ms_in22k_ft_in1k": _cfg("v1.0.0/swin_base_patch4_window7_224_22kto1k.pth", "microsoft/swin-base-patch4-window7-224"),
    "scratch_swin_b.ms_in1k": _cfg("v1.0.0/swin_base_patch4_window7_224.pth"),
    "scratch_swin_b.ms_in22k": _cfg(
        "v1.0.0/swin_base_patch4_window7_224_22k.pth", "microsoft/swin-base-patch4-window7-224-in22k", 21841
    ),
    "scratch_swin_l.ms_in22k_ft_in1k": _cfg("v1.0.0/swin_large_patch4_window7_224_22kto1k.pth", "microsoft/swin-large-patch4-window7-224"),
    "scratch_swin_l.ms_in22k": _cfg(
        "v1.0.0/swin_large_patch4_window7_224_22k.pth", "microsoft/swin-large-patch4-window7-224-in22k", 21841
    ),
    "scratch_swin_b_384.ms_in22k_ft_in1k": _cfg(
        "v1.0.0/swin_base_patch4_window12_384_22kto1k.pth", "microsoft/swin-base-patch4-window12-384", size=384
    ),
    "scratch_swin_b_384.ms_in1k": _cfg("v1.0.0/swin_base_patch4_window12_384.pth", size=384),
    "scratch_swin_b_384.ms_in22k": _cfg(
        "v1.0.0/swin_base_patch4_window12_384_22k.pth", "microsoft/swin-base-patch4-window12-384-in22k", 21841, 384
    ),
    "scratch_swin_l_384.ms_in22k_ft_in1k": _cfg(
        "v1.0.0/swin_large_patch4_window12_384_22kto1k.pth", "microsoft/swin-large-patch4-window12-384", size=384
    ),
    "scratch_swin_l_384.ms_in22k": _cfg(
        "v1.0.0/swin_large_patch4_window12_384_22k.pth", "microsoft/swin-large-patch4-window12-384-in22k", 21841, 384
    ),
})


class TimmSwinTransformer(SwinTransformer):
    """The same model plus timm's `custom_load` hook, which converts official files on load."""

    def load_pretrained(self, checkpoint_path: str) -> None:
        load_converted(self, checkpoint_path, lambda raw: checkpoint_filter_fn(raw, self))


def build_swin(**kwargs) -> SwinTransformer:
    """timm passes flat kwargs; the model takes an explicit, validated config."""
    return TimmSwinTransformer(SwinConfig.from_kwargs(**kwargs))


def _create(variant: str, pretrained: bool, **kwargs) -> SwinTransformer:
    stages = len(kwargs.get("depths", ARCHS[variant]["depths"]))
    return create(build_swin, variant, pretrained, ARCHS[variant], checkpoint_filter_fn, tuple(range(stages)), **kwargs)


@register_model
def scratch_swin_t(pretrained: bool = False, **kwargs) -> SwinTransformer:
    """Swin-T, 224, window 7 (28M params)."""
    return _create("scratch_swin_t", pretrained, **kwargs)


@register_model
def scratch_swin_s(pretrained: bool = False, **kwargs) -> SwinTransformer:
    """Swin-S, 224, window 7 (50M params)."""
    return _create("scratch_swin_s", pretrained, **kwargs)


@register_model
def scratch_swin_b(pretrained: bool = False, **kwargs) -> SwinTransformer:
    """Swin-B, 224, window 7 (88M params)."""
    return _create("scratch_swin_b", pretrained, **kwargs)


@register_model
def scratch_swin_l(pretrained: bool = False, **kwargs) -> SwinTransformer:
    """Swin-L, 224, window 7 (197M params)."""
    return _create("scratch_swin_l", pretrained, **kwargs)


@register_model
def scratch_swin_b_384(pretrained: bool = False, **kwargs) -> SwinTransformer:
    """Swin-B, 384, window 12."""
    return _create("scratch_swin_b_384", pretrained, **kwargs)


@register_model
def scratch_swin_l_384(pretrained: bool = False, **kwargs) -> SwinTransformer:
    """Swin-L, 384, window 12."""
    return _create("scratch_swin_l_384", pretrained, **kwargs)
