"""Shared fixtures: real kernel inputs fetched once per session into the ofedtool cache.

The cache is $OFEDTOOL_CACHE (CI points it at a persistent directory so a re-run reuses the
downloads; a fresh machine downloads them). Nothing here is mocked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ofedtool.fetch.cache import Cache, default_cache_dir
from ofedtool.catalog import parse_from
from ofedtool.prove.report import _COLOURS as report_colours

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

# Fixtures that fetch from Debian's mirror when the cache is cold: a test using one is a network
# test, whatever its own marks say (`-m "not network"` must never download).
NETWORK_FIXTURES = {"src_6_12", "src_6_1", "src_5_10", "build_tree_6_1", "build_tree_6_12", "built_tree_6_1",
                    "built_tree_6_12", "remote", "packages", "cm_case", "tree", "ulp_build_6_1", "gap_6_1"}


def pytest_collection_modifyitems(items):
    for item in items:
        if NETWORK_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.network)


@pytest.fixture(scope="session")
def cache() -> Cache:
    return Cache(default_cache_dir())


@pytest.fixture(scope="session")
def src_6_12(cache) -> Path:
    """Real RDMA source of 6.12.N from Debian's linux-source-6.12 (read-only: copy before editing)."""
    from ofedtool.fetch.sources import fetch_source
    return fetch_source(cache, parse_from("6.12"), "debian").path


@pytest.fixture(scope="session")
def src_6_1(cache) -> Path:
    from ofedtool.fetch.sources import fetch_source
    return fetch_source(cache, parse_from("6.1"), "debian").path


@pytest.fixture(scope="session")
def src_5_10(cache) -> Path:
    """Debian 11's own RDMA source (5.10.N): the target-rule drivers the provider shims adapt."""
    from ofedtool.fetch.sources import fetch_source
    return fetch_source(cache, parse_from("5.10"), "debian").path


def _build_dir(cache, kernel: str) -> Path:
    from ofedtool.fetch.headers import fetch_headers
    return fetch_headers(cache, kernel)[1].build_dir


@pytest.fixture(scope="session")
def build_tree_6_1(cache) -> Path:
    """A prepared Debian 12 (6.1) build dir: make -C here M=... modules works."""
    return _build_dir(cache, "6.1")


@pytest.fixture(scope="session")
def build_tree_6_12(cache) -> Path:
    return _build_dir(cache, "debian-12-6.12")


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (exit codes and stderr as users see them)."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "ofedtool.cli", *args], capture_output=True, text=True,
                          env=e, cwd=cwd or REPO)


def error_line(stderr: str) -> str:
    """The single 'ofedtool: error: ...' line (progress lines may precede it)."""
    errs = [ln for ln in stderr.splitlines() if ln.startswith("ofedtool: error:")]
    assert len(errs) == 1, stderr
    return errs[0]


@pytest.fixture(scope="session")
def built_tree_6_1(tmp_path_factory) -> Path:
    """A generated and compiled tree (6.12 → Debian 12's 6.1), as `ofedtool build -o` leaves it.
    Compiles once per session (a few minutes); read-only for tests: copy before changing it."""
    out = tmp_path_factory.mktemp("built") / "tree-6.1"
    p = run_cli("build", "--kernel", "6.1", "--from", "6.12", "--source", "debian", "--modules", "core,rxe,siw",
                "-o", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    assert (out / "result.json").is_file()
    return out


@pytest.fixture(scope="session")
def built_tree_6_12(tmp_path_factory) -> Path:
    """The same for Debian 12's 6.12 (bookworm-security): X → X, every probe hits."""
    out = tmp_path_factory.mktemp("built") / "tree-6.12"
    p = run_cli("build", "--kernel", "6.12", "--from", "6.12", "--source", "debian", "--modules", "core,rxe,siw",
                "-o", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    return out



@pytest.fixture(scope="session")
def signing_key(tmp_path_factory) -> tuple[Path, Path]:
    """A throwaway module-signing key pair like the kernel's certs/x509.genkey makes (key, cert)."""
    d = tmp_path_factory.mktemp("key")
    (d / "x509.genkey").write_text(
        "[ req ]\ndefault_bits = 2048\ndistinguished_name = dn\nprompt = no\nstring_mask = utf8only\n"
        "x509_extensions = ext\n[ dn ]\nO = ofedtool tests\nCN = ofedtool throwaway test key\n"
        "[ ext ]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n")
    p = subprocess.run(["openssl", "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "2", "-batch", "-x509",
                        "-config", str(d / "x509.genkey"), "-outform", "PEM", "-out", str(d / "cert.pem"),
                        "-keyout", str(d / "key.pem")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return d / "key.pem", d / "cert.pem"

# ---------------------------------------------------------------- the matrix page in a real browser

def _rgb(hexcolour: str) -> tuple[int, int, int]:
    return tuple(bytes.fromhex(hexcolour.lstrip("#")))


# The page's own cell colours: a cell drawn in them is a cell the browser laid out and painted.
CELL_RGB = {k: _rgb(v) for k, v in report_colours.items() if k in ("pass", "fail")}


def artifact_dir(tmp_path: Path) -> Path:
    """Where screenshots are kept for people and CI: $OFEDTOOL_ARTIFACTS, else the test's tmp dir."""
    d = Path(os.environ["OFEDTOOL_ARTIFACTS"]) if os.environ.get("OFEDTOOL_ARTIFACTS") else tmp_path
    d.mkdir(parents=True, exist_ok=True)
    return d


def cell_pixels(png: Path) -> dict[str, int]:
    """How many pixels of the PNG have each cell colour (pass, fail); checks it is a real image."""
    from PIL import Image

    from ofedtool.prove.screenshot import DEFAULT_SIZE
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == DEFAULT_SIZE, (im.format, im.size)
        colours = {rgb: n for n, rgb in im.convert("RGB").getcolors(maxcolors=1 << 24)}
    return {k: colours.get(rgb, 0) for k, rgb in CELL_RGB.items()}


def render_page(html: Path, png: Path) -> tuple[dict[str, int], str]:
    """Render html in headless Chromium into png; (pixels of each cell colour, Chromium's DOM)."""
    from ofedtool.prove.screenshot import dump_dom, screenshot
    screenshot(html, png)
    print(f"screenshot: {png}")
    return cell_pixels(png), dump_dom(html)
