"""Any supported Swin / ViT checkpoint -> a verified swin-hub repo folder (`swin-hub convert`).

Steps, each reported: read the source (file, folder or Hub id) without unpickling code;
recognise family and layout from the tensors; infer the architecture from the shapes (or
take a transformers / swin-hub config.json beside the weights); map to swin_hub names and
fit bias tables / position embeddings to the target window and grid; load strictly; compare
logits with the source implementation (timm for official / timm / Google layouts,
transformers for its own). `swin_hub.hub.write_repo` then writes the repo folder, model card
and report atomically.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..models.presets import ARCHS, data_defaults
from ..models.swin import SwinConfig, SwinTransformer
from ..models.vit import ViTConfig, VisionTransformer
from . import swin as swin_convert
from . import transformers_layout as tl
from . import vit as vit_convert
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
    family: str  # 'swin' | 'vit'
    source_format: str  # official | timm | swin_hub | transformers | google_npz
    cfg: SwinConfig | ViTConfig
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


def identify(source: Source) -> tuple[str, str, dict]:
    """(family, source_format, swin_hub state dict), recognised from key names and shapes."""
    raw = source.raw
    if "embedding/kernel" in raw:
        return "vit", "google_npz", vit_convert.npz_to_swin_hub(raw)
    sd = swin_convert.unwrap(raw)
    sd = {k: v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v)) for k, v in sd.items()}
    if tl.is_transformers_swin(sd):
        return "swin", "transformers", tl.transformers_swin_to_swin_hub(sd)
    if tl.is_transformers_vit(sd):
        has_head = any(k.endswith("classifier.weight") for k in sd)
        return "vit", "transformers", tl.transformers_vit_to_swin_hub(sd, pooler=not has_head)
    if any(k.endswith("relative_position_bias_table") for k in sd):
        swin_sd, fmt = swin_convert.to_swin_hub(sd)
        return "swin", fmt, swin_sd
    if "pos_embed" in sd and "patch_embed.proj.weight" in sd and "blocks.0.attn.qkv.weight" in sd:
        ours = (source.folder_config or {}).get("model_type") == "scratch_vit"
        sd = vit_convert.checkpoint_filter_fn(sd, None)
        return "vit", "swin_hub" if ours else "timm", {k.replace("head.fc.", "head."): v for k, v in sd.items()}
    shapes = ", ".join(f"{k} {tuple(getattr(v, 'shape', ()))}" for k, v in list(raw.items())[:6])
    raise ConversionError(f"{source.weights_file}: not a Swin or ViT checkpoint of any known layout; first keys: {shapes}")


def infer_cfg(family: str, fmt: str, sd: dict, source: Source) -> tuple[SwinConfig | ViTConfig, list[str] | None]:
    """The architecture (from config.json when one describes these weights, else from shapes) and labels."""
    folder = source.folder_config or {}
    labels = _labels(folder)
    if folder.get("model_type") in ("scratch_swin", "scratch_vit"):  # a swin-hub repo records every field
        cfg_cls = SwinConfig if family == "swin" else ViTConfig
        return cfg_cls.from_kwargs(**{k: folder[k] for k in cfg_cls().to_dict() if k in folder}), labels
    if fmt == "transformers" and folder.get("model_type") in ("swin", "vit"):
        import transformers

        num_classes = sd["head.weight"].shape[0] if "head.weight" in sd else 0
        if family == "swin":
            return tl.swin_config_from_transformers(transformers.SwinConfig(**folder), num_classes=num_classes), labels
        pooler = "pre_logits.fc.weight" in sd
        return tl.vit_config_from_transformers(transformers.ViTConfig(**folder), pooler=pooler, num_classes=num_classes), labels
    if family == "swin":
        return swin_convert.infer_config(sd, drop_path_rate=0.0), labels
    if fmt == "google_npz":
        return vit_convert.infer_config_npz(source.raw), labels
    model_args = folder.get("model_args") or {}
    heads = {"num_heads": model_args["num_heads"]} if "num_heads" in model_args else {}
    if fmt == "transformers":  # transformers' ViTConfig defaults: exact GELU, eps 1e-12
        return vit_convert.infer_config(sd, act_layer="gelu", norm_eps=1e-12, **heads), labels
    return vit_convert.infer_config(sd, act_layer="gelu", **heads), labels  # timm: exact GELU, eps 1e-6


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


ARCH_FIELDS = {
    "swin": ("embed_dim", "depths", "num_heads", "patch_size", "mlp_ratio", "qkv_bias", "ape"),
    "vit": ("embed_dim", "depth", "patch_size", "mlp_ratio", "qkv_bias", "class_token"),
}


def registered_archs(family: str) -> dict:
    return ARCHS[family]


def apply_model_name(family: str, cfg, name: str):
    """Take window / image size / heads from a registered name after checking the checkpoint is
    that architecture; the error lists what the shapes say."""
    archs = registered_archs(family)
    if name not in archs:
        raise ConversionError(f"--model {name}: not a registered {family} model; choose from {sorted(archs)}")
    target = type(cfg)(**{**type(cfg)().to_dict(), **archs[name]})
    wrong = [f for f in ARCH_FIELDS[family] if _norm(getattr(cfg, f)) != _norm(getattr(target, f))]
    if wrong:
        inferred = ", ".join(f"{f}={getattr(cfg, f)}" for f in ARCH_FIELDS[family])
        expected = ", ".join(f"{f}={getattr(target, f)}" for f in wrong)
        raise ConversionError(f"the checkpoint does not fit {name}: inferred {inferred}; {name} has {expected}")
    keep = {"img_size", "window_size", "num_heads"} & set(archs[name])
    return type(cfg).from_kwargs(**{**cfg.to_dict(), **{k: archs[name][k] for k in keep}})


def match_model_name(family: str, cfg) -> str | None:
    """The registered name with exactly this architecture, if any."""
    for name, arch in registered_archs(family).items():
        target = type(cfg)(**{**type(cfg)().to_dict(), **arch})
        fields = ARCH_FIELDS[family] + ("img_size",) + (("window_size",) if family == "swin" else ("num_heads",))
        if all(_norm(getattr(cfg, f)) == _norm(getattr(target, f)) for f in fields):
            return name
    return None


def _norm(v):
    return tuple(v) if isinstance(v, (list, tuple)) else v


# --- reference implementations ----------------------------------------------------------------


def reference_logits(family: str, fmt: str, source: Source, cfg, x: torch.Tensor) -> tuple[str, torch.Tensor | None, str]:
    """(implementation name, its output on x, note): the source layout's own library, loading the
    source file with its own loader, independent of swin_hub's mapping."""
    try:
        if fmt == "transformers":
            return _transformers_reference(family, source, cfg, x)
        if fmt == "swin_hub":
            return "swin-hub", None, "source is already swin-hub; nothing independent to compare"
        if family == "swin":
            return _timm_swin_reference(source, cfg, x)
        return _timm_vit_reference(fmt, source, cfg, x)
    except Exception as e:  # a missing reference is reported, never fatal
        return "none", None, f"reference unavailable: {type(e).__name__}: {e}"


