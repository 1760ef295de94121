"""Helpers every layout shares: reading a weights file, checkpoint wrappers and the buffers
never read from files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

BUFFERS = ("relative_position_index", "attn_mask")


def unwrap(state_dict: dict) -> dict:
    """Official and training checkpoints nest the weights under 'model' / 'state_dict';
    swin-hub's transformers classes save them under the `model.` prefix."""
    for key in ("model", "state_dict", "model_ema"):
        if key in state_dict and isinstance(state_dict[key], dict):
            return state_dict[key]
    return strip_wrapper_prefix(state_dict)


def strip_wrapper_prefix(state_dict: dict, prefix: str = "model.") -> dict:
    """Keys of a swin-hub PreTrainedModel (`model.patch_embed...`) -> the pure model's."""
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict


def read_weights(path: str | Path) -> dict:
    """A checkpoint file as a dict: npz arrays, safetensors or a torch file (never unpickles code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        magic = f.read(8)
    if path.suffix == ".npz" or (magic[:2] == b"PK" and _is_npz(path)):
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    if path.suffix == ".safetensors":
        return load_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's message is a page about weights_only; keep its reason line
        paragraphs = [p.strip() for p in str(e).split("\n\n") if p.strip()]
        detail = [p for p in paragraphs if not p.startswith(("Weights only load failed", "Check the documentation", "Please file"))]
        reason = " ".join(detail or paragraphs[:1]).replace("WeightsUnpickler error:", "").strip()
        if "GLOBAL" in reason.upper():
            raise ValueError(f"{path}: refused: the pickle references code ({reason}); only tensors load") from e
        raise ValueError(f"{path}: not a readable PyTorch / safetensors / npz checkpoint ({reason})") from e


def _is_npz(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith(".npy") for n in z.namelist())
    except zipfile.BadZipFile:  # truncated: let torch.load word the error
        return False


class SizeMismatchError(ValueError, RuntimeError):
    """The checkpoint is another size of model than the one it is loaded into (a RuntimeError
    too, the type torch's own size-mismatch error has)."""


def shape_mismatches(sd: dict, model_sd: dict, skip: tuple[str, ...] = ("head.",)) -> list[str]:
    """`key (checkpoint shape) vs (model shape)` for every shared key whose shapes differ; `skip`
    prefixes are the loader's to handle (timm re-initialises a head of another size), and the
    first conv may differ in input channels only (timm adapts it)."""
    wrong = []
    for key, value in sd.items():
        if key not in model_sd or key.startswith(skip) or not hasattr(value, "shape"):
            continue
        have, want = tuple(value.shape), tuple(model_sd[key].shape)
        if key == "patch_embed.proj.weight" and len(have) == len(want) == 4:
            have, want = have[:1] + have[2:], want[:1] + want[2:]
        if have != want:
            wrong.append(f"{key}: {tuple(value.shape)} vs {tuple(model_sd[key].shape)}")
    return wrong


def size_mismatch_error(wrong: list[str], model: str, checkpoint_arch: str) -> SizeMismatchError:
    """One message for both families: what differs, what the checkpoint is, what to do."""
    more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
    return SizeMismatchError(
        f"size mismatch: the checkpoint is another size of model than this {model}: {len(wrong)} tensors differ "
        f"(checkpoint vs model: {'; '.join(wrong[:3])}{more}); the checkpoint's architecture is {checkpoint_arch}: "
        "create the model with those kwargs, or write a repo folder with `swin-hub convert`"
    )


def is_hub_id(text: str) -> bool:
    """org/name, not a local path."""
    return text.count("/") == 1 and not Path(text).exists() and not text.startswith((".", "/"))


def public_name(text) -> str:
    """What a card or report may say about a source: a Hub id as it is, a local path by its name
    only (they are published; the folder they were made in is nobody's business)."""
    text = str(text)
    return text if is_hub_id(text) else Path(text).name or text
