"""The fake Hub (tests/hub_server.py) against the real huggingface_hub client.

Every client call runs in a subprocess wired to the server by `HubServer.client_env`
(HF_ENDPOINT, HF_HUB_DISABLE_XET=1, HF_TOKEN, a fresh HF_HOME): huggingface_hub reads those at
import time, so the pytest process (which may have imported it already) never talks to the
server through the client. The snippets print one `RESULT {json}` line that the test reads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import textwrap
import urllib.error
import urllib.request

import pytest

from hub_server import start_hub_server

PRELUDE = """
import hashlib, json, time
SLEEPS = []

def result(**kw):
    print("RESULT " + json.dumps(kw), flush=True)

def no_sleep():
    # record the client's backoff waits instead of waiting (this process only)
    time.sleep = SLEEPS.append

def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()

def error(fn):
    try:
        fn()
    except Exception as e:
        chain, cause = [], e
        while cause is not None:
            chain.append(type(cause).__name__)
            cause = cause.__cause__
        status = getattr(getattr(e, "response", None), "status_code", None)
        root = e.__cause__ if status is None and e.__cause__ is not None else e
        status = status or getattr(getattr(root, "response", None), "status_code", None)
        return {"type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__], "chain": chain,
                "status": status, "message": str(e), "root_message": str(root)}
    return None
