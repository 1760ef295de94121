"""Fine-tuning with Accelerate: one process (`swin-hub train`) or many (`accelerate launch -m
swin_hub.train`), the same code.

Order of a run: checks (flags, model, resume point) -> data -> model (new head for the
dataset's classes) -> timm transforms -> optimizer / schedule -> `accelerator.prepare` -> epochs
of accumulate/clip/step with optional EMA and SWA -> evaluation gathered over all processes
(`gather_for_metrics` drops the distributed sampler's padding) -> best model at the output root,
last in `last/`, metrics, history, plots.

Exact resume: every random draw of training is a function of the run's position. Each batch
reseeds torch (CPU and CUDA), numpy and random from (seed, process, epoch, batch) before mixup
and the forward pass (drop path, dropout), and each image's augmentation has its own seed (see
ImageDataset), so a run resumed at a checkpoint's (epoch, batch) draws what the uninterrupted
run drew, however many iterators or evaluations came before. Checkpoints hold Accelerate's state
(model, optimizer, scheduler, scaler, RNG), the EMA / SWA weights and our position and running
loss, are written to a temp folder and renamed, and the oldest beyond `--checkpoints_total_limit`
are deleted once a newer one is complete.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import timm
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from safetensors.torch import load_model as load_weights
from safetensors.torch import save_model as save_weights
from timm.data import Mixup, create_transform, resolve_data_config
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from tqdm.auto import tqdm

from .. import timm as _registration  # noqa: F401  (registers scratch_* with timm)
from ..hub.repo import normal_permissions
from ..metrics import classification_metrics
from .args import parse_args
from .data import DataError, ImageData, ImageDataset, auto_workers, data_loader, load_data

_logger = logging.getLogger("swin_hub.train")
STATE_FILE = "trainer_state.json"  # in a checkpoint: where it stopped; at the output root: the run is finished
POSTFIX_EVERY = 10  # steps between progress-bar loss readings
LOG_LINES = 20  # progress lines per run when there is no terminal for a bar


class ModelError(ValueError):
    """The model name or --model_kwargs cannot give a model; the message says which."""


# --- console -------------------------------------------------------------------------------------


def configure_console(verbose: bool, main_process: bool) -> None:
    """Our progress lines on the main process; the libraries' INFO logs and transformers' save
    bars only with --verbose (a 20-epoch run otherwise prints hundreds of them)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("swin_hub").setLevel(logging.INFO if main_process else logging.ERROR)
    import transformers

    if verbose:
        transformers.utils.logging.enable_progress_bar()
    else:
        transformers.utils.logging.disable_progress_bar()


def bars_off(main_process: bool) -> bool | None:
    """tqdm's `disable`: bars on a terminal only (in a log file they are escape codes), main process only."""
    return None if main_process else True


# --- model -------------------------------------------------------------------------------------


def create_model(name_or_path: str, num_classes: int, pretrained: bool = False, **kwargs) -> torch.nn.Module:
    """A registered name, a swin-hub repo folder or a Hub id, with a head for `num_classes`
    (timm re-initialises a head of another size, with a warning)."""
    if Path(name_or_path).is_dir():
        return timm.create_model(f"local-dir:{name_or_path}", pretrained=True, num_classes=num_classes, **kwargs)
    if timm.is_model(name_or_path.split(".")[0]):
        return timm.create_model(name_or_path, pretrained=pretrained, num_classes=num_classes, **kwargs)
    if name_or_path.count("/") == 1:
        return timm.create_model(f"hf-hub:{name_or_path}", pretrained=True, num_classes=num_classes, **kwargs)
    raise ModelError(f"--model_name_or_path {name_or_path!r}: not a registered model, a folder, nor a Hub id (org/name)")


