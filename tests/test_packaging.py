"""The package as users install it: the layers import one way (models <- convert <- {timm, hf}
<- hub <- {train, cli}), the pure models import with torch alone, and a wheel built from this
tree, installed in a fresh virtualenv and run from another folder, converts, trains and runs
the demo like the checkout does."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "swin_hub"

# what each part may import: only parts of a lower layer, and its own modules without a cycle
LAYERS = {
    "swin_hub.models": 0,
    "swin_hub.metrics": 0,
    "swin_hub.convert": 1,
    "swin_hub.timm": 2,
    "swin_hub.hf": 2,
    "swin_hub.hub": 3,
    "swin_hub.train": 4,
    "swin_hub.demo": 5,  # runs training, and the CLI runs it
    "swin_hub.cli": 6,
    "swin_hub": 7,  # the package's front: imports the parts, imported by none of them
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def part(module: str) -> str:
    return max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """swin_hub modules that `module` imports anywhere in its file (inside functions too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from pkg import name` imports the submodule pkg.name when there is one
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {name for name in found if name == "swin_hub" or name.startswith("swin_hub.")}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) - {name} for name, path in known.items()}


def test_every_import_points_to_a_lower_layer():
    wrong = []
    for module, targets in import_graph().items():
        for target in targets:
            own, other = part(module), part(target)
            if own != other and LAYERS[other] >= LAYERS[own]:
                wrong.append(f"{module} imports {target} ({own} may import only layers below it)")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, str] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_layer_map_covers_every_module():
    assert all(part(m) in LAYERS for m in modules())
    assert {"swin_hub.models.swin", "swin_hub.convert.checkpoint", "swin_hub.hub.repo"} <= set(modules())


# libraries the pure models must not need, made uninstalled: `None` in sys.modules is what
# Python's import and importlib.util.find_spec answer "no such module" from
BLOCKED = ("timm", "transformers", "huggingface_hub", "safetensors", "accelerate", "datasets", "evaluate",
           "einops", "PIL", "sklearn", "matplotlib", "tqdm", "tensorboard", "torchvision")
TORCH_ALONE = textwrap.dedent(f"""
    import sys

    for name in {BLOCKED!r}:
        sys.modules[name] = None
    import torch
    import swin_hub.models
    from swin_hub.models import SwinConfig, SwinTransformer, ViTConfig, VisionTransformer

    swin = SwinTransformer(SwinConfig(img_size=32, patch_size=4, embed_dim=16, depths=(1, 1), num_heads=(1, 2),
                                      window_size=4, num_classes=3))
    vit = VisionTransformer(ViTConfig(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=3))
    x = torch.randn(2, 3, 32, 32)
    assert swin(x).shape == vit(x).shape == (2, 3)
    import swin_hub
    assert not hasattr(swin_hub, "ScratchSwinConfig")  # the transformers front door stays shut
    loaded = sorted(m for m, module in sys.modules.items() if module is not None and m.split(".")[0] in {BLOCKED!r})
    assert not loaded, loaded
    print("torch alone: ok")
""")


def test_pure_models_import_and_run_with_torch_alone():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", TORCH_ALONE], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch alone: ok" in result.stdout


def test_import_swin_hub_registers_the_timm_models_and_the_auto_classes():
    import timm
    from transformers import AutoConfig

    import swin_hub

    assert "scratch_swin_t" in timm.list_models("scratch_*")
    assert type(AutoConfig.for_model("scratch_swin")) is swin_hub.ScratchSwinConfig
