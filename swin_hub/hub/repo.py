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


def save_repo(model: torch.nn.Module, directory: str | os.PathLike, id2label: dict | list | None = None,
              overwrite: bool = False, extra_files: dict[str, str] | None = None) -> Path:
    """Write the repo folder atomically: built in a sibling temp folder, then renamed into place,
    so an interrupted save never leaves a half-written repo (nor destroys the previous one).
    `extra_files` (name -> text: model card, report) go in the same folder."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} exists and is not a folder")
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(f"{directory} is not empty; pass overwrite=True (--force) to replace it")
    wrapper = to_transformers(model, id2label)
    tmp = staging_dir(directory)
    try:
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
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
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
    params = sum(p.numel() for p in converted.model.parameters())
    card = converted_card(converted.report, repo_id, params)
    extra = {"README.md": str(card), "conversion_report.json": json.dumps(converted.report, indent=2) + "\n"}
    return save_repo(converted.model, out, id2label=converted.labels, overwrite=force, extra_files=extra)
