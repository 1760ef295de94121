"""Specification of bad input at the boundaries (`swin-hub convert`, `swin-hub push`, timm's
`pretrained_cfg_overlay=dict(file=...)`, a foreign config.json): the command line prints ONE line
naming the problem and exits 2 (a traceback only with --debug); library calls raise one clear
exception type; nothing is half-written."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from transformers import SwinConfig as HFSwinConfig

from helpers import FIXTURES
import swin_hub  # noqa: F401  (registers the scratch_* models)
import swin_hub.cli
from swin_hub.hub import command
from swin_hub.convert.checkpoint import ConversionError, convert
from swin_hub.hub.repo import write_repo
from swin_hub.convert.common import SizeMismatchError
from swin_hub.hub import push as push_module
from swin_hub.hub.push import PushError, push_folder
from swin_hub.hub.repo import foreign_folder, save_repo

TINY = {"img_size": 32, "patch_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2], "window_size": 4}


def cli(*argv: str) -> int:
    """`swin-hub ...` in this process; the exit code (0 when main returns)."""
    try:
        swin_hub.cli.main(list(argv))
    except SystemExit as e:
        return e.code
    return 0


def one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.fixture
def npz_missing_a_key(tmp_path) -> Path:
    arrays = dict(np.load(FIXTURES / "vit_official_tiny.npz"))
    del arrays["Transformer/encoderblock_1/MlpBlock_3/Dense_0/bias"]
    np.savez(tmp_path / "missing.npz", **arrays)
    return tmp_path / "missing.npz"


@pytest.fixture
def pth_with_a_wrong_shape(tmp_path) -> Path:
    checkpoint = torch.load(FIXTURES / "swin_official_tiny.pth", weights_only=True)
    checkpoint["model"]["layers.0.blocks.1.mlp.fc1.weight"] = torch.zeros(95, 24)  # (96, 24) in the file's model
    torch.save(checkpoint, tmp_path / "wrong.pth")
    return tmp_path / "wrong.pth"


@pytest.fixture
def read_only_dir(tmp_path, monkeypatch) -> Path:
    """A folder this process may not write in. As root, permissions do not stop a write, so the
    kernel's refusal is simulated where every write starts: creating a folder in it."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real_mkdir = os.mkdir

        def mkdir(path, *args, **kwargs):
            if Path(path).absolute().is_relative_to(folder):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
    yield folder
    folder.chmod(0o755)


@pytest.fixture
def never_converts(monkeypatch):
    """Fails the test if the conversion (reading, parity check) starts."""
    def fail(*args, **kwargs):
        raise AssertionError("the conversion ran before the output location was checked")

    monkeypatch.setattr(command, "convert", fail)


# 1. convert: a broken source is one line naming the file and the tensor ------------------------------
def test_npz_missing_a_key_is_a_conversion_error_naming_the_key(npz_missing_a_key):
    with pytest.raises(ConversionError, match=r"missing\.npz.*'Transformer/encoderblock_1/MlpBlock_3/Dense_0/bias' is missing"):
        convert(npz_missing_a_key)


def test_cli_npz_missing_a_key_is_one_line_and_exit_2(npz_missing_a_key, tmp_path, capsys):
    assert cli("convert", str(npz_missing_a_key), str(tmp_path / "out")) == 2
    line = one_line(capsys)
    assert line.startswith("swin-hub convert: ") and "missing.npz" in line and "Dense_0/bias" in line
    assert not (tmp_path / "out").exists()


def test_tensor_of_a_wrong_shape_is_a_conversion_error_naming_it_and_both_shapes(pth_with_a_wrong_shape):
    with pytest.raises(ConversionError, match=r"wrong\.pth.*layers\.0\.blocks\.1\.mlp\.fc1\.weight: \(95, 24\) vs \(96, 24\)"):
        convert(pth_with_a_wrong_shape)