def _timm_swin_reference(source: Source, cfg: SwinConfig, x):
    from timm.models.swin_transformer import SwinTransformer as TimmSwin
    from timm.models.swin_transformer import checkpoint_filter_fn

    if cfg.ape or cfg.act_layer != "gelu" or cfg.qk_scale is not None:
        return "none", None, "timm's Swin has no absolute position embedding / other activations / qk_scale"
    model = TimmSwin(
        img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
        embed_dim=cfg.embed_dim, depths=cfg.depths, num_heads=cfg.num_heads, window_size=cfg.window_size,
        mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, drop_path_rate=0.0,
    ).eval()
    sd = checkpoint_filter_fn(swin_convert.unwrap(source.raw), model)
    model.load_state_dict(sd, strict=True)
    with torch.no_grad():
        return "timm.models.swin_transformer.SwinTransformer", model(x), "timm's own filter loads the source file"


def _timm_vit_reference(fmt: str, source: Source, cfg: ViTConfig, x):
    from timm.layers import GELUTanh
    from timm.models.vision_transformer import VisionTransformer as TimmViT
    from timm.models.vision_transformer import _load_weights

    if cfg.representation_size:
        return "none", None, "timm's ViT has no representation (pre-logits) layer"
    act = {"gelu": torch.nn.GELU, "gelu_tanh": GELUTanh}[cfg.act_layer]
    model = TimmViT(
        img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans, num_classes=cfg.num_classes,
        global_pool=cfg.global_pool, embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, class_token=cfg.class_token, fc_norm=cfg.fc_norm,
        act_layer=act, norm_layer=partial(torch.nn.LayerNorm, eps=cfg.norm_eps),
    ).eval()
    if fmt == "google_npz":
        _load_weights(model, str(source.weights_file))
        name = "timm VisionTransformer + timm's npz loader"
    else:
        model.load_state_dict(swin_convert.strip_wrapper_prefix(swin_convert.unwrap(source.raw)), strict=True)
        name = "timm.models.vision_transformer.VisionTransformer"
    with torch.no_grad():
        return name, model(x), "the source file loaded by timm"