"""


def client(server, code: str, **kwargs) -> dict:
    proc = server.run_client(PRELUDE + textwrap.dedent(code), **kwargs)
    assert proc.returncode == 0, f"client failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no RESULT line:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def post(server, path: str, body: bytes, token: str | None, content_type: str) -> tuple[int, dict, dict]:
    """Raw HTTP from the test process (no proxies), for requests the client never makes."""
    request = urllib.request.Request(server.endpoint + path, data=body, method="POST",
                                     headers={"Content-Type": content_type,
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"{}")


@pytest.fixture
def hub(hub_server):
    yield hub_server
    assert not hub_server.internal_errors, hub_server.internal_errors


def test_create_repo_exist_ok_and_permissions(hub):
    res = client(hub, """
        from huggingface_hub import HfApi
        api = HfApi()
        first = api.create_repo("tester/alpha")
        again = api.create_repo("tester/alpha", exist_ok=True)
        result(whoami=api.whoami()["name"], first=str(first), again=str(again), repo_id=first.repo_id,
               conflict=error(lambda: api.create_repo("tester/alpha")),
               no_namespace=api.create_repo("beta").repo_id,
               other_namespace=error(lambda: api.create_repo("someone-else/gamma")),
               private=api.create_repo("tester-org/secret", private=True).repo_id)
    """)
    assert res["whoami"] == "tester"
    assert res["first"] == res["again"] == f"{hub.endpoint}/tester/alpha" and res["repo_id"] == "tester/alpha"
    assert res["conflict"]["status"] == 409 and "HfHubHTTPError" in res["conflict"]["mro"]
    assert res["no_namespace"] == "tester/beta"
    assert res["other_namespace"]["status"] == 403
    assert hub.repo_exists("tester/alpha") and hub.is_private("tester-org/secret")
    assert [c["title"] for c in hub.commits("tester/alpha")] == ["initial commit"]
    assert list(hub.files("tester/alpha")) == [".gitattributes"]

    res = client(hub, """
        from huggingface_hub import HfApi
        result(anonymous=error(lambda: HfApi().create_repo("tester/delta")))
    """, token=None)
    assert res["anonymous"]["status"] == 401 and "Authentication required" in res["anonymous"]["message"]
    res = client(hub, """
        from huggingface_hub import HfApi
        result(reader=error(lambda: HfApi().create_repo("tester/delta")))
    """, token=hub.read_token)
    assert res["reader"]["status"] == 403 and "rights" in res["reader"]["message"]
    assert not hub.repo_exists("tester/delta")


def test_upload_folder_one_commit_then_identical_downloads(hub, tmp_path):
    folder = tmp_path / "repo"
    (folder / "sub").mkdir(parents=True)
    local = {
        "notes.txt": b"a small text file\n",
        "README.md": b"---\nlicense: apache-2.0\ntags:\n- image-classification\n---\n# Model\n",
        "sub/config.json": b'{"a": 1}',
        "large.dat": os.urandom(10 * 1024 * 1024 + 12345),  # > 10 MiB, no LFS pattern for *.dat
    }
    for name, data in local.items():
        (folder / name).write_bytes(data)
    want = {name: hashlib.sha256(data).hexdigest() for name, data in local.items()}

    res = client(hub, f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo("tester/model", exist_ok=True)
        info = api.upload_folder(folder_path={str(folder)!r}, repo_id="tester/model", commit_message="one commit")
        tree = {{f.path: f.lfs is not None for f in api.list_repo_tree("tester/model", recursive=True)
                 if hasattr(f, "blob_id")}}
        result(oid=info.oid, url=str(info), repo_url=info.repo_url.repo_id, tree=tree,
               files=api.list_repo_files("tester/model"), sha=api.model_info("tester/model").sha)
    """)
    commits = hub.commits("tester/model")
    assert [c["title"] for c in commits] == ["initial commit", "one commit"]
    assert res["oid"] == commits[-1]["sha"] == res["sha"] == hub.head("tester/model")
    assert res["url"] == f"{hub.endpoint}/tester/model/commit/{res['oid']}" and res["repo_url"] == "tester/model"
    assert hub.files("tester/model") == {**local, ".gitattributes": hub.files("tester/model")[".gitattributes"]}
    assert hub.lfs_paths("tester/model") == {"large.dat"}
    assert res["tree"] == {".gitattributes": False, "README.md": False, "notes.txt": False,
                           "sub/config.json": False, "large.dat": True}
    assert sorted(res["files"]) == sorted([*local, ".gitattributes"])
    # the client's requests: one preupload, one LFS batch, one PUT without auth, a verify, one commit
    assert hub.count("POST", r"/commit/main$") == 1 and hub.count("POST", r"/preupload/main$") == 1
    assert hub.count("POST", r"/validate-yaml$") >= 1
    puts = [r for r in hub.requests if r.method == "PUT"]
    assert len(puts) == 1 and puts[0].path.endswith(want["large.dat"]) and not puts[0].authenticated
    assert hub.count("POST", r"\.git/info/lfs/objects/verify$", 200) == 1

    # a fresh process with an empty cache (new HF_HOME)
    res = client(hub, f"""
        import os
        from huggingface_hub import hf_hub_download, snapshot_download
        names = {sorted(local)!r}
        single = {{n: sha(hf_hub_download("tester/model", n)) for n in names}}
        folder = snapshot_download("tester/model")
        snap = {{n: sha(os.path.join(folder, n)) for n in names}}
        result(single=single, snap=snap, listing=sorted(os.listdir(folder)), commit=os.path.basename(folder))
    """)
    assert res["single"] == want and res["snap"] == want
    assert res["listing"] == [".gitattributes", "README.md", "large.dat", "notes.txt", "sub"]
    assert res["commit"] == hub.head("tester/model")
    lfs_gets = [r for r in hub.requests if r.path.startswith("/lfs-cdn/")]
    assert lfs_gets and all(not r.authenticated for r in lfs_gets)  # the CDN never sees the token