def check_model(args) -> None:
    """Fail before any data is read: an unknown name, or --model_kwargs the model cannot be built
    or run with (built and run on the meta device: no memory, no weights)."""
    name = args.model_name_or_path
    if Path(name).is_dir():
        if not (Path(name) / "config.json").is_file():
            raise ModelError(f"--model_name_or_path {name}: the folder has no config.json (not a swin-hub model folder)")
        return
    if not timm.is_model(name.split(".")[0]):
        if name.count("/") == 1 and not Path(name).exists():
            return  # a Hub id: checked when it is downloaded
        known = ", ".join(timm.list_models("scratch_*"))
        raise ModelError(f"--model_name_or_path {name!r}: not a registered model ({known}), a model folder, nor a Hub id")
    try:
        with torch.device("meta"):
            model = timm.create_model(name.split(".")[0], num_classes=2, **args.model_kwargs)
            size = model.cfg.img_size if isinstance(model.cfg.img_size, (tuple, list)) else (model.cfg.img_size,) * 2
            model(torch.empty(1, model.cfg.in_chans, *size))
    except Exception as e:  # a constructor or forward can raise anything for impossible settings
        raise ModelError(f"--model_kwargs {json.dumps(args.model_kwargs)}: {name} cannot be built with them "
                         f"({type(e).__name__}: {e})") from e


def transforms(model: torch.nn.Module, args) -> tuple:
    """timm's train / eval transforms from the model's data config, at the size the model was
    built for (timm's resolver alone reports the pretrained size)."""
    size = model.cfg.img_size if isinstance(model.cfg.img_size, (tuple, list)) else (model.cfg.img_size,) * 2
    config = resolve_data_config({"input_size": (model.cfg.in_chans, *size)}, model=model)
    trivial = args.auto_augment == "trivial"  # TrivialAugment is torchvision's; timm has the other policies
    train = create_transform(**config, is_training=True, auto_augment=None if trivial else args.auto_augment,
                             scale=(args.crop_scale_min, 1.0), hflip=args.hflip, color_jitter=args.color_jitter,
                             re_prob=args.random_erasing)
    if trivial:
        from torchvision import transforms as T

        steps = list(train.transforms)
        at = next(i for i, t in enumerate(steps) if "ToTensor" in type(t).__name__)
        train = T.Compose(steps[:at] + [T.TrivialAugmentWide(interpolation=T.InterpolationMode.BICUBIC)] + steps[at:])
    return train, create_transform(**config, is_training=False)


def freeze_backbone(model: torch.nn.Module) -> None:
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith("head.")


# --- schedule ----------------------------------------------------------------------------------


def scheduler_for(args, optimizer, warmup: int, total: int, steps_per_epoch: int):
    """transformers' schedules, or a step decay every `lr_step_epochs`, all with linear warmup."""
    if args.lr_scheduler_type == "step":
        every = (args.lr_step_epochs or max(1, math.ceil(total / steps_per_epoch / 3))) * steps_per_epoch

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return args.lr_step_gamma ** (step // every)

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    from transformers import get_scheduler

    return get_scheduler(args.lr_scheduler_type, optimizer, num_warmup_steps=warmup, num_training_steps=total)


def seed_batch(seed: int, process: int, epoch: int, batch: int) -> None:
    """Reseed every global RNG for one batch: drop path, dropout (torch, CPU and CUDA) and mixup /
    cutmix (numpy) then depend on the batch's position alone, which a checkpoint restores."""
    batch_seed = int(np.random.SeedSequence([seed, process, epoch, batch]).generate_state(1)[0])
    random.seed(batch_seed)
    np.random.seed(batch_seed)
    torch.manual_seed(batch_seed)


# --- evaluation ----------------------------------------------------------------------------------


@torch.no_grad()
def evaluate_model(model, loader, accelerator: Accelerator, class_names: list[str], desc: str = "eval") -> tuple[dict, dict]:
    """Metrics and the cross-entropy loss over the whole split on every process (same numbers
    everywhere), and the raw scores / references for plots. No top-5 accuracy for 5 classes or
    fewer: it would be 1.0 whatever the model."""
    model.eval()
    scores, refs = [], []
    for x, y in tqdm(loader, desc=desc, leave=False, disable=bars_off(accelerator.is_local_main_process)):
        logits = model(x)
        logits, y = accelerator.gather_for_metrics((logits.float(), y))
        scores.append(logits.cpu())
        refs.append(y.cpu())
    scores, refs = torch.cat(scores), torch.cat(refs)
    metrics = classification_metrics(scores.numpy(), refs.numpy(), class_names)
    metrics["eval_loss"] = torch.nn.functional.cross_entropy(scores, refs).item()
    if scores.shape[1] <= 5:
        del metrics["eval_top5_accuracy"]
    return metrics, {"scores": scores.softmax(-1).numpy(), "references": refs.numpy()}


def improves(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if metric == "loss" else value > best


class StepClock:
    """Wall-clock seconds of the training steps alone, between start() and stop() (evaluation and
    checkpoint writing stay outside). CUDA kernels run asynchronously: the device is synchronised
    before each reading, else the clock would time their launch, not their work (and
    wait_for_everyone() only syncs processes, not the device)."""

    def __init__(self, device: torch.device):
        self.device, self.seconds, self._since = device, 0.0, 0.0

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def start(self) -> None:
        self._since = self._now()

    def stop(self) -> None:
        self.seconds += self._now() - self._since


# --- checkpoints -----------------------------------------------------------------------------------


def latest_checkpoint(output_dir: Path) -> Path | None:
    done = [p for p in (output_dir / "checkpoints").glob("step_*") if (p / STATE_FILE).is_file()]
    return max(done, key=lambda p: int(p.name.split("_")[1]), default=None)


def save_checkpoint(accelerator: Accelerator, output_dir: Path, state: dict, averages: dict, limit: int) -> Path:
    """Accelerate's state, the weight averages (EMA / SWA, as safetensors) and ours, into a temp
    folder renamed into place: a kill mid-save leaves only a `.tmp` folder, never a broken
    checkpoint. Then the oldest complete ones beyond `limit` go (0: keep all)."""
    final = output_dir / "checkpoints" / f"step_{state['completed_steps']}"
    tmp = final.with_name(f".{final.name}.tmp")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for name, module in averages.items():
            save_weights(module, str(tmp / f"{name}.safetensors"))
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=2))
        normal_permissions(tmp)  # safetensors writes 0600 files
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if limit:
            rotate_checkpoints(output_dir, limit)
    accelerator.wait_for_everyone()
    return final


