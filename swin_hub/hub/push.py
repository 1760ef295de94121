"""Upload a repo folder to the Hub in one commit with huggingface_hub's HfApi.

A commit is all-or-nothing on the Hub, so a transient failure (5xx, 429, a dropped
connection) is retried by repeating the whole upload; a wrong token or a missing permission
is one clear line. The local folder is only ever read.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.utils import filter_repo_objects

from .cards import PLACEHOLDER  # what cards rendered before the repo id was known say in their snippets

_logger = logging.getLogger(__name__)
# training outputs that are not part of the model repo
IGNORE = ["checkpoints/**", "last/**", "runs/**", ".*", "**/.*", "*.tmp"]


class PushError(RuntimeError):
    """The upload failed; the local folder is untouched."""


def _chain(error: BaseException):
    """The error and what caused it (huggingface_hub wraps a failed LFS upload in a RuntimeError)."""
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def _status(error: Exception) -> int | None:
    for e in _chain(error):
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status is not None:
            return status
    return None


def _transport_errors() -> tuple[type, ...]:
    """Connection-level errors of whichever HTTP library this huggingface_hub uses."""
    found = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx", "requests"):
        try:
            lib = __import__(module)
        except ImportError:
            continue
        for name in ("TransportError", "RequestException"):
            if isinstance(getattr(lib, name, None), type):
                found.append(getattr(lib, name))
    return tuple(found)


def _transient(error: Exception) -> bool:
    """5xx, 429 and dropped connections are worth another try; 4xx and offline mode are not."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    if any(isinstance(e, OfflineModeIsEnabled) for e in _chain(error)):
        return False
    status = _status(error)
    if status is not None:
        return status == 429 or status >= 500
    return any(isinstance(e, _transport_errors()) for e in _chain(error))




def _operations(folder: Path, repo_id: str) -> list[CommitOperationAdd]:
    """Every file of the folder (less training state) for one commit; the model card's usage
    snippets get the real repo id."""
    files = [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*")) if p.is_file()]
    operations = []
    for rel in filter_repo_objects(files, ignore_patterns=IGNORE):
        if rel == "README.md":
            card = (folder / rel).read_text().replace(PLACEHOLDER, repo_id)
            operations.append(CommitOperationAdd(rel, card.encode()))
        else:
            operations.append(CommitOperationAdd(rel, str(folder / rel)))
    return operations


def check_repo_folder(folder: Path) -> None:
    """A folder worth pushing: our config.json and the weights (a foreign config.json beside
    swin-hub weights would publish a repo that loads random weights in transformers)."""
    from .repo import foreign_folder

    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise PushError(f"{folder}: not a swin-hub repo folder (needs config.json and model.safetensors)")
    problem = foreign_folder(folder)
    if problem:
        raise PushError(f"not a swin-hub repo folder: {problem}")


def check_online() -> None:
    """Offline mode makes every request fail: say so at once instead of retrying."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise PushError("HF_HUB_OFFLINE is set: pushing needs the Hub (unset HF_HUB_OFFLINE to push)")


def push_folder(folder: str | Path, repo_id: str, *, token: str | None = None, private: bool = False,
                revision: str | None = None, commit_message: str = "Upload with swin-hub",
                retries: int = 3, backoff: float = 2.0) -> str:
    """Create `repo_id` (exist_ok) and upload `folder` as one commit; returns the commit URL.

    The token comes from `token`, else huggingface_hub's usual places (HF_TOKEN, `hf auth login`).
    """
    folder = Path(folder)
    check_repo_folder(folder)
    check_online()
    api = HfApi(token=token)
    for attempt in range(1, retries + 1):
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            if revision:
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            info = api.create_commit(repo_id, operations=_operations(folder, repo_id), revision=revision,
                                     commit_message=commit_message)
            return str(info.commit_url)
        except Exception as e:  # classified below: retried, explained, or passed on
            if _transient(e) and attempt < retries:
                wait = backoff * 2 ** (attempt - 1)
                _logger.warning(f"push to {repo_id}: {type(e).__name__} ({_status(e) or 'no response'}); retry {attempt}/{retries - 1} in {wait:.0f}s")
                time.sleep(wait)
                continue
            status = _status(e)
            reason = {401: "invalid or missing token (set HF_TOKEN, run `hf auth login`, or pass --token)",
                      403: f"the token may not write to {repo_id.split('/')[0]}"}.get(status)
            if reason is None:
                reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else 'no message'}"
            raise PushError(f"push to {repo_id} failed: {reason}") from e
    raise AssertionError("unreachable")
