"""Fine-tuning: outputs a user can load, exact resume after a kill or Ctrl-C (drop path on, as
users get it), checkpoint rotation, one-line errors, and two processes that train one model
(accelerate launch on the CPU, gloo)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageClassification

import swin_hub  # noqa: F401  (registers the scratch_* models)
from swin_hub.train import loop
from swin_hub.train.args import parse_args
from swin_hub.train.loop import latest_checkpoint, train

ROOT = Path(__file__).parents[1]
# drop path stays at the model's default (on): resume must be exact with it
TINY_SWIN = {"img_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2], "window_size": 4}
TINY_VIT = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 1, "num_heads": 2}


def tiny_args(output_dir: Path, *extra: str, model: str = "scratch_swin_t", kwargs: dict = TINY_SWIN) -> list[str]:
    return ["--model_name_or_path", model, "--model_kwargs", json.dumps(kwargs), "--output_dir", str(output_dir),
            "--max_train_samples", "96", "--max_eval_samples", "50", "--per_device_train_batch_size", "16",
            "--per_device_eval_batch_size", "16", "--learning_rate", "3e-3", "--hflip", "0", "--crop_scale_min", "0.6",
            *extra]


def run_cli(args: list[str], *, launcher: list[str] | None = None, **kwargs) -> subprocess.Popen:
    command = (launcher or [sys.executable, "-m", "swin_hub.train"]) + args
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run") / "out"
    results = train(parse_args(tiny_args(out, "--num_train_epochs", "2", "--seed", "0")))
    return out, results


def test_outputs_hold_best_model_last_model_metrics_history_and_plots(trained):
    out, results = trained
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "all_results.json", "history.json",
                 "training_args.json", "training_curves.png", "confusion_matrix.png", "roc_curves.png"):
        assert (out / name).is_file(), name
    assert (out / "last" / "model.safetensors").is_file()
    assert latest_checkpoint(out) is not None
    saved = json.loads((out / "all_results.json").read_text())
    for key in ("eval_accuracy", "eval_top5_accuracy", "eval_precision_macro", "eval_recall_macro", "eval_f1_macro",
                "eval_precision_weighted", "eval_recall_weighted", "eval_f1_weighted", "eval_roc_auc"):
        assert key in saved and saved[key] == results[key]
    assert saved["eval_samples"] == 50
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert max(h["eval_accuracy"] for h in history) == pytest.approx(saved["eval_accuracy"])


def test_best_model_loads_in_timm_and_transformers_with_digit_labels(trained):
    out, results = trained
    timm_model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    hf_model = AutoModelForImageClassification.from_pretrained(out).eval()
    assert hf_model.config.id2label == {i: str(i) for i in range(10)}
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (timm_model(x) - hf_model(x).logits).abs().max().item() <= 1e-5


def test_training_learns_something(trained):
    """Two epochs on 96 digits: the loss must go down (a broken loop keeps it flat)."""
    history = json.loads((trained[0] / "history.json").read_text())
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_throughput_is_recorded_per_epoch_and_for_the_run(trained):
    """Images per second of the training steps alone: higher than the epoch's images over its
    wall time, which also holds evaluation and the checkpoint."""
    out, results = trained
    history = json.loads((out / "history.json").read_text())
    per_epoch = [h["train_samples_per_second"] for h in history]
    assert per_epoch[0] > 96 / history[0]["seconds"]
    overall = json.loads((out / "all_results.json").read_text())["train_samples_per_second"]
    assert overall == results["train_samples_per_second"]
    assert min(per_epoch) * 0.99 <= overall <= max(per_epoch) * 1.01


def test_step_clock_synchronises_cuda_before_reading_the_time(monkeypatch):
    from swin_hub.train.loop import StepClock

    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    clock = StepClock(torch.device("cuda"))
    clock.start()
    clock.stop()
    assert len(calls) == 2 and clock.seconds > 0
    StepClock(torch.device("cpu")).start()
    assert len(calls) == 2


def test_output_dir_in_use_is_refused_without_resume_or_overwrite(trained):
    with pytest.raises(FileExistsError, match="resume_from_checkpoint latest"):
        train(parse_args(tiny_args(trained[0], "--num_train_epochs", "1")))


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = load_file(a), load_file(b)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def train_losses(output_dir: Path) -> list[float]:
    return [h["train_loss"] for h in json.loads((output_dir / "history.json").read_text())]


# 3 epochs of 6 steps, with the randomness users get: drop path (model default), mixup, random
# erasing; and an EMA of the weights (saved in the checkpoint, and what last/ holds)
RESUMED = ("--num_train_epochs", "3", "--seed", "7", "--mixup", "0.5", "--random_erasing", "0.25", "--ema_decay", "0.9")


@pytest.fixture(scope="module")
def straight_in_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "out"
    train(parse_args(tiny_args(out, *RESUMED, "--checkpointing_steps", "no")))
    return out


@pytest.mark.parametrize("checkpointing, stop_at", [("2", "step_4"), ("epoch", "step_6")], ids=["mid-epoch", "between-epochs"])
def test_resume_repeats_the_uninterrupted_run_exactly(tmp_path, monkeypatch, straight_in_process, checkpointing, stop_at):
    """Weights and every epoch's train_loss equal to the run without interruption (the resumed
    epoch's loss counts the batches before the checkpoint too)."""
    save = loop.save_checkpoint

    def save_then_interrupt(*args, **kwargs):
        path = save(*args, **kwargs)
        if path.name == stop_at:
            raise KeyboardInterrupt
        return path

    argv = tiny_args(tmp_path / "out", *RESUMED, "--checkpointing_steps", checkpointing)
    monkeypatch.setattr(loop, "save_checkpoint", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(parse_args(argv))
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path / "out").name == stop_at
    train(parse_args(argv + ["--resume_from_checkpoint", "latest"]))
    assert_same_weights(straight_in_process / "last" / "model.safetensors", tmp_path / "out" / "last" / "model.safetensors")
    assert train_losses(tmp_path / "out") == train_losses(straight_in_process)