def rotate_checkpoints(output_dir: Path, limit: int) -> None:
    """Keep the newest `limit` complete checkpoints; called only after a save completed, so the one
    a run resumed from is deleted only once a newer one exists. Leftovers of killed saves go too."""
    folder = output_dir / "checkpoints"
    complete = sorted((p for p in folder.glob("step_*") if (p / STATE_FILE).is_file()), key=lambda p: int(p.name.split("_")[1]))
    for old in complete[:-limit] + list(folder.glob(".step_*.tmp")):
        shutil.rmtree(old)


def load_checkpoint(accelerator: Accelerator, path: Path, averages: dict) -> dict:
    accelerator.load_state(str(path))
    for name, module in averages.items():
        load_weights(module, str(path / f"{name}.safetensors"), device=str(accelerator.device))
    return json.loads((path / STATE_FILE).read_text())


def save_model(model: torch.nn.Module, directory: Path, class_names: list[str], extra: dict | None = None) -> None:
    """The swin-hub repo files into `directory`, each replaced atomically (the folder also
    holds checkpoints and logs, so it is updated file by file)."""
    from ..hub.repo import save_repo

    staging = directory.parent / f".{directory.name}.model-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    save_repo(model, staging, id2label=class_names, extra_files=extra)
    directory.mkdir(parents=True, exist_ok=True)
    for path in staging.iterdir():
        os.replace(path, directory / path.name)
    staging.rmdir()


# --- the run ---------------------------------------------------------------------------------------


