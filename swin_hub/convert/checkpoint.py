"""Any supported Swin / Swin V2 / ViT checkpoint -> a verified swin-hub repo folder (`swin-hub convert`).

Steps, each reported: read the source (file, folder or Hub id) without unpickling code;
recognise family and layout from the tensors (the table in layouts.py, which also names each
layout's parity reference); infer the architecture from the shapes (or
take a transformers / swin-hub config.json beside the weights); map to swin_hub names and
fit bias tables / position embeddings to the target window and grid; load strictly; compare
logits with the source implementation (timm for official / timm / Google layouts,
transformers for its own). `swin_hub.hub.write_repo` then writes the repo folder, model card
and report atomically.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..models.presets import ARCHS, data_defaults
from ..models.swin import SwinConfig, SwinTransformer
from ..models.swinv2 import SwinTransformerV2, SwinV2Config
from ..models.vit import ViTConfig, VisionTransformer
from . import layouts
from . import swin as swin_convert
from . import swinv2 as swinv2_convert
from . import vit as vit_convert
from .layouts import Layout
from .common import SizeMismatchError, public_name, read_weights, shape_mismatches

_logger = logging.getLogger(__name__)
TOLERANCE = 1e-4
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors")
WEIGHT_SUFFIXES = (".safetensors", ".npz", ".pth", ".pt", ".bin")


class ConversionError(ValueError):
    """The source cannot become a verified swin-hub model; the message says why."""


@dataclass
class Source:
    raw: dict  # tensors / arrays as stored
    origin: str  # file path or Hub id, for messages and the card
    weights_file: Path
    folder_config: dict | None = None  # config.json next to the weights


@dataclass
class Converted:
    family: str  # 'swin' | 'swinv2' | 'vit'
    source_format: str  # official | timm | swin_hub | transformers | google_npz
    cfg: SwinConfig | SwinV2Config | ViTConfig
    model: torch.nn.Module
    labels: list[str] | None
    report: dict = field(default_factory=dict)


# --- reading --------------------------------------------------------------------------------


def _pick_weights(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if not found:
        raise ConversionError(f"{folder}: no weights file ({', '.join(WEIGHT_FILES)} or *{'/*'.join(WEIGHT_SUFFIXES)})")
    return found[0]


def _download(repo_id: str, revision: str | None) -> Path:
    """A Hub repo's config and one weights file, into the HF cache (online users only)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    def get(name: str) -> Path | None:
        try:
            return Path(hf_hub_download(repo_id, name, revision=revision))
        except LocalEntryNotFoundError as e:  # offline, or the Hub unreachable, and not cached
            raise ConversionError(f"Hub repo {repo_id}: {name} is not cached and the Hub cannot be reached "
                                  "(HF_HUB_OFFLINE set, or no network)") from e
        except RepositoryNotFoundError as e:
            raise ConversionError(f"Hub repo {repo_id}: not found (or private: set HF_TOKEN)") from e
        except EntryNotFoundError:
            return None

    config = get("config.json")
    weights = get("model.safetensors") or get("pytorch_model.bin")
    if weights is None:
        raise ConversionError(f"Hub repo {repo_id}: no model.safetensors or pytorch_model.bin")
    if config is not None and config.parent != weights.parent:
        raise ConversionError(f"Hub repo {repo_id}: config and weights resolved to different snapshots")
    return weights.parent


def read_source(src: str | Path, revision: str | None = None) -> Source:
    """A file, a folder (weights + optional config.json) or a Hub id `org/name`."""
    path = Path(src)
    origin = str(src)
    if not path.exists():
        if isinstance(src, str) and src.count("/") == 1 and not src.startswith((".", "/")):
            path = _download(src, revision)
        else:
            raise ConversionError(f"{src}: no such file or folder (nor a Hub id of the form org/name)")
    weights = _pick_weights(path) if path.is_dir() else path
    config_file = weights.parent / "config.json"
    folder_config = json.loads(config_file.read_text()) if config_file.is_file() and path.is_dir() else None
    try:
        raw = read_weights(weights)
    except ValueError as e:  # already names the file
        raise ConversionError(str(e)) from e
    except Exception as e:  # safetensors / numpy each word this differently
        raise ConversionError(f"{weights}: unreadable checkpoint ({e})") from e
    if not isinstance(raw, dict) or not raw:
        raise ConversionError(f"{weights}: holds no state dict (got {type(raw).__name__})")
    return Source(raw=raw, origin=origin, weights_file=weights, folder_config=folder_config)


