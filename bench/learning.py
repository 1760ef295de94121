"""Honest learning check: small scratch Swin and ViT trained from random init on the bundled
digits (scikit-learn, 8x8 upscaled to 32x32) must reach >= 95% validation accuracy on a CPU.

    python bench/learning.py [--output-root DIR]

Prints a markdown row per model (epochs, minutes, final metrics) for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from swin_hub.train import train
from swin_hub.train.args import parse_args

COMMON = ["--num_train_epochs", "30", "--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "128",
          "--weight_decay", "0.05", "--num_warmup_steps", "100", "--hflip", "0", "--crop_scale_min", "0.85",
          "--color_jitter", "0", "--checkpointing_steps", "no", "--seed", "0"]
RUNS = {
    "small Swin (scratch_swin_t, 2 stages, embed 48, window 4, patch 2)": [
        "--model_name_or_path", "scratch_swin_t", "--learning_rate", "1e-3", "--model_kwargs",
        json.dumps({"img_size": 32, "patch_size": 2, "embed_dim": 48, "depths": [2, 2], "num_heads": [3, 6],
                    "window_size": 4, "drop_path_rate": 0.05})],
    "small ViT (scratch_vit_s, depth 4, embed 96, patch 4)": [
        "--model_name_or_path", "scratch_vit_s", "--learning_rate", "1e-3", "--model_kwargs",
        json.dumps({"img_size": 32, "patch_size": 4, "embed_dim": 96, "depth": 4, "num_heads": 3, "drop_path_rate": 0.05})],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output-root", default=None)
    args = parser.parse_args()
    root = Path(args.output_root or tempfile.mkdtemp(prefix="swin-hub-learning-"))
    rows = []
    for i, (name, extra) in enumerate(RUNS.items()):
        start = time.time()
        results = train(parse_args(COMMON + extra + ["--output_dir", str(root / f"run{i}"), "--overwrite_output_dir"]))
        minutes = (time.time() - start) / 60
        ok = "yes" if results["eval_accuracy"] >= 0.95 else "NO"
        rows.append(f"| {name} | {results['epochs']} | {minutes:.1f} | {results['eval_accuracy']:.4f} | "
                    f"{results['eval_f1_macro']:.4f} | {results['eval_top5_accuracy']:.4f} | {results['eval_roc_auc']:.4f} | {ok} |")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads; torch {torch.__version__}\n")
    print("| model | epochs | minutes | val accuracy | macro F1 | top-5 | ROC-AUC | >= 95% |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
