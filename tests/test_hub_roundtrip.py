"""Publishing through the real huggingface_hub client to a local Hub server: one commit per
push, the pushed repo loads in timm and transformers (with and without swin_hub) in fresh
processes with empty caches, transient errors are retried, auth errors are one clear line,
and a failed push leaves the local folder and the remote repo as they were."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from swin_hub.train import train
from swin_hub.train.args import parse_args

from helpers import FIXTURES

ROOT = Path(__file__).parents[1]
TINY = {"img_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2], "window_size": 4,
        "drop_path_rate": 0.0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small fine-tuned model folder (digits) with its card, plots and metrics."""
    out = tmp_path_factory.mktemp("trained") / "out"
    train(parse_args(["--model_kwargs", json.dumps(TINY), "--output_dir", str(out), "--num_train_epochs", "1",
                      "--max_train_samples", "64", "--max_eval_samples", "40", "--per_device_train_batch_size", "16",
                      "--hflip", "0"]))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    import timm

    model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    with torch.no_grad():
        torch.save({"x": x, "logits": model(x)}, out.parent / "reference.pt")
    return out


def swin_hub_cli(server, args: list[str], cwd: Path, token=None, **kwargs):
    """`python -m swin_hub.cli ...` in a process whose huggingface_hub talks to the local server."""
    code = f"import sys; from swin_hub.cli import main; sys.argv = ['swin-hub'] + {args!r}; main()"
    return server.run_client(code, cwd=cwd, token=token if token is not None else server.token, **kwargs)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_push_is_one_commit_of_the_model_repo_without_training_state(hub_server, trained, tmp_path):
    proc = swin_hub_cli(hub_server, ["push", str(trained), "tester/digits-swin"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(hub_server.commits("tester/digits-swin")) == 2  # the repo's initial commit + ours
    files = hub_server.files("tester/digits-swin")
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "modeling_swin_hub.py",
                 "all_results.json", "training_args.json", "confusion_matrix.png", "training_curves.png"):
        assert name in files, name
    assert not any(p.startswith(("checkpoints/", "last/", "runs/")) for p in files)
    assert files["model.safetensors"] == (trained / "model.safetensors").read_bytes()
    assert not hub_server.internal_errors


def test_pushed_repo_loads_in_timm_transformers_and_pipeline_in_fresh_processes(hub_server, trained, tmp_path):
    assert swin_hub_cli(hub_server, ["push", str(trained), "tester/digits-swin"], cwd=tmp_path).returncode == 0
    reference = str(trained.parent / "reference.pt")
    check = f"""
        import torch
        ref = torch.load({reference!r})
        {{load}}
        with torch.no_grad():
            out = model(ref["x"])
            out = getattr(out, "logits", out)
        print("DIFF", (out - ref["logits"]).abs().max().item())
        """
    loads = {
        "timm": "import timm, swin_hub; model = timm.create_model('hf-hub:tester/digits-swin', pretrained=True).eval()",
        "transformers": "import swin_hub; from transformers import AutoModelForImageClassification as A; "
                        "model = A.from_pretrained('tester/digits-swin').eval()",
        "remote code": "import sys; sys.modules['swin_hub'] = None; from transformers import AutoModelForImageClassification as A; "
                       "model = A.from_pretrained('tester/digits-swin', trust_remote_code=True).eval()",
    }
    for name, load in loads.items():
        proc = hub_server.run_client(check.format(load=load), cwd=tmp_path, hf_home=tmp_path / f"home-{name.replace(' ', '-')}",
                                     timeout=300)
        assert proc.returncode == 0, (name, proc.stderr[-3000:])
        assert float(re.search(r"DIFF (\S+)", proc.stdout).group(1)) <= 1e-5, name
    proc = hub_server.run_client("""
        import swin_hub, numpy as np, PIL.Image
        from transformers import pipeline
        classify = pipeline("image-classification", model="tester/digits-swin")
        print("LABEL", classify(PIL.Image.fromarray(np.zeros((8, 8), np.uint8)))[0]["label"])
        """, cwd=tmp_path, hf_home=tmp_path / "home-pipeline", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"LABEL (\S+)", proc.stdout).group(1) in [str(i) for i in range(10)]


def test_card_on_the_hub_parses_and_its_timm_snippet_runs(hub_server, trained, tmp_path):
    assert swin_hub_cli(hub_server, ["push", str(trained), "tester/digits-swin"], cwd=tmp_path).returncode == 0
    card = hub_server.files("tester/digits-swin")["README.md"].decode()
    snippets = re.findall(r"```python\n(.*?)```", card, re.S)
    assert "ORG/NAME" in (trained / "README.md").read_text() and "ORG/NAME" not in card  # the push names the repo
    PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "image.jpg")  # what the snippets open
    timm_snippet = next(s for s in snippets if "timm.create_model" in s)
    proc = hub_server.run_client(timm_snippet + "\nprint('OK', tuple(output.shape))", cwd=tmp_path, timeout=300)  # as written
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK (1, 10)" in proc.stdout
    pipeline_snippet = next(s for s in snippets if "pipeline(" in s)
    proc = hub_server.run_client(  # as written: trust_remote_code, no swin_hub needed
        "import sys; sys.modules['swin_hub'] = None\n" + pipeline_snippet, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "'label'" in proc.stdout
    proc = hub_server.run_client("""
        from huggingface_hub import ModelCard
        from huggingface_hub.repocard_data import model_index_to_eval_results
        card = ModelCard.load("tester/digits-swin")
        _, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
        print("ACC", [r.metric_value for r in results if r.metric_type == "accuracy"][0])
        """, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads((trained / "all_results.json").read_text())
    assert float(re.search(r"ACC (\S+)", proc.stdout).group(1)) == pytest.approx(saved["eval_accuracy"])


def test_a_500_on_the_upload_is_retried(hub_server, trained, tmp_path):
    fault = hub_server.fail_next("POST", r"/commit/", status=500, times=1)
    proc = swin_hub_cli(hub_server, ["push", str(trained), "tester/retried"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert fault.hits == 1
    assert "model.safetensors" in hub_server.files("tester/retried")


def test_a_wrong_token_is_one_clear_line_and_changes_nothing(hub_server, trained, tmp_path):
    before = snapshot(trained)
    proc = swin_hub_cli(hub_server, ["push", str(trained), "tester/denied"], cwd=tmp_path, token="hf_not_a_token")
    assert proc.returncode == 2
    assert "invalid or missing token" in proc.stderr and "Traceback" not in proc.stderr
    assert not hub_server.repo_exists("tester/denied")
    assert snapshot(trained) == before


def test_no_write_permission_is_a_clear_error(hub_server, trained, tmp_path):
    proc = swin_hub_cli(hub_server, ["push", str(trained), "tester/readonly"], cwd=tmp_path, token=hub_server.read_token)
    assert proc.returncode == 2
    assert "may not write" in proc.stderr or "403" in proc.stderr


def test_a_failing_commit_leaves_no_half_commit_and_the_local_folder_intact(hub_server, trained, tmp_path):
    hub_server.seed("tester/stable", files={"keep.txt": b"v1"})
    head = hub_server.head("tester/stable")
    before = snapshot(trained)
    hub_server.fail_next("POST", r"/commit/", status=500, times=10)
    proc = swin_hub_cli(hub_server, ["push", str(trained), "tester/stable"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "is unchanged" in proc.stderr
    assert hub_server.head("tester/stable") == head
    assert set(hub_server.files("tester/stable")) <= {"keep.txt", ".gitattributes"}
    assert snapshot(trained) == before


def test_push_to_a_branch(hub_server, trained, tmp_path):
    proc = swin_hub_cli(hub_server, ["push", str(trained), "tester/branched", "--revision", "v1", "--private"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "model.safetensors" in hub_server.files("tester/branched", revision="v1")
    assert "model.safetensors" not in hub_server.files("tester/branched", revision="main")
    assert hub_server.is_private("tester/branched")


def test_convert_push_to_hub_publishes_the_converted_repo(hub_server, tmp_path):
    out = tmp_path / "swin"
    proc = swin_hub_cli(hub_server, ["convert", str(FIXTURES / "swin_official_tiny.pth"), str(out),
                                     "--push-to-hub", "tester/swin-official"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = hub_server.files("tester/swin-official")
    assert files["conversion_report.json"] == (out / "conversion_report.json").read_bytes()
    assert "hf-hub:tester/swin-official" in files["README.md"].decode()


def test_train_push_to_hub_publishes_the_best_model(hub_server, tmp_path):
    code = f"""
        import sys
        from swin_hub.train.loop import main
        sys.exit(main({["--model_kwargs", json.dumps(TINY), "--output_dir", str(tmp_path / "run"), "--num_train_epochs", "1",
                        "--max_train_samples", "48", "--max_eval_samples", "30", "--push_to_hub",
                        "--hub_model_id", "tester/trained-and-pushed"]!r}))
        """
    proc = hub_server.run_client(code, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = hub_server.files("tester/trained-and-pushed")
    assert files["model.safetensors"] == (tmp_path / "run" / "model.safetensors").read_bytes()
    assert "hf-hub:tester/trained-and-pushed" in files["README.md"].decode()


def test_python_is_the_one_running_the_tests():
    """The subprocesses above use sys.executable's environment (the package is installed there)."""
    assert Path(sys.executable).exists()


def test_pushing_a_folder_that_is_not_a_model_repo_is_refused_before_any_request(hub_server, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    proc = swin_hub_cli(hub_server, ["push", str(tmp_path / "notes"), "tester/notes"], cwd=tmp_path)
    assert proc.returncode == 2 and "not a swin-hub repo folder" in proc.stderr
    assert hub_server.count("POST", r"/api/repos/create") == 0