def train(args) -> dict:
    output_dir = Path(args.output_dir)
    configure_console(args.verbose, int(os.environ.get("RANK", "0")) == 0)
    check_model(args)
    done = finished_results(args, output_dir)
    if done is not None:
        return done
    resume = resolve_resume(args, output_dir)  # before anything is written (every process checks the same folder)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    accelerator = Accelerator(
        # a multi-process launch without GPUs: gloo on the CPU (accelerate would otherwise start
        # `world` unconnected runs that overwrite each other's outputs)
        cpu=world > 1 and not torch.cuda.is_available(),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with="tensorboard" if args.with_tracking else None,
        project_dir=str(output_dir / "runs"),
        # non_blocking: pinned batches are copied to the GPU while it still computes the last step
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed,
                                                   non_blocking=torch.cuda.is_available()),
    )
    if accelerator.num_processes != world:
        raise RuntimeError(f"launched {world} processes but Accelerate joined {accelerator.num_processes}; check the launch config")
    set_seed(args.seed)

    data = load_data(args)
    names = data.class_names
    if args.metric_for_best_model == "top5_accuracy" and len(names) <= 5:
        raise DataError(f"--metric_for_best_model top5_accuracy: the data has {len(names)} classes, and top-5 of 5 "
                        "or fewer is always 1.0; pick another metric")
    model = create_model(args.model_name_or_path, len(names), args.pretrained, **args.model_kwargs)
    if args.gradient_checkpointing:
        model.set_grad_checkpointing(True)
    if args.freeze_backbone:
        freeze_backbone(model)
    train_tf, eval_tf = transforms(model, args)
    mixing = args.mixup > 0 or args.cutmix > 0
    device = accelerator.device
    sharing_cores = min(accelerator.num_processes, max(1, torch.cuda.device_count()))  # one process per GPU of this machine
    workers = args.num_workers if args.num_workers is not None else auto_workers(device, sharing_cores)
    train_loader = data_loader(ImageDataset(data.train, train_tf, seed=args.seed), args.per_device_train_batch_size,
                               workers, device, shuffle=True, drop_last=mixing)
    eval_loader = data_loader(ImageDataset(data.validation, eval_tf), args.per_device_eval_batch_size, workers, device)
    optimizer = create_optimizer_v2(model, opt=args.optimizer, lr=args.learning_rate, weight_decay=args.weight_decay,
                                    momentum=args.momentum, layer_decay=args.layer_decay)
    model, optimizer, train_loader, eval_loader = accelerator.prepare(model, optimizer, train_loader, eval_loader)

    steps_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
    max_steps = args.max_train_steps or args.num_train_epochs * steps_per_epoch
    epochs = math.ceil(max_steps / steps_per_epoch)
    # the prepared scheduler steps once per process per update (as transformers' no_trainer script counts)
    scheduler = scheduler_for(args, optimizer, args.num_warmup_steps * accelerator.num_processes,
                              max_steps * accelerator.num_processes, steps_per_epoch * accelerator.num_processes)
    scheduler = accelerator.prepare(scheduler)
    # a compiled wrapper for the training steps only: `model` itself (saved, checkpointed, copied
    # for EMA / SWA, evaluated) keeps its plain state_dict keys and stays eager, so evaluation's
    # no_grad / eval mode / odd last batch cost no recompilation
    compiled = torch.compile(model) if args.torch_compile else model

    unwrapped = accelerator.unwrap_model(model)
    ema = timm.utils.ModelEmaV3(unwrapped, decay=args.ema_decay) if args.ema_decay else None
    swa = torch.optim.swa_utils.AveragedModel(unwrapped) if args.swa_start_epoch is not None else None
    averages = {name: module for name, module in (("ema", ema), ("swa", swa)) if module is not None}

    mixup = Mixup(mixup_alpha=args.mixup, cutmix_alpha=args.cutmix, label_smoothing=args.label_smoothing,
                  num_classes=len(names)) if mixing else None
    if mixing:
        criterion = SoftTargetCrossEntropy()
    elif args.label_smoothing:
        criterion = LabelSmoothingCrossEntropy(args.label_smoothing)
    else:
        criterion = torch.nn.CrossEntropyLoss()

    # loss_sum / loss_batches: the running train loss of the epoch at a mid-epoch checkpoint
    state = {"epoch": 0, "batches_in_epoch": 0, "completed_steps": 0, "loss_sum": 0.0, "loss_batches": 0,
             "best_metric": None, "best_epoch": None, "evals_without_improvement": 0, "stopped_early": False,
             "history": []}
    if resume is not None:
        state = load_checkpoint(accelerator, resume, averages)
        _logger.info(f"resumed from {resume} at epoch {state['epoch']}, step {state['completed_steps']}")
    if args.with_tracking:
        accelerator.init_trackers("swin-hub", config={k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))})

    _logger.info(f"{data.source}: {len(data.train)} train / {len(data.validation)} validation images, {len(names)} classes; "
                 f"{accelerator.num_processes} process(es), {max_steps} steps over {epochs} epochs, "
                 f"{workers} loader worker(s) per process{', torch.compile' if args.torch_compile else ''}")
    progress = tqdm(total=max_steps, initial=state["completed_steps"], desc="train", unit="step",
                    disable=bars_off(accelerator.is_local_main_process))
    # without a bar, a step line now and then, when epochs are too long for their own lines to show progress
    log_every = max(POSTFIX_EVERY, max_steps // LOG_LINES)
    log_every = log_every if progress.disable and log_every < steps_per_epoch else 0
    every = int(args.checkpointing_steps) if str(args.checkpointing_steps).isdigit() else None
    saved_at = state["completed_steps"] if resume is not None else None
    metric = args.metric_for_best_model
    start = time.time()
    run_samples, run_seconds = 0, 0.0  # training steps of this invocation, for the overall throughput
    for epoch in range(state["epoch"], epochs):
        model.train()
        train_loader.set_epoch(epoch)
        train_loader.dataset.epoch = epoch  # per-sample augmentation seeds (see ImageDataset)
        skip = state["batches_in_epoch"] if epoch == state["epoch"] else 0
        active = accelerator.skip_first_batches(train_loader, skip) if skip else train_loader
        # the running loss goes on from a mid-epoch checkpoint, where the main process holds the sum of all
        carried = state["loss_sum"] if skip and accelerator.is_main_process else 0.0
        loss_sum = torch.tensor(carried, dtype=torch.float32, device=device)
        state["batches_in_epoch"], loss_batches, samples = skip, state["loss_batches"] if skip else 0, 0
        clock = StepClock(device)
        clock.start()
        for x, y in active:
            seed_batch(args.seed, accelerator.process_index, epoch, state["batches_in_epoch"])
            with accelerator.accumulate(model):
                if mixup is not None:
                    x, y = mixup(x, y)
                loss = criterion(compiled(x), y)
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            state["batches_in_epoch"] += 1
            loss_sum += loss.detach().float()
            loss_batches += 1
            samples += len(x)
            if not accelerator.sync_gradients:
                continue
            state["completed_steps"] += 1
            if ema is not None:
                ema.update(unwrapped, step=state["completed_steps"])
            progress.update(1)
            if state["completed_steps"] % POSTFIX_EVERY == 0:  # .item() waits for the device: not every step
                progress.set_postfix(loss=f"{loss.item():.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if log_every and state["completed_steps"] % log_every == 0:
                _logger.info(f"step {state['completed_steps']}/{max_steps}: loss {loss.item():.4f}, "
                             f"lr {scheduler.get_last_lr()[0]:.2e}")
            if every and state["completed_steps"] % every == 0:
                clock.stop()
                position = {**state, "epoch": epoch, "loss_sum": float(accelerator.reduce(loss_sum.clone(), "sum")),
                            "loss_batches": loss_batches}
                save_checkpoint(accelerator, output_dir, position, averages, args.checkpoints_total_limit)
                saved_at = state["completed_steps"]
                clock.start()
            if state["completed_steps"] >= max_steps:
                break
        clock.stop()
        samples = int(accelerator.reduce(torch.tensor(samples, device=device), "sum"))  # images of all processes
        throughput = samples / clock.seconds if samples else float("nan")  # nan: resumed at the epoch's end
        run_samples, run_seconds = run_samples + samples, run_seconds + clock.seconds
        if swa is not None and epoch >= args.swa_start_epoch:
            swa.update_parameters(unwrapped)
        loss_sum = accelerator.reduce(loss_sum, "sum")
        train_loss = float(loss_sum) / (loss_batches * accelerator.num_processes) if loss_batches else float("nan")
        evaluated = ema.module if ema is not None else model
        metrics, _ = evaluate_model(evaluated, eval_loader, accelerator, names, desc=f"eval epoch {epoch}")
        record = {"epoch": epoch, "step": state["completed_steps"], "train_loss": train_loss,
                  "learning_rate": scheduler.get_last_lr()[0], "seconds": round(time.time() - start, 1),
                  "train_samples_per_second": round(throughput, 2),
                  **{k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None}}
        state["history"].append(record)
        if args.with_tracking:
            accelerator.log({k: v for k, v in record.items() if isinstance(v, (int, float))}, step=state["completed_steps"])
        value = metrics.get(f"eval_{metric}")
        if value is None:
            raise DataError(f"--metric_for_best_model {metric}: eval_{metric} is undefined on this validation split "
                            f"(available: {sorted(k for k, v in record.items() if k.startswith('eval_') and v is not None)})")
        if improves(metric, value, state["best_metric"]):
            state.update(best_metric=value, best_epoch=epoch, evals_without_improvement=0)
            if accelerator.is_main_process:
                save_model(accelerator.unwrap_model(evaluated), output_dir, names)
        else:
            state["evals_without_improvement"] += 1
        accelerator.wait_for_everyone()
        _logger.info(f"epoch {epoch}: train_loss {train_loss:.4f}, eval_loss {metrics['eval_loss']:.4f}, "
                     f"eval_{metric} {value:.4f}, {throughput:.1f} train images/s")
        state["stopped_early"] = (args.early_stopping_patience is not None
                                  and state["evals_without_improvement"] >= args.early_stopping_patience)
        state.update(epoch=epoch + 1, batches_in_epoch=0, loss_sum=0.0, loss_batches=0)
        end = state["completed_steps"] >= max_steps or state["stopped_early"]
        # with step checkpoints the end of training is saved too (as transformers does), so a longer run can go on from it
        if args.checkpointing_steps == "epoch" or (every and end and saved_at != state["completed_steps"]):
            save_checkpoint(accelerator, output_dir, state, averages, args.checkpoints_total_limit)
        if end:
            break
    progress.close()
    return finish(args, accelerator, model, ema, swa, eval_loader, data, state, output_dir, time.time() - start,
                  run_samples / run_seconds if run_seconds else None, steps_per_epoch, train_tf)


def finish(args, accelerator, model, ema, swa, eval_loader, data: ImageData, state: dict, output_dir: Path, seconds: float,
           samples_per_second: float | None, steps_per_epoch: int, train_tf) -> dict:
    """Last model to `last/`, final evaluation of the best one, results, history, plots, card, and
    last the root trainer_state.json that marks the run finished."""
    names = data.class_names
    metric = args.metric_for_best_model
    last = swa.module if swa is not None else (ema.module if ema is not None else accelerator.unwrap_model(model))
    if swa is not None:  # the averaged weights are a new model: evaluate them as a candidate for best
        metrics, _ = evaluate_model(swa, eval_loader, accelerator, names, desc="eval swa")
        if improves(metric, metrics[f"eval_{metric}"], state["best_metric"]):
            state.update(best_metric=metrics[f"eval_{metric}"], best_epoch="swa")
            if accelerator.is_main_process:
                save_model(swa.module, output_dir, names)
    if accelerator.is_main_process:
        save_model(last, output_dir / "last", names)
    accelerator.wait_for_everyone()
    best = create_model(str(output_dir), len(names)).to(accelerator.device)
    metrics, raw = evaluate_model(best, eval_loader, accelerator, names, desc="eval best")
    # one checksum per process of the trained weights: equal when the processes trained one model
    checksum = torch.tensor([float(sum(p.detach().double().sum() for p in accelerator.unwrap_model(model).parameters()))],
                            device=accelerator.device)
    results = {**metrics, "best_epoch": state["best_epoch"], "epochs": state["epoch"],
               "train_steps": state["completed_steps"], "train_runtime_seconds": round(seconds, 1),
               "train_samples_per_second": round(samples_per_second, 2) if samples_per_second else None,
               "train_samples": len(data.train), "num_classes": len(names), "num_processes": accelerator.num_processes,
               "dataset": data.source, "process_weight_checksums": accelerator.gather(checksum).tolist()}
    if accelerator.is_main_process:
        # every flag (zeros included) plus the augmentation pipeline timm built from them
        recorded = {**vars(args), "hub_token": "<HUB_TOKEN>" if args.hub_token else None,
                    "train_transform": [str(t) for t in train_tf.transforms]}
        write_json(output_dir / "all_results.json", results)
        write_json(output_dir / "history.json", state["history"])
        write_json(output_dir / "training_args.json", recorded)
        from ..hub.cards import finetuned_card
        from .plots import save_plots

        plots = save_plots(output_dir, state["history"], metrics, raw, names, state["best_epoch"], metric)
        config = json.loads((output_dir / "config.json").read_text())
        card = finetuned_card(results, recorded, config, args.hub_model_id, sum(p.numel() for p in best.parameters()),
                              [p.name for p in plots])
        write_text(output_dir / "README.md", str(card))
        write_json(output_dir / STATE_FILE, {**state, "steps_per_epoch": steps_per_epoch, "finished": True})
        if args.push_to_hub:
            push(args, output_dir)
    if args.with_tracking:
        accelerator.end_training()
    accelerator.wait_for_everyone()
    return results


def push(args, output_dir: Path) -> None:
    """The best model's folder (not checkpoints / last / logs) as one Hub commit; a failure
    is logged and leaves the local result as it is."""
    from ..hub.push import PushError, push_folder

    try:
        url = push_folder(output_dir, args.hub_model_id, token=args.hub_token, private=args.hub_private_repo,
                          commit_message="Fine-tuned with swin-hub")
        _logger.info(f"pushed to {url}")
    except PushError as e:
        _logger.error(f"{e}; the trained model in {output_dir} is intact")


def write_json(path: Path, value) -> None:
    write_text(path, json.dumps(value, indent=2, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    """Temp file + rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def finished_results(args, output_dir: Path) -> dict | None:
    """`--resume_from_checkpoint latest` on a run that finished what these arguments ask for (or
    stopped early): its results, with nothing retrained or rewritten. None otherwise."""
    final = output_dir / STATE_FILE
    if args.resume_from_checkpoint != "latest" or not final.is_file():
        return None
    state = json.loads(final.read_text())
    wanted = args.max_train_steps or args.num_train_epochs * state["steps_per_epoch"]
    if state["completed_steps"] < wanted and not state["stopped_early"]:
        return None  # asked for more: go on from the last checkpoint
    _logger.warning(f"{output_dir} is a finished run ({state['completed_steps']} steps, best epoch {state['best_epoch']}); "
                    "nothing to do (ask for more --num_train_epochs or --max_train_steps to train further)")
    return json.loads((output_dir / "all_results.json").read_text())


def resolve_resume(args, output_dir: Path) -> Path | None:
    """The checkpoint to resume from, or None; refuses to train over an unrelated non-empty output_dir."""
    if args.resume_from_checkpoint:
        path = latest_checkpoint(output_dir) if args.resume_from_checkpoint == "latest" else Path(args.resume_from_checkpoint)
        if path is None:
            raise FileNotFoundError(f"--resume_from_checkpoint latest: no complete checkpoint in {output_dir / 'checkpoints'}")
        if not (path / STATE_FILE).is_file():
            raise FileNotFoundError(f"--resume_from_checkpoint {path}: not a complete swin-hub checkpoint (no {STATE_FILE})")
        return path
    if output_dir.is_dir() and any(output_dir.iterdir()) and not args.overwrite_output_dir:
        raise FileExistsError(f"--output_dir {output_dir} is not empty: pass --resume_from_checkpoint latest to continue, "
                              "or --overwrite_output_dir to start over")
    return None


# errors about the user's flags, data or folders: one line, exit status 2 (a traceback with --debug)
USER_ERRORS = (DataError, ModelError, FileExistsError, FileNotFoundError)


def debugging(args) -> bool:
    return args.debug or os.environ.get("SWIN_HUB_DEBUG", "") not in ("", "0")


def resume_command(argv: list[str]) -> str:
    """The command line that was run, resuming from the latest checkpoint."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--resume_from_checkpoint", "--resume-from-checkpoint"):
            skip = True
        elif not arg.startswith(("--resume_from_checkpoint=", "--resume-from-checkpoint=")):
            kept.append(arg)
    launcher = "accelerate launch -m swin_hub.train" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else "swin-hub train"
    return f"{launcher} {shlex.join(kept + ['--resume_from_checkpoint', 'latest'])}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        results = train(args)
    except USER_ERRORS as e:
        if debugging(args):
            raise
        print(f"swin-hub train: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debugging(args):
            raise
        last = latest_checkpoint(Path(args.output_dir))
        if int(os.environ.get("RANK", "0")) == 0:
            if last is None:
                print("\nswin-hub train: interrupted before the first checkpoint; start over with --overwrite_output_dir",
                      file=sys.stderr)
            else:
                step = json.loads((last / STATE_FILE).read_text())["completed_steps"]
                print(f"\nswin-hub train: interrupted; the last complete checkpoint is {last} (step {step}). Resume with:\n"
                      f"  {resume_command(argv)}", file=sys.stderr)
        return 130  # the shell's status for a SIGINT
    metric = f"eval_{args.metric_for_best_model}"
    print(f"best {metric} {results[metric]:.4f} (epoch {results['best_epoch']}); model in {args.output_dir}")
    return 0


def _load_for_eval(name_or_path: str, class_names: list[str]) -> tuple[torch.nn.Module, list[int]]:
    """The model with its own head, and each data class's index in that head (by label name)."""
    if timm.is_model(name_or_path.split(".")[0]) and not Path(name_or_path).is_dir():
        return create_model(name_or_path, len(class_names)), list(range(len(class_names)))
    source = f"local-dir:{name_or_path}" if Path(name_or_path).is_dir() else f"hf-hub:{name_or_path}"
    model = timm.create_model(source, pretrained=True)
    labels = list(model.pretrained_cfg.get("label_names") or [])
    if not labels:
        if model.num_classes != len(class_names):
            raise ModelError(f"{name_or_path}: {model.num_classes} classes and no label names; the data has {len(class_names)}")
        return model, list(range(len(class_names)))
    missing = [n for n in class_names if n not in labels]
    if missing:
        raise ModelError(f"{name_or_path}: the data's classes {missing} are not among the model's labels {labels[:20]}")
    return model, [labels.index(n) for n in class_names]


# what makes the validation split: `swin-hub evaluate` takes them from the model's training run
SPLIT_ARGS = ("seed", "train_val_split", "max_train_samples", "max_eval_samples")


def training_split_args(model: str) -> tuple[dict, Path | None]:
    """The split settings recorded in a model folder's training_args.json (or its run's, for `last/`)."""
    folder = Path(model)
    for candidate in (folder / "training_args.json", folder.parent / "training_args.json" if folder.name == "last" else None):
        if candidate is not None and candidate.is_file():
            recorded = json.loads(candidate.read_text())
            return {k: recorded[k] for k in SPLIT_ARGS if k in recorded}, candidate
    return {}, None


def evaluate_main(argv: list[str] | None = None) -> int:
    """`swin-hub evaluate MODEL DATA`: a model's metrics on a dataset's validation split (the
    split its training made: seed, ratio and caps from its training_args.json unless given) or on
    all of it."""
    import argparse

    from .args import POSITIVE_INT, build_parser

    parser = argparse.ArgumentParser(prog="swin-hub evaluate", description="Evaluate a swin-hub model on a dataset.")
    parser.add_argument("model", help="swin-hub repo folder or Hub id (a registered name evaluates an untrained head)")
    parser.add_argument("data", help="'digits', an ImageFolder tree, or a datasets folder / Hub id")
    parser.add_argument("--split", choices=("validation", "all"), default="validation")
    parser.add_argument("--batch_size", "--batch-size", type=POSITIVE_INT, default=32)
    parser.add_argument("--output", default=None, help="also write the metrics JSON to this file")
    args, rest = parser.parse_known_args(argv)
    folder = Path(args.data)
    is_image_tree = folder.is_dir() and not any((folder / f).is_file() for f in ("dataset_dict.json", "dataset_info.json"))
    data_parser = build_parser()
    data_parser.prog = "swin-hub evaluate"
    recorded, source = training_split_args(args.model)
    data_parser.set_defaults(**recorded)  # flags given on this command line still win
    data_args = data_parser.parse_args(rest + (["--train_dir", args.data] if is_image_tree else ["--dataset_name", args.data]))
    try:
        return evaluate_split(args, data_args, recorded, source)
    except USER_ERRORS as e:
        if debugging(data_args):
            raise
        print(f"swin-hub evaluate: error: {e}", file=sys.stderr)
        return 2


def evaluate_split(args, data_args, recorded: dict, source: Path | None) -> int:
    from .data import Split

    configure_console(data_args.verbose, True)
    if recorded and args.split == "validation":
        used = ", ".join(f"{k} {getattr(data_args, k)}" for k in SPLIT_ARGS)
        print(f"validation split: {used} (training's, from {source})", file=sys.stderr)
    data = load_data(data_args)
    split = data.validation
    if args.split == "all":
        both = [data.train, data.validation]
        split = Split([s.images[i] for s in both for i in range(len(s))], [y for s in both for y in s.labels])
    model, index = _load_for_eval(args.model, data.class_names)
    split = Split(split.images, [index[y] for y in split.labels], split.boxes)
    names = list(model.pretrained_cfg.get("label_names") or data.class_names)
    accelerator = Accelerator()
    _, eval_tf = transforms(model, data_args)
    loader = torch.utils.data.DataLoader(ImageDataset(split, eval_tf), batch_size=args.batch_size)
    model, loader = accelerator.prepare(model.eval(), loader)
    metrics, _ = evaluate_model(model, loader, accelerator, names)
    if args.output and accelerator.is_main_process:
        write_json(Path(args.output), metrics)
    print(json.dumps({k: v for k, v in metrics.items() if k not in ("eval_confusion_matrix", "eval_per_class")}, indent=2))
    return 0