def test_cli_tensor_of_a_wrong_shape_is_one_line_and_exit_2(pth_with_a_wrong_shape, tmp_path, capsys):
    assert cli("convert", str(pth_with_a_wrong_shape), str(tmp_path / "out")) == 2
    assert "mlp.fc1.weight: (95, 24) vs (96, 24)" in one_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("block", [0, 1])
def test_npz_kernel_of_a_wrong_shape_is_one_line_naming_the_array(block, tmp_path, capsys):
    arrays = dict(np.load(FIXTURES / "vit_official_tiny.npz"))
    key = f"Transformer/encoderblock_{block}/MultiHeadDotProductAttention_1/out/kernel"
    arrays[key] = arrays[key][:, :, :47]  # (heads, head_dim, 48) in the file's model
    np.savez(tmp_path / "odd.npz", **arrays)
    assert cli("convert", str(tmp_path / "odd.npz"), str(tmp_path / "out")) == 2
    line = one_line(capsys)
    assert "odd.npz" in line and f"'{key}' has shape (3, 16, 47)" in line
    assert not (tmp_path / "out").exists()


def test_negative_num_classes_is_one_line(tmp_path, capsys):
    assert cli("convert", str(FIXTURES / "swin_official_tiny.pth"), str(tmp_path / "out"), "--num-classes", "-1") == 2
    assert "--num-classes) must be >= 0" in one_line(capsys)


def test_debug_shows_the_traceback(npz_missing_a_key, tmp_path):
    with pytest.raises(ConversionError):
        cli("convert", str(npz_missing_a_key), str(tmp_path / "out"), "--debug")


# 2. convert: the output location is checked before the long work, and never half-written ---------
def test_cli_read_only_output_is_one_line_before_the_conversion_starts(read_only_dir, never_converts, capsys):
    out = read_only_dir / "repo"
    assert cli("convert", str(FIXTURES / "swin_official_tiny.pth"), str(out)) == 2
    line = one_line(capsys)
    assert f"cannot write {out}" in line and "not writable" in line
    assert not out.exists()


def test_cli_output_below_a_file_is_one_line_before_the_conversion_starts(tmp_path, never_converts, capsys):
    (tmp_path / "a-file").write_text("x")
    assert cli("convert", str(FIXTURES / "swin_official_tiny.pth"), str(tmp_path / "a-file" / "repo")) == 2
    assert "a-file is a file, not a folder" in one_line(capsys)


def test_cli_non_empty_output_names_the_flag_not_the_python_argument(tmp_path, never_converts, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert cli("convert", str(FIXTURES / "swin_official_tiny.pth"), str(tmp_path / "out")) == 2
    line = one_line(capsys)
    assert "not empty; pass --force" in line and "overwrite=True" not in line


def test_library_non_empty_output_names_each_functions_own_argument(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    converted = convert(FIXTURES / "swin_official_tiny.pth", check=False)
    with pytest.raises(FileExistsError, match=r"pass force=True") as error:
        write_repo(converted, tmp_path / "out")
    assert "--force" not in str(error.value)
    with pytest.raises(FileExistsError, match=r"pass overwrite=True"):
        save_repo(converted.model, tmp_path / "out")


def test_a_write_failing_midway_leaves_no_folder_not_even_the_parents_it_made(tmp_path, monkeypatch, capsys):
    from swin_hub.hf.modeling import _ScratchPreTrainedModel

    def disk_full(self, folder, *args, **kwargs):
        (Path(folder) / "model.safetensors").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_ScratchPreTrainedModel, "save_pretrained", disk_full)
    out = tmp_path / "new" / "deeper" / "repo"
    assert cli("convert", str(FIXTURES / "swin_official_tiny.pth"), str(out), "--no-check") == 2
    assert "No space left on device" in one_line(capsys)
    assert list(tmp_path.iterdir()) == []


# 3. timm: an official file loaded into a model of another size -------------------------------------
@pytest.mark.parametrize("name,file", [("scratch_swin_t", "swin_official_tiny.pth"), ("scratch_vit_s", "vit_official_tiny.npz")])
def test_file_overlay_into_another_size_is_one_clear_size_mismatch_error(name, file):
    with pytest.raises(SizeMismatchError) as error:
        timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(FIXTURES / file)))
    message = str(error.value)
    assert "another size of model" in message and "patch_embed.proj.weight" in message
    assert "the checkpoint's architecture is embed_dim=" + ("24" if "swin" in name else "48") in message
    assert isinstance(error.value, ValueError) and isinstance(error.value, RuntimeError)  # torch's type too