@pytest.fixture(scope="module")
def straight_cli(tmp_path_factory) -> tuple[Path, str]:
    """An uninterrupted run from the command line, and its console output (a pipe, not a terminal)."""
    out = tmp_path_factory.mktemp("straight_cli") / "out"
    proc = run_cli(tiny_args(out, *RESUMED))
    log = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, log[-3000:]
    return out, log


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not path.is_dir():
        time.sleep(0.05)
    assert path.is_dir(), f"{path} never appeared"


def test_resume_after_sigkill_gives_the_weights_of_an_uninterrupted_run(tmp_path, straight_cli):
    straight, _ = straight_cli
    out = tmp_path / "killed"
    interrupted = run_cli(tiny_args(out, *RESUMED, "--checkpointing_steps", "2"))
    wait_for(out / "checkpoints" / "step_8", interrupted)
    interrupted.send_signal(signal.SIGKILL)  # mid-epoch 1 (6 steps per epoch), no chance to clean up
    interrupted.wait()
    resumed = run_cli(tiny_args(out, *RESUMED, "--checkpointing_steps", "2", "--resume_from_checkpoint", "latest"))
    log = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, log[-3000:]
    assert "resumed from" in log
    assert_same_weights(straight / "last" / "model.safetensors", out / "last" / "model.safetensors")
    assert train_losses(out) == train_losses(straight)


def test_ctrl_c_stops_cleanly_and_prints_the_command_that_resumes(tmp_path, straight_cli):
    straight, _ = straight_cli
    out = tmp_path / "stopped"
    proc = run_cli(tiny_args(out, *RESUMED, "--checkpointing_steps", "2"))
    wait_for(out / "checkpoints" / "step_4", proc)
    proc.send_signal(signal.SIGINT)
    log = proc.communicate(timeout=600)[0]
    assert proc.returncode == 130, log[-3000:]
    assert "Traceback" not in log
    command = next(line.strip() for line in log.splitlines() if line.strip().startswith("swin-hub train "))
    assert command.endswith("--resume_from_checkpoint latest")
    assert str(latest_checkpoint(out)) in log  # the checkpoint it names is complete and loadable
    resumed = run_cli(shlex.split(command)[2:])  # the printed command, through this interpreter
    resumed_log = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, resumed_log[-3000:]
    assert_same_weights(straight / "last" / "model.safetensors", out / "last" / "model.safetensors")


