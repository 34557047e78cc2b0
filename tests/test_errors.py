"""The error policy (ofedtool/errors.py, cli.main): every failure is one line `ofedtool: error:`,
with exit 2 for bad usage or input, 70 for a bug (its traceback saved to a file), 141 for a
closed stdout; never a raw traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, error_line, run_cli
from ofedtool import cli


def _one_line(p: subprocess.CompletedProcess, code: int, needle: str) -> str:
    assert p.returncode == code, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    err = error_line(p.stderr)
    assert needle in err, err
    return err


def test_cache_dir_is_a_file(tmp_path):
    f = tmp_path / "cachefile"
    f.write_text("not a cache\n")
    _one_line(run_cli("--cache-dir", str(f), "fetch", "--from", "6.12"), 2, "is not a directory")
    _one_line(run_cli("fetch", "--from", "6.12", env={"OFEDTOOL_CACHE": str(f / "sub")}), 2, "is not a directory")
    assert f.read_text() == "not a cache\n"


def test_config_value_of_the_wrong_type(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("git_url = 42\n")
    _one_line(run_cli("--cache-dir", str(tmp_path / "c"), "fetch", "--from", "6.12",
                      env={"OFEDTOOL_CONFIG": str(cfg)}), 2, "git_url = 42: must be a string")


def test_config_path_is_a_directory(tmp_path):
    _one_line(run_cli("--cache-dir", str(tmp_path / "c"), "fetch", "--from", "6.12",
                      env={"OFEDTOOL_CONFIG": str(tmp_path)}), 2, f"config file {tmp_path}: Is a directory")


def test_git_url_git_refuses_to_run(tmp_path):
    err = _one_line(run_cli("--cache-dir", str(tmp_path / "c"), "fetch", "--from", "6.12",
                            env={"OFEDTOOL_GIT_URL": "::x"}), 2, "$OFEDTOOL_GIT_URL = '::x'")
    assert "not a git URL" in err
    assert not (tmp_path / "c" / "sources").exists()  # and no fallback to Debian on a bad setting


def test_cache_dir_from_config_is_used(tmp_path):
    """cache_dir in config.toml counts (below --cache-dir and $OFEDTOOL_CACHE)."""
    from ofedtool.fetch.cache import default_cache_dir
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'cache_dir = "{tmp_path / "from-config"}"\n')
    env = {k: v for k, v in os.environ.items() if k != "OFEDTOOL_CACHE"}
    env["OFEDTOOL_CONFIG"] = str(cfg)
    code = "from ofedtool.fetch.cache import default_cache_dir as d; print(d())"
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    assert got.stdout.strip() == str(tmp_path / "from-config"), got.stderr
    env["OFEDTOOL_CACHE"] = str(tmp_path / "from-env")
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    assert got.stdout.strip() == str(tmp_path / "from-env")
    assert default_cache_dir(tmp_path / "given") == tmp_path / "given"


def test_closed_stdout_exits_quietly():
    # `| true` closes the pipe before ofedtool writes: the print meets EPIPE
    p = subprocess.run(f"{sys.executable} -m ofedtool.cli --json kernels | true; echo $PIPESTATUS",
                       shell=True, executable="/bin/bash", capture_output=True, text=True, cwd=REPO)
    assert p.stdout.strip() == "141", p
    assert p.stderr == "", p.stderr


def test_unexpected_exception_is_one_line_and_a_saved_traceback(tmp_path, monkeypatch, capsys):
    from ofedtool.commands import kernels

    def boom(args, cache):
        raise KeyError("a bug")

    monkeypatch.setattr(kernels, "run", boom)
    assert cli.main(["--cache-dir", str(tmp_path), "kernels"]) == 70
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ofedtool: error: internal error: KeyError"), err
    saved = Path(lines[0].split("traceback saved in ")[1].split(";")[0])
    assert saved.parent == tmp_path / "logs"
    assert "Traceback (most recent call last)" in saved.read_text() and "a bug" in saved.read_text()


def test_usage_and_failure_codes_differ(tmp_path):
    # argparse and OfedError: 2
    assert run_cli("build").returncode == 2
    _one_line(run_cli("--cache-dir", str(tmp_path), "fetch", "--kernel", "4.4"), 2, "unknown kernel")
    _one_line(run_cli("--cache-dir", str(tmp_path), "build", "--kernel", "6.1", "--from", "6.12",
                      "--modules", ""), 2, "--modules ''")


# ---------------------------------------------------------------- read-only places

def _private_mounts() -> bool:
    return subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True).returncode == 0


@pytest.fixture
def unprivileged():
    """Run the CLI where read-only places are really read-only, in a scratch dir. Root ignores
    file modes, so as root the directories made read-only (mode 0555) are bind-mounted read-only
    in a private mount namespace; without one, the CLI runs as nobody (which needs the Python
    environment readable by nobody: tox's .tox is not). Yields (scratch dir, run)."""
    d = Path(tempfile.mkdtemp(prefix="ofedtool-ro-", dir="/tmp"))
    d.chmod(0o755)
    root = os.geteuid() == 0
    mounts = root and shutil.which("unshare") and _private_mounts()
    if root and not mounts and not shutil.which("setpriv"):
        pytest.skip("running as root without private mounts or setpriv: read-only places cannot be made")

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        e = {**os.environ, "HOME": str(d), **(env or {})}
        cli = [sys.executable, "-m", "ofedtool.cli", *args]
        if mounts:
            ro = [p for p in [d, *d.rglob("*")] if p.is_dir() and p.stat().st_mode & 0o777 == 0o555]
            script = "".join(f'mount --bind "{p}" "{p}" && mount -o remount,bind,ro "{p}" && ' for p in ro)
            cli = ["unshare", "-m", "--propagation", "private", "sh", "-c", script + 'exec "$@"', "sh", *cli]
        elif root:
            cli = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cli]
        return subprocess.run(cli, capture_output=True, text=True, env=e, cwd=d)

    yield d, run
    shutil.rmtree(d, ignore_errors=True)