def test_file_overlay_with_the_files_own_kwargs_loads():
    model = timm.create_model("scratch_swin_t", pretrained=True, num_classes=10, embed_dim=24, num_heads=(1, 2, 4, 8),
                              pretrained_cfg_overlay=dict(file=str(FIXTURES / "swin_official_tiny.pth")))
    assert model.cfg.embed_dim == 24


# 4. a transformers-native config.json beside swin-hub weights -------------------------------------
@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    """A swin-hub repo whose config.json was replaced by transformers' own SwinConfig."""
    folder = save_repo(timm.create_model("scratch_swin_t", num_classes=3, **TINY), tmp_path / "mixed")
    (folder / "config.json").write_text(HFSwinConfig(image_size=32, embed_dim=16, depths=[1, 1], num_heads=[1, 2],
                                                     window_size=4).to_json_string())
    return folder


def test_foreign_config_beside_swin_hub_weights_is_detected_and_named(mixed_folder):
    message = foreign_folder(mixed_folder)
    assert "transformers' own 'swin' config" in message and "swin-hub weights" in message
    assert "every weight random" in message and "swin-hub convert" in message


def test_a_swin_hub_repo_is_not_foreign(mixed_folder, tmp_path):
    assert foreign_folder(save_repo(timm.create_model("scratch_swin_t", **TINY), tmp_path / "ours")) is None


def test_push_refuses_a_foreign_config_before_any_request(mixed_folder, monkeypatch, capsys):
    monkeypatch.setattr(push_module, "HfApi", lambda **kw: pytest.fail("a request was made"))
    assert cli("push", str(mixed_folder), "someone/mixed") == 2
    assert "transformers' own 'swin' config" in one_line(capsys)


def test_convert_reads_the_mixed_folder_by_its_weights(mixed_folder):
    converted = convert(mixed_folder, check=False)
    assert converted.source_format == "swin_hub" and converted.cfg.embed_dim == 16 and converted.cfg.num_classes == 3


# 5. push in offline mode ----------------------------------------------------------------------------
@pytest.fixture
def repo(tmp_path) -> Path:
    return save_repo(timm.create_model("scratch_swin_t", num_classes=3, **TINY), tmp_path / "repo")


def test_push_offline_fails_at_once_in_one_line_without_retrying(repo, monkeypatch, capsys, caplog):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(push_module, "HfApi", lambda **kw: pytest.fail("a request was made"))
    start = time.perf_counter()
    assert cli("push", str(repo), "someone/model") == 2
    assert time.perf_counter() - start < 1.0
    assert "HF_HUB_OFFLINE is set" in one_line(capsys)
    assert "retry" not in caplog.text


def test_an_offline_error_from_huggingface_hub_is_not_retried(repo, monkeypatch):
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # offline set after import: huggingface_hub raises
    calls = []

    class Api:
        def __init__(self, **kwargs):
            pass

        def create_repo(self, *args, **kwargs):
            calls.append(1)
            raise OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled.")

    monkeypatch.setattr(push_module, "HfApi", Api)
    with pytest.raises(PushError, match="OfflineModeIsEnabled"):
        push_folder(repo, "someone/model", backoff=60.0)
    assert calls == [1]


def test_convert_push_to_hub_offline_fails_before_converting(monkeypatch, never_converts, tmp_path, capsys):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert cli("convert", str(FIXTURES / "swin_official_tiny.pth"), str(tmp_path / "out"), "--push-to-hub", "a/b") == 2
    assert "HF_HUB_OFFLINE is set" in one_line(capsys)
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == "[]"
