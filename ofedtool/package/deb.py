"""Debian: <name>-dkms_<version>_all.deb, the DKMS tree under /usr/src/<name>-<version>/;
<name>-modules-<kver>_<version>_<arch>.deb, the built modules for one kernel (as Debian's own
linux-modules-<kver>); <name>-dev-<kver>_<version>_<arch>.deb, the headers and Module.symvers
third-party modules build against (ofedtool.package.devel), per kernel as Debian's
linux-headers-<kver>: two kernels' are installed side by side, /usr/src/ofa_kernel/default an
alternative (update-alternatives) pointing at the newest unless the admin sets it.

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
from .common import Package, clamp_mtimes, describe_modules, packager, signature_state, target_info


@dataclass
class DebOutput:
    deb: Path


def build(pkg: Package, out: Path, work: Path, dkms_tree: Path) -> DebOutput:
    """<name>-dkms_<version>_all.deb: the DKMS tree under /usr/src/<name>-<version>/."""
    info = target_info(pkg.tree)
    root = _fresh(work / "deb-root")
    shutil.copytree(dkms_tree, root / "usr" / "src" / f"{pkg.name}-{pkg.version}", symlinks=True)
    conffiles = _modprobe_conf(pkg, root, dkms_tree / f"{pkg.name}.modprobe.conf") + _kernel_hooks(pkg, root)
    return _build(pkg, out, root, f"{pkg.name}-dkms", "all", depends="dkms (>= 2.8)",  # Debian 11's 2.8.4 builds it
                  conflicts=_conflicts(pkg, "mlnx-ofed-kernel-dkms"),
                  summary=f"upstream Linux RDMA stack {pkg.tree.source_version} for Linux {info['series']}.y (DKMS source)",
                  description=_description(pkg, info["series"]), scripts=("postinst", "prerm"), conffiles=conffiles)


def _kernel_hooks(pkg: Package, root: Path) -> list[str]:
    """recipes/deb/kernel-hook.j2 as the kernel and headers postinst hooks that run before dkms's
    own (run-parts order): a failed build of ours must not fail a kernel install (see the hook)."""
    name = f"00-{pkg.name}-dkms"
    text = render("deb/kernel-hook.j2", name=pkg.name, package=f"{pkg.name}-dkms", version=pkg.version)
    hooks = []
    for d in ("postinst.d", "header_postinst.d"):
        dest = root / "etc" / "kernel" / d / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        dest.chmod(0o755)
        hooks.append(f"/etc/kernel/{d}/{name}")
    return hooks


def _modprobe_conf(pkg: Package, root: Path, conf: Path | None = None) -> list[str]:
    """The blacklist of the modules left to the distro (ofedtool build --leave), a conffile: from
    the DKMS tree when given, else written for the package at hand."""
    if conf is not None and not conf.exists() or conf is None and not pkg.tree.left:
        return []
    dest = root / "etc" / "modprobe.d" / f"{pkg.name}.conf"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if conf is not None:
        shutil.copyfile(conf, dest)
    else:
        from .dkms import modprobe_conf
        dest.write_text(modprobe_conf(pkg, f"{pkg.name}-modules-{pkg.tree.release}"))
    return [f"/etc/modprobe.d/{pkg.name}.conf"]


def build_modules(pkg: Package, out: Path, work: Path) -> DebOutput:
    """<name>-modules-<kver>_<version>_<arch>.deb, as Debian's linux-modules-<kver>: the modules
    `ofedtool build` compiled and checked (stripped, signed when asked) under
    /lib/modules/<kver>/<module_dir>/, the depmod.d override the kmod RPM has, and maintainer
    scripts that run depmod and update-initramfs for that kernel."""
    info = target_info(pkg.tree)
    kver = pkg.tree.release
    module_dir = f"{info['module_dir']}/{pkg.name}"
    root = _fresh(work / "deb-modules-root")
    dest = root / "lib" / "modules" / kver / module_dir
    dest.mkdir(parents=True)
    for name, ko in sorted(pkg.kos.items()):
        shutil.copyfile(ko, dest / f"{name}.ko")
    conf = root / "etc" / "depmod.d" / f"{pkg.name}.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(render("depmod.conf.j2", name=pkg.name, version=pkg.version, kver=kver, module_dir=module_dir,
                           modules=[m.name for m in pkg.tree.modules], owner=f"{pkg.name}-modules-{kver}"))
    text = (f"The kernel modules of Linux {pkg.tree.source_version}'s RDMA stack, backported by ofedtool and "
            f"built for kernel {kver} only: {describe_modules(pkg.tree.manifest)}. They are installed under "
            f"/lib/modules/{kver}/{module_dir}, and a depmod.d override makes them win over the kernel's own "
            f"RDMA modules. Modules are {signature_state(pkg)}.")
    return _build(pkg, out, root, f"{pkg.name}-modules-{kver}", info["arch"] or "amd64",
                  depends=f"linux-image-{kver} | linux-image-{kver}-unsigned, kmod",
                  conflicts=_conflicts(pkg, f"{pkg.name}-dkms", "mlnx-ofed-kernel-dkms"),
                  summary=f"upstream Linux RDMA {pkg.tree.source_version} modules for Linux {kver}",
                  description=_wrap(text), scripts=("postinst", "postrm"), template="modules",
                  conffiles=[f"/etc/depmod.d/{pkg.name}.conf", *_modprobe_conf(pkg, root)],
                  ctx={"module_dir": module_dir})


def build_dev(pkg: Package, out: Path, work: Path) -> DebOutput:
    """<name>-dev-<kver>_<version>_<arch>.deb: the -devel content (ofedtool.package.devel) that
    third-party RDMA modules compile against, for this package's kernel."""
    from . import devel
    info = target_info(pkg.tree)
    kver = pkg.tree.release
    root = _fresh(work / "deb-dev-root")
    where = devel.stage(pkg, root, info["arch"], link=False)
    rel = where.relative_to(root)
    text = (f"Headers and Module.symvers of Linux {pkg.tree.source_version}'s RDMA stack as backported by "
            f"ofedtool for kernel {kver}, for building third-party RDMA kernel modules against it, at "
            f"/{rel} (and /{devel.ROOT}/default, an alternative pointing at the newest kernel's), the "
            f"MLNX_OFED convention: add -I/{rel}/include ahead of the kernel's includes (NOSTDINC_FLAGS) "
            f"and KBUILD_EXTRA_SYMBOLS=/{rel}/Module.symvers.")
    return _build(pkg, out, root, f"{pkg.name}-dev-{kver}", info["arch"] or "amd64",
                  depends=f"{pkg.name}-modules-{kver} (= {pkg.version}) | {pkg.name}-dkms (= {pkg.version})",
                  # <name>-dev: the one -dev for every kernel before they were named per kernel
                  conflicts=f"{pkg.name}-dev, mlnx-ofed-kernel-dkms",
                  summary=f"upstream Linux RDMA {pkg.tree.source_version} headers for Linux {kver} modules",
                  description=_wrap(text), scripts=("postinst", "prerm"), template="dev",
                  ctx={"link": f"/{devel.ROOT}/default", "alternative": devel.ALTERNATIVE, "devel_dir": f"/{rel}",
                       "priority": devel.default_priority(kver)})


