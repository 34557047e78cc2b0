"""Render a report page in Debian's headless Chromium: a PNG of what a reader sees, and the DOM
the browser built (proof that it parsed the matrix, not just that a file exists).

Every run gets a fresh, empty profile: a shared one would carry state between runs and lock
out concurrent ones. The background-networking switches are not optional: without them
Chromium waits on component, sync and QUIC connections that this machine refuses, and hangs.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..proc import require
from ..errors import OfedError

DEFAULT_SIZE = (1280, 960)
_FLAGS = ("--headless", "--no-sandbox",  # no sandbox: CI and vmtest hosts run us as root
          "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--hide-scrollbars")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _chromium(page: Path, extra: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = require("chromium", "chromium")
    if not page.is_file():
        raise OfedError(f"{page}: no such page to render")
    with tempfile.TemporaryDirectory(prefix="ofedtool-chromium-") as profile:
        cmd = [exe, *_FLAGS, f"--user-data-dir={profile}", *extra, page.absolute().as_uri()]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise OfedError(f"chromium did not finish rendering {page} in {timeout:.0f}s") from None


def png_size(png: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which the PNG format puts first."""
    head = png.read_bytes()[:24]
    if not head.startswith(PNG_MAGIC) or head[12:16] != b"IHDR":
        raise OfedError(f"{png}: not a PNG image")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def screenshot(page: Path, png: Path, size: tuple[int, int] = DEFAULT_SIZE, timeout: float = 120) -> Path:
    """The page as a size[0] x size[1] PNG (the viewport: taller pages are cut)."""
    png = png.absolute()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)  # a stale file must not pass for this run's picture
    p = _chromium(page, [f"--screenshot={png}", f"--window-size={size[0]},{size[1]}"], timeout)
    if p.returncode != 0 or not png.is_file():
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise OfedError(f"chromium wrote no screenshot of {page} (exit {p.returncode}): {err}")
    if png_size(png) != size:
        raise OfedError(f"{png}: chromium drew {png_size(png)}, not the asked {size}")
    return png


def dump_dom(page: Path, timeout: float = 120) -> str:
    """The document as Chromium parsed it, serialised (attributes quoted, implied tags added)."""
    p = _chromium(page, ["--dump-dom"], timeout)
    if p.returncode != 0 or "<html" not in p.stdout:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise OfedError(f"chromium could not load {page} (exit {p.returncode}): {err}")
    return p.stdout