# --- recognising and mapping -------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """What conversion needs to know of a model family, beyond its layouts (layouts.py)."""

    config_cls: type
    model_cls: type
    fit: Callable  # (swin_hub sd, model) -> sd at the model's window / grid
    arch_fields: tuple[str, ...]  # what a checkpoint and a registered name must agree on
    size_fields: tuple[str, ...]  # what a registered name sets on top (input size, window, heads)
    default_name: str  # timm builds a custom architecture from this name plus model_args
    model_type: str  # the config.json of a swin-hub repo of this family


def _fit_swinv2(sd: dict, model: torch.nn.Module) -> dict:
    """Swin V2 weights fit every window (the CPB MLP is continuous); only an absolute position
    embedding follows the grid."""
    pos = sd.get("absolute_pos_embed")
    if pos is not None and model.absolute_pos_embed is not None and pos.shape != model.absolute_pos_embed.shape:
        sd = {**sd, "absolute_pos_embed": swin_convert.resize_abs_pos_embed(pos, model.grid_size)}
    return sd


_SWIN_ARCH = ("embed_dim", "depths", "num_heads", "patch_size", "mlp_ratio", "qkv_bias", "ape")
FAMILIES = {
    "swin": Family(SwinConfig, SwinTransformer, swin_convert.fit_to_model, _SWIN_ARCH, ("img_size", "window_size"),
                   "scratch_swin_t", "scratch_swin"),
    "swinv2": Family(SwinV2Config, SwinTransformerV2, _fit_swinv2, _SWIN_ARCH,
                     ("img_size", "window_size", "pretrained_window_sizes"), "scratch_swinv2_t_w8_256", "scratch_swinv2"),
    "vit": Family(ViTConfig, VisionTransformer, vit_convert.fit_to_model,
                  ("embed_dim", "depth", "patch_size", "mlp_ratio", "qkv_bias", "class_token"), ("img_size", "num_heads"),
                  "scratch_vit_b", "scratch_vit"),
}


def identify(source: Source) -> tuple[Layout, dict, dict]:
    """(layout, the unwrapped source tensors, swin_hub state dict): the table in layouts.py."""
    try:
        return layouts.identify(source.raw, source.folder_config, where=str(source.weights_file))
    except layouts.LayoutError as e:
        raise ConversionError(str(e)) from e


def infer_cfg(layout: Layout, ours: dict, sd: dict, source: Source, model_name: str | None = None):
    """(architecture, labels): from config.json when it is a swin-hub repo's (it records every
    field), else what the layout reads off the tensors (and its own config.json). A Swin V2
    layout that does not record its window takes it from the registered name `model_name`."""
    folder = source.folder_config or {}
    labels = _labels(folder)
    family = FAMILIES[layout.family]
    if folder.get("model_type") == family.model_type:
        cfg_cls = family.config_cls
        return cfg_cls.from_kwargs(**{k: folder[k] for k in cfg_cls().to_dict() if k in folder}), labels
    try:
        return layout.config(ours, sd, folder), labels
    except layouts.LayoutError:
        archs = ARCHS[layout.family]
        if model_name not in archs:
            raise
        geometry = {k: archs[model_name][k] for k in family.size_fields if k in archs[model_name]}
        return layout.config(ours, sd, folder, **geometry), labels


def _labels(folder: dict) -> list[str] | None:
    """Class names recorded beside the weights; transformers' LABEL_i placeholders are none."""
    if folder.get("id2label"):
        id2label = {int(k): v for k, v in folder["id2label"].items()}
        names = [id2label[i] for i in range(len(id2label))]
    else:
        names = folder.get("label_names") or (folder.get("pretrained_cfg") or {}).get("label_names")
    if not names or names == [f"LABEL_{i}" for i in range(len(names))]:
        return None
    return names


