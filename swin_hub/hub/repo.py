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
classes; `ScratchXxx.save_pretrained` writes the same files in place; `write_repo` adds the
model card and report of a converted checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import torch

from ..convert.checkpoint import Converted
from ..hf.wrap import to_transformers
from .cards import converted_card



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
        tmp = staging_dir(directory)
        wrapper.save_pretrained(tmp)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
        normal_permissions(tmp)
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


def staging_dir(directory: Path) -> Path:
    """A new empty sibling of `directory` to build it in before the rename into place. Made with
    the umask's permissions (0755), not mkdtemp's owner-only 0700, which the rename would keep."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    return tmp


def normal_permissions(folder: Path) -> None:
    """Give every file and folder inside `folder` the permissions the umask gives a new file
    (0644 / 0755 under umask 022), read off `folder` itself: safetensors writes its files
    through a private 0600 temp file."""
    dir_mode = folder.stat().st_mode & 0o777
    for path in folder.rglob("*"):
        if not path.is_symlink():
            path.chmod(dir_mode if path.is_dir() else dir_mode & 0o666)


def write_repo(converted: Converted, out: str | Path, force: bool = False, repo_id: str | None = None) -> Path:
    """The repo folder of a converted checkpoint (timm + transformers), its model card and
    `conversion_report.json`, atomically."""
    check_target(out, overwrite=force, flag="force=True")
    params = sum(p.numel() for p in converted.model.parameters())
    card = converted_card(converted.report, repo_id, params)
    extra = {"README.md": str(card), "conversion_report.json": json.dumps(converted.report, indent=2) + "\n"}
    return save_repo(converted.model, out, id2label=converted.labels, overwrite=force, extra_files=extra)


OURS = ("scratch_swin", "scratch_swinv2", "scratch_vit")
NATIVE = {"swin": "SwinForImageClassification", "swinv2": "Swinv2ForImageClassification", "vit": "ViTForImageClassification"}


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
    return f"{folder}: config.json has model_type {model_type!r}; a swin-hub repo has 'scratch_swin', 'scratch_swinv2' or 'scratch_vit'"
