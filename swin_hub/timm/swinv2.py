"""timm registration of the Swin V2 models: `timm.create_model('scratch_swinv2_t_w8_256')` after
`import swin_hub`.

The hyper-parameters of each name are the official ones (the pretrained windows of the fine-tuned
releases included), kept with their preprocessing in `swin_hub.models.presets`; the tags point at
the official Microsoft releases (GitHub `.pth`) and their `microsoft/swinv2-*` Hub repos.
"""

from __future__ import annotations

from timm.models import generate_default_cfgs, register_model

from ..convert.swinv2 import checkpoint_filter_fn
from ..models.presets import SWINV2_ARCHS, release_data
from ..models.swinv2 import SwinTransformerV2, SwinV2Config
from .common import create, load_converted

RELEASES = "https://github.com/SwinTransformer/storage/releases/download/v2.0.0"

ARCHS = SWINV2_ARCHS  # the official hyper-parameters of each registered name (models/presets.py)


def _cfg(file: str, hub_repo: str, num_classes: int = 1000, size: int = 256) -> dict:
    """`hub_repo`: the microsoft/ Hub copy (transformers layout), which timm prefers when the Hub
    is reachable; the filter converts it on load like the release file at `url`."""
    return dict(
        url=f"{RELEASES}/{file}",
        custom_load=True,
        hf_hub_id=hub_repo,
        num_classes=num_classes,
        pool_size=(size // 32, size // 32),
        **release_data("swinv2", size),
    )


def _release(name: str, num_classes: int = 1000, size: int = 256) -> dict:
    """Release files and Hub repos share one name: `swinv2_tiny_patch4_window8_256(.pth)`."""
    return _cfg(f"{name}.pth", "microsoft/" + name.replace("_", "-"), num_classes, size)


default_cfgs = generate_default_cfgs({
    "scratch_swinv2_t_w8_256.ms_in1k": _release("swinv2_tiny_patch4_window8_256"),
    "scratch_swinv2_s_w8_256.ms_in1k": _release("swinv2_small_patch4_window8_256"),
    "scratch_swinv2_b_w8_256.ms_in1k": _release("swinv2_base_patch4_window8_256"),
    "scratch_swinv2_t_w16_256.ms_in1k": _release("swinv2_tiny_patch4_window16_256"),
    "scratch_swinv2_s_w16_256.ms_in1k": _release("swinv2_small_patch4_window16_256"),
    "scratch_swinv2_b_w16_256.ms_in1k": _release("swinv2_base_patch4_window16_256"),
    "scratch_swinv2_b_w12_192_22k.ms_in22k": _release("swinv2_base_patch4_window12_192_22k", 21841, 192),
    "scratch_swinv2_l_w12_192_22k.ms_in22k": _release("swinv2_large_patch4_window12_192_22k", 21841, 192),
    "scratch_swinv2_b_w16_256_ft.ms_in22k_ft_in1k": _release("swinv2_base_patch4_window12to16_192to256_22kto1k_ft"),
    "scratch_swinv2_b_w24_384_ft.ms_in22k_ft_in1k": _release(
        "swinv2_base_patch4_window12to24_192to384_22kto1k_ft", size=384
    ),
    "scratch_swinv2_l_w16_256_ft.ms_in22k_ft_in1k": _release("swinv2_large_patch4_window12to16_192to256_22kto1k_ft"),
    "scratch_swinv2_l_w24_384_ft.ms_in22k_ft_in1k": _release(
        "swinv2_large_patch4_window12to24_192to384_22kto1k_ft", size=384
    ),
})


class TimmSwinTransformerV2(SwinTransformerV2):
    """The same model plus timm's `custom_load` hook, which converts official files on load."""

    def load_pretrained(self, checkpoint_path: str) -> None:
        load_converted(self, checkpoint_path, lambda raw: checkpoint_filter_fn(raw, self))


def build_swinv2(**kwargs) -> SwinTransformerV2:
    """timm passes flat kwargs; the model takes an explicit, validated config."""
    return TimmSwinTransformerV2(SwinV2Config.from_kwargs(**kwargs))


def _create(variant: str, pretrained: bool, **kwargs) -> SwinTransformerV2:
    stages = len(kwargs.get("depths", ARCHS[variant]["depths"]))
    return create(build_swinv2, variant, pretrained, ARCHS[variant], checkpoint_filter_fn, tuple(range(stages)), **kwargs)


@register_model
def scratch_swinv2_t_w8_256(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-T, 256, window 8 (28M params)."""
    return _create("scratch_swinv2_t_w8_256", pretrained, **kwargs)


@register_model
def scratch_swinv2_s_w8_256(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-S, 256, window 8 (50M params)."""
    return _create("scratch_swinv2_s_w8_256", pretrained, **kwargs)


@register_model
def scratch_swinv2_b_w8_256(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-B, 256, window 8 (88M params)."""
    return _create("scratch_swinv2_b_w8_256", pretrained, **kwargs)


@register_model
def scratch_swinv2_t_w16_256(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-T, 256, window 16."""
    return _create("scratch_swinv2_t_w16_256", pretrained, **kwargs)


@register_model
def scratch_swinv2_s_w16_256(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-S, 256, window 16."""
    return _create("scratch_swinv2_s_w16_256", pretrained, **kwargs)


@register_model
def scratch_swinv2_b_w16_256(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-B, 256, window 16."""
    return _create("scratch_swinv2_b_w16_256", pretrained, **kwargs)


@register_model
def scratch_swinv2_b_w12_192_22k(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-B, 192, window 12, ImageNet-22k (21841 classes)."""
    return _create("scratch_swinv2_b_w12_192_22k", pretrained, **kwargs)


@register_model
def scratch_swinv2_l_w12_192_22k(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-L, 192, window 12, ImageNet-22k (21841 classes, 197M params)."""
    return _create("scratch_swinv2_l_w12_192_22k", pretrained, **kwargs)


@register_model
def scratch_swinv2_b_w16_256_ft(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-B, 256, window 16, fine-tuned from the 192 px / window 12 ImageNet-22k model."""
    return _create("scratch_swinv2_b_w16_256_ft", pretrained, **kwargs)


@register_model
def scratch_swinv2_b_w24_384_ft(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-B, 384, window 24, fine-tuned from the 192 px / window 12 ImageNet-22k model."""
    return _create("scratch_swinv2_b_w24_384_ft", pretrained, **kwargs)


@register_model
def scratch_swinv2_l_w16_256_ft(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-L, 256, window 16, fine-tuned from the 192 px / window 12 ImageNet-22k model."""
    return _create("scratch_swinv2_l_w16_256_ft", pretrained, **kwargs)


@register_model
def scratch_swinv2_l_w24_384_ft(pretrained: bool = False, **kwargs) -> SwinTransformerV2:
    """Swin V2-L, 384, window 24, fine-tuned from the 192 px / window 12 ImageNet-22k model."""
    return _create("scratch_swinv2_l_w24_384_ft", pretrained, **kwargs)
