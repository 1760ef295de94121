"""Classification metrics computed through the ``evaluate`` library, working offline.

Each metric is a local evaluate module (``METRICS_DIR/<name>/<name>.py``) loaded by path, so no Hub
access is needed; its inputs match the Hub metric of the same name, so an online user can swap in
``evaluate.load(<name>)``. Loading by path still goes through evaluate's machinery: it copies the
script into ``$HF_MODULES_CACHE/evaluate_modules/metrics/<name>/<hash>/`` (default
``~/.cache/huggingface/modules``) and creates an empty ``$HF_METRICS_CACHE/<name>/default/``
directory; ``keep_in_memory=True`` keeps the inputs out of on-disk Arrow files.

Offline: evaluate 0.4 ignores ``HF_HUB_OFFLINE`` (only ``HF_EVALUATE_OFFLINE`` stops its HTTP calls),
so ``load`` treats either as offline for Hub names; evaluate then falls back to its modules cache.
"""

import functools
from pathlib import Path
from unittest import mock

import evaluate
import huggingface_hub
import numpy as np

METRICS_DIR = Path(__file__).resolve().parent
LOCAL_METRICS = ("accuracy", "top_k_accuracy", "precision", "recall", "f1", "roc_auc", "confusion_matrix")

__all__ = ["METRICS_DIR", "LOCAL_METRICS", "load", "classification_metrics"]


def load(name: str) -> evaluate.EvaluationModule:
    """One of ours (``LOCAL_METRICS``) by path, else ``evaluate.load(name)`` (the Hub, or evaluate's cache)."""
    if name in LOCAL_METRICS:
        return evaluate.load(str(METRICS_DIR / name), keep_in_memory=True)
    # evaluate 0.4 only reads HF_EVALUATE_OFFLINE; honour HF_HUB_OFFLINE too instead of trying the network.
    offline = evaluate.config.HF_EVALUATE_OFFLINE or huggingface_hub.constants.HF_HUB_OFFLINE
    try:
        with mock.patch.object(evaluate.config, "HF_EVALUATE_OFFLINE", offline):
            return evaluate.load(name, keep_in_memory=True)
    except (FileNotFoundError, ConnectionError) as err:
        where = "offline mode is on, and it is not in evaluate's cache" if offline else "not found on the Hugging Face Hub"
        raise ValueError(f"Unknown metric {name!r}: not one of swin_hub's {LOCAL_METRICS}; {where} ({err})") from err


@functools.lru_cache(maxsize=None)
def _metric(name: str) -> evaluate.EvaluationModule:
    return load(name)


def _probabilities(scores: np.ndarray) -> np.ndarray:
    """``scores`` if they already are probabilities (non-negative rows summing to 1), else softmax."""
    if scores.min() >= 0 and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4):
        return scores
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def classification_metrics(
    scores: np.ndarray, references: np.ndarray, class_names: list[str] | None = None, prefix: str = "eval_"
) -> dict:
    """Accuracy, top-5, macro/weighted precision/recall/F1, ROC AUC, confusion matrix and per-class scores.

    ``scores`` are (N, C) logits or probabilities: rows that are non-negative and sum to 1 (within
    1e-4) are taken as probabilities, anything else gets a softmax. Only ROC AUC depends on this
    (the argmax and the top-k are the same either way). ``references`` are (N,) class indices in
    range(C). Every class in range(C) is scored, including classes with no sample: they appear in
    the confusion matrix and in per-class scores with support 0, and count as 0 in the macro
    averages. ``roc_auc`` is one-vs-rest over the classes present (see ``roc_auc/roc_auc.py``), None
    if fewer than two are. Values are plain Python types (``json.dumps`` works).
    """
    scores, references = np.asarray(scores, dtype=np.float64), np.asarray(references, dtype=np.int64)
    if scores.ndim != 2 or references.shape != (len(scores),):
        raise ValueError(f"expected scores (N, C) and references (N,), got {scores.shape} and {references.shape}")
    num_classes = scores.shape[1]
    if references.min() < 0 or references.max() >= num_classes:
        raise ValueError(f"references must lie in range({num_classes})")
    class_names = [str(c) for c in range(num_classes)] if class_names is None else list(class_names)
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")

    labels = list(range(num_classes))
    predictions = scores.argmax(axis=1)
    probabilities = _probabilities(scores)
    pred_ref = {"predictions": predictions, "references": references}
    out = {
        "accuracy": _metric("accuracy").compute(**pred_ref)["accuracy"],
        "top5_accuracy": _metric("top_k_accuracy").compute(
            prediction_scores=probabilities, references=references, k=min(5, num_classes)
        )["top_k_accuracy"],
    }
    for average in ("macro", "weighted"):
        for name in ("precision", "recall", "f1"):
            out[f"{name}_{average}"] = _metric(name).compute(**pred_ref, average=average, labels=labels)[name]
    out["roc_auc"] = _metric("roc_auc").compute(prediction_scores=probabilities, references=references)["roc_auc"]
    out["confusion_matrix"] = _metric("confusion_matrix").compute(**pred_ref, labels=labels)["confusion_matrix"]
    per_class = {
        name: _metric(name).compute(**pred_ref, average=None, labels=labels)[name] for name in ("precision", "recall", "f1")
    }
    support = np.bincount(references, minlength=num_classes).tolist()
    out["per_class"] = {
        class_name: {**{name: per_class[name][c] for name in per_class}, "support": support[c]}
        for c, class_name in enumerate(class_names)
    }
    out["samples"] = len(references)
    return {prefix + key: value for key, value in out.items()}