def test_console_is_quiet_and_free_of_escape_codes_in_a_log_file(straight_cli):
    """No progress bars (escape codes) and no library INFO lines without a terminal; one line
    per epoch from swin-hub."""
    _, log = straight_cli
    assert "\x1b" not in log and "\r" not in log
    assert "Writing model shards" not in log
    assert not [line for line in log.splitlines() if " INFO " in line and "swin_hub" not in line], log
    assert sum(" epoch " in line for line in log.splitlines()) == 3


def test_resume_latest_on_a_finished_run_changes_nothing(trained, caplog):
    out, results = trained
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    again = loop.main(tiny_args(out, "--num_train_epochs", "2", "--seed", "0", "--resume_from_checkpoint", "latest"))
    assert again == 0
    assert "finished run" in caplog.text
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_checkpoints_are_rotated_keeping_the_newest(tmp_path):
    train(parse_args(tiny_args(tmp_path / "out", "--num_train_epochs", "1", "--checkpointing_steps", "1",
                               "--max_train_samples", "64", "--max_eval_samples", "16", "--checkpoints_total_limit", "2")))
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == ["step_3", "step_4"]


def test_rotation_keeps_the_checkpoint_resumed_from_until_a_newer_one_is_complete(tmp_path):
    folder = tmp_path / "checkpoints"
    for step in (2, 4, 6):
        (folder / f"step_{step}").mkdir(parents=True)
        (folder / f"step_{step}" / "trainer_state.json").write_text("{}")
    (folder / "step_8").mkdir()  # no state file: incomplete, never resumed from, not counted
    (folder / ".step_10.tmp").mkdir()  # left by a killed save
    loop.rotate_checkpoints(tmp_path, 1)
    assert sorted(p.name for p in folder.iterdir()) == ["step_6", "step_8"]


def test_loader_workers_give_the_weights_of_a_run_without_them(tmp_path):
    """Persistent workers augment each epoch as the main process would (per-sample seeds)."""
    common = ("--num_train_epochs", "2", "--max_train_samples", "32", "--max_eval_samples", "16")
    for workers in ("0", "2"):
        train(parse_args(tiny_args(tmp_path / workers, *common, "--num_workers", workers)))
    a = load_file(tmp_path / "0" / "last" / "model.safetensors")
    b = load_file(tmp_path / "2" / "last" / "model.safetensors")
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_torch_compile_trains_saves_the_keys_of_an_eager_run_and_resumes(tmp_path):
    kwargs = {**TINY_SWIN, "depths": [1], "num_heads": [1]}  # one block: a compile of seconds, not minutes, on a CPU
    common = ("--num_train_epochs", "1", "--max_train_samples", "32", "--max_eval_samples", "16")
    train(parse_args(tiny_args(tmp_path / "eager", *common, kwargs=kwargs)))
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    train(parse_args(tiny_args(tmp_path / "compiled", *common, "--torch_compile", kwargs=kwargs)))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0
    assert json.loads((tmp_path / "compiled" / "training_args.json").read_text())["torch_compile"] is True
    for weights in ("model.safetensors", "last/model.safetensors", "checkpoints/step_2/model.safetensors"):
        assert load_file(tmp_path / "compiled" / weights).keys() == load_file(tmp_path / "eager" / weights).keys(), weights
    timm.create_model(f"local-dir:{tmp_path / 'compiled'}", pretrained=True)
    resumed = train(parse_args(tiny_args(tmp_path / "compiled", *common, "--torch-compile", "--num_train_epochs", "2",
                                         "--resume_from_checkpoint", "latest", kwargs=kwargs)))
    assert resumed["epochs"] == 2


