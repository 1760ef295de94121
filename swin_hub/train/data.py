"""Training data: the bundled `digits`, an ImageFolder tree, or a `datasets` dataset, as
(image, label) splits with class names; images are loaded lazily and converted to RGB.

Every source ends as two `Split`s and a list of class names, which become the model's
`id2label`. Bad data is reported where it is found, in one line: unreadable files by path,
an empty class folder by path, one class or no images.
"""

from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import PIL.Image
import torch
from sklearn.model_selection import train_test_split

_logger = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
VALIDATION_NAMES = ("val", "validation", "valid", "test")


class DataError(ValueError):
    """The data cannot train a classifier; the message says which file / column / class."""


@dataclass
class Split:
    images: Sequence[Any]  # paths, PIL images or uint8 arrays, loaded on access
    labels: list[int]
    boxes: Sequence[Any] | None = None  # [x, y, w, h] per image, to crop to

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Sequence[int]) -> "Split":
        pick = [int(i) for i in indices]
        return Split(_Take(self.images, pick), [self.labels[i] for i in pick],
                     _Take(self.boxes, pick) if self.boxes is not None else None)


class _Take:
    """A lazy selection of a sequence (a datasets column is not materialised)."""

    def __init__(self, items: Sequence[Any], indices: list[int]):
        self.items, self.indices = items, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.items[self.indices[i]]


class _Column:
    """One column of a datasets.Dataset, row by row (decoding images only when read)."""

    def __init__(self, dataset, column: str):
        self.dataset, self.column = dataset, column

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        return self.dataset[int(i)][self.column]


@dataclass
class ImageData:
    train: Split
    validation: Split
    class_names: list[str]
    source: str


def to_rgb(image: Any) -> PIL.Image.Image:
    """Path / array / PIL image in any mode (L, P, RGBA, I;16, ...) -> RGB PIL image."""
    if isinstance(image, (str, Path)):
        with PIL.Image.open(image) as opened:
            opened.load()
            image = opened.copy()
    elif isinstance(image, np.ndarray):
        image = PIL.Image.fromarray(image)
    if image.mode in ("P", "PA", "LA"):
        image = image.convert("RGBA")  # palette / alpha: resolve transparency before dropping it
    if image.mode.startswith(("I", "F")):  # 16/32-bit: map the type's range, not each image's own, to 0..255
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 if image.mode == "F" and array.max() <= 1.0 else (1 / 257 if array.max() > 255 or "16" in image.mode else 1.0)
        image = PIL.Image.fromarray(np.clip(np.round(array * scale), 0, 255).astype(np.uint8))
    return image.convert("RGB")


class ImageDataset(torch.utils.data.Dataset):
    """A Split with a transform: (pixel_values (C, H, W), label).

    With a seed, each sample's random augmentation is drawn from its own generator state
    (seed, epoch, index) and the global RNGs are left untouched: the same image gets the same
    crop whatever the loader's order, prefetching or worker count, which is what makes a
    resumed run repeat an uninterrupted one exactly.
    """

    def __init__(self, split: Split, transform: Callable, seed: int | None = None):
        self.split, self.transform, self.seed = split, transform, seed
        # in shared memory: persistent loader workers keep the copy of the dataset they started
        # with, and must still see each new epoch the training loop sets
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    @epoch.setter
    def epoch(self, value: int) -> None:
        self._epoch.fill_(value)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        image = to_rgb(self.split.images[i])
        if self.split.boxes is not None:
            x, y, w, h = (float(v) for v in self.split.boxes[i])
            image = image.crop((round(x), round(y), round(x + w), round(y + h)))
        if self.seed is None:
            return self.transform(image), self.split.labels[i]
        sample_seed = (self.seed * 1_000_003 + self.epoch * 100_003 + int(i)) % 2**32
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed)
                random.seed(sample_seed)
                np.random.seed(sample_seed)
                pixels = self.transform(image)
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
        return pixels, self.split.labels[i]


def auto_workers(device: torch.device, processes_per_machine: int = 1) -> int:
    """Loader processes for `--num_workers auto`: on CUDA, enough to keep a GPU fed with decoded
    and augmented images (up to 8 per GPU process, sharing the machine's cores); on the CPU,
    none, since workers would compete with the model for the same cores."""
    if device.type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores // processes_per_machine))


def data_loader(dataset: ImageDataset, batch_size: int, workers: int, device: torch.device, shuffle: bool = False,
                drop_last: bool = False) -> torch.utils.data.DataLoader:
    """A loader that keeps an accelerator busy: pinned batches on CUDA (so the copy to the GPU
    can overlap compute), workers kept alive across epochs (no restart and dataset copy per
    epoch), and a few batches per worker queued ahead to absorb slow images."""
    parallel = {"persistent_workers": True, "prefetch_factor": 4} if workers > 0 else {}
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                                       num_workers=workers, pin_memory=device.type == "cuda", **parallel)


