"""Training data (swin_hub.train.data): the bundled digits, ImageFolder trees, `datasets`
folders, image modes, corrupt / empty data, and sample caps. Tiny images built in tmp_path."""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from torchvision.transforms import PILToTensor

from swin_hub.train.args import parse_args
from swin_hub.train.data import (DataError, ImageDataset, Split, auto_workers, data_loader, load_data, to_rgb,
                                  verify_images)

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]


def load(*argv: str):
    return load_data(parse_args([str(a) for a in argv]))


def swatch(colour, size=(6, 5)) -> PIL.Image.Image:
    return PIL.Image.new("RGB", size, tuple(colour))


def save(path: Path, image: PIL.Image.Image | None = None, colour=(10, 20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (image or swatch(colour)).save(path)
    return path


def tree(root: Path, counts: dict[str, int], suffix: str = ".png") -> list[Path]:
    """root/<class>/<class>_<i><suffix>, one colour per class."""
    paths = []
    for c, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            paths.append(save(root / name / f"{name}_{i}{suffix}", colour=COLOURS[c % len(COLOURS)]))
    return paths


def class_of(path: Path, root: Path) -> str:
    return Path(path).relative_to(root).parts[0]


def keys(split: Split) -> list[bytes]:
    """Content of every image of a split (digits: uint8 arrays), in order, with its label."""
    return [np.asarray(split.images[i]).tobytes() + bytes([split.labels[i]]) for i in range(len(split))]


# --- 1. digits (the default) ------------------------------------------------------------------


def test_default_is_digits_stratified_by_train_val_split():
    from sklearn.datasets import load_digits

    data = load("--train_val_split", "0.2")
    assert data.class_names == [str(i) for i in range(10)]
    assert "digits" in data.source
    assert len(data.train) + len(data.validation) == 1797
    assert len(data.validation) == math.ceil(0.2 * 1797)
    full = Counter(int(t) for t in load_digits().target)
    train, val = Counter(data.train.labels), Counter(data.validation.labels)
    assert train + val == full
    for label, n in full.items():  # every class in both splits, in proportion
        assert train[label] > 0 and val[label] > 0
        assert abs(val[label] - 0.2 * n) <= 1.5, (label, val[label], n)
    # images are the digits themselves, as 8x8 uint8 spanning 0..255, and decode to RGB
    image = data.train.images[0]
    assert np.asarray(image).shape == (8, 8) and np.asarray(image).dtype == np.uint8
    assert max(int(np.asarray(data.train.images[i]).max()) for i in range(20)) == 255
    assert to_rgb(image).mode == "RGB" and to_rgb(image).size == (8, 8)
    # the two splits together are exactly the 1797 digits (as a multiset of image bytes + label)
    assert sorted(keys(data.train) + keys(data.validation)) == sorted(
        (np.round(im * (255 / 16)).astype(np.uint8).tobytes() + bytes([int(t)]))
        for im, t in zip(load_digits().images, load_digits().target))


def test_default_split_is_seed_reproducible():
    a, b, other = load("--seed", "3"), load("--seed", "3"), load("--seed", "4")
    assert keys(a.train) == keys(b.train) and keys(a.validation) == keys(b.validation)
    assert keys(a.validation) != keys(other.validation)
    assert len(a.validation) == len(other.validation) == math.ceil(0.15 * 1797)  # the default share


# --- 2. ImageFolder ---------------------------------------------------------------------------


def test_imagefolder_classes_sorted_nested_files_found_non_images_ignored(tmp_path):
    root = tmp_path / "data"
    paths = tree(root, {"zebra": 6, "ant": 6, "moose": 6})
    paths.append(save(root / "zebra" / "sub" / "deeper" / "nested.png", colour=(1, 2, 3)))
    paths.append(save(root / "ant" / "upper.JPG", colour=(9, 9, 9)))
    for junk in ("ant/notes.txt", "zebra/labels.csv", "moose/README", "moose/sub/meta.json"):
        (root / junk).parent.mkdir(parents=True, exist_ok=True)
        (root / junk).write_text("not an image")
    (root / "stray.png").write_bytes(b"")  # a file at the top is no class
    data = load("--train_dir", root, "--train_val_split", "0.5")
    assert data.class_names == ["ant", "moose", "zebra"]
    assert data.source.startswith("imagefolder:")
    found = [Path(p) for p in data.train.images] + [Path(p) for p in data.validation.images]
    assert sorted(found) == sorted(paths)  # nested included, junk excluded, none twice
    for split in (data.train, data.validation):
        assert set(split.labels) == {0, 1, 2}  # every class in both
        for path, label in zip(split.images, split.labels):
            assert data.class_names[label] == class_of(path, root)
    assert len(data.validation) == math.ceil(0.5 * len(paths))


@pytest.mark.parametrize("val_name", ["val", "validation"])
def test_imagefolder_train_and_val_folders_are_used_as_given(tmp_path, val_name):
    root = tmp_path / "data"
    train_paths = tree(root / "train", {"b": 3, "a": 4})
    val_paths = tree(root / val_name, {"a": 2, "b": 1}, suffix=".bmp")
    data = load("--train_dir", root)
    assert data.class_names == ["a", "b"]
    assert sorted(map(Path, data.train.images)) == sorted(train_paths)
    assert sorted(map(Path, data.validation.images)) == sorted(val_paths)
    for split, sub in ((data.train, root / "train"), (data.validation, root / val_name)):
        assert [data.class_names[y] for y in split.labels] == [class_of(p, sub) for p in split.images]


def test_imagefolder_explicit_validation_dir(tmp_path):
    train_paths = tree(tmp_path / "tr", {"x": 3, "y": 3})
    val_paths = tree(tmp_path / "elsewhere", {"y": 2})  # a class subset keeps training's indices
    data = load("--train_dir", tmp_path / "tr", "--validation_dir", tmp_path / "elsewhere")
    assert data.class_names == ["x", "y"]
    assert sorted(map(Path, data.train.images)) == sorted(train_paths)  # not split
    assert sorted(map(Path, data.validation.images)) == sorted(val_paths)
    assert data.validation.labels == [1, 1]


@pytest.mark.parametrize("explicit", [False, True])
def test_validation_class_unknown_to_training_is_named(tmp_path, explicit):
    root = tmp_path / "data"
    tree(root / "train", {"a": 3, "b": 3})
    tree(root / "val", {"a": 1, "b": 1, "unicorn": 1})
    argv = ["--train_dir", root / "train", "--validation_dir", root / "val"] if explicit else ["--train_dir", root]
    with pytest.raises(DataError, match=r"\['unicorn'\]"):
        load(*argv)


# --- 3. image modes ---------------------------------------------------------------------------


def _palette(transparent: bool) -> PIL.Image.Image:
    image = PIL.Image.new("P", (3, 2), 0)
    image.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * (256 * 3 - 9))
    image.putpixel((1, 0), 1)
    if transparent:
        image.putpixel((2, 1), 2)
        image.info["transparency"] = 2
    return image


def _rgba() -> PIL.Image.Image:
    image = PIL.Image.new("RGBA", (3, 2), (255, 0, 0, 255))
    image.putpixel((1, 0), (0, 0, 255, 255))
    return image


def _cmyk() -> PIL.Image.Image:
    image = PIL.Image.new("CMYK", (3, 2), (0, 255, 255, 0))  # red
    image.putpixel((1, 0), (0, 0, 0, 0))  # white
    return image


# name, file name, image, mode on reopening, {(x, y): expected RGB}
MODES = [
    ("L", "gray.png", PIL.Image.fromarray(np.array([[77, 200, 0], [255, 13, 77]], np.uint8)), "L",
     {(0, 0): (77, 77, 77), (1, 0): (200, 200, 200), (0, 1): (255, 255, 255), (1, 1): (13, 13, 13)}),
    ("LA", "gray_alpha.png", PIL.Image.merge("LA", [PIL.Image.new("L", (3, 2), 90), PIL.Image.new("L", (3, 2), 255)]),
     "LA", {(0, 0): (90, 90, 90), (2, 1): (90, 90, 90)}),
    ("RGBA", "rgba.png", _rgba(), "RGBA", {(0, 0): (255, 0, 0), (1, 0): (0, 0, 255), (2, 1): (255, 0, 0)}),
    ("P", "palette.png", _palette(False), "P", {(0, 0): (255, 0, 0), (1, 0): (0, 0, 255)}),
    ("P+transparency", "palette_t.png", _palette(True), "P", {(0, 0): (255, 0, 0), (1, 0): (0, 0, 255)}),
    ("P+transparency gif", "palette_t.gif", _palette(True), "P", {(0, 0): (255, 0, 0), (1, 0): (0, 0, 255)}),
    ("I;16", "deep.png", PIL.Image.fromarray(np.array([[0, 65535, 32768], [65535, 0, 0]], np.uint16)), "I;16",
     {(0, 0): (0, 0, 0), (1, 0): (255, 255, 255), (0, 1): (255, 255, 255)}),
    ("CMYK", "cmyk.tif", _cmyk(), "CMYK", {(0, 0): (255, 0, 0), (1, 0): (255, 255, 255)}),
    ("1", "bits.png", PIL.Image.fromarray(np.array([[True, False, True], [False, True, False]])), "1",
     {(0, 0): (255, 255, 255), (1, 0): (0, 0, 0)}),
]


@pytest.mark.parametrize("name, filename, image, mode, expected", MODES, ids=[m[0] for m in MODES])
def test_every_image_mode_becomes_rgb_with_sensible_pixels(tmp_path, name, filename, image, mode, expected):
    path = save(tmp_path / filename, image)
    with PIL.Image.open(path) as reopened:
        assert reopened.mode == mode  # the file really is in the mode under test
    for source in (path, str(path), PIL.Image.open(path)):
        rgb = to_rgb(source)
        assert rgb.mode == "RGB" and rgb.size == (3, 2)
        for xy, colour in expected.items():
            assert rgb.getpixel(xy) == colour, (name, xy)
    pixels, label = ImageDataset(Split([path], [1]), PILToTensor())[0]
    assert label == 1
    assert pixels.dtype == torch.uint8 and tuple(pixels.shape) == (3, 2, 3)
    for (x, y), colour in expected.items():
        assert tuple(pixels[:, y, x].tolist()) == colour, (name, (x, y))


def test_sixteen_bit_mid_grey_maps_to_mid_grey(tmp_path):
    path = save(tmp_path / "deep.png", PIL.Image.fromarray(np.array([[0, 32768, 65535]], np.uint16)))
    assert abs(to_rgb(path).getpixel((1, 0))[0] - 128) <= 1
    assert len(set(to_rgb(path).getpixel((1, 0)))) == 1  # grey stays grey


def test_arrays_become_rgb():
    grey = np.array([[0, 128], [255, 7]], np.uint8)
    rgb = to_rgb(grey)
    assert rgb.mode == "RGB" and np.array_equal(np.asarray(rgb), np.repeat(grey[..., None], 3, axis=2))
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[..., 0] = 255
    assert np.array_equal(np.asarray(to_rgb(colour)), colour)


def test_uniform_sixteen_bit_image_keeps_its_brightness(tmp_path):
    path = save(tmp_path / "white16.png", PIL.Image.fromarray(np.full((2, 2), 65535, np.uint16)))
    assert to_rgb(path).getpixel((0, 0)) == (255, 255, 255)


# --- 4. corrupt files -------------------------------------------------------------------------


def _corrupt_tree(root: Path) -> tuple[list[Path], list[Path]]:
    good = tree(root, {"a": 4, "b": 4})
    noisy = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8))
    whole = save(root / "a" / "whole.png", noisy)
    truncated = root / "a" / "truncated.png"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    text = root / "b" / "notes.jpg"
    text.write_text("this is not a JPEG")
    return good, [truncated, text]


