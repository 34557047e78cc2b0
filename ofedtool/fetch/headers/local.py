"""An existing build tree: /lib/modules/<release>/build or any prepared kernel tree."""

from __future__ import annotations

from pathlib import Path

from ...errors import OfedError
from . import BuildTree, kernel_release


def fetch(query: str) -> BuildTree:
    path = Path(query.removeprefix("local:")).expanduser().resolve()
    if not path.is_dir():
        raise OfedError(f"kernel build directory {path} does not exist")
    for need in ("Makefile", ".config"):
        if not (path / need).exists():
            raise OfedError(f"{path}: not a kernel build tree (no {need})")
    return BuildTree(path, kernel_release(path), target_id="local", provenance={"provider": "local"})
