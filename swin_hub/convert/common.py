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