def test_corrupt_files_are_listed_by_path(tmp_path):
    _, bad = _corrupt_tree(tmp_path / "data")
    with pytest.raises(DataError) as error:
        load("--train_dir", tmp_path / "data")
    message = str(error.value)
    assert "2 unreadable" in message and "--skip_corrupt_images" in message
    for path in bad:
        assert str(path) in message


def test_skip_corrupt_images_skips_them_with_a_warning(tmp_path, caplog):
    good, bad = _corrupt_tree(tmp_path / "data")
    val_good = tree(tmp_path / "val", {"a": 1, "b": 2})
    (tmp_path / "val" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    argv = ["--train_dir", tmp_path / "data", "--validation_dir", tmp_path / "val"]
    tree(tmp_path / "clean", {"a": 2, "b": 2})
    with pytest.raises(DataError, match="broken.png"):  # validation files are checked too
        load("--train_dir", tmp_path / "clean", "--validation_dir", tmp_path / "val")
    with caplog.at_level(logging.WARNING, logger="swin_hub.train.data"):
        data = load(*argv, "--skip_corrupt_images")
    assert sorted(map(Path, data.train.images)) == sorted(good)
    assert sorted(map(Path, data.validation.images)) == sorted(val_good)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("skipped 2" in w for w in warnings) and any("skipped 1" in w for w in warnings)
    for image in list(data.train.images) + list(data.validation.images):
        assert to_rgb(image).mode == "RGB"


def test_truncated_jpeg_is_reported(tmp_path):
    tree(tmp_path / "data", {"a": 3, "b": 3})
    noisy = PIL.Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8))
    whole = save(tmp_path / "whole.jpg", noisy)
    cut = tmp_path / "data" / "a" / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(OSError):
        to_rgb(cut)  # it is unreadable
    with pytest.raises(DataError, match="cut.jpg"):
        load("--train_dir", tmp_path / "data")