def _conflicts(pkg: Package, *base: str) -> str:
    from .common import conflicts
    return ", ".join(conflicts(pkg.tree.manifest, "deb", base))


def _fresh(root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


def _build(pkg: Package, out: Path, root: Path, deb_name: str, arch: str, *, depends: str, conflicts: str,
           summary: str, description: str, scripts: tuple[str, ...], template: str = "",
           conffiles: list[str] = (), ctx: dict | None = None) -> DebOutput:
    """One .deb of the staged root: doc, lintian overrides, DEBIAN/, then dpkg-deb."""
    dpkg_deb = require("dpkg-deb", "dpkg")
    maintainer, placeholder = packager()
    if placeholder:
        ui.warn(f"{deb_name}: no packager named (OFEDTOOL_PACKAGER, or DEBFULLNAME/DEBEMAIL): Maintainer is "
                f"the placeholder '{maintainer}'")
    info = target_info(pkg.tree)
    src = pkg.tree.manifest.source
    ctx = dict(ctx or {}, years=_copyright_years(pkg), name=pkg.name, package=deb_name, version=pkg.version,
               upstream=pkg.tree.source_version, series=info["series"], arch=arch, depends=depends,
               conflicts=conflicts, summary=summary,
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
    size_kb = sum((p.stat().st_size + 1023) // 1024 for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    debian = root / "DEBIAN"
    debian.mkdir()
    ctx.update(installed_size=size_kb, description=description)
    (debian / "control").write_text(render("deb/control.j2", **ctx))
    for script in scripts:
        (debian / script).write_text(render(f"deb/{template + '-' if template else ''}{script}.j2", **ctx))
        (debian / script).chmod(0o755)
    if conffiles:
        (debian / "conffiles").write_text("".join(f"{c}\n" for c in conffiles))
    (debian / "md5sums").write_text("".join(
        f"{hashlib.md5(f.read_bytes()).hexdigest()}  {f.relative_to(root).as_posix()}\n"
        for f in sorted(root.rglob("*")) if f.is_file() and not f.is_symlink() and debian not in f.parents))
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        if p.is_dir():
            p.chmod(0o755)
        elif p.parent != debian:
            p.chmod(0o755 if os.access(p, os.X_OK) else 0o644)
        elif p.name in ("control", "md5sums", "conffiles"):
            p.chmod(0o644)
    clamp_mtimes(root, pkg.epoch)
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"{deb_name}_{pkg.version}_{arch}.deb"
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(pkg.epoch)}
    p = run([dpkg_deb, "--root-owner-group", "-Zxz", "-z9", "--threads-max=1", "--build", root, deb],
            check=False, env=env)
    if p.returncode != 0:
        # older dpkg-deb has no --threads-max: retry without it
        run([dpkg_deb, "--root-owner-group", "-Zxz", "-z9", "--build", root, deb],
            what=f"dpkg-deb --build {deb.name}", package="dpkg", env=env)
    ui.info(f"[package] deb: {deb.name}")
    return DebOutput(deb)


def _wrap(text: str) -> str:
    return "\n".join(" " + line for line in textwrap.wrap(text, width=78, break_on_hyphens=False))


def _description(pkg: Package, series: str) -> str:
    """The extended description: what the package holds (its own module list), wrapped for
    Debian (each line indented one space, at most 80 columns)."""
    from .. import __version__
    text = (f"The kernel modules of Linux {pkg.tree.source_version}'s RDMA stack in this package: "
            f"{describe_modules(pkg.tree.manifest)}; backported by ofedtool {__version__}. DKMS builds them "
            f"for every installed Linux {series}.y kernel; feature probes adapt them to each kernel at build time.")
    return _wrap(text)


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
