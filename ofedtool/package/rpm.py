"""RPM: an SRPM and one binary kmod-<name> per target kernel, by rpmbuild in a private %_topdir.

The binary package carries the .ko files `ofedtool build` made and checked (signed copies
when asked): rpmbuild does not compile. Reproducibility comes from SOURCE_DATE_EPOCH in the
environment plus the %_buildhost / %use_source_date_epoch_as_buildtime /
%clamp_mtime_to_source_date_epoch macros and a single-threaded xz payload.

Requires: kernel-uname-r = <kver> by default, the exact-kernel dependency RHEL's kernel packages
provide and RHEL kmods use. RPM's version grammar allows a single '-', so a Debian release
(6.1.0-56-amd64) is named in the capability instead: kernel-uname-r(6.1.0-56-amd64). No RPM
provides either on Debian (install there with --nodeps); --kernel-requires or the target's
TOML ([package] rpm_requires) override the default.
Conflicts: other OFED stacks that install the same module names (configurable, --conflicts);
nothing is obsoleted by default, because Obsoletes makes dnf replace a vendor stack silently
on upgrade (--obsoletes opts in).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from .. import ui
from ..errors import OfedError
from ..catalog import data_dir
from ..proc import require
from ..templates import render
from .common import (Package, describe_rules, deterministic_tar, packager, replaced_netdevs, signature_state,
                     target_info)

DEFAULT_CONFLICTS = ("mlnx-ofa_kernel", "kmod-mlnx-ofa_kernel", "mlnx-ofa_kernel-modules")
_RPM_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "ppc64el": "ppc64le", "s390x": "s390x"}


@dataclass
class RpmOutput:
    srpm: Path
    rpms: list[Path]
    spec: Path
    rpmlintrc: Path


def default_kernel_requires(kver: str) -> str:
    # RPM's EVR grammar allows one '-' (version-release): RHEL's 5.14.0-362.el9.x86_64 fits,
    # Debian's 6.1.0-56-amd64 does not, so there the exact kernel is named in the capability.
    return f"kernel-uname-r = {kver}" if kver.count("-") <= 1 else f"kernel-uname-r({kver})"


def rpm_release(pkg: Package) -> str:
    # The kernel in Release keeps one package per kernel apart; '-' is not allowed there.
    return f"{pkg.counter}.{pkg.tree.release.replace('-', '_')}"


def build(pkg: Package, out: Path, work: Path, dkms_tarball: Path, conflicts: list[str],
          obsoletes: list[str], kernel_requires: str | None) -> RpmOutput:
    require("rpmbuild", "rpm")
    info = target_info(pkg.tree)
    kver = pkg.tree.release
    # The SRPM header records %prep with %_topdir spelled out: a random temporary path would
    # make every SRPM (and the binary's Sourcepkgid) differ, so the top dir is a fixed path per
    # package, held under a lock while rpmbuild runs.
    top = Path(os.environ.get("OFEDTOOL_RPMBUILD_DIR", "/tmp/ofedtool-rpmbuild")) / f"{pkg.name}-{pkg.version}-{kver}"
    top.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(top) + ".lock"):
        try:
            return _build(pkg, out, work, top, dkms_tarball, conflicts, obsoletes, kernel_requires, info)
        finally:
            shutil.rmtree(top, ignore_errors=True)


def _build(pkg: Package, out: Path, work: Path, top: Path, dkms_tarball: Path, conflicts: list[str],
           obsoletes: list[str], kernel_requires: str | None, info: dict) -> RpmOutput:
    rpmbuild = require("rpmbuild", "rpm")
    kver = pkg.tree.release
    module_dir = f"{info['module_dir']}/{pkg.name}"
    shutil.rmtree(top, ignore_errors=True)
    for d in ("SOURCES", "SPECS", "BUILD", "RPMS", "SRPMS", "BUILDROOT"):
        (top / d).mkdir(parents=True)
    base = f"{pkg.name}-{pkg.version}"
    shutil.copyfile(dkms_tarball, top / "SOURCES" / dkms_tarball.name)
    mods = work / "rpm-modules"
    shutil.rmtree(mods, ignore_errors=True)
    mods.mkdir(parents=True)
    for name, ko in sorted(pkg.kos.items()):
        shutil.copyfile(ko, mods / f"{name}.ko")
    modules_tarball = f"{base}-{kver}.modules.tar.gz"
    deterministic_tar(mods, top / "SOURCES" / modules_tarball, "modules", pkg.epoch)
    from . import devel
    devel_root = work / "rpm-devel"
    shutil.rmtree(devel_root, ignore_errors=True)
    devel_dir = devel.stage(pkg, devel_root, info["arch"]).relative_to(devel_root).as_posix()
    devel_tarball = f"{base}-{kver}.devel.tar.gz"
    deterministic_tar(devel_root, top / "SOURCES" / devel_tarball, "devel", pkg.epoch)
    names = [m.name for m in pkg.tree.modules]
    (top / "SOURCES" / f"{pkg.name}.depmod.conf").write_text(
        render("depmod.conf.j2", name=pkg.name, version=pkg.version, kver=kver, module_dir=module_dir, modules=names,
               owner=f"kmod-{pkg.name}"))
    if pkg.tree.left:
        from .dkms import modprobe_conf
        (top / "SOURCES" / f"{pkg.name}.modprobe.conf").write_text(modprobe_conf(pkg, f"kmod-{pkg.name}"))
    requires = kernel_requires or info["raw"].get("package", {}).get("rpm_requires") or default_kernel_requires(kver)
    src = pkg.tree.manifest.source
    spec = top / "SPECS" / f"{pkg.name}.spec"
    spec.write_text(render(
        "kmod.spec.j2", name=pkg.name, upstream=pkg.tree.source_version, counter=pkg.counter,
        release=rpm_release(pkg), kver=kver, module_dir=module_dir, modules=names, target=info["id"],
        signature=signature_state(pkg), signed=bool(pkg.signer), kernel_requires=requires, conflicts=conflicts, obsoletes=obsoletes,
        netdevs=replaced_netdevs(pkg.tree.manifest), rules=describe_rules(pkg.tree.manifest),
        dkms_tarball=dkms_tarball.name, modules_tarball=modules_tarball, devel_tarball=devel_tarball,
        devel_dir=f"/{devel_dir}", devel_root=f"/{devel.ROOT}", left=pkg.tree.left,
        rpm_arch=_RPM_ARCH.get(info["arch"] or "amd64", "x86_64"),
        changelog_date=time.strftime("%a %b %d %Y", time.gmtime(pkg.epoch)), packager=packager()[0],
        source_desc=f"{src.get('provider')} {src.get('package_version') or src.get('tag') or src.get('version')}"))
    macros = {
        "_topdir": str(top),
        "_buildhost": "ofedtool.reproducible",
        # the %packager macro, not a hard-coded tag: whoever rebuilds the SRPM names themselves
        "packager": packager()[0],
        "source_date_epoch_from_changelog": "0",  # the environment's SOURCE_DATE_EPOCH is exact; the changelog only has days
        "use_source_date_epoch_as_buildtime": "1",
        "clamp_mtime_to_source_date_epoch": "1",
        "_binary_payload": "w6.xzdio",  # single-threaded: a threaded xz may split blocks differently
        "_source_payload": "w6.xzdio",
        "_binary_filedigest_algorithm": "8",  # sha256
        "_source_filedigest_algorithm": "8",
    }
    cmd = [rpmbuild, "-ba", "--target", _RPM_ARCH.get(info["arch"] or "amd64", "x86_64")]
    for k, v in macros.items():
        cmd += ["--define", f"{k} {v}"]
    cmd.append(str(spec))
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(pkg.epoch), "LC_ALL": "C", "TZ": "UTC"}
    ui.debug(" ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "rpmbuild.log").write_text(p.stdout + p.stderr)
        last = [ln for ln in (p.stderr or p.stdout).splitlines() if ln.strip()][-1:] or ["failed"]
        raise OfedError(f"rpmbuild {spec.name}: {last[0]} (log: {out / 'rpmbuild.log'})")
    srpms = sorted((top / "SRPMS").glob("*.src.rpm"))
    rpms = sorted((top / "RPMS").rglob("*.rpm"))
    out.mkdir(parents=True, exist_ok=True)
    res = [shutil.copy2(f, out / f.name) for f in srpms + rpms]
    shutil.copyfile(spec, out / spec.name)
    # Beside the packages under the name rpmlint looks for by itself (`rpmlint FILE` or
    # `rpmlint DIR` loads DIR/*.rpmlintrc): what rpmlint reports about them, and why it is expected.
    rc = out / f"{pkg.name}.rpmlintrc"
    shutil.copyfile(data_dir("recipes") / "rpmlintrc", rc)
    ui.info(f"[package] rpm: {', '.join(Path(r).name for r in res)}")
    return RpmOutput(out / srpms[0].name, [out / r.name for r in rpms], out / spec.name, rc)