def test_skipping_a_corrupt_file_keeps_a_good_file_whose_name_is_its_prefix(tmp_path):
    good = save(tmp_path / "a.png")
    bad = tmp_path / "a.png (1).png"
    bad.write_text("junk")
    assert verify_images([good, bad], [0, 1], skip=True) == ([good], [0])


# --- 5. empty data ----------------------------------------------------------------------------


def test_class_folders_without_images_is_no_images(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
    (tmp_path / "data" / "a" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="no images"):
        load("--train_dir", tmp_path / "data")
    with pytest.raises(DataError, match="no images"):
        load("--train_dir", _mkdir(tmp_path / "bare"))  # no class folders at all


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.mark.parametrize("with_empty_second_class", [False, True])
def test_a_single_class_is_an_error_naming_it(tmp_path, with_empty_second_class):
    tree(tmp_path / "data", {"lonely": 5})
    if with_empty_second_class:
        (tmp_path / "data" / "ghost").mkdir()
    with pytest.raises(DataError, match=r"one class \('lonely'\)"):
        load("--train_dir", tmp_path / "data")


def test_an_empty_validation_split_is_an_error(tmp_path):
    root = tmp_path / "data"
    tree(root / "train", {"a": 3, "b": 3})
    (root / "val" / "a").mkdir(parents=True)
    (root / "val" / "b").mkdir()
    with pytest.raises(DataError, match="validation split is empty"):
        load("--train_dir", root)
    with pytest.raises(DataError, match="validation split is empty"):
        load("--train_dir", root / "train", "--validation_dir", _mkdir(tmp_path / "nothing"))


def test_a_missing_validation_folder_is_an_error(tmp_path):
    tree(tmp_path / "data", {"a": 3, "b": 3})
    with pytest.raises(DataError, match="not a folder"):
        load("--train_dir", tmp_path / "data", "--validation_dir", tmp_path / "nope")


# --- 6. datasets ------------------------------------------------------------------------------


def _rows(labels: list, start: int = 0, size=(6, 5)) -> list[PIL.Image.Image]:
    """Image i: red = 40 * class index + 20 (for ints), green = its row number (start + i)."""
    return [swatch((40 * (lab if isinstance(lab, int) else 0) + 20, start + i, 7), size) for i, lab in enumerate(labels)]


def _decode(image) -> tuple[int, int]:
    r, g, _ = to_rgb(image).getpixel((0, 0))
    return r, g


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    datasets = pytest.importorskip("datasets")
    base = tmp_path_factory.mktemp("hf")
    out = {}
    names = ["zeta", "alpha", "mid"]
    # ClassLabel, non-standard column names, a string column first (detection is by type)
    features = datasets.Features({"caption": datasets.Value("string"), "picture": datasets.Image(),
                                  "kind": datasets.ClassLabel(names=names), "idx": datasets.Value("int64")})
    labels = [i % 3 for i in range(15)]
    train = datasets.Dataset.from_dict({"caption": [f"c{i}" for i in range(15)], "picture": _rows(labels),
                                        "kind": labels, "idx": list(range(15))}, features=features)
    datasets.DatasetDict({"train": train}).save_to_disk(base / "classlabel")
    val_labels = [2, 0, 1, 2]
    val = datasets.Dataset.from_dict({"caption": ["v"] * 4, "picture": _rows(val_labels, start=100),
                                      "kind": val_labels, "idx": list(range(4))}, features=features)
    datasets.DatasetDict({"train": train, "validation": val}).save_to_disk(base / "with_validation")
    out["empty_validation"] = datasets.DatasetDict({"train": train, "validation": val.select([])})  # in memory:
    # datasets 5.2's load_from_disk cannot read back a saved split of 0 rows
    # plain string labels
    species = ["pine", "oak", "elm", "oak", "pine", "elm", "oak", "pine", "elm"]
    sfeatures = datasets.Features({"img": datasets.Image(), "species": datasets.Value("string")})
    strings = datasets.Dataset.from_dict({"img": _rows(list(range(9))), "species": species}, features=sfeatures)
    datasets.DatasetDict({"train": strings}).save_to_disk(base / "strings")
    out["species"] = species
    unknown = datasets.Dataset.from_dict({"img": _rows([0, 1]), "species": ["oak", "birch"]}, features=sfeatures)
    datasets.DatasetDict({"train": strings, "validation": unknown}).save_to_disk(base / "unknown_val_label")
    # no image column
    noimg = datasets.Dataset.from_dict({"caption": ["x", "y"] * 3, "label": [0, 1] * 3},
                                       features=datasets.Features({"caption": datasets.Value("string"),
                                                                   "label": datasets.ClassLabel(names=["p", "q"])}))
    datasets.DatasetDict({"train": noimg}).save_to_disk(base / "no_image")
    # boxes: a 20x12 grey image with a coloured rectangle at [x, y, w, h]
    def boxed(colour, box):
        image = swatch((128, 128, 128), (20, 12))
        x, y, w, h = box
        image.paste(colour, (x, y, x + w, y + h))
        return image
    bfeatures = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["red", "blue"]),
                                   "bbox": datasets.Sequence(datasets.Value("float32"))})
    boxes = [[4, 2, 6, 5], [0, 0, 3, 12], [10, 7, 10, 5], [1, 1, 1, 1]]
    colours = [(255, 0, 0), (0, 0, 255), (255, 0, 0), (0, 0, 255)]
    bds = datasets.Dataset.from_dict({"image": [boxed(c, b) for c, b in zip(colours, boxes)], "label": [0, 1, 0, 1],
                                      "bbox": [[float(v) for v in b] for b in boxes]}, features=bfeatures)
    datasets.DatasetDict({"train": bds, "validation": bds}).save_to_disk(base / "boxes")
    out["box_list"], out["colours"] = boxes, colours
    out.update({k: base / k for k in ("classlabel", "with_validation", "strings",
                                      "unknown_val_label", "no_image", "boxes")})
    return out


