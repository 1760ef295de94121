"""Helpers of bench/device_check.sh: what is installed, whether the carried wheels fit, and the
trainer's images/s next to the bare model's.

    python bench/device_check.py env                      versions, GPU, commit and code fingerprint
    python bench/device_check.py deps                     datasets / evaluate import? unmet requirements
    python bench/device_check.py train-report --perf MD [--perf-compiled MD] --json FILE NAME=DIR ...

Only the standard library at module level, so `env` still reports when torch itself is broken.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata as metadata
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("torch", "torchvision", "timm", "transformers", "accelerate", "huggingface_hub", "safetensors", "numpy",
            "datasets", "evaluate", "dill", "multiprocess", "xxhash", "fsspec", "pyarrow", "pandas", "scikit-learn",
            "matplotlib", "tensorboard", "pytest")


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def code_fingerprint() -> tuple[str, dict[str, str]]:
    """sha256 of the package, bench and test sources: names the code measured when the copy on
    the device machine has no .git. Run `env` here too and compare."""
    files = sorted(p for pattern in ("swin_hub/**/*.py", "bench/*.py", "bench/*.sh", "tests/*.py")
                   for p in ROOT.glob(pattern))
    total, per_file = hashlib.sha256(), {}
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rel = str(path.relative_to(ROOT))
        total.update(f"{rel} {digest}\n".encode())
        if rel.startswith("swin_hub/models/"):
            per_file[rel] = digest[:12]
    return total.hexdigest()[:12], per_file


def git_commit() -> str:
    if not (ROOT / ".git").exists():
        return "unknown (this copy has no .git; match the code fingerprint instead)"
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{run('rev-parse', 'HEAD')} ({run('describe', '--always', '--dirty')})"
    except (OSError, subprocess.SubprocessError) as e:
        return f"unknown ({e})"


def cmd_env(_args) -> int:
    print(f"python {platform.python_version()} at {sys.executable}; {platform.platform()}; {os.cpu_count()} CPU cores")
    print(f"commit {git_commit()}")
    fingerprint, per_file = code_fingerprint()
    print(f"code fingerprint {fingerprint} (sha256 of swin_hub/**/*.py, bench/*.py|sh, tests/*.py)")
    for rel, digest in per_file.items():
        print(f"  {rel} {digest}")
    for dist in PACKAGES:
        print(f"  {dist:<16} {version(dist) or 'MISSING'}")
    try:
        import torch

        print(f"torch CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
              f"cuda available {torch.cuda.is_available()}")
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            print(f"  cuda:{i} {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, "
                  f"capability {p.major}.{p.minor}")
        print(f"TF32 defaults: matmul {torch.backends.cuda.matmul.allow_tf32}, cudnn {torch.backends.cudnn.allow_tf32}; "
              f"float32_matmul_precision {torch.get_float32_matmul_precision()}")
    except Exception as e:  # a broken torch is exactly what this report must show
        print(f"torch import failed: {type(e).__name__}: {e}")
        return 1
    return 0


def cmd_deps(_args) -> int:
    """Import datasets and evaluate (carried as wheels without their dependencies, which the
    image is expected to have) and list each requirement the installed versions miss."""
    from packaging.requirements import Requirement

    ok = True
    for name in ("datasets", "evaluate"):
        try:
            module = importlib.import_module(name)
            print(f"{name} {module.__version__} from {Path(module.__file__).parent}")
        except Exception as e:
            print(f"{name}: import failed: {type(e).__name__}: {e}")
            ok = False
            continue
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            have = version(req.name)
            if have is None or (req.specifier and not req.specifier.contains(have, prereleases=True)):
                print(f"  unmet: {name} needs {req}, found {have or 'nothing'} (may still work)")
    return 0 if ok else 1


def perf_rate(md_path: str | None, family_title: str, mode_label: str, compiled: bool) -> float | None:
    """The swin-hub median img/s of one table in a bench/perf.py report, or None."""
    if not md_path or not Path(md_path).is_file():
        return None
    heading = f"### {family_title} · {mode_label}:"
    suffix = "· torch.compile" if compiled else "· eager"
    in_table = False
    for line in Path(md_path).read_text().splitlines():
        if line.startswith("### "):
            in_table = line.startswith(heading) and line.rstrip().endswith(suffix)
        elif in_table and line.startswith("| swin-hub |"):
            match = re.match(r"\| swin-hub \| ([0-9.]+) ", line)
            return float(match.group(1)) if match else None
    return None


def trainer_rates(run_dir: Path) -> dict:
    """What the run says about its speed: the trainer's own train_samples_per_second, and the
    rate over the epochs after the first (history seconds; warm-up and compilation excluded,
    per-epoch evaluation included)."""
    results = json.loads((run_dir / "all_results.json").read_text())
    results = {k: v for k, v in results.items() if k not in ("eval_confusion_matrix", "eval_per_class")}
    out = {"all_results": results, "reported": results.get("train_samples_per_second")}
    history_path = run_dir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else []
    samples = results.get("train_samples")
    if samples and len(history) >= 2:
        seconds = history[-1]["seconds"] - history[0]["seconds"]
        out["after_first_epoch"] = samples * (len(history) - 1) / seconds if seconds > 0 else None
    return out


def cmd_train_report(args) -> int:
    rows, report = [], {}
    for spec in args.runs:
        name, _, folder = spec.partition("=")
        compiled = "compile" in name
        model = perf_rate(args.perf_compiled if compiled else args.perf, "Swin-T", f"train{args.batch}", compiled)
        run_dir = Path(folder)
        if not (run_dir / "all_results.json").is_file():
            rows.append(f"| {name} | no all_results.json (the run failed or did not run) | - | - | - |")
            report[name] = None
            continue
        rates = trainer_rates(run_dir)
        rates["model_only"] = model
        report[name] = rates
        cells = []
        for key in ("reported", "after_first_epoch"):
            v = rates.get(key)
            cells.append("-" if v is None else f"{v:.0f}")
        steady = rates.get("after_first_epoch") or rates.get("reported")
        ratio = f"**{steady / model:.2f}**" if steady and model else "-"
        rows.append(f"| {name} | {cells[0]} | {cells[1]} | {'-' if model is None else f'{model:.0f}'} | {ratio} |")
    print(f"Swin-T (scratch_swin_t, 224 px), batch {args.batch}, bf16: `swin-hub train` on digits vs the bare model "
          f"(perf.py train{args.batch}: forward + cross-entropy + backward + AdamW, 1000 classes).\n")
    print("| run | trainer img/s (train_samples_per_second) | trainer img/s after epoch 1 (eval incl.) "
          "| model-only img/s (perf.py) | trainer (after epoch 1) / model |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("env").set_defaults(func=cmd_env)
    sub.add_parser("deps").set_defaults(func=cmd_deps)
    p = sub.add_parser("train-report")
    p.add_argument("--perf", help="perf.py report with the eager Swin-T train table")
    p.add_argument("--perf-compiled", help="perf.py report with the compiled Swin-T train table")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--json", required=True, help="write every number here")
    p.add_argument("runs", nargs="+", help="NAME=OUTPUT_DIR of `swin-hub train` runs (NAME with 'compile' if compiled)")
    p.set_defaults(func=cmd_train_report)
    args = ap.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