def _read_only(d: Path) -> Path:
    d.mkdir()
    (d / "keep").write_text("x")
    d.chmod(0o555)
    return d


def test_read_only_cache(unprivileged):
    d, run = unprivileged
    ro = _read_only(d / "cache")
    err = _one_line(run("--cache-dir", str(ro), "fetch", "--from", "6.12", "--source", "debian"), 2, str(ro))
    assert "cannot write" in err or "not writable" in err


@pytest.mark.parametrize("command", [
    ["generate", "--kernel", "6.1", "--from", "6.12", "--source", "debian"],
    ["package", "--tree", "/nonexistent-tree"],
])
def test_read_only_output(unprivileged, command):
    d, run = unprivileged
    ro = _read_only(d / "ro")
    _one_line(run("--cache-dir", str(d / "c"), *command, "-o", str(ro / "out")), 2, "is not writable")
    _one_line(run("--cache-dir", str(d / "c"), *command, "-o", str(ro)), 2, "not made by ofedtool")
    assert sorted(p.name for p in ro.iterdir()) == ["keep"]


def test_missing_rpmbuild_writes_nothing(tmp_path):
    """A missing rpmbuild used to leave a half package directory (DKMS files, no SHA256SUMS)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for exe in Path(d).iterdir():
            if exe.name != "rpmbuild" and not (fake / exe.name).exists():
                os.symlink(exe, fake / exe.name)
    out = tmp_path / "packages"
    p = run_cli("--cache-dir", str(tmp_path / "c"), "package", "--tree", str(tmp_path / "tree"),
                "--format", "dkms,rpm", "-o", str(out), env={"PATH": str(fake)})
    _one_line(p, 2, "'rpmbuild' not found")
    assert not out.exists() and not list(tmp_path.glob(".packages*"))


def test_local_kernel_path_is_checked_before_any_download(tmp_path):
    p = run_cli("--cache-dir", str(tmp_path / "c"), "build", "--kernel", "/not/a/tree", "--from", "6.12",
                "--source", "debian")
    _one_line(p, 2, "/not/a/tree does not exist")
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*"))


def test_offline_auto_uses_the_debian_source_an_online_run_cached(src_6_12, cache):
    """An online auto run that fell back to Debian filled the cache; offline auto must use it
    (it used to accept only --source debian)."""
    import json
    p = run_cli("--cache-dir", str(cache.root), "--offline", "--json", "fetch", "--from", "6.12")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["source"]["path"] == str(src_6_12)
    assert "using Debian's linux-source-6.12 from the cache" in p.stderr
