"""-o never loses a user's data: only absent, empty or ofedtool-made directories are replaced or
written into; everything else is refused in one line with exit 2 and left exactly as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import error_line, run_cli
from ofedtool.errors import OfedError
from ofedtool.fsutil import MARKER, check_output, claim_dir, is_ours, replace_dir


def _snapshot(d: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(d.rglob("*")):
        out[str(p.relative_to(d))] = os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
    return out


def _foreign(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "thesis.tex").write_text("three years of work\n")
    (d / "sub").mkdir()
    (d / "sub" / "data.csv").write_text("1,2,3\n")
    return d


def _our_tree(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "manifest.json").write_text(json.dumps({"ofedtool": "0.1.0", "inputs": "ab" * 32}))
    (d / "old.c").write_text("old\n")
    return d


# (name, how to make the -o, what to pass as -o relative to tmp, cwd relative to tmp)
CASES = {
    "foreign-dir": (lambda t: _foreign(t / "home"), "home", None),
    "dot": (lambda t: _foreign(t / "home"), ".", "home"),
    "file": (lambda t: (t / "notes.txt").write_text("keep me\n"), "notes.txt", None),
    "symlink": (lambda t: (_foreign(t / "elsewhere"), os.symlink(t / "elsewhere", t / "link")), "link", None),
    "ours-via-symlink": (lambda t: (_our_tree(t / "tree"), os.symlink(t / "tree", t / "link")), "link", None),
}


def _commands(o: str) -> dict[str, list[str]]:
    pipe = ["--kernel", "6.1", "--from", "6.12", "--source", "debian", "-o", o]
    return {
        "generate": ["generate", *pipe], "build": ["build", *pipe], "gap": ["gap", *pipe],
        "package": ["package", "--tree", "/nonexistent-tree", "-o", o],
        "report": ["report", "-o", o, "/nonexistent-tree"],
        "check": ["check", "--from", "6.12", "--kernel", "6.1", "--source", "debian", "-o", o],
        "vmtest": ["vmtest", "--kernel", "6.1", "--from", "6.12", "--tree", "/nonexistent-tree", "-o", o],
    }


@pytest.mark.parametrize("command", list(_commands("x")))
@pytest.mark.parametrize("case", list(CASES))
def test_output_not_ours_is_refused_untouched(tmp_path, case, command):
    make, o, cwd = CASES[case]
    work = tmp_path / "w"
    work.mkdir()
    make(work)
    before = _snapshot(work)
    cache = tmp_path / "cache"
    p = run_cli("--cache-dir", str(cache), *_commands(o)[command], cwd=work / cwd if cwd else work)
    assert p.returncode == 2, p.stderr
    err = error_line(p.stderr)
    assert o in err and ("not made by ofedtool" in err or "not a directory" in err or "symlink" in err
                         or "current directory" in err), err
    assert "Traceback" not in p.stderr
    assert _snapshot(work) == before           # nothing of the user's changed, nothing added
    assert not cache.exists() or _snapshot(cache) == {}  # and nothing was downloaded first


def test_replace_dir_swaps_only_ours(tmp_path):
    ours = _our_tree(tmp_path / "tree")
    new = tmp_path / ".tree.tmp"
    new.mkdir()
    (new / "manifest.json").write_text(json.dumps({"ofedtool": "0.1.0", "inputs": "cd" * 32}))
    replace_dir(new, ours)
    assert sorted(p.name for p in ours.iterdir()) == ["manifest.json"]
    assert not list(tmp_path.glob(".tree.old-*"))
    # an empty existing directory may be used
    empty = tmp_path / "empty"
    empty.mkdir()
    new2 = tmp_path / ".e.tmp"
    new2.mkdir()
    (new2 / "f").write_text("1")
    replace_dir(new2, empty)
    assert (empty / "f").read_text() == "1"
    # a directory that became foreign between the start and the swap is still refused
    late = _foreign(tmp_path / "late")
    new3 = tmp_path / ".l.tmp"
    new3.mkdir()
    with pytest.raises(OfedError, match="not made by ofedtool"):
        replace_dir(new3, late)
    assert (late / "thesis.tex").exists() and new3.exists()


def test_ownership_marks(tmp_path):
    assert not is_ours(_foreign(tmp_path / "f"))
    assert is_ours(_our_tree(tmp_path / "t"))
    # a manifest.json of someone else's (no ofedtool/inputs keys) does not make it ours
    other = tmp_path / "o"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"name": "webapp"}))
    assert not is_ours(other)
    with pytest.raises(OfedError):
        check_output(other)
    d = claim_dir(tmp_path / "reports")
    assert (d / MARKER).is_file() and is_ours(d)
    (d / "report.html").write_text("x")
    assert claim_dir(d) == d  # ours: may be written again


_HOLD = """
import sys, time
from ofedtool.fsutil import output_lock
with output_lock(sys.argv[1]):
    print("got", time.monotonic(), flush=True)
    time.sleep(float(sys.argv[2]))
print("released", time.monotonic(), flush=True)
"""


def test_second_run_on_one_output_waits_for_the_first(tmp_path):
    """Two builds into one -o used to run at once and both fail (0/7 .ko): the second now waits,
    says so in one line, and runs after the first."""
    import subprocess
    import sys

    from conftest import REPO
    out = tmp_path / "tree"
    a = subprocess.Popen([sys.executable, "-c", _HOLD, str(out), "2"], cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert a.stdout.readline().startswith("got")
    b = subprocess.run([sys.executable, "-c", _HOLD, str(out), "0"], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    a_out = a.communicate(30)[0]
    released = float(a_out.split()[1])
    got_b = float(b.stdout.split()[1])
    assert got_b >= released, (a_out, b.stdout)
    assert b.stderr.count("is in use by another ofedtool run: waiting") == 1, b.stderr
    # the lock leaves nothing beside the output (its file is in the per-user lock directory)
    assert not out.exists() and not list(tmp_path.glob(".tree*"))
