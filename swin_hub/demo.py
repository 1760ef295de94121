"""Offline end-to-end showcase: official checkpoints -> swin-hub models -> predictions + parity."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from .convert import swin as swin_convert
from .convert import vit as vit_convert
from .models import SwinTransformer, VisionTransformer

BUNDLED = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def _report(name: str, model: torch.nn.Module, fixture: Path) -> float:
    data = load_file(fixture)
    model.eval()
    with torch.no_grad():
        logits = model(data["pixel_values"])
    diff = (logits - data["logits"]).abs().max().item()
    top = logits.softmax(-1).topk(3)
    print(f"\n{name}: {sum(p.numel() for p in model.parameters()):,} params, input {tuple(data['pixel_values'].shape)}")
    for i, (p, c) in enumerate(zip(top.values, top.indices)):
        print(f"  image {i}: top-3 classes {c.tolist()} probs {[round(v, 3) for v in p.tolist()]}")
    verdict = "OK" if diff <= 1e-4 else "MISMATCH"
    print(f"  max |logit - official logit| = {diff:.2e}  [{verdict}, tolerance 1e-4]")
    return diff


def run_demo(fixtures: str | None = None) -> None:
    root = Path(fixtures) if fixtures else BUNDLED
    swin_ckpt, vit_npz = root / "swin_official_tiny.pth", root / "vit_official_tiny.npz"
    for f in (swin_ckpt, vit_npz):
        if not f.is_file():
            raise SystemExit(f"swin-hub demo: fixture {f} not found (pass --fixtures DIR)")

    raw = torch.load(swin_ckpt, map_location="cpu", weights_only=True)
    sd, fmt = swin_convert.to_swin_hub(raw)
    swin = SwinTransformer(swin_convert.infer_config(sd, drop_path_rate=0.0))
    swin.load_state_dict(sd, strict=True)
    print(f"official Microsoft Swin checkpoint ({fmt} layout): {swin_ckpt.name}")
    diffs = [_report("Swin (official Microsoft weights)", swin, root / "swin_official_tiny.safetensors")]

    npz = vit_convert.load_npz(vit_npz)
    vit = VisionTransformer(vit_convert.infer_config_npz(npz))
    vit.load_state_dict(vit_convert.npz_to_swin_hub(npz), strict=True)
    print(f"\nofficial Google ViT checkpoint: {vit_npz.name}")
    diffs.append(_report("ViT (official Google weights, tanh GELU)", vit, root / "vit_official_tiny.safetensors"))

    if max(diffs) > 1e-4:
        raise SystemExit("swin-hub demo: parity with the official logits FAILED")
    print("\nBoth models reproduce the official implementations' logits within 1e-4.")
    print("Registered timm models (`import swin_hub; timm.create_model(name)`):\n")
    from .cli import main

    main(["models"])
