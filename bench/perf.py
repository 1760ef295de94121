"""How fast is swin-hub next to timm, transformers and torchvision? Interleaved, in one process.

Usage: python bench/perf.py [--families swin_t,swin_b,vit_s16,vit_b16,swinv2_t] [--modes infer1,infer8,train8]
                            [--impls swin-hub,timm] [--compile eager,compiled] [--reps 7] [--batch 8[,128,...]]
                            [--min-time 0.5] [--device cpu|cuda] [--dtype fp32|bf16] [--channels-last]
                            [--out FILE]

For each family (Swin-T, Swin-B, ViT-S/16, ViT-B/16 at 224x224, Swin V2-T at 256x256, 1000 classes, random weights,
no dropout or drop path), mode (infer1: batch 1, infer8: batch --batch, train8: forward +
cross-entropy + backward + AdamW step at batch --batch; with several batches, each one in turn;
the tables name these modes by their real batch, e.g. train128) and compile setting, every implementation
(swin-hub, timm, transformers eager/sdpa, torchvision) is built and warmed up, then timed once per
round for --reps rounds, the order rotating each round so drift hits all of them alike.
Prints markdown tables (img/s median and min-max, ratio to the fastest non-swin-hub peer, peak
memory of one step, FLOPs per image, % of a measured matmul peak); --out also writes them to FILE
(rewritten after each case, so an interrupted run keeps what it measured).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

import timm
import torch
import torch.nn.functional as F
import torchvision
import transformers
from torch import nn
from torch.distributed._tools.mem_tracker import MemTracker
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

import swin_hub  # registers the scratch_* timm models

MiB = 2**20
NUM_CLASSES = 1000
IMG = 224
MODES = ("infer1", "infer8", "train8")
COMPILES = ("eager", "compiled")


# ---------------------------------------------------------------------------------------------
# implementations


class Logits(nn.Module):
    """transformers models return an output object; this makes every implementation `logits = f(x)`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).logits


def timm_model(name: str, **kwargs) -> Callable[[], nn.Module]:
    return lambda: timm.create_model(name, num_classes=NUM_CLASSES, drop_rate=0.0, drop_path_rate=0.0, **kwargs)


def hf_model(cls, config_cls, attn: str, img: int = IMG, **config) -> Callable[[], nn.Module]:
    """transformers 5 takes the attention implementation in the config (the model constructor
    refuses the keyword); it raises if the class does not support it, and we check it stuck."""

    def build() -> nn.Module:
        cfg = config_cls(num_labels=NUM_CLASSES, image_size=img, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0, attn_implementation=attn, **config)
        model = cls(cfg)
        got = model.config._attn_implementation
        if got != attn:
            raise RuntimeError(f"asked for attn_implementation={attn!r}, got {got!r}")
        return Logits(model)

    return build


def tv_model(builder: Callable[..., nn.Module]) -> Callable[[], nn.Module]:
    """torchvision's swin_t/swin_b pass their own stochastic_depth_prob, so the keyword clashes
    (TypeError); build with defaults and switch every StochasticDepth off instead."""

    def build() -> nn.Module:
        model = builder()
        for m in model.modules():
            if isinstance(m, torchvision.ops.StochasticDepth):
                m.p = 0.0
        return model

    return build


@dataclass
class Family:
    title: str
    # name -> builder, swin-hub first; swin-hub-* are variants of ours (attn_impl), never peers
    impls: dict[str, Callable[[], nn.Module]]
    img: int = IMG  # input size (Swin V2's releases are 256 px)


