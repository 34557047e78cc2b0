"""One make jobserver for all builds of a check (issue 8, figure (d)): fast tests with real GNU make.

The stand-in tree's `modules` is two jobs that can only both succeed when make runs them at the
same time (each waits for the other's marker): it proves make really got a second slot, from
its own -j or from the shared jobserver, not just that some flag was set.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from ofedtool import jobserver
from ofedtool.build.compile import compile_tree
from ofedtool import matrix
from ofedtool.pipeline import Session
from ofedtool.fetch.kbuild import KernelTree

PAIR = textwrap.dedent("""\
    # stand-in for the generated tree's Makefile: two jobs that must run at the same time
    modules: one two
    \t@echo "MAKEFLAGS=[$(MAKEFLAGS)]"
    one two:
    \t@touch $@.started; n=0; \\
    \twhile [ ! -e $(if $(filter one,$@),two,one).started ]; do \\
    \t  n=$$((n+1)); [ $$n -lt 50 ] || { echo "$@: ran alone"; exit 1; }; sleep 0.1; done; \\
    \techo "$@: ran beside the other"
    """)
SINGLE = textwrap.dedent("""\
    modules:
    \t@echo "MAKEFLAGS=[$(MAKEFLAGS)]"
    """)


def _tree(path: Path, makefile: str) -> Path:
    path.mkdir(parents=True)
    (path / "Makefile").write_text(makefile)
    return path


def _ktree(tmp_path: Path) -> KernelTree:
    return KernelTree(tmp_path, "0.0.0-test", "gcc", "x86")


def _makeflags(log: str) -> str:
    return next(line for line in log.splitlines() if line.startswith("MAKEFLAGS="))


def test_build_alone_uses_its_own_jobs(tmp_path, monkeypatch):
    monkeypatch.delenv("MAKEFLAGS", raising=False)
    tree = _tree(tmp_path / "tree", PAIR)
    res = compile_tree(tree, _ktree(tmp_path), [], 7, ccache=False)
    log = Path(res.log).read_text()
    assert res.exit_code == 0, log
    assert "-j7" in _makeflags(log)
    assert "one: ran beside the other" in log


def test_build_under_a_jobserver_passes_no_j_and_takes_its_slots(tmp_path, monkeypatch):
    pool = jobserver.Pool(2, 1)  # this process holds one slot: one token for make's second job
    try:
        monkeypatch.setenv("MAKEFLAGS", pool.env(os.environ)["MAKEFLAGS"])
        tree = _tree(tmp_path / "tree", PAIR)
        res = compile_tree(tree, _ktree(tmp_path), [], 7, ccache=False)
        log = Path(res.log).read_text()
        assert res.exit_code == 0, log
        flags = _makeflags(log)
        assert "-j7" not in flags and f"--jobserver-auth={pool.r},{pool.w}" in flags, flags
        assert "jobserver unavailable" not in log and "resetting jobserver" not in log, log
        assert "two: ran beside the other" in log
        assert os.read(pool.r, 8) == jobserver.TOKEN  # make gave its token back
    finally:
        pool.close()


def test_stale_jobserver_in_makeflags_is_dropped(tmp_path, monkeypatch):
    """MAKEFLAGS naming descriptors we did not inherit (a recipe without '+'): our own -j."""
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    monkeypatch.setenv("MAKEFLAGS", f" -j4 --jobserver-auth={r},{w} -- V=1")
    assert jobserver.from_environ() is None
    env = jobserver.make_env(os.environ, None)
    assert "jobserver" not in env["MAKEFLAGS"] and "V=1" in env["MAKEFLAGS"]
    tree = _tree(tmp_path / "tree", PAIR)
    res = compile_tree(tree, _ktree(tmp_path), [], 3, ccache=False)
    log = Path(res.log).read_text()
    assert res.exit_code == 0 and "-j3" in _makeflags(log), log


def test_slots_takes_free_tokens_and_gives_them_back():
    pool = jobserver.Pool(3, 1)
    try:
        with jobserver.slots(8, pool.server) as n:
            assert n == 3
            with jobserver.slots(2, pool.server) as m:
                assert m == 1  # nothing free: only the implicit slot, never a wait
        assert os.read(pool.r, 8) == jobserver.TOKEN * 2
    finally:
        pool.close()
    assert jobserver.from_environ({"MAKEFLAGS": "-k"}) is None


FAKE_BUILD = textwrap.dedent("""\
    # stand-in for `ofedtool build --json`: compile_tree on a small tree, result on stdout
    import json, sys
    from pathlib import Path
    from ofedtool import jobserver
    from ofedtool.build.compile import compile_tree
    from ofedtool.fetch.kbuild import KernelTree
    tree = Path(sys.argv[1])
    (tree / "jobserver.txt").write_text(repr(jobserver.from_environ()))
    res = compile_tree(tree, KernelTree(tree, "0.0.0-test", "gcc", "x86"), [], 7, ccache=False)
    print(json.dumps({"ok": res.ok, "build": res.as_dict()}))
    """)


def test_check_shares_one_jobserver_and_frees_finished_builds_slots(tmp_path, monkeypatch):
    """3 targets, 2 jobs: two builds at once, one slot each; the third starts in the first one's
    slot and, once the second has ended, compiles two jobs at once (the idle core of issue 8 (d))."""
    fake = tmp_path / "fake_build.py"
    fake.write_text(FAKE_BUILD)
    targets = ["6.1", "6.12", "5.10"]  # → debian-12, debian-12-6.12, debian-11, started in this order
    trees = {}
    for t, mk in zip(["debian-12", "debian-12-6.12", "debian-11"], [SINGLE, SINGLE, PAIR]):
        trees[t] = _tree(tmp_path / "trees" / t, mk)
    monkeypatch.setattr(matrix, "build_command",
                        lambda session, sel, opts: [sys.executable, str(fake), str(trees[sel.kernel])])
    monkeypatch.delenv("MAKEFLAGS", raising=False)
    req = matrix.CheckRequest("6.12", tuple(targets), modules="core", jobs=2, source="debian",
                              output=tmp_path / "check")
    res = matrix.run_check(Session(SimpleNamespace(root=tmp_path / "cache"), offline=True), req)
    logs = {t: (trees[t] / "build.log").read_text() for t in trees}
    assert res["ok"], (res["text"], logs)
    for t in trees:  # the pool's descriptors reached every build process
        assert (trees[t] / "jobserver.txt").read_text().startswith("Jobserver("), t
    for t, log in logs.items():
        opts = _makeflags(log).split(" -- ")[0]
        # the pool's -j2 only: the build's own -j7 would have left the jobserver
        assert re.findall(r"(?:\[|\s)-j(\d*)", opts) == ["2"], (t, opts)
    auths = {re.search(r"--jobserver-auth=(\S+)", _makeflags(log)).group(1) for log in logs.values()}
    assert len(auths) == 1, auths
    assert "two: ran beside the other" in logs["debian-11"], logs["debian-11"]
    assert [s["target"] for s in res["targets"]] == list(trees)


@pytest.mark.parametrize("flags, auth", [
    (" -j2 --jobserver-auth=fifo:/nonexistent", None),
    ("-kw -j --jobserver-fds=-1,-1", None),
])
def test_unusable_jobservers(flags, auth):
    assert jobserver.from_environ({"MAKEFLAGS": flags}) is auth
