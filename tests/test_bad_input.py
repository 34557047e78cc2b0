"""Bad input: one-line error naming the thing, non-zero exit, cache unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import error_line, run_cli
from ofedtool.fetch.cache import Cache


def _snapshot(d: Path):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")) if d.exists() else []


@pytest.mark.parametrize("args,needle", [
    (["--kernel", "4.4"], "unknown kernel '4.4'"),
    (["--kernel", "debian"], "ambiguous"),
    (["--from", "3.2"], "unknown source release '3.2'"),
    (["--from", "six"], "expected a kernel release"),
    (["--kernel", "/nonexistent/build"], "/nonexistent/build does not exist"),
])
def test_bad_input(tmp_path, args, needle):
    p = run_cli("--cache-dir", str(tmp_path / "c"), "fetch", *args)
    assert p.returncode != 0
    assert needle in error_line(p.stderr)
    assert _snapshot(tmp_path / "c") == []


@pytest.mark.parametrize("tool,package,args", [
    ("apt-get", "apt", ["--from", "6.12", "--source", "debian"]),
    ("dpkg-deb", "dpkg", ["--from", "6.12", "--source", "debian"]),
    # Debian 13 is built with its own relocated gcc-14: without patchelf nothing is downloaded.
    ("patchelf", "patchelf", ["--kernel", "debian-13"]),
])
def test_missing_tool_names_debian_package(tmp_path, tool, package, args):
    # A PATH that has everything of /usr/bin and /bin except the tool.
    fake = tmp_path / "bin"
    fake.mkdir()
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for exe in Path(d).iterdir():
            if exe.name != tool and not (fake / exe.name).exists():
                os.symlink(exe, fake / exe.name)
    p = run_cli("--cache-dir", str(tmp_path / "c"), "fetch", *args, env={"PATH": str(fake)})
    assert p.returncode != 0
    err = error_line(p.stderr)
    assert f"'{tool}'" in err and f"'{package}'" in err
    assert _snapshot(tmp_path / "c") == []


def test_interrupted_entry_is_never_trusted(tmp_path):
    cache = Cache(tmp_path)

    def dies(tmp: Path):
        tmp.mkdir()
        (tmp / "half").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.ensure("sources/x", dies)
    assert not cache.path("sources/x").exists()
    assert not list(cache.path("sources").glob(".x.tmp-*"))
    # A temporary left by a killed process (no cleanup ran) is removed and the entry made whole.
    stale = cache.path("sources/.x.tmp-99999")
    stale.mkdir(parents=True)
    made = cache.ensure("sources/x", lambda t: (t.mkdir(), (t / "ok").write_text("1")))
    assert (made / "ok").read_text() == "1" and not stale.exists()