def families() -> dict[str, Family]:
    hf_swin, hf_swin_cfg = transformers.SwinForImageClassification, transformers.SwinConfig
    hf_vit, hf_vit_cfg = transformers.ViTForImageClassification, transformers.ViTConfig
    swin_t = dict(patch_size=4, embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7,
                  drop_path_rate=0.0)
    swinv2_t = dict(patch_size=4, embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=8,
                    drop_path_rate=0.0)
    swin_b = dict(patch_size=4, embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=7,
                  drop_path_rate=0.0)
    vit_s = dict(patch_size=16, hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                 intermediate_size=1536)
    vit_b = dict(patch_size=16, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072)

    def hf(cls, cfg_cls, cfg, img=IMG):
        return {f"transformers-{a}": hf_model(cls, cfg_cls, a, img, **cfg) for a in ("eager", "sdpa")}

    return {
        "swin_t": Family("Swin-T", {
            "swin-hub": timm_model("scratch_swin_t"),
            "swin-hub-sdpa": timm_model("scratch_swin_t", attn_impl="sdpa"),
            "timm": timm_model("swin_tiny_patch4_window7_224"),
            **hf(hf_swin, hf_swin_cfg, swin_t),
            "torchvision": tv_model(torchvision.models.swin_t),
        }),
        "swin_b": Family("Swin-B", {
            "swin-hub": timm_model("scratch_swin_b"),
            "swin-hub-sdpa": timm_model("scratch_swin_b", attn_impl="sdpa"),
            "timm": timm_model("swin_base_patch4_window7_224"),
            **hf(hf_swin, hf_swin_cfg, swin_b),
            "torchvision": tv_model(torchvision.models.swin_b),
        }),
        "swinv2_t": Family("Swin V2-T", {  # 256 px, window 8; transformers' Swinv2 has no SDPA path
            "swin-hub": timm_model("scratch_swinv2_t_w8_256"),
            "timm": timm_model("swinv2_tiny_window8_256"),
            "transformers-eager": hf_model(transformers.Swinv2ForImageClassification, transformers.Swinv2Config,
                                           "eager", 256, **swinv2_t),
            "torchvision": tv_model(torchvision.models.swin_v2_t),
        }, img=256),
        "vit_s16": Family("ViT-S/16", {  # torchvision has no ViT-S
            "swin-hub": timm_model("scratch_vit_s", act_layer="gelu"),  # the peers' exact GELU
            "timm": timm_model("vit_small_patch16_224"),
            **hf(hf_vit, hf_vit_cfg, vit_s),
        }),
        "vit_b16": Family("ViT-B/16", {
            "swin-hub": timm_model("scratch_vit_b", act_layer="gelu"),  # the peers' exact GELU
            "timm": timm_model("vit_base_patch16_224"),
            **hf(hf_vit, hf_vit_cfg, vit_b),
            "torchvision": tv_model(torchvision.models.vit_b_16),
        }),
    }