def _transformers_reference(family: str, source: Source, cfg, x):
    import transformers

    folder = source.weights_file.parent
    if source.folder_config is None:  # a lone weights file: give transformers a folder
        tmp = Path(tempfile.mkdtemp(prefix="swin-hub-ref-"))
        config = tl.transformers_swin_config(cfg) if family == "swin" else tl.transformers_vit_config(cfg)
        config.save_pretrained(tmp)
        (tmp / source.weights_file.name).symlink_to(source.weights_file.resolve())
        folder = tmp
    head = cfg.num_classes > 0
    cls = {
        ("swin", True): transformers.SwinForImageClassification, ("swin", False): transformers.SwinModel,
        ("vit", True): transformers.ViTForImageClassification, ("vit", False): transformers.ViTModel,
    }[family, head]
    kwargs = {} if family == "swin" or head else {"add_pooling_layer": bool(cfg.representation_size)}
    model = cls.from_pretrained(folder, attn_implementation="eager", **kwargs).eval()
    with torch.no_grad():
        out = model(pixel_values=x)
    if head:
        return f"transformers.{cls.__name__}", out.logits, "the source loaded by transformers"
    return f"transformers.{cls.__name__}", out.pooler_output, "pooled features (no head)"


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
        family, fmt, sd = identify(source)
        source_cfg, labels = infer_cfg(family, fmt, sd, source)
    except ConversionError:
        raise
    except (KeyError, IndexError, ValueError, RuntimeError) as e:  # a tensor missing, or of an impossible shape
        what = f"tensor {e.args[0]!r} is missing" if isinstance(e, KeyError) else " ".join(str(e).split())
        raise ConversionError(f"{source.weights_file}: incomplete or damaged checkpoint ({what})") from e
    build = SwinTransformer if family == "swin" else VisionTransformer

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
    parity = check_parity(family, fmt, source, source_cfg, at_source) if check else None

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
        fit = swin_convert.fit_to_model if family == "swin" else vit_convert.fit_to_model
        try:
            missing, unexpected = model.load_state_dict(fit(sd, model), strict=False)
        except SizeMismatchError as e:
            raise ConversionError(f"fitting to {name or 'the target'}: {e}") from e
        if [k for k in missing if not k.startswith("head.")] or unexpected:
            raise ConversionError(f"fitting to {name or 'the target'}: missing {missing[:8]}, unexpected {unexpected[:8]}")
    else:
        model = at_source
    model.pretrained_cfg = {"architecture": name or ("scratch_swin_t" if family == "swin" else "scratch_vit_b"),
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


def check_parity(family: str, fmt: str, source: Source, cfg, model: torch.nn.Module) -> dict:
    """Max abs output difference against the source implementation on a fixed random batch;
    a difference above TOLERANCE is a ConversionError (and nothing gets written)."""
    size = cfg.img_size if isinstance(cfg.img_size, (tuple, list)) else (cfg.img_size, cfg.img_size)
    x = torch.randn(2, cfg.in_chans, *size, generator=torch.Generator().manual_seed(0))
    name, expected, note = reference_logits(family, fmt, source, cfg, x)
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
