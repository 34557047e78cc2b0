"""ofedtool watch (day-0 packages): the last build read from real recorded trees and releases,
compared with Debian's package index of today."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import REPO, run_cli
from ofedtool import watch
from ofedtool.catalog import resolve_target
from ofedtool.errors import OfedError
from ofedtool.requests import Session

DATA = Path(__file__).parent / "data" / "tree-6.1"   # a real 6.12 → debian-12 (6.1.0-57) build's records


def _tree(where: Path, release: str | None = None, headers: str | None = None, ok: bool = True,
          source: str | None = None) -> Path:
    """A copy of the recorded tree's records, its target moved to another ABI/upload if asked."""
    where.mkdir(parents=True)
    m = json.loads((DATA / "manifest.json").read_text())
    if release:
        old = m["target"]["release"]
        m["target"]["release"] = release
        for p in m["target"]["packages"]:
            p["package"] = p["package"].replace(old.removesuffix("-amd64"), release.removesuffix("-amd64"))
    if headers:
        for p in m["target"]["packages"]:
            p["version"] = headers
    if source:
        m["source"]["version"] = source
    (where / "manifest.json").write_text(json.dumps(m))
    r = json.loads((DATA / "result.json").read_text())
    r["ok"] = ok
    (where / "result.json").write_text(json.dumps(r))
    return where


def _release(where: Path, version: str, tree: Path) -> Path:
    """A release directory's manifest.json, as release.run_release writes it."""
    where.mkdir(parents=True)
    m = json.loads((tree / "manifest.json").read_text())
    (where / "manifest.json").write_text(json.dumps(
        {"name": "ofed-rdma", "version": version, "from": "6.12", "modules": "core,rxe,siw",
         "targets": {m["target"]["id"]: m}, "packages": {}}))
    return where


# ---------------------------------------------------------------- offline: records and verdicts


def test_the_last_build_is_read_from_trees_workspaces_and_releases(tmp_path):
    tree = _tree(tmp_path / "a")
    [b] = watch.read_built((tree,))
    assert (b.target, b.release, b.headers, b.source, b.ok, b.counter) == (
        "debian-12", "6.1.0-57-amd64", "6.1.192-3", "6.12.117", True, None)
    # A CI workspace: out/<kernel>/tree, one of them failed.
    _tree(tmp_path / "out" / "6.1" / "tree", ok=False)
    [b] = watch.read_built((tmp_path / "out",))
    assert not b.ok and b.where.endswith("out/6.1/tree")
    # A release: its counter is the N of <X>-<N>.
    rel = _release(tmp_path / "rel" / "ofed-rdma-6.12.117-3", "6.12.117-3", tree)
    [b] = watch.read_built((rel,))
    assert b.counter == 3 and b.ok
    [b] = watch.read_built((rel / "manifest.json",))
    assert b.counter == 3
    # No earlier build (a first CI run): nothing, said in one line; never an error.
    assert watch.read_built((tmp_path / "none",)) == []


def test_records_of_something_else_are_refused_by_name(tmp_path):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    with pytest.raises(OfedError, match=r"x\.json: neither a built tree's manifest"):
        watch.read_built((tmp_path / "x.json",))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    with pytest.raises(OfedError, match="no built tree or release there"):
        watch.read_built((tmp_path / "junk",))
    bad = _release(tmp_path / "r", "6.12.117", _tree(tmp_path / "t"))
    with pytest.raises(OfedError, match="is not <X>-<N>"):
        watch.read_built((bad,))


def test_each_reason_to_rebuild_is_named():
    t = resolve_target("6.1")
    before = watch.Built("debian-12", "6.1.0-57-amd64", "6.1.192-3", "6.12.117", "debian", True, "out/6.1/tree")
    same = watch.Now("6.1.0-57-amd64", "6.1.192-3", "linux-headers-6.1.0-57-amd64")
    assert watch.compare("6.1", t, before, same, "6.12.117")["changed"] is False
    abi = watch.compare("6.1", t, before, watch.Now("6.1.0-58-amd64", "6.1.193-1", "x"), "6.12.117")
    assert abi["why"] == ["kernel ABI 6.1.0-57-amd64 → 6.1.0-58-amd64"]
    upload = watch.compare("6.1", t, before, watch.Now("6.1.0-57-amd64", "6.1.192-4", "x"), "6.12.117")
    assert upload["why"] == ["headers upload 6.1.192-3 → 6.1.192-4"]
    assert watch.compare("6.1", t, before, same, "6.12.120")["why"] == ["upstream 6.12.117 → 6.12.120"]
    failed = dataclasses.replace(before, ok=False)
    assert watch.compare("6.1", t, failed, same, "6.12.117")["why"] == ["the last build failed (out/6.1/tree)"]
    assert watch.compare("6.1", t, None, same, "6.12.117")["why"] == ["not built before"]


