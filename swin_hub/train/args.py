"""Command-line arguments of `swin-hub train` / `accelerate launch -m swin_hub.train`.

Names follow transformers' `run_image_classification_no_trainer.py` (underscores), so habits
carry over; every flag also accepts its dash spelling (`--learning-rate`).
"""

from __future__ import annotations

import argparse
import json
import sys

SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "step")
OPTIMIZERS = ("adamw", "radam", "sgd")
# evaluation scores that can pick the best model; all higher-is-better except loss
METRICS = ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "precision_weighted", "recall_macro",
           "recall_weighted", "top5_accuracy", "roc_auc", "loss")


class _Parser(argparse.ArgumentParser):
    def add(self, name: str, **kwargs):
        """One flag under its transformers name and its dash spelling."""
        names = [name] + ([name.replace("_", "-")] if "_" in name else [])
        return self.add_argument(*names, **kwargs)

    def error(self, message: str):
        """One line naming the flag (argparse would print the whole usage first); exit status 2."""
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _number(kind: type, low: float | None = None, high: float | None = None, *, low_open: bool = False,
            high_open: bool = False):
    """An argparse type for a number in a range, so a bad value fails at parse time with the range it needs."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            left = "" if low is None else f"{'>' if low_open else '>='} {low}"
            right = "" if high is None else f"{'<' if high_open else '<='} {high}"
            raise argparse.ArgumentTypeError(f"expected {' and '.join(filter(None, (left, right)))}, got {text}")
        return value

    return parse


POSITIVE_INT, COUNT = _number(int, 1), _number(int, 0)
POSITIVE, NON_NEGATIVE, PROBABILITY = _number(float, 0, low_open=True), _number(float, 0), _number(float, 0, 1)


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"--model_kwargs is not JSON: {e}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--model_kwargs must be a JSON object, e.g. '{\"embed_dim\": 48}'")
    return value


def _workers(text: str) -> int | None:
    if text == "auto":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--num_workers must be 'auto' or a count >= 0, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="swin-hub train", description="Fine-tune a swin-hub Swin / ViT with Accelerate.")
    # model
    p.add("--model_name_or_path", default="scratch_swin_t",
          help="registered name (scratch_swin_t, ...), a swin-hub repo folder, or a Hub id")
    p.add("--model_kwargs", type=_json, default={}, help="JSON architecture overrides, e.g. '{\"embed_dim\": 48}'")
    p.add("--pretrained", action="store_true", help="start from the registered name's official weights")
    p.add("--freeze_backbone", action="store_true", help="train the head only (linear probing)")
    p.add("--gradient_checkpointing", action="store_true")
    p.add("--torch_compile", action="store_true",
          help="torch.compile the training forward/backward (the first steps compile; evaluation stays eager)")
    # data
    p.add("--dataset_name", default=None,
          help="'digits' (bundled, the default), a datasets folder (save_to_disk), 'imagefolder', or a Hub id")
    p.add("--dataset_config_name", default=None)
    p.add("--train_dir", default=None, help="ImageFolder tree: class folders, or train/ and val/ inside")
    p.add("--validation_dir", default=None)
    p.add("--train_val_split", type=_number(float, 0, 1, low_open=True, high_open=True), default=0.15,
          help="stratified validation share when no split is given")
    p.add("--image_column_name", default=None, help="default: the column of Image type")
    p.add("--label_column_name", default=None, help="default: the column of ClassLabel type")
    p.add("--bbox_column_name", default=None, help="crop each image to this [x, y, w, h] box column")
    p.add("--max_train_samples", type=POSITIVE_INT, default=None)
    p.add("--max_eval_samples", type=POSITIVE_INT, default=None)
    p.add("--skip_corrupt_images", action="store_true", help="skip unreadable image files (counted) instead of failing")
    p.add("--skip_empty_classes", action="store_true",
          help="drop class folders without images (with a warning) instead of failing")
    p.add("--num_workers", type=_workers, default=None,
          help="data loader processes; default 'auto': on CUDA min(8, CPU cores per GPU process), on CPU 0")
    # augmentation and regularisation (timm's implementations)
    p.add("--crop_scale_min", type=_number(float, 0, 1, low_open=True), default=0.08,
          help="RandomResizedCrop's smallest area share")
    p.add("--hflip", type=PROBABILITY, default=0.5, help="horizontal flip probability (0 for digits / text)")
    p.add("--color_jitter", type=NON_NEGATIVE, default=0.4, help="timm's brightness/contrast/saturation jitter (0: off)")
    p.add("--auto_augment", default=None, help="'rand-m9-mstd0.5' (timm RandAugment), 'augmix-m5-w4-d2', 'original', or 'trivial' (TrivialAugmentWide)")
    p.add("--mixup", type=NON_NEGATIVE, default=0.0, help="mixup alpha (0: off)")
    p.add("--cutmix", type=NON_NEGATIVE, default=0.0, help="cutmix alpha (0: off)")
    p.add("--random_erasing", type=PROBABILITY, default=0.0, help="timm's random erasing probability per image (0: off)")
    p.add("--label_smoothing", type=_number(float, 0, 1, high_open=True), default=0.0)
    # optimisation
    p.add("--optimizer", choices=OPTIMIZERS, default="adamw")
    p.add("--learning_rate", type=POSITIVE, default=5e-5)
    p.add("--weight_decay", type=NON_NEGATIVE, default=0.05, help="not applied to norms, biases and position tables")
    p.add("--layer_decay", type=_number(float, 0, 1, low_open=True), default=None, help="layer-wise learning-rate decay, e.g. 0.75")
    p.add("--momentum", type=_number(float, 0, 1, high_open=True), default=0.9, help="SGD momentum")
    p.add("--max_grad_norm", type=NON_NEGATIVE, default=1.0, help="gradient clipping (0: off)")
    p.add("--num_train_epochs", type=POSITIVE_INT, default=3)
    p.add("--max_train_steps", type=POSITIVE_INT, default=None, help="overrides num_train_epochs")
    p.add("--per_device_train_batch_size", type=POSITIVE_INT, default=8)
    p.add("--per_device_eval_batch_size", type=POSITIVE_INT, default=8)
    p.add("--gradient_accumulation_steps", type=POSITIVE_INT, default=1)
    p.add("--lr_scheduler_type", choices=SCHEDULERS, default="cosine")
    p.add("--num_warmup_steps", type=COUNT, default=0)
    p.add("--lr_step_epochs", type=POSITIVE_INT, default=None, help="step schedule: decay every N epochs (default: a third)")
    p.add("--lr_step_gamma", type=_number(float, 0, 1, low_open=True), default=0.1)
    p.add("--mixed_precision", choices=("no", "fp16", "bf16"), default=None, help="default: accelerate's config")
    p.add("--ema_decay", type=_number(float, 0, 1, low_open=True, high_open=True), default=None, help="keep an EMA of the weights (e.g. 0.999); it is evaluated and saved")
    p.add("--swa_start_epoch", type=COUNT, default=None, help="average weights from this epoch on (stochastic weight averaging)")
    p.add("--early_stopping_patience", type=POSITIVE_INT, default=None, help="stop after N evaluations without improvement")
    p.add("--metric_for_best_model", choices=METRICS, default="accuracy",
          help="eval metric that picks the best model (the lowest loss, the highest of the others)")
    p.add("--seed", type=_number(int, 0, 2**32 - 1), default=42)
    # outputs
    p.add("--output_dir", default="swin-hub-output")
    p.add("--overwrite_output_dir", action="store_true", help="allow a non-empty output_dir without resuming")
    p.add("--checkpointing_steps", default="epoch", help="an integer (every N steps), 'epoch', or 'no'")
    p.add("--checkpoints_total_limit", type=COUNT, default=2,
          help="keep the newest N checkpoints, deleting older ones once a newer one is complete (0: keep all)")
    p.add("--resume_from_checkpoint", default=None, help="a checkpoint folder, or 'latest'")
    p.add("--with_tracking", action="store_true", help="log to tensorboard through Accelerate's trackers")
    p.add("--push_to_hub", action="store_true")
    p.add("--hub_model_id", default=None)
    p.add("--hub_token", default=None)
    p.add("--hub_private_repo", action="store_true")
    # console
    p.add("--verbose", action="store_true", help="also show the libraries' INFO logs and progress bars")
    p.add("--debug", action="store_true", help="show the traceback of an error (also: SWIN_HUB_DEBUG=1)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.checkpointing_steps not in ("epoch", "no") and not str(args.checkpointing_steps).isdigit():
        parser.error(f"--checkpointing_steps must be an integer, 'epoch' or 'no', got {args.checkpointing_steps!r}")
    if args.push_to_hub and not args.hub_model_id:
        parser.error("--push_to_hub needs --hub_model_id ORG/NAME")
    return args
