"""The swin-hub repo folder: one layout that timm, transformers (with or without swin_hub
installed) and `pipeline` all load.

    config.json                  transformers config + timm's architecture/model_args/pretrained_cfg
    model.safetensors            the weights, keys `model.*` (timm's filter strips the prefix)
    preprocessor_config.json     ScratchImageProcessor = timm's eval transform
    configuration_swin_hub.py    \
    modeling_swin_hub.py          |  the model code, for trust_remote_code
    image_processing_swin_hub.py  |
    swin.py vit.py layers.py     /

`save_repo` writes it atomically from a timm model, a pure model or one of our transformers
classes; `ScratchXxx.save_pretrained` writes the same files in place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from ..hf import (
    ScratchSwinConfig,
    ScratchSwinForImageClassification,
    ScratchSwinModel,
    ScratchViTConfig,
    ScratchViTForImageClassification,
    ScratchViTModel,
)
from ..hf.modeling import _ScratchPreTrainedModel
from ..models import SwinTransformer, VisionTransformer

_CLASSES = {  # pure model -> (config, backbone class, classifier class)
    SwinTransformer: (ScratchSwinConfig, ScratchSwinModel, ScratchSwinForImageClassification),
    VisionTransformer: (ScratchViTConfig, ScratchViTModel, ScratchViTForImageClassification),
}


def to_transformers(model: torch.nn.Module, id2label: dict | list | None = None) -> _ScratchPreTrainedModel:
    """Our transformers class around a timm-created or pure model, sharing its parameters.

    Labels come from `id2label`, else from timm's `pretrained_cfg['label_names']`; the timm
    pretrained_cfg (preprocessing, license, ...) is kept for the saved config.
    """
    if isinstance(model, _ScratchPreTrainedModel):
        return model
    kind = next((k for k in _CLASSES if isinstance(model, k)), None)
    if kind is None:
        raise TypeError(f"expected a swin-hub Swin / ViT model, got {type(model).__name__}")
    config_cls, backbone_cls, classifier_cls = _CLASSES[kind]
    pretrained_cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    num_classes = model.cfg.num_classes
    labels = id2label if id2label is not None else pretrained_cfg.get("label_names")
    if isinstance(labels, (list, tuple)):
        labels = dict(enumerate(labels))
    if labels is not None and num_classes and len(labels) != num_classes:
        raise ValueError(f"{len(labels)} labels given for a head of {num_classes} classes")
    extra = {"id2label": {int(k): str(v) for k, v in labels.items()}} if labels and num_classes else {}
    custom = _custom_description(model, pretrained_cfg.get("architecture"))
    if custom:
        pretrained_cfg["description"] = custom
    elif str(pretrained_cfg.get("description", "")).startswith("custom "):  # re-saved after a change back
        pretrained_cfg.pop("description")
    config = config_cls.from_model_config(
        model.cfg, architecture=pretrained_cfg.get("architecture"), pretrained_cfg=pretrained_cfg, **extra
    )
    with torch.device("meta"):  # no second copy of the weights: the module is swapped in below
        wrapper = (classifier_cls if num_classes else backbone_cls)(config)
    wrapper.model = model
    return wrapper.train(model.training)


def _custom_description(model: torch.nn.Module, architecture: str | None) -> str | None:
    """config.json's `architecture` must be a registered name for timm to build the model; when
    the model is not that architecture (other widths, depths, size), its pretrained_cfg says so."""
    from ..convert.checkpoint import match_model_name

    family = "swin" if isinstance(model, SwinTransformer) else "vit"
    if architecture is None or match_model_name(family, model.cfg) == architecture:
        return None
    return (f"custom {'Swin' if family == 'swin' else 'ViT'}, not the registered {architecture}: timm builds it "
            f"as {architecture} with this config's model_args")


def config_from_timm(model_name: str, **kwargs):
    """The transformers config of a registered timm name (+ timm kwargs, e.g. num_classes),
    with its pretrained_cfg; built on the meta device, so no weights are allocated."""
    import timm

    with torch.device("meta"):
        model = timm.create_model(model_name, pretrained=False, **kwargs)
    return to_transformers(model).config


def check_target(directory: str | os.PathLike, overwrite: bool = False, flag: str = "overwrite=True") -> Path:
    """Refuse, before any work is done, an output folder that cannot be written: a file in the
    way, a non-empty folder without `overwrite` (`flag` is how the caller spells it), or a
    location the process may not write (probed by creating and removing a temp folder)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} exists and is not a folder")
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(f"{directory} is not empty; pass {flag} to replace it")
    parent = directory.absolute().parent
    while not parent.exists():  # the folders save_repo would create
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot create {directory}: {parent} is a file, not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{directory.name}.probe-", dir=parent))
    except OSError as e:
        raise PermissionError(f"cannot write {directory}: {parent} is not writable ({e.strerror})") from e
    return directory