def test_latest_checkpoint_ignores_a_half_written_one(tmp_path):
    (tmp_path / "checkpoints" / "step_4").mkdir(parents=True)
    (tmp_path / "checkpoints" / "step_4" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoints" / ".step_6.tmp").mkdir()  # a save killed before its rename
    (tmp_path / "checkpoints" / "step_8").mkdir()  # no state file: not complete
    assert latest_checkpoint(tmp_path).name == "step_4"


def test_two_processes_train_one_model_and_evaluate_every_image_once(tmp_path):
    """accelerate launch --multi_gpu on the CPU (gloo): identical weights on both ranks, and
    the 49 validation images (odd: the sampler pads one rank) counted once each."""
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "swin_hub.train"]
    args = tiny_args(tmp_path / "ddp", "--num_train_epochs", "1", "--max_eval_samples", "49",
                     "--per_device_eval_batch_size", "8")
    proc = run_cli(args, launcher=launcher)
    log = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, log[-4000:]
    results = json.loads((tmp_path / "ddp" / "all_results.json").read_text())
    assert results["num_processes"] == 2
    assert results["eval_samples"] == 49
    assert sum(sum(row) for row in results["eval_confusion_matrix"]) == 49
    first, second = results["process_weight_checksums"]
    assert first == second


@pytest.mark.parametrize(
    "extra",
    [
        ("--optimizer", "sgd", "--lr_scheduler_type", "step", "--lr_step_epochs", "1"),
        ("--optimizer", "radam", "--layer_decay", "0.75", "--num_warmup_steps", "2"),
        ("--mixup", "0.8", "--cutmix", "1.0", "--label_smoothing", "0.1"),
        ("--ema_decay", "0.9", "--swa_start_epoch", "0", "--early_stopping_patience", "1"),
        ("--gradient_accumulation_steps", "2", "--gradient_checkpointing", "--auto_augment", "rand-m9-mstd0.5"),
        ("--freeze_backbone",),
        ("--auto_augment", "trivial", "--with_tracking", "--lr_scheduler_type", "linear"),
    ],
    ids=["sgd-step", "radam-layer-decay", "mixup-cutmix-smoothing", "ema-swa-early-stop", "accum-ckpt-randaug", "freeze", "trivial-tracking"],
)
def test_training_options_run_and_save_a_loadable_model(tmp_path, extra):
    results = train(parse_args(tiny_args(tmp_path / "out", "--num_train_epochs", "2", *extra)))
    assert 0.0 <= results["eval_accuracy"] <= 1.0
    timm.create_model(f"local-dir:{tmp_path / 'out'}", pretrained=True)
    if "--with_tracking" in extra:  # tensorboard event files through Accelerate's tracker
        assert list((tmp_path / "out" / "runs").rglob("events.out.tfevents.*"))


def test_weight_decay_skips_norms_biases_and_position_tables():
    from timm.optim import create_optimizer_v2

    model = timm.create_model("scratch_swin_t", num_classes=10, **{**TINY_SWIN, "ape": True})
    optimizer = create_optimizer_v2(model, opt="adamw", lr=1e-3, weight_decay=0.05)  # what train() calls
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed and all(n.endswith("weight") and "norm" not in n for n in decayed)
    assert not any("relative_position_bias_table" in n or "absolute_pos_embed" in n for n in decayed)
    assert "layers.0.blocks.0.attn.qkv.weight" in decayed


def test_freeze_backbone_changes_only_the_head(tmp_path):
    from accelerate.utils import set_seed

    train(parse_args(tiny_args(tmp_path / "out", "--num_train_epochs", "1", "--freeze_backbone", "--seed", "3")))
    trained = timm.create_model(f"local-dir:{tmp_path / 'out' / 'last'}", pretrained=True).state_dict()
    set_seed(3)  # what train() does before building the model: the same initial weights
    initial = timm.create_model("scratch_swin_t", num_classes=10, **TINY_SWIN).state_dict()
    changed = sorted(k for k in initial if not torch.equal(initial[k], trained[k]))
    assert changed == ["head.bias", "head.weight"]


def test_vit_trains_too(tmp_path):
    results = train(parse_args(tiny_args(tmp_path / "out", "--num_train_epochs", "1", model="scratch_vit_s", kwargs=TINY_VIT)))
    assert results["epochs"] == 1
    assert json.loads((tmp_path / "out" / "config.json").read_text())["model_type"] == "scratch_vit"


def test_evaluate_command_scores_the_split_training_made(trained, tmp_path):
    """Seed (0 here, not the default 42) and caps come from the model's training_args.json: the
    same 50 images, the same confusion matrix."""
    from swin_hub.cli import main

    out, results = trained
    metrics_file = tmp_path / "eval.json"
    main(["evaluate", str(out), "digits", "--output", str(metrics_file)])
    metrics = json.loads(metrics_file.read_text())
    assert metrics["eval_samples"] == 50
    assert metrics["eval_confusion_matrix"] == results["eval_confusion_matrix"]
    assert metrics["eval_accuracy"] == pytest.approx(results["eval_accuracy"])