def test_preupload_not_the_client_decides_lfs(tmp_path):
    with start_hub_server(tmp_path, lfs_threshold=1000, lfs_redirect=False) as server:
        folder = tmp_path / "f"
        folder.mkdir()
        (folder / "small.txt").write_bytes(b"x" * 10)
        (folder / "text-over-threshold.txt").write_bytes(b"y" * 2000)
        (folder / "tiny.safetensors").write_bytes(b"{}")  # .gitattributes pattern
        (folder / "nul.txt").write_bytes(b"a\0b")  # binary sample
        res = client(server, f"""
            from huggingface_hub import HfApi
            HfApi().create_repo("tester/modes")
            HfApi().upload_folder(folder_path={str(folder)!r}, repo_id="tester/modes")
            from huggingface_hub import hf_hub_download
            result(nul=open(hf_hub_download("tester/modes", "nul.txt"), "rb").read().hex())
        """)
        assert res["nul"] == b"a\0b".hex()  # LFS served without the CDN redirect (lfs_redirect=False)
        assert not any(r.path.startswith("/lfs-cdn/") for r in server.requests)
        assert server.lfs_paths("tester/modes") == {"text-over-threshold.txt", "tiny.safetensors", "nul.txt"}
        assert server.files("tester/modes")["text-over-threshold.txt"] == b"y" * 2000
        assert not server.internal_errors


def test_error_classes_private_repos_and_revisions(hub):
    hub.seed("tester/public", {"config.json": b"{}", "w.bin": b"\0" * 64})
    hub.seed("tester/private", {"config.json": b'{"p": 1}'}, private=True)
    code = """
        from huggingface_hub import HfApi, hf_hub_download, snapshot_download
        api = HfApi()
        result(
            missing_file=error(lambda: hf_hub_download("tester/public", "nope.json")),
            missing_repo=error(lambda: hf_hub_download("tester/nothing-here", "config.json")),
            missing_revision=error(lambda: hf_hub_download("tester/public", "config.json", revision="v9")),
            snapshot_missing_repo=error(lambda: snapshot_download("tester/nothing-here")),
            private_download=error(lambda: hf_hub_download("tester/private", "config.json")),
            private_snapshot=error(lambda: snapshot_download("tester/private")),
            private_info=error(lambda: api.model_info("tester/private")),
            public=open(hf_hub_download("tester/public", "w.bin"), "rb").read().hex(),
        )
    """
    for token in (None, hub.read_token):  # anonymous (401) and another user (404)
        res = client(hub, code, token=token)
        assert res["missing_file"]["type"] == "RemoteEntryNotFoundError" and "EntryNotFoundError" in res["missing_file"]["mro"]
        assert res["missing_revision"]["type"] == "RevisionNotFoundError"
        for key in ("missing_repo", "snapshot_missing_repo", "private_download", "private_snapshot", "private_info"):
            assert res[key]["type"] == "RepositoryNotFoundError", (key, res[key])
        assert res["private_download"]["status"] == (401 if token is None else 404)
        assert res["public"] == "00" * 64

    res = client(hub, """
        from huggingface_hub import HfApi, hf_hub_download, snapshot_download
        api = HfApi()
        api.create_branch("tester/private", branch="dev")
        api.upload_file(path_or_fileobj=b"dev only", path_in_repo="dev.txt", repo_id="tester/private", revision="dev")
        main_sha = api.model_info("tester/private").sha
        result(
            main=open(hf_hub_download("tester/private", "config.json"), "rb").read().decode(),
            dev=open(hf_hub_download("tester/private", "dev.txt", revision="dev"), "rb").read().decode(),
            by_sha=open(hf_hub_download("tester/private", "config.json", revision=main_sha), "rb").read().decode(),
            not_on_main=error(lambda: hf_hub_download("tester/private", "dev.txt")),
            dev_sha=api.model_info("tester/private", revision="dev").sha, main_sha=main_sha,
            branches=sorted(b.name for b in api.list_repo_refs("tester/private").branches),
            branch_again=error(lambda: api.create_branch("tester/private", branch="dev")),
            branch_exist_ok=error(lambda: api.create_branch("tester/private", branch="dev", exist_ok=True)),
            snapshot_dev=sorted(__import__("os").listdir(snapshot_download("tester/private", revision="dev"))),
        )
    """)
    assert res["main"] == res["by_sha"] == '{"p": 1}' and res["dev"] == "dev only"
    assert res["not_on_main"]["type"] == "RemoteEntryNotFoundError"
    assert res["dev_sha"] == hub.head("tester/private", "dev") != res["main_sha"] == hub.head("tester/private")
    assert res["branches"] == ["dev", "main"]
    assert res["branch_again"]["status"] == 409 and res["branch_exist_ok"] is None
    assert res["snapshot_dev"] == [".gitattributes", "config.json", "dev.txt"]


