"""The named architectures and the preprocessing of the official weights, per family: plain data
read by the timm registration (`swin_hub.timm`) and by conversion (`swin_hub.convert`), which
checks a checkpoint against a name and records how its images are prepared."""

from __future__ import annotations

from .swin import SwinConfig
from .swinv2 import SwinV2Config
from .vit import ViTConfig

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # timm's IMAGENET_DEFAULT_*
INCEPTION_MEAN, INCEPTION_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # timm's IMAGENET_INCEPTION_* (Google's ViT)

# the official hyper-parameters of each registered Swin name
SWIN_ARCHS = {
    "scratch_swin_t": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7),
    "scratch_swin_s": dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), window_size=7),
    "scratch_swin_b": dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), window_size=7),
    "scratch_swin_l": dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48), window_size=7),
    "scratch_swin_b_384": dict(
        img_size=384, embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), window_size=12
    ),
    "scratch_swin_l_384": dict(
        img_size=384, embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48), window_size=12
    ),
}

# the paper's hyper-parameters of each registered ViT name
VIT_ARCHS = {
    "scratch_vit_ti": dict(patch_size=16, embed_dim=192, depth=12, num_heads=3),
    "scratch_vit_s": dict(patch_size=16, embed_dim=384, depth=12, num_heads=6),
    "scratch_vit_b": dict(patch_size=16, embed_dim=768, depth=12, num_heads=12),
    "scratch_vit_l": dict(patch_size=16, embed_dim=1024, depth=24, num_heads=16),
    "scratch_vit_b32": dict(patch_size=32, embed_dim=768, depth=12, num_heads=12),
    "scratch_vit_b_384": dict(img_size=384, patch_size=16, embed_dim=768, depth=12, num_heads=12),
}

_T = dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24))
_S = dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24))
_B = dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32))
_L = dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48))
_FT = (12, 12, 12, 6)  # fine-tuned from the 192 px / window 12 ImageNet-22k models (stage 4: 6x6)

# the official hyper-parameters of each registered Swin V2 name, pretrained windows included
SWINV2_ARCHS = {
    "scratch_swinv2_t_w8_256": dict(img_size=256, window_size=8, **_T),
    "scratch_swinv2_s_w8_256": dict(img_size=256, window_size=8, **_S),
    "scratch_swinv2_b_w8_256": dict(img_size=256, window_size=8, **_B),
    "scratch_swinv2_t_w16_256": dict(img_size=256, window_size=16, **_T),
    "scratch_swinv2_s_w16_256": dict(img_size=256, window_size=16, **_S),
    "scratch_swinv2_b_w16_256": dict(img_size=256, window_size=16, **_B),
    "scratch_swinv2_b_w12_192_22k": dict(img_size=192, window_size=12, num_classes=21841, **_B),
    "scratch_swinv2_l_w12_192_22k": dict(img_size=192, window_size=12, num_classes=21841, **_L),
    "scratch_swinv2_b_w16_256_ft": dict(img_size=256, window_size=16, pretrained_window_sizes=_FT, **_B),
    "scratch_swinv2_b_w24_384_ft": dict(img_size=384, window_size=24, pretrained_window_sizes=_FT, **_B),
    "scratch_swinv2_l_w16_256_ft": dict(img_size=256, window_size=16, pretrained_window_sizes=_FT, **_L),
    "scratch_swinv2_l_w24_384_ft": dict(img_size=384, window_size=24, pretrained_window_sizes=_FT, **_L),
}

ARCHS = {"swin": SWIN_ARCHS, "swinv2": SWINV2_ARCHS, "vit": VIT_ARCHS}
PAPERS = {"swin": "arXiv:2103.14030", "swinv2": "arXiv:2111.09883", "vit": "arXiv:2010.11929"}


def release_data(family: str, size: int) -> dict:
    """How the family's official weights take images at input size `size`, with their licence and
    paper: the source-free fields of a timm pretrained_cfg."""
    swin = family in ("swin", "swinv2")
    full_crop_above = 256 if family == "swinv2" else 224  # V2's 192 and 256 px evaluate at 0.9 too
    return dict(
        input_size=(3, size, size),
        crop_pct=0.9 if size <= full_crop_above else 1.0,
        interpolation="bicubic",
        fixed_input_size=not swin,
        mean=IMAGENET_MEAN if swin else INCEPTION_MEAN,
        std=IMAGENET_STD if swin else INCEPTION_STD,
        first_conv="patch_embed.proj",
        classifier="head",
        license="mit" if swin else "apache-2.0",
        paper_ids=PAPERS[family],
        origin_url="https://github.com/microsoft/Swin-Transformer" if swin else "https://github.com/google-research/vision_transformer",
    )


def data_defaults(cfg: SwinConfig | SwinV2Config | ViTConfig) -> dict:
    """`release_data` for a model config: the family's preprocessing at cfg's input size and channels."""
    height, width = cfg.img_size if isinstance(cfg.img_size, (tuple, list)) else (cfg.img_size, cfg.img_size)
    family = {SwinConfig: "swin", SwinV2Config: "swinv2", ViTConfig: "vit"}[type(cfg)]
    return {**release_data(family, max(height, width)), "input_size": (cfg.in_chans, height, width)}
