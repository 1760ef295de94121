"""Upload a repo folder to the Hub in one commit with huggingface_hub (never a half commit)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError


class PushError(RuntimeError):
    """The upload failed; the local folder is untouched."""


def push_folder(folder: str | Path, repo_id: str, *, token: str | None = None, private: bool = False,
                revision: str | None = None, commit_message: str = "Upload with swin-hub") -> str:
    """Create `repo_id` (exist_ok) and upload `folder` as one commit; returns the commit URL."""
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, revision=revision, commit_message=commit_message)
    except HfHubHTTPError as e:
        status = getattr(e.response, "status_code", None)
        reason = {401: "invalid or missing token (HF_TOKEN, `hf auth login`, --token)", 403: "no write permission"}.get(status, str(e).splitlines()[0])
        raise PushError(f"push to {repo_id} failed: {reason}") from e
    return str(info)