def test_watch_narrows_to_the_changed_targets_and_releases_them_with_the_next_counter(tmp_path, monkeypatch):
    """The decisions of run_watch on real records, today's index answered by the test: debian-12's
    ABI moved, debian-11 did not; the release of the changed one takes the last release's N + 1."""
    tree61 = _tree(tmp_path / "t61")
    older = _tree(tmp_path / "older", release="6.1.0-50-amd64", headers="6.1.180-1")
    rel = _release(tmp_path / "rels" / "ofed-rdma-6.12.117-4", "6.12.117-4", tree61)
    m = json.loads((tree61 / "manifest.json").read_text())
    m["target"].update(id="debian-11", release="5.10.0-46-amd64",
                       packages=[{"package": "linux-headers-5.10.0-46-amd64", "version": "5.10.262-1"}])
    (tmp_path / "t510").mkdir()
    (tmp_path / "t510" / "manifest.json").write_text(json.dumps(m))
    today = {"debian-12": watch.Now("6.1.0-58-amd64", "6.1.193-1", "linux-headers-6.1.0-58-amd64"),
             "debian-11": watch.Now("5.10.0-46-amd64", "5.10.262-1", "linux-headers-5.10.0-46-amd64")}
    monkeypatch.setattr(watch, "newest_headers", lambda session, target: today[target.id])
    monkeypatch.setattr("ofedtool.fetch.sources.newest_version", lambda *a, **k: "6.12.117")
    asked = []
    monkeypatch.setattr("ofedtool.release.run_release",
                        lambda session, req: asked.append(req) or {"text": "release made", "ok": True})
    session = Session(SimpleNamespace(root=tmp_path / "cache"), offline=True)
    res = watch.run_watch(session, watch.WatchRequest("6.12", (older, rel, tmp_path / "t510"),
                                                      release_dir=tmp_path / "out"))
    rows = {r["target"]: r for r in res["targets"]}
    # the newer of the two debian-12 records is the last build; debian-11 (a tree never built) rebuilds
    assert rows["debian-12"]["was"]["release"] == "6.1.0-57-amd64"
    assert rows["debian-12"]["why"] == ["kernel ABI 6.1.0-57-amd64 → 6.1.0-58-amd64"]
    assert rows["debian-11"]["why"] == ["the last build failed (%s)" % (tmp_path / "t510")]
    assert res["changed"] == ["debian-12", "debian-11"]
    [req] = asked
    assert req.kernels == ("debian-12", "debian-11") and req.counter == 5 and req.output == tmp_path / "out"
    # Nothing changed: no release at all.
    today["debian-12"] = watch.Now("6.1.0-57-amd64", "6.1.192-3", "x")
    asked.clear()
    res = watch.run_watch(session, watch.WatchRequest("6.12", (rel,), release_dir=tmp_path / "out"))
    assert res["changed"] == [] and asked == [] and "0 of 1 target(s)" in res["text"]


def test_an_unknown_kernel_stops_before_the_index(tmp_path):
    p = run_cli("--offline", "--cache-dir", str(tmp_path / "c"), "watch", "--from", "6.12",
                "--since", str(_tree(tmp_path / "t")), "--kernel", "debian-99")
    assert p.returncode == 2 and "debian-99" in p.stderr and "Traceback" not in p.stderr


# ---------------------------------------------------------------- Debian's index of today


def _newest_61(cache) -> watch.Now:
    return watch.newest_headers(Session(cache), resolve_target("6.1"))


@pytest.mark.network
def test_watch_on_todays_index(tmp_path, cache):
    now = _newest_61(cache)
    assert re.fullmatch(r"6\.1\.0-\d+-amd64", now.release)
    _tree(tmp_path / "old" / "6.1" / "tree", release="6.1.0-40-amd64", headers="6.1.150-1")
    _tree(tmp_path / "cur" / "6.1" / "tree", release=now.release, headers=now.headers)
    env = {"OFEDTOOL_CACHE": str(cache.root)}
    p = run_cli("--json", "watch", "--from", "6.12.117", "--since", str(tmp_path / "old"), env=env)
    assert p.returncode == 0, p.stderr
    [row] = json.loads(p.stdout)["targets"]
    assert row["why"] == [f"kernel ABI 6.1.0-40-amd64 → {now.release}"]
    p = run_cli("watch", "--from", "6.12.117", "--since", str(tmp_path / "cur"), "--changed", env=env)
    assert p.returncode == 0 and p.stdout.strip() == "", (p.stdout, p.stderr)
    # A kernel the last build did not have is new.
    p = run_cli("watch", "--from", "6.12.117", "--since", str(tmp_path / "cur"), "--kernel", "6.1,5.10",
                "--changed", env=env)
    assert p.returncode == 0 and p.stdout.strip() == "5.10", (p.stdout, p.stderr)


@pytest.mark.network
def test_the_jenkins_timer_run_builds_only_what_watch_names(tmp_path, cache):
    """The Jenkinsfile's Watch stage, run as the timer runs it (through /bin/sh, the real
    command): with debian-12's tree of today's ABI in the workspace, only 5.10 gets a cell; a
    build started by a person builds every kernel asked for."""
    from test_jenkinsfile import plan

    now = _newest_61(cache)
    out = tmp_path / "out"
    _tree(out / "6.1" / "tree", release=now.release, headers=now.headers)
    wrapper = tmp_path / "ofedtool"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m ofedtool.cli \"$@\"\n")
    wrapper.chmod(0o755)
    params = {"FROM": "6.12.117", "KERNELS": "6.1,5.10", "MODULES": "core", "SIGN": False, "CONFORMANCE": False}
    env = dict(os.environ, OFEDTOOL_CACHE=str(cache.root), OFEDTOOL=str(wrapper), OUT=str(out), FROM="6.12.117")

    def capture(stage, cmd, extra):
        p = subprocess.run(["/bin/sh", "-c", cmd], cwd=REPO, env={**env, **extra}, capture_output=True, text=True)
        assert p.returncode == 0, (stage, p.stderr)
        return p.stdout

    cells = sorted({s.split("]")[0] + "]" for s, _, _ in plan(params, {}, "timer", capture) if s.startswith("Matrix[")})
    assert cells == ["Matrix[5.10]"]
    assert {s.split("]")[0] + "]" for s, _, _ in plan(params, {}) if s.startswith("Matrix[")} == {
        "Matrix[6.1]", "Matrix[5.10]"}
    shutil.rmtree(out)