def imagenet_labels(num_classes: int) -> list[str] | None:
    """ImageNet class descriptions for 1k / 21k / 22k heads (timm ships them: no download)."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    subset = infer_imagenet_subset({"num_classes": num_classes})
    if subset is None:
        return None
    info = ImageNetInfo(subset)
    return [info.index_to_description(i) for i in range(num_classes)]


def registered_archs(family: str) -> dict:
    return ARCHS[family]


def apply_model_name(family: str, cfg, name: str):
    """Take window / image size / heads from a registered name after checking the checkpoint is
    that architecture; the error lists what the shapes say. A Swin V2 checkpoint moved to another
    window keeps the window it was trained with as its pretrained window (the official rule)."""
    archs, fam = registered_archs(family), FAMILIES[family]
    if name not in archs:
        raise ConversionError(f"--model {name}: not a registered {family} model; choose from {sorted(archs)}")
    target = fam.config_cls(**{**fam.config_cls().to_dict(), **archs[name]})
    wrong = [f for f in fam.arch_fields if _norm(getattr(cfg, f)) != _norm(getattr(target, f))]
    if wrong:
        inferred = ", ".join(f"{f}={getattr(cfg, f)}" for f in fam.arch_fields)
        expected = ", ".join(f"{f}={getattr(target, f)}" for f in wrong)
        raise ConversionError(f"the checkpoint does not fit {name}: inferred {inferred}; {name} has {expected}")
    if family == "swinv2" and (target.window_size, target.img_size) != (cfg.window_size, cfg.img_size):
        return swinv2_convert.change_window(cfg, target.window_size, target.img_size)
    keep = {k: archs[name][k] for k in fam.size_fields if k in archs[name]}
    return type(cfg).from_kwargs(**{**cfg.to_dict(), **keep})


def match_model_name(family: str, cfg) -> str | None:
    """The registered name with exactly this architecture, if any."""
    fam = FAMILIES[family]
    for name, arch in registered_archs(family).items():
        target = fam.config_cls(**{**fam.config_cls().to_dict(), **arch})
        if all(_norm(getattr(cfg, f)) == _norm(getattr(target, f)) for f in fam.arch_fields + fam.size_fields):
            return name
    return None


def _norm(v):
    return tuple(v) if isinstance(v, (list, tuple)) else v


# --- reference implementations ----------------------------------------------------------------


def reference_logits(layout: Layout, source: Source, sd: dict, cfg, x: torch.Tensor) -> tuple[str, torch.Tensor | None, str]:
    """(implementation name, its output on x, note): the layout's own library, loading the
    source with its own loader, independent of swin_hub's mapping (layouts.py)."""
    if layout.reference is None:
        return "swin-hub", None, "source is already swin-hub; nothing independent to compare"
    try:
        return layout.reference(source, sd, cfg, x)
    except Exception as e:  # a missing reference is reported, never fatal
        return "none", None, f"reference unavailable: {type(e).__name__}: {e}"


# --- the whole conversion -------------------------------------------------------------------------