# ---------------------------------------------------------------------------------------------
# measurement helpers


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def probe_size(device: torch.device) -> int:
    """Side of the probe's square matmul. A GPU needs a big one to reach its peak: 2048^3 bf16 on
    an H200 reads ~410 TFLOP/s of its ~790, which would flatter every "% matmul peak"."""
    return 8192 if device.type == "cuda" else 2048


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype, reps: int = 10) -> float:
    """The yardstick for "% of matmul peak": what one large square matmul achieves here."""
    n = probe_size(device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b, out=c)
    times = []
    for _ in range(reps):
        if device.type == "cuda":  # events time the kernel itself, without the launch and sync overhead
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            torch.mm(a, b, out=c)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def count_gflop_per_image(build: Callable[[], nn.Module], train: bool, img: int = IMG) -> float:
    """FLOPs (2 per multiply-add) of one image: forward, plus backward of the loss when training."""
    torch.manual_seed(0)
    model = build().train(train)
    x = torch.randn(1, 3, img, img)
    y = torch.zeros(1, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        if train:
            F.cross_entropy(model(x), y).backward()
        else:
            with torch.no_grad():
                model(x)
    return counter.get_total_flops() / 1e9


@dataclass
class Runner:
    """One implementation set up for one case: its model, optimizer and `step()`."""

    name: str
    model: nn.Module | None = None
    opt: torch.optim.Optimizer | None = None
    step: Callable[[], None] | None = None
    first_call_s: float | None = None
    per_call_s: float = 0.0
    mem_mib: float | None = None
    rates: list[float] = field(default_factory=list)
    error: str | None = None
    refused: bool = False  # the library would not build this variant (no row, a note)


def make_step(model: nn.Module, x, y, train: bool, opt, autocast: Callable) -> Callable[[], None]:
    if not train:
        def step() -> None:
            with torch.inference_mode(), autocast():
                model(x)
        return step

    def step() -> None:
        with autocast():
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def step_peak_mib(r: Runner, x, y, device: torch.device, compiled: bool) -> float | None:
    """Peak memory of one step above what was allocated before it (params, optimizer state, input).

    CUDA: the caching allocator's own statistics. CPU has none, so torch's MemTracker (a dispatch
    mode that follows every storage the step creates and notices its release through weak
    references) is used; it cannot see inside a compiled graph, so compiled CPU rows get None.
    """
    if device.type == "cuda":
        sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        r.step()
        sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / MiB
    if compiled:
        return None
    tracker = MemTracker()
    tracker.track_external(*[t for t in (r.model, r.opt, x, y) if t is not None])
    base = tracker.get_tracker_snapshot("current").get(device, {}).get("Total", 0)
    with tracker:
        r.step()
    peak = tracker.get_tracker_snapshot("peak").get(device, {}).get("Total", 0)
    return (peak - base) / MiB


def timed_sample(r: Runner, batch: int, min_time: float, device: torch.device) -> float:
    """img/s over enough calls to last at least `min_time` (several calls at batch 1)."""
    n = max(1, math.ceil(1.05 * min_time / max(r.per_call_s, 1e-6)))
    calls = 0
    sync(device)
    t0 = time.perf_counter()
    while True:
        for _ in range(n):
            r.step()
        calls += n
        sync(device)
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time:
            break
        n = max(1, math.ceil((min_time - elapsed) * calls / elapsed))
    r.per_call_s = elapsed / calls  # better aim for the next round
    return calls * batch / elapsed


def short_error(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}".splitlines()[0]
    return text if len(text) <= 160 else text[:157] + "..."


# ---------------------------------------------------------------------------------------------
# one case: all implementations of a family, one mode, one compile setting


@dataclass
class Case:
    family: str
    mode: str
    compiled: bool
    batch: int
    gflop: float | None
    runners: list[Runner]


def run_case(fam: Family, family: str, mode: str, batch: int, compiled: bool, args, device, gflop, bar) -> Case:
    train = mode.startswith("train")
    label = f"{family} {mode_label(mode, batch)} {'compiled' if compiled else 'eager'}"
    bf16 = args.dtype == "bf16"

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    torch.manual_seed(0)
    x = torch.randn(batch, 3, fam.img, fam.img, device=device)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=device)

    runners = []
    for name, build in fam.impls.items():
        if args.impls and not any(s in name for s in args.impls):
            continue
        r = Runner(name)
        runners.append(r)
        bar.set_postfix_str(f"{label}: build {name}")
        try:
            torch.manual_seed(0)
            model = build()
        except Exception as e:
            r.error, r.refused = short_error(e), True
            continue
        try:
            model = model.to(device).train(train)
            if args.channels_last:
                model = model.to(memory_format=torch.channels_last)
            r.model = model
            r.opt = torch.optim.AdamW(model.parameters(), lr=1e-5) if train else None
            run = torch.compile(model) if compiled else model
            r.step = make_step(run, x, y, train, r.opt, autocast)
            sync(device)
            t0 = time.perf_counter()
            r.step()  # compiles when compiled
            sync(device)
            r.first_call_s = time.perf_counter() - t0
            for _ in range(2):  # warm-up; the last one estimates the per-call time
                t0 = time.perf_counter()
                r.step()
                sync(device)
                r.per_call_s = time.perf_counter() - t0
            r.mem_mib = step_peak_mib(r, x, y, device, compiled)
        except Exception as e:  # one broken implementation should not sink the whole run
            r.error = short_error(e)
            r.model = r.opt = r.step = None

    live = [r for r in runners if r.error is None]
    for rep in range(args.reps):
        bar.set_postfix_str(f"{label}: round {rep + 1}/{args.reps}")
        k = rep % max(len(live), 1)
        for r in live[k:] + live[:k]:  # rotate the order each round
            if r.error is not None:
                continue
            try:
                r.rates.append(timed_sample(r, batch, args.min_time, device))
            except Exception as e:
                r.error = short_error(e)

    for r in runners:  # free before the next case: compiled models of every family would not fit
        r.model = r.opt = r.step = None
    return Case(family, mode, compiled, batch, gflop, runners)


# ---------------------------------------------------------------------------------------------
# report


def fmt(v: float) -> str:
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def mode_label(mode: str, batch: int) -> str:
    """infer8 / train8 under their real batch (train128), so a table never says 8 for 128."""
    return mode if mode == "infer1" else mode.replace("8", str(batch))


def mode_title(mode: str, batch: int) -> str:
    if mode == "train8":
        return f"train, batch {batch} (forward + cross-entropy + backward + AdamW step)"
    return f"inference, batch {batch}"


