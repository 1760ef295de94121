"""Which attention path should `attn_impl='auto'` take? Measures sdpa vs eager, interleaved.

Usage: python bench/attn_impl.py [--device cpu|cuda] [--reps 5] [--batch 8]
Prints a markdown table (img/s medians and min-max spread) for Swin-T and ViT-B/16,
inference and training (forward + backward + AdamW step).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import timm
import torch

import swin_hub  # noqa: F401


def set_impl(model: torch.nn.Module, impl: str) -> None:
    for m in model.modules():
        if hasattr(m, "attn_impl"):
            m.attn_impl = impl


def step_fn(model, x, train: bool, opt):
    if not train:
        with torch.inference_mode():
            model(x)
        return
    loss = model(x).logsumexp(-1).mean()
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--models", default="scratch_swin_t,scratch_vit_b")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, timm {timm.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, device {device}, batch {args.batch}\n")
    print("| model | mode | eager img/s | sdpa img/s | sdpa / eager |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.models.split(","):
        model = timm.create_model(name, drop_path_rate=0.0).to(device)
        x = torch.randn(args.batch, 3, 224, 224, device=device)
        for train in (False, True):
            model.train(train)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
            times = {"eager": [], "sdpa": []}
            for impl in times:  # warm-up
                set_impl(model, impl)
                step_fn(model, x, train, opt)
            for _ in range(args.reps):
                for impl in times:  # interleaved so drift hits both equally
                    set_impl(model, impl)
                    sync(device)
                    t0 = time.perf_counter()
                    step_fn(model, x, train, opt)
                    sync(device)
                    times[impl].append(args.batch / (time.perf_counter() - t0))
            med = {k: statistics.median(v) for k, v in times.items()}
            spread = {k: f"{med[k]:.2f} ({min(v):.2f}-{max(v):.2f})" for k, v in times.items()}
            mode = "train" if train else "infer"
            print(f"| {name} | {mode} | {spread['eager']} | {spread['sdpa']} | {med['sdpa'] / med['eager']:.2f} |")


if __name__ == "__main__":
    main()
