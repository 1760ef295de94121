"""timm registration of the ViT models: `timm.create_model('scratch_vit_b')` after `import swin_hub`.

The hyper-parameters of each name are the paper's, kept with their preprocessing in
`swin_hub.models.presets` (conversion checks checkpoints against them); the pretrained tags point
at Google's released `.npz` files (and the `google/vit-*` Hub repos where Google published one).
"""

from __future__ import annotations

from timm.models import generate_default_cfgs, register_model

from ..convert.vit import checkpoint_filter_fn, npz_to_swin_hub
from ..models.presets import VIT_ARCHS, release_data
from ..models.vit import ViTConfig, VisionTransformer
from .common import create, load_converted

AUGREG = "https://storage.googleapis.com/vit_models/augreg"
ORIG = "https://storage.googleapis.com/vit_models/imagenet21k+imagenet2012"

ARCHS = VIT_ARCHS  # the paper's hyper-parameters of each registered name (models/presets.py)


def _cfg(url: str, hub_repo: str | None = None, num_classes: int = 1000, size: int = 224) -> dict:
    """`hub_repo`: the google/ Hub copy (transformers layout), which timm prefers when the Hub
    is reachable; the filter converts it on load like the release file at `url`."""
    cfg = dict(url=url, custom_load=True, hf_hub_id=hub_repo, num_classes=num_classes, pool_size=None,
               **release_data("vit", size))
    if "augreg" in url:  # "How to train your ViT?", not the original paper
        cfg["paper_ids"] = "arXiv:2106.10270"
    return cfg


def _augreg(stem: str, aug: str, ft: str | None = None, size: int = 224, i1k: bool = False) -> dict:
    """AugReg file names: {model}-{pretrain}-300ep-lr_0.001-{aug}[--imagenet2012-steps_20k-{ft}-res_{size}].npz"""
    pre = f"{stem}-{'i1k' if i1k else 'i21k'}-300ep-lr_0.001-{aug}"
    if ft is None:
        return _cfg(f"{AUGREG}/{pre}.npz", num_classes=21843)
    return _cfg(f"{AUGREG}/{pre}--imagenet2012-steps_20k-{ft}-res_{size}.npz", size=size)


B16_21K = "aug_medium1-wd_0.1-do_0.0-sd_0.0"
B16_1K = "aug_strong2-wd_0.1-do_0.1-sd_0.1"
B32_1K = "aug_medium2-wd_0.1-do_0.1-sd_0.1"

default_cfgs = generate_default_cfgs({
    "scratch_vit_ti.augreg_in21k_ft_in1k": _augreg("Ti_16", "aug_none-wd_0.03-do_0.0-sd_0.0", "lr_0.03"),
    "scratch_vit_ti.augreg_in21k": _augreg("Ti_16", "aug_none-wd_0.03-do_0.0-sd_0.0"),
    "scratch_vit_s.augreg_in21k_ft_in1k": _augreg("S_16", "aug_light1-wd_0.03-do_0.0-sd_0.0", "lr_0.03"),
    "scratch_vit_s.augreg_in1k": _augreg("S_16", "aug_medium2-wd_0.1-do_0.0-sd_0.0", "lr_0.01", i1k=True),
    "scratch_vit_s.augreg_in21k": _augreg("S_16", "aug_light1-wd_0.03-do_0.0-sd_0.0"),
    "scratch_vit_b.augreg_in21k_ft_in1k": _augreg("B_16", B16_21K, "lr_0.01"),
    "scratch_vit_b.orig_in21k_ft_in1k": _cfg(f"{ORIG}/ViT-B_16-224.npz", "google/vit-base-patch16-224"),
    "scratch_vit_b.augreg_in1k": _augreg("B_16", B16_1K, "lr_0.01", i1k=True),
    "scratch_vit_b.augreg_in21k": _augreg("B_16", B16_21K),
    "scratch_vit_l.augreg_in21k_ft_in1k": _augreg("L_16", "aug_medium1-wd_0.1-do_0.1-sd_0.1", "lr_0.01"),
    "scratch_vit_l.orig_in21k_ft_in1k": _cfg(f"{ORIG}/ViT-L_16-224.npz", "google/vit-large-patch16-224"),
    "scratch_vit_l.augreg_in21k": _augreg("L_16", "aug_medium1-wd_0.1-do_0.1-sd_0.1"),
    "scratch_vit_b32.augreg_in21k_ft_in1k": _augreg("B_32", "aug_medium1-wd_0.03-do_0.0-sd_0.0", "lr_0.03"),
    "scratch_vit_b32.augreg_in1k": _augreg("B_32", B32_1K, "lr_0.01", i1k=True),
    "scratch_vit_b32.augreg_in21k": _augreg("B_32", "aug_medium1-wd_0.03-do_0.0-sd_0.0"),
    "scratch_vit_b_384.augreg_in21k_ft_in1k": _augreg("B_16", B16_21K, "lr_0.01", size=384),
    "scratch_vit_b_384.orig_in21k_ft_in1k": _cfg(f"{ORIG}/ViT-B_16.npz", "google/vit-base-patch16-384", size=384),
    "scratch_vit_b_384.augreg_in1k": _augreg("B_16", B16_1K, "lr_0.01", size=384, i1k=True),
})


def _to_swin_hub(raw: dict, model: VisionTransformer) -> dict:
    sd = npz_to_swin_hub(raw) if "embedding/kernel" in raw else raw
    return checkpoint_filter_fn(sd, model)


class TimmVisionTransformer(VisionTransformer):
    """The same model plus timm's `custom_load` hook, which converts Google's npz on load."""

    def load_pretrained(self, checkpoint_path: str) -> None:
        load_converted(self, checkpoint_path, lambda raw: _to_swin_hub(raw, self))


def build_vit(**kwargs) -> VisionTransformer:
    """timm passes flat kwargs; the model takes an explicit, validated config."""
    return TimmVisionTransformer(ViTConfig.from_kwargs(**kwargs))


def _create(variant: str, pretrained: bool, **kwargs) -> VisionTransformer:
    return create(build_vit, variant, pretrained, ARCHS[variant], checkpoint_filter_fn, 3, **kwargs)


@register_model
def scratch_vit_ti(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """ViT-Ti/16, 224 (5.7M params)."""
    return _create("scratch_vit_ti", pretrained, **kwargs)


@register_model
def scratch_vit_s(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """ViT-S/16, 224 (22M params)."""
    return _create("scratch_vit_s", pretrained, **kwargs)


@register_model
def scratch_vit_b(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """ViT-B/16, 224 (86M params)."""
    return _create("scratch_vit_b", pretrained, **kwargs)


@register_model
def scratch_vit_l(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """ViT-L/16, 224 (304M params)."""
    return _create("scratch_vit_l", pretrained, **kwargs)


@register_model
def scratch_vit_b32(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """ViT-B/32, 224 (88M params)."""
    return _create("scratch_vit_b32", pretrained, **kwargs)


@register_model
def scratch_vit_b_384(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """ViT-B/16, 384."""
    return _create("scratch_vit_b_384", pretrained, **kwargs)