def render(header: list[str], cases: list[Case], peak_gflops: float, notes: list[str], fams) -> str:
    out = list(header)
    if cases:
        out += ["", "## Summary: swin-hub vs the fastest peer (median img/s)", "",
                "| family | mode | compile | swin-hub | fastest peer | swin-hub / peer |",
                "| --- | --- | --- | --- | --- | --- |"]
        for c in cases:
            hub = next((r for r in c.runners if r.name == "swin-hub" and r.rates), None)
            peers = [r for r in c.runners if not r.name.startswith("swin-hub") and r.rates]
            best = max(peers, key=lambda r: statistics.median(r.rates), default=None)
            hub_s = fmt(statistics.median(hub.rates)) if hub else "-"
            best_s = f"{best.name} {fmt(statistics.median(best.rates))}" if best else "-"
            ratio = f"**{statistics.median(hub.rates) / statistics.median(best.rates):.2f}**" if hub and best else "-"
            comp = "compiled" if c.compiled else "eager"
            out.append(f"| {fams[c.family].title} | {mode_label(c.mode, c.batch)} | {comp} | {hub_s} | {best_s} | {ratio} |")

    for c in cases:
        comp = "torch.compile" if c.compiled else "eager"
        out += ["", f"### {fams[c.family].title} · {mode_label(c.mode, c.batch)}: {mode_title(c.mode, c.batch)} · {comp}", ""]
        cols = ["impl", "img/s median (min-max)", "vs fastest peer", "peak MiB", "GFLOP/img", "% matmul peak"]
        if c.compiled:
            cols.append("compile s")
        out += ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        peer_meds = [statistics.median(r.rates) for r in c.runners if not r.name.startswith("swin-hub") and r.rates]
        best_peer = max(peer_meds, default=None)
        gflop = "?" if c.gflop is None else f"{c.gflop:.2f}"
        for r in c.runners:
            if r.refused:
                continue
            if not r.rates:
                row = [r.name, f"failed: {r.error or 'no samples'}"] + ["-"] * (len(cols) - 2)
                out.append("| " + " | ".join(row) + " |")
                continue
            med = statistics.median(r.rates)
            ratio = f"{med / best_peer:.2f}" if best_peer else "-"
            if r.name == "swin-hub":
                ratio = f"**{ratio}**"
            mem = "n/a" if r.mem_mib is None else f"{r.mem_mib:.0f}"
            mfu = "?" if c.gflop is None else f"{100 * med * c.gflop / peak_gflops:.1f}"
            row = [r.name, f"{fmt(med)} ({fmt(min(r.rates))}-{fmt(max(r.rates))})", ratio, mem, gflop, mfu]
            if c.compiled:
                row.append("-" if r.first_call_s is None else f"{r.first_call_s:.1f}")
            if r.error:  # failed after some samples
                row[0] += f" (stopped: {r.error})"
            out.append("| " + " | ".join(row) + " |")
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def write_atomic(path: str, text: str) -> None:
    """Temp file + os.replace: a reader never sees a half-written report."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".perf-", suffix=".md")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be read
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def swin_hub_version() -> str:
    """Package version plus the git commit (and whether the tree is dirty): the models change often."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"{swin_hub.__version__} ({rev})" if rev else swin_hub.__version__