def test_training_args_record_every_setting_including_zeros_and_the_augmentation(trained):
    recorded = json.loads((trained[0] / "training_args.json").read_text())
    assert recorded["seed"] == 0 and recorded["mixup"] == 0.0 and recorded["hflip"] == 0.0
    assert recorded["crop_scale_min"] == 0.6 and recorded["random_erasing"] == 0.0
    assert any("RandomResizedCrop" in step and "0.6" in step for step in recorded["train_transform"])
    assert recorded["hub_token"] is None


def error_of(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = loop.main(argv)
    except SystemExit as e:  # argparse, at parse time
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    return code, err.strip()


def image_tree(root: Path, counts: dict[str, int]) -> Path:
    import PIL.Image

    for c, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for i in range(n):
            PIL.Image.new("RGB", (36, 36), (80 * c % 256, 40 * i % 256, 200)).save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize("flag, value, expected", [
    ("--learning_rate", "-1", "expected > 0"),
    ("--per_device_train_batch_size", "0", "expected >= 1"),
    ("--num_train_epochs", "-3", "expected >= 1"),
    ("--metric_for_best_model", "f2", "invalid choice"),
])
def test_bad_flags_fail_at_parse_time_in_one_line(tmp_path, capsys, flag, value, expected):
    code, err = error_of(capsys, tiny_args(tmp_path / "out", flag, value))
    assert code == 2 and flag in err and expected in err
    assert not (tmp_path / "out").exists()


def test_bad_input_ends_in_one_line_naming_the_problem(tmp_path, capsys):
    missing = tmp_path / "missing"
    code, err = error_of(capsys, tiny_args(tmp_path / "a", "--train_dir", str(missing)))
    assert code == 2 and f"--train_dir {missing}: not a folder" in err

    code, err = error_of(capsys, tiny_args(tmp_path / "a", "--train_dir", str(missing), model="scratch_nonsense"))
    assert code == 2 and "scratch_nonsense" in err  # the model is checked before the data

    code, err = error_of(capsys, tiny_args(tmp_path / "a", kwargs={**TINY_SWIN, "num_heads": [1]}))
    assert code == 2 and "--model_kwargs" in err and "num_heads" in err

    lonely = image_tree(tmp_path / "lonely", {"cat": 3})
    code, err = error_of(capsys, tiny_args(tmp_path / "a", "--train_dir", str(lonely)))
    assert code == 2 and "one class ('cat')" in err

    broken = image_tree(tmp_path / "broken", {"cat": 3, "dog": 3})
    (broken / "dog" / "bad.png").write_text("not a png")
    code, err = error_of(capsys, tiny_args(tmp_path / "a", "--train_dir", str(broken)))
    assert code == 2 and str(broken / "dog" / "bad.png") in err and "--skip_corrupt_images" in err

    ghost = image_tree(tmp_path / "ghost", {"cat": 3, "dog": 3})
    (ghost / "emu").mkdir()
    code, err = error_of(capsys, tiny_args(tmp_path / "a", "--train_dir", str(ghost)))
    assert code == 2 and str(ghost / "emu") in err and "--skip_empty_classes" in err

    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    code, err = error_of(capsys, tiny_args(tmp_path / "used"))
    assert code == 2 and "not empty" in err and "--overwrite_output_dir" in err
    assert not (tmp_path / "a").exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(loop.DataError):
        loop.main(tiny_args(tmp_path / "a", "--train_dir", str(tmp_path / "missing"), "--debug"))


def test_empty_class_folder_skipped_by_flag_and_no_top5_for_three_classes(tmp_path):
    data = image_tree(tmp_path / "data", {"cat": 12, "dog": 12, "emu": 12})
    (data / "yak").mkdir()
    results = train(parse_args(tiny_args(tmp_path / "out", "--train_dir", str(data), "--skip_empty_classes",
                                         "--num_train_epochs", "1", "--train_val_split", "0.25")))
    assert results["num_classes"] == 3 and list(results["eval_per_class"]) == ["cat", "dog", "emu"]
    saved = json.loads((tmp_path / "out" / "all_results.json").read_text())
    assert "eval_top5_accuracy" not in saved  # 1.0 whatever the model, with 3 classes
    assert all("eval_top5_accuracy" not in h for h in json.loads((tmp_path / "out" / "history.json").read_text()))


def test_model_card_parses_back_with_the_run_metrics(trained):
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    out, results = trained
    card = ModelCard.load(out / "README.md")
    assert card.data.pipeline_tag == "image-classification" and {"timm", "transformers"} <= set(card.data.tags)
    _, evals = model_index_to_eval_results(card.data.to_dict()["model-index"])
    by_name = {e.metric_name: e.metric_value for e in evals}
    assert by_name["accuracy"] == pytest.approx(results["eval_accuracy"])
    assert by_name["F1 (macro)"] == pytest.approx(results["eval_f1_macro"])
    assert all(e.dataset_split == "validation" for e in evals)
    for plot in ("training_curves.png", "confusion_matrix.png"):
        assert f"]({plot})" in card.text
    assert card.text.count("\n| ") >= 10  # per-class rows for the 10 digits


def test_demo_runs_the_main_job_offline(tmp_path, capsys):
    from swin_hub.cli import main

    main(["demo", "--epochs", "1", "--output-dir", str(tmp_path / "demo")])
    printed = capsys.readouterr().out
    assert "reproduce the official implementations' logits" in printed and "=== report ===" in printed
    assert printed.count("digit ") >= 6  # predictions of the reloaded model
    for name in ("model.safetensors", "README.md", "all_results.json", "confusion_matrix.png"):
        assert (tmp_path / "demo" / name).is_file(), name


@pytest.fixture
def figures(monkeypatch) -> list:
    """The matplotlib figures the plot functions would save."""
    from swin_hub.train import plots

    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig) or path)
    return drawn


