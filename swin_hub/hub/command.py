"""`swin-hub convert SRC OUT` and `python -m conversion SRC OUT`: one argument set, one runner."""

from __future__ import annotations

import argparse
import logging
import sys

from ..convert.checkpoint import ConversionError, convert
from .push import PushError, check_online, push_folder
from .repo import check_target, write_repo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="checkpoint file (.pth/.bin/.safetensors/.npz), folder, or Hub id org/name")
    parser.add_argument("out", help="output repo folder (loads in timm and transformers)")
    parser.add_argument("--model", default=None, help="registered name (e.g. scratch_swin_b_384): its window / size, checked against the shapes")
    parser.add_argument("--num-classes", "--num_classes", type=int, default=None, help="replace the head (warns; the head is untrained)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--push-to-hub", "--push_to_hub", default=None, metavar="ORG/NAME", help="then upload OUT as this Hub repo")
    parser.add_argument("--private", action="store_true", help="create the Hub repo private")
    parser.add_argument("--revision", default=None, help="revision of a Hub source")
    parser.add_argument("--no-check", action="store_true", help="skip the parity check against the source implementation")
    parser.add_argument("--debug", action="store_true", help="on bad input, show the full traceback instead of one line")


# bad input: one line on stderr and exit code 2 (OSError: unreadable source, unwritable OUT, full disk;
# PushError: offline mode with --push-to-hub, said before the conversion starts)
BAD_INPUT = (ConversionError, OSError, PushError)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        check_target(args.out, overwrite=args.force, flag="--force")  # before the long read and parity check
        if args.push_to_hub:
            check_online()
        converted = convert(args.src, model_name=args.model, num_classes=args.num_classes,
                            revision=args.revision, check=not args.no_check)
        out = write_repo(converted, args.out, force=args.force, repo_id=args.push_to_hub)
    except BAD_INPUT as e:
        if args.debug:
            raise
        print(f"swin-hub convert: {one_line(e)}", file=sys.stderr)
        return 2
    report = converted.report
    parity = report.get("parity") or {}
    diff = parity.get("max_abs_diff")
    print(f"{report['source']}: {report['family']} ({report['source_format']} layout), architecture {report['architecture']}")
    print(f"parity vs {parity.get('reference', 'not checked')}: "
          + (f"max abs diff {diff:.2e} (tolerance {parity['tolerance']})" if diff is not None else parity.get("note", "not checked")))
    print(f"wrote {out} (report: {out / 'conversion_report.json'})")
    if args.push_to_hub:
        try:
            url = push_folder(out, args.push_to_hub, private=args.private, commit_message=f"swin-hub convert {report['source']}")
        except PushError as e:
            print(f"swin-hub convert: {e}; the converted folder {out} is intact", file=sys.stderr)
            return 3
        print(f"pushed to {url}")
    return 0


def one_line(error: BaseException) -> str:
    """The message of an error on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conversion", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


