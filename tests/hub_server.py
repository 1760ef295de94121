"""A local fake of the Hugging Face Hub HTTP API (standard library only), for tests that push
to and download from "the Hub" with the real `huggingface_hub` client.

Written against huggingface_hub 2.4 (LFS upload protocol, no Xet). The server listens on
127.0.0.1 only and keeps everything under a directory of the test (`tmp_path`).

Quick start
-----------
    # tests/conftest.py registers the fixtures (pytest_plugins = ["hub_server"])

    def test_push(hub_server, tmp_path):
        proc = hub_server.run_client('''
            from huggingface_hub import HfApi
            HfApi().upload_folder(folder_path="out", repo_id="tester/m")
        ''', cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert hub_server.files("tester/m")["config.json"] == b"{}"

`tests/` is on sys.path under pytest's default import mode, so `from hub_server import ...`
works like `from helpers import ...`. Without the fixture:
`server = start_hub_server(tmp_path, tokens=...)` ... `server.stop()` (also a context manager).
`hub_server_module` is the same fixture with module scope.

How to run the client (read this)
---------------------------------
huggingface_hub reads HF_ENDPOINT, HF_HUB_DISABLE_XET, HF_HOME, HF_HUB_OFFLINE, ... once, at
import time (`huggingface_hub.constants`). Run client code in a SUBPROCESS with
`server.client_env(...)` (or `server.run_client(code, ...)`, which does that): env vars set in
the pytest process after something imported huggingface_hub (transformers, timm, datasets,
another test module) are silently ignored and the client would talk to huggingface.co.
`client_env` removes every inherited HF_* / HUGGINGFACE_* / *_OFFLINE / proxy variable and sets:
  HF_ENDPOINT=<server.endpoint>  HF_HUB_DISABLE_XET=1 (else the client asks for a Xet write
  token, this fake answers 501 and the upload fails with "ConnectionError ... 501 Not
  Implemented ... /xet-write-token/main")  HF_HOME=<fresh dir, empty cache>
  HF_TOKEN=<token> (omitted for token=None: anonymous)  HF_HUB_DISABLE_TELEMETRY=1 (else the
  client fetches /api/agent-harnesses, served here anyway)  HF_HUB_DISABLE_PROGRESS_BARS=1
  HF_HUB_DISABLE_UPDATE_CHECK=1  NO_PROXY=127.0.0.1,localhost.
Never set HF_HUB_OFFLINE=1: the client then refuses 127.0.0.1 as well.

API of the server object (`HubServer`)
--------------------------------------
  .endpoint           "http://127.0.0.1:PORT" (API, resolve, LFS batch/verify)
  .cdn_endpoint       "http://127.0.0.1:PORT2": the fake S3/CDN (a different origin, so the
                      client strips the Authorization header as it does for the real CDN):
                      LFS uploads PUT /lfs-upload/{type}/{ns}/{name}/{sha256}?size=&sig=
                      LFS downloads GET /lfs-cdn/{sha256}?sig=
  .token              default write token (user "tester", writes namespaces tester, tester-org)
  .read_token         default token of user "reader", who may write nowhere (403 on writes)
  .tokens             {token: TokenInfo(user, write, read)}
  .stop()
  .client_env(token=<.token>, hf_home=None, extra=None) -> dict for subprocess.run(env=...)
  .run_client(code, token=<.token>, hf_home=None, cwd=None, timeout=120, extra_env=None)
                      -> subprocess.CompletedProcess (python -c dedent(code); text output)
  .fail_next(method, path_regex, status=500, times=1, *, message=None, error_code=None,
             headers=None, drop=False, after=False, delay=0.0) -> Fault
        The next `times` requests whose method matches (None/"*": any) and whose URL-decoded
        path (no query) matches `re.search(path_regex)` get `status` with a JSON error body
        (and X-Error-Code if given) instead of being served; faults are checked before auth.
        drop=True: the connection is closed without any response (a network error).
        after=True: the request is served normally (e.g. the commit IS applied) and the fault
        replaces its response (a lost response). delay: seconds to sleep first.
        Fault.hits counts the requests it answered. Paths worth knowing:
          POST /api/repos/create, POST /api/validate-yaml,
          POST /api/models/{ns}/{name}/preupload/{rev}, POST /api/models/{ns}/{name}/commit/{rev},
          POST /{ns}/{name}.git/info/lfs/objects/batch, POST .../objects/verify,
          PUT /lfs-upload/... (the LFS object), GET /lfs-cdn/... (LFS download),
          HEAD|GET /{ns}/{name}/resolve/{rev}/{path}, GET /api/models/{ns}/{name}[/revision/{rev}],
          GET /api/models/{ns}/{name}/tree/{rev}[/{path}]  (datasets/spaces: /api/datasets/...,
          /datasets/{ns}/{name}/resolve/..., /datasets/{ns}/{name}.git/...)
  .clear_faults()
  .requests           list of Request(method, path, query, status, authenticated, faulted),
                      status None for a dropped connection; .count(method, path_regex, status=None)
  .internal_errors    tracebacks of server bugs (answered 500); a test can assert it is empty
  .files(repo_id, revision="main", repo_type="model") -> {path: bytes}  (includes .gitattributes)
  .commits(repo_id, revision="main", repo_type="model") -> [dict(sha, parent, title, message,
                      author, date, files)] oldest first, following parents from `revision`
  .head(repo_id, revision="main", repo_type="model") -> commit sha
  .repo_exists(repo_id, repo_type="model"), .is_private(...), .lfs_paths(repo_id, revision)
  .seed(repo_id, files={path: bytes}, private=False, repo_type="model", revision="main",
        message="seed") -> sha: create the repo if needed and commit directly (no HTTP)

What huggingface_hub 2.4 does on failures (measured with this server, tests/test_hub_server.py)
------------------------------------------------------------------------------------------
- Retried by the client itself (http_backoff: 5 retries, waits 1, 2, 4, 8, 8 s, on 408/429/500/
  502/503/504 and on connection errors): preupload, LFS batch, the LFS PUT (and multipart parts),
  LFS verify, tree listing. After the last retry an LFS PUT failure surfaces from upload_file/
  upload_folder/create_commit as RuntimeError("Error while uploading '<path>' to the Hub.") whose
  __cause__ is the HfHubHTTPError (status on __cause__.response), and no commit is sent.
- NOT retried: create_repo, validate-yaml, the commit POST (one 5xx -> HfHubHTTPError, nothing
  committed), model_info / repo_info, the content GET of a download on a 5xx status.
- Downloads: a failed metadata HEAD is asked once more (with backoff) before giving up; a
  connection dropped during the content GET is resumed (Range) after 1 s.
- Connection errors come from httpx2 (huggingface_hub 2.x no longer uses httpx / requests):
  e.g. httpx2.RemoteProtocolError when the server closes without answering (drop=True).

Behaviour (what the client relies on)
-------------------------------------
- Repo ids are "namespace/name" (no single-segment canonical repos). create_repo makes an
  initial commit with the Hub's default .gitattributes (gitattributes=False to skip it).
- Auth: "Authorization: Bearer <token>". A token unknown to the server -> 401 "Invalid
  credentials in Authorization header" on any endpoint. Writes without a token -> 401 with a
  JSON {"error": ...}; a valid token without write access to the namespace -> 403. Private
  repos: anonymous -> 401, other users -> 404, both with X-Error-Code: RepoNotFound
  (the client's 401 heuristic only applies to https URLs, so the code is always sent).
- Errors carry X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound (EntryNotFound also
  with X-Repo-Commit, as the client caches non-existence by commit) and X-Error-Message.
- preupload decides the upload mode, as the real Hub does (the client does not): "lfs" if the
  size >= lfs_threshold (default 10 MiB), the path matches an LFS pattern of the revision's
  .gitattributes (*.bin, *.safetensors, ...), or the 512-byte sample has a NUL byte; else
  "regular". It also returns the remote oid so the client skips unchanged files.
- LFS: batch -> PUT to the CDN (no auth, sha256 and size checked) -> POST verify -> commit
  lines `lfsFile` accepted only for objects uploaded to THIS repo. multipart_chunk_size=N
  makes the batch answer with the multipart protocol for objects larger than N.
- Commits are atomic: the ndjson is validated as a whole and applied under one lock; any error
  (unknown LFS object, deleting a missing file, a path both file and folder, a parentCommit
  that is not the head, a bad line) leaves files and branch head unchanged. Only branches
  can be committed to; create_pr is not supported (400).
- Downloads: HEAD/GET /resolve give X-Repo-Commit, ETag (git blob sha1; sha256 for LFS) and,
  for LFS files, a 302 to the CDN with X-Linked-Etag / X-Linked-Size (lfs_redirect=False
  serves LFS content directly instead). Range requests are honoured.
- Also: whoami-v2, repo info (models/datasets/spaces; ?blobs=true adds sizes and lfs),
  tree (recursive, expand), paths-info, refs, commits, branch/tag create/delete, settings
  (private/visibility), repos/delete, validate-yaml (checks the front matter is closed only;
  no YAML parser), agent-harnesses.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HubServer", "start_hub_server", "hub_server", "hub_server_module", "Fault", "Request", "TokenInfo"]

DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
        "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb",
        "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*",
        "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
    )
)
DEFAULT_TOKENS = {
    "hf_fake_write_token": {"user": "tester", "write": ["tester", "tester-org"]},
    "hf_fake_read_token": {"user": "reader", "write": []},
}
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_PLURAL = {v: k for k, v in _TYPES.items()}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
_DEFAULT = object()


# ----------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class TokenInfo:
    user: str
    write: frozenset
    read: frozenset

    @property
    def role(self) -> str:
        return "write" if self.write else "read"


@dataclass(frozen=True)
class _Entry:
    sha256: str  # of the content
    size: int
    lfs: bool
    git_oid: str  # git blob sha1 of the content (regular) or of the LFS pointer


@dataclass
class _Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    tree: dict  # path -> _Entry


@dataclass
class _Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    branches: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    commits: dict = field(default_factory=dict)
    lfs_oids: dict = field(default_factory=dict)  # sha256 -> size, objects uploaded to this repo

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]


@dataclass
class Fault:
    method: str | None
    pattern: re.Pattern
    status: int
    remaining: int
    message: str | None = None
    error_code: str | None = None
    headers: dict = field(default_factory=dict)
    drop: bool = False
    after: bool = False
    delay: float = 0.0
    hits: int = 0


class Request(NamedTuple):
    method: str
    path: str
    query: str
    status: int | None
    authenticated: bool
    faulted: bool


class _HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = dict(headers or {})
        self.body = body


@dataclass
class _FileSlice:
    path: Path
    start: int
    end: int  # exclusive


@dataclass
class _Resp:
    status: int = 200
    headers: list = field(default_factory=list)
    body: Any = b""  # bytes or _FileSlice

    @classmethod
    def json(cls, value, status: int = 200, headers: Iterable = (), content_type="application/json"):
        return cls(status, [("Content-Type", content_type), *headers], json.dumps(value).encode())


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _truthy(values: list | None) -> bool:
    return bool(values) and str(values[-1]).lower() in ("1", "true", "yes")


def _check_path(path: Any) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or path.endswith("/") or "\\" in path:
        raise _HttpError(400, f"Invalid path in repo: {path!r}")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or parts[0] == ".git":
        raise _HttpError(400, f"Invalid path in repo: {path!r}")
    return path


def _gitattributes_lfs_patterns(text: str) -> list[str]:
    patterns = []
    for line in text.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#") and "filter=lfs" in fields[1:]:
            patterns.append(fields[0])
    return patterns


def _match_pattern(pattern: str, path: str) -> bool:
    """gitattributes / gitignore style, simplified: no slash -> match the basename anywhere."""
    pattern = pattern.lstrip("/") if "/" in pattern.rstrip("/") else pattern
    if pattern.endswith("/"):
        return path.startswith(pattern) or ("/" + pattern) in ("/" + path)
    if "/" not in pattern:
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    return fnmatch.fnmatchcase(path, pattern.replace("**/", "*").replace("/**", "/*"))


# ----------------------------------------------------------------------------- the server


class HubServer:
    """The fake Hub. See the module docstring for the API."""

    def __init__(self, root: str | Path, tokens: Mapping | None = None, *, lfs_threshold: int = 10 * 1024 * 1024,
                 gitattributes: bool = True, lfs_redirect: bool = True, multipart_chunk_size: int | None = None,
                 host: str = "127.0.0.1"):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tokens = self._parse_tokens(DEFAULT_TOKENS if tokens is None else tokens)
        self.token = next(iter(self.tokens), None)
        self.read_token = next((t for t, i in self.tokens.items() if not i.write), None)
        self.lfs_threshold = lfs_threshold
        self.gitattributes = gitattributes
        self.lfs_redirect = lfs_redirect
        self.multipart_chunk_size = multipart_chunk_size
        self.host = host
        self.requests: list[Request] = []
        self.internal_errors: list[str] = []
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._secret = secrets.token_bytes(16)
        self._counter = itertools.count(1)
        self._client_homes = itertools.count(1)
        self._servers: list[ThreadingHTTPServer] = []
        self.endpoint = self.cdn_endpoint = ""

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def _parse_tokens(tokens: Mapping) -> dict[str, TokenInfo]:
        out = {}
        for token, spec in tokens.items():
            if isinstance(spec, str):
                spec = {"user": spec}
            user = spec["user"]
            write = frozenset(spec.get("write", [user]))
            read = frozenset(spec.get("read", ())) | write | {user}
            out[token] = TokenInfo(user=user, write=write, read=read)
        return out

    def start(self) -> "HubServer":
        for role in ("hub", "cdn"):
            httpd = ThreadingHTTPServer((self.host, 0), _Handler)
            httpd.daemon_threads = True
            httpd.hub, httpd.role = self, role  # type: ignore[attr-defined]
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                             name=f"fake-hub-{role}", daemon=True).start()
            self._servers.append(httpd)
        self.endpoint = f"http://{self.host}:{self._servers[0].server_address[1]}"
        self.cdn_endpoint = f"http://{self.host}:{self._servers[1].server_address[1]}"
        return self

    def stop(self) -> None:
        for httpd in self._servers:
            httpd.shutdown()
            httpd.server_close()
        self._servers = []

    def __enter__(self):
        return self if self._servers else self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ test helpers

    def client_env(self, token: Any = _DEFAULT, hf_home: str | Path | None = None,
                   extra: Mapping | None = None) -> dict:
        """Environment for a subprocess running the real client against this server."""
        drop = ("HF_", "HUGGINGFACE_")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(drop) and not k.endswith("_OFFLINE") and k.lower() not in
               ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        if hf_home is None:
            hf_home = self.root / "clients" / f"home{next(self._client_homes)}"
        Path(hf_home).mkdir(parents=True, exist_ok=True)
        env.update(HF_ENDPOINT=self.endpoint, HF_HUB_DISABLE_XET="1", HF_HOME=str(hf_home),
                   HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                   HF_HUB_DISABLE_UPDATE_CHECK="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        token = self.token if token is _DEFAULT else token
        if token is not None:
            env["HF_TOKEN"] = token
        env.update(extra or {})
        return env

    def run_client(self, code: str, token: Any = _DEFAULT, hf_home: str | Path | None = None,
                   cwd: str | Path | None = None, timeout: float = 120,
                   extra_env: Mapping | None = None) -> subprocess.CompletedProcess:
        """Run `code` (dedented) with this interpreter in a fresh process wired to the server."""
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=self.client_env(token, hf_home, extra_env),
                              cwd=cwd, capture_output=True, text=True, timeout=timeout)

    def fail_next(self, method: str | None, path_regex: str, status: int = 500, times: int = 1, *,
                  message: str | None = None, error_code: str | None = None, headers: Mapping | None = None,
                  drop: bool = False, after: bool = False, delay: float = 0.0) -> Fault:
        fault = Fault(method=None if method in (None, "*") else method.upper(), pattern=re.compile(path_regex),
                      status=status, remaining=times, message=message, error_code=error_code,
                      headers=dict(headers or {}), drop=drop, after=after, delay=delay)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def count(self, method: str | None, path_regex: str, status: int | None = None) -> int:
        rx = re.compile(path_regex)
        with self._lock:
            return sum(1 for r in self.requests if (method in (None, "*") or r.method == method.upper())
                       and rx.search(r.path) and (status is None or r.status == status))

    def _repo(self, repo_id: str, repo_type: str = "model") -> _Repo:
        repo = self._repos.get((repo_type, repo_id))
        if repo is None:
            raise KeyError(f"no {repo_type} repo {repo_id!r} on the fake hub")
        return repo

    def repo_exists(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._lock:
            return (repo_type, repo_id) in self._repos

    def is_private(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._lock:
            return self._repo(repo_id, repo_type).private

    def head(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> str:
        with self._lock:
            repo = self._repo(repo_id, repo_type)
            sha = self._resolve_rev(repo, revision, raise_http=False)
            if sha is None:
                raise KeyError(f"{repo_id}: no revision {revision!r}")
            return sha

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        with self._lock:
            repo = self._repo(repo_id, repo_type)
            tree = dict(repo.commits[self.head(repo_id, revision, repo_type)].tree)
        return {p: self._read_object(e.sha256) for p, e in sorted(tree.items())}

    def lfs_paths(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> set[str]:
        with self._lock:
            repo = self._repo(repo_id, repo_type)
            return {p for p, e in repo.commits[self.head(repo_id, revision, repo_type)].tree.items() if e.lfs}

    def commits(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> list[dict]:
        with self._lock:
            repo = self._repo(repo_id, repo_type)
            out, sha = [], self.head(repo_id, revision, repo_type)
            while sha is not None:
                c = repo.commits[sha]
                out.append({"sha": c.sha, "parent": c.parent, "title": c.title, "message": c.message,
                            "author": c.author, "date": c.date, "files": sorted(c.tree)})
                sha = c.parent
        return out[::-1]

    def seed(self, repo_id: str, files: Mapping[str, bytes], *, private: bool = False, repo_type: str = "model",
             revision: str = "main", message: str = "seed", author: str = "seed") -> str:
        """Create the repo if needed and commit `files` on `revision` (a branch, created from main)."""
        with self._lock:
            if (repo_type, repo_id) not in self._repos:
                self._create_repo(repo_type, repo_id, private, author)
            repo = self._repos[(repo_type, repo_id)]
            if revision not in repo.branches:
                repo.branches[revision] = repo.branches["main"]
            head = repo.branches[revision]
            tree = dict(repo.commits[head].tree)
            for path, data in files.items():
                path = _check_path(path)
                sha256 = self._store(data)
                lfs = self._upload_mode(repo, tree, path, len(data), data[:512]) == "lfs"
                if lfs:
                    repo.lfs_oids[sha256] = len(data)
                tree[path] = self._entry(sha256, len(data), lfs, data)
            return self._add_commit(repo, revision, tree, message, "", author)

    # ------------------------------------------------------------------ storage / state

    def _store(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.objects / sha256
        if not target.exists():
            tmp = self.objects / f".{sha256}.{threading.get_ident()}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return sha256

    def _read_object(self, sha256: str) -> bytes:
        return (self.objects / sha256).read_bytes()

    @staticmethod
    def _entry(sha256: str, size: int, lfs: bool, data: bytes | None = None) -> _Entry:
        git_oid = _git_oid(_lfs_pointer(sha256, size)) if lfs else _git_oid(data if data is not None else b"")
        return _Entry(sha256=sha256, size=size, lfs=lfs, git_oid=git_oid)

    def _create_repo(self, repo_type: str, repo_id: str, private: bool, author: str) -> _Repo:
        repo = _Repo(repo_type=repo_type, repo_id=repo_id, private=private, created_at=_now())
        self._repos[(repo_type, repo_id)] = repo
        tree = {}
        if self.gitattributes:
            data = DEFAULT_GITATTRIBUTES.encode()
            tree[".gitattributes"] = self._entry(self._store(data), len(data), False, data)
        self._add_commit(repo, "main", tree, "initial commit", "", author)
        return repo

    def _add_commit(self, repo: _Repo, branch: str, tree: dict, title: str, message: str, author: str) -> str:
        parent = repo.branches.get(branch)
        listing = json.dumps(sorted((p, e.git_oid) for p, e in tree.items()))
        seed = f"{repo.repo_id}\n{parent}\n{listing}\n{title}\n{message}\n{next(self._counter)}\n{time.time_ns()}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[sha] = _Commit(sha=sha, parent=parent, title=title, message=message, author=author,
                                    date=_now(), tree=tree)
        repo.branches[branch] = sha
        return sha

    def _resolve_rev(self, repo: _Repo, rev: str, raise_http: bool = True) -> str | None:
        if rev.startswith("refs/heads/") and rev[len("refs/heads/"):] in repo.branches:
            return repo.branches[rev[len("refs/heads/"):]]
        if rev.startswith("refs/tags/") and rev[len("refs/tags/"):] in repo.tags:
            return repo.tags[rev[len("refs/tags/"):]]
        if rev in repo.branches:
            return repo.branches[rev]
        if rev in repo.tags:
            return repo.tags[rev]
        if rev in repo.commits:
            return rev
        if re.fullmatch(r"[0-9a-f]{7,39}", rev):
            hits = [sha for sha in repo.commits if sha.startswith(rev)]
            if len(hits) == 1:
                return hits[0]
        if raise_http:
            raise _HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return None

    def _upload_mode(self, repo: _Repo, tree: dict, path: str, size: int, sample: bytes) -> str:
        if size >= self.lfs_threshold or b"\0" in sample:
            return "lfs"
        attributes = tree.get(".gitattributes")
        if attributes is not None:
            patterns = _gitattributes_lfs_patterns(self._read_object(attributes.sha256).decode(errors="replace"))
            if any(_match_pattern(p, path) for p in patterns):
                return "lfs"
        return "regular"

    def _sign(self, message: str) -> str:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()[:32]

    def _check_sig(self, message: str, query: dict) -> None:
        if not hmac.compare_digest(self._sign(message), (query.get("sig") or [""])[-1]):
            raise _HttpError(403, "Request signature does not match (fake CDN)")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.method is None or fault.method == method) and fault.pattern.search(path):
                    fault.remaining -= 1
                    fault.hits += 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # ------------------------------------------------------------------ auth

    def _token(self, headers) -> TokenInfo | None:
        value = headers.get("Authorization")
        if not value:
            return None
        scheme, _, token = value.partition(" ")
        info = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if info is None:
            raise _HttpError(401, "Invalid credentials in Authorization header")
        return info

    def _readable(self, repo: _Repo, info: TokenInfo | None) -> bool:
        return not repo.private or (info is not None and repo.namespace in info.read)

    def _repo_for_read(self, repo_type: str, repo_id: str, info: TokenInfo | None) -> _Repo:
        repo = self._repos.get((repo_type, repo_id))
        if repo is None or not self._readable(repo, info):
            raise _HttpError(401 if info is None else 404, "Repository not found", "RepoNotFound")
        return repo

    @staticmethod
    def _require_token(info: TokenInfo | None, what: str) -> TokenInfo:
        if info is None:
            raise _HttpError(401, f"Authentication required to {what}: no token in the Authorization header "
                                  "(pass token=... or set HF_TOKEN)")
        return info

    def _repo_for_write(self, repo_type: str, repo_id: str, info: TokenInfo | None) -> _Repo:
        info = self._require_token(info, f"write to {repo_id}")
        repo = self._repos.get((repo_type, repo_id))
        if repo is None or not self._readable(repo, info):
            raise _HttpError(404, "Repository not found", "RepoNotFound")
        if repo.namespace not in info.write:
            raise _HttpError(403, f"You don't have the rights to write to {repo_id} (user {info.user}, "
                                  f"token role {info.role})")
        return repo

    # ------------------------------------------------------------------ routing

    def _route(self, role: str, method: str, raw_path: str, query: dict, headers, body: bytes) -> _Resp:
        segs = [unquote(s) for s in raw_path.split("/")[1:]]
        if role == "cdn":
            if segs[:1] == ["lfs-upload"] and len(segs) == 5 and method in ("PUT", "POST"):
                return self._lfs_upload(method, segs[1], f"{segs[2]}/{segs[3]}", segs[4], query, headers, body)
            if segs[:1] == ["lfs-cdn"] and len(segs) == 2 and method in ("GET", "HEAD"):
                return self._cdn_get(segs[1], query, headers)
            raise _HttpError(404, "Not found (fake CDN)")
        info = self._token(headers)
        if segs[:1] == ["api"]:
            return self._api(method, segs[1:], query, headers, body, info)
        repo_type = "model"
        if segs and segs[0] in ("datasets", "spaces") and len(segs) >= 3:
            repo_type, segs = _TYPES[segs[0]], segs[1:]
        if len(segs) >= 4 and segs[2] == "resolve" and method in ("GET", "HEAD"):
            path = "/".join(segs[4:])
            return self._resolve(repo_type, f"{segs[0]}/{segs[1]}", segs[3], path, headers, info)
        if len(segs) == 6 and segs[1].endswith(".git") and segs[2:5] == ["info", "lfs", "objects"] and method == "POST":
            repo_id = f"{segs[0]}/{segs[1][:-4]}"
            if segs[5] == "batch":
                return self._lfs_batch(repo_type, repo_id, body, info)
            if segs[5] == "verify":
                return self._lfs_verify(repo_type, repo_id, body, info)
        raise _HttpError(404, f"Not found (the fake hub does not serve {method} {unquote(raw_path)})")

    def _api(self, method: str, segs: list[str], query: dict, headers, body: bytes, info: TokenInfo | None) -> _Resp:
        if segs == ["whoami-v2"] and method == "GET":
            return self._whoami(info)
        if segs == ["agent-harnesses"] and method == "GET":
            return _Resp.json({"standardEnvVars": [], "harnesses": {}})
        if segs == ["validate-yaml"] and method == "POST":
            return self._validate_yaml(self._json(body))
        if segs == ["repos", "create"] and method == "POST":
            return self._create(self._json(body), info)
        if segs == ["repos", "delete"] and method == "DELETE":
            return self._delete(self._json(body), info)
        if len(segs) < 3 or segs[0] not in _TYPES:
            raise _HttpError(404, f"Not found (the fake hub does not serve {method} /api/{'/'.join(segs)})")
        repo_type, repo_id, op, rest = _TYPES[segs[0]], f"{segs[1]}/{segs[2]}", segs[3:4], segs[4:]
        op = op[0] if op else None
        if op in ("xet-write-token", "xet-read-token"):
            raise _HttpError(501, "This fake Hub has no Xet storage: set HF_HUB_DISABLE_XET=1 before importing "
                                  "huggingface_hub (e.g. with HubServer.client_env)")
        if method == "GET" and op is None:
            return self._info(repo_type, repo_id, "main", query, info)
        if method == "GET" and op == "revision" and len(rest) == 1:
            return self._info(repo_type, repo_id, rest[0], query, info)
        if method == "GET" and op == "tree" and rest:
            return self._tree(repo_type, repo_id, rest[0], "/".join(rest[1:]), query, info)
        if method == "POST" and op == "paths-info" and len(rest) == 1:
            return self._paths_info(repo_type, repo_id, rest[0], body, headers, info)
        if method == "GET" and op == "refs" and not rest:
            return self._refs(repo_type, repo_id, info)
        if method == "GET" and op == "commits" and len(rest) == 1:
            return self._list_commits(repo_type, repo_id, rest[0], info)
        if method == "POST" and op == "preupload" and len(rest) == 1:
            return self._preupload(repo_type, repo_id, rest[0], query, self._json(body), info)
        if method == "POST" and op == "commit" and len(rest) == 1:
            return self._commit(repo_type, repo_id, rest[0], query, body, info)
        if op == "branch" and len(rest) == 1 and method in ("POST", "DELETE"):
            return self._branch(method, repo_type, repo_id, rest[0], self._json(body) if body else {}, info)
        if op == "tag" and len(rest) == 1 and method in ("POST", "DELETE"):
            return self._tag(method, repo_type, repo_id, rest[0], self._json(body) if body else {}, info)
        if op == "settings" and method == "PUT" and not rest:
            return self._settings(repo_type, repo_id, self._json(body), info)
        raise _HttpError(404, f"Not found (the fake hub does not serve {method} /api/{'/'.join(segs)})")

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body or b"{}")
        except ValueError:
            raise _HttpError(400, "Request body is not valid JSON") from None

    # ------------------------------------------------------------------ endpoints: account / repos

    def _whoami(self, info: TokenInfo | None) -> _Resp:
        info = self._require_token(info, "call whoami")
        token = next(t for t, i in self.tokens.items() if i is info)
        orgs = sorted((info.read | info.write) - {info.user})
        return _Resp.json({
            "type": "user", "id": hashlib.sha1(info.user.encode()).hexdigest()[:24], "name": info.user,
            "fullname": info.user, "email": f"{info.user}@example.invalid", "emailVerified": True,
            "isPro": False, "canPay": False, "avatarUrl": "",
            "orgs": [{"type": "org", "name": o, "fullname": o, "roleInOrg": "write" if o in info.write else "read"}
                     for o in orgs],
            "auth": {"type": "access_token", "accessToken": {"displayName": f"fake-{token[-6:]}", "role": info.role,
                                                             "createdAt": _now()}},
        })

    def _create(self, payload: dict, info: TokenInfo | None) -> _Resp:
        info = self._require_token(info, "create a repo")
        repo_type = payload.get("type") or "model"
        if repo_type not in _URL_PREFIX:
            raise _HttpError(400, f"Invalid repo type {repo_type!r}")
        name, namespace = payload.get("name"), payload.get("organization") or info.user
        if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith(".git") or not _NAME_RE.match(namespace):
            raise _HttpError(400, f"Invalid repo name {namespace}/{name}")
        repo_id = f"{namespace}/{name}"
        url = f"{self.endpoint}/{_URL_PREFIX[repo_type]}{repo_id}"
        with self._lock:
            existing = self._repos.get((repo_type, repo_id))
            if existing is not None and self._readable(existing, info):
                raise _HttpError(409, f"You already created this {repo_type} repo", body={
                    "error": f"You already created this {repo_type} repo", "url": url})
            if namespace not in info.write:
                raise _HttpError(403, f"You don't have the rights to create a {repo_type} under the namespace "
                                      f"\"{namespace}\" (user {info.user}, token role {info.role})")
            if existing is not None:
                raise _HttpError(409, f"You already created this {repo_type} repo", body={
                    "error": f"You already created this {repo_type} repo", "url": url})
            private = payload.get("private")
            if payload.get("visibility") is not None:
                private = payload["visibility"] != "public"
            self._create_repo(repo_type, repo_id, bool(private), info.user)
        return _Resp.json({"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    def _delete(self, payload: dict, info: TokenInfo | None) -> _Resp:
        repo_type = payload.get("type") or "model"
        namespace = payload.get("organization") or self._require_token(info, "delete a repo").user
        repo_id = f"{namespace}/{payload.get('name')}"
        with self._lock:
            self._repo_for_write(repo_type, repo_id, info)
            del self._repos[(repo_type, repo_id)]
        return _Resp.json({})

    def _settings(self, repo_type: str, repo_id: str, payload: dict, info: TokenInfo | None) -> _Resp:
        with self._lock:
            repo = self._repo_for_write(repo_type, repo_id, info)
            if payload.get("private") is not None:
                repo.private = bool(payload["private"])
            if payload.get("visibility") is not None:
                repo.private = payload["visibility"] != "public"
        return _Resp.json({})

    @staticmethod
    def _validate_yaml(payload: dict) -> _Resp:
        content = payload.get("content") or ""
        lines = content.splitlines()
        if lines and lines[0].strip() == "---" and not any(line.strip() == "---" for line in lines[1:]):
            return _Resp.json({"errors": [{"message": "Invalid YAML metadata: the front matter is not closed by '---'"}],
                               "warnings": []}, status=400)
        return _Resp.json({"errors": [], "warnings": []})

    # ------------------------------------------------------------------ endpoints: reading

    def _file_json(self, repo: _Repo, path: str, entry: _Entry, expand: bool, head: str) -> dict:
        item = {"type": "file", "oid": entry.git_oid, "size": entry.size, "path": path}
        if entry.lfs:
            item["lfs"] = {"oid": entry.sha256, "size": entry.size,
                           "pointerSize": len(_lfs_pointer(entry.sha256, entry.size))}
        if expand:
            item["lastCommit"] = self._last_commit(repo, head, lambda tree: tree.get(path))
        return item

    def _dir_json(self, repo: _Repo, tree: dict, path: str, expand: bool, head: str) -> dict:
        prefix = path + "/"
        listing = sorted((p, e.git_oid) for p, e in tree.items() if p.startswith(prefix))
        item = {"type": "directory", "oid": hashlib.sha1(json.dumps(listing).encode()).hexdigest(), "size": 0,
                "path": path}
        if expand:
            item["lastCommit"] = self._last_commit(
                repo, head, lambda t: sorted((p, e.git_oid) for p, e in t.items() if p.startswith(prefix)))
        return item

    @staticmethod
    def _last_commit(repo: _Repo, head: str, key) -> dict:
        commit = repo.commits[head]
        value = key(commit.tree)
        while commit.parent is not None and key(repo.commits[commit.parent].tree) == value:
            commit = repo.commits[commit.parent]
        return {"id": commit.sha, "title": commit.title, "date": commit.date}

    def _info(self, repo_type: str, repo_id: str, rev: str, query: dict, info: TokenInfo | None) -> _Resp:
        with self._lock:
            repo = self._repo_for_read(repo_type, repo_id, info)
            sha = self._resolve_rev(repo, rev)
            commit = repo.commits[sha]
            blobs = _truthy(query.get("blobs"))
            siblings = []
            for path, entry in sorted(commit.tree.items()):
                sibling: dict = {"rfilename": path}
                if blobs:
                    sibling.update(size=entry.size, blobId=entry.git_oid)
                    if entry.lfs:
                        sibling["lfs"] = {"size": entry.size, "sha256": entry.sha256,
                                          "pointerSize": len(_lfs_pointer(entry.sha256, entry.size))}
                siblings.append(sibling)
            data = {"_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "author": repo.namespace,
                    "sha": sha, "lastModified": commit.date, "createdAt": repo.created_at, "private": repo.private,
                    "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
                    "siblings": siblings, "usedStorage": sum(e.size for e in commit.tree.values())}
            if repo_type == "model":
                data["modelId"] = repo_id
            if repo_type == "space":
                data.update(sdk="static", runtime={"stage": "RUNNING"})
        return _Resp.json(data)

    def _tree(self, repo_type: str, repo_id: str, rev: str, path: str, query: dict, info: TokenInfo | None) -> _Resp:
        path = path.strip("/")
        recursive, expand = _truthy(query.get("recursive")), _truthy(query.get("expand"))
        with self._lock:
            repo = self._repo_for_read(repo_type, repo_id, info)
            sha = self._resolve_rev(repo, rev)
            tree = repo.commits[sha].tree
            prefix = path + "/" if path else ""
            under = {p: e for p, e in tree.items() if p.startswith(prefix)}
            if path and not under:
                raise _HttpError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": sha})
            files, dirs = [], set()
            for p in under:
                rel = p[len(prefix):].split("/")
                if recursive:
                    files.append(p)
                    dirs.update(prefix + "/".join(rel[:i]) for i in range(1, len(rel)))
                elif len(rel) == 1:
                    files.append(p)
                else:
                    dirs.add(prefix + rel[0])
            items = [self._dir_json(repo, tree, d, expand, sha) for d in sorted(dirs)]
            items += [self._file_json(repo, p, tree[p], expand, sha) for p in sorted(files)]
        return _Resp.json(items)

    def _paths_info(self, repo_type: str, repo_id: str, rev: str, body: bytes, headers, info) -> _Resp:
        if "json" in (headers.get("Content-Type") or ""):
            payload = self._json(body)
            paths, expand = payload.get("paths") or [], bool(payload.get("expand"))
        else:
            form = parse_qs(body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), _truthy(form.get("expand"))
        with self._lock:
            repo = self._repo_for_read(repo_type, repo_id, info)
            sha = self._resolve_rev(repo, rev)
            tree = repo.commits[sha].tree
            items = []
            for path in paths:
                path = path.strip("/")
                if path in tree:
                    items.append(self._file_json(repo, path, tree[path], expand, sha))
                elif any(p.startswith(path + "/") for p in tree):
                    items.append(self._dir_json(repo, tree, path, expand, sha))
        return _Resp.json(items)

    def _refs(self, repo_type: str, repo_id: str, info) -> _Resp:
        with self._lock:
            repo = self._repo_for_read(repo_type, repo_id, info)
            return _Resp.json({
                "branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in sorted(repo.branches.items())],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in sorted(repo.tags.items())],
                "converts": [], "pullRequests": []})

    def _list_commits(self, repo_type: str, repo_id: str, rev: str, info) -> _Resp:
        with self._lock:
            repo = self._repo_for_read(repo_type, repo_id, info)
            sha, items = self._resolve_rev(repo, rev), []
            while sha is not None:
                c = repo.commits[sha]
                items.append({"id": c.sha, "title": c.title, "message": c.message, "date": c.date,
                              "authors": [{"user": c.author, "avatar": None}]})
                sha = c.parent
        return _Resp.json(items)

    def _resolve(self, repo_type: str, repo_id: str, rev: str, path: str, headers, info) -> _Resp:
        with self._lock:
            repo = self._repo_for_read(repo_type, repo_id, info)
            sha = self._resolve_rev(repo, rev)
            entry = repo.commits[sha].tree.get(path)
        if entry is None:
            raise _HttpError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        common = [("X-Repo-Commit", sha), ("Accept-Ranges", "bytes")]
        if entry.lfs:
            common += [("X-Linked-Etag", f'"{entry.sha256}"'), ("X-Linked-Size", str(entry.size))]
            if self.lfs_redirect:
                location = f"{self.cdn_endpoint}/lfs-cdn/{entry.sha256}?sig={self._sign(entry.sha256)}"
                return _Resp(302, [*common, ("ETag", f'"{entry.git_oid}"'), ("Location", location),
                                   ("Content-Type", "text/plain; charset=utf-8")], f"Found. Redirecting to {location}".encode())
            return self._serve_object(entry.sha256, entry.size, f'"{entry.sha256}"', headers, common)
        return self._serve_object(entry.sha256, entry.size, f'"{entry.git_oid}"', headers, common)

    def _serve_object(self, sha256: str, size: int, etag: str, headers, extra: list) -> _Resp:
        hdrs = [*extra, ("ETag", etag), ("Content-Type", "application/octet-stream")]
        range_header = headers.get("Range")
        if range_header:
            m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", range_header)
            if not m or (not m.group(1) and not m.group(2)):
                raise _HttpError(416, f"Unsupported Range {range_header!r}", headers={"Content-Range": f"bytes */{size}"})
            if m.group(1):
                start, end = int(m.group(1)), (int(m.group(2)) + 1 if m.group(2) else size)
            else:
                start, end = max(size - int(m.group(2)), 0), size
            end = min(end, size)
            if start >= size or start >= end:
                raise _HttpError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
            hdrs.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
            return _Resp(206, hdrs, _FileSlice(self.objects / sha256, start, end))
        return _Resp(200, hdrs, _FileSlice(self.objects / sha256, 0, size))

    def _cdn_get(self, sha256: str, query: dict, headers) -> _Resp:
        self._check_sig(sha256, query)
        if not (self.objects / sha256).exists():
            raise _HttpError(404, "NoSuchKey")
        return self._serve_object(sha256, (self.objects / sha256).stat().st_size, f'"{sha256}"', headers, [])

    # ------------------------------------------------------------------ endpoints: writing

    def _preupload(self, repo_type: str, repo_id: str, rev: str, query: dict, payload: dict, info) -> _Resp:
        if _truthy(query.get("create_pr")):
            raise _HttpError(400, "create_pr is not supported by the fake hub")
        with self._lock:
            repo = self._repo_for_write(repo_type, repo_id, info)
            sha = self._resolve_rev(repo, rev)
            tree = repo.commits[sha].tree
            ignore_text = payload.get("gitIgnore")
            if ignore_text is None and ".gitignore" in tree:
                ignore_text = self._read_object(tree[".gitignore"].sha256).decode(errors="replace")
            ignore = [line.strip() for line in (ignore_text or "").splitlines()
                      if line.strip() and not line.strip().startswith(("#", "!"))]
            files = payload.get("files")
            if not isinstance(files, list):
                raise _HttpError(400, "preupload: 'files' must be a list")
            out = []
            for item in files:
                path = _check_path(item.get("path"))
                size = item.get("size")
                if not isinstance(size, int) or size < 0:
                    raise _HttpError(400, f"preupload: bad size for {path}")
                sample = base64.b64decode(item.get("sample") or "")
                mode = self._upload_mode(repo, tree, path, size, sample)
                existing = tree.get(path)
                out.append({"path": path, "uploadMode": mode,
                            "shouldIgnore": any(_match_pattern(p, path) for p in ignore),
                            "oid": None if existing is None else (existing.sha256 if existing.lfs else existing.git_oid)})
        return _Resp.json({"files": out, "commitOid": sha})

    def _lfs_batch(self, repo_type: str, repo_id: str, body: bytes, info) -> _Resp:
        payload = self._json(body)
        lfs_json = "application/vnd.git-lfs+json"
        with self._lock:
            repo = self._repo_for_write(repo_type, repo_id, info)
            if payload.get("operation") != "upload":
                raise _HttpError(400, "The fake hub only implements the LFS 'upload' operation")
            objects = []
            for obj in payload.get("objects") or []:
                oid, size = obj.get("oid"), obj.get("size")
                if not isinstance(oid, str) or not _SHA256_RE.match(oid) or not isinstance(size, int) or size < 0:
                    objects.append({"oid": str(oid), "size": size if isinstance(size, int) else 0,
                                    "error": {"code": 422, "message": "Invalid oid or size"}})
                    continue
                if repo.lfs_oids.get(oid) == size:
                    objects.append({"oid": oid, "size": size})  # already there: no actions
                    continue
                base = f"{self.cdn_endpoint}/lfs-upload/{repo_type}/{repo_id}/{oid}"
                sig = self._sign(f"{repo_type}/{repo_id}/{oid}/{size}")
                upload: dict = {"href": f"{base}?size={size}&sig={sig}", "expires_at": "2999-01-01T00:00:00Z"}
                chunk = self.multipart_chunk_size
                if chunk and size > chunk:
                    nparts = -(-size // chunk)
                    upload["header"] = {"chunk_size": str(chunk), **{
                        f"{i:05d}": f"{base}?size={size}&part={i}&sig={sig}" for i in range(1, nparts + 1)}}
                verify = {"href": f"{self.endpoint}/{_URL_PREFIX[repo_type]}{repo_id}.git/info/lfs/objects/verify"}
                objects.append({"oid": oid, "size": size, "authenticated": True,
                                "actions": {"upload": upload, "verify": verify}})
        return _Resp.json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, content_type=lfs_json)

    def _lfs_upload(self, method: str, repo_type: str, repo_id: str, oid: str, query: dict, headers, body: bytes) -> _Resp:
        size = int((query.get("size") or ["-1"])[-1])
        self._check_sig(f"{repo_type}/{repo_id}/{oid}/{size}", query)
        parts_dir = self.root / "parts" / f"{repo_type}--{repo_id.replace('/', '--')}--{oid}"
        if method == "PUT" and query.get("part"):
            part = int(query["part"][-1])
            parts_dir.mkdir(parents=True, exist_ok=True)
            (parts_dir / f"{part:05d}").write_bytes(body)
            return _Resp(200, [("ETag", f'"{hashlib.md5(body).hexdigest()}"')])
        if method == "POST":  # multipart completion
            payload = self._json(body)
            chunks = []
            for p in payload.get("parts") or []:
                part_file = parts_dir / f"{int(p['partNumber']):05d}"
                if not part_file.exists():
                    raise _HttpError(400, f"Part {p['partNumber']} was not uploaded")
                data = part_file.read_bytes()
                if p.get("etag") != f'"{hashlib.md5(data).hexdigest()}"':
                    raise _HttpError(400, f"ETag mismatch for part {p['partNumber']}")
                chunks.append(data)
            body = b"".join(chunks)
        if len(body) != size or hashlib.sha256(body).hexdigest() != oid:
            raise _HttpError(400, f"Uploaded content does not match oid {oid} / size {size} "
                                  f"(got {len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()})")
        self._store(body)
        with self._lock:
            repo = self._repos.get((repo_type, repo_id))
            if repo is None:
                raise _HttpError(404, "Repository not found")
            repo.lfs_oids[oid] = size
        return _Resp(200, [("ETag", f'"{hashlib.md5(body).hexdigest()}"')])

    def _lfs_verify(self, repo_type: str, repo_id: str, body: bytes, info) -> _Resp:
        payload = self._json(body)
        with self._lock:
            repo = self._repo_for_write(repo_type, repo_id, info)
            oid, size = payload.get("oid"), payload.get("size")
            if repo.lfs_oids.get(oid) != size:
                raise _HttpError(404, f"LFS object {oid} (size {size}) was not uploaded to {repo_id}")
        return _Resp.json({"success": True}, content_type="application/vnd.git-lfs+json")

    def _commit(self, repo_type: str, repo_id: str, rev: str, query: dict, body: bytes, info) -> _Resp:
        if _truthy(query.get("create_pr")):
            raise _HttpError(400, "create_pr is not supported by the fake hub")
        header, ops = None, []
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                raise _HttpError(400, f"commit payload line {number} is not JSON") from None
            key, value = item.get("key"), item.get("value")
            if not isinstance(value, dict):
                raise _HttpError(400, f"commit payload line {number}: 'value' must be an object")
            if key == "header":
                header = value
            elif key in ("file", "lfsFile", "deletedFile", "deletedFolder"):
                ops.append((key, value))
            else:
                raise _HttpError(400, f"commit payload line {number}: unknown key {key!r}")
        if header is None or not str(header.get("summary") or "").strip():
            raise _HttpError(400, "commit: a header line with a non-empty 'summary' is required")
        with self._lock:
            repo = self._repo_for_write(repo_type, repo_id, info)
            if rev not in repo.branches:
                if self._resolve_rev(repo, rev, raise_http=False) is not None:
                    raise _HttpError(400, f"Invalid rev id: {rev} is not a branch; commits go to branches")
                raise _HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            head = repo.branches[rev]
            parent_commit = header.get("parentCommit")
            if parent_commit and not head.startswith(str(parent_commit)):
                raise _HttpError(412, f"A commit has happened since {parent_commit}; the head of {rev} is {head}")
            tree = dict(repo.commits[head].tree)
            new_objects: dict[str, int] = {}
            for key, value in ops:
                if key == "file":
                    path = _check_path(value.get("path"))
                    content = value.get("content")
                    if not isinstance(content, str):
                        raise _HttpError(400, f"commit: file {path} has no content")
                    try:
                        data = base64.b64decode(content, validate=True) if value.get("encoding") == "base64" else content.encode()
                    except ValueError:
                        raise _HttpError(400, f"commit: file {path}: invalid base64") from None
                    tree[path] = self._entry(self._store(data), len(data), False, data)
                elif key == "lfsFile":
                    path = _check_path(value.get("path"))
                    oid, size = value.get("oid"), value.get("size")
                    if value.get("algo", "sha256") != "sha256" or oid not in repo.lfs_oids:
                        raise _HttpError(400, f"Your push was rejected because an LFS pointer pointed to a file that "
                                              f"does not exist: {path} (oid {oid}) was never uploaded to {repo_id}")
                    if size is not None and size != repo.lfs_oids[oid]:
                        raise _HttpError(400, f"commit: size {size} of {path} does not match the LFS object")
                    new_objects[oid] = repo.lfs_oids[oid]
                    tree[path] = self._entry(oid, repo.lfs_oids[oid], True)
                elif key == "deletedFile":
                    path = _check_path(value.get("path"))
                    if path not in tree:
                        raise _HttpError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound",
                                         {"X-Repo-Commit": head})
                    del tree[path]
                else:  # deletedFolder
                    folder = str(value.get("path") or "").strip("/")
                    doomed = [p for p in tree if not folder or p.startswith(folder + "/")]
                    if not doomed:
                        raise _HttpError(404, f"A folder with this name doesn't exist: {folder}", "EntryNotFound",
                                         {"X-Repo-Commit": head})
                    for p in doomed:
                        del tree[p]
            folders = {p.rsplit("/", 1)[0] for p in tree if "/" in p}
            folders = {"/".join(f.split("/")[:i + 1]) for f in folders for i in range(f.count("/") + 1)}
            clash = sorted(folders & set(tree))
            if clash:
                raise _HttpError(400, f"commit: {clash[0]} would be both a file and a folder")
            sha = self._add_commit(repo, rev, tree, str(header["summary"]), str(header.get("description") or ""), info.user)
        url = f"{self.endpoint}/{_URL_PREFIX[repo_type]}{repo_id}/commit/{sha}"
        return _Resp.json({"success": True, "commitOid": sha, "commitUrl": url, "hookOutput": "", "pullRequestUrl": None})

    def _branch(self, method: str, repo_type: str, repo_id: str, branch: str, payload: dict, info) -> _Resp:
        with self._lock:
            repo = self._repo_for_write(repo_type, repo_id, info)
            if method == "DELETE":
                if branch not in repo.branches:
                    raise _HttpError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
                if branch == "main":
                    raise _HttpError(403, "Cannot delete the default branch")
                del repo.branches[branch]
                return _Resp.json({})
            if branch.startswith("refs/") or not re.fullmatch(r"[A-Za-z0-9._/-]+", branch) or _SHA1_RE.match(branch):
                raise _HttpError(400, f"Invalid reference for a branch: {branch}")
            if branch in repo.branches:
                raise _HttpError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = self._resolve_rev(repo, payload.get("startingPoint") or "main")
        return _Resp.json({})

    def _tag(self, method: str, repo_type: str, repo_id: str, name: str, payload: dict, info) -> _Resp:
        with self._lock:
            repo = self._repo_for_write(repo_type, repo_id, info)
            if method == "DELETE":
                if name not in repo.tags:
                    raise _HttpError(404, f"Invalid rev id: {name}", "RevisionNotFound")
                del repo.tags[name]
                return _Resp.json({})
            tag = payload.get("tag")  # POST /tag/{revision} {"tag": name}
            if not isinstance(tag, str) or not re.fullmatch(r"[A-Za-z0-9._/-]+", tag):
                raise _HttpError(400, f"Invalid tag name: {tag!r}")
            if tag in repo.tags:
                raise _HttpError(409, f"Tag already exists: {tag}")
            repo.tags[tag] = self._resolve_rev(repo, name)
        return _Resp.json({})


# ----------------------------------------------------------------------------- HTTP plumbing


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"
    timeout = 120  # idle keep-alive connections of finished clients do not pin threads forever

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr logging
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        hub: HubServer = self.server.hub  # type: ignore[attr-defined]
        role: str = self.server.role  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = parse_qs(split.query, keep_blank_values=True)
        authenticated = bool(self.headers.get("Authorization"))
        body = self._read_body()
        fault = hub._take_fault(method, path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.drop:
            self._record(hub, method, path, split.query, None, authenticated, True)
            self.close_connection = True
            return
        resp = None
        if fault is None or fault.after:
            try:
                resp = hub._route(role, method, split.path, query, self.headers, body)
            except _HttpError as e:
                resp = self._error(e)
            except Exception:  # a bug of the fake: say so loudly
                tb = traceback.format_exc()
                with hub._lock:
                    hub.internal_errors.append(tb)
                resp = self._error(_HttpError(500, "fake hub internal error: " + tb.strip().splitlines()[-1]))
        if fault is not None:
            message = fault.message or f"Injected fault: HTTP {fault.status} for {method} {path}"
            resp = self._error(_HttpError(fault.status, message, fault.error_code, fault.headers))
        self._send(resp, method)
        self._record(hub, method, path, split.query, resp.status, authenticated, fault is not None)

    @staticmethod
    def _record(hub: HubServer, method, path, query, status, authenticated, faulted) -> None:
        with hub._lock:
            hub.requests.append(Request(method, path, query, status, authenticated, faulted))

    @staticmethod
    def _error(e: _HttpError) -> _Resp:
        headers = [("X-Error-Message", e.message.encode("ascii", "replace").decode()), *e.headers.items()]
        if e.code:
            headers.append(("X-Error-Code", e.code))
        return _Resp.json(e.body if e.body is not None else {"error": e.message}, e.status, headers)

    def _send(self, resp: _Resp, method: str) -> None:
        self.send_response(resp.status)
        self.send_header("X-Request-Id", f"fakehub-{id(resp):x}")
        for key, value in resp.headers:
            self.send_header(key, value)
        body = resp.body
        length = body.end - body.start if isinstance(body, _FileSlice) else len(body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if method == "HEAD":
            return
        if isinstance(body, _FileSlice):
            with open(body.path, "rb") as f:
                f.seek(body.start)
                remaining = length
                while remaining > 0:
                    chunk = f.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
        else:
            self.wfile.write(body)


# ----------------------------------------------------------------------------- entry points


def start_hub_server(tmp_path: str | Path, tokens: Mapping | None = None, **options) -> HubServer:
    """Start a fake Hub storing its data under `tmp_path / "fake-hub"`. `tokens`: {token: user}
    or {token: {"user": u, "write": [namespaces], "read": [namespaces]}} (write defaults to
    [user]; read always includes the user and the write namespaces). Options: lfs_threshold,
    gitattributes, lfs_redirect, multipart_chunk_size (see HubServer)."""
    return HubServer(Path(tmp_path) / "fake-hub", tokens, **options).start()


try:
    import pytest
except ImportError:  # the module stays usable without pytest
    pytest = None

if pytest is not None:

    @pytest.fixture
    def hub_server(tmp_path):
        """A fresh fake Hub per test (default tokens: .token writes tester/*, .read_token)."""
        server = start_hub_server(tmp_path)
        try:
            yield server
        finally:
            server.stop()

    @pytest.fixture(scope="module")
    def hub_server_module(tmp_path_factory):
        """One fake Hub shared by the tests of a module (use distinct repo names)."""
        server = start_hub_server(tmp_path_factory.mktemp("hub"))
        try:
            yield server
        finally:
            server.stop()