def test_roc_plot_gives_each_class_auc_and_the_macro_auc(figures, tmp_path):
    from sklearn.metrics import roc_auc_score

    from swin_hub.train.plots import roc_curves

    rng = np.random.default_rng(0)
    for classes in (4, 30):
        references = np.arange(600) % classes
        scores = rng.random((600, classes)) + np.eye(classes)[references] * rng.random(classes)[references, None]
        scores /= scores.sum(1, keepdims=True)
        roc_curves(tmp_path / "roc.png", scores, references, [f"c{i}" for i in range(classes)])
        ax = figures[-1].axes[0]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        per_class = [roc_auc_score(references == c, scores[:, c]) for c in range(classes)]
        assert f"macro AUC {np.mean(per_class):.3f}" in ax.get_title()
        if classes == 4:
            assert legend == [f"c{c} (AUC {per_class[c]:.3f})" for c in range(4)]
        else:  # the averages, then the five worst classes, worst first
            worst = np.argsort(per_class)[:5]
            assert legend[0].startswith("micro average") and legend[1].startswith("macro average")
            assert legend[2:] == [f"c{c} (AUC {per_class[c]:.3f})" for c in worst]


def test_training_curves_show_both_losses_integer_epochs_and_the_best_epoch(figures, tmp_path):
    from swin_hub.train.plots import curves

    history = [{"epoch": e, "train_loss": 2.0 - e / 10, "eval_loss": 2.1 - e / 20, "eval_accuracy": 0.5 + e / 20,
                "eval_f1_macro": 0.5 + e / 20} for e in range(3)]
    curves(tmp_path / "curves.png", history, best_epoch=2, metric="accuracy")
    loss, scores = figures[-1].axes
    assert [t.get_text() for t in loss.get_legend().get_texts()] == [
        "training loss", "validation loss", "best (epoch 2, accuracy 0.600)"]
    lines = {line.get_label(): line for line in scores.get_lines()}
    assert (lines["accuracy"].get_linestyle(), lines["accuracy"].get_marker()) != (
        lines["F1 (macro)"].get_linestyle(), lines["F1 (macro)"].get_marker())  # equal values stay visible
    figures[-1].canvas.draw()
    assert all(float(t).is_integer() for t in loss.get_xticks())