def test_datasets_folder_with_classlabel_detects_columns_and_splits(hf):
    data = load("--dataset_name", hf["classlabel"], "--train_val_split", "0.4")
    assert data.class_names == ["zeta", "alpha", "mid"]  # the ClassLabel's order, not sorted
    assert data.source == f"datasets:{hf['classlabel']}"
    assert len(data.train) + len(data.validation) == 15 and len(data.validation) == 6
    rows = []
    for split in (data.train, data.validation):
        assert set(split.labels) == {0, 1, 2}
        for i in range(len(split)):
            red, row = _decode(split.images[i])
            assert red == 40 * split.labels[i] + 20  # the picture column, with its own label
            rows.append(row)
    assert sorted(rows) == list(range(15))


def test_datasets_validation_split_is_used(hf):
    data = load("--dataset_name", hf["with_validation"])
    assert len(data.train) == 15
    assert [_decode(data.validation.images[i]) for i in range(4)] == [(100, 100), (20, 101), (60, 102), (100, 103)]
    assert data.validation.labels == [2, 0, 1, 2]


def test_datasets_empty_validation_split_is_an_error(hf, tmp_path, monkeypatch):
    import datasets

    folder = _mkdir(tmp_path / "saved")  # a folder name takes the load_from_disk path
    monkeypatch.setattr(datasets, "load_from_disk", lambda name: hf["empty_validation"] if name == str(folder) else None)
    with pytest.raises(DataError, match="validation split is empty"):
        load("--dataset_name", folder)


