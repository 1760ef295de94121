"""The package as users install it: the layers import one way (models <- convert <- {timm, hf}
<- hub <- {train, cli}), the pure models import with torch alone, and a wheel built from this
tree, installed in a fresh virtualenv and run from another folder, converts, trains and runs
the demo like the checkout does."""

from __future__ import annotations

import ast
import json
import os
import shutil
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


# --- the wheel, installed in a fresh virtualenv and run from another folder ----------------------

TINY_SWIN = {"img_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2], "window_size": 4,
             "drop_path_rate": 0.0}


def clean_env() -> dict:
    """This environment without what would put the checkout on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


class Installed:
    """A fresh virtualenv holding only the built wheel; the dependencies come from this
    interpreter's site-packages through a path line in a `.pth` file. Python does not read the
    `.pth` files of a folder added that way, so the checkout's editable install stays out."""

    def __init__(self, root: Path):
        self.root = root
        self.elsewhere = root / "elsewhere"  # neither the checkout nor the venv
        self.elsewhere.mkdir()
        self.wheel = self._build(root / "dist")
        self.venv = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], env=clean_env(), check=True)
        self.python = self.venv / "bin" / "python"
        subprocess.run([str(self.python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                        "--disable-pip-version-check", str(self.wheel)], env=clean_env(), check=True)
        # after the install: pip must not see the editable swin-hub as an installed version
        self.site = Path(self.run_python("import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
        ours = sysconfig.get_paths()
        (self.site / "_dependencies.pth").write_text("".join(f"{p}\n" for p in dict.fromkeys((ours["purelib"], ours["platlib"]))))

    @staticmethod
    def _build(dist: Path) -> Path:
        """`pip wheel` of a copy of the sources (a build in the checkout would leave build/ there)."""
        src = dist.parent / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(PACKAGE, src / "swin_hub", ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
                        "--wheel-dir", str(dist), str(src)], env=clean_env(), check=True)
        (wheel,) = dist.glob("swin_hub-*.whl")
        return wheel

    def run(self, *command: str) -> subprocess.CompletedProcess:
        result = subprocess.run(command, cwd=self.elsewhere, env=clean_env(), capture_output=True, text=True, timeout=300,
                                preexec_fn=lambda: os.umask(0o022))
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        return result

    def run_python(self, code: str) -> str:
        return self.run(str(self.python), "-c", code).stdout

    def swin_hub(self, *args: str) -> str:
        return self.run(str(self.venv / "bin" / "swin-hub"), *args).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    return Installed(tmp_path_factory.mktemp("wheel"))


def modes(folder: Path, skip: str | None = None) -> set[tuple[str, str]]:
    """('dir' | 'file', octal mode) of the folder and everything in it, but the subfolder `skip`."""
    paths = [folder, *(p for p in folder.rglob("*") if skip is None or skip not in p.relative_to(folder).parts)]
    return {("dir" if p.is_dir() else "file", oct(p.stat().st_mode & 0o777)) for p in paths}


@pytest.mark.wheel
def test_the_wheel_holds_the_package_and_its_data_and_no_conversion_scripts(installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"swin_hub", "swin_hub-0.1.0.dist-info"}
    assert {"swin_hub/hub/model_cards/converted.md", "swin_hub/hub/model_cards/finetuned.md",
            "swin_hub/data/swin_official_tiny.pth", "swin_hub/data/vit_official_tiny.npz",
            "swin_hub/metrics/accuracy/accuracy.py"} <= set(names)
    assert installed.wheel.stat().st_size < 12 * 2**20


@pytest.mark.wheel
def test_the_installed_package_is_the_wheels_not_the_checkouts(installed):
    code = ("import importlib.util, sys, swin_hub; print(swin_hub.__file__); print(importlib.util.find_spec('conversion'));"
            "print([type(f).__module__ for f in sys.meta_path])")
    location, conversion, finders = installed.run_python(code).splitlines()
    assert Path(location).is_relative_to(installed.site), location
    assert conversion == "None"  # no top-level `conversion` package in site-packages
    assert "editable" not in finders, finders


@pytest.mark.wheel
def test_installed_demo_checks_the_shipped_official_fixtures(installed):
    out = installed.swin_hub("demo", "--epochs", "0")
    assert "Both models reproduce the official implementations' logits within 1e-4." in out


@pytest.mark.wheel
def test_installed_convert_writes_a_carded_repo_with_normal_permissions(installed):
    official = installed.site / "swin_hub" / "data" / "swin_official_tiny.pth"
    out = installed.elsewhere / "converted"
    installed.swin_hub("convert", str(official), str(out))
    assert "## " in (out / "README.md").read_text() and (out / "conversion_report.json").is_file()
    assert modes(out) == {("dir", "0o755"), ("file", "0o644")}


@pytest.mark.wheel
def test_installed_train_writes_a_carded_model_with_normal_permissions(installed):
    out = installed.elsewhere / "trained"
    installed.swin_hub("train", "--model_name_or_path", "scratch_swin_t", "--model_kwargs", json.dumps(TINY_SWIN),
                       "--output_dir", str(out), "--max_train_samples", "64", "--max_eval_samples", "32",
                       "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "16",
                       "--num_train_epochs", "1", "--hflip", "0")
    assert (out / "README.md").is_file() and (out / "model.safetensors").is_file()
    # checkpoints/ is accelerate's save_state, written by swin_hub.train
    assert modes(out) == {("dir", "0o755"), ("file", "0o644")}
