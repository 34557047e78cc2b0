"""DKMS: the source tree + dkms.conf + probe kit, as a deterministic tarball.

One package serves every kernel of the target's series: the probe kit answers compat/config.h
at `dkms build` time for the kernel being built (see ofedtool.package.probekit).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from ..errors import OfedError
from ..catalog import data_dir
from .probekit import Release, fixed_features, pinned_probes, write_kit
from ..adapt.probes import load_probes
from ..templates import render
from .common import Package, copy_sources, deterministic_tar, target_info

# Debian architecture -> the kernel's `uname -m`, which dkms matches BUILD_EXCLUSIVE_ARCH against.
_UNAME_M = {"amd64": "x86_64", "arm64": "aarch64", "ppc64el": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


# Debian architecture -> the kernel's arch/ directory (SRCARCH), for the kit's header lookup.
_SRCARCH = {"amd64": "x86", "i386": "x86", "arm64": "arm64", "ppc64el": "powerpc", "s390x": "s390", "riscv64": "riscv"}


@dataclass
class DkmsOutput:
    tree: Path  # the staged source tree (what /usr/src/<name>-<version>/ holds)
    tarball: Path
    conf: Path


def stage_tree(pkg: Package, dest: Path) -> Path:
    """Write the DKMS source tree into dest (removed first)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    copy_sources(pkg.tree.path, dest)
    write_kit(dest / "probekit", kit_probes(pkg.tree.manifest), pinned_probes(pkg.tree.manifest), pkg.name,
              fixed_features(pkg.tree.manifest), release_of(pkg.tree.manifest.target.get("id")),
              _SRCARCH.get(target_info(pkg.tree)["arch"] or "amd64", "x86"))
    (dest / "dkms.conf").write_text(dkms_conf(pkg))
    if pkg.tree.left:
        # dkms installs modules only: the -dkms .deb puts this into /etc/modprobe.d, a plain
        # `dkms install` user copies it there.
        (dest / f"{pkg.name}.modprobe.conf").write_text(modprobe_conf(pkg, f"{pkg.name}-dkms"))
    return dest


def release_of(target_id: str | None) -> Release | None:
    """The catalog's kernels of the target's distro release and arch, as one ERE over `uname -r`
    (Debian 12: 6.1.0-N-* and bookworm-security's 6.12.N+deb12-*), from each target's headers
    package pattern; None for a local kernel dir, which has no release."""
    from ..catalog import load_targets
    targets = load_targets()
    me = next((t for t in targets if t.id == target_id), None)
    if me is None:
        return None
    abis = []
    for t in targets:
        if (t.distro, t.release, t.arch) != (me.distro, me.release, me.arch):
            continue
        m = re.search(r"\(\?P<abi>([^()]*)\)", t.headers.get("package", ""))
        if m and m.group(1).replace("\\d", "[0-9]") not in abis:
            abis.append(m.group(1).replace("\\d", "[0-9]"))
    if not abis:
        return None
    return Release(f"{me.distro.capitalize()} {me.release}", f"^({'|'.join(abis)})-")


def modprobe_conf(pkg: Package, owner: str) -> str:
    return render("modprobe.conf.j2", name=pkg.name, version=pkg.version, owner=owner, left=pkg.tree.left)


def kit_probes(manifest) -> list:
    """The probes the tree was generated with (its config.h names), no more: a probe added to
    backports/ since then is not used by this source, one removed or renamed cannot be answered."""
    wanted = [n for n in manifest.features if not n.startswith("OFED_CORE_")]
    known = {p.name: p for p in load_probes(data_dir("backports") / "probes")}
    gone = sorted(set(wanted) - set(known))
    if gone:
        raise OfedError(f"probe {gone[0]} of this tree is no longer in backports/probes: regenerate the tree")
    return [known[n] for n in sorted(wanted)]


def dkms_conf(pkg: Package) -> str:
    info = target_info(pkg.tree)
    series = info["series"]
    arch = _UNAME_M.get(info["arch"] or "", "")
    return render(
        "dkms.conf.j2", name=pkg.name, version=pkg.version, source_version=pkg.tree.source_version,
        series=series, reference=pkg.tree.release,
        # 6.1 -> every 6.1.y kernel release ("6.1.0-56-amd64", "6.1.192"), not 6.10
        exclusive_regex="^" + re.escape(series) + r"[.-]", kernel_min=series, kernel_max=f"{series}.9999",
        arch_regex=f"^{arch}$" if arch else ".*", module_dir=f"{info['module_dir']}/{pkg.name}",
        modules=pkg.tree.modules)


def build(pkg: Package, out: Path, work: Path) -> DkmsOutput:
    base = f"{pkg.name}-{pkg.version}"
    tree = stage_tree(pkg, work / base)
    tarball = deterministic_tar(tree, out / f"{base}.dkms.tar.gz", base, pkg.epoch)
    conf = out / f"{base}.dkms.conf"
    shutil.copyfile(tree / "dkms.conf", conf)
    ui.info(f"[package] dkms: {tarball.name} ({len(pkg.tree.modules)} modules, probe kit for {pkg.tree.release}'s series)")
    return DkmsOutput(tree, tarball, conf)
