"""Debian: <name>-dkms_<version>_all.deb, the DKMS tree under /usr/src/<name>-<version>/.

Built with dpkg-deb from a staged root: files owned by root (--root-owner-group), every mtime
clamped to SOURCE_DATE_EPOCH (dpkg-deb also uses it for the ar member dates), xz single-threaded.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from ..proc import require, run
from ..templates import render
from .common import Package, clamp_mtimes, target_info


@dataclass
class DebOutput:
    deb: Path


def build(pkg: Package, out: Path, work: Path, dkms_tree: Path) -> DebOutput:
    dpkg_deb = require("dpkg-deb", "dpkg")
    root = work / "deb-root"
    shutil.rmtree(root, ignore_errors=True)
    base = f"{pkg.name}-{pkg.version}"
    shutil.copytree(dkms_tree, root / "usr" / "src" / base, symlinks=True)
    size_kb = sum((p.stat().st_size + 1023) // 1024 for p in root.rglob("*") if p.is_file())
    debian = root / "DEBIAN"
    debian.mkdir()
    info = target_info(pkg.tree)
    ctx = dict(name=pkg.name, version=pkg.version, upstream=pkg.tree.source_version, series=info["series"],
               modules=[m.name for m in pkg.tree.modules], installed_size=size_kb)
    (debian / "control").write_text(render("deb/control.j2", **ctx))
    for script in ("postinst", "prerm"):
        (debian / script).write_text(render(f"deb/{script}.j2", **ctx))
        (debian / script).chmod(0o755)
    for p in [root, *root.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
        elif p.parent != debian:
            p.chmod(0o755 if os.access(p, os.X_OK) else 0o644)
    clamp_mtimes(root, pkg.epoch)
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"{pkg.name}-dkms_{pkg.version}_all.deb"
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(pkg.epoch)}
    p = run([dpkg_deb, "--root-owner-group", "-Zxz", "-z9", "--threads-max=1", "--build", root, deb],
            check=False, env=env)
    if p.returncode != 0:
        # older dpkg-deb has no --threads-max: retry without it
        run([dpkg_deb, "--root-owner-group", "-Zxz", "-z9", "--build", root, deb],
            what=f"dpkg-deb --build {deb.name}", package="dpkg", env=env)
    ui.info(f"[package] deb: {deb.name}")
    return DebOutput(deb)