def convert(src: str | Path, model_name: str | None = None, num_classes: int | None = None,
            revision: str | None = None, check: bool = True) -> Converted:
    """Read, map, verify at the source's own architecture, then fit to the target; nothing is
    written (`swin_hub.hub.write_repo` writes the repo folder)."""
    if num_classes is not None and num_classes < 0:
        raise ConversionError(f"num_classes (--num-classes) must be >= 0 (0: no head), got {num_classes}")
    start = time.perf_counter()
    source = read_source(src, revision)
    try:
        layout, raw_sd, sd = identify(source)
        source_cfg, labels = infer_cfg(layout, sd, raw_sd, source, model_name)
    except layouts.LayoutError as e:
        raise ConversionError(f"{source.weights_file}: {e}") from e
    except ConversionError:
        raise
    except (KeyError, IndexError, ValueError, RuntimeError) as e:  # a tensor missing, or of an impossible shape
        what = f"tensor {e.args[0]!r} is missing" if isinstance(e, KeyError) else " ".join(str(e).split())
        raise ConversionError(f"{source.weights_file}: incomplete or damaged checkpoint ({what})") from e
    family, fmt = layout.family, layout.name
    build = FAMILIES[family].model_cls

    at_source = build(source_cfg).eval()  # the checkpoint exactly as it was trained
    wrong = shape_mismatches(sd, at_source.state_dict(), skip=())
    if wrong:
        raise ConversionError(
            f"{source.weights_file}: {len(wrong)} tensor(s) of a shape the rest of the {fmt} checkpoint rules out "
            f"(checkpoint vs a {family} of the architecture read off the other tensors: {'; '.join(wrong[:3])})"
        )
    missing, unexpected = at_source.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ConversionError(
            f"{source.weights_file}: the {fmt} checkpoint does not fill a {family} model of the inferred config "
            f"(missing {missing[:8]}, unexpected {unexpected[:8]})"
        )
    parity = check_parity(layout, source, raw_sd, source_cfg, at_source) if check else None

    cfg = apply_model_name(family, source_cfg, model_name) if model_name else source_cfg
    name = model_name or match_model_name(family, cfg)
    replaced = num_classes is not None and num_classes != cfg.num_classes
    if replaced:
        _logger.warning(f"new head: {num_classes} classes replace the checkpoint's {cfg.num_classes}; it is untrained")
        sd = {k: v for k, v in sd.items() if not k.startswith("head.")}
        cfg = type(cfg).from_kwargs(**{**cfg.to_dict(), "num_classes": num_classes})
        labels = None
    if labels is None and cfg.num_classes and not replaced:
        labels = imagenet_labels(cfg.num_classes)
    if labels is not None and len(labels) != cfg.num_classes:
        _logger.warning(f"{len(labels)} labels for {cfg.num_classes} classes: labels dropped")
        labels = None
    resized = any(_norm(getattr(cfg, f)) != _norm(getattr(source_cfg, f)) for f in ("img_size", "window_size") if hasattr(cfg, f))
    if resized or replaced:
        model = build(cfg).eval()
        fit = FAMILIES[family].fit
        try:
            missing, unexpected = model.load_state_dict(fit(sd, model), strict=False)
        except SizeMismatchError as e:
            raise ConversionError(f"fitting to {name or 'the target'}: {e}") from e
        if [k for k in missing if not k.startswith("head.")] or unexpected:
            raise ConversionError(f"fitting to {name or 'the target'}: missing {missing[:8]}, unexpected {unexpected[:8]}")
    else:
        model = at_source
    model.pretrained_cfg = {"architecture": name or FAMILIES[family].default_name,
                            **data_defaults(cfg)}
    report = {
        "source": public_name(source.origin),  # the report is published with the repo: no local paths
        "weights_file": source.weights_file.name,
        "family": family,
        "source_format": fmt,
        "architecture": name,
        "inferred_config": _jsonable(source_cfg.to_dict()),
        "config": _jsonable(cfg.to_dict()),
        "num_classes": cfg.num_classes,
        "head_replaced": replaced,
        "resized": resized,
        "labels": "from source" if labels and _labels(source.folder_config or {}) else ("ImageNet" if labels else None),
        "missing_keys": [],
        "unexpected_keys": [],
        "parity": parity,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if parity and (resized or replaced):
        parity["note"] += "; measured at the source's own head and resolution, before "
        parity["note"] += " and ".join(w for w, on in (("the new head", replaced), ("interpolating", resized)) if on)
    return Converted(family, fmt, cfg, model, labels, report)


def check_parity(layout: Layout, source: Source, sd: dict, cfg, model: torch.nn.Module) -> dict:
    """Max abs output difference against the source implementation on a fixed random batch;
    a difference above TOLERANCE is a ConversionError (and nothing gets written)."""
    size = cfg.img_size if isinstance(cfg.img_size, (tuple, list)) else (cfg.img_size, cfg.img_size)
    x = torch.randn(2, cfg.in_chans, *size, generator=torch.Generator().manual_seed(0))
    name, expected, note = reference_logits(layout, source, sd, cfg, x)
    result = {"reference": name, "note": note, "input": list(x.shape), "tolerance": TOLERANCE}
    if expected is None:
        return {**result, "max_abs_diff": None}
    with torch.no_grad():
        ours = model(x) if cfg.num_classes else model.forward_head(model.forward_features(x), pre_logits=True)
    if ours.shape != expected.shape:
        raise ConversionError(f"parity check: swin-hub output {tuple(ours.shape)} vs {name} {tuple(expected.shape)}")
    diff = (ours - expected).abs().max().item()
    result["max_abs_diff"] = diff
    if not diff <= TOLERANCE:
        raise ConversionError(f"parity check failed: max abs diff {diff:.3g} > {TOLERANCE} against {name}; nothing written")
    return result


def _jsonable(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