def test_write_with_bad_token_is_401_and_changes_nothing(hub):
    hub.seed("tester/target", {"a.txt": b"a"})
    before, history = hub.files("tester/target"), hub.commits("tester/target")
    code = """
        from huggingface_hub import HfApi
        result(upload=error(lambda: HfApi().upload_file(path_or_fileobj=b"new", path_in_repo="b.txt",
                                                        repo_id="tester/target")))
    """
    invalid = client(hub, code, token="hf_not_a_real_token")["upload"]
    assert invalid["status"] == 401 and "HfHubHTTPError" in invalid["mro"]
    assert "Invalid credentials in Authorization header" in invalid["message"]
    missing = client(hub, code, token=None)["upload"]
    assert missing["status"] == 401 and "Authentication required" in missing["message"]
    forbidden = client(hub, code, token=hub.read_token)["upload"]
    assert forbidden["status"] == 403 and "rights to write to tester/target" in forbidden["message"]
    assert hub.files("tester/target") == before and hub.commits("tester/target") == history


def test_lfs_put_500_is_retried_by_the_client(hub, tmp_path):
    data = os.urandom(3000)
    (tmp_path / "w.bin").write_bytes(data)
    code = f"""
        from huggingface_hub import HfApi
        no_sleep()
        api = HfApi()
        api.create_repo("tester/retry", exist_ok=True)
        err = error(lambda: api.upload_file(path_or_fileobj={str(tmp_path / 'w.bin')!r}, path_in_repo="w.bin",
                                            repo_id="tester/retry"))
        result(error=err, sleeps=SLEEPS)
    """
    # one transient 500 on the PUT: huggingface_hub retries it by itself (lfs.py: http_backoff)
    fault = hub.fail_next("PUT", r"^/lfs-upload/", status=500, times=1)
    res = client(hub, code)
    assert res["error"] is None and fault.hits == 1
    assert hub.count("PUT", r"^/lfs-upload/") == 2 and res["sleeps"] == [1]
    assert hub.files("tester/retry")["w.bin"] == data

    # a persistent 500: 1 try + 5 retries (waits 1, 2, 4, 8, 8 s), then the upload fails and no commit is sent
    hub.seed("tester/retry2", {})
    before, history, commit_posts = hub.files("tester/retry2"), hub.commits("tester/retry2"), hub.count("POST", "/commit/")
    hub.fail_next("PUT", r"^/lfs-upload/", status=500, times=100)
    res = client(hub, code.replace("tester/retry", "tester/retry2"))
    hub.clear_faults()
    assert res["sleeps"] == [1, 2, 4, 8, 8]
    assert hub.count("PUT", r"^/lfs-upload/model/tester/retry2/") == 6
    # the client wraps the HTTP error: RuntimeError("Error while uploading ...") from HfHubHTTPError(500)
    assert res["error"]["chain"][:2] == ["RuntimeError", "HfHubHTTPError"] and res["error"]["status"] == 500
    assert hub.count("POST", "/commit/") == commit_posts
    assert hub.files("tester/retry2") == before and hub.commits("tester/retry2") == history


