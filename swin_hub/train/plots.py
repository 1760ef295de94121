"""PNG plots of a run: loss / metric curves, confusion matrix, one-vs-rest ROC curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402


def save_plots(output_dir: Path, history: list[dict], metrics: dict, raw: dict, names: list[str]) -> list[Path]:
    paths = [curves(output_dir / "training_curves.png", history),
             confusion(output_dir / "confusion_matrix.png", np.asarray(metrics["eval_confusion_matrix"]), names)]
    roc = roc_curves(output_dir / "roc_curves.png", raw["scores"], raw["references"], names)
    return paths + ([roc] if roc else [])


def curves(path: Path, history: list[dict]) -> Path:
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train loss")
    left.set(xlabel="epoch", ylabel="loss", title="training loss")
    for key in ("eval_accuracy", "eval_f1_macro", "eval_top5_accuracy"):
        if all(h.get(key) is not None for h in history):
            right.plot(epochs, [h[key] for h in history], marker="o", label=key.removeprefix("eval_"))
    right.set(xlabel="epoch", ylabel="score", title="validation", ylim=(0, 1.02))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def confusion(path: Path, matrix: np.ndarray, names: list[str]) -> Path:
    size = max(4.0, 0.45 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(names))
    ax.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title="confusion matrix (validation)")
    ax.set_xticklabels(names, rotation=90)
    ax.set_yticklabels(names)
    if len(names) <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > matrix.max() / 2 else "black")
    return _save(fig, path)


def roc_curves(path: Path, scores: np.ndarray, references: np.ndarray, names: list[str]) -> Path | None:
    present = [c for c in range(len(names)) if 0 < (references == c).sum() < len(references)]
    if not present:
        return None
    fig, ax = plt.subplots(figsize=(5, 5))
    for c in present[:20]:  # beyond 20 curves the plot is unreadable
        fpr, tpr, _ = roc_curve(references == c, scores[:, c])
        ax.plot(fpr, tpr, label=names[c])
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, one vs rest (validation)")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
