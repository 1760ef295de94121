"""timm's eval transform as a transformers image processor, so `pipeline` sees what timm sees.

timm evaluates with: resize to `floor(crop / crop_pct)` (the shortest edge for square crops,
keep-ratio for other crops, or `squash` to that exact size) with PIL, center crop with
torchvision's rounding, to float in [0, 1], normalise. transformers' own center crop rounds
the offset down where torchvision rounds half to even, so both steps are written here. PIL
only: a torch resize uses another bicubic kernel and would move pixels by up to ~1e-2.
"""

from __future__ import annotations

import math

import numpy as np
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import PILImageResampling, SizeDict
from transformers.processing_utils import ImagesKwargs

INTERPOLATIONS = {  # timm's names -> PIL filters
    "nearest": PILImageResampling.NEAREST,
    "bilinear": PILImageResampling.BILINEAR,
    "bicubic": PILImageResampling.BICUBIC,
    "box": PILImageResampling.BOX,
    "hamming": PILImageResampling.HAMMING,
    "lanczos": PILImageResampling.LANCZOS,
}
CROP_MODES = ("center", "squash")


class ScratchImageProcessorKwargs(ImagesKwargs, total=False):
    """crop_pct: the crop's share of the resized image; crop_mode: 'center' keeps the aspect ratio, 'squash' does not."""

    crop_pct: float
    crop_mode: str


class ScratchImageProcessor(PilBackend):
    """Resize (PIL) + center crop + rescale + normalise, exactly as timm's eval transform.

    `size` is timm's scale size {"height", "width"}: `floor(crop_size / crop_pct)`.
    """

    valid_kwargs = ScratchImageProcessorKwargs
    model_input_names = ["pixel_values"]
    resample = PILImageResampling.BICUBIC
    image_mean = [0.485, 0.456, 0.406]
    image_std = [0.229, 0.224, 0.225]
    size = {"height": 248, "width": 248}
    crop_size = {"height": 224, "width": 224}
    crop_pct = 0.9
    crop_mode = "center"
    default_to_square = True
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode must be one of {CROP_MODES}, got {self.crop_mode!r}")

    @classmethod
    def from_data_config(cls, data_config: dict) -> "ScratchImageProcessor":
        """From a timm data config (`timm.data.resolve_data_config`, or a pretrained_cfg)."""
        _, height, width = data_config["input_size"]
        crop_pct = data_config.get("crop_pct") or 0.875  # timm's default
        interpolation = data_config.get("interpolation", "bicubic")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation {interpolation!r} has no PIL filter; expected one of {sorted(INTERPOLATIONS)}")
        return cls(
            size={"height": math.floor(height / crop_pct), "width": math.floor(width / crop_pct)},
            crop_size={"height": height, "width": width},
            crop_pct=crop_pct,
            crop_mode=data_config.get("crop_mode") or "center",
            resample=INTERPOLATIONS[interpolation],
            image_mean=list(data_config["mean"]),
            image_std=list(data_config["std"]),
        )

    def to_dict(self) -> dict:
        """No `image_processor_type`: Auto classes then resolve the processor through the model
        config (registered class, or its `auto_map` under trust_remote_code). With the type named
        here, transformers 5.23 pipelines derive a video processor from it and prompt for remote code."""
        out = super().to_dict()
        out.pop("image_processor_type", None)
        return out

    def resize(self, image: np.ndarray, size: SizeDict, resample=None, crop_mode: str | None = None, **kwargs):
        """(C, H, W) -> (C, h, w): timm's Resize(int) / ResizeKeepRatio / squash sizes."""
        mode = crop_mode or self.crop_mode
        h, w = image.shape[-2:]
        if mode == "squash":
            new = (size.height, size.width)
        elif size.height == size.width:  # torchvision Resize(int): shortest edge, long edge truncated
            short, long = (h, w) if h <= w else (w, h)
            new_short, new_long = size.height, int(size.height * long / short)
            new = (new_short, new_long) if h <= w else (new_long, new_short)
        else:  # timm ResizeKeepRatio(longest=0): scale so both edges reach their target
            ratio = min(h / size.height, w / size.width)
            new = (round(h / ratio), round(w / ratio))
        return super().resize(image, SizeDict(height=new[0], width=new[1]), resample=resample, **kwargs)

    def center_crop(self, image: np.ndarray, size: SizeDict, **kwargs) -> np.ndarray:
        """(C, H, W) -> (C, size): torchvision's CenterCrop (zero pad if smaller, offsets rounded half to even)."""
        h, w = image.shape[-2:]
        th, tw = size.height, size.width
        if th > h or tw > w:
            pad_h, pad_w = max(th - h, 0), max(tw - w, 0)
            image = np.pad(image, ((0, 0), (pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2)))
            h, w = image.shape[-2:]
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return image[:, top : top + th, left : left + tw]

    def _preprocess(self, images, do_resize, size, resample, do_center_crop, crop_size, do_rescale, rescale_factor,
                    do_normalize, image_mean, image_std, do_pad, pad_size, return_tensors, crop_mode=None, **kwargs):
        out = []
        for image in images:  # each (C, H, W) uint8
            if do_resize:
                image = self.resize(image, size, resample, crop_mode)
            if do_center_crop:
                image = self.center_crop(image, crop_size)
            if do_rescale:
                image = self.rescale(image, rescale_factor)
            if do_normalize:
                image = self.normalize(image, image_mean, image_std)
            out.append(image)
        return BatchFeature(data={"pixel_values": out}, tensor_type=return_tensors)


__all__ = ["ScratchImageProcessor"]