def test_failed_commits_are_all_or_nothing(hub):
    hub.seed("tester/atomic", {"a.txt": b"a", "dir/b.txt": b"b"})
    before, history = hub.files("tester/atomic"), hub.commits("tester/atomic")

    # a 500 on the commit: not retried by the client (one POST), the repo is unchanged
    hub.fail_next("POST", r"/commit/main$", status=500)
    res = client(hub, """
        from huggingface_hub import HfApi
        no_sleep()
        result(error=error(lambda: HfApi().upload_file(path_or_fileobj=b"c", path_in_repo="c.txt",
                                                       repo_id="tester/atomic")), sleeps=SLEEPS)
    """)
    assert res["error"]["status"] == 500 and res["error"]["type"] == "HfHubHTTPError" and res["sleeps"] == []
    assert hub.count("POST", r"/commit/main$") == 1
    assert hub.files("tester/atomic") == before and hub.commits("tester/atomic") == history

    def ndjson(*ops):
        header = {"key": "header", "value": {"summary": "raw commit", "description": ""}}
        return b"".join(json.dumps(item).encode() + b"\n" for item in (header, *ops))

    new_file = {"key": "file", "value": {"path": "new.txt", "encoding": "base64",
                                         "content": base64.b64encode(b"new").decode()}}
    never_uploaded = {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "0" * 64, "size": 5}}
    status, _, body = post(hub, "/api/models/tester/atomic/commit/main", ndjson(new_file, never_uploaded),
                           hub.token, "application/x-ndjson")
    assert status == 400 and "never uploaded" in body["error"]
    status, headers, _ = post(hub, "/api/models/tester/atomic/commit/main",
                              ndjson(new_file, {"key": "deletedFile", "value": {"path": "missing.txt"}}),
                              hub.token, "application/x-ndjson")
    assert status == 404 and headers["X-Error-Code"] == "EntryNotFound"
    status, _, _ = post(hub, "/api/models/tester/atomic/commit/main",
                        ndjson(new_file, {"key": "file", "value": {"path": "a.txt/x", "content": "x"}}),
                        hub.token, "application/x-ndjson")
    assert status == 400  # a.txt would be a file and a folder
    assert hub.files("tester/atomic") == before and hub.commits("tester/atomic") == history

    # the same commit without the bad line goes through; a response lost after the commit (after=True) is
    # a client error although the commit exists: what a retrying caller must expect
    hub.fail_next("POST", r"/commit/main$", status=502, after=True)
    status, _, _ = post(hub, "/api/models/tester/atomic/commit/main", ndjson(new_file), hub.token,
                        "application/x-ndjson")
    assert status == 502 and hub.files("tester/atomic")["new.txt"] == b"new"
    assert len(hub.commits("tester/atomic")) == len(history) + 1


def test_dropped_connection_and_multipart_lfs(tmp_path):
    with start_hub_server(tmp_path, multipart_chunk_size=1024 * 1024) as server:
        data = os.urandom(2 * 1024 * 1024 + 7)
        (tmp_path / "big.bin").write_bytes(data)
        server.fail_next("POST", r"/preupload/", drop=True)  # connection closed without a response
        res = client(server, f"""
            from huggingface_hub import HfApi, hf_hub_download
            no_sleep()
            api = HfApi()
            api.create_repo("tester/parts")
            api.upload_file(path_or_fileobj={str(tmp_path / 'big.bin')!r}, path_in_repo="big.bin", repo_id="tester/parts")
            result(sleeps=SLEEPS, sha=sha(hf_hub_download("tester/parts", "big.bin")))
        """)
        assert res["sleeps"] == [1] and server.count("POST", "/preupload/") == 2  # retried after the drop
        assert server.count("PUT", r"^/lfs-upload/") == 3  # three parts of 1 MiB
        assert res["sha"] == hashlib.sha256(data).hexdigest() and server.files("tester/parts")["big.bin"] == data
        assert not server.internal_errors


