"""The named architectures and the preprocessing of the official weights, per family: plain data
read by the timm registration (`swin_hub.timm`) and by conversion (`swin_hub.convert`), which
checks a checkpoint against a name and records how its images are prepared."""

from __future__ import annotations

from .swin import SwinConfig
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

ARCHS = {"swin": SWIN_ARCHS, "vit": VIT_ARCHS}


def release_data(family: str, size: int) -> dict:
    """How the family's official weights take images at input size `size`, with their licence and
    paper: the source-free fields of a timm pretrained_cfg."""
    swin = family == "swin"
    return dict(
        input_size=(3, size, size),
        crop_pct=0.9 if size == 224 else 1.0,
        interpolation="bicubic",
        fixed_input_size=not swin,
        mean=IMAGENET_MEAN if swin else INCEPTION_MEAN,
        std=IMAGENET_STD if swin else INCEPTION_STD,
        first_conv="patch_embed.proj",
        classifier="head",
        license="mit" if swin else "apache-2.0",
        paper_ids="arXiv:2103.14030" if swin else "arXiv:2010.11929",
        origin_url="https://github.com/microsoft/Swin-Transformer" if swin else "https://github.com/google-research/vision_transformer",
    )


def data_defaults(cfg: SwinConfig | ViTConfig) -> dict:
    """`release_data` for a model config: the family's preprocessing at cfg's input size and channels."""
    height, width = cfg.img_size if isinstance(cfg.img_size, (tuple, list)) else (cfg.img_size, cfg.img_size)
    family = "swin" if isinstance(cfg, SwinConfig) else "vit"
    return {**release_data(family, max(height, width)), "input_size": (cfg.in_chans, height, width)}