# --- sources ----------------------------------------------------------------------------------


def digits() -> tuple[list[np.ndarray], list[int], list[str]]:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), as uint8."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = [(im * (255 / 16)).round().astype(np.uint8) for im in bunch.images]  # (8, 8) in 0..16
    return images, [int(t) for t in bunch.target], [str(n) for n in bunch.target_names]


def scan_folder(root: Path, class_names: list[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
    """An ImageFolder tree: one sub-folder per class (sorted names), image files inside (recursive)."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    names = class_names or found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DataError(f"{root}: class folders {unknown} are not among the training classes {names}")
    paths, labels = [], []
    for index, name in enumerate(names):
        if not (root / name).is_dir():
            continue
        for path in sorted((root / name).rglob("*")):
            hidden = any(part.startswith(".") for part in path.relative_to(root / name).parts)  # e.g. macOS ._x.jpg
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and not hidden:
                paths.append(path)
                labels.append(index)
    return paths, labels, names


def verify_images(paths: Sequence[Path], labels: list[int], skip: bool) -> tuple[list[Path], list[int]]:
    """Decode every file once (PIL's verify() misses truncated JPEGs); unreadable ones fail the
    run with their paths, or are skipped and counted."""
    bad: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            with PIL.Image.open(path) as image:
                image.load()
        except Exception as e:  # PIL raises many types for broken files
            bad[i] = f"{path} ({type(e).__name__})"
    shown = "; ".join(list(bad.values())[:5]) + ("; ..." if len(bad) > 5 else "")
    if bad and not skip:
        raise DataError(f"{len(bad)} unreadable image file(s): {shown} (pass --skip_corrupt_images to skip them)")
    if bad:
        _logger.warning(f"skipped {len(bad)} unreadable image file(s): {shown}")
    keep = [i for i in range(len(paths)) if i not in bad]
    return [paths[i] for i in keep], [labels[i] for i in keep]


def stratified_split(split: Split, share: float, seed: int) -> tuple[Split, Split]:
    """Train / validation with each class in both, in proportion (scikit-learn's stratify)."""
    counts = np.bincount(split.labels)
    classes = int((counts > 0).sum())
    n_val = math.ceil(share * len(split))
    if n_val < classes or len(split) - n_val < classes:
        raise DataError(f"{len(split)} images cannot be split {1 - share:.0%}/{share:.0%} with each of {classes} classes "
                        "on both sides; add images, change --train_val_split, or pass --validation_dir")
    stratify = split.labels if counts[counts > 0].min() >= 2 else None
    train, val = train_test_split(np.arange(len(split)), test_size=n_val, random_state=seed, stratify=stratify)
    return split.subset(sorted(train)), split.subset(sorted(val))


def _hf_columns(dataset, image_column: str | None, label_column: str | None) -> tuple[str, str, list[str] | None]:
    import datasets

    features = dataset.features
    image_column = image_column or next((k for k, f in features.items() if isinstance(f, datasets.Image)), None)
    label_column = label_column or next((k for k, f in features.items() if isinstance(f, datasets.ClassLabel)), None)
    for role, column in (("image", image_column), ("label", label_column)):
        if column is None or column not in features:
            raise DataError(f"no {role} column found among {list(features)}; name it with --{role}_column_name")
    names = features[label_column].names if isinstance(features[label_column], datasets.ClassLabel) else None
    return image_column, label_column, names


def hf_dataset(args) -> tuple[Split, Split | None, list[str], str]:
    """A datasets dataset: a save_to_disk folder, 'imagefolder' (with --train_dir), or a Hub id."""
    import datasets

    name = args.dataset_name
    if Path(name).is_dir():
        loaded = datasets.load_from_disk(name)
    elif name == "imagefolder":
        loaded = datasets.load_dataset("imagefolder", data_dir=args.train_dir)
    else:
        loaded = datasets.load_dataset(name, args.dataset_config_name)
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    if "train" not in loaded:
        raise DataError(f"dataset {name}: no 'train' split (splits: {list(loaded)})")
    train = loaded["train"]
    image_col, label_col, names = _hf_columns(train, args.image_column_name, args.label_column_name)
    if names is None:  # plain string / int labels: sorted unique values are the classes
        names = [str(v) for v in sorted(set(train[label_col]))]
    index = {n: i for i, n in enumerate(names)}

    def as_split(ds) -> Split:
        column = ds[label_col]
        if _is_classlabel(ds, label_col):
            labels = list(column)
        else:
            unknown = sorted({str(v) for v in column} - set(index))
            if unknown:
                raise DataError(f"dataset {name}: labels {unknown[:10]} are not among the training classes {names[:20]}")
            labels = [index[str(v)] for v in column]
        boxes = _Column(ds, args.bbox_column_name) if args.bbox_column_name else None
        return Split(_Column(ds, image_col), labels, boxes)

    val_name = next((s for s in VALIDATION_NAMES if s in loaded), None)
    return as_split(train), as_split(loaded[val_name]) if val_name else None, names, f"datasets:{name}"


def _is_classlabel(ds, column: str) -> bool:
    import datasets

    return isinstance(ds.features[column], datasets.ClassLabel)


def load_data(args) -> ImageData:
    """The splits the arguments name (default: the bundled digits), checked."""
    validation, val_root, folder_of = None, None, None
    if args.dataset_name not in (None, "digits"):
        train, validation, names, source = hf_dataset(args)
    elif args.train_dir:
        for flag, folder in (("--train_dir", args.train_dir), ("--validation_dir", args.validation_dir)):
            if folder is not None and not Path(folder).is_dir():
                raise DataError(f"{flag} {folder}: not a folder")
        root = Path(args.train_dir)
        inner = next((root / n for n in VALIDATION_NAMES if (root / n).is_dir()), None)
        if args.validation_dir is None and (root / "train").is_dir() and inner is not None:
            root, val_root = root / "train", inner
        else:
            val_root = Path(args.validation_dir) if args.validation_dir else None
        paths, labels, names = scan_folder(root)
        paths, labels = verify_images(paths, labels, args.skip_corrupt_images)
        train, source, folder_of = Split(paths, labels), f"imagefolder:{args.train_dir}", root
    else:
        images, labels, names = digits()
        train, source = Split(images, labels), "digits (scikit-learn, bundled)"
    check_classes(train, names, source)
    train, validation, names = drop_empty_classes(train, validation, names, source, folder_of, args.skip_empty_classes)
    if val_root is not None:
        val_paths, val_labels, _ = scan_folder(val_root, names)
        validation = Split(*verify_images(val_paths, val_labels, args.skip_corrupt_images))
    if validation is None:
        train, validation = stratified_split(train, args.train_val_split, args.seed)
    if len(validation) == 0:
        raise DataError(f"{source}: the validation split is empty")
    if args.max_train_samples and args.max_train_samples < len(train):  # one generator per split: each cap is
        pick = np.random.default_rng([args.seed, 0]).choice(len(train), args.max_train_samples, replace=False)
        train = train.subset(sorted(pick))  # reproducible on its own (`swin-hub evaluate` re-makes the eval split)
    if args.max_eval_samples and args.max_eval_samples < len(validation):
        pick = np.random.default_rng([args.seed, 1]).choice(len(validation), args.max_eval_samples, replace=False)
        validation = validation.subset(sorted(pick))
    return ImageData(train, validation, names, source)


def drop_empty_classes(train: Split, validation: Split | None, names: list[str], source: str, root: Path | None,
                       skip: bool) -> tuple[Split, Split | None, list[str]]:
    """A class without training images (an empty class folder, an unused ClassLabel name) would be
    one the model can never be right about, a phantom zero in every macro average: refuse it by
    name, or drop it (and its validation images) and renumber the labels."""
    counts = np.bincount(train.labels, minlength=len(names))
    empty = [names[c] for c in range(len(names)) if counts[c] == 0]
    if not empty:
        return train, validation, names
    shown = ", ".join(str(root / n) for n in empty) if root else f"{source}: classes {empty[:10]}"
    what = "class folder(s) without images" if root else "no training images"
    if not skip:
        raise DataError(f"{what}: {shown} (add images, remove them, or pass --skip_empty_classes)")
    _logger.warning(f"skipped {len(empty)} {what}: {shown}")
    kept = [n for n in names if n not in empty]
    new_index = {names.index(n): i for i, n in enumerate(kept)}

    def renumber(split: Split) -> Split:
        split = split.subset([i for i, y in enumerate(split.labels) if y in new_index])
        return Split(split.images, [new_index[y] for y in split.labels], split.boxes)

    return renumber(train), renumber(validation) if validation is not None else None, kept


def check_classes(split: Split, names: list[str], source: str) -> None:
    if len(split) == 0:
        raise DataError(f"{source}: no images found")
    present = sorted(set(split.labels))
    if len(present) < 2:
        raise DataError(f"{source}: only one class ({names[present[0]]!r}) has images; a classifier needs two or more")
