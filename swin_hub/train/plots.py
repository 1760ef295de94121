"""PNG plots of a run: loss / metric curves, confusion matrix, one-vs-rest ROC curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import auc, roc_curve  # noqa: E402

# (history key, label, line style, marker): styles differ so equal curves (accuracy = F1) stay visible
SCORES = (("eval_accuracy", "accuracy", "-", "o"), ("eval_f1_macro", "F1 (macro)", "--", "s"),
          ("eval_top5_accuracy", "top-5 accuracy", ":", "^"))
ROC_ALL_UP_TO = 10  # classes drawn one by one; beyond, the averages and the worst classes
ROC_WORST = 5


def save_plots(output_dir: Path, history: list[dict], metrics: dict, raw: dict, names: list[str],
               best_epoch: int | str | None = None, metric: str = "accuracy") -> list[Path]:
    paths = [curves(output_dir / "training_curves.png", history, best_epoch, metric),
             confusion(output_dir / "confusion_matrix.png", np.asarray(metrics["eval_confusion_matrix"]), names)]
    roc = roc_curves(output_dir / "roc_curves.png", raw["scores"], raw["references"], names)
    return paths + ([roc] if roc else [])


def curves(path: Path, history: list[dict], best_epoch: int | str | None = None, metric: str = "accuracy") -> Path:
    """Training and validation loss (left), validation scores (right), per epoch; the epoch that
    gave the best model marked on both."""
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [h["train_loss"] for h in history], marker="o", label="training loss")
    if all(h.get("eval_loss") is not None for h in history):
        left.plot(epochs, [h["eval_loss"] for h in history], marker="s", linestyle="--", label="validation loss")
    left.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    for key, label, style, marker in SCORES:
        if all(h.get(key) is not None for h in history):
            right.plot(epochs, [h[key] for h in history], linestyle=style, marker=marker, label=label)
    right.set(xlabel="epoch", ylabel="score", title="validation", ylim=(0, 1.02))
    best = next((h for h in history if h["epoch"] == best_epoch), None)
    if best is not None:  # a star on the curve that chose it, a line across both panels
        (left if metric == "loss" else right).plot(best["epoch"], best[f"eval_{metric}"], marker="*", markersize=16,
                                                  color="tab:red", linestyle="none", zorder=3)
    for ax in (left, right):
        if best is not None:
            ax.axvline(best["epoch"], color="tab:red", linestyle=":", lw=1.2,
                       label=f"best (epoch {best['epoch']}, {metric} {best[f'eval_{metric}']:.3f})")
        ax.margins(x=0.08)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
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
    """One-vs-rest ROC per class with its AUC in the legend and the macro AUC in the title; with
    many classes, the micro / macro averages and the worst classes only."""
    present = [c for c in range(len(names)) if 0 < (references == c).sum() < len(references)]
    if not present:
        return None
    grid = np.linspace(0, 1, 201)
    per_class = {}
    for c in present:
        fpr, tpr, _ = roc_curve(references == c, scores[:, c])
        per_class[c] = (fpr, tpr, auc(fpr, tpr))
    macro_auc = float(np.mean([a for _, _, a in per_class.values()]))
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    if len(present) <= ROC_ALL_UP_TO:
        shown = present
    else:
        onehot = references[:, None] == np.array(present)[None, :]
        fpr, tpr, _ = roc_curve(onehot.ravel(), scores[:, present].ravel())
        ax.plot(fpr, tpr, color="black", lw=2, label=f"micro average (AUC {auc(fpr, tpr):.3f})")
        mean_tpr = np.mean([np.interp(grid, f, t) for f, t, _ in per_class.values()], axis=0)
        ax.plot(grid, mean_tpr, color="black", lw=2, linestyle="--", label=f"macro average (AUC {macro_auc:.3f})")
        shown = sorted(present, key=lambda c: per_class[c][2])[:ROC_WORST]
    for c in shown:
        fpr, tpr, area = per_class[c]
        ax.plot(fpr, tpr, lw=1.2, label=f"{names[c]} (AUC {area:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    worst = "" if len(present) <= ROC_ALL_UP_TO else f"; the {ROC_WORST} worst of {len(present)} classes"
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(-0.01, 1.01), ylim=(-0.01, 1.01),
           title=f"ROC one vs rest (validation), macro AUC {macro_auc:.3f}{worst}")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    """Through a temp file: a reader never sees half a PNG."""
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