def test_datasets_string_labels_are_sorted_unique_values(hf):
    data = load("--dataset_name", hf["strings"], "--label_column_name", "species", "--train_val_split", "0.34")
    assert data.class_names == ["elm", "oak", "pine"]
    for split in (data.train, data.validation):
        assert set(split.labels) == {0, 1, 2}
        for i in range(len(split)):
            _, row = _decode(split.images[i])
            assert data.class_names[split.labels[i]] == hf["species"][row]


def test_datasets_string_labels_need_label_column_name(hf):
    with pytest.raises(DataError, match="no label column.*species"):
        load("--dataset_name", hf["strings"])


def test_datasets_validation_label_unknown_to_training_is_named(hf):
    with pytest.raises(DataError, match="birch"):
        load("--dataset_name", hf["unknown_val_label"], "--label_column_name", "species")


def test_datasets_missing_image_column_names_the_columns(hf):
    with pytest.raises(DataError, match=r"no image column.*\['caption', 'label'\]"):
        load("--dataset_name", hf["no_image"])
    with pytest.raises(DataError, match=r"no image column.*'caption'"):
        load("--dataset_name", hf["no_image"], "--image_column_name", "photo")


def test_datasets_bbox_column_crops(hf):
    data = load("--dataset_name", hf["boxes"], "--bbox_column_name", "bbox")
    uncropped = ImageDataset(data.train, PILToTensor())
    assert tuple(to_rgb(data.train.images[0]).size) == (20, 12)
    for i, ((x, y, w, h), colour) in enumerate(zip(hf["box_list"], hf["colours"])):
        pixels, label = uncropped[i]
        assert label == i % 2
        assert tuple(pixels.shape) == (3, h, w), i
        assert torch.equal(pixels, torch.tensor(colour, dtype=torch.uint8)[:, None, None].expand(3, h, w)), i
    pixels, _ = ImageDataset(data.validation, PILToTensor())[0]
    assert tuple(pixels.shape) == (3, 5, 6)
    plain = load("--dataset_name", hf["boxes"])  # no bbox column: whole images
    assert tuple(ImageDataset(plain.train, PILToTensor())[0][0].shape) == (3, 12, 20)


