"""What each fast path buys: leave-one-out, interleaved in one process.

Usage: python bench/ablation.py [--before ee5ae3c] [--reps 9] [--batch 8] [--models swin_t,vit_b]
                                [--mode infer|train] [--device cpu|cuda]

Variants of one model, all with the same weights, timed in rotating order each round:
`before` is the model code at git revision --before (loaded from git into a temporary
package), `after` the working tree with this device's execution policy, `after - X` the same
with fast path X switched off (`swin_hub.models.fast.forced(X=off)`), `reference` the plain
path, `cuda policy` the GPU's choices run here, and `timm` the reference implementation.
`--mode train` times forward + backward (no optimizer step). Prints a markdown table of
img/s medians (min-max) and the ratio to timm.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import timm
import torch

import swin_hub  # noqa: F401  (registers the scratch_* models)
from swin_hub.convert.swin import to_swin_hub
from swin_hub.models import fast

REPO = Path(__file__).resolve().parents[1]
FAMILIES = {
    "swin_t": ("scratch_swin_t", "swin_tiny_patch4_window7_224", "swin", "SwinTransformer", "SwinConfig", {}),
    "vit_b": ("scratch_vit_b", "vit_base_patch16_224", "vit", "VisionTransformer", "ViTConfig", {"act_layer": "gelu"}),
}


def load_before(rev: str, tmp: Path):
    """The models package as it was at `rev`, importable as `swin_hub_before`."""
    pkg = tmp / "swin_hub_before"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    names = subprocess.run(["git", "ls-tree", "--name-only", rev, "swin_hub/models/"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    for path in names:
        if path.endswith(".py") and not path.endswith("__init__.py"):
            src = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, check=True,
                                 capture_output=True, text=True).stdout
            (pkg / Path(path).name).write_text(src)
    sys.path.insert(0, str(tmp))
    return pkg


def toggles(family: str) -> dict:
    """Name -> context manager that changes the execution policy."""
    out = {
        "after - batch chunks": lambda: fast.forced(chunk_tokens=0),
        "after - in-place activation": lambda: fast.forced(inplace_act=False),
        "cuda policy": lambda: fast.forced(device_type="cuda"),
        "reference": lambda: fast.forced(reference=True),
    }
    if family == "swin_t":
        out["after - SDPA"] = lambda: fast.forced(window_attn="broadcast")
        out["after - gathers"] = lambda: fast.forced(gather_windows=False)
    else:
        out["after - SDPA"] = lambda: fast.forced(global_sdpa=False)
    return out


def step(model, x, train: bool) -> None:
    if train:
        model(x).logsumexp(-1).mean().backward()
        model.zero_grad(set_to_none=True)
    else:
        with torch.inference_mode():
            model(x)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="ee5ae3c", help="git revision of the baseline model code")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--models", default="swin_t,vit_b")
    ap.add_argument("--mode", default="infer", choices=("infer", "train"))
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device, train = torch.device(args.device), args.mode == "train"
    tmp = Path(tempfile.mkdtemp())
    load_before(args.before, tmp)
    print(f"torch {torch.__version__}, timm {timm.__version__}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads, {device}, fp32, batch {args.batch}, {args.mode}, 224x224, "
          f"{args.reps} interleaved rounds, before = {args.before}\n")
    print("| model | variant | img/s median (min-max) | ratio to timm |")
    print("| --- | --- | --- | --- |")
    for family in args.models.split(","):
        ours_name, timm_name, module, cls_name, cfg_name, kwargs = FAMILIES[family]
        torch.manual_seed(0)
        ref = timm.create_model(timm_name, drop_path_rate=0.0).to(device).train(train)
        after = timm.create_model(ours_name, drop_path_rate=0.0, **kwargs).to(device).train(train)
        sd = to_swin_hub(ref.state_dict())[0] if family == "swin_t" else ref.state_dict()
        after.load_state_dict(sd)
        old = importlib.import_module(f"swin_hub_before.{module}")
        cfg = getattr(old, cfg_name)(**{k: v for k, v in after.cfg.to_dict().items()})
        before = getattr(old, cls_name)(cfg).to(device).train(train)
        before.load_state_dict(after.state_dict())
        variants = {"before": (before, contextlib.nullcontext), "after": (after, contextlib.nullcontext)}
        variants.update({name: (after, make) for name, make in toggles(family).items()})
        variants["timm"] = (ref, contextlib.nullcontext)
        x = torch.randn(args.batch, 3, 224, 224, device=device)
        with torch.inference_mode():
            expected = ref(x)
            for name, (model, ctx) in variants.items():
                with ctx():
                    diff = (model(x) - expected).abs().max().item()
                assert diff < 1e-3, f"{name} differs from timm by {diff}"
        times = {name: [] for name in variants}
        names = list(variants)
        for r in range(args.reps + 1):
            for name in names[r % len(names):] + names[: r % len(names)]:
                model, ctx = variants[name]
                with ctx():
                    sync(device)
                    t0 = time.perf_counter()
                    step(model, x, train)
                    sync(device)
                    if r:  # round 0 warms up
                        times[name].append(args.batch / (time.perf_counter() - t0))
        ref_med = statistics.median(times["timm"])
        for name, t in times.items():
            med = statistics.median(t)
            print(f"| {family} | {name} | {med:.2f} ({min(t):.2f}-{max(t):.2f}) | {med / ref_med:.3f} |", flush=True)


if __name__ == "__main__":
    main()