def save_repo(model: torch.nn.Module, directory: str | os.PathLike, id2label: dict | list | None = None,
              overwrite: bool = False, extra_files: dict[str, str] | None = None) -> Path:
    """Write the repo folder atomically: built in a sibling temp folder, then renamed into place,
    so an interrupted or failed save never leaves a half-written repo (nor destroys the previous
    one, nor leaves parent folders it created). `extra_files` (name -> text: model card, report)
    go in the same folder."""
    directory = check_target(directory, overwrite)
    wrapper = to_transformers(model, id2label)
    created = [p for p in directory.absolute().parents if not p.exists()]
    tmp = None
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
        wrapper.save_pretrained(tmp)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            directory.rename(old)
        tmp.rename(directory)
        if old is not None:
            shutil.rmtree(old)
    except BaseException as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:  # innermost first; only the ones this call made, and only if empty
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(e, OSError) and not isinstance(e, (FileExistsError, NotADirectoryError)):
            where = f" ({e.filename})" if e.filename else ""
            raise type(e)(f"cannot write {directory}: {e.strerror or e}{where}") from e
        raise
    return directory


OURS = ("scratch_swin", "scratch_vit")
NATIVE = {"swin": "SwinForImageClassification", "vit": "ViTForImageClassification"}


def foreign_folder(folder: str | os.PathLike) -> str | None:
    """None for a swin-hub repo folder; otherwise one sentence saying what the folder is instead
    and what to do. Catches the silent failure: a transformers-native config.json beside swin-hub
    weights loads a fully random model in transformers and has no `architecture` for timm."""
    import json

    from safetensors import safe_open

    folder = Path(folder)
    config_file, weights = folder / "config.json", folder / "model.safetensors"
    if not config_file.is_file():
        return f"{folder}: no config.json (a swin-hub repo folder has config.json and model.safetensors)"
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return f"{config_file}: not valid JSON ({e})"
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type in OURS:
        return None
    keys = []
    if weights.is_file():
        try:
            with safe_open(str(weights), "pt") as f:
                keys = list(f.keys())
        except Exception:  # unreadable weights are reported by whoever loads them
            keys = []
    ours = bool(keys) and all(k.startswith("model.") for k in keys)
    if model_type in NATIVE and ours:
        return (f"{folder}: config.json is transformers' own {model_type!r} config, but model.safetensors holds swin-hub "
                f"weights (model.* keys): transformers would build a {NATIVE[model_type]} with every weight random, and "
                f"timm finds no 'architecture' to build; rewrite the folder with `swin-hub convert {folder} OUT`")
    if model_type in NATIVE:
        return (f"{folder}: a transformers-native {model_type!r} folder (model_type {model_type!r}), not a swin-hub repo; "
                f"`swin-hub convert {folder} OUT` makes one that timm and transformers both load")
    if isinstance(config, dict) and "architecture" in config:
        return f"{folder}: a timm model folder (architecture {config['architecture']!r}), not a swin-hub repo"
    return f"{folder}: config.json has model_type {model_type!r}; a swin-hub repo has 'scratch_swin' or 'scratch_vit'"