# --- 7. sample caps ---------------------------------------------------------------------------


def test_max_samples_cap_sizes_reproducibly():
    full = load("--seed", "5")
    a = load("--seed", "5", "--max_train_samples", "100", "--max_eval_samples", "30")
    b = load("--seed", "5", "--max_train_samples", "100", "--max_eval_samples", "30")
    other = load("--seed", "6", "--max_train_samples", "100", "--max_eval_samples", "30")
    assert len(a.train) == 100 and len(a.validation) == 30
    assert keys(a.train) == keys(b.train) and keys(a.validation) == keys(b.validation)
    assert keys(a.train) != keys(other.train)
    assert set(keys(a.train)) <= set(keys(full.train)) and set(keys(a.validation)) <= set(keys(full.validation))
    assert a.class_names == full.class_names
    big = load("--seed", "5", "--max_train_samples", "100000", "--max_eval_samples", "100000")
    assert keys(big.train) == keys(full.train) and keys(big.validation) == keys(full.validation)


def test_max_samples_cap_imagefolder(tmp_path):
    tree(tmp_path / "data", {"a": 10, "b": 10})
    a = load("--train_dir", tmp_path / "data", "--max_train_samples", "7", "--max_eval_samples", "2")
    b = load("--train_dir", tmp_path / "data", "--max_train_samples", "7", "--max_eval_samples", "2")
    assert (len(a.train), len(a.validation)) == (7, 2)
    assert list(a.train.images) == list(b.train.images) and list(a.validation.images) == list(b.validation.images)
    assert not set(a.train.images) & set(a.validation.images)


def test_hidden_files_inside_class_folders_are_not_images(tmp_path):
    tree(tmp_path, {"a": 4, "b": 4})
    (tmp_path / "a" / "._a_0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS resource fork
    data = load("--train_dir", tmp_path, "--train_val_split", "0.25")
    assert len(data.train) + len(data.validation) == 8


def test_too_few_images_to_stratify_is_a_data_error_with_advice(tmp_path):
    tree(tmp_path, {"a": 2, "b": 2, "c": 2})  # 15% of 6 images: 1 validation image for 3 classes
    with pytest.raises(DataError, match="cannot be split .* 3 classes"):
        load("--train_dir", tmp_path)


# --- 8. loaders -------------------------------------------------------------------------------


def test_num_workers_is_auto_by_default_and_accepts_a_count():
    assert parse_args([]).num_workers is None
    assert parse_args(["--num_workers", "auto"]).num_workers is None
    assert parse_args(["--num-workers", "0"]).num_workers == 0
    with pytest.raises(SystemExit):
        parse_args(["--num_workers", "-1"])


def test_auto_workers_is_zero_on_cpu_and_up_to_eight_per_gpu_process(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(32)), raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 32)
    assert auto_workers(torch.device("cpu")) == 0
    assert auto_workers(torch.device("cuda")) == 8
    assert auto_workers(torch.device("cuda"), processes_per_machine=8) == 4  # 32 cores shared by 8 GPU processes
    assert auto_workers(torch.device("cuda"), processes_per_machine=64) == 1


