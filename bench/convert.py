"""Seconds and peak memory to convert a full-size Swin-B (and ViT-B/16) checkpoint.

Each conversion runs in a fresh process (peak RSS is per process): read, map, infer, verify
against the source implementation, write the repo folder. Sources are random weights saved
in each layout: the official Microsoft `.pth`, timm's `.pth`, a transformers folder.

    python bench/convert.py [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import timm
import torch
import transformers

import swin_hub  # noqa: F401  (registers the scratch_* models)

RUN = """
import json, resource, sys, time
start = time.perf_counter()
from swin_hub.convert.checkpoint import convert
from swin_hub.hub.repo import write_repo
c = convert(sys.argv[1])
write_repo(c, sys.argv[2], force=True)
print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "diff": c.report["parity"]["max_abs_diff"], "reference": c.report["parity"]["reference"]}))
"""


def official_swin_b(path: Path) -> None:
    sd = timm.create_model("scratch_swin_b").state_dict()  # swin_hub layout: merging starts stage i+1
    official = {re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) - 1}.downsample", k): v
                for k, v in sd.items()}
    torch.save({"model": official}, path)


def sources(root: Path) -> dict[str, Path]:
    out = {"Swin-B official .pth": root / "swin_b_official.pth", "Swin-B timm .pth": root / "swin_b_timm.pth",
           "Swin-B transformers folder": root / "swin_b_hf", "ViT-B/16 timm .pth": root / "vit_b_timm.pth"}
    official_swin_b(out["Swin-B official .pth"])
    torch.save(timm.create_model("swin_base_patch4_window7_224").state_dict(), out["Swin-B timm .pth"])
    config = transformers.SwinConfig(embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], num_labels=1000)
    transformers.SwinForImageClassification(config).save_pretrained(out["Swin-B transformers folder"])
    torch.save(timm.create_model("vit_base_patch16_224").state_dict(), out["ViT-B/16 timm .pth"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = []
        for name, src in sources(root).items():
            runs = []
            for _ in range(args.reps):
                proc = subprocess.run([sys.executable, "-c", RUN, str(src), str(root / "out")],
                                      capture_output=True, text=True, check=True)
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            size = sum(p.stat().st_size for p in ([src] if src.is_file() else src.iterdir()))
            secs = [r["seconds"] for r in runs]
            rows.append(f"| {name} | {size / 2**20:.0f} MiB | {statistics.median(secs):.1f} ({min(secs):.1f}-{max(secs):.1f}) "
                        f"| {statistics.median(r['peak_rss_mib'] for r in runs):.0f} MiB | {runs[0]['diff']:.1e} vs {runs[0]['reference']} |")
    print(f"machine: {platform.machine()} {torch.get_num_threads()} threads; torch {torch.__version__}, "
          f"timm {timm.__version__}, transformers {transformers.__version__}\n")
    print("| source | size | seconds, median (min-max) | peak RSS | parity |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