def csv(text: str, allowed=None) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if allowed is not None:
        bad = [s for s in items if s not in allowed]
        if bad:
            raise SystemExit(f"unknown {bad}; choose from {list(allowed)}")
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="swin_t,swin_b,vit_s16,vit_b16")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--impls", default="", help="keep implementations whose name contains one of these")
    ap.add_argument("--compile", default=",".join(COMPILES))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch", default="8", help="batch of infer8 and train8; a comma list runs each (128,256)")
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds each timed sample lasts at least")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--out", default=None, help="also write the markdown report here")
    args = ap.parse_args()

    fams = families()
    fam_names = csv(args.families, fams)
    modes = csv(args.modes, MODES)
    compiles = csv(args.compile, COMPILES)
    args.impls = csv(args.impls)
    try:
        batches = [int(b) for b in csv(args.batch)]
    except ValueError:
        raise SystemExit(f"--batch takes positive integers separated by commas, got {args.batch!r}") from None
    if not batches or min(batches) < 1:
        raise SystemExit(f"--batch takes positive integers separated by commas, got {args.batch!r}")
    device = torch.device(args.device)
    probe_dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    transformers.logging.set_verbosity_error()

    peak_start = matmul_peak_gflops(device, probe_dtype)
    n = probe_size(device)
    dev_name = cpu_name()
    if device.type == "cuda":
        dev_name = (f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}, TF32 matmul "
                    f"{'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}")

    def header(peak_end: float | None) -> list[str]:
        end = f"{peak_end:.0f}" if peak_end is not None else "(pending)"
        return [
            f"# swin-hub performance vs timm / transformers / torchvision ({datetime.datetime.now():%Y-%m-%d %H:%M})",
            "",
            f"- command: `python {' '.join(shlex.quote(a) for a in sys.argv)}`",
            f"- machine: {cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
            f"{platform.system()} {platform.release()}",
            f"- device: {device} ({dev_name}), dtype {args.dtype}"
            + (" (autocast)" if args.dtype == "bf16" else "") + (", channels_last" if args.channels_last else ""),
            f"- versions: swin-hub {swin_hub_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__}, "
            f"transformers {transformers.__version__}, python {platform.python_version()}",
            f"- matmul peak ({args.dtype} {n}x{n} @ {n}x{n}, median of 10): start {peak_start:.0f} GFLOP/s, "
            f"end {end} GFLOP/s; the max is the denominator of \"% matmul peak\"",
            f"- {args.reps} rounds, each sample >= {args.min_time} s, order rotated every round; "
            "random weights, no dropout / drop path, 224x224 (Swin V2: 256x256), 1000 classes",
        ]

    notes = [
        "vs fastest peer: median img/s / the best median among the implementations that are not swin-hub "
        "(bold on the swin-hub row: above 1 means swin-hub is faster).",
        "GFLOP/img: torch.utils.flop_counter.FlopCounterMode (2 FLOP per multiply-add) on the swin-hub model "
        "at batch 1, forward (train: forward + backward of the cross-entropy); every implementation of a family "
        "is the same network, so the one number is used for all of them.",
        "% matmul peak: img/s x FLOP/img / the measured matmul peak (on CUDA this is MFU against the "
        "matmul probe in the same dtype).",
    ]
    if device.type == "cuda":
        notes.append("peak MiB: torch.cuda.max_memory_allocated during one untimed step after warm-up, "
                     "minus the memory allocated before it (params, optimizer state, input).")
    else:
        notes.append("peak MiB: torch.distributed._tools.mem_tracker.MemTracker over one untimed step after "
                     "warm-up (a dispatch mode that follows every tensor storage created and released), peak "
                     "minus what existed before the step (params, optimizer state, input). Scratch buffers "
                     "inside a single kernel (e.g. a fused attention's workspace) are not seen.")
        if "compiled" in compiles:
            notes.append("peak MiB is n/a for compiled rows on CPU: CPU has no allocator statistics, inductor's "
                         "generated code allocates its buffers where no dispatch mode sees them, and with the "
                         "tracker active the compiled module reported exactly the eager number (it does not run "
                         "the compiled graph as timed).")
    if "compiled" in compiles:
        notes.append("compile s: the first call of torch.compile(model) (default settings), i.e. "
                     "compilation plus one step; torch._dynamo is reset between cases, but inductor's on-disk "
                     "cache survives across runs (TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 for cold numbers).")

    # FLOPs are counted once per family and mode kind, on CPU in fp32 (the count is dtype-free)
    flops: dict[tuple[str, bool], float | None] = {}
    cases_todo = [(f, m, c, b) for f in fam_names for m in modes for c in compiles
                  for b in ([1] if m == "infer1" else batches)]
    done: list[Case] = []
    bar = tqdm(cases_todo, desc="cases", file=sys.stderr)
    for family, mode, comp, batch in bar:
        fam = fams[family]
        train = mode.startswith("train")
        if (family, train) not in flops:
            bar.set_postfix_str(f"{family}: counting FLOPs")
            try:
                flops[family, train] = count_gflop_per_image(fam.impls["swin-hub"], train, fam.img)
            except Exception as e:
                flops[family, train] = None
                notes.append(f"{fam.title}: FLOP count failed ({short_error(e)}).")
        case = run_case(fam, family, mode, batch, comp == "compiled", args, device, flops[family, train], bar)
        for r in case.runners:
            if r.refused:
                note = f"{fam.title}: {r.name} could not be built ({r.error}), so it has no row."
                if note not in notes:
                    notes.append(note)
        done.append(case)
        gc.collect()
        torch._dynamo.reset()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if args.out:
            write_atomic(args.out, render(header(None), done, peak_start, notes, fams))
    bar.close()

    peak_end = matmul_peak_gflops(device, probe_dtype)
    report = render(header(peak_end), done, max(peak_start, peak_end), notes, fams)
    print(report)
    if args.out:
        write_atomic(args.out, report)


if __name__ == "__main__":
    main()