def test_loader_with_workers_pins_on_cuda_and_keeps_its_workers():
    dataset = ImageDataset(Split([np.zeros((4, 4), np.uint8)] * 8, [0, 1] * 4), PILToTensor())
    on_gpu = data_loader(dataset, 4, workers=2, device=torch.device("cuda"))  # built only: no worker starts
    assert on_gpu.pin_memory and on_gpu.persistent_workers and on_gpu.prefetch_factor > 2
    on_cpu = data_loader(dataset, 4, workers=2, device=torch.device("cpu"))
    assert not on_cpu.pin_memory and on_cpu.persistent_workers
    in_process = data_loader(dataset, 4, workers=0, device=torch.device("cpu"))
    assert in_process.num_workers == 0 and not in_process.persistent_workers


def test_persistent_workers_draw_each_epochs_augmentation_like_the_main_process():
    """Workers that outlive an epoch must still see the next one: the same crops as without
    workers (what exact resume relies on), and new crops each epoch."""
    from torchvision import transforms as T

    images = [np.random.default_rng(i).integers(0, 255, (16, 16), dtype=np.uint8) for i in range(8)]
    augment = T.Compose([T.RandomResizedCrop(8, scale=(0.2, 1.0)), T.PILToTensor()])

    def two_epochs(workers: int) -> list[torch.Tensor]:
        dataset = ImageDataset(Split(images, [0, 1] * 4), augment, seed=1)
        loader = data_loader(dataset, 4, workers=workers, device=torch.device("cpu"))
        epochs = []
        for epoch in range(2):
            dataset.epoch = epoch
            epochs.append(torch.cat([x for x, _ in loader]))
        return epochs

    main_process, workers = two_epochs(0), two_epochs(2)
    assert not torch.equal(main_process[0], main_process[1])
    for a, b in zip(main_process, workers):
        assert torch.equal(a, b)


# --- 7. classes without training images ---------------------------------------------------------


def test_an_empty_class_folder_is_refused_by_path_or_skipped_by_flag(tmp_path, caplog):
    """An empty folder would be a phantom class (0 recall in every macro average)."""
    tree(tmp_path / "train", {"ant": 3, "bee": 3, "cow": 3})
    (tmp_path / "train" / "bee_empty").mkdir()
    tree(tmp_path / "val", {"ant": 2, "cow": 2})
    argv = ["--train_dir", tmp_path / "train", "--validation_dir", tmp_path / "val"]
    with pytest.raises(DataError, match=f"{tmp_path / 'train' / 'bee_empty'}.*--skip_empty_classes"):
        load(*argv)
    with caplog.at_level(logging.WARNING, logger="swin_hub.train.data"):
        data = load(*argv, "--skip_empty_classes")
    assert "bee_empty" in caplog.text
    assert data.class_names == ["ant", "bee", "cow"]
    for split in (data.train, data.validation):  # labels renumbered, still each image's own class
        assert [data.class_names[y] for y in split.labels] == [class_of(p, p.parents[1]) for p in split.images]


def test_an_unused_classlabel_name_is_refused_or_skipped(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "ghost", "b"])})
    labels = [0, 2] * 4
    rows = datasets.Dataset.from_dict({"image": _rows(labels), "label": labels}, features=features)
    datasets.DatasetDict({"train": rows, "validation": rows}).save_to_disk(tmp_path / "ds")
    with pytest.raises(DataError, match=r"\['ghost'\]"):
        load("--dataset_name", tmp_path / "ds")
    data = load("--dataset_name", tmp_path / "ds", "--skip_empty_classes")
    assert data.class_names == ["a", "b"]
    assert data.validation.labels == [0, 1] * 4
    assert [_decode(data.validation.images[i])[0] for i in range(2)] == [20, 100]  # class 2's pixels, now label 1
