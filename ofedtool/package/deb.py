"""Debian: <name>-dkms_<version>_all.deb, the DKMS tree under /usr/src/<name>-<version>/.

Built with dpkg-deb from a staged root: files owned by root (--root-owner-group), every mtime
clamped to SOURCE_DATE_EPOCH (dpkg-deb also uses it for the ar member dates), xz single-threaded.
What Debian policy asks of every binary package is there, so lintian has nothing to say:
/usr/share/doc/<package>/copyright and changelog.Debian.gz, DEBIAN/md5sums, a Maintainer with
a real address (ofedtool.package.common.packager), a description of the modules it holds,
wrapped within 80 columns. The one tag a package may carry, bogus-mail-host when no packager
was named, is overridden in /usr/share/lintian/overrides with why.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from ..proc import require, run
from ..templates import render
from .common import Package, clamp_mtimes, describe_modules, packager, target_info


@dataclass
class DebOutput:
    deb: Path


def build(pkg: Package, out: Path, work: Path, dkms_tree: Path) -> DebOutput:
    dpkg_deb = require("dpkg-deb", "dpkg")
    root = work / "deb-root"
    shutil.rmtree(root, ignore_errors=True)
    base = f"{pkg.name}-{pkg.version}"
    shutil.copytree(dkms_tree, root / "usr" / "src" / base, symlinks=True)
    conf = dkms_tree / f"{pkg.name}.modprobe.conf"
    if conf.exists():
        # Blacklist of the modules left to the distro (ofedtool build --leave), a conffile.
        (root / "etc" / "modprobe.d").mkdir(parents=True)
        shutil.copyfile(conf, root / "etc" / "modprobe.d" / f"{pkg.name}.conf")
    deb_name = f"{pkg.name}-dkms"
    maintainer, placeholder = packager()
    if placeholder:
        ui.warn(f"{deb_name}: no packager named (OFEDTOOL_PACKAGER, or DEBFULLNAME/DEBEMAIL): Maintainer is "
                f"the placeholder '{maintainer}'")
    info = target_info(pkg.tree)
    src = pkg.tree.manifest.source
    ctx = dict(years=_copyright_years(pkg), name=pkg.name, version=pkg.version, upstream=pkg.tree.source_version, series=info["series"],
               modules=[m.name for m in pkg.tree.modules], maintainer=maintainer, kver=pkg.tree.release,
               source_desc=f"{src.get('provider')} {src.get('package_version') or src.get('tag') or src.get('version')}",
               date=time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(pkg.epoch)))
    doc = root / "usr" / "share" / "doc" / deb_name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(render("deb/copyright.j2", **ctx))
    with open(doc / "changelog.Debian.gz", "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(render("deb/changelog.j2", **ctx).encode())
    overrides = root / "usr" / "share" / "lintian" / "overrides"
    overrides.mkdir(parents=True)
    text = ("# This package is built for a site's own repository, not uploaded to Debian: there is no\n"
            "# ITP bug for its first changelog entry to close.\n"
            f"{deb_name}: initial-upload-closes-no-bugs *\n")
    if placeholder:
        mail = maintainer.split("<")[-1].rstrip(">")
        text += ("# Made without a packager's address (OFEDTOOL_PACKAGER or DEBFULLNAME/DEBEMAIL were not set):\n"
                 "# ofedtool has no address of its own for Maintainer. Set one and repackage to drop these.\n"
                 f"{deb_name}: bogus-mail-host Maintainer {mail}\n"
                 f"{deb_name}: bogus-mail-host-in-debian-changelog {mail} *\n")
    (overrides / deb_name).write_text(text)
    size_kb = sum((p.stat().st_size + 1023) // 1024 for p in root.rglob("*") if p.is_file())
    debian = root / "DEBIAN"
    debian.mkdir()
    ctx.update(installed_size=size_kb, description=_description(pkg, info["series"]))
    (debian / "control").write_text(render("deb/control.j2", **ctx))
    if conf.exists():
        (debian / "conffiles").write_text(f"/etc/modprobe.d/{pkg.name}.conf\n")
    for script in ("postinst", "prerm"):
        (debian / script).write_text(render(f"deb/{script}.j2", **ctx))
        (debian / script).chmod(0o755)
    (debian / "md5sums").write_text("".join(
        f"{hashlib.md5(f.read_bytes()).hexdigest()}  {f.relative_to(root).as_posix()}\n"
        for f in sorted(root.rglob("*")) if f.is_file() and not f.is_symlink() and debian not in f.parents))
    for p in [root, *root.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
        elif p.parent != debian:
            p.chmod(0o755 if os.access(p, os.X_OK) else 0o644)
        elif p.name in ("control", "md5sums"):
            p.chmod(0o644)
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


def _description(pkg: Package, series: str) -> str:
    """The extended description: what the package holds (its own module list), wrapped for
    Debian (each line indented one space, at most 80 columns)."""
    from .. import __version__
    text = (f"The kernel modules of Linux {pkg.tree.source_version}'s RDMA stack in this package: "
            f"{describe_modules(pkg.tree.manifest)}; backported by ofedtool {__version__}. DKMS builds them "
            f"for every installed Linux {series}.y kernel; feature probes adapt them to each kernel at build time.")
    return "\n".join(" " + line for line in textwrap.wrap(text, width=78, break_on_hyphens=False))


_YEAR = re.compile(r"Copyright\s*(?:\(c\)|©)?\s*((?:19|20)\d\d)(?:\s*[-,]\s*((?:19|20)\d\d))?", re.I)


def _copyright_years(pkg: Package) -> str:
    """The first and last year the sources' own copyright notices name (debian/copyright
    states the years; the tree's files are the authority)."""
    years = set()
    for m in pkg.tree.modules:
        for f in (pkg.tree.path / m.dir).glob("*.[ch]"):
            for y in _YEAR.findall(f.read_text(errors="replace")[:4000]):
                years.update(int(x) for x in y if x)
    if not years:
        return time.strftime("%Y", time.gmtime(pkg.epoch))
    return f"{min(years)}-{max(years)}" if min(years) != max(years) else str(min(years))
