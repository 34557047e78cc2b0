"""The git source provider against a real local remote whose tags carry real RDMA source."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import error_line, run_cli

pytestmark = pytest.mark.slow  # needs the real 6.12 RDMA source (Debian download on first use)


def _git(cwd, *args, env=None):
    e = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
             GIT_COMMITTER_EMAIL="t@t", GIT_AUTHOR_DATE="2024-01-01T00:00:00Z",
             GIT_COMMITTER_DATE="2024-01-01T00:00:00Z")
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=e).stdout.strip()


def _set_version(tree: Path, patchlevel: int, sublevel: int) -> None:
    mk = tree / "Makefile"
    text = mk.read_text()
    import re
    text = re.sub(r"^PATCHLEVEL = \d+", f"PATCHLEVEL = {patchlevel}", text, flags=re.M)
    text = re.sub(r"^SUBLEVEL = \d+", f"SUBLEVEL = {sublevel}", text, flags=re.M)
    mk.write_text(text)


@pytest.fixture(scope="module")
def remote(src_6_12, tmp_path_factory) -> dict:
    """A kernel-like repo: real RDMA files of 6.12 plus non-RDMA content, tags v6.12, v6.12.9,
    v6.12.117 (annotated) and v6.1.5, served over file:// with partial-clone support."""
    root = tmp_path_factory.mktemp("remote") / "linux"
    shutil.copytree(src_6_12, root, ignore=shutil.ignore_patterns("manifest.json"))
    (root / "fs").mkdir()
    (root / "fs" / "big.c").write_bytes(os.urandom(1 << 20).hex().encode())  # must never be fetched
    _git(root, "init", "-q", "-b", "master")
    _git(root, "config", "uploadpack.allowFilter", "true")
    _git(root, "config", "uploadpack.allowAnySHA1InWant", "true")
    tags = {}
    for sub in (0, 9):
        _set_version(root, 12, sub)
        _git(root, "add", "-A")
        _git(root, "commit", "-qm", f"6.12.{sub}")
        tag = "v6.12" if sub == 0 else f"v6.12.{sub}"
        _git(root, "tag", tag)
        tags[tag] = _git(root, "rev-parse", "HEAD")
    _set_version(root, 12, 117)
    with open(root / "drivers/infiniband/core/verbs.c", "a") as f:
        f.write("/* marker-6.12.117 */\n")
    _git(root, "commit", "-qam", "6.12.117")
    _git(root, "tag", "-a", "-m", "Linux 6.12.117", "v6.12.117")
    tags["v6.12.117"] = _git(root, "rev-parse", "HEAD")
    _git(root, "checkout", "-q", "-b", "stable-6.1", tags["v6.12"])
    _set_version(root, 1, 5)
    _git(root, "commit", "-qam", "6.1.5")
    _git(root, "tag", "v6.1.5")
    tags["v6.1.5"] = _git(root, "rev-parse", "HEAD")
    return {"url": f"file://{root}", "path": root, "tags": tags}


def _fetch(cache_dir, remote, *args):
    return run_cli("--cache-dir", str(cache_dir), "--json", "fetch", "--source", "git",
                   "--git-url", remote["url"], *args)


def test_newest_tag_sparse_content_and_provenance(remote, tmp_path):
    p = _fetch(tmp_path, remote, "--from", "6.12")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)["source"]
    assert out["tag"] == "v6.12.117" and out["version"] == "6.12.117"
    assert out["commit"] == remote["tags"]["v6.12.117"]
    tree = Path(out["path"])
    assert "marker-6.12.117" in (tree / "drivers/infiniband/core/verbs.c").read_text()
    assert (tree / "include/rdma/ib_verbs.h").exists()
    assert (tree / "include/trace/misc/rdma.h").exists()
    assert not (tree / "fs").exists()
    # Blob-less mirror: the non-RDMA blob was never downloaded.
    mirror = next((tmp_path / "git").iterdir())
    objs = subprocess.run(["git", "rev-list", "--objects", "--missing=print", "refs/tags/v6.12.117"],
                          cwd=mirror, capture_output=True, text=True, check=True).stdout
    missing = {ln[1:] for ln in objs.splitlines() if ln.startswith("?")}
    big = subprocess.run(["git", "--git-dir", str(remote["path"] / ".git"), "rev-parse", "v6.12.117:fs/big.c"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert big in missing


def test_exact_tags_reuse_mirror_and_cache(remote, tmp_path):
    p1 = _fetch(tmp_path, remote, "--from", "6.12.9")
    assert p1.returncode == 0, p1.stderr
    assert json.loads(p1.stdout)["source"]["commit"] == remote["tags"]["v6.12.9"]
    mirrors = list((tmp_path / "git").iterdir())
    p2 = _fetch(tmp_path, remote, "--from", "v6.12")
    assert p2.returncode == 0, p2.stderr
    assert json.loads(p2.stdout)["source"]["version"] == "6.12.0"
    assert list((tmp_path / "git").iterdir()) == mirrors  # one mirror serves every tag
    p3 = _fetch(tmp_path, remote, "--from", "6.1.5")
    assert json.loads(p3.stdout)["source"]["commit"] == remote["tags"]["v6.1.5"]
    # A cached exact tag needs no remote: take the remote away and fetch it again.
    os.rename(remote["path"], str(remote["path"]) + ".away")
    try:
        p4 = _fetch(tmp_path, remote, "--from", "6.12.9")
        assert p4.returncode == 0, p4.stderr
        assert json.loads(p4.stdout)["source"]["path"] == json.loads(p1.stdout)["source"]["path"]
    finally:
        os.rename(str(remote["path"]) + ".away", remote["path"])


def test_bad_tag_is_one_line_error_and_cache_unchanged(remote, tmp_path):
    ok = _fetch(tmp_path, remote, "--from", "6.12.9")
    assert ok.returncode == 0
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "locks" not in p.parts)
    p = _fetch(tmp_path, remote, "--from", "6.12.999")
    assert p.returncode != 0
    err = error_line(p.stderr)
    assert "v6.12.999 not found" in err and remote["url"] in err
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "locks" not in p.parts)
    assert before == after


def test_unreachable_remote_with_source_git(tmp_path):
    p = run_cli("--cache-dir", str(tmp_path), "fetch", "--source", "git",
                "--git-url", f"file://{tmp_path}/nothing-here", "--from", "6.12")
    assert p.returncode != 0
    err = error_line(p.stderr)
    assert "unreachable" in err and "nothing-here" in err
    assert not (tmp_path / "sources").exists()


def test_concurrent_fetches_both_succeed(remote, tmp_path):
    cmd = [sys.executable, "-m", "ofedtool.cli", "--cache-dir", str(tmp_path), "--json", "fetch",
           "--source", "git", "--git-url", remote["url"], "--from"]
    procs = [subprocess.Popen(cmd + [v], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=Path(__file__).parent.parent) for v in ("6.12.117", "6.12.117", "6.12.9")]
    outs = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    paths = [json.loads(o[0])["source"]["path"] for o in outs]
    assert paths[0] == paths[1] != paths[2]
    assert not list(tmp_path.rglob(".*.tmp-*"))
