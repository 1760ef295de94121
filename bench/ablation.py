"""What each inference optimisation buys: leave-one-out, interleaved in one process.

Usage: python bench/ablation.py [--before 153c381] [--reps 9] [--batch 8] [--models swin_t,vit_b]

Variants of one model, all with the same weights, timed in rotating order each round:
`before` is the model code at git revision --before (loaded from git into a temporary
package), `after` the working tree, `after - X` the working tree with optimisation X turned
off by patching one constant or function, and `timm` the timm model as the reference.
Prints a markdown table of img/s medians (min-max) and the ratio to timm.
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
from swin_hub.models import layers, swin

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
    for name in ("layers.py", "swin.py", "vit.py"):
        src = subprocess.run(["git", "show", f"{rev}:swin_hub/models/{name}"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
        (pkg / name).write_text(src)
    sys.path.insert(0, str(tmp))
    return pkg


@contextlib.contextmanager
def patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def mask_requiring_grad(original):
    """The bug this work fixed: the cached mask required grad, so SDPA fell back to math."""
    def attn_mask(self, *args):
        return original(self, *args).detach().requires_grad_(True)
    return attn_mask


def toggles(family: str) -> dict:
    """Name -> context manager that turns one optimisation off."""
    out = {
        "after - batch chunks": lambda: patched(layers, "INFER_CHUNK_TOKENS", 10**12),
        "after - in-place activation": lambda: patched(layers, "activate_", lambda act, h: act(h)),
    }
    if family == "swin_t":
        out["after - grad-free cached mask"] = lambda: patched(
            swin.WindowAttention, "attn_mask", mask_requiring_grad(swin.WindowAttention.attn_mask)
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="153c381", help="git revision of the baseline model code")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--models", default="swin_t,vit_b")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    load_before(args.before, tmp)
    print(f"torch {torch.__version__}, timm {timm.__version__}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads, fp32, batch {args.batch}, inference_mode, 224x224, "
          f"{args.reps} interleaved rounds\n")
    print("| model | variant | img/s median (min-max) | ratio to timm |")
    print("| --- | --- | --- | --- |")
    for family in args.models.split(","):
        ours_name, timm_name, module, cls_name, cfg_name, kwargs = FAMILIES[family]
        torch.manual_seed(0)
        ref = timm.create_model(timm_name).eval()
        after = timm.create_model(ours_name, **kwargs).eval()
        sd = to_swin_hub(ref.state_dict())[0] if family == "swin_t" else ref.state_dict()
        after.load_state_dict(sd)
        old = importlib.import_module(f"swin_hub_before.{module}")
        cfg = getattr(old, cfg_name)(**{k: v for k, v in after.cfg.to_dict().items()})
        before = getattr(old, cls_name)(cfg).eval()
        before.load_state_dict(after.state_dict())
        variants = {"before": (before, contextlib.nullcontext), "after": (after, contextlib.nullcontext)}
        variants.update({name: (after, make) for name, make in toggles(family).items()})
        variants["timm"] = (ref, contextlib.nullcontext)
        x = torch.randn(args.batch, 3, 224, 224)
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
                with ctx(), torch.inference_mode():
                    t0 = time.perf_counter()
                    model(x)
                    if r:  # round 0 warms up
                        times[name].append(args.batch / (time.perf_counter() - t0))
        ref_med = statistics.median(times["timm"])
        for name, t in times.items():
            med = statistics.median(t)
            print(f"| {family} | {name} | {med:.2f} ({min(t):.2f}-{max(t):.2f}) | {med / ref_med:.3f} |")


if __name__ == "__main__":
    main()
