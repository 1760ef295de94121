"""`swin-hub` command line: models, info, demo (more subcommands come with training and conversion)."""

from __future__ import annotations

import argparse
import sys

import timm
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from . import timm as _registration  # noqa: F401  (registers the scratch_* models with timm)


def build_on_meta(name: str, **kwargs) -> nn.Module:
    """Build a registered model without allocating or initialising real weights."""
    if name not in timm.list_models("scratch_*"):
        known = ", ".join(timm.list_models("scratch_*"))
        raise SystemExit(f"swin-hub: unknown model {name!r}; registered models: {known}")
    with torch.device("meta"):
        return timm.create_model(name, **kwargs).eval()


def input_size(model: nn.Module) -> tuple[int, int, int]:
    return tuple(model.pretrained_cfg["input_size"])


def count_macs(model: nn.Module, size: tuple[int, int, int]) -> float:
    """Multiply-accumulates of one image's forward pass (what the papers call FLOPs)."""
    x = torch.empty(1, *size, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / 2


def cmd_models(args: argparse.Namespace) -> None:
    rows = []
    for name in timm.list_models(args.filter):
        model = build_on_meta(name)
        size = input_size(model)
        params = sum(p.numel() for p in model.parameters())
        tags = [t.split(".", 1)[1] for t in timm.list_pretrained(f"{name}.*")]
        rows.append((name, f"{size[1]}x{size[2]}", f"{params / 1e6:.1f}", f"{count_macs(model, size) / 1e9:.2f}", ", ".join(tags)))
    header = ("model", "input", "params (M)", "GMACs", "pretrained tags")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    print("\nGMACs: multiply-accumulates per image at the input size (the 'FLOPs' of the Swin and ViT papers).")


def cmd_info(args: argparse.Namespace) -> None:
    kwargs = {}
    if args.img_size:
        kwargs["img_size"] = args.img_size
    model = build_on_meta(args.model, **kwargs)
    size = (3, args.img_size, args.img_size) if args.img_size else input_size(model)
    print(f"{args.model}: {type(model).__name__}")
    for key, value in model.cfg.to_dict().items():
        print(f"  {key:<20} {value}")
    print(f"\ninput (1, {size[0]}, {size[1]}, {size[2]})")
    shapes: dict[str, tuple] = {}
    watched = [(n, m) for n, m in model.named_modules() if n.count(".") <= 1 and n and not isinstance(m, nn.ModuleList)]
    def record(name):
        def hook(module, inputs, output):
            shapes.setdefault(name, tuple(output.shape))  # returns None: the output is left as it is
        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in watched]
    x = torch.empty(1, *size, device="meta")
    with torch.no_grad():
        model(x)
        for hook in hooks:
            hook.remove()
    print(f"{'layer':<28} {'output shape':<24} {'params':>12}")
    for name, module in watched:
        if name not in shapes:
            continue
        params = sum(p.numel() for p in module.parameters())
        extra = ""
        if hasattr(module, "blocks") and hasattr(module.blocks[0], "window_and_shift"):
            h, w = shapes[name][1:3]
            wins = sorted({b.window_and_shift(h, w) for b in module.blocks})
            extra = "  windows(wh,ww,sh,sw): " + " ".join(str(t) for t in wins)
        print(f"{name:<28} {str(shapes[name]):<24} {params:>12,}{extra}")
    total = sum(p.numel() for p in model.parameters())
    print(f"\ntotal params {total:,}; {count_macs(model, size) / 1e9:.2f} GMACs per image")


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo, run_finetune

    run_demo(args.fixtures)
    if args.epochs > 0:
        run_finetune(args.output_dir, args.epochs)


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    from .hub.command import add_arguments

    add_arguments(parser)


def run_convert(args: argparse.Namespace) -> int:
    from .hub.command import run

    return run(args)


def cmd_push(args: argparse.Namespace) -> int:
    from .hub.push import PushError, push_folder

    try:
        url = push_folder(args.folder, args.repo_id, token=args.token, private=args.private, revision=args.revision,
                          commit_message=args.commit_message)
    except PushError as e:
        if args.debug:
            raise
        print(f"swin-hub push: {e}; {args.folder} is unchanged", file=sys.stderr)
        return 2
    print(f"pushed {args.folder} to {url}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .convert.checkpoint import ConversionError
    from .hub.export import export_transformers

    try:
        result = export_transformers(args.src, args.out, force=args.force)
    except (ConversionError, FileExistsError, OSError) as e:
        print(f"swin-hub export: {e}", file=sys.stderr)
        return 2
    print(f"wrote {result['out']}: transformers {result['class']}, max abs diff {result['max_abs_diff']:.2e} vs swin-hub")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="swin-hub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("models", help="list the registered models with params and GMACs")
    p.add_argument("filter", nargs="?", default="scratch_*", help="timm wildcard (default scratch_*)")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("info", help="layer summary of one model")
    p.add_argument("model")
    p.add_argument("--img-size", "--img_size", type=int, default=None, help="input size (default: the model's)")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("demo", help="the main job, offline: official parity check, then fine-tune on the bundled digits")
    p.add_argument("--fixtures", default=None, help="folder with the official oracle fixtures (default: bundled)")
    p.add_argument("--output-dir", "--output_dir", default="swin-hub-demo", help="where the fine-tuned model goes")
    p.add_argument("--epochs", type=int, default=20, help="fine-tuning epochs on digits (0: parity check only)")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("convert", help="official / timm / transformers checkpoint -> verified swin-hub repo folder")
    add_convert_arguments(p)
    p.set_defaults(func=run_convert)
    p = sub.add_parser("train", help="fine-tune with Accelerate (one process; `accelerate launch -m swin_hub.train` for many)",
                       add_help=False)
    p.set_defaults(func=None, passthrough="train")
    p = sub.add_parser("evaluate", help="metrics of a model on a dataset (swin-hub evaluate MODEL DATA)", add_help=False)
    p.set_defaults(func=None, passthrough="evaluate")
    p = sub.add_parser("push", help="upload a swin-hub repo folder to the Hub as one commit")
    p.add_argument("folder")
    p.add_argument("repo_id", help="ORG/NAME")
    p.add_argument("--private", action="store_true")
    p.add_argument("--revision", default=None, help="branch to commit to (created if missing)")
    p.add_argument("--commit-message", "--commit_message", default="Upload with swin-hub")
    p.add_argument("--token", default=None, help="default: HF_TOKEN or the `hf auth login` token")
    p.add_argument("--debug", action="store_true", help="on failure, show the full traceback instead of one line")
    p.set_defaults(func=cmd_push)
    p = sub.add_parser("export", help="swin-hub repo -> transformers-native Swin/ViT folder (model_type swin / vit)")
    p.add_argument("src", help="swin-hub repo folder or Hub id")
    p.add_argument("out")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_export)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("train", "evaluate"):  # their own parsers (transformers-style flag names)
        from .train.loop import evaluate_main, main as train_main

        code = (train_main if argv[0] == "train" else evaluate_main)(argv[1:])
        if code:
            sys.exit(code)
        return
    args = parser.parse_args(argv)
    code = args.func(args)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