def test_download_side_retries(hub):
    hub.seed("tester/dl", {"a.txt": b"a", "w.bin": b"\0" * 10})
    code = """
        from huggingface_hub import hf_hub_download
        no_sleep()
        result(error=error(lambda: hf_hub_download("tester/dl", FILE)), sleeps=SLEEPS)
    """
    # a 500 on the metadata HEAD: the client asks again (with backoff enabled) and succeeds
    hub.fail_next("HEAD", r"/resolve/main/a\.txt$", status=500)
    assert client(hub, code.replace("FILE", "'a.txt'"))["error"] is None
    assert hub.count("HEAD", r"/resolve/main/a\.txt$") == 2
    # a 500 on the content GET (here the CDN redirect target of an LFS file) is NOT retried
    hub.fail_next("GET", r"^/lfs-cdn/", status=500)
    res = client(hub, code.replace("FILE", "'w.bin'"))
    assert res["error"]["type"] == "HfHubHTTPError" and res["error"]["status"] == 500
    # a connection dropped during the content GET is resumed after 1 s
    hub.fail_next("GET", r"^/lfs-cdn/", drop=True)
    res = client(hub, code.replace("FILE", "'w.bin'"))
    assert res["error"] is None and res["sleeps"] == [1]
    assert hub.count("GET", r"^/lfs-cdn/") == 3


def test_more_of_the_api(hub):
    hub.seed("tester/api", {"a.txt": b"a", "d/b.txt": b"b", "d/w.bin": b"\0" * 10, "e/c.txt": b"c"})
    res = client(hub, """
        from huggingface_hub import HfApi, CommitOperationAdd, CommitOperationCopy, CommitOperationDelete, hf_hub_download
        api, r = HfApi(), "tester/api"
        exists = [api.repo_exists(r), api.repo_exists("tester/nope"), api.file_exists(r, "d/b.txt"),
                  api.file_exists(r, "zz"), api.revision_exists(r, "main"), api.revision_exists(r, "zz")]
        paths = [(p.path, type(p).__name__) for p in api.get_paths_info(r, ["a.txt", "d", "missing"])]
        top = [(p.path, type(p).__name__) for p in api.list_repo_tree(r)]
        api.create_commit(r, commit_message="ops", operations=[
            CommitOperationCopy("a.txt", "a2.txt"), CommitOperationCopy("d/w.bin", "w2.bin"),
            CommitOperationDelete("e/"), CommitOperationAdd("n.txt", b"n")])
        api.delete_file("a2.txt", r)
        api.delete_folder("d", r)
        api.create_tag(r, tag="v1")
        same = api.upload_file(path_or_fileobj=b"n", path_in_repo="n.txt", repo_id=r)  # unchanged: no commit
        api.update_repo_settings(r, private=True)
        result(exists=exists, paths=paths, top=top, files=api.list_repo_files(r),
               tag=open(hf_hub_download(r, "n.txt", revision="v1")).read(),
               titles=[c.title for c in api.list_repo_commits(r)], same=same.oid == api.model_info(r).sha,
               lfs=[s.rfilename for s in api.model_info(r, files_metadata=True).siblings if s.lfs],
               private=api.model_info(r).private)
    """)
    assert res["exists"] == [True, False, True, False, True, False]
    assert res["paths"] == [["a.txt", "RepoFile"], ["d", "RepoFolder"]]
    assert res["top"] == [["d", "RepoFolder"], ["e", "RepoFolder"], [".gitattributes", "RepoFile"], ["a.txt", "RepoFile"]]
    assert res["files"] == [".gitattributes", "a.txt", "n.txt", "w2.bin"] == sorted(hub.files("tester/api"))
    assert res["tag"] == "n" and res["same"] and res["lfs"] == ["w2.bin"] and res["private"]
    assert res["titles"][:3] == ["Delete folder d with huggingface_hub", "Delete a2.txt with huggingface_hub", "ops"]
    assert hub.files("tester/api")["w2.bin"] == b"\0" * 10 and hub.is_private("tester/api")
    # HTTP Range on a resolve URL (what a resumed download sends)
    request = urllib.request.Request(f"{hub.endpoint}/tester/api/resolve/v1/.gitattributes",
                                     headers={"Range": "bytes=2-4", "Authorization": f"Bearer {hub.token}"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as response:
        assert response.status == 206 and response.read() == hub.files("tester/api")[".gitattributes"][2:5]
    client(hub, 'from huggingface_hub import HfApi; HfApi().delete_repo("tester/api"); result(ok=True)')
    assert not hub.repo_exists("tester/api")
