"""Helpers every layout shares: checkpoint wrappers and the buffers never read from files."""

from __future__ import annotations

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
