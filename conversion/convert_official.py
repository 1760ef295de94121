"""Convert every official checkpoint a registered tag points at (online): one verified swin-hub
repo per tag, named like `OUT/scratch_swin_t.ms_in1k/`, optionally pushed as ORG/<tag>.

    python -m conversion.convert_official OUT [--tags 'scratch_swin_*'] [--push-org ORG] [--force]

The release file (GitHub `.pth`, Google `.npz`) is fetched with timm's downloader (cached under
torch hub), then goes through `swin_hub.convert.checkpoint` exactly like `swin-hub convert`.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

import timm
from timm.models import get_pretrained_cfg
from timm.models._hub import download_cached_file

import swin_hub  # noqa: F401  (registers the scratch_* tags)
from swin_hub.convert.checkpoint import ConversionError, convert
from swin_hub.hub.push import push_folder
from swin_hub.hub.repo import write_repo


def official_tags(pattern: str) -> list[str]:
    return [t for t in timm.list_pretrained("scratch_*") if fnmatch.fnmatch(t, pattern)]


def fetch(tag: str) -> str:
    """Local path of the tag's release file (downloaded once into timm's cache)."""
    url = get_pretrained_cfg(tag).url
    if not url:
        raise ConversionError(f"{tag}: no release url")
    return download_cached_file(url, progress=True)


def convert_tag(tag: str, out: Path, force: bool = False, push_org: str | None = None) -> dict:
    model_name = tag.split(".")[0]
    converted = convert(fetch(tag), model_name=model_name)
    converted.report["tag"] = tag
    repo_id = f"{push_org}/{tag.replace('.', '-')}" if push_org else None
    folder = write_repo(converted, out / tag, force=force, repo_id=repo_id)
    if repo_id:
        push_folder(folder, repo_id, commit_message=f"Convert {tag} with swin-hub")
    return converted.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--tags", default="scratch_*", help="fnmatch pattern over registered tags")
    parser.add_argument("--push-org", default=None)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    failed = 0
    for tag in official_tags(args.tags):
        try:
            report = convert_tag(tag, Path(args.out), args.force, args.push_org)
            print(f"{tag}: parity {report['parity']['max_abs_diff']:.2e} vs {report['parity']['reference']}")
        except Exception as e:  # keep going: one unreachable file must not stop the batch
            failed += 1
            print(f"{tag}: FAILED {type(e).__name__}: {e}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
